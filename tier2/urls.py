"""Root URLs: the console, the API, the admin, login and language switch."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("", include("tickets.urls")),
    path("", include("tickets.urls_supervisor")),
    path("api/", include("tickets.api.urls")),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
]

# Unmatched paths: JSON in the API's error shape under /api/, Django's HTML page elsewhere.
handler404 = "tickets.api.errors.not_found"

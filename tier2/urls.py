"""Root URLs: the console, the API, the admin, login and language switch."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from tickets import observability
from tickets.views import account, health

urlpatterns = [
    # Health probes (docs/operations.md); HealthCheckMiddleware answers them first.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Prometheus (docs/metrics.md); MetricsEndpointMiddleware answers it first.
    path("metrics", observability.metrics_view, name="metrics"),
    path("", include("tickets.urls")),
    path("", include("tickets.urls_supervisor")),
    path("api/", include("tickets.api.urls")),
    # TM Forum TMF621 Trouble Ticket v5 (docs/tmf621.md).
    path("tmf-api/troubleTicket/v5/", include("tickets.api.tmf.urls")),
    path("admin/", admin.site.urls),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Two-factor sign-in (docs/security.md).
    path("account/two-factor/", account.two_factor, name="two_factor"),
    path("account/two-factor/enrol/", account.enrol, name="two_factor_enrol"),
    path("account/two-factor/verify/", account.verify, name="two_factor_verify"),
    path(
        "account/two-factor/recovery-codes/",
        account.recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("account/two-factor/remove/", account.remove, name="two_factor_remove"),
    path("i18n/", include("django.conf.urls.i18n")),
]

if settings.TIER2_OIDC_ENABLED:
    # Single sign-on (docs/sso.md): oidc/authenticate/ starts it, oidc/callback/ ends it.
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))

# Unmatched paths: JSON in the API's error shape under /api/, Django's HTML page elsewhere.
handler404 = "tickets.api.handlers.not_found"

from django.urls import path

from .views import console

urlpatterns = [
    path("", console.home, name="home"),
    path("flows/", console.flow_diagrams, name="flows"),
]

"""TMF621 routes, mounted at /tmf-api/troubleTicket/v5/ (no trailing slashes, as the spec)."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import hub, resource

router = SimpleRouter(trailing_slash=False)
router.register("troubleTicket", resource.TroubleTicketViewSet, basename="tmf-trouble-ticket")
router.register("hub", hub.HubViewSet, basename="tmf-hub")

urlpatterns = [path("", include(router.urls))]

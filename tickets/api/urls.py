"""API routes: the resources (router), token login, the OpenAPI schema and its browsable docs."""

from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from . import views
from .receipts import SmsReceiptsView, WhatsAppReceiptsView
from .root import ApiRootView


class SwaggerView(SpectacularSwaggerView):
    """The browsable docs. Their only renderer is HTML with a template for the page, so DRF's
    OPTIONS metadata could not be rendered (500): OPTIONS answers 200 with the Allow header."""

    def options(self, request, *args, **kwargs):
        return HttpResponse()  # DRF's finalize_response adds Allow


router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.include_format_suffixes = False
router.register("tickets", views.TicketViewSet, basename="ticket")
router.register("escalations", views.EscalationViewSet, basename="escalation")
router.register("calls", views.AdapterCallViewSet, basename="call")
router.register("gamas-incidents", views.GamasIncidentViewSet, basename="gamas-incident")
router.register("sla-policies", views.SlaPolicyViewSet, basename="sla-policy")
router.register("calendars", views.CalendarViewSet, basename="calendar")
router.register("campaigns", views.CampaignViewSet, basename="campaign")
router.register("customers", views.CustomerViewSet, basename="customer")
router.register("services", views.ServiceViewSet, basename="service")
router.register("ingest", views.IngestView, basename="ingest")
router.register("imports", views.ImportJobViewSet, basename="import")
router.register("agents", views.AgentViewSet, basename="agent")
router.register("offers", views.OfferViewSet, basename="offer")
router.register("message-templates", views.MessageTemplateViewSet, basename="message-template")

urlpatterns = [
    # The entry points (schema, docs, token, resources, TMF621), instead of a 404.
    path(
        "",
        ApiRootView.as_view(registry=tuple((p, b) for p, _v, b in router.registry)),
        name="api-root",
    ),
    path("auth/token/", views.TokenView.as_view(), name="api-token"),
    # Called by the message gateways, not by users (tickets/api/receipts.py).
    path("hooks/sms/receipts/", SmsReceiptsView.as_view(), name="api-sms-receipts"),
    path("hooks/whatsapp/receipts/", WhatsAppReceiptsView.as_view(), name="api-whatsapp-receipts"),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

"""The API's viewsets: HTTP in, a service or selector call, HTTP out.

Reads go through `tickets.selectors` (the same querysets and filters as the console), writes
through `tickets.services`. Views map no
error by hand: domain exceptions raise through to `tickets.api.errors`.
"""

from __future__ import annotations

from django.db.models import Count, Prefetch, Q
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination, PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle

from integrations.adapters import AdapterError
from integrations.models import AdapterCall
from tickets.services.campaigns import delete_campaign
from tier2.replica import ListsFromReplica

from .. import roles, selectors, services
from ..filtersets import TicketQueueFilter
from ..flows import GamasIncidentMachine
from ..models import (
    AgentProfile,
    Broadcast,
    BusinessCalendar,
    Campaign,
    Customer,
    Escalation,
    EscalationStatus,
    Flow,
    GamasIncident,
    ImportJob,
    MessageTemplate,
    Offer,
    OfferStatus,
    Priority,
    Service,
    SlaPolicy,
    Ticket,
)
from ..services import imports
from ..services.intake import SERVICE_FIELDS as LINE_FIELDS
from . import examples
from . import serializers as s
from .permissions import (
    CalendarReaders,
    IncidentManager,
    MessageTemplates,
    StaffReadsSupervisorWrites,
    StaffRole,
    Supervisor,
    SupervisorReadsAdminWrites,
)

ID = r"[0-9]{1,18}"


# --- Shared pieces --------------------------------------------------------------------------
class KeysetPagination(CursorPagination):
    """Newest first, by id: constant time per page however deep, however big the table."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            position = cursor.position
            if not (position.isascii() and position.isdigit() and len(position) < 19):
                raise NotFound(self.invalid_cursor_message)
        return cursor


class PagePagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class ApiView(ListsFromReplica):
    # What every endpoint shares: token authentication first (so a request without credentials
    # answers 401 with a WWW-Authenticate header, not 403), staff roles only, numeric ids.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [StaffRole]
    lookup_value_regex = ID


# --- Tickets --------------------------------------------------------------------------------
class TicketFilter(TicketQueueFilter):
    """The console's queue filters. Order is the paginator's (newest first), so no `sort`."""

    sort = None

    def filter_assignee(self, queryset, name, value):
        # "²" is a digit to str.isdigit but not to int(); 20 digits overflow SQLite's integers.
        if value.isdigit() and not (value.isascii() and len(value) <= 18):
            return queryset.none()
        return super().filter_assignee(queryset, name, value)

    def filter_text(self, queryset, name, value):
        if any(char.isdigit() and not char.isascii() for char in value):
            return queryset.none()  # no ticket, service or NOSSA number has such digits
        return super().filter_text(queryset, name, value)


# Actions that answer one object or a short list: no queue filters, no pages.
PLAIN = {"filter_backends": [], "pagination_class": None}


def answers(ok, *codes, ok_status=200):
    """A responses map: the success serializer and the error codes the operation can give."""
    return {ok_status: ok, **dict.fromkeys((401, 403, *codes), s.ErrorSerializer)}


@extend_schema_view(
    list=extend_schema(
        summary="Tickets in the user's queues",
        description=(
            "The tickets the user may see (agents: their flows at their site), filtered like "
            "the console's queues, newest first, by cursor (`next` / `previous` links)."
        ),
        responses=answers(s.TicketListSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(
        summary="A ticket with its available transitions and timeline",
        responses=answers(s.TicketDetailSerializer, 404),
    ),
)
class TicketViewSet(ApiView, viewsets.GenericViewSet):
    """Tickets of the seven SOP flows and the actions on them (one service call each)."""

    serializer_class = s.TicketDetailSerializer
    pagination_class = KeysetPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = TicketFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return Ticket.objects.none()
        return selectors.queue_queryset(self.request.user)

    def get_object(self):
        """The ticket if the user may open it: 404 if unknown, 403 outside their flows/site."""
        return selectors.ticket_for(self.request.user, int(self.kwargs["pk"]))

    def _detail(self, ticket, code=status.HTTP_200_OK):
        return Response(
            s.TicketDetailSerializer(ticket, context=self.get_serializer_context()).data,
            status=code,
        )

    def list(self, request):
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(s.TicketListSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return self._detail(self.get_object())

    @extend_schema(
        methods=["GET"],
        summary="Available transitions of a ticket",
        responses=answers(s.AvailableTransitionSerializer(many=True), 404),
    )
    @extend_schema(
        methods=["POST"],
        summary="Take a named transition",
        description=(
            "Runs the transition `name` of the ticket's flow with its `inputs`, as the user. "
            "Answers the ticket in its new state with the transitions now available. "
            "`expected_state` guards against a concurrent change (409 ConcurrentChange). "
            "`claim` takes the ticket (as POST .../claim/)."
        ),
        request=s.TransitionRequestSerializer,
        responses=answers(s.TicketDetailSerializer, 400, 404, 409),
        examples=examples.TRANSITION,
    )
    @action(detail=True, methods=["get", "post"], **PLAIN)
    def transitions(self, request, pk=None):
        ticket = self.get_object()
        if request.method == "GET":
            return Response(s.transitions_payload(ticket, request.user))
        body = s.TransitionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = services.transition_ticket(
            ticket_id=ticket.pk,
            name=body.validated_data["name"],
            actor=request.user,
            inputs=body.validated_data["inputs"],
            expected_state=body.validated_data.get("expected_state"),
        )
        return self._detail(ticket)

    @extend_schema(
        summary="Next ticket: claim the most urgent waiting ticket of the agent's queues",
        request=None,
        responses=answers(s.TicketDetailSerializer, 404),
        examples=examples.NO_TICKET,
    )
    @action(detail=False, methods=["post"], **PLAIN)
    def next(self, request):
        return self._detail(services.claim_next_ticket(agent=request.user))

    @extend_schema(
        summary="Claim this ticket",
        request=s.ClaimRequestSerializer,
        responses=answers(s.TicketDetailSerializer, 400, 404, 409),
        examples=examples.ALREADY_CLAIMED,
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def claim(self, request, pk=None):
        ticket = self.get_object()
        body = s.ClaimRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = services.claim_ticket(
            ticket_id=ticket.pk,
            agent=request.user,
            expected_state=body.validated_data.get("expected_state"),
        )
        return self._detail(ticket)

    @extend_schema(
        summary="Release the ticket back to its queue (supervisors)",
        request=s.ReleaseRequestSerializer,
        responses=answers(s.TicketDetailSerializer, 400, 404, 409),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def release(self, request, pk=None):
        ticket = self.get_object()
        body = s.ReleaseRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = services.release_ticket(
            ticket_id=ticket.pk, supervisor=request.user, note=body.validated_data["note"]
        )
        return self._detail(ticket)

    @extend_schema(
        summary="Pin a waiting ticket to one agent: dispatch offers it to them only "
        "(supervisors; agent null unpins)",
        request=s.PinRequestSerializer,
        responses=answers(s.TicketDetailSerializer, 400, 404, 409),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def pin(self, request, pk=None):
        ticket = self.get_object()
        body = s.PinRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = services.pin_ticket(
            ticket_id=ticket.pk,
            agent=body.validated_data["agent"],
            supervisor=request.user,
            note=body.validated_data["note"],
        )
        return self._detail(ticket)

    @extend_schema(
        summary="Hand the ticket to another agent (supervisors)",
        request=s.ReassignRequestSerializer,
        responses=answers(s.TicketDetailSerializer, 400, 404, 409),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def reassign(self, request, pk=None):
        ticket = self.get_object()
        body = s.ReassignRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        ticket = services.reassign_ticket(
            ticket_id=ticket.pk,
            supervisor=request.user,
            agent=body.validated_data["agent"],
            note=body.validated_data["note"],
        )
        return self._detail(ticket)

    @extend_schema(
        methods=["GET"],
        summary="Notes on the ticket",
        responses=answers(s.NoteSerializer(many=True), 404),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add a note (the ticket's agent, Support or a supervisor)",
        request=s.NoteSerializer,
        responses=answers(s.NoteSerializer, 400, 404, ok_status=201),
    )
    @action(detail=True, methods=["get", "post"], **PLAIN)
    def notes(self, request, pk=None):
        ticket = self.get_object()
        if request.method == "GET":
            return Response(s.NoteSerializer(ticket.notes.select_related("author"), many=True).data)
        body = s.NoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        note = services.add_note(
            ticket_id=ticket.pk, author=request.user, text=body.validated_data["text"]
        )
        return Response(s.NoteSerializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        methods=["GET"],
        summary="Calls to the customer",
        responses=answers(s.ContactAttemptSerializer(many=True), 404),
    )
    @extend_schema(
        methods=["POST"],
        summary="Record a call to the customer (the agent holding the ticket)",
        request=s.ContactAttemptSerializer,
        responses=answers(s.ContactAttemptSerializer, 400, 404, 409, ok_status=201),
    )
    @action(detail=True, methods=["get", "post"], url_path="contact-attempts", **PLAIN)
    def contact_attempts(self, request, pk=None):
        ticket = self.get_object()
        context = {**self.get_serializer_context(), "ticket": ticket}
        if request.method == "GET":
            attempts = ticket.contact_attempts.select_related("agent")
            return Response(s.ContactAttemptSerializer(attempts, many=True, context=context).data)
        body = s.ContactAttemptSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        attempt = services.record_contact_attempt(
            ticket_id=ticket.pk,
            agent=request.user,
            outcome=body.validated_data["outcome"],
            note=body.validated_data.get("note", ""),
            expected_state=body.validated_data.get("expected_state"),
        )
        return Response(
            s.ContactAttemptSerializer(attempt, context=context).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="Escalations of the ticket to Support",
        responses=answers(s.EscalationSerializer(many=True), 404),
    )
    @action(detail=True, methods=["get"], **PLAIN)
    def escalations(self, request, pk=None):
        ticket = self.get_object()
        rows = ticket.escalations.select_related(
            "ticket", "raised_by", "answered_by", "support_assignee"
        )
        return Response(s.EscalationSerializer(rows, many=True).data)

    @extend_schema(
        summary="Calls to the external applications (evidence)",
        responses=answers(s.AdapterCallSerializer(many=True), 404),
    )
    @action(detail=True, methods=["get"], **PLAIN)
    def calls(self, request, pk=None):
        ticket = self.get_object()
        context = {**self.get_serializer_context(), "ticket": ticket}
        calls = selectors.adapter_calls(ticket)
        return Response(s.AdapterCallSerializer(calls, many=True, context=context).data)

    @extend_schema(
        summary="Messages to the customer about the ticket (SMS, WhatsApp), oldest first",
        description=(
            "Each message with its status (held, queued, sent, delivered, read, failed, "
            "skipped), why it was held, skipped or failed, and its times. `to_number` is masked "
            "for an agent who does not hold the ticket."
        ),
        responses=answers(s.CustomerMessageSerializer(many=True), 404),
    )
    @action(detail=True, methods=["get"], **PLAIN)
    def messages(self, request, pk=None):
        ticket = self.get_object()
        context = {**self.get_serializer_context(), "ticket": ticket}
        rows = ticket.customer_messages.order_by("created_at", "pk")
        return Response(s.CustomerMessageSerializer(rows, many=True, context=context).data)


# --- Escalations (the Support desk) and adapter calls ---------------------------------------
def _on_visible_tickets(queryset, user, *, incidents: bool = False):
    """Rows of tickets the user may see (supervisors, Support and admins see every ticket)."""
    if roles.sees_every_ticket(user):
        return queryset
    visible = Q(ticket__in=selectors.visible_tickets(user).values("pk"))
    if incidents:
        visible |= Q(ticket__isnull=True, incident__isnull=False)
    return queryset.filter(visible)


class EscalationFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=EscalationStatus.choices)

    class Meta:
        model = Escalation
        fields = ["status"]


@extend_schema_view(
    list=extend_schema(
        summary="Escalations (the Support desk: ?status=open, the most urgent first)",
        responses=answers(s.EscalationSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(responses=answers(s.EscalationSerializer, 404)),
)
class EscalationViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Escalations to Support, on the tickets the user may see. Support answers them with the
    ticket's `answer_escalation` transition."""

    serializer_class = s.EscalationSerializer
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = EscalationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Escalation.objects.none()
        if self.request.query_params.get("status") == EscalationStatus.OPEN:
            queryset = selectors.open_escalations().order_by("due_at", "raised_at", "pk")
        else:
            queryset = Escalation.objects.select_related(
                "ticket", "raised_by", "answered_by", "support_assignee"
            ).order_by("-raised_at", "-pk")
        return _on_visible_tickets(queryset, self.request.user)


@extend_schema_view(retrieve=extend_schema(responses=answers(s.AdapterCallSerializer, 404)))
class AdapterCallViewSet(ApiView, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calls to the external applications (the outbox), on tickets the user may see."""

    serializer_class = s.AdapterCallSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AdapterCall.objects.none()
        calls = AdapterCall.objects.select_related("ticket")
        return _on_visible_tickets(calls, self.request.user, incidents=True)

    @extend_schema(
        summary="Send a failed call again (the ticket's agent, Support, supervisors)",
        request=None,
        responses=answers(s.AdapterCallSerializer, 404, 409, ok_status=202),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def retry(self, request, pk=None):
        call = self.get_object()
        call = services.retry_call(call_id=call.pk, actor=request.user)
        body = s.AdapterCallSerializer(call, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


# --- Gamas incidents ------------------------------------------------------------------------
class GamasIncidentFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=[(state, state) for state in GamasIncidentMachine.states])
    area_code = filters.CharFilter(max_length=32)

    class Meta:
        model = GamasIncident
        fields = ["state", "area_level", "area_code"]


class ChildFilter(filters.FilterSet):
    state = filters.CharFilter(max_length=32)
    open = filters.BooleanFilter(field_name="closed_at", lookup_expr="isnull")

    class Meta:
        model = Ticket
        fields = ["state", "open"]


@extend_schema_view(
    list=extend_schema(
        summary="Gamas incidents (mass outages)",
        responses=answers(s.GamasIncidentSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(
        summary="A gamas incident: its children by state and its available transitions",
        responses=answers(s.GamasIncidentDetailSerializer, 404),
    ),
    create=extend_schema(
        summary="Open a gamas incident (supervisors, Support)",
        description=(
            "Open IVR Gamas reports already waiting in the area are linked to it; later reports "
            "from the area are linked on arrival."
        ),
        request=s.GamasIncidentSerializer,
        responses=answers(s.GamasIncidentDetailSerializer, 400, ok_status=201),
    ),
)
class GamasIncidentViewSet(
    ApiView,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Gamas incidents (mass outages over an STO, OLT or ODP) and their child reports:
    supervisors, Support and admins only, as in the console."""

    permission_classes = [IncidentManager]
    pagination_class = KeysetPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = GamasIncidentFilter

    def get_queryset(self):
        return GamasIncidentMachine.objects.select_related("opened_by").annotate(
            open_children=Count("children", filter=Q(children__closed_at__isnull=True))
        )

    def get_object(self):
        # Not through the list filters: `?state=` on .../children/ filters the children.
        return self.get_queryset().get(pk=self.kwargs["pk"])

    def get_serializer_class(self):
        if self.action == "list":
            return s.GamasIncidentSerializer
        if self.action == "create":
            return s.GamasIncidentSerializer
        return s.GamasIncidentDetailSerializer

    def create(self, request):
        body = s.GamasIncidentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident = services.open_incident(actor=request.user, **body.validated_data)
        return Response(
            s.GamasIncidentDetailSerializer(
                self.get_queryset().get(pk=incident.pk), context=self.get_serializer_context()
            ).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        summary="The incident's reports (child tickets the user may see), newest first",
        parameters=[
            OpenApiParameter("state", OpenApiTypes.STR, description=_("A state of the flow")),
            OpenApiParameter("open", OpenApiTypes.BOOL, description=_("Only open (or closed)")),
        ],
        responses=answers(s.TicketListSerializer(many=True), 400, 404),
        filters=False,
    )
    @action(detail=True, methods=["get"])
    def children(self, request, pk=None):
        incident = self.get_object()
        queryset = selectors.queue_queryset(request.user).filter(gamas_incident=incident)
        children = ChildFilter(request.query_params, queryset=queryset, request=request)
        if not children.is_valid():
            raise ValidationError(children.errors)
        page = self.paginate_queryset(children.qs)
        return self.get_paginated_response(s.TicketListSerializer(page, many=True).data)

    @extend_schema(
        summary="Recover or close the incident",
        description=(
            "`recover` (supervisors, Support) moves every waiting report to verifying in the "
            "background; `close` needs every report closed and a `closing_code`."
        ),
        request=s.IncidentTransitionRequestSerializer,
        responses=answers(s.GamasIncidentDetailSerializer, 400, 404, 409),
        examples=examples.INCIDENT_TRANSITION,
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def transitions(self, request, pk=None):
        incident = self.get_object()
        body = s.IncidentTransitionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.transition_incident(
            incident_id=incident.pk,
            name=body.validated_data["name"],
            actor=request.user,
            inputs=body.validated_data["inputs"],
        )
        return Response(
            s.GamasIncidentDetailSerializer(
                self.get_queryset().get(pk=incident.pk), context=self.get_serializer_context()
            ).data
        )

    @extend_schema(
        methods=["GET"],
        summary="The incident's broadcasts to its customers, with their progress",
        responses=answers(s.BroadcastSerializer(many=True), 404),
    )
    @extend_schema(
        methods=["POST"],
        summary="Inform the incident's customers of its current state (supervisors, Support)",
        description=(
            "While the incident is open its customers are told of the outage "
            "(`gamas_opened`), once it is recovered of the recovery (`gamas_recovered`): one "
            "message per customer with a report linked to it, written in the background "
            "(follow `done` of `total`). Answers 201 with the new broadcast, or 200 with the "
            "one already started for that event; a closed incident is 400."
        ),
        request=None,
        responses={
            201: s.BroadcastSerializer,
            200: s.BroadcastSerializer,
            **dict.fromkeys((400, 401, 403, 404), s.ErrorSerializer),
        },
    )
    @action(detail=True, methods=["get", "post"], **PLAIN)
    def broadcasts(self, request, pk=None):
        incident = self.get_object()
        if request.method == "GET":
            rows = Broadcast.objects.filter(incident=incident).select_related("started_by")
            return Response(
                s.BroadcastSerializer(rows.order_by("started_at", "pk"), many=True).data
            )
        broadcast, created = services.start_broadcast(incident_id=incident.pk, actor=request.user)
        broadcast = Broadcast.objects.select_related("started_by").get(pk=broadcast.pk)
        return Response(
            s.BroadcastSerializer(broadcast).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


# --- Configuration and reference data -------------------------------------------------------
@extend_schema_view(
    list=extend_schema(responses=answers(s.SlaPolicySerializer(many=True), 404)),
    retrieve=extend_schema(responses=answers(s.SlaPolicySerializer, 404)),
    create=extend_schema(responses=answers(s.SlaPolicySerializer, 400, ok_status=201)),
    update=extend_schema(responses=answers(s.SlaPolicySerializer, 400, 404)),
    partial_update=extend_schema(responses=answers(s.SlaPolicySerializer, 400, 404)),
    destroy=extend_schema(responses=answers(None, 404, ok_status=204)),
)
class SlaPolicyViewSet(ApiView, viewsets.ModelViewSet):
    """SLA policies per flow and priority: supervisors read, admins configure.

    `hours` says what the minutes count: 24x7, the business calendar named by `calendar`, or
    the calendar of each ticket's site; `calendar_detail` shows the named calendar (its hours,
    time zone, holiday rules and own days). Calendars are kept in the Django admin.
    """

    queryset = SlaPolicy.objects.select_related("calendar").prefetch_related("calendar__days")
    serializer_class = s.SlaPolicySerializer
    permission_classes = [SupervisorReadsAdminWrites]
    pagination_class = PagePagination


CALENDAR_DESCRIPTION = (
    "`closed_days`: every date of the year the calendar closes on with its reasons "
    "(`national_holiday`, `collective_leave`: the holidays library's Indonesian dates, as the "
    "SLA arithmetic counts them; `local`: the calendar's own closed days), also on weekdays it "
    "never works; `open_days`: its own open days of the year. `?year=` (2000 to 2100) picks the "
    "year, by default the current one in the calendar's time zone; another value is 400."
)


@extend_schema_view(
    list=extend_schema(
        summary="Business calendars (supervisors and admins)",
        description=CALENDAR_DESCRIPTION,
        parameters=[s.CalendarYearSerializer],
        responses=answers(s.CalendarSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(
        summary="A business calendar with its closed and open days of one year",
        description=CALENDAR_DESCRIPTION,
        parameters=[s.CalendarYearSerializer],
        responses=answers(s.CalendarSerializer, 400, 404),
    ),
)
class CalendarViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Business calendars, read only: the hours SLA policies count on (docs/calendars.md), the
    sites on each, and the dates each closes on in a year. Admins keep them in the Django
    admin; whoever reads the SLA policies reads them."""

    queryset = BusinessCalendar.objects.prefetch_related("days", "sites")
    serializer_class = s.CalendarSerializer
    permission_classes = [CalendarReaders]
    pagination_class = PagePagination

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authenticated and allowed first
        query = s.CalendarYearSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        self.year = query.validated_data.get("year")

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "year": getattr(self, "year", None)}


@extend_schema_view(
    list=extend_schema(responses=answers(s.CampaignSerializer(many=True), 400, 404)),
    retrieve=extend_schema(responses=answers(s.CampaignSerializer, 404)),
    create=extend_schema(responses=answers(s.CampaignSerializer, 400, ok_status=201)),
    update=extend_schema(responses=answers(s.CampaignSerializer, 400, 404)),
    partial_update=extend_schema(responses=answers(s.CampaignSerializer, 400, 404)),
    destroy=extend_schema(responses=answers(None, 404, 409, ok_status=204)),
)
class CampaignViewSet(ApiView, viewsets.ModelViewSet):
    """Call-list campaigns (Ideas, C4 Caring): staff read, supervisors and admins write.

    A campaign that tickets or imports refer to cannot be deleted (409): set `active` false.
    """

    queryset = Campaign.objects.all()
    serializer_class = s.CampaignSerializer
    permission_classes = [StaffReadsSupervisorWrites]
    pagination_class = KeysetPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_fields = ["flow", "active"]

    def destroy(self, request, pk=None):
        # Counted, not collected: a campaign of 16,000 tickets answers 409 at once.
        delete_campaign(campaign_id=self.get_object().pk, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomerFilter(filters.FilterSet):
    q = filters.CharFilter(method="filter_text", max_length=64, label=_("Name or phone"))

    class Meta:
        model = Customer
        fields = ["q"]

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(phone=value))


@extend_schema_view(
    list=extend_schema(responses=answers(s.CustomerSerializer(many=True), 400, 404)),
    retrieve=extend_schema(responses=answers(s.CustomerDetailSerializer, 404)),
)
class CustomerViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Customers (read only; created by the pulls, pushes and lists). An agent sees only the
    customers of tickets they may see, and of their services only those; another customer
    answers 404, as an unknown id does."""

    pagination_class = KeysetPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = CustomerFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Customer.objects.none()
        user = self.request.user
        queryset = selectors.visible_customers(user)
        if self.action == "retrieve":
            lines = selectors.visible_services(user).order_by("pk")
            return queryset.prefetch_related(Prefetch("services", queryset=lines))
        return queryset

    def get_serializer_class(self):
        return s.CustomerDetailSerializer if self.action == "retrieve" else s.CustomerSerializer

    @extend_schema(
        methods=["GET"],
        summary="What the customer asked for about messages (opt-out, channel, language, "
        "quiet hours)",
        responses=answers(s.MessagePreferencesSerializer, 404),
    )
    @extend_schema(
        methods=["PATCH"],
        summary="Record what the customer asked for about messages",
        description=(
            "An agent who may work one of the customer's tickets, supervisors, Support and "
            "admins. Quiet hours are local times `HH:MM`, given both or both null (the "
            "console's default). A bad value answers 400 naming the field, and nothing changes."
        ),
        request=s.MessagePreferencesSerializer,
        responses=answers(s.MessagePreferencesSerializer, 400, 404),
    )
    @action(detail=True, methods=["get", "patch"], url_path="message-preferences", **PLAIN)
    def message_preferences(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            return Response(s.MessagePreferencesSerializer(customer).data)
        body = s.MessagePreferencesSerializer(customer, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        customer = services.set_message_preferences(
            customer_id=customer.pk, actor=request.user, **body.validated_data
        )
        return Response(s.MessagePreferencesSerializer(customer).data)


def _visible_customers(request):
    if request is None:  # schema generation
        return Customer.objects.none()
    return selectors.visible_customers(request.user)


class ServiceFilter(filters.FilterSet):
    service_number = filters.CharFilter(max_length=20)
    # Only customers the user may see: another customer's id is refused like an unknown one.
    customer = filters.ModelChoiceFilter(queryset=_visible_customers)
    sto = filters.CharFilter(max_length=16)
    olt = filters.CharFilter(max_length=32)
    odp = filters.CharFilter(max_length=32)

    class Meta:
        model = Service
        fields = ["service_number", "customer", "sto", "olt", "odp"]


@extend_schema_view(
    list=extend_schema(responses=answers(s.ServiceSerializer(many=True), 400, 404)),
    retrieve=extend_schema(responses=answers(s.ServiceSerializer, 404)),
)
class ServiceViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """IndiHome lines by service number, with their customer (read only). An agent sees only
    the lines of tickets they may see; another line answers 404, as an unknown id does."""

    serializer_class = s.ServiceSerializer
    pagination_class = KeysetPagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = ServiceFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Service.objects.none()
        return selectors.visible_services(self.request.user).select_related("customer")


# --- Ingestion ------------------------------------------------------------------------------
class IngestView(ApiView, viewsets.GenericViewSet):
    """Reports pushed by external systems. Supervisors, admins, and service accounts (users in
    those roles with a token). Idempotent on the source reference: 201 then 200, one ticket."""

    permission_classes = [Supervisor]

    def _answer(self, ticket, created):
        body = s.IngestResultSerializer({"created": created, "ticket": ticket}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(
        summary="A NOSSA trouble ticket pushed by NOSSA",
        description=(
            "Creates a NOSSA ticket (or a Fresh Lapul when the service was closed within the "
            "lapul window) once per `nossa_number`. The service and customer are created from "
            "the payload when the service number is new."
        ),
        request=s.NossaReportSerializer,
        responses={
            201: s.IngestResultSerializer,
            200: s.IngestResultSerializer,
            **dict.fromkeys((400, 401, 403), s.ErrorSerializer),
        },
        examples=examples.NOSSA_PUSH,
    )
    # serializer_class: what OPTIONS describes (DRF's metadata asks the view for a serializer).
    @action(detail=False, methods=["post"], serializer_class=s.NossaReportSerializer, **PLAIN)
    def nossa(self, request):
        body = s.NossaReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ticket, created = services.receive_report(
            flow=Flow.NOSSA,
            source_system="nossa",
            source_ref=data["nossa_number"],
            service_number=data["service_number"],
            service_fields=body.service_fields(),
            actor=request.user,
            nossa_number=data["nossa_number"],
            category=data["category"],
            summary=data.get("summary", ""),
            priority=data.get("priority", Priority.NORMAL),
            reported_at=data.get("reported_at"),
        )
        return self._answer(ticket, created)

    @extend_schema(
        summary="An IVR Gamas report (a customer called the IVR from an outage area)",
        description=(
            "Creates an IVR Gamas ticket once per `call_id`. When an open gamas incident covers "
            "the service's ODP, OLT or STO the ticket is linked to it and waits for recovery."
        ),
        request=s.IvrGamasReportSerializer,
        responses={
            201: s.IngestResultSerializer,
            200: s.IngestResultSerializer,
            **dict.fromkeys((400, 401, 403), s.ErrorSerializer),
        },
        examples=examples.IVR_REPORT,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="ivr-gamas",
        serializer_class=s.IvrGamasReportSerializer,
        **PLAIN,
    )
    def ivr_gamas(self, request):
        body = s.IvrGamasReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ticket, created = services.receive_report(
            flow=Flow.GAMAS,
            source_system="ivr",
            source_ref=data["call_id"],
            service_number=data["service_number"],
            service_fields=body.service_fields(),
            actor=request.user,
            summary=data.get("summary", ""),
            reported_at=data.get("reported_at"),
        )
        return self._answer(ticket, created)

    @extend_schema(
        summary="A Callback record pushed by the Callback app",
        description=(
            "Creates a Callback ticket once per `record_id`, the same ticket the Callback pull or "
            "a supervisor's hand entry makes for that record. The service and customer are "
            "created from the payload when the service number is new, or asked of I-SISKA "
            "when the payload has none of them."
        ),
        request=s.CallbackReportSerializer,
        responses={
            201: s.IngestResultSerializer,
            200: s.IngestResultSerializer,
            **dict.fromkeys((400, 401, 403), s.ErrorSerializer),
        },
        examples=examples.CALLBACK_PUSH,
    )
    @action(detail=False, methods=["post"], serializer_class=s.CallbackReportSerializer, **PLAIN)
    def callback(self, request):
        body = s.CallbackReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            ticket, created = services.receive_callback_record(
                record_id=data["record_id"],
                service_number=data["service_number"],
                service_fields=body.service_fields(),
                actor=request.user,
                summary=data.get("summary", ""),
                reported_at=data.get("reported_at"),
            )
        except AdapterError as problem:
            message = _(
                "I-SISKA could not tell this new line's customer and network codes; give them."
            )
            raise ValidationError({name: [message] for name in LINE_FIELDS}) from problem
        return self._answer(ticket, created)


# --- CSV imports ----------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="Uploaded lists, newest first",
        responses=answers(s.ImportJobSerializer(many=True), 404),
    ),
    retrieve=extend_schema(
        summary="An import's status and progress",
        responses=answers(s.ImportJobSerializer, 404),
    ),
)
class ImportJobViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """CSV lists (C4 Caring, Ideas, Force Close), imported all-or-nothing in the background."""

    permission_classes = [Supervisor]
    serializer_class = s.ImportJobSerializer
    pagination_class = KeysetPagination
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return ImportJob.objects.select_related("campaign", "uploaded_by").defer("content")

    @extend_schema(
        summary="Upload a list (multipart: file, kind, campaign)",
        description=(
            "Checks the file is a UTF-8 CSV with the kind's columns and answers 202 with the "
            "job; rows are validated and imported in the background. Poll the job: `phase` and "
            "`progress_percent` show where it is; a failed job lists every bad row by line and "
            "imports nothing."
        ),
        request={"multipart/form-data": s.ImportUploadSerializer},
        responses=answers(s.ImportJobSerializer, 400, ok_status=202),
        examples=examples.IMPORT_JOB,
    )
    def create(self, request):
        body = s.ImportUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        job = imports.start_import(
            kind=body.validated_data["kind"],
            file_name=upload.name or "list.csv",
            content=upload.read(),
            campaign=body.validated_data.get("campaign"),
            uploaded_by=request.user,
        )
        job = self.get_queryset().get(pk=job.pk)
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Cancel a waiting or running import (nothing of it is kept)",
        request=None,
        responses=answers(s.ImportJobSerializer, 404, 409, ok_status=202),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def cancel(self, request, pk=None):
        job = imports.cancel_import(job_id=self.get_object().pk, actor=request.user)
        return Response(s.ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# --- Dispatch (push) ---------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="Agents with their availability, capacity and load (supervisors: all; an agent: "
        "themselves)",
        responses=answers(s.AgentSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(responses=answers(s.AgentSerializer, 404)),
    partial_update=extend_schema(
        summary="Change availability (an agent, their own) or capacity (supervisors)",
        responses=answers(s.AgentSerializer, 400, 404),
    ),
)
class AgentViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Dispatch's view of agents (docs/dispatch.md). The id is the agent's user id."""

    serializer_class = s.AgentSerializer
    pagination_class = PagePagination
    lookup_field = "user_id"
    lookup_url_kwarg = "id"
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AgentProfile.objects.none()
        queryset = selectors.agents_with_load()
        if not roles.is_supervisor(self.request.user):
            queryset = queryset.filter(user=self.request.user)
        return queryset

    def partial_update(self, request, id=None):
        profile = self.get_object()
        body = s.AgentSerializer(profile, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = body.validated_data
        if {"capacity", "flow_capacity"} & set(changes):
            services.update_agent(
                agent=profile.user,
                supervisor=request.user,
                capacity=changes.get("capacity"),
                flow_capacity=changes.get("flow_capacity"),
                availability=changes.get("availability"),
            )
        elif "availability" in changes:  # an agent may change their own
            services.set_availability(
                user=profile.user, availability=changes["availability"], actor=request.user
            )
        return Response(s.AgentSerializer(self.get_queryset().get(pk=profile.pk)).data)


class OfferFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=OfferStatus.choices)

    class Meta:
        model = Offer
        fields = ["status", "ticket"]


@extend_schema_view(
    list=extend_schema(
        summary="Offers of tickets (an agent: their own; supervisors: all), newest first",
        responses=answers(s.OfferSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(responses=answers(s.OfferSerializer, 404)),
)
class OfferViewSet(ApiView, viewsets.ReadOnlyModelViewSet):
    """Dispatch's offers and its log: every offer with its answer, time-out or withdrawal."""

    serializer_class = s.OfferSerializer
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_class = OfferFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Offer.objects.none()
        queryset = Offer.objects.select_related("agent", "ticket").order_by("-offered_at", "-pk")
        if roles.is_supervisor(self.request.user):
            return queryset
        return queryset.filter(agent=self.request.user)

    @extend_schema(
        summary="Accept the offer: the ticket becomes yours (as a claim)",
        request=None,
        responses=answers(s.TicketDetailSerializer, 403, 404, 409),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def accept(self, request, pk=None):
        ticket = services.accept_offer(offer_id=self.get_object().pk, agent=request.user)
        return Response(
            s.TicketDetailSerializer(ticket, context=self.get_serializer_context()).data
        )

    @extend_schema(
        summary="Decline the offer: the ticket goes to the next agent",
        request=s.DeclineRequestSerializer,
        responses=answers(s.OfferSerializer, 400, 403, 404, 409),
    )
    @action(detail=True, methods=["post"], **PLAIN)
    def decline(self, request, pk=None):
        body = s.DeclineRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        offer = services.decline_offer(
            offer_id=self.get_object().pk, agent=request.user, reason=body.validated_data["reason"]
        )
        return Response(s.OfferSerializer(offer).data)


# --- Customer messages: templates ---------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(
        summary="Customer message templates (supervisors and admins)",
        responses=answers(s.MessageTemplateSerializer(many=True), 400, 404),
    ),
    retrieve=extend_schema(responses=answers(s.MessageTemplateSerializer, 404)),
    create=extend_schema(
        summary="Add a message template (admins)",
        description=(
            "One template per event, flow (blank: every flow) and channel. The placeholders "
            "are checked against the event's (`placeholders`), an SMS text against the "
            "gateway's six parts; a WhatsApp template's approval is asked of WhatsApp. Every "
            "problem answers 400 with the field's messages, and nothing is saved."
        ),
        responses=answers(s.MessageTemplateSerializer, 400, ok_status=201),
    ),
    partial_update=extend_schema(
        summary="Change a message template (admins)",
        responses=answers(s.MessageTemplateSerializer, 400, 404),
    ),
)
class MessageTemplateViewSet(
    ApiView, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """The texts customers receive per event, flow and channel (docs/notifications.md):
    supervisors and admins read them, admins write them through `save_template`. A template is
    never deleted: set `active` false."""

    serializer_class = s.MessageTemplateSerializer
    permission_classes = [MessageTemplates]
    pagination_class = PagePagination
    filter_backends = [filters.DjangoFilterBackend]
    filterset_fields = ["event", "channel", "active"]
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        return MessageTemplate.objects.select_related("updated_by").order_by(
            "event", "flow", "channel", "pk"
        )

    def _answer(self, template, code=status.HTTP_200_OK):
        template = self.get_queryset().get(pk=template.pk)
        return Response(s.MessageTemplateSerializer(template).data, status=code)

    def create(self, request):
        body = s.MessageTemplateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        template = services.save_template(actor=request.user, **body.validated_data)
        return self._answer(template, status.HTTP_201_CREATED)

    def partial_update(self, request, pk=None):
        template = self.get_object()
        body = s.MessageTemplateSerializer(template, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        template = services.save_template(
            actor=request.user, template_id=template.pk, **body.validated_data
        )
        return self._answer(template)


# --- Auth -----------------------------------------------------------------------------------
class TokenView(ObtainAuthToken):
    """Exchange a username and password for the user's API token (send it as
    ``Authorization: Token <key>``)."""

    authentication_classes = []  # a login needs no login (and no CSRF token)
    # Per client address, TIER2_API_RATE_TOKEN; a locked user or address (django-axes, after
    # TIER2_LOCKOUT_FAILURES wrong passwords) gets 429 LockedOut even with the right password.
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "token"

    def get_serializer_context(self):
        # authenticate() gets Django's request, so axes counts the failure and flags a lockout
        # where its middleware answers it (DRF's wrapper would keep the flag to itself).
        return {**super().get_serializer_context(), "request": self.request._request}

    @extend_schema(
        summary="Get an API token",
        request=s.TokenRequestSerializer,
        responses={200: s.TokenSerializer, 400: s.ErrorSerializer, 429: s.ErrorSerializer},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

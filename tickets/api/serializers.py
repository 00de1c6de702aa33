"""What the API reads and writes. Serializers validate shapes; the rules live in the services.

Read serializers turn rows (and the services' `TransitionOption`s and the selectors' timeline
entries) into JSON. Request serializers check the types and lengths of a request body; what the
request means (may this user do it, is the ticket in the right state) is the services' answer.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, timedelta
from functools import lru_cache

import holidays
from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueTogetherValidator

from integrations.adapters.sms import SMS_STATUSES
from integrations.adapters.whatsapp import MESSAGE_STATUSES
from integrations.models import AdapterCall

from .. import roles, sla
from ..flows import FLOWS, GamasIncidentMachine
from ..flows.base import closing_code_choices
from ..models import (
    AgentProfile,
    Broadcast,
    BusinessCalendar,
    CalendarDay,
    CalendarDayKind,
    Campaign,
    ContactAttempt,
    Customer,
    CustomerMessage,
    Escalation,
    Flow,
    GamasIncident,
    ImportJob,
    ImportKind,
    MessageChannel,
    MessageEvent,
    MessageLanguage,
    MessageTemplate,
    Note,
    Offer,
    Priority,
    Service,
    SlaHours,
    SlaPolicy,
    Ticket,
)
from ..services import available_transitions, imports
from ..services.messages import PLACEHOLDERS

User = get_user_model()


# --- Errors ---------------------------------------------------------------------------------
class ErrorSerializer(serializers.Serializer):
    """Every error answer (see tickets.api.errors)."""

    detail = serializers.CharField(help_text=_("What went wrong, in a sentence for the user."))
    code = serializers.CharField(
        help_text=_(
            "The kind of error: ValidationError, InvalidInput, NotAuthenticated, "
            "PermissionDenied, TransitionForbidden, NotFound, NoTicketAvailable, "
            "ConcurrentChange, TicketAlreadyClaimed, TransitionNotAllowed, ConditionNotMet, ..."
        )
    )
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text=_("400 only: the messages of each field (nested for nested fields)."),
    )
    current_state = serializers.CharField(
        required=False, help_text=_("409: the state the ticket (or call) is in now.")
    )
    assignee = serializers.CharField(
        required=False, help_text=_("409 TicketAlreadyClaimed: who holds the ticket.")
    )


# --- Phone numbers --------------------------------------------------------------------------
PHONE_HELP = _(
    "In full for supervisors, Support, admins and the agent holding the ticket it is shown on; "
    "otherwise masked, e.g. 0812****7890."
)


class ShowsPhones:
    # Phone numbers as the requesting user may read them (`roles.may_see_phone`): in full for
    # supervisors, Support and admins and for the agent holding the ticket they are shown on;
    # masked (0812****7890) for everyone else, and when there is no request to ask. (A comment,
    # not a docstring: the schema would take it for the description of every serializer.)

    def phone_ticket(self, instance=None):
        """The ticket the number is shown on: the view's (context `ticket`), the serialized
        ticket's, or None (a customer or service listed for itself)."""
        ticket = self.context.get("ticket")
        if ticket is None and isinstance(self.root.instance, Ticket):
            ticket = self.root.instance
        return ticket

    def may_see_phone(self, instance=None) -> bool:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return roles.may_see_phone(user, self.phone_ticket(instance))


# --- Customers and services -----------------------------------------------------------------
class CustomerSerializer(ShowsPhones, serializers.ModelSerializer):
    email = serializers.CharField(read_only=True, help_text=_("An e-mail address, or blank."))

    class Meta:
        model = Customer
        fields = ["id", "name", "phone", "email", "address"]
        read_only_fields = fields
        extra_kwargs = {"phone": {"help_text": PHONE_HELP}}

    def to_representation(self, customer):
        data = super().to_representation(customer)
        if not self.may_see_phone(customer):
            data["phone"] = roles.mask_phone(data["phone"])
        return data


class ServiceBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Service
        fields = ["id", "service_number", "package", "address", "sto", "olt", "odp"]
        read_only_fields = fields


class ServiceSerializer(ServiceBriefSerializer):
    customer = CustomerSerializer(read_only=True)

    class Meta(ServiceBriefSerializer.Meta):
        fields = [*ServiceBriefSerializer.Meta.fields, "customer"]
        read_only_fields = fields


class CustomerDetailSerializer(CustomerSerializer):
    services = ServiceBriefSerializer(many=True, read_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "services"]
        read_only_fields = fields


# --- Tickets --------------------------------------------------------------------------------
class InputChoiceSerializer(serializers.Serializer):
    value = serializers.CharField()
    label = serializers.CharField()


class TransitionInputSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    kind = serializers.CharField(
        help_text=_(
            "The widget: text (free text), closing_code or choice (one of `choices`), "
            "incident (the id of an open gamas incident, one of `choices`)."
        ),
    )
    required = serializers.BooleanField()
    choices = InputChoiceSerializer(many=True)


class AvailableTransitionSerializer(serializers.Serializer):
    name = serializers.CharField(help_text=_("POST it to .../transitions/ as `name`."))
    label = serializers.CharField()
    target = serializers.CharField(help_text=_("The state the ticket goes to."))
    inputs = TransitionInputSerializer(many=True)
    allowed = serializers.BooleanField(help_text=_("False while a condition of the SOP is unmet."))
    blocked_reason = serializers.CharField(allow_blank=True)


def open_incident_choices() -> list[tuple[str, str]]:
    """The incidents a link step may name: the open ones, newest first (as the console's form
    offers them; agents do not read the incident list)."""
    incidents = GamasIncident.objects.filter(state="open").order_by("-opened_at", "-pk")
    return [(str(incident.pk), str(incident)) for incident in incidents.only("pk", "title")]


def transitions_payload(machine, user) -> list[dict]:
    """The services' TransitionOptions with each input's choices spelled out."""
    options = []
    for option in available_transitions(machine, user):
        inputs = []
        for spec in option.inputs:
            # A closing step offers its own codes (the ones that fit the way it closes).
            if spec.kind == "closing_code":
                choices = closing_code_choices(spec, machine)
            elif spec.kind == "incident":
                choices = open_incident_choices()
            else:
                choices = spec.choices
            inputs.append(
                {
                    "name": spec.name,
                    "label": str(spec.label),
                    "kind": spec.kind,
                    "required": spec.required,
                    "choices": [{"value": v, "label": str(label)} for v, label in choices],
                }
            )
        options.append(
            {
                "name": option.name,
                "label": option.label,
                "target": option.target,
                "inputs": inputs,
                "allowed": option.allowed,
                "blocked_reason": option.blocked_reason,
            }
        )
    return options


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.CharField(
        help_text=_("transition, note, contact, escalation, answer, call or message")
    )
    actor = serializers.CharField()
    title = serializers.CharField()
    detail = serializers.CharField(allow_blank=True)
    status = serializers.CharField(allow_blank=True)
    call_id = serializers.IntegerField(allow_null=True)


class TicketListSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    site = serializers.CharField(source="site.code", read_only=True)
    service_number = serializers.CharField(source="service.service_number", read_only=True)
    customer_name = serializers.CharField(source="service.customer.name", read_only=True)
    assignee_username = serializers.SerializerMethodField()

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "flow",
            "state",
            "priority",
            "sla_status",
            "site",
            "service_number",
            "customer_name",
            "category",
            "summary",
            "source_system",
            "source_ref",
            "nossa_number",
            "gamas_incident",
            "previous_ticket",
            "campaign",
            "assignee",
            "assignee_username",
            "awaiting_agent",
            "claim_by",
            "resolve_by",
            "slg_due",
            "created_at",
            "closed_at",
        ]
        read_only_fields = fields

    def get_assignee_username(self, ticket) -> str | None:
        return ticket.assignee.get_username() if ticket.assignee_id else None


class TicketDetailSerializer(TicketListSerializer):
    flow_label = serializers.SerializerMethodField()
    state_label = serializers.SerializerMethodField()
    sop_step = serializers.SerializerMethodField()
    service = ServiceSerializer(read_only=True)
    last_contact_outcome = serializers.CharField(
        read_only=True, help_text=_("The outcome of the last call (blank before any call).")
    )
    available_transitions = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()

    class Meta(TicketListSerializer.Meta):
        fields = [
            *TicketListSerializer.Meta.fields,
            "flow_label",
            "state_label",
            "sop_step",
            "claimed_at",
            "at_risk_at",
            "breached_at",
            "escalated_from",
            "failed_attempts",
            "last_contact_outcome",
            "closing_code",
            "facts",
            "updated_at",
            "service",
            "available_transitions",
            "timeline",
        ]
        read_only_fields = fields

    def _state(self, ticket):
        states = getattr(FLOWS.get(ticket.flow), "states", {})
        return states.get(ticket.state)

    def get_flow_label(self, ticket) -> str:
        return str(Flow(ticket.flow).label)

    def get_state_label(self, ticket) -> str:
        state = self._state(ticket)
        return str(state.label) if state else ticket.state

    def get_sop_step(self, ticket) -> str:
        state = self._state(ticket)
        return str(state.sop_step) if state else ""

    @extend_schema_field(AvailableTransitionSerializer(many=True))
    def get_available_transitions(self, ticket) -> list[dict]:
        return transitions_payload(ticket, self.context["request"].user)

    @extend_schema_field(TimelineEntrySerializer(many=True))
    def get_timeline(self, ticket) -> list[dict]:
        from ..selectors import timeline

        return TimelineEntrySerializer(timeline(ticket), many=True).data

    def to_representation(self, ticket):
        data = super().to_representation(ticket)
        request = self.context.get("request")
        if not roles.may_see_phone(getattr(request, "user", None), ticket):
            data["facts"] = roles.mask_phones_in(data["facts"])  # I-SISKA's contact number
        return data


# --- Requests on a ticket -------------------------------------------------------------------
class InputsField(serializers.DictField):
    """A transition's inputs: text values (an incident by its id); others are ignored."""

    child = serializers.CharField(allow_blank=True, allow_null=True, max_length=4000)


class TransitionRequestSerializer(serializers.Serializer):
    name = serializers.CharField(
        max_length=48, help_text=_("One of the ticket's available_transitions.")
    )
    inputs = InputsField(required=False, default=dict)
    expected_state = serializers.CharField(
        max_length=32,
        required=False,
        help_text=_(
            "The state the client saw. If the ticket is in another state now, nothing "
            "happens and the answer is 409 ConcurrentChange."
        ),
    )


class ClaimRequestSerializer(serializers.Serializer):
    expected_state = serializers.CharField(max_length=32, required=False)


class ReleaseRequestSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ReassignRequestSerializer(serializers.Serializer):
    agent = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        help_text=_("The id of an agent who works the ticket's flow at its site."),
    )
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class NoteSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Note
        fields = ["id", "ticket", "author", "created_at", "text"]
        read_only_fields = ["id", "ticket", "author", "created_at"]
        extra_kwargs = {"text": {"max_length": 4000}}


class ContactAttemptSerializer(ShowsPhones, serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(slug_field="username", read_only=True)
    expected_state = serializers.CharField(max_length=32, required=False, write_only=True)

    class Meta:
        model = ContactAttempt
        fields = ["id", "ticket", "agent", "at", "outcome", "phone", "note", "expected_state"]
        read_only_fields = ["id", "ticket", "agent", "at", "phone"]
        extra_kwargs = {"note": {"max_length": 4000}, "phone": {"help_text": PHONE_HELP}}

    def to_representation(self, attempt):
        data = super().to_representation(attempt)
        if not self.may_see_phone(attempt):
            data["phone"] = roles.mask_phone(data["phone"])
        return data


class EscalationSerializer(serializers.ModelSerializer):
    ticket_number = serializers.CharField(source="ticket.number", read_only=True)
    raised_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    answered_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    support_assignee = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    waiting_minutes = serializers.SerializerMethodField()

    class Meta:
        model = Escalation
        fields = [
            "id",
            "ticket",
            "ticket_number",
            "raised_by",
            "raised_at",
            "reason",
            "from_state",
            "status",
            "support_assignee",
            "due_at",
            "waiting_minutes",
            "answered_by",
            "answered_at",
            "answer",
        ]
        read_only_fields = fields

    def get_waiting_minutes(self, escalation) -> int:
        """How long Support has had it (until the answer, or now)."""
        end = escalation.answered_at or timezone.now()
        return max(0, int((end - escalation.raised_at) / timedelta(minutes=1)))


class AdapterCallSerializer(ShowsPhones, serializers.ModelSerializer):
    """A call's request and answer as sent and received; phone numbers in them are shown as
    the user may read them on the call's ticket."""

    class Meta:
        model = AdapterCall
        fields = [
            "id",
            "ticket",
            "incident",
            "app",
            "operation",
            "status",
            "attempts",
            "duration_ms",
            "error",
            "request",
            "response",
            "created_at",
            "dispatched_at",
            "finished_at",
        ]
        read_only_fields = fields

    def phone_ticket(self, call=None):
        return self.context.get("ticket") or (call.ticket if call and call.ticket_id else None)

    def to_representation(self, call):
        data = super().to_representation(call)
        if not self.may_see_phone(call):
            data["request"] = roles.mask_phones_in(data["request"])
            data["response"] = roles.mask_phones_in(data["response"])
        return data


# --- Gamas incidents ------------------------------------------------------------------------
class GamasIncidentSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    open_children = serializers.IntegerField(
        read_only=True, help_text=_("Reports of the incident not closed yet.")
    )

    class Meta:
        model = GamasIncident
        fields = [
            "id",
            "number",
            "title",
            "area_level",
            "area_code",
            "state",
            "opened_at",
            "opened_by",
            "recovered_at",
            "closed_at",
            "closing_code",
            "open_children",
        ]
        read_only_fields = [
            "id",
            "number",
            "state",
            "opened_at",
            "opened_by",
            "recovered_at",
            "closed_at",
            "closing_code",
        ]
        extra_kwargs = {
            "title": {"max_length": 200},
            "area_code": {"max_length": 32},
        }

    def validate_area_code(self, value: str) -> str:
        try:
            return imports.clean_area_code(value)
        except ValueError as problem:
            raise serializers.ValidationError(str(problem)) from problem


class GamasIncidentDetailSerializer(GamasIncidentSerializer):
    children_by_state = serializers.SerializerMethodField()
    available_transitions = serializers.SerializerMethodField()

    class Meta(GamasIncidentSerializer.Meta):
        fields = [
            *GamasIncidentSerializer.Meta.fields,
            "children_by_state",
            "available_transitions",
        ]

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_children_by_state(self, incident) -> dict[str, int]:
        from ..selectors import state_counts

        return state_counts(incident.children.all())

    @extend_schema_field(AvailableTransitionSerializer(many=True))
    def get_available_transitions(self, incident) -> list[dict]:
        machine = incident
        if not isinstance(machine, GamasIncidentMachine):
            machine = GamasIncidentMachine.objects.get(pk=incident.pk)
        return transitions_payload(machine, self.context["request"].user)


class IncidentTransitionRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=48, help_text=_("recover or close"))
    inputs = InputsField(required=False, default=dict)


# --- Configuration: SLA policies, campaigns -------------------------------------------------
@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$",
        "example": "08:00",
        "nullable": True,
    }
)
class ClockTimeField(serializers.TimeField):
    """A wall-clock time, ``HH:MM``, in the calendar's own zone (Indonesia has no DST)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class CalendarDaySerializer(serializers.ModelSerializer):
    class Meta:
        model = CalendarDay
        fields = ["date", "name", "kind"]


class BusinessCalendarSerializer(serializers.ModelSerializer):
    """A business calendar (read-only here; admins keep calendars in the Django admin)."""

    day_starts = ClockTimeField(read_only=True)
    day_ends = ClockTimeField(read_only=True)
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        read_only=True,
        help_text=_("Working weekdays, 0 = Monday."),
    )
    days = CalendarDaySerializer(
        many=True,
        read_only=True,
        help_text=_("The calendar's own dates: closed (a local holiday) or open (worked)."),
    )

    class Meta:
        model = BusinessCalendar
        fields = [
            "id",
            "name",
            "time_zone",
            "day_starts",
            "day_ends",
            "weekdays",
            "national_holidays",
            "collective_leave",
            "days",
        ]
        read_only_fields = fields


class SlaPolicySerializer(serializers.ModelSerializer):
    priority = serializers.ChoiceField(choices=Priority.choices)
    hours = serializers.ChoiceField(
        choices=SlaHours.choices,
        required=False,
        help_text=_(
            "24x7; calendar: the business calendar named in `calendar`; site: the calendar of "
            "the ticket's site (a site without one counts 24x7)."
        ),
    )
    calendar = serializers.PrimaryKeyRelatedField(
        queryset=BusinessCalendar.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("The business calendar's id, for hours `calendar`; null otherwise."),
    )
    calendar_detail = BusinessCalendarSerializer(source="calendar", read_only=True, allow_null=True)

    class Meta:
        model = SlaPolicy
        fields = [
            "id",
            "flow",
            "priority",
            "claim_minutes",
            "resolve_minutes",
            "escalation_answer_minutes",
            "hours",
            "calendar",
            "calendar_detail",
        ]
        extra_kwargs = {
            "claim_minutes": {"min_value": 1, "max_value": 525600},
            "resolve_minutes": {"min_value": 1, "max_value": 525600},
            "escalation_answer_minutes": {"min_value": 1, "max_value": 525600},
        }
        validators = [
            UniqueTogetherValidator(
                queryset=SlaPolicy.objects.all(),
                fields=["flow", "priority"],
                message=_("This flow already has a policy for this priority."),
            )
        ]

    TARGETS = ("claim_minutes", "resolve_minutes", "escalation_answer_minutes")

    def validate(self, attrs: dict) -> dict:
        hours = attrs.get("hours", getattr(self.instance, "hours", SlaHours.ROUND_THE_CLOCK))
        calendar = attrs.get("calendar", getattr(self.instance, "calendar", None))
        if hours != SlaHours.CALENDAR:
            calendar = attrs["calendar"] = None  # no stale calendar on a 24x7 or site policy
        elif calendar is None:
            raise serializers.ValidationError({"calendar": [_("Choose the business calendar.")]})
        targets = {
            name: attrs.get(name, getattr(self.instance, name, None)) for name in self.TARGETS
        }
        misfits = sla.targets_that_do_not_fit(targets, sla.calendars_counted(hours, calendar))
        if misfits:
            raise serializers.ValidationError(
                {
                    name: [
                        _("Too long for the working time of %(calendar)s.")
                        % {"calendar": found.name}
                    ]
                    for name, found in misfits.items()
                }
            )
        return attrs


# --- Business calendars -----------------------------------------------------------------------
FIRST_YEAR, LAST_YEAR = 2000, 2100
BAD_YEAR = _("Give a year from 2000 to 2100, e.g. 2026.")
CLOSED_REASONS = [
    ("national_holiday", _("National public holiday (hari libur nasional)")),
    ("collective_leave", _("Collective leave day (cuti bersama)")),
    ("local", _("Closed day of the calendar (a local holiday)")),
]


class CalendarYearSerializer(serializers.Serializer):
    """The query of /api/calendars/: the year whose closed and open days are listed."""

    year = serializers.IntegerField(
        required=False,
        min_value=FIRST_YEAR,
        max_value=LAST_YEAR,
        error_messages=dict.fromkeys(
            ("invalid", "min_value", "max_value", "max_string_length"), BAD_YEAR
        ),
        help_text=_(
            "The year of `closed_days` and `open_days` (2000 to 2100); by default the current "
            "year in the calendar's time zone."
        ),
    )


@lru_cache(maxsize=64)
def _national_names(year: int, category: str, language: str) -> dict[date, str]:
    # The names of one category of the holidays library's dates (PUBLIC: public holidays,
    # GOVERNMENT: collective leave), in the admin's language rule. tickets.sla says which dates
    # close a calendar (`national_closed_days`) but keeps no names: only the names come from here.
    found = holidays.country_holidays("ID", years=year, categories=[category], language=language)
    return dict(found)


def calendar_year(calendar: BusinessCalendar, year: int | None = None) -> dict:
    """The year (default: the current one in the calendar's zone), the dates the calendar is
    closed that year with their reasons, and its own open days of that year.

    Which dates close is `tickets.sla`'s answer: the national dates of `national_closed_days`
    for the holiday rules the calendar keeps, and its own closed days, less every date
    `WorkingCalendar.is_working_day` works (its own open days). The weekdays it never works are
    not listed; a holiday that falls on one is."""
    own = list(calendar.days.all())  # prefetched by the view: no query
    working = sla.WorkingCalendar.of(calendar, [(day.date, day.kind) for day in own])
    if year is None:
        year = timezone.now().astimezone(working.zone).year
    language = "id" if (get_language() or "").startswith("id") else "en_US"
    reasons: dict[date, list[dict]] = defaultdict(list)
    national = (
        ("national_holiday", working.national_holidays, holidays.PUBLIC),
        ("collective_leave", working.collective_leave, holidays.GOVERNMENT),
    )
    for reason, kept, category in national:
        if not kept:
            continue
        public = reason == "national_holiday"
        names = _national_names(year, category, language)
        for day in sla.national_closed_days(year, public=public, collective=not public):
            reasons[day].append({"type": reason, "name": names.get(day, "")})
    own = [day for day in own if day.date.year == year]
    for day in own:
        if day.kind == CalendarDayKind.CLOSED:
            reasons[day.date].append({"type": "local", "name": day.name})
    return {
        "year": year,
        "closed_days": [
            {"date": day, "reasons": reasons[day]}
            for day in sorted(reasons)
            if not working.is_working_day(day)
        ],
        "open_days": [
            {"date": day.date, "name": day.name} for day in own if day.kind == CalendarDayKind.OPEN
        ],
    }


class CalendarClosedReasonSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CLOSED_REASONS)
    name = serializers.CharField(
        help_text=_(
            "The holiday's name from the holidays library, in the request's language "
            "(Indonesian unless English is chosen), or the name of the calendar's own day."
        )
    )


class CalendarClosedDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    reasons = CalendarClosedReasonSerializer(many=True)


class CalendarOpenDaySerializer(serializers.Serializer):
    date = serializers.DateField()
    name = serializers.CharField()


class CalendarSerializer(BusinessCalendarSerializer):
    """A business calendar, the sites that work on it, and its closed and open days of one
    year (`?year=`)."""

    time_zone_name = serializers.CharField(
        source="zone_name", read_only=True, help_text=_("WIB, WITA or WIT.")
    )
    sites = serializers.SlugRelatedField(
        many=True,
        read_only=True,
        slug_field="code",
        help_text=_("The codes of the sites that work on this calendar."),
    )
    year = serializers.IntegerField(source="year_days.year", read_only=True)
    closed_days = CalendarClosedDaySerializer(
        source="year_days.closed_days",
        many=True,
        read_only=True,
        help_text=_(
            "Every date of the year the calendar closes on, with its reasons: the national "
            "public holidays and collective leave days (if it closes on them) and its own closed "
            "days, also when they fall on a weekday it never works (those weekdays are not "
            "listed). Its own open days are worked and not listed here."
        ),
    )
    open_days = CalendarOpenDaySerializer(
        source="year_days.open_days",
        many=True,
        read_only=True,
        help_text=_("The calendar's own open days of the year (worked whatever the date)."),
    )

    class Meta(BusinessCalendarSerializer.Meta):
        fields = [
            "id",
            "name",
            "time_zone",
            "time_zone_name",
            "day_starts",
            "day_ends",
            "weekdays",
            "national_holidays",
            "collective_leave",
            "sites",
            "days",
            "year",
            "closed_days",
            "open_days",
        ]
        read_only_fields = fields

    def to_representation(self, calendar):
        calendar.year_days = calendar_year(calendar, self.context.get("year"))
        return super().to_representation(calendar)


class CampaignSerializer(serializers.ModelSerializer):
    CAMPAIGN_FLOWS = (Flow.IDEAS, Flow.C4_CARING)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "code",
            "name",
            "flow",
            "description",
            "offer_code",
            "active",
            "starts_on",
            "ends_on",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        extra_kwargs = {"description": {"max_length": 4000}}

    def validate_flow(self, value: str) -> str:
        if value not in self.CAMPAIGN_FLOWS:
            raise serializers.ValidationError(_("Campaigns are for Ideas or C4 Caring."))
        return value

    def validate(self, attrs: dict) -> dict:
        starts = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts and ends and ends < starts:
            raise serializers.ValidationError({"ends_on": [_("It ends before it starts.")]})
        return attrs


# --- Ingestion ------------------------------------------------------------------------------
def _rule(check):
    """A serializer validator from one of tickets.services.imports' field rules."""

    def validate(value):
        try:
            return check(value)
        except ValueError as problem:
            raise serializers.ValidationError(str(problem)) from problem

    return validate


class ReportServiceFields(serializers.Serializer):
    """The service and customer, needed only when the service number is not known yet."""

    service_number = serializers.CharField(
        max_length=12,
        help_text=_("12 digits."),
    )
    customer_name = serializers.CharField(max_length=128, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=24, required=False, allow_blank=True)
    sto = serializers.CharField(max_length=16, required=False, allow_blank=True)
    olt = serializers.CharField(max_length=16, required=False, allow_blank=True)
    odp = serializers.CharField(max_length=16, required=False, allow_blank=True)
    address = serializers.CharField(max_length=255, required=False, allow_blank=True)
    package = serializers.CharField(max_length=64, required=False, allow_blank=True)
    summary = serializers.CharField(max_length=255, required=False, allow_blank=True)
    reported_at = serializers.DateTimeField(
        required=False,
        help_text=_("When the customer reported it (default: now); within the last year."),
    )

    def validate_service_number(self, value: str) -> str:
        return _rule(imports.clean_service_number)(value)

    def validate_phone(self, value: str) -> str:
        return _rule(imports.clean_phone)(value) if value.strip() else ""

    def validate_sto(self, value: str) -> str:
        return _rule(imports.clean_area_code)(value) if value.strip() else ""

    validate_olt = validate_sto
    validate_odp = validate_sto

    def validate_reported_at(self, value):
        now = timezone.now()
        if value > now + timedelta(minutes=5) or value < now - timedelta(days=365):
            raise serializers.ValidationError(_("Give a time within the last year."))
        return value

    def service_fields(self) -> dict:
        names = ("customer_name", "phone", "sto", "olt", "odp", "address", "package")
        return {name: self.validated_data.get(name, "").strip() for name in names}


class NossaReportSerializer(ReportServiceFields):
    nossa_number = serializers.CharField(max_length=10, help_text=_("IN and 8 digits."))
    category = serializers.ChoiceField(
        choices=["INTERNET", "IPTV", "VOICE"], required=False, default="INTERNET"
    )
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)

    def validate_nossa_number(self, value: str) -> str:
        return _rule(imports.clean_nossa_number)(value)


class IvrGamasReportSerializer(ReportServiceFields):
    call_id = serializers.RegexField(
        r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$",
        max_length=64,
        help_text=_("The IVR's id of the call: the same call id twice makes one ticket."),
    )


class CallbackReportSerializer(ReportServiceFields):
    record_id = serializers.CharField(
        max_length=12,
        help_text=_(
            "The Callback app's record: CB and 10 digits; the same record twice makes one ticket."
        ),
    )

    def validate_record_id(self, value: str) -> str:
        return _rule(imports.clean_callback_record)(value)


class IngestResultSerializer(serializers.Serializer):
    created = serializers.BooleanField(
        help_text=_("False when the source reference was already known (the same ticket).")
    )
    ticket = TicketListSerializer()


# --- Imports --------------------------------------------------------------------------------
class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text=_("A UTF-8 CSV file (20 MB at most) whose line 1 names the columns.")
    )
    kind = serializers.ChoiceField(choices=ImportKind.choices)
    campaign = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Campaign.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("The campaign's code (Ideas and C4 Caring lists)."),
    )

    def validate_file(self, upload):
        if upload.size > imports.MAX_FILE_BYTES:
            raise serializers.ValidationError(_("The file is over 20 MB."))
        return upload


class ImportErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text=_("The file's line (line 1 is the header)."))
    field = serializers.CharField(allow_blank=True)
    message = serializers.CharField()


class ImportJobSerializer(serializers.ModelSerializer):
    campaign = serializers.SlugRelatedField(slug_field="code", read_only=True, allow_null=True)
    uploaded_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    phase = serializers.SerializerMethodField()
    processed_rows = serializers.SerializerMethodField()
    progress_percent = serializers.SerializerMethodField()
    errors = ImportErrorSerializer(many=True, read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "campaign",
            "file_name",
            "uploaded_by",
            "status",
            "phase",
            "total_rows",
            "processed_rows",
            "progress_percent",
            "created_tickets",
            "errors",
            "created_at",
            "cancel_requested_at",
            "finished_at",
        ]
        read_only_fields = fields

    def _progress(self, job) -> dict:
        cached = getattr(job, "_progress_cache", None)
        if cached is None:
            cached = job._progress_cache = imports.progress_of(job)
        return cached

    @extend_schema_field(
        serializers.ChoiceField(choices=["pending", "validating", "importing", "done", "failed"])
    )
    def get_phase(self, job) -> str:
        return self._progress(job)["phase"]

    def get_processed_rows(self, job) -> int:
        return self._progress(job)["processed_rows"]

    @extend_schema_field(OpenApiTypes.INT)
    def get_progress_percent(self, job) -> int:
        return self._progress(job)["progress_percent"]


# --- Auth -----------------------------------------------------------------------------------
class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


# --- Dispatch (push): agents' availability and capacity, offers, pins ------------------------
class AgentSerializer(serializers.ModelSerializer):
    """An agent as dispatch sees them. Supervisors change capacity and availability; an agent
    changes their own availability only."""

    id = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    held = serializers.IntegerField(read_only=True, help_text=_("Open tickets held now."))
    offers_waiting = serializers.IntegerField(
        read_only=True, help_text=_("Offers waiting for this agent's answer.")
    )

    class Meta:
        model = AgentProfile
        fields = [
            "id", "username", "site", "flows", "availability", "availability_since", "capacity",
            "flow_capacity", "held", "offers_waiting", "last_assigned_at", "last_seen_at",
        ]  # fmt: skip
        read_only_fields = [
            "flows", "availability_since", "last_assigned_at", "last_seen_at",
        ]  # fmt: skip


class OfferSerializer(serializers.ModelSerializer):
    agent = serializers.SlugRelatedField(slug_field="username", read_only=True)
    ticket_number = serializers.CharField(source="ticket.number", read_only=True)

    class Meta:
        model = Offer
        fields = [
            "id", "ticket", "ticket_number", "agent", "status", "offered_at", "expires_at",
            "decided_at", "pinned", "reason",
        ]  # fmt: skip
        read_only_fields = fields


class DeclineRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class PinRequestSerializer(serializers.Serializer):
    agent = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True),
        allow_null=True,
        help_text=_("The id of an agent who works the ticket's flow at its site; null unpins."),
    )
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


# --- Customer messages: templates, a ticket's messages, broadcasts, the customer's wishes -----
class MessageTemplateSerializer(serializers.ModelSerializer):
    """A message template. Writes go through `save_template`, which checks the placeholders,
    the SMS length and the WhatsApp name and answers every problem as the field's messages."""

    event = serializers.ChoiceField(choices=MessageEvent.choices)
    flow = serializers.ChoiceField(
        choices=Flow.choices,
        allow_blank=True,
        required=False,
        help_text=_("Blank: the template of every flow without one of its own."),
    )
    channel = serializers.ChoiceField(choices=MessageChannel.choices)
    text_id = serializers.CharField(
        max_length=4000,
        help_text=_("The Indonesian text, with the event's placeholders written {name}."),
    )
    text_en = serializers.CharField(
        max_length=4000,
        required=False,
        allow_blank=True,
        help_text=_("The English text (optional), with the same placeholders."),
    )
    whatsapp_name = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text=_("WhatsApp only: the name of the template WhatsApp approved."),
    )
    active = serializers.BooleanField(required=False, default=True)
    placeholders = serializers.SerializerMethodField(
        help_text=_("The placeholders the template's event offers.")
    )
    updated_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = MessageTemplate
        fields = [
            "id", "event", "flow", "channel", "text_id", "text_en", "whatsapp_name",
            "whatsapp_status", "active", "placeholders", "updated_at", "updated_by",
        ]  # fmt: skip
        read_only_fields = ["id", "whatsapp_status", "updated_at", "updated_by"]
        extra_kwargs = {
            "whatsapp_status": {
                "help_text": _("WhatsApp's approval when last saved: approved, pending, "
                               "rejected or unknown; blank for SMS.")
            }
        }  # fmt: skip
        validators = []  # one template per event, flow and channel: save_template's answer

    def get_placeholders(self, template) -> list[str]:
        return list(PLACEHOLDERS.get(template.event, ()))


class CustomerMessageSerializer(ShowsPhones, serializers.ModelSerializer):
    """A message to the customer, with its status and times. The number it went to is shown
    as the user may read phone numbers on the message's ticket."""

    parameters = serializers.ListField(
        child=serializers.CharField(allow_blank=True),
        read_only=True,
        help_text=_("The placeholders' values, in order (WhatsApp's template parameters)."),
    )

    class Meta:
        model = CustomerMessage
        fields = [
            "id", "ticket", "incident", "customer", "event", "channel", "language", "template",
            "to_number", "text", "parameters", "status", "reason", "not_before", "call",
            "provider_id", "created_at", "queued_at", "sent_at", "delivered_at", "read_at",
            "failed_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "to_number": {"help_text": PHONE_HELP},
            "reason": {
                "help_text": _("Why it was not sent (opted_out, no_mobile_number), held "
                               "(quiet_hours, rate_limit) or failed (the gateway's error).")
            },
            "not_before": {"help_text": _("A held message is sent from this time on.")},
            "call": {"help_text": _("The outbox call that sends it (/api/calls/{id}/).")},
        }  # fmt: skip

    def phone_ticket(self, message=None):
        return self.context.get("ticket") or (
            message.ticket if message is not None and message.ticket_id else None
        )

    def to_representation(self, message):
        data = super().to_representation(message)
        if not self.may_see_phone(message):
            data["to_number"] = roles.mask_phone(data["to_number"])
        return data


class BroadcastSerializer(serializers.ModelSerializer):
    """A gamas incident's broadcast of one event and its progress: `done` of `total` customers
    informed; `finished_at` once every customer linked to the incident has their message."""

    started_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = Broadcast
        fields = [
            "id", "incident", "event", "started_by", "started_at", "total", "done",
            "finished_at", "last_batch_at",
        ]  # fmt: skip
        read_only_fields = fields
        extra_kwargs = {
            "total": {"help_text": _("Customers linked to the incident (at least `done`).")},
            "done": {"help_text": _("Customers whose message is written.")},
        }


@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        "example": "21:00",
        "nullable": True,
    }
)
class HourMinuteField(ClockTimeField):
    """A local time, ``HH:MM`` only."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_formats = ["%H:%M"]


class MessagePreferencesSerializer(serializers.ModelSerializer):
    """What the customer asked for about messages. Quiet hours are given both or neither."""

    messages_opt_out = serializers.BooleanField(
        required=False, help_text=_("True: the customer wants no messages.")
    )
    message_channel = serializers.ChoiceField(choices=MessageChannel.choices, required=False)
    message_language = serializers.ChoiceField(choices=MessageLanguage.choices, required=False)
    quiet_from = HourMinuteField(
        required=False,
        allow_null=True,
        help_text=_(
            "No messages from this local time (HH:MM) until quiet_until; both null: the "
            "console's default quiet hours. Give both, or both null."
        ),
    )
    quiet_until = HourMinuteField(
        required=False,
        allow_null=True,
        help_text=_(
            "The end of the quiet hours (HH:MM); before quiet_from when they span midnight."
        ),
    )

    class Meta:
        model = Customer
        fields = [
            "id", "messages_opt_out", "message_channel", "message_language", "quiet_from",
            "quiet_until",
        ]  # fmt: skip
        read_only_fields = ["id"]


# --- Receipts pushed by the message gateways (tickets/api/receipts.py) ------------------------
MAX_RECEIPTS = 1000  # receipts in one call


class _ReceiptSerializer(serializers.Serializer):
    message_id = serializers.CharField(
        max_length=64, help_text=_("The id the gateway gave the message when it took it.")
    )
    at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default_timezone=UTC,
        help_text=_(
            "When the status was set (ISO 8601; a time without an offset is UTC). Absent: when "
            "the console received it. A time in the future is taken as now."
        ),
    )
    error = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1024,
        help_text=_("Why the message failed, as the gateway says (the first 255 are kept)."),
    )


class SmsReceiptSerializer(_ReceiptSerializer):
    status = serializers.ChoiceField(
        choices=SMS_STATUSES, help_text=_("The SMS gateway's status of the message.")
    )


class WhatsAppReceiptSerializer(_ReceiptSerializer):
    status = serializers.ChoiceField(
        choices=MESSAGE_STATUSES, help_text=_("WhatsApp's status of the message.")
    )


class SmsReceiptsSerializer(serializers.Serializer):
    receipts = SmsReceiptSerializer(many=True, allow_empty=False, max_length=MAX_RECEIPTS)


class WhatsAppReceiptsSerializer(serializers.Serializer):
    receipts = WhatsAppReceiptSerializer(many=True, allow_empty=False, max_length=MAX_RECEIPTS)


class ReceiptsRecordedSerializer(serializers.Serializer):
    received = serializers.IntegerField(help_text=_("Receipts in the call."))
    changed = serializers.IntegerField(help_text=_("Of them, those that moved a message's status."))
    unknown = serializers.IntegerField(
        help_text=_("Of them, those naming a message id the console does not know (ignored).")
    )

"""The data model of the console: sites, people, customers, tickets and their records.

One `Ticket` table holds the tickets of all seven SOP flows; each flow's state machine is a
proxy model in `tickets.flows`. Everything a ticket goes through is recorded in append-only rows
(transition log, notes, contact attempts, escalations) so its timeline can be rebuilt.

Domain words, as the SOP spells them:
- NOSSA: Telkom's trouble-ticket system; its ticket numbers look like ``IN16672489``.
- Gamas (gangguan massal): a mass outage covering an area (STO / OLT / ODP).
- Lapul (lapor ulang): the same service reported again soon after a close.
- SLA: the contact centre's handling targets; SLG: the restoration guarantee to the customer.
- STO / OLT / ODP: telephone exchange / optical line terminal / optical distribution point,
  the three levels of the access network an outage can cover.
"""

import uuid
from datetime import time

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField

from tier2.partitions import PartitionMonthField, TicketHistoryQuerySet, month_start


class Flow(models.TextChoices):
    CALLBACK = "callback", _("Callback")
    NOSSA = "nossa", _("NOSSA")
    GAMAS = "gamas", _("IVR Gamas")
    C4_CARING = "c4_caring", _("C4 Caring")
    FORCE_CLOSE = "force_close", _("Force Close")
    FRESH_LAPUL = "fresh_lapul", _("Fresh Lapul")
    IDEAS = "ideas", _("Ideas")


class Priority(models.IntegerChoices):
    """Lower is more urgent, so ordering by priority ascending puts the urgent first."""

    CRITICAL = 1, _("Critical")
    HIGH = 2, _("High")
    NORMAL = 3, _("Normal")
    LOW = 4, _("Low")


class SlaStatus(models.TextChoices):
    OK = "ok", _("Within SLA")
    AT_RISK = "at_risk", _("At risk")
    BREACHED = "breached", _("Breached")


class ContactOutcome(models.TextChoices):
    ANSWERED = "answered", _("Answered")
    NO_ANSWER = "no_answer", _("No answer")
    BUSY = "busy", _("Busy")
    WRONG_NUMBER = "wrong_number", _("Wrong number")


class Role(models.TextChoices):
    """Roles are Django groups of these names; `tickets.roles` gives their permissions."""

    AGENT = "Agent", _("Agent")
    SUPERVISOR = "Supervisor", _("Supervisor")
    SUPPORT = "Support", _("Support")
    ADMIN = "Admin", _("Admin")
    SYSTEM = "System", _("System client")


class Availability(models.TextChoices):
    """What an agent says they are doing, in the top bar. Only "available" agents get offers."""

    AVAILABLE = "available", _("Available")
    BREAK = "break", _("On a break")
    TRAINING = "training", _("In training")
    OFFLINE = "offline", _("Offline")


class DispatchMode(models.TextChoices):
    """How a site's waiting tickets reach its agents."""

    PULL = "pull", _("Pull: agents take the next ticket")
    PUSH = "push", _("Push: tickets are offered to agents")
    BOTH = "both", _("Both: offered, and agents may also take the next ticket")


class TimeZone(models.TextChoices):
    """Indonesia's three time zones; none has daylight saving time."""

    WIB = "Asia/Jakarta", _("WIB (Asia/Jakarta, UTC+7)")
    WITA = "Asia/Makassar", _("WITA (Asia/Makassar, UTC+8)")
    WIT = "Asia/Jayapura", _("WIT (Asia/Jayapura, UTC+9)")


def zone_short_name(key: str, default: str = "") -> str:
    """WIB, WITA or WIT: how Indonesians name one of their time zones; `default` for another."""
    return TimeZone(key).name if key in TimeZone.values else default


def monday_to_friday() -> list[int]:
    return [0, 1, 2, 3, 4]


class BusinessCalendarQuerySet(models.QuerySet):
    """A queryset `update()` or `bulk_update()` skips `save()`, so it gives the calendars a new
    version itself (unless it sets one), as `save()` does: compiled copies are built again."""

    def update(self, **kwargs):
        kwargs.setdefault("version", uuid.uuid4())
        return super().update(**kwargs)


class BusinessCalendar(models.Model):
    """Working hours in one time zone: the weekdays open from `day_starts` to `day_ends`, less
    the national public holidays and the collective leave days (cuti bersama) when the calendar
    says they close, less its own closed days, plus its own extra working days (`CalendarDay`).

    The arithmetic is `tickets.sla`. `version` changes on every save of the calendar or of one
    of its days, so each process can keep the calendar compiled and notice a change.
    """

    name = models.CharField(_("name"), max_length=64, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=32, choices=TimeZone.choices, default=TimeZone.WIB
    )
    day_starts = models.TimeField(_("working day starts"), default=time(8))
    day_ends = models.TimeField(_("working day ends"), default=time(17))
    weekdays = models.JSONField(_("working weekdays (0 = Monday)"), default=monday_to_friday)
    national_holidays = models.BooleanField(_("closed on national public holidays"), default=True)
    collective_leave = models.BooleanField(
        _("closed on collective leave days (cuti bersama)"), default=True
    )
    version = models.UUIDField(_("version"), default=uuid.uuid4, editable=False)

    objects = BusinessCalendarQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")
        constraints = [
            models.CheckConstraint(
                condition=Q(day_ends__gt=models.F("day_starts")),
                name="calendar_day_ends_after_start",
                violation_error_message=_("The working day must end after it starts."),
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self.version = uuid.uuid4()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "version"}
        super().save(*args, **kwargs)

    @property
    def zone_name(self) -> str:
        """WIB, WITA or WIT: how Indonesians name the calendar's time zone."""
        return zone_short_name(self.time_zone)


class CalendarDayKind(models.TextChoices):
    CLOSED = "closed", _("Closed (a local holiday)")
    OPEN = "open", _("Open (a working day)")


def new_calendar_versions(calendar_ids, *, using=None) -> None:
    """Give these calendars a new version, so every process compiles them again."""
    ids = {pk for pk in calendar_ids if pk is not None}
    if ids:
        BusinessCalendar.objects.using(using).filter(pk__in=ids).update(version=uuid.uuid4())


class CalendarDayQuerySet(models.QuerySet):
    """Writes of calendar days that skip `save()`, and so the post_save signal that gives the
    calendar a new version (`calendar_day_changed`), give it one themselves, in the same
    transaction: `update()`, `bulk_create()` and `bulk_update()` (which runs `update()`).
    `delete()` needs nothing: a model with a post_delete receiver is never fast-deleted, so the
    signal fires for every row a queryset deletes."""

    def update(self, **kwargs):
        if self.query.is_sliced:
            raise TypeError("Cannot update a query once a slice has been taken.")
        with transaction.atomic(using=self.db, savepoint=False):
            # The rows are locked and then updated by key: exactly the days whose calendars
            # get a new version, even if another transaction adds a matching day meanwhile.
            before = dict(self.order_by().select_for_update().values_list("pk", "calendar_id"))
            rows = self.model._base_manager.using(self.db).filter(pk__in=list(before))
            count = rows.update(**kwargs)
            calendars = set(before.values())
            if {"calendar", "calendar_id"} & kwargs.keys():  # days moved to other calendars
                calendars |= set(rows.values_list("calendar_id", flat=True))
            new_calendar_versions(calendars, using=self.db)
        return count

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        with transaction.atomic(using=self.db, savepoint=False):
            created = super().bulk_create(objs, *args, **kwargs)
            new_calendar_versions({day.calendar_id for day in objs}, using=self.db)
        return created


class CalendarDay(models.Model):
    """One date of one calendar that differs from its rules: closed (a holiday only there) or
    open (worked with the calendar's hours, even on a weekend, a national holiday or a
    collective leave day)."""

    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.CASCADE,
        related_name="days",
        verbose_name=_("calendar"),
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(
        _("kind"), max_length=8, choices=CalendarDayKind.choices, default=CalendarDayKind.CLOSED
    )

    objects = CalendarDayQuerySet.as_manager()

    class Meta:
        ordering = ["calendar", "date"]
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        constraints = [
            models.UniqueConstraint(
                fields=["calendar", "date"],
                name="calendar_day_once",
                violation_error_message=_("This date is already on the calendar."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


def calendar_day_changed(sender, instance, **kwargs) -> None:
    """A day was saved or deleted: its calendar has a new version (connected in `apps`)."""
    new_calendar_versions([instance.calendar_id], using=kwargs.get("using"))


class Site(models.Model):
    """A contact-centre site (SOP: Pusat and Malang), working on its business calendar."""

    code = models.CharField(_("code"), max_length=8, unique=True)
    name = models.CharField(_("name"), max_length=64)
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sites",
        verbose_name=_("business calendar"),
        help_text=_(
            "Its working hours and time zone, for SLA policies that count on the site's "
            "calendar. None: such policies count 24x7 here."
        ),
    )
    dispatch_mode = models.CharField(
        _("dispatch"), max_length=8, choices=DispatchMode.choices, default=DispatchMode.PULL
    )
    offer_seconds = models.PositiveSmallIntegerField(
        _("seconds to answer an offer"),
        default=60,
        validators=[MinValueValidator(10), MaxValueValidator(900)],
        help_text=_("An offer not accepted or declined within this time goes to the next agent."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("site")
        verbose_name_plural = _("sites")

    def __str__(self) -> str:
        return self.name


class AgentProfileQuerySet(models.QuerySet):
    def with_load(self):
        """Annotate `held` (open tickets the agent holds) and `offers_waiting` (open tickets
        offered to them, waiting for their answer): the load dispatch weighs against the
        agent's capacity, and the one the agents page shows."""
        return self.annotate(
            held=_open_tickets_of("assignee_id"), offers_waiting=_open_tickets_of("offered_to_id")
        )


def _open_tickets_of(column: str):
    """How many open tickets name the outer agent in `column`, as a subquery (one index scan)."""
    counted = (
        Ticket.objects.filter(**{column: models.OuterRef("user_id"), "closed_at__isnull": True})
        .order_by()
        .values(column)
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    return Coalesce(models.Subquery(counted[:1]), 0)


class AgentProfile(models.Model):
    """Where a user works and which flows' queues they take tickets from."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        verbose_name=_("user"),
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("site")
    )
    flows = models.JSONField(_("flows worked"), default=list, blank=True)
    agent_code = models.CharField(_("agent code"), max_length=16, blank=True)
    availability = models.CharField(
        _("availability"), max_length=12, choices=Availability.choices, default=Availability.OFFLINE
    )
    availability_since = models.DateTimeField(_("availability since"), null=True, blank=True)
    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text=_("Tickets held at once, counting offers waiting for an answer."),
    )
    flow_capacity = models.JSONField(
        _("capacity per flow"),
        default=dict,
        blank=True,
        help_text=_('Optional lower limits for single flows, e.g. {"nossa": 2}.'),
    )
    last_assigned_at = models.DateTimeField(
        _("last given a ticket by dispatch"), null=True, blank=True
    )
    last_seen_at = models.DateTimeField(_("last seen in the console"), null=True, blank=True)

    objects = AgentProfileQuerySet.as_manager()

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")
        indexes = [
            # Dispatch reads a site's available agents least recently given a ticket first and
            # stops at the first ones with room (`services.dispatch.Pool`).
            models.Index(
                fields=["site", "availability", "last_assigned_at", "user"],
                name="agent_dispatch_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.site or '-'}"


class MessageChannel(models.TextChoices):
    SMS = "sms", _("SMS")
    WHATSAPP = "whatsapp", _("WhatsApp")


class MessageLanguage(models.TextChoices):
    INDONESIAN = "id", _("Indonesian")
    ENGLISH = "en", _("English")


class Customer(models.Model):
    name = models.CharField(_("name"), max_length=128, db_index=True)
    phone = models.CharField(_("contact phone"), max_length=20)
    email = models.EmailField(_("email"), blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    # What the customer told us about messages from the workflow (docs/notifications.md).
    messages_opt_out = models.BooleanField(
        _("no messages"),
        default=False,
        help_text=_("The customer asked not to receive SMS or WhatsApp messages about tickets."),
    )
    message_channel = models.CharField(
        _("message channel"),
        max_length=10,
        choices=MessageChannel.choices,
        default=MessageChannel.SMS,
    )
    message_language = models.CharField(
        _("message language"),
        max_length=2,
        choices=MessageLanguage.choices,
        default=MessageLanguage.INDONESIAN,
    )
    quiet_from = models.TimeField(
        _("quiet from"),
        null=True,
        blank=True,
        help_text=_("No messages from this local time (empty: the console's default quiet hours)."),
    )
    quiet_until = models.TimeField(_("quiet until"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")

    def __str__(self) -> str:
        return self.name


class Service(models.Model):
    """An IndiHome line (fastel) identified by its service number."""

    service_number = models.CharField(_("service number"), max_length=20, unique=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="services", verbose_name=_("customer")
    )
    package = models.CharField(_("package"), max_length=64, blank=True)
    address = models.CharField(_("installation address"), max_length=255, blank=True)
    sto = models.CharField("STO", max_length=16, db_index=True)
    olt = models.CharField("OLT", max_length=32, db_index=True)
    odp = models.CharField("ODP", max_length=32, db_index=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")

    def __str__(self) -> str:
        return self.service_number


class Campaign(models.Model):
    """A call list campaign (Ideas offers, C4 Caring). Campaigns are data, not code (SOP 8.7)."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=128)
    flow = models.CharField(_("flow"), max_length=16, choices=Flow.choices)
    description = models.TextField(_("description"), blank=True)
    offer_code = models.CharField(_("offer code"), max_length=32, blank=True)
    active = models.BooleanField(_("active"), default=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")

    def __str__(self) -> str:
        return self.name


class AreaLevel(models.TextChoices):
    STO = "sto", "STO"
    OLT = "olt", "OLT"
    ODP = "odp", "ODP"


class GamasIncident(ConcurrentTransitionMixin, models.Model):
    """A mass outage (gamas) over an area; IVR reports from that area become its children.

    Its own small machine, `open -> recovered -> closed`, lives in `tickets.flows.gamas`.
    """

    title = models.CharField(_("title"), max_length=200)
    area_level = models.CharField(_("area level"), max_length=3, choices=AreaLevel.choices)
    area_code = models.CharField(_("area code"), max_length=32)
    state = FSMField(_("state"), default="open", protected=True, max_length=16)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    recovered_at = models.DateTimeField(_("recovered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("opened by"),
    )
    closing_code = models.CharField(_("closing code"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("gamas incident")
        verbose_name_plural = _("gamas incidents")
        indexes = [models.Index(fields=["area_level", "area_code", "state"])]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @property
    def number(self) -> str:
        return f"GMS-{self.pk:06d}" if self.pk else "GMS-?"


def running_deadline():
    """The SLA deadline that runs now, as SQL: none once closed or while the clock is paused
    with Support; claim-by while the ticket waits for its first agent (in the queue, state
    `new`: the sweep breaches claim-by only then); else resolve-by. The queues, "next ticket"
    and the dashboard sort on it and the indexes below hold it; its Python twin, which the
    pages show, is `services.deadlines.running_deadline_of` (tests check they agree)."""
    return models.Case(
        models.When(closed_at__isnull=False, then=models.Value(None)),
        models.When(sla_paused_at__isnull=False, then=models.Value(None)),
        models.When(Q(awaiting_agent=True, state="new"), then=models.F("claim_by")),
        default=models.F("resolve_by"),
        output_field=models.DateTimeField(),
    )


class Ticket(ConcurrentTransitionMixin, models.Model):
    """A trouble ticket of one of the seven flows. Its `state` belongs to the flow's machine.

    `awaiting_agent` is kept by the services: true while no agent holds the ticket and its
    state waits for one, so "next ticket" reads one partial index.
    """

    flow = models.CharField(_("flow"), max_length=16, choices=Flow.choices)
    state = FSMField(_("state"), default="new", protected=True, max_length=32)
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("service")
    )
    site = models.ForeignKey(
        Site, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("site")
    )
    category = models.CharField(_("category"), max_length=32, blank=True)
    summary = models.CharField(_("summary"), max_length=255, blank=True)

    source_system = models.CharField(_("source system"), max_length=16, blank=True)
    source_ref = models.CharField(_("source reference"), max_length=64, blank=True)
    nossa_number = models.CharField(_("NOSSA number"), max_length=16, blank=True)
    gamas_incident = models.ForeignKey(
        GamasIncident,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("gamas incident"),
    )
    previous_ticket = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="repeat_reports",
        verbose_name=_("previous ticket (lapul)"),
    )
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("campaign"),
    )

    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    awaiting_agent = models.BooleanField(_("waiting for an agent"), default=True)
    pinned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="pinned_tickets",
        verbose_name=_("pinned to"),
        help_text=_("Dispatch offers this ticket to this agent only."),
    )
    offered_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("offered to"),
        help_text=_("The agent whose answer to dispatch's offer is awaited (kept by dispatch)."),
    )

    claim_by = models.DateTimeField(_("claim by"), null=True, blank=True)
    resolve_by = models.DateTimeField(_("resolve by"), null=True, blank=True)
    slg_due = models.DateTimeField(_("SLG due"), null=True, blank=True)
    sla_status = models.CharField(
        _("SLA status"), max_length=8, choices=SlaStatus.choices, default=SlaStatus.OK
    )
    warn_at = models.DateTimeField(_("at risk from"), null=True, blank=True)
    sla_paused_seconds = models.PositiveIntegerField(
        _("SLA paused (seconds with Support)"), default=0, db_default=0
    )
    sla_paused_at = models.DateTimeField(
        _("SLA paused since (with Support)"), null=True, blank=True
    )
    at_risk_at = models.DateTimeField(_("marked at risk at"), null=True, blank=True)
    breached_at = models.DateTimeField(_("marked breached at"), null=True, blank=True)

    escalated_from = models.CharField(_("escalated from state"), max_length=32, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(_("failed contact attempts"), default=0)
    last_contact_outcome = models.CharField(
        _("last contact outcome"),
        max_length=16,
        choices=ContactOutcome.choices,
        blank=True,
    )
    last_answered_at = models.DateTimeField(_("last answered call at"), null=True, blank=True)
    state_changed_at = models.DateTimeField(
        _("in this state since"), null=True, blank=True, help_text=_("Evidence belongs to a step.")
    )
    closing_code = models.CharField(_("closing code"), max_length=32, blank=True)
    facts = models.JSONField(_("facts from external checks"), default=dict, blank=True)

    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        permissions = [
            ("work_ticket", _("Work tickets as a Tier-2 agent")),
            ("answer_escalation", _("Answer escalations (Support)")),
            (
                "supervise",
                _("Supervise the floor: reassign, release, dashboards, uploads"),
            ),
            ("configure", _("Configure SLA policies, campaigns and adapters")),
            ("integrate", _("Exchange tickets through the TMF621 API as a system client")),
        ]
        indexes = [
            # "Next ticket": most urgent unclaimed ticket of a site (then filtered by flows).
            models.Index(
                "site",
                running_deadline(),
                "priority",
                "created_at",
                "id",
                condition=Q(awaiting_agent=True),
                name="ticket_next_in_queue",
            ),
            models.Index(fields=["flow", "state", "site"], name="ticket_flow_state"),
            models.Index(fields=["assignee", "state"], name="ticket_assignee_state"),
            # An agent's load (open tickets held, offers waiting) in dispatch's pages: counted
            # from these small indexes alone, per agent.
            models.Index(
                fields=["assignee"], condition=Q(closed_at__isnull=True), name="ticket_open_held"
            ),
            models.Index(
                fields=["offered_to"],
                condition=Q(closed_at__isnull=True, offered_to__isnull=False),
                name="ticket_open_offered",
            ),
            models.Index(fields=["service", "closed_at"], name="ticket_service_closed"),
            models.Index(
                fields=["resolve_by"],
                condition=Q(closed_at__isnull=True),
                name="ticket_open_due",
            ),
            # The SLA sweep: open tickets not yet marked at risk, by when they become so.
            models.Index(
                fields=["warn_at"],
                condition=Q(closed_at__isnull=True, at_risk_at__isnull=True),
                name="ticket_warn_pending",
            ),
            # Dashboard tiles and ageing: open tickets grouped by flow, site and SLA status.
            models.Index(
                fields=["flow", "site", "sla_status", "created_at"],
                condition=Q(closed_at__isnull=True),
                name="ticket_open_by_flow_site",
            ),
            # Queues: a flow's open tickets at a site, most urgent (the running deadline) first,
            # and their counts per state; the floor's queues across sites and flows.
            models.Index(
                "flow",
                "site",
                running_deadline(),
                "priority",
                "id",
                condition=Q(closed_at__isnull=True),
                name="ticket_open_queue",
            ),
            models.Index(
                running_deadline(),
                "priority",
                "id",
                condition=Q(closed_at__isnull=True),
                name="ticket_open_running",
            ),
            models.Index(
                fields=["flow", "site", "state"],
                condition=Q(closed_at__isnull=True),
                name="ticket_open_states",
            ),
            # A queue's count per state, the state first, every other filter of the queue
            # included: counted from the index alone (docs/console.md, migration 0027).
            models.Index(
                fields=["state", "flow", "site"],
                include=["priority", "sla_status", "assignee"],
                condition=Q(closed_at__isnull=True),
                name="ticket_open_by_state",
            ),
            # The "oldest" and "newest" sorts of open tickets.
            models.Index(
                fields=["created_at", "id"],
                condition=Q(closed_at__isnull=True),
                name="ticket_open_created",
            ),
            models.Index(fields=["created_at"], name="ticket_created_at"),
            # The dashboard's table of late tickets, by the deadline that runs now.
            models.Index(
                running_deadline(),
                models.F("id"),
                include=["site", "flow"],
                condition=Q(closed_at__isnull=True, sla_status__in=["at_risk", "breached"]),
                name="ticket_open_late_deadline",
            ),
            # The SLG compensation list: open tickets past their guarantee, late restorations.
            models.Index(
                fields=["slg_due", "created_at"],
                condition=Q(closed_at__isnull=True),
                name="ticket_slg_open",
            ),
            models.Index(
                fields=["created_at"],
                condition=Q(closed_at__gt=models.F("slg_due")),
                name="ticket_slg_late",
            ),
            models.Index(fields=["gamas_incident", "state"], name="ticket_gamas_state"),
            models.Index(fields=["nossa_number"], name="ticket_nossa_number"),
            # TMF621 listings (docs/tmf621.md): a client's lookup by its own reference (the
            # unique index leads with source_system), changes since a time in order, and the
            # priority sort, each one index range instead of a scan and sort of the table.
            models.Index(
                fields=["source_ref"], condition=~Q(source_ref=""), name="ticket_source_ref"
            ),
            models.Index(fields=["updated_at", "id"], name="ticket_updated_at"),
            models.Index(fields=["priority", "id"], name="ticket_priority"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source_system", "source_ref"],
                condition=~Q(source_ref=""),
                name="ticket_unique_source_ref",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    @property
    def log_month(self):
        """The month its log entries and adapter calls are partitioned under (its arrival)."""
        return month_start(self.created_at)

    @property
    def number(self) -> str:
        """The number agents read to customers: T2- and the row id."""
        return self.number_of(self.pk) if self.pk else "T2-?"

    @staticmethod
    def number_of(pk: int) -> str:
        return f"T2-{pk:07d}"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


def refuse_rewrite(row: models.Model, message: str) -> None:
    """Append-only records: a row once written is never saved again."""
    if row.pk is not None:
        raise ValueError(message)


class OfferStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for an answer")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Not answered in time")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Offer(models.Model):
    """Dispatch offered a waiting ticket to an agent (push mode). At most one offer per ticket
    waits for an answer; every answer, time-out and withdrawal stays as the dispatch log."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="offers", verbose_name=_("ticket")
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="offers",
        verbose_name=_("agent"),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=OfferStatus.choices, default=OfferStatus.PENDING
    )
    offered_at = models.DateTimeField(_("offered at"), default=timezone.now)
    expires_at = models.DateTimeField(_("answer by"))
    decided_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    pinned = models.BooleanField(_("pinned by a supervisor"), default=False)
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("offer")
        verbose_name_plural = _("offers")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"],
                condition=Q(status="pending"),
                name="offer_one_pending_per_ticket",
            ),
        ]
        indexes = [
            models.Index(fields=["agent", "status"], name="offer_agent_status"),
            models.Index(
                fields=["expires_at"], condition=Q(status="pending"), name="offer_pending_expiry"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} -> {self.agent_id} ({self.status})"


class TransitionLog(models.Model):
    """Append-only record of every state change (and claim) of a ticket or gamas incident."""

    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="transitions",
        verbose_name=_("ticket"),
    )
    incident = models.ForeignKey(
        GamasIncident,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="transitions",
        verbose_name=_("gamas incident"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    transition = models.CharField(_("transition"), max_length=48)
    from_state = models.CharField(_("from"), max_length=32)
    to_state = models.CharField(_("to"), max_length=32)
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(_("inputs"), default=dict, blank=True)
    # The partition key (tier2/partitions.py): the ticket's arrival month, else the incident's
    # opening month, else the entry's own; a ticket's history reads one partition.
    month = PartitionMonthField(_("partition month"), editable=False)

    objects = TicketHistoryQuerySet.as_manager()

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("transition log entry")
        verbose_name_plural = _("transition log")
        indexes = [
            models.Index(fields=["ticket", "at"], name="translog_ticket_at"),
            models.Index(fields=["incident", "at"], name="translog_incident_at"),
        ]

    def __str__(self) -> str:
        return f"{self.transition}: {self.from_state} -> {self.to_state}"

    def save(self, *args, **kwargs):
        refuse_rewrite(self, "The transition log is append-only.")
        super().save(*args, **kwargs)

    def partition_month(self):
        if self.ticket_id:
            return self.ticket.log_month
        if self.incident_id:
            return month_start(self.incident.opened_at)
        return month_start(self.at)


class Note(models.Model):
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="notes", verbose_name=_("ticket")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("author"),
    )
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    text = models.TextField(_("text"))

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="note_ticket_at")]

    def __str__(self) -> str:
        return self.text[:60]


class ContactAttempt(models.Model):
    """One call to the customer and how it ended."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="contact_attempts", verbose_name=_("ticket")
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("agent"),
    )
    at = models.DateTimeField(default=timezone.now, verbose_name=_("at"))
    outcome = models.CharField(_("outcome"), max_length=16, choices=ContactOutcome.choices)
    phone = models.CharField(_("phone called"), max_length=20, blank=True)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        ordering = ["at", "pk"]
        indexes = [models.Index(fields=["ticket", "at"], name="contact_ticket_at")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} @ {self.at:%Y-%m-%d %H:%M}"

    @property
    def failed(self) -> bool:
        return self.outcome != ContactOutcome.ANSWERED


class EscalationStatus(models.TextChoices):
    OPEN = "open", _("Waiting for Support")
    ANSWERED = "answered", _("Answered")


class Escalation(models.Model):
    """A ticket handed to Support with a reason; Support answers and the ticket goes back."""

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="escalations", verbose_name=_("ticket")
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("raised by"),
    )
    raised_at = models.DateTimeField(default=timezone.now, verbose_name=_("raised at"))
    reason = models.TextField(_("reason"))
    from_state = models.CharField(_("from state"), max_length=32)
    status = models.CharField(
        _("status"),
        max_length=8,
        choices=EscalationStatus.choices,
        default=EscalationStatus.OPEN,
    )
    support_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="support_escalations",
        verbose_name=_("Support assignee"),
    )
    due_at = models.DateTimeField(_("answer due"), null=True, blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("answered by"),
    )
    answered_at = models.DateTimeField(null=True, blank=True, verbose_name=_("answered at"))
    answer = models.TextField(_("answer"), blank=True)
    breached_at = models.DateTimeField(_("answer overdue since"), null=True, blank=True)

    class Meta:
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        ordering = ["-raised_at"]
        indexes = [models.Index(fields=["status", "due_at"], name="escalation_status_due")]

    def __str__(self) -> str:
        return f"{self.get_status_display()}: {self.reason[:60]}"


class SlaHours(models.TextChoices):
    """Which hours an SLA policy's minutes count (`tickets.sla.calendar_for`)."""

    ROUND_THE_CLOCK = "24x7", _("24x7: every hour counts")
    CALENDAR = "calendar", _("A business calendar")
    SITE = "site", _("The business calendar of the ticket's site")


class SlaPolicy(models.Model):
    """Handling targets of one flow and priority. Minutes count on the policy's hours: 24x7,
    one business calendar, or the calendar of each ticket's site."""

    flow = models.CharField(_("flow"), max_length=16, choices=Flow.choices)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices)
    claim_minutes = models.PositiveIntegerField(_("claim within (minutes)"))
    resolve_minutes = models.PositiveIntegerField(_("resolve within (minutes)"))
    escalation_answer_minutes = models.PositiveIntegerField(
        _("Support answers within (minutes)"), default=120
    )
    hours = models.CharField(
        _("hours that count"), max_length=8, choices=SlaHours.choices,
        default=SlaHours.ROUND_THE_CLOCK,
    )  # fmt: skip
    calendar = models.ForeignKey(
        BusinessCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="policies",
        verbose_name=_("business calendar"),
    )

    class Meta:
        ordering = ["flow", "priority"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            models.UniqueConstraint(fields=["flow", "priority"], name="sla_policy_flow_priority"),
            models.CheckConstraint(
                condition=~Q(hours="calendar") | Q(calendar__isnull=False),
                name="sla_policy_names_its_calendar",
                violation_error_message=_("Choose the business calendar."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_flow_display()} / {self.get_priority_display()}"


class Notification(models.Model):
    """A message for one user in the console (SLA warnings, escalations answered, imports)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("user"),
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("ticket")
    )
    kind = models.CharField(_("kind"), max_length=24)
    message = models.CharField(_("message"), max_length=255)
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    read_at = models.DateTimeField(null=True, blank=True, verbose_name=_("read at"))

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "read_at", "-created_at"], name="notif_user_unread")
        ]

    def __str__(self) -> str:
        return self.message


class MessageEvent(models.TextChoices):
    """The moments of a ticket or an incident the customer hears about."""

    REPORT_RECEIVED = "report_received", _("Report received")
    TECHNICIAN_DISPATCHED = "technician_dispatched", _("Technician dispatched")
    RESTORED = "restored", _("Service restored")
    CLOSED = "closed", _("Ticket closed")
    LAPUL_APOLOGY = "lapul_apology", _("Fresh Lapul apology")
    GAMAS_OPENED = "gamas_opened", _("Outage announced")
    GAMAS_RECOVERED = "gamas_recovered", _("Outage recovered")


class MessageTemplate(models.Model):
    """The text a customer receives for one event, per flow (blank: every flow) and channel.

    The placeholders a text may use depend on its event (`tickets.services.messages`); they are
    checked whenever a template is saved through the services. A WhatsApp template is sent by
    its name, approved by WhatsApp beforehand, with the placeholders' values as its parameters
    in the order they appear in the text.
    """

    event = models.CharField(_("event"), max_length=24, choices=MessageEvent.choices)
    flow = models.CharField(
        _("flow"),
        max_length=16,
        choices=Flow.choices,
        blank=True,
        help_text=_("Empty: the template of every flow without one of its own."),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=MessageChannel.choices)
    text_id = models.TextField(_("text (Indonesian)"))
    text_en = models.TextField(_("text (English)"), blank=True)
    whatsapp_name = models.CharField(
        _("WhatsApp template name"),
        max_length=64,
        blank=True,
        help_text=_("The name under which WhatsApp approved this text (WhatsApp only)."),
    )
    whatsapp_status = models.CharField(
        _("WhatsApp approval"), max_length=16, blank=True
    )  # approved | pending | rejected | unknown, as WhatsApp last answered
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("updated by"),
    )

    class Meta:
        ordering = ["event", "flow", "channel"]
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [
            models.UniqueConstraint(
                fields=["event", "flow", "channel"],
                name="message_template_once",
                violation_error_message=_(
                    "There is already a template for this event, flow and channel."
                ),
            )
        ]

    def __str__(self) -> str:
        flow = self.get_flow_display() if self.flow else _("every flow")
        return f"{self.get_event_display()} / {flow} / {self.get_channel_display()}"


class MessageStatus(models.TextChoices):
    HELD = "held", _("Held")  # quiet hours or the rate limit: sent at `not_before`
    QUEUED = "queued", _("Queued")  # in the outbox
    SENT = "sent", _("Sent")
    DELIVERED = "delivered", _("Delivered")
    READ = "read", _("Read")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Not sent")  # opted out, or no number to send to


class CustomerMessage(models.Model):
    """One message to one customer about one event: written in the transaction of the change
    it tells about, sent through the outbox (`call`), its receipts recorded as they come back.

    `once` makes a customer hear of an event at most once: per ticket for a ticket's events,
    per incident for a gamas broadcast.
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="messages", verbose_name=_("customer")
    )
    ticket = models.ForeignKey(
        Ticket,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="customer_messages",
        verbose_name=_("ticket"),
    )
    incident = models.ForeignKey(
        GamasIncident,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="customer_messages",
        verbose_name=_("gamas incident"),
    )
    event = models.CharField(_("event"), max_length=24, choices=MessageEvent.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=MessageChannel.choices)
    language = models.CharField(_("language"), max_length=2, choices=MessageLanguage.choices)
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("template"),
    )
    to_number = models.CharField(_("to"), max_length=20, blank=True)
    text = models.TextField(_("text"))
    parameters = models.JSONField(_("parameters"), default=list, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices)
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    not_before = models.DateTimeField(_("not before"), null=True, blank=True)
    once = models.CharField(_("once key"), max_length=64, unique=True)
    # No database constraint: adapter calls are partitioned (tier2/partitions.py), and
    # PostgreSQL takes no foreign key to a partitioned table; Django nulls it on delete.
    call = models.OneToOneField(
        "integrations.AdapterCall",
        on_delete=models.SET_NULL,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="customer_message",
        verbose_name=_("outbox call"),
    )
    provider_id = models.CharField(_("provider message id"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)
    failed_at = models.DateTimeField(_("failed at"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("customer message")
        verbose_name_plural = _("customer messages")
        indexes = [
            models.Index(fields=["ticket", "created_at"], name="message_ticket_at"),
            models.Index(fields=["customer", "queued_at"], name="message_customer_queued"),
            models.Index(fields=["not_before"], condition=Q(status="held"), name="message_held"),
            models.Index(
                fields=["sent_at"],
                condition=Q(status__in=["sent", "delivered"]),
                name="message_awaiting_receipt",
            ),
            models.Index(fields=["incident", "event"], name="message_incident_event"),
            # Receipts pushed by a gateway find their messages by the gateway's id.
            models.Index(
                fields=["channel", "provider_id"],
                condition=~Q(provider_id=""),
                name="message_provider_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.get_event_display()} [{self.status}]"


class Broadcast(models.Model):
    """Informing every customer linked to a gamas incident of one event, in batches.

    `total` is the number of customers when it started; the progress is the number of its
    messages written so far (each customer once, `CustomerMessage.once`).
    """

    incident = models.ForeignKey(
        GamasIncident,
        on_delete=models.CASCADE,
        related_name="broadcasts",
        verbose_name=_("gamas incident"),
    )
    event = models.CharField(_("event"), max_length=24, choices=MessageEvent.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("started by"),
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    total = models.PositiveIntegerField(_("customers"), default=0)
    done = models.PositiveIntegerField(_("customers informed"), default=0)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    last_batch_at = models.DateTimeField(_("last batch at"), null=True, blank=True)

    class Meta:
        ordering = ["started_at", "pk"]
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "event"],
                name="broadcast_once",
                violation_error_message=_("The customers of this incident were already informed."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident} {self.get_event_display()} {self.done}/{self.total}"


class ImportKind(models.TextChoices):
    C4_CARING = "c4_caring", _("C4 Caring list")
    IDEAS = "ideas", _("Ideas campaign list")
    FORCE_CLOSE = "force_close", _("Force Close list")


class ImportStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Rejected")


class ImportJob(models.Model):
    """A CSV list uploaded by a supervisor; imported all-or-nothing in the background."""

    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.PROTECT, null=True, blank=True, verbose_name=_("campaign")
    )
    file_name = models.CharField(_("file name"), max_length=255)
    content = models.TextField(_("content"))
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    status = models.CharField(
        _("status"), max_length=8, choices=ImportStatus.choices, default=ImportStatus.PENDING
    )
    total_rows = models.PositiveIntegerField(default=0, verbose_name=_("total rows"))
    processed_rows = models.PositiveIntegerField(default=0, verbose_name=_("processed rows"))
    created_tickets = models.PositiveIntegerField(default=0, verbose_name=_("created tickets"))
    errors = models.JSONField(default=list, blank=True, verbose_name=_("errors"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    # A supervisor asked to stop it: the worker reads this between chunks (the database, not the
    # cache, so the request cannot be dropped; see docs/imports.md).
    cancel_requested_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("cancel requested at")
    )
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("cancel requested by"),
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name}"

    @property
    def progress_percent(self) -> int:
        return int(100 * self.processed_rows / self.total_rows) if self.total_rows else 0


class DailyFlowStats(models.Model):
    """Roll-up per day, flow and site, kept as tickets arrive, close and breach, so dashboards
    never aggregate the ticket table over weeks."""

    day = models.DateField(verbose_name=_("day"))
    flow = models.CharField(max_length=16, choices=Flow.choices, verbose_name=_("flow"))
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="+", verbose_name=_("site")
    )
    created = models.PositiveIntegerField(default=0, verbose_name=_("created"))
    closed = models.PositiveIntegerField(default=0, verbose_name=_("closed"))
    closed_within_sla = models.PositiveIntegerField(default=0, verbose_name=_("closed within SLA"))
    breached = models.PositiveIntegerField(default=0, verbose_name=_("breached"))
    escalated = models.PositiveIntegerField(default=0, verbose_name=_("escalated"))

    class Meta:
        verbose_name = _("daily flow figures")
        verbose_name_plural = _("daily flow figures")
        constraints = [
            models.UniqueConstraint(fields=["day", "flow", "site"], name="dailyflow_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.flow} {self.site_id}"


class DailyAgentStats(models.Model):
    """Roll-up per day, agent and flow of the tickets the agent closed."""

    day = models.DateField(verbose_name=_("day"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("agent"),
    )
    flow = models.CharField(max_length=16, choices=Flow.choices, verbose_name=_("flow"))
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="+", verbose_name=_("site")
    )
    closed = models.PositiveIntegerField(default=0, verbose_name=_("closed"))
    handle_seconds = models.PositiveBigIntegerField(
        default=0, verbose_name=_("handling time (seconds)")
    )
    first_contact = models.PositiveIntegerField(
        default=0, verbose_name=_("resolved on first contact")
    )
    escalated = models.PositiveIntegerField(default=0, verbose_name=_("escalated"))

    class Meta:
        verbose_name = _("daily agent figures")
        verbose_name_plural = _("daily agent figures")
        constraints = [
            models.UniqueConstraint(fields=["day", "agent", "flow"], name="dailyagent_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.agent_id} {self.flow}"


class SecurityEventKind(models.TextChoices):
    LOGIN = "login", _("Login")
    LOGOUT = "logout", _("Logout")
    LOGIN_FAILED = "login_failed", _("Failed login")
    LOCKOUT = "lockout", _("Locked out")
    OTP_DEVICE_ADDED = "otp_device_added", _("2FA device added")
    OTP_DEVICE_CONFIRMED = "otp_device_confirmed", _("2FA device confirmed")
    OTP_DEVICE_REMOVED = "otp_device_removed", _("2FA device removed")
    OTP_STATIC_TOKEN_USED = "otp_static_token_used", _("2FA backup code used")
    OTP_FAILED = "otp_failed", _("2FA code refused")
    ROLE_ADDED = "role_added", _("Role granted")
    ROLE_REMOVED = "role_removed", _("Role withdrawn")
    PRIVILEGE_CHANGED = "privilege_changed", _("Staff or superuser status changed")
    EXPORT = "export", _("Data exported")
    ERASURE = "erasure", _("Customer data erased")
    ERASURE_REFUSED = "erasure_refused", _("Erasure refused")
    RETENTION = "retention", _("Retention run")


class SecurityEvent(models.Model):
    """Append-only security log: sign-ins, lockouts, 2FA and role changes, exports, erasures.

    Written only by `tickets.services.security`; saving an existing row raises. The users are
    kept by id without a database constraint, and their user names are copied, so deleting an
    account neither blocks on nor rewrites its history. Rows older than
    `TIER2_RETENTION_SECURITY_LOG_DAYS` are deleted by the retention job (docs/data-protection.md).
    """

    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)
    kind = models.CharField(_("kind"), max_length=32, choices=SecurityEventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    actor_username = models.CharField(_("actor's user name"), max_length=150, blank=True)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("target user"),
    )
    target_username = models.CharField(
        _("target user name"),
        max_length=150,
        blank=True,
        help_text=_("As given at a failed login."),
    )
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=256, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("security event")
        verbose_name_plural = _("security log")
        indexes = [
            models.Index(fields=["kind", "at"], name="secevent_kind_at"),
            models.Index(fields=["actor", "at"], name="secevent_actor_at"),
            models.Index(fields=["target_user", "at"], name="secevent_target_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.kind}"

    def save(self, *args, **kwargs):
        refuse_rewrite(self, "The security log is append-only.")
        super().save(*args, **kwargs)

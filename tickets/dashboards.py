"""Reads for the supervisor dashboard and the SLG compensation list.

Live numbers (backlog, at risk, breached, oldest, ageing) come from open tickets through the
`ticket_open_by_flow_site` partial index; numbers over days (within-SLA %, trends, the agent
table) come from the daily roll-ups in `tickets.stats`, never from scanning closed tickets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import CharField, Count, DateTimeField, F, Func, Min, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import (
    DailyAgentStats,
    DailyFlowStats,
    Flow,
    Site,
    SlaStatus,
    Ticket,
    running_deadline,
)

AT_RISK_LIMIT = 50

AGEING_BUCKETS = (
    ("lt_1h", timedelta(hours=1)),
    ("1h_4h", timedelta(hours=4)),
    ("4h_24h", timedelta(hours=24)),
    ("1d_3d", timedelta(days=3)),
    ("gt_3d", None),
)


@dataclass(frozen=True)
class DashboardFilter:
    date_from: date
    date_to: date
    site: str = ""  # site code, "" for all
    flow: str = ""  # flow code, "" for all

    @classmethod
    def last_days(cls, days: int, **kwargs) -> DashboardFilter:
        today = timezone.localdate()
        return cls(date_from=today - timedelta(days=days - 1), date_to=today, **kwargs)

    def tickets(self, queryset: QuerySet) -> QuerySet:
        if self.site:
            queryset = queryset.filter(site__code=self.site)
        if self.flow:
            queryset = queryset.filter(flow=self.flow)
        return queryset

    def days(self, queryset: QuerySet) -> QuerySet:
        return self.tickets(queryset).filter(day__gte=self.date_from, day__lte=self.date_to)


@dataclass
class Tile:
    flow: str
    site: str
    backlog: int = 0
    at_risk: int = 0
    breached: int = 0
    oldest: datetime | None = None
    closed: int = 0
    closed_within_sla: int = 0

    @property
    def flow_label(self) -> str:
        return str(Flow(self.flow).label)

    @property
    def within_sla_percent(self) -> float | None:
        return round(100 * self.closed_within_sla / self.closed, 1) if self.closed else None


def flow_tiles(filters: DashboardFilter) -> list[Tile]:
    """One tile per flow and site: live backlog and SLA state, within-SLA % over the range."""
    tiles: dict[tuple[str, str], Tile] = {}
    open_rows = (
        filters.tickets(Ticket.objects.filter(closed_at__isnull=True))
        .values("flow", "site__code")
        # Counting a column of the partial index (not id) lets PostgreSQL answer from the
        # index alone.
        .annotate(
            backlog=Count("created_at"),
            at_risk=Count("created_at", filter=Q(sla_status=SlaStatus.AT_RISK)),
            breached=Count("created_at", filter=Q(sla_status=SlaStatus.BREACHED)),
            oldest=Min("created_at"),
        )
        .order_by()
    )
    for row in open_rows:
        tiles[(row["flow"], row["site__code"])] = Tile(
            flow=row["flow"],
            site=row["site__code"],
            backlog=row["backlog"],
            at_risk=row["at_risk"],
            breached=row["breached"],
            oldest=row["oldest"],
        )
    closed_rows = (
        filters.days(DailyFlowStats.objects.all())
        .values("flow", "site__code")
        .annotate(closed=Sum("closed"), within=Sum("closed_within_sla"))
        .order_by()
    )
    for row in closed_rows:
        key = (row["flow"], row["site__code"])
        tile = tiles.setdefault(key, Tile(flow=key[0], site=key[1]))
        tile.closed, tile.closed_within_sla = row["closed"] or 0, row["within"] or 0
    order = list(Flow.values)
    return sorted(tiles.values(), key=lambda tile: (order.index(tile.flow), tile.site))


def ageing(filters: DashboardFilter, now: datetime | None = None) -> dict[str, int]:
    """Open tickets by age since arrival."""
    now = now or timezone.now()
    counts, lower = {}, None
    for name, upper in AGEING_BUCKETS:
        condition = Q()
        if upper is not None:
            condition &= Q(created_at__gt=now - upper)
        if lower is not None:
            condition &= Q(created_at__lte=now - lower)
        counts[name] = Count("created_at", filter=condition)
        lower = upper
    return filters.tickets(Ticket.objects.filter(closed_at__isnull=True)).aggregate(**counts)


@dataclass
class AgentRow:
    agent_id: int
    username: str
    closed: int
    handle_seconds: int
    first_contact: int
    escalated: int

    @property
    def average_handling_minutes(self) -> float:
        return round(self.handle_seconds / self.closed / 60, 1) if self.closed else 0.0

    @property
    def first_contact_percent(self) -> float:
        return round(100 * self.first_contact / self.closed, 1) if self.closed else 0.0

    @property
    def escalation_percent(self) -> float:
        return round(100 * self.escalated / self.closed, 1) if self.closed else 0.0

    @property
    def closed_per_hour(self) -> float:
        """Tickets closed per hour of handling time (claim to close)."""
        hours = self.handle_seconds / 3600
        return round(self.closed / hours, 2) if hours else 0.0


def agent_table(filters: DashboardFilter) -> list[AgentRow]:
    rows = (
        filters.days(DailyAgentStats.objects.all())
        .values("agent_id")
        .annotate(
            closed=Sum("closed"),
            handle=Sum("handle_seconds"),
            fcr=Sum("first_contact"),
            esc=Sum("escalated"),
        )
        .order_by("-closed")
    )
    rows = list(rows)
    names = dict(
        get_user_model()
        .objects.filter(pk__in=[row["agent_id"] for row in rows])
        .values_list("pk", "username")
    )
    return [
        AgentRow(
            agent_id=row["agent_id"],
            username=names.get(row["agent_id"], "?"),
            closed=row["closed"],
            handle_seconds=row["handle"],
            first_contact=row["fcr"],
            escalated=row["esc"],
        )
        for row in rows
    ]


@dataclass
class TrendPoint:
    day: date
    created: int = 0
    closed: int = 0
    closed_within_sla: int = 0
    breached: int = 0

    @property
    def within_sla_percent(self) -> float | None:
        return round(100 * self.closed_within_sla / self.closed, 1) if self.closed else None


@dataclass
class Trend:
    points: list[TrendPoint] = field(default_factory=list)


def trend(filters: DashboardFilter) -> Trend:
    """One point per day of the range, days without events included as zeros."""
    by_day = {
        row["day"]: row
        for row in filters.days(DailyFlowStats.objects.all())
        .values("day")
        .annotate(
            created=Sum("created"),
            closed=Sum("closed"),
            within=Sum("closed_within_sla"),
            breached=Sum("breached"),
        )
        .order_by()
    }
    points, day = [], filters.date_from
    while day <= filters.date_to:
        row = by_day.get(day, {})
        points.append(
            TrendPoint(
                day=day,
                created=row.get("created") or 0,
                closed=row.get("closed") or 0,
                closed_within_sla=row.get("within") or 0,
                breached=row.get("breached") or 0,
            )
        )
        day += timedelta(days=1)
    return Trend(points=points)


def slg_breaches(filters: DashboardFilter, now: datetime | None = None) -> QuerySet[Ticket]:
    """Tickets whose restoration came (or has not come) after the SLG deadline, first reported
    within the range: the list for compensation."""
    now = now or timezone.now()
    start = timezone.make_aware(datetime.combine(filters.date_from, datetime.min.time()))
    end = timezone.make_aware(
        datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
    )
    # Written as two indexable halves rather than `slg_due < COALESCE(closed_at, now)`.
    late = Q(closed_at__isnull=True, slg_due__lt=now) | Q(closed_at__gt=F("slg_due"))
    return (
        filters.tickets(Ticket.objects.filter(slg_due__isnull=False))
        .filter(created_at__gte=start, created_at__lt=end)
        .filter(late)
        .select_related("service__customer", "site")
        .order_by("slg_due", "pk")
    )


# The columns of `arrivals`, in order (the export's header names them); the moments among them
# come as console-local text, "YYYY-MM-DD HH:MM:SS" ("" when not set).
ARRIVAL_COLUMNS = (
    "pk", "created_at", "flow", "site__code", "state", "priority", "sla_status",
    "assignee__username", "nossa_number", "claimed_at", "claim_by", "resolve_by", "closed_at",
    "closing_code",
)  # fmt: skip
ARRIVAL_MOMENTS = ("created_at", "claimed_at", "claim_by", "resolve_by", "closed_at")
ARRIVALS_CHUNK = 5000


def local_text(moment: datetime | None) -> str:
    """A moment as the exports write it: console-local "YYYY-MM-DD HH:MM:SS", "" when not set."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _local_text_sql(name: str, zone: str):
    """`local_text` of column `name`, written by PostgreSQL (the same text): formatting a month
    of rows there is much cheaper than building and converting a datetime per value."""
    local = Func(Value(zone), F(name), function="timezone", output_field=DateTimeField())
    text = Func(local, Value("YYYY-MM-DD HH24:MI:SS"), function="to_char", output_field=CharField())
    return Coalesce(text, Value(""), output_field=CharField())


def arrivals(filters: DashboardFilter) -> Iterator[tuple]:
    """Every ticket that arrived within the range (console days), in arrival order, as tuples of
    `ARRIVAL_COLUMNS`, moments as local text. Read in chunks through a server-side cursor on
    PostgreSQL, so a month of a national floor (about 900,000 rows at ten million tickets a
    year) streams without ever being held in memory."""
    start = timezone.make_aware(datetime.combine(filters.date_from, datetime.min.time()))
    end = timezone.make_aware(
        datetime.combine(filters.date_to + timedelta(days=1), datetime.min.time())
    )
    tickets = filters.tickets(Ticket.objects.filter(created_at__gte=start, created_at__lt=end))
    tickets = tickets.order_by("created_at", "pk")
    if connections[tickets.db].vendor == "postgresql":
        zone = timezone.get_current_timezone_name()
        texts = {f"{name}_text": _local_text_sql(name, zone) for name in ARRIVAL_MOMENTS}
        columns = [f"{name}_text" if name in ARRIVAL_MOMENTS else name for name in ARRIVAL_COLUMNS]
        return tickets.annotate(**texts).values_list(*columns).iterator(chunk_size=ARRIVALS_CHUNK)
    moments = {index for index, name in enumerate(ARRIVAL_COLUMNS) if name in ARRIVAL_MOMENTS}
    rows = tickets.values_list(*ARRIVAL_COLUMNS).iterator(chunk_size=ARRIVALS_CHUNK)
    return (
        tuple(local_text(value) if index in moments else value for index, value in enumerate(row))
        for row in rows
    )


def tickets_at_risk(filters: DashboardFilter, limit: int = AT_RISK_LIMIT) -> list[Ticket]:
    """Open tickets marked at risk or breached, the deadline that runs now oldest first.

    Two steps: the ids in deadline order first (a bounded top-N sort over narrow rows), then
    those rows with what the table shows. Sorting whole joined rows before the LIMIT made
    PostgreSQL sort every late ticket, on disk, at 1M tickets.
    """
    late = Ticket.objects.filter(
        closed_at__isnull=True, sla_status__in=[SlaStatus.AT_RISK, SlaStatus.BREACHED]
    )
    # The site by its id, not a join on its code: PostgreSQL then sees how many rows the site
    # holds and can walk a deadline index instead of sorting (see docs/supervisor.md).
    if filters.site:
        site_id = Site.objects.filter(code=filters.site).values_list("pk", flat=True).first()
        late = late.filter(site_id=site_id)
    if filters.flow:
        late = late.filter(flow=filters.flow)
    ids = list(
        late.annotate(deadline=running_deadline())
        .order_by(F("deadline").asc(nulls_last=True), "pk")
        .values_list("pk", flat=True)[:limit]
    )
    rows = Ticket.objects.filter(pk__in=ids).select_related("site", "assignee", "service__customer")
    position = {pk: index for index, pk in enumerate(ids)}
    return sorted(rows, key=lambda ticket: position[ticket.pk])

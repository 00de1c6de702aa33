"""The daily roll-ups behind the dashboards: kept as events happen, rebuildable from tickets.

Each event adds to one row with an atomic `F()` update, so concurrent closes never lose a count.
`rebuild` recomputes every row from the ticket table (after a bulk load, or to check the
incremental counts).
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager
from datetime import date

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from .models import DailyAgentStats, DailyFlowStats, Escalation, Ticket


def local_day(moment) -> date:
    return timezone.localtime(moment).date()


_deferred = threading.local()


@contextmanager
def deferred():
    """Collect the roll-up increments of a bulk arrival and write each row once at the end.

    Use inside the bulk operation's transaction (an import): updating the same day's row once
    per ticket would leave PostgreSQL one row version per ticket to walk in that transaction.
    The writes happen before the block ends, so they commit or roll back with it.
    """
    outer = getattr(_deferred, "pending", None)
    _deferred.pending = pending = {} if outer is None else outer
    try:
        yield
    finally:
        if outer is None:
            _deferred.pending = None
    if outer is None:
        for (model, keys), increments in pending.items():
            _write(model, dict(keys), increments)


def _add(model, keys: dict, **increments) -> None:
    pending = getattr(_deferred, "pending", None)
    if pending is None:
        _write(model, keys, increments)
        return
    counts = pending.setdefault((model, tuple(sorted(keys.items()))), Counter())
    counts.update(increments)


def _write(model, keys: dict, increments) -> None:
    row, _created = model.objects.get_or_create(**keys)
    model.objects.filter(pk=row.pk).update(
        **{field: F(field) + amount for field, amount in increments.items()}
    )


def record_created(ticket: Ticket) -> None:
    _add(
        DailyFlowStats,
        {"day": local_day(ticket.created_at), "flow": ticket.flow, "site_id": ticket.site_id},
        created=1,
    )


def record_breached(ticket_rows, now) -> None:
    """`ticket_rows`: (flow, site_id) pairs of tickets the sweep just marked breached."""
    counts: dict[tuple[str, int], int] = {}
    for flow, site_id in ticket_rows:
        counts[(flow, site_id)] = counts.get((flow, site_id), 0) + 1
    for (flow, site_id), count in counts.items():
        _add(
            DailyFlowStats,
            {"day": local_day(now), "flow": flow, "site_id": site_id},
            breached=count,
        )


def record_closed(ticket: Ticket) -> None:
    """A ticket closed: count it for its flow and site, and for the agent who closed it."""
    day = local_day(ticket.closed_at)
    escalated = Escalation.objects.filter(ticket_id=ticket.pk).exists()
    within = ticket.breached_at is None
    _add(
        DailyFlowStats,
        {"day": day, "flow": ticket.flow, "site_id": ticket.site_id},
        closed=1,
        closed_within_sla=int(within),
        escalated=int(escalated),
    )
    if ticket.assignee_id is None:
        return
    handled = ticket.closed_at - (ticket.claimed_at or ticket.created_at)
    _add(
        DailyAgentStats,
        {
            "day": day,
            "agent_id": ticket.assignee_id,
            "flow": ticket.flow,
            "site_id": ticket.site_id,
        },
        closed=1,
        handle_seconds=max(0, int(handled.total_seconds())),
        first_contact=int(not escalated and ticket.failed_attempts == 0),
        escalated=int(escalated),
    )


@transaction.atomic
def rebuild() -> tuple[int, int]:
    """Recompute every roll-up row from the tickets; returns (flow rows, agent rows)."""
    DailyFlowStats.objects.all().delete()
    DailyAgentStats.objects.all().delete()
    rows: dict[tuple, dict] = {}

    def bucket(day, flow, site_id):
        return rows.setdefault((day, flow, site_id), {})

    created = Ticket.objects.annotate(day=TruncDate("created_at")).values("day", "flow", "site_id")
    for row in created.annotate(n=Count("id")).order_by():
        bucket(row["day"], row["flow"], row["site_id"])["created"] = row["n"]
    escalated_ids = Escalation.objects.values("ticket_id")
    closed = (
        Ticket.objects.filter(closed_at__isnull=False)
        .annotate(day=TruncDate("closed_at"))
        .values("day", "flow", "site_id")
        .annotate(
            n=Count("id"),
            within=Count("id", filter=Q(breached_at__isnull=True)),
            esc=Count("id", filter=Q(pk__in=escalated_ids)),
        )
        .order_by()
    )
    for row in closed:
        target = bucket(row["day"], row["flow"], row["site_id"])
        target.update(closed=row["n"], closed_within_sla=row["within"], escalated=row["esc"])
    breached = (
        Ticket.objects.filter(breached_at__isnull=False)
        .annotate(day=TruncDate("breached_at"))
        .values("day", "flow", "site_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in breached:
        bucket(row["day"], row["flow"], row["site_id"])["breached"] = row["n"]
    DailyFlowStats.objects.bulk_create(
        (
            DailyFlowStats(day=day, flow=flow, site_id=site_id, **counts)
            for (day, flow, site_id), counts in rows.items()
        ),
        batch_size=2000,
    )
    handle = ExpressionWrapper(F("closed_at") - F("claimed_at"), output_field=DurationField())
    agents = (
        Ticket.objects.filter(closed_at__isnull=False, assignee__isnull=False)
        .annotate(day=TruncDate("closed_at"))
        .values("day", "assignee_id", "flow", "site_id")
        .annotate(
            n=Count("id"),
            handle=Sum(handle, filter=Q(claimed_at__isnull=False)),
            fcr=Count("id", filter=Q(failed_attempts=0) & ~Q(pk__in=escalated_ids)),
            esc=Count("id", filter=Q(pk__in=escalated_ids)),
        )
        .order_by()
    )
    agent_rows = [
        DailyAgentStats(
            day=row["day"],
            agent_id=row["assignee_id"],
            flow=row["flow"],
            site_id=row["site_id"],
            closed=row["n"],
            handle_seconds=max(0, int(row["handle"].total_seconds())) if row["handle"] else 0,
            first_contact=row["fcr"],
            escalated=row["esc"],
        )
        for row in agents
    ]
    DailyAgentStats.objects.bulk_create(agent_rows, batch_size=2000)
    return len(rows), len(agent_rows)

"""SLA arithmetic: policies per flow and priority, deadlines on a 24x7 or business calendar.

Deadlines are computed when a ticket arrives or changes priority and stored on the ticket,
so queues and the sweep read indexed columns instead of recomputing.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import Flow, Priority, SlaPolicy, SlaStatus

# Targets at normal priority when no policy row exists: (claim within, resolve within) minutes.
DEFAULT_TARGETS = {
    Flow.CALLBACK: (30, 8 * 60),
    Flow.NOSSA: (15, 24 * 60),
    Flow.GAMAS: (30, 24 * 60),
    Flow.C4_CARING: (4 * 60, 3 * 24 * 60),
    Flow.FORCE_CLOSE: (60, 24 * 60),
    Flow.FRESH_LAPUL: (10, 12 * 60),  # the tighter SLA for repeat reports
    Flow.IDEAS: (8 * 60, 7 * 24 * 60),
}
PRIORITY_FACTOR = {Priority.CRITICAL: 0.25, Priority.HIGH: 0.5, Priority.NORMAL: 1, Priority.LOW: 2}
DEFAULT_ESCALATION_ANSWER_MINUTES = 120


def default_policy(flow: str, priority: int) -> SlaPolicy:
    claim, resolve = DEFAULT_TARGETS[flow]
    factor = PRIORITY_FACTOR[priority]
    return SlaPolicy(
        flow=flow,
        priority=priority,
        claim_minutes=max(1, round(claim * factor)),
        resolve_minutes=max(1, round(resolve * factor)),
        escalation_answer_minutes=DEFAULT_ESCALATION_ANSWER_MINUTES,
    )


def policy_for(flow: str, priority: int) -> SlaPolicy:
    policy = SlaPolicy.objects.filter(flow=flow, priority=priority).first()
    return policy or default_policy(flow, priority)


def add_working_minutes(start: datetime, minutes: int, policy: SlaPolicy) -> datetime:
    """`start` plus `minutes` counted on the policy's calendar (local time, Asia/Jakarta)."""
    if not policy.business_hours_only or not (policy.day_starts and policy.day_ends):
        return start + timedelta(minutes=minutes)
    weekdays = set(policy.business_weekdays or range(5))
    remaining = timedelta(minutes=minutes)
    cursor = timezone.localtime(start)
    for _day in range(3 * 366):  # bounded walk: a policy with no working day cannot loop
        day_start = cursor.replace(
            hour=policy.day_starts.hour, minute=policy.day_starts.minute, second=0, microsecond=0
        )
        day_end = cursor.replace(
            hour=policy.day_ends.hour, minute=policy.day_ends.minute, second=0, microsecond=0
        )
        if cursor.weekday() in weekdays and cursor < day_end:
            begin = max(cursor, day_start)
            if remaining <= day_end - begin:
                return begin + remaining
            remaining -= day_end - begin
        cursor = (cursor + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    raise ValueError("The SLA policy's calendar has no working time.")


def apply_deadlines(ticket, start: datetime | None = None) -> None:
    """Set claim-by, resolve-by and the at-risk time from the ticket's flow and priority.

    Counting starts at the ticket's arrival; time spent with Support (`sla_paused_seconds`)
    does not count against the Tier-2 resolve target, so it is added to the deadline.
    """
    start = start or ticket.created_at or timezone.now()
    policy = policy_for(ticket.flow, ticket.priority)
    paused = timedelta(seconds=ticket.sla_paused_seconds or 0)
    ticket.claim_by = add_working_minutes(start, policy.claim_minutes, policy)
    ticket.resolve_by = add_working_minutes(start, policy.resolve_minutes, policy) + paused
    ticket.warn_at = at_risk_from(start, ticket.resolve_by)


def at_risk_from(start: datetime, deadline: datetime) -> datetime:
    """The moment the at-risk share of the time between start and deadline is used up."""
    return start + (deadline - start) * settings.TIER2_SLA_AT_RISK_SHARE


def escalation_due(flow: str, priority: int, start: datetime) -> datetime:
    policy = policy_for(flow, priority)
    return add_working_minutes(start, policy.escalation_answer_minutes, policy)


def slg_due(first_report_at: datetime) -> datetime:
    """SLG: restoration guaranteed within TIER2_SLG_HOURS of the first report (24x7)."""
    return first_report_at + timedelta(hours=settings.TIER2_SLG_HOURS)


# --- The sweep --------------------------------------------------------------------------------
@dataclass
class SweepResult:
    at_risk: int = 0
    breached: int = 0
    escalations_overdue: int = 0


def sweep(*, now: datetime | None = None, batch_size: int = 5000) -> SweepResult:
    """Mark tickets at risk and breached, each once, with a timeline row and notifications.

    Idempotent: a mark is a timestamp column that the sweep only sets when it is empty, and
    concurrent sweeps skip each other's locked rows. Breached: open past resolve-by, or still
    waiting in the queue past claim-by. At risk: past `warn_at` (the at-risk share of the time).
    """
    now = now or timezone.now()
    result = SweepResult()
    result.breached = _mark_tickets(
        now=now,
        batch_size=batch_size,
        pending=Q(closed_at__isnull=True, breached_at__isnull=True)
        & (Q(resolve_by__lte=now) | Q(awaiting_agent=True, state="new", claim_by__lte=now)),
        kind="sla_breached",
        changes={"breached_at": now, "sla_status": SlaStatus.BREACHED},
    )
    result.at_risk = _mark_tickets(
        now=now,
        batch_size=batch_size,
        pending=Q(closed_at__isnull=True, at_risk_at__isnull=True, warn_at__lte=now),
        kind="sla_at_risk",
        changes={"at_risk_at": now, "sla_status": SlaStatus.AT_RISK},
    )
    result.escalations_overdue = _mark_escalations(now)
    return result


NOTICES = {
    "sla_at_risk": _("Ticket %(number)s is at risk of breaching its SLA."),
    "sla_breached": _("Ticket %(number)s has breached its SLA."),
}
SUMMARIES = {
    "sla_at_risk": _("%(count)d tickets became at risk of breaching their SLA."),
    "sla_breached": _("%(count)d tickets breached their SLA."),
    "escalation_overdue": _("%(count)d escalations are waiting for Support past their target."),
}


def _mark_tickets(*, now, batch_size, pending, kind, changes) -> int:
    from . import stats
    from .models import Notification, Ticket, TransitionLog

    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Ticket.objects.select_for_update(skip_locked=True)
                .filter(pending)
                .order_by("pk")
                .values_list("pk", "state", "assignee_id", "flow", "site_id")[:batch_size]
            )
            if not rows:
                break
            ids = [pk for pk, *_rest in rows]
            marks = {key: value for key, value in changes.items() if key != "sla_status"}
            Ticket.objects.filter(pk__in=ids).update(**marks)
            status = changes["sla_status"]
            downgrade = Q() if status == SlaStatus.BREACHED else Q(breached_at__isnull=True)
            Ticket.objects.filter(Q(pk__in=ids) & downgrade).update(sla_status=status)
            if status == SlaStatus.BREACHED:  # a breach is also past the at-risk point
                Ticket.objects.filter(pk__in=ids, at_risk_at__isnull=True).update(at_risk_at=now)
                stats.record_breached([(flow, site) for *_rest, flow, site in rows], now)
            TransitionLog.objects.bulk_create(
                TransitionLog(ticket_id=pk, at=now, transition=kind, from_state=state,
                              to_state=state)
                for pk, state, *_rest in rows
            )  # fmt: skip
            Notification.objects.bulk_create(
                Notification(user_id=assignee, ticket_id=pk, kind=kind,
                             message=NOTICES[kind] % {"number": f"T2-{pk:07d}"}, created_at=now)
                for pk, _state, assignee, *_rest in rows
                if assignee is not None
            )  # fmt: skip
            total += len(rows)
    _notify_supervisors(kind, total, now)
    return total


def _mark_escalations(now) -> int:
    from .models import Escalation, EscalationStatus

    with transaction.atomic():
        overdue = Escalation.objects.filter(
            status=EscalationStatus.OPEN, breached_at__isnull=True, due_at__lte=now
        )
        count = overdue.update(breached_at=now)
    _notify_supervisors("escalation_overdue", count, now, include_support=True)
    return count


def _notify_supervisors(kind: str, count: int, now, include_support: bool = False) -> None:
    """One summary per sweep for each supervisor (and Support), not one per ticket."""
    from django.contrib.auth import get_user_model

    from .models import Notification

    if not count:
        return
    codenames = ["supervise", "answer_escalation"] if include_support else ["supervise"]
    people = (
        get_user_model()
        .objects.filter(is_active=True, groups__permissions__codename__in=codenames)
        .distinct()
        .values_list("pk", flat=True)
    )
    message = SUMMARIES[kind] % {"count": count}
    Notification.objects.bulk_create(
        Notification(user_id=pk, kind=kind, message=message, created_at=now) for pk in people
    )

"""SLA arithmetic: policies per flow and priority, deadlines on a 24x7 or business calendar.

Deadlines are computed when a ticket arrives or changes priority and stored on the ticket,
so queues and the sweep read indexed columns instead of recomputing.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from .models import Flow, Priority, SlaPolicy

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
    """Set claim-by and resolve-by on the ticket from its flow and priority."""
    start = start or ticket.created_at or timezone.now()
    policy = policy_for(ticket.flow, ticket.priority)
    ticket.claim_by = add_working_minutes(start, policy.claim_minutes, policy)
    ticket.resolve_by = add_working_minutes(start, policy.resolve_minutes, policy)


def escalation_due(flow: str, priority: int, start: datetime) -> datetime:
    policy = policy_for(flow, priority)
    return add_working_minutes(start, policy.escalation_answer_minutes, policy)


def slg_due(first_report_at: datetime) -> datetime:
    """SLG: restoration guaranteed within TIER2_SLG_HOURS of the first report (24x7)."""
    return first_report_at + timedelta(hours=settings.TIER2_SLG_HOURS)

"""SLA arithmetic: policies per flow and priority, deadlines on a 24x7 or business calendar.

Pure reads and arithmetic: deadlines are computed when a ticket arrives, changes priority or
comes back from Support, and stored on the ticket by the services (`services.deadlines`, which
also runs the sweep), so queues and the sweep read indexed columns instead of recomputing.
"""

import threading
from contextlib import contextmanager
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


_held = threading.local()


@contextmanager
def policies_held():
    """Within one bulk operation (an import's single transaction), read each policy once
    instead of once per ticket. Outside such a block every call reads the table."""
    outer = getattr(_held, "policies", None)
    _held.policies = {} if outer is None else outer
    try:
        yield
    finally:
        if outer is None:
            _held.policies = None


def policy_for(flow: str, priority: int) -> SlaPolicy:
    memo = getattr(_held, "policies", None)
    if memo is not None and (flow, priority) in memo:
        return memo[flow, priority]
    policy = SlaPolicy.objects.filter(flow=flow, priority=priority).first()
    policy = policy or default_policy(flow, priority)
    if memo is not None:
        memo[flow, priority] = policy
    return policy


def _working_days(policy: SlaPolicy):
    weekdays = set(policy.business_weekdays or range(5))
    return weekdays


def _is_business(policy: SlaPolicy) -> bool:
    return bool(policy.business_hours_only and policy.day_starts and policy.day_ends)


def _day_window(cursor: datetime, policy: SlaPolicy) -> tuple[datetime, datetime]:
    day_start = cursor.replace(
        hour=policy.day_starts.hour, minute=policy.day_starts.minute, second=0, microsecond=0
    )
    day_end = cursor.replace(
        hour=policy.day_ends.hour, minute=policy.day_ends.minute, second=0, microsecond=0
    )
    return day_start, day_end


def _next_midnight(cursor: datetime) -> datetime:
    day = (cursor + timedelta(days=1)).date()
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), cursor.tzinfo)


def add_working_time(start: datetime, duration: timedelta, policy: SlaPolicy) -> datetime:
    """`start` plus `duration` counted on the policy's calendar (local time, Asia/Jakarta)."""
    if not _is_business(policy):
        return start + duration
    weekdays = _working_days(policy)
    remaining = duration
    cursor = timezone.localtime(start)
    for _day in range(3 * 366):  # bounded walk: a policy with no working day cannot loop
        day_start, day_end = _day_window(cursor, policy)
        if cursor.weekday() in weekdays and cursor < day_end:
            begin = max(cursor, day_start)
            if remaining <= day_end - begin:
                return begin + remaining
            remaining -= day_end - begin
        cursor = _next_midnight(cursor)
    raise ValueError("The SLA policy's calendar has no working time.")


def add_working_minutes(start: datetime, minutes: int, policy: SlaPolicy) -> datetime:
    """`start` plus `minutes` counted on the policy's calendar (local time, Asia/Jakarta)."""
    return add_working_time(start, timedelta(minutes=minutes), policy)


def working_time_between(start: datetime, end: datetime, policy: SlaPolicy) -> timedelta:
    """How much of the policy's working time lies between two instants (zero if end <= start).

    A pause measured with it and added back with `add_working_time` moves a deadline by exactly
    the working time the pause took: a night or a weekend with Support costs nothing extra.
    """
    if end <= start:
        return timedelta(0)
    if not _is_business(policy):
        return end - start
    weekdays = _working_days(policy)
    total = timedelta(0)
    cursor = timezone.localtime(start)
    end = timezone.localtime(end)
    while cursor < end:
        day_start, day_end = _day_window(cursor, policy)
        if cursor.weekday() in weekdays:
            begin, finish = max(cursor, day_start), min(end, day_end)
            if finish > begin:
                total += finish - begin
        cursor = _next_midnight(cursor)
    return total


def apply_deadlines(ticket, start: datetime | None = None) -> None:
    """Set claim-by, resolve-by and the at-risk time from the ticket's flow and priority.

    Counting starts at the ticket's arrival; the working time it spent with Support
    (`sla_paused_seconds`, measured on the same calendar) does not count against the Tier-2
    resolve target, so the resolve deadline moves by exactly that much working time.
    """
    start = start or ticket.created_at or timezone.now()
    policy = policy_for(ticket.flow, ticket.priority)
    paused = timedelta(seconds=ticket.sla_paused_seconds or 0)
    ticket.claim_by = add_working_minutes(start, policy.claim_minutes, policy)
    ticket.resolve_by = add_working_time(
        start, timedelta(minutes=policy.resolve_minutes) + paused, policy
    )
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

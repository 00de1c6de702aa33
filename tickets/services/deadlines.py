"""SLA clocks on tickets: priority changes, the pause while a ticket is with Support, clearing
marks a moved deadline no longer deserves, and the sweep that marks at-risk and breached tickets.

The arithmetic (policies, calendars) is `tickets.sla`; this module is where it is written down.
A paused clock is paused everywhere: the sweep does not mark a ticket that is with Support, and
the resume moves the deadline by the working time the pause took, on the calendar the ticket's
policy counts on (a night, a weekend or a holiday with Support costs nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy

from tier2.partitions import month_start

from .. import metrics, roles, sla, stats
from ..exceptions import InvalidInput, TransitionForbidden, TransitionNotAllowed
from ..flows import FlowTicket
from ..models import Notification, Priority, SlaStatus, Ticket, TransitionLog
from . import events, live
from .engine import locked_ticket, log_entry, save_row

DEADLINE_FIELDS = [
    "claim_by", "resolve_by", "warn_at", "sla_paused_seconds", "sla_paused_at", "at_risk_at",
    "breached_at", "sla_status", "updated_at",
]  # fmt: skip


# --- The running deadline --------------------------------------------------------------------
CLAIM, RESOLVE, PAUSED, CLOSED = "claim", "resolve", "paused", "closed"
OK, AT_RISK, OVERDUE = "ok", "at_risk", "overdue"


@dataclass(frozen=True)
class RunningDeadline:
    """Which SLA clock runs now on a ticket, until when, and how it stands.

    kind: `claim` (waits in the queue for its first agent), `resolve` (held, being worked, or
    back in the queue after a first claim), `paused` (with Support: no clock runs), `closed`.
    at: when the running clock ends (None when paused or closed, or a deadline never computed).
    left: for a paused ticket, the working time from the pause to its resolve-by on the
    calendar its policy counts on (24x7: the wall-clock time); negative if it was paused late.
    status: `ok`, `at_risk` (the at-risk share of the running clock's working time is used up:
    past the stored `warn_at` for the resolve clock; for the claim clock, which has no stored
    at-risk time, the share of the working time from arrival to claim-by, on the same
    calendar), `overdue` (the deadline has passed), or `paused` / `closed`.

    `status` and `left` are worked out when first read, so a page that shows only `at` (the
    dashboard's list) reads no calendar; the calendar is read once per `now` for a page of rows
    that share it (`sla.ticket_calendar`).
    """

    kind: str
    at: datetime | None
    ticket: Ticket = field(repr=False, compare=False)
    now: datetime = field(repr=False, compare=False)

    @cached_property
    def calendar(self) -> sla.WorkingCalendar | None:
        return sla.ticket_calendar(self.ticket, read_for=self.now)

    @cached_property
    def status(self) -> str:
        ticket, at, now = self.ticket, self.at, self.now
        if self.kind in (PAUSED, CLOSED):
            return self.kind
        if at is None:
            return OK
        if at <= now:
            return OVERDUE
        if self.kind == RESOLVE and ticket.warn_at is not None:
            # The at-risk time stored with the deadline, on its calendar: what the sweep marks by.
            return AT_RISK if now >= ticket.warn_at else OK
        if ticket.created_at and now >= sla.at_risk_from(ticket.created_at, at, self.calendar):
            return AT_RISK
        return OK

    @cached_property
    def left(self) -> timedelta | None:
        paused, due = self.ticket.sla_paused_at, self.ticket.resolve_by
        if self.kind != PAUSED or due is None:
            return None
        if due < paused:
            return -sla.working_time_between(due, paused, self.calendar)
        return sla.working_time_between(paused, due, self.calendar)


def running_deadline_of(ticket: Ticket, now: datetime | None = None) -> RunningDeadline:
    """The deadline that runs now on `ticket`: the one rule behind the queues' "most urgent"
    order, "next ticket", the countdowns and the SLA badge beside them.

    Its SQL twin is `models.running_deadline()` (the queues sort on it and the indexes hold
    it); the two say the same thing. The sweep breaches on the same clocks: claim-by only while
    the ticket waits in `new`, resolve-by otherwise, nothing while paused. A page of tickets
    passes one `now` for all its rows, so their calendars are read once.
    """
    if ticket.closed_at is not None:
        kind, at = CLOSED, None
    elif ticket.sla_paused_at is not None:
        kind, at = PAUSED, None
    elif ticket.awaiting_agent and ticket.state == "new":
        kind, at = CLAIM, ticket.claim_by
    else:
        kind, at = RESOLVE, ticket.resolve_by
    return RunningDeadline(kind, at, ticket, now or timezone.now())


def change_priority(*, ticket_id: int, priority: int, actor, note: str = "") -> FlowTicket:
    """A supervisor changes a ticket's priority; its SLA deadlines are computed anew from its
    arrival with the policy of the new priority (marks the new deadlines undo are cleared)."""
    if not roles.is_supervisor(actor):
        raise TransitionForbidden()
    if priority not in Priority.values:
        raise InvalidInput({"priority": [_("Choose a priority from 1 (critical) to 4 (low).")]})
    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        if ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is closed."))
        previous = ticket.priority
        ticket.priority = priority
        entry = log_entry(
            ticket=ticket, actor=actor, name="change_priority", from_state=ticket.state,
            to_state=ticket.state, note=note, data={"from": previous, "to": priority},
        )  # fmt: skip
        recompute_deadlines(ticket, actor=actor, extra_fields=["priority"])
        events.ticket_changed(ticket, kind=events.PRIORITY, entry=entry)  # with its deadlines
        return ticket


def pause_clock(ticket: Ticket, at: datetime | None = None) -> None:
    """The ticket went to Support: its resolve clock stops (saved by the caller's row save)."""
    if ticket.sla_paused_at is None:
        ticket.sla_paused_at = at or timezone.now()
        save_row(ticket, ["sla_paused_at", "updated_at"])


def resume_clock(ticket: Ticket, *, actor=None, at: datetime | None = None, since=None) -> None:
    """The ticket is back from Support: the working time the pause took, on the calendar the
    ticket's policy counts on at its site (`sla.ticket_calendar`; 24x7: all of it), moves the
    resolve deadline; marks the new deadline undoes are cleared."""
    at = at or timezone.now()
    since = ticket.sla_paused_at or since
    if since is not None:
        paused = sla.working_time_between(since, at, sla.ticket_calendar(ticket))
        ticket.sla_paused_seconds = (ticket.sla_paused_seconds or 0) + int(paused.total_seconds())
    ticket.sla_paused_at = None
    recompute_deadlines(ticket, actor=actor, now=at)


def _breached_now(ticket: Ticket, now: datetime) -> bool:
    waiting = ticket.awaiting_agent and ticket.state == "new"
    return ticket.resolve_by <= now or bool(waiting and ticket.claim_by and ticket.claim_by <= now)


def recompute_deadlines(ticket: Ticket, *, actor=None, now=None, extra_fields=()) -> list[str]:
    """Compute the deadlines anew and save them; a mark whose deadline now lies in the future
    is cleared, with a timeline row saying which. Returns the cleared marks."""
    now = now or timezone.now()
    sla.apply_deadlines(ticket, ticket.created_at)
    cleared = []
    if ticket.breached_at is not None and not _breached_now(ticket, now):
        ticket.breached_at = None
        cleared.append("breached")
    if ticket.at_risk_at is not None and ticket.breached_at is None and ticket.warn_at > now:
        ticket.at_risk_at = None
        cleared.append("at_risk")
    if ticket.breached_at is not None:
        ticket.sla_status = SlaStatus.BREACHED
    elif ticket.at_risk_at is not None:
        ticket.sla_status = SlaStatus.AT_RISK
    else:
        ticket.sla_status = SlaStatus.OK
    save_row(ticket, [*DEADLINE_FIELDS, *extra_fields])
    if cleared:
        log_entry(
            ticket=ticket, actor=actor, name="sla_marks_cleared", from_state=ticket.state,
            to_state=ticket.state, data={"cleared": cleared,
                                         "resolve_by": ticket.resolve_by.isoformat()},
        )  # fmt: skip
    return cleared


# --- The sweep --------------------------------------------------------------------------------
@dataclass
class SweepResult:
    at_risk: int = 0
    breached: int = 0
    escalations_overdue: int = 0


def sweep_sla(*, now: datetime | None = None, batch_size: int = 5000) -> SweepResult:
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
        pending=Q(closed_at__isnull=True, breached_at__isnull=True, sla_paused_at__isnull=True)
        & (Q(resolve_by__lte=now) | Q(awaiting_agent=True, state="new", claim_by__lte=now)),
        kind="sla_breached",
        changes={"breached_at": now, "sla_status": SlaStatus.BREACHED},
    )
    result.at_risk = _mark_tickets(
        now=now,
        batch_size=batch_size,
        pending=Q(
            closed_at__isnull=True,
            at_risk_at__isnull=True,
            sla_paused_at__isnull=True,
            warn_at__lte=now,
        ),
        kind="sla_at_risk",
        changes={"at_risk_at": now, "sla_status": SlaStatus.AT_RISK},
    )
    result.escalations_overdue = _mark_escalations(now)
    return result


NOTICES = {
    "sla_at_risk": gettext_lazy("Ticket %(number)s is at risk of breaching its SLA."),
    "sla_breached": gettext_lazy("Ticket %(number)s has breached its SLA."),
}
SUMMARIES = {  # ngettext_lazy(..., "count"): the form follows the dict's count
    "sla_at_risk": ngettext_lazy(
        "%(count)d ticket became at risk of breaching its SLA.",
        "%(count)d tickets became at risk of breaching their SLA.",
        "count",
    ),
    "sla_breached": ngettext_lazy(
        "%(count)d ticket breached its SLA.", "%(count)d tickets breached their SLA.", "count"
    ),
    "escalation_overdue": ngettext_lazy(
        "%(count)d escalation is waiting for Support past its target.",
        "%(count)d escalations are waiting for Support past their target.",
        "count",
    ),
}


def _mark_tickets(*, now, batch_size, pending, kind, changes) -> int:
    total = 0
    while True:
        with transaction.atomic():
            rows = list(
                Ticket.objects.select_for_update(skip_locked=True)
                .filter(pending)
                .order_by("pk")
                .values_list("pk", "state", "assignee_id", "flow", "site_id", "created_at")[
                    :batch_size
                ]
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
                stats.record_breached([(flow, site) for *_rest, flow, site, _at in rows], now)
                metrics.tickets_breached((flow, site) for *_rest, flow, site, _at in rows)
            TransitionLog.objects.bulk_create(
                TransitionLog(ticket_id=pk, at=now, transition=kind, from_state=state,
                              to_state=state, month=month_start(arrived))
                for pk, state, *_rest, arrived in rows
            )  # fmt: skip
            events.tickets_changed(ids, kind=events.SLA_MARK, at=now)
            live.users_notified(Notification.objects.bulk_create(
                Notification(user_id=assignee, ticket_id=pk, kind=kind,
                             message=NOTICES[kind] % {"number": Ticket.number_of(pk)},
                             created_at=now)
                for pk, _state, assignee, *_rest in rows
                if assignee is not None
            ))  # fmt: skip
            total += len(rows)
    _notify_supervisors(kind, total, now)
    return total


def _mark_escalations(now) -> int:
    from ..models import Escalation, EscalationStatus

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
    live.users_notified(
        Notification.objects.bulk_create(
            Notification(user_id=pk, kind=kind, message=message, created_at=now) for pk in people
        )
    )

"""Reads for the queues, the ticket workspace and the API (the write side is `services`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import connections
from django.db.models import Count, Exists, OuterRef, QuerySet
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from integrations.models import AdapterCall

from . import roles
from .exceptions import TransitionForbidden
from .flows import FlowTicket, as_flow
from .flows.base import CLOSED
from .models import (
    ContactAttempt,
    Customer,
    CustomerMessage,
    Escalation,
    Flow,
    GamasIncident,
    Note,
    Notification,
    Service,
    Ticket,
    TransitionLog,
)


def visible_tickets(user) -> QuerySet[Ticket]:
    """Tickets a user may see (the rule is `roles.visible_tickets`, which the services use too)."""
    return roles.visible_tickets(user)


def visible_customers(user) -> QuerySet[Customer]:
    """Customers a user may see: those with a ticket the user may see (`visible_tickets`), so
    an agent sees the customers of their flows at their site; other roles see every customer.

    One EXISTS per row on the ticket's service index, not a list of ids."""
    queryset = Customer.objects.all()
    if roles.sees_every_ticket(user):
        return queryset
    tickets = visible_tickets(user).filter(service__customer_id=OuterRef("pk"))
    return queryset.filter(Exists(tickets))


def visible_services(user) -> QuerySet[Service]:
    """Services (lines) a user may see: those with a ticket the user may see."""
    queryset = Service.objects.all()
    if roles.sees_every_ticket(user):
        return queryset
    return queryset.filter(Exists(visible_tickets(user).filter(service_id=OuterRef("pk"))))


def agent_flows(user) -> list[str]:
    return roles.flows_worked_by(user)


def queue_queryset(user) -> QuerySet[Ticket]:
    return visible_tickets(user).select_related("service__customer", "site", "assignee")


def state_counts(queryset: QuerySet[Ticket]) -> dict[str, int]:
    """Exact counts per state, for sets that stay small (an incident's children)."""
    # COUNT(*) rather than COUNT(id): PostgreSQL can then count from the index alone.
    rows = queryset.order_by().values_list("state").annotate(total=Count("*"))
    return dict(rows)


# A queue's count per state stops here: past it the tab reads "1,000+". An exact count would
# read every matching ticket on every refresh (millions when closed tickets are shown, and more
# each month); a capped one reads at most this many index entries per state, at any size.
COUNT_CAP = 1000


def capped_state_counts(
    queryset: QuerySet[Ticket], states: Iterable[str], cap: int = COUNT_CAP
) -> dict[str, int]:
    """The tickets of `queryset` in each of `states`, each counted up to `cap` + 1: a count
    above `cap` means "more than `cap`". States without tickets are left out.

    On PostgreSQL one statement, a count over at most `cap` + 1 rows per state; elsewhere an
    exact count per state, capped afterwards (small databases)."""
    states = list(dict.fromkeys(states))
    if not states:
        return {}
    if queryset.db and connections[queryset.db].vendor == "postgresql":
        wanted = queryset.order_by().filter(state=RawSQL("wanted.state", ()))
        # the state alone is read: the queue's filters and the state are all in the open
        # tickets' `ticket_open_by_state` index, so the count never reads the table
        sql, params = wanted.values("state")[: cap + 1].query.sql_with_params()
        with connections[queryset.db].cursor() as cursor:
            cursor.execute(
                f"SELECT wanted.state, (SELECT count(*) FROM ({sql}) capped) "  # noqa: S608
                "FROM unnest(%s::text[]) AS wanted(state)",
                [*params, states],
            )
            counts = dict(cursor.fetchall())
    else:
        counts = state_counts(queryset.filter(state__in=states))
    return {state: min(counts[state], cap + 1) for state in states if counts.get(state)}


def state_in_scope(state: str, open_scope: bool | None) -> bool:
    """Whether a ticket in `state` can be among the open tickets (`open_scope` True), the
    closed ones (False) or either (None). A flow's machine closes a ticket and sets `closed_at`
    in one step, so only "closed" holds closed tickets and it holds nothing else."""
    return open_scope is None or (state == CLOSED) != open_scope


def queue_state_counts(
    queryset: QuerySet[Ticket], states: Iterable[str], *, open_scope: bool | None = None
) -> dict[str, int]:
    """`capped_state_counts` of a queue whose scope is `open_scope` (`state_in_scope`): each
    state asked only where a ticket can be in it, the open states among the open tickets and
    "closed" among the closed ones. That keeps every count on an index (the open tickets'
    partial indexes, the flow-and-state index), where a state with no ticket at all in the
    scope would otherwise cost a scan of the table to prove it empty."""
    states = [state for state in states if state_in_scope(state, open_scope)]
    counts = capped_state_counts(
        queryset.filter(closed_at__isnull=True), [state for state in states if state != CLOSED]
    )
    if CLOSED in states:
        counts |= capped_state_counts(queryset.filter(closed_at__isnull=False), [CLOSED])
    return counts


def ticket_for(user, ticket_id: int) -> FlowTicket:
    """The ticket with its machine, if the user may open it; raises Ticket.DoesNotExist or
    TransitionForbidden (an agent opening a ticket outside their flows or site, or a system
    client: those read tickets through the TMF621 API, they do not work them in the console)."""
    if roles.is_system(user) and not roles.works_in_console(user):
        raise TransitionForbidden(_("System clients read tickets through the TMF621 API."))
    ticket = Ticket.objects.select_related(
        "service__customer", "site", "assignee", "gamas_incident", "previous_ticket", "campaign"
    ).get(pk=ticket_id)
    if ticket.assignee_id != user.pk and not visible_tickets(user).filter(pk=ticket_id).exists():
        raise TransitionForbidden(
            message=Flow(ticket.flow).label + ": " + str(TransitionForbidden.default_message)
        )
    return as_flow(ticket)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str  # transition | note | contact | escalation | answer | call | message
    actor: str
    title: str
    detail: str = ""
    status: str = ""
    call_id: int | None = None
    # A customer message's: why it is held or not sent (or the gateway's error), until when it
    # is held, the language of its text, and when it reached each status, in order.
    reason: str = ""
    until: datetime | None = None
    language: str = ""
    times: tuple[tuple[str, datetime], ...] = ()


def _name(user) -> str:
    return user.get_username() if user else "sistem"


def timeline(ticket: Ticket) -> list[TimelineEntry]:
    """Everything that happened to the ticket, oldest first, from the append-only records."""
    entry = TimelineEntry
    entries: list[TimelineEntry] = [
        entry(at=row.at, kind="transition", actor=_name(row.actor), title=row.transition,
              detail=row.note, status=f"{row.from_state or '∅'} → {row.to_state}")
        for row in TransitionLog.objects.of_ticket(ticket).select_related("actor")
    ]  # fmt: skip
    entries += [
        entry(at=note.created_at, kind="note", actor=_name(note.author), title="note",
              detail=note.text)
        for note in Note.objects.filter(ticket=ticket).select_related("author")
    ]  # fmt: skip
    entries += [
        entry(at=attempt.at, kind="contact", actor=_name(attempt.agent),
              title=str(attempt.get_outcome_display()), detail=attempt.note,
              status=attempt.outcome)
        for attempt in ContactAttempt.objects.filter(ticket=ticket).select_related("agent")
    ]  # fmt: skip
    escalations = Escalation.objects.filter(ticket=ticket).select_related(
        "raised_by", "answered_by"
    )
    for escalation in escalations:
        entries.append(
            entry(at=escalation.raised_at, kind="escalation", actor=_name(escalation.raised_by),
                  title="escalation", detail=escalation.reason, status=escalation.status)
        )  # fmt: skip
        if escalation.answered_at:
            entries.append(
                entry(at=escalation.answered_at, kind="answer",
                      actor=_name(escalation.answered_by), title="answer",
                      detail=escalation.answer, status="answered")
            )  # fmt: skip
    entries += [
        entry(at=call.finished_at or call.created_at, kind="call", actor=call.app,
              title=f"{call.app}.{call.operation}", detail=call.error, status=call.status,
              call_id=call.pk)
        for call in AdapterCall.objects.of_ticket(ticket)
    ]  # fmt: skip
    entries += [message_entry(message) for message in CustomerMessage.objects.filter(ticket=ticket)]
    return sorted(entries, key=lambda item: item.at)


MESSAGE_TIMES = ("queued_at", "sent_at", "delivered_at", "read_at", "failed_at")


def message_entry(message: CustomerMessage) -> TimelineEntry:
    """A message to the customer on the timeline: its channel and event (`title`), its text
    (`detail`), its status code, and the times it was queued, sent, delivered, read or failed
    (`times`, by their field names without `_at`)."""
    times = tuple(
        (name.removesuffix("_at"), getattr(message, name))
        for name in MESSAGE_TIMES
        if getattr(message, name) is not None
    )
    return TimelineEntry(
        at=message.created_at, kind="message", actor=_name(None),
        title=f"{message.get_channel_display()} · {message.get_event_display()}",
        detail=message.text, status=message.status, reason=message.reason,
        until=message.not_before, language=message.language, times=times,
    )  # fmt: skip


def adapter_calls(ticket: Ticket) -> QuerySet[AdapterCall]:
    return AdapterCall.objects.of_ticket(ticket).order_by("created_at", "pk")


def open_escalations() -> QuerySet[Escalation]:
    return (
        Escalation.objects.filter(status="open")
        .select_related("ticket__service__customer", "raised_by", "support_assignee")
        .order_by("due_at", "raised_at")
    )


# --- Notifications ----------------------------------------------------------------------------
def notifications_of(user) -> QuerySet[Notification]:
    """A user's own notifications (SLA warnings, escalations, tickets given to them), newest
    first: the list page, the toasts and the unread badge read these, nobody else's."""
    if not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    return Notification.objects.filter(user=user).select_related("ticket")


def unread_notification_count(user) -> int:
    # Counted on the (user, read_at, -created_at) index, on every console page (the badge).
    return notifications_of(user).filter(read_at__isnull=True).count()


# --- Gamas recovery progress ------------------------------------------------------------------
@dataclass(frozen=True)
class RecoveryProgress:
    """An incident's children: how many moved on after the recovery (`done`) of `total`, and
    how many are in each state (`counts`). Before the recovery nothing has moved on."""

    done: int
    total: int
    waiting: int
    counts: dict[str, int]
    recovering: bool  # the incident is recovered or closed: its fan-out moves the children

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def recovery_progress(user, incident: GamasIncident) -> RecoveryProgress:
    """The children of `incident` the user may see, counted by state; those no longer in a state
    that waits for the recovery (`services.gamas.waiting_for_recovery_states`) are done."""
    from .services.gamas import waiting_for_recovery_states

    counts = state_counts(queue_queryset(user).filter(gamas_incident=incident))
    total = sum(counts.values())
    waits = waiting_for_recovery_states()
    waiting = sum(count for state, count in counts.items() if state in waits)
    recovering = incident.state != "open"
    return RecoveryProgress(
        done=total - waiting if recovering else 0,
        total=total,
        waiting=waiting,
        counts=counts,
        recovering=recovering,
    )


# --- The live console: who may watch what -------------------------------------------------------
LIVE_TOPICS_MAX = 20  # topics one tab may watch at once


@dataclass(frozen=True)
class LiveWatch:
    """What a console tab may watch of the topics it asked for: the channel-layer groups of each
    topic granted, the topics refused, and for each ticket granted the groups its presence is
    told to (those of its messages: its own, its queue's, all queues)."""

    groups: dict[str, tuple[str, ...]]
    refused: list[str]
    presence: dict[int, tuple[str, ...]]


def live_watch(user, topics) -> LiveWatch:
    """The one rule of what a console tab may watch (docs/live.md, "Protocol"):

    - `queue`: an agent hears of the queues they work, one group per flow at their own site (C4
      Caring at the Malang site only: `services.queue_flows_of`); supervisors, Support and
      admins of every queue;
    - `ticket:<id>`: a ticket the user may open in the console (`ticket_for`);
    - `incident:<id>`, `incidents`: incident managers (supervisors, Support, admins);
    - `dashboard`: supervisors and admins.

    Anything else, or past `LIVE_TOPICS_MAX`, is refused."""
    from .flows.gamas import incident_managers
    from .services import live

    groups: dict[str, tuple[str, ...]] = {}
    refused: list[str] = []
    presence: dict[int, tuple[str, ...]] = {}
    for index, topic in enumerate(dict.fromkeys(str(item)[:64] for item in topics)):
        found: tuple[str, ...] = ()
        name, _colon, key = topic.partition(":")
        key = key if key.isascii() and key.isdigit() and len(key) < 12 else ""
        if index >= LIVE_TOPICS_MAX:
            pass
        elif topic == "queue":
            if roles.sees_every_ticket(user):
                found = (live.ALL_QUEUES,)
            elif roles.is_agent(user) and (site := roles.site_code_of(user)):
                found = tuple(live.queue_group(site, flow) for flow in agent_flows(user))
        elif name == "ticket" and key:
            try:
                ticket = ticket_for(user, int(key))
            except (Ticket.DoesNotExist, TransitionForbidden):
                pass
            else:
                found = (live.ticket_group(ticket.pk),)
                presence[ticket.pk] = live.ticket_groups(ticket.pk, ticket.site.code, ticket.flow)
        elif topic == "incidents" and incident_managers(None, user):
            found = (live.INCIDENTS,)
        elif name == "incident" and key and incident_managers(None, user):
            found = (live.incident_group(int(key)),)
        elif topic == "dashboard" and roles.is_supervisor(user):
            found = (live.DASHBOARD,)
        if found:
            groups[topic] = found
        else:
            refused.append(topic)
    return LiveWatch(groups=groups, refused=refused, presence=presence)


# --- Dispatch: agents and their load ------------------------------------------------------------
def agents_with_load() -> QuerySet:
    """Active agents' profiles with `held` (open tickets they hold) and `offers_waiting`
    (dispatch's offers waiting for their answer), by site and user name."""
    return (
        roles.agent_profiles()
        .select_related("user", "site")
        .with_load()
        .order_by("site__code", "user__username")
    )

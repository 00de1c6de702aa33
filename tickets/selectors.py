"""Reads for the queues, the ticket workspace and the API (the write side is `services`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _

from integrations.models import AdapterCall

from . import roles
from .exceptions import TransitionForbidden
from .flows import FlowTicket, as_flow
from .models import (
    ContactAttempt,
    Customer,
    Escalation,
    Flow,
    Note,
    Service,
    Ticket,
    TransitionLog,
)


def visible_tickets(user) -> QuerySet[Ticket]:
    """Tickets a user may see: agents their flows at their site; other roles everything."""
    queryset = Ticket.objects.all()
    if roles.sees_every_ticket(user):
        return queryset
    profile = roles.profile_of(user)
    if roles.is_system(user):
        return roles.system_scope(user, queryset)
    if not roles.is_agent(user) or profile is None or profile.site_id is None:
        return queryset.none()
    return queryset.filter(site_id=profile.site_id, flow__in=agent_flows(user))


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
    from .services import queue_flows_of

    return queue_flows_of(user)


def queue_queryset(user) -> QuerySet[Ticket]:
    return visible_tickets(user).select_related("service__customer", "site", "assignee")


def state_counts(queryset: QuerySet[Ticket]) -> dict[str, int]:
    # COUNT(*) rather than COUNT(id): PostgreSQL can then count from the index alone.
    rows = queryset.order_by().values_list("state").annotate(total=Count("*"))
    return dict(rows)


def ticket_for(user, ticket_id: int) -> FlowTicket:
    """The ticket with its machine, if the user may open it; raises Ticket.DoesNotExist or
    TransitionForbidden (an agent opening a ticket outside their flows or site, or a system
    client: those read tickets through the TMF621 API, they do not work them in the console)."""
    if roles.is_system(user) and not (roles.sees_every_ticket(user) or roles.is_agent(user)):
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
    kind: str  # transition | note | contact | escalation | answer | call
    actor: str
    title: str
    detail: str = ""
    status: str = ""
    call_id: int | None = None


def _name(user) -> str:
    return user.get_username() if user else "sistem"


def timeline(ticket: Ticket) -> list[TimelineEntry]:
    """Everything that happened to the ticket, oldest first, from the append-only records."""
    entry = TimelineEntry
    entries: list[TimelineEntry] = [
        entry(at=row.at, kind="transition", actor=_name(row.actor), title=row.transition,
              detail=row.note, status=f"{row.from_state or '∅'} → {row.to_state}")
        for row in TransitionLog.objects.filter(ticket=ticket).select_related("actor")
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
        for call in AdapterCall.objects.filter(ticket=ticket)
    ]  # fmt: skip
    return sorted(entries, key=lambda item: item.at)


def adapter_calls(ticket: Ticket) -> QuerySet[AdapterCall]:
    return AdapterCall.objects.filter(ticket=ticket).order_by("created_at", "pk")


def open_escalations() -> QuerySet[Escalation]:
    return (
        Escalation.objects.filter(status="open")
        .select_related("ticket__service__customer", "raised_by", "support_assignee")
        .order_by("due_at", "raised_at")
    )

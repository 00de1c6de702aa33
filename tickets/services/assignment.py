"""Assignment: who holds a ticket. Claiming (one agent only), next ticket, release, reassign."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import metrics, roles
from ..exceptions import (
    InvalidInput,
    NoTicketAvailable,
    TicketAlreadyClaimed,
    TransitionForbidden,
    TransitionNotAllowed,
)
from ..flows import FlowTicket, as_flow
from ..models import DispatchMode, Offer, OfferStatus, Ticket, running_deadline
from . import events, live
from .engine import WORKFLOW_FIELDS, apply_transition, locked_ticket, log_entry, routed, save_row

REASSIGNED = "ticket_reassigned"  # the notification of the agent a supervisor gave a ticket to


def push_only() -> str:
    return _("Tickets at your site are offered to agents: wait for an offer.")


def take(ticket: FlowTicket, agent, *, actor=None, note: str = "") -> FlowTicket:
    """Give the ticket to `agent` (the caller holds its lock); `actor` is the supervisor when it
    is an assignment. An offer waiting for `agent` is accepted, any other withdrawn."""
    previous = ticket.assignee_id
    if ticket.offered_to_id is not None or ticket.pinned_to_id is not None:
        _settle_offers(ticket, agent)
    ticket.assignee = agent
    ticket.claimed_at = timezone.now()
    if actor is None and hasattr(type(ticket), "claim") and ticket.state == "new":
        ticket = apply_transition(ticket, "claim", agent)
    else:
        ticket.refresh_queue_flag()
        save_row(ticket, WORKFLOW_FIELDS)
        entry = log_entry(
            ticket=ticket, actor=actor or agent, name="reassign" if actor else "claim",
            from_state=ticket.state, to_state=ticket.state, note=note,
            data={"assignee": agent.pk, "previous_assignee": previous},
        )  # fmt: skip
        events.ticket_changed(ticket, kind=events.ASSIGNEE, entry=entry)
        if actor is not None and previous != agent.pk and actor.pk != agent.pk:
            live.notify(
                user_id=agent.pk,
                ticket=ticket,
                kind=REASSIGNED,
                message=_("%(who)s assigned you %(number)s.")
                % {"who": actor.get_username(), "number": ticket.number},
            )
    if actor is None:  # the agent took it (claim, next ticket); a supervisor's is a reassign
        metrics.ticket_claimed(ticket)
    return ticket


@routed("claim")
def _claim_step(*, ticket_id: int, actor, inputs: dict, expected_state=None) -> FlowTicket:
    return claim_ticket(ticket_id=ticket_id, agent=actor, expected_state=expected_state)


def claim_ticket(*, ticket_id: int, agent, expected_state: str | None = None) -> FlowTicket:
    """The agent takes this ticket. One agent only: a second one gets TicketAlreadyClaimed."""
    with transaction.atomic():
        ticket = locked_ticket(ticket_id, expected_state)
        if agent is None or not roles.is_agent(agent):
            raise TransitionForbidden(_("Only agents take tickets."))
        if ticket.assignee_id not in (None, agent.pk):
            raise TicketAlreadyClaimed(assignee=ticket.assignee.get_username())
        if not roles.may_work_ticket(agent, ticket):
            raise TransitionForbidden(_("This ticket is not in a queue you work."))
        if ticket.assignee_id is None and ticket.pinned_to_id not in (None, agent.pk):
            raise TransitionForbidden(_("A supervisor pinned this ticket to another agent."))
        if ticket.assignee_id is None and ticket.offered_to_id not in (None, agent.pk):
            raise TransitionNotAllowed(_("This ticket is offered to another agent."))
        if ticket.assignee_id is None and ticket.offered_to_id == agent.pk:
            return take(ticket, agent)  # taking it is accepting the offer
        if ticket.assignee_id is None and ticket.site.dispatch_mode == DispatchMode.PUSH:
            raise TransitionForbidden(push_only())
        if ticket.assignee_id is None and not ticket.awaiting_agent:
            raise TransitionNotAllowed(_("This ticket is not waiting for an agent."))
        takes_claim_step = ticket.state == "new" and hasattr(type(ticket), "claim")
        if ticket.assignee_id == agent.pk and not takes_claim_step:
            return ticket  # already theirs: taking it twice changes nothing
        return take(ticket, agent)


def _settle_offers(ticket: FlowTicket, agent) -> None:
    """The ticket gets a holder: the offer waiting for `agent` is accepted, one waiting for
    anyone else is withdrawn, and the pin has done its work (the caller holds the lock)."""
    now = timezone.now()
    waiting = Offer.objects.filter(ticket=ticket, status=OfferStatus.PENDING)
    waiting.filter(agent=agent).update(status=OfferStatus.ACCEPTED, decided_at=now)
    waiting.exclude(agent=agent).update(
        status=OfferStatus.WITHDRAWN, decided_at=now, reason="given to another agent"
    )
    ticket.offered_to, ticket.pinned_to = None, None
    Ticket.objects.filter(pk=ticket.pk).update(offered_to=None, pinned_to=None)


def queue_flows_of(agent) -> list[str]:
    """The flows whose queues the agent takes tickets from (`roles.flows_worked_by`)."""
    return roles.flows_worked_by(agent)


def claim_next_ticket(*, agent) -> FlowTicket:
    """Take the most urgent unclaimed ticket of the agent's flows and site, atomically.

    Most urgent: the earliest running deadline (`models.running_deadline`: claim-by for a
    ticket waiting for its first agent, resolve-by for one back in the queue after a first
    claim, none while paused with Support, which comes last), then priority, then age; the
    partial index `ticket_next_in_queue` holds that order. On PostgreSQL concurrent callers
    skip each other's locked rows (FOR UPDATE SKIP LOCKED), so none waits or collides.
    """
    if not roles.is_agent(agent):
        raise TransitionForbidden(_("Only agents take tickets from the queues."))
    flows = queue_flows_of(agent)
    if not flows:
        raise NoTicketAvailable(_("You have no queues: ask a supervisor to assign you flows."))
    if agent.profile.site.dispatch_mode == DispatchMode.PUSH:
        raise NoTicketAvailable(push_only())
    with transaction.atomic():
        ticket = (
            Ticket.objects.select_for_update(skip_locked=True)
            .filter(awaiting_agent=True, site_id=agent.profile.site_id, flow__in=flows)
            .filter(Q(pinned_to__isnull=True) | Q(pinned_to=agent))
            .alias(deadline=running_deadline())
            .order_by(F("deadline").asc(nulls_last=True), "priority", "created_at", "pk")
            .first()
        )
        if ticket is None:
            raise NoTicketAvailable()
        return take(as_flow(ticket), agent)


def release_ticket(*, ticket_id: int, supervisor, note: str = "") -> FlowTicket:
    """A supervisor takes a ticket away from its agent; it waits in the queue again."""
    if not roles.is_supervisor(supervisor):
        raise TransitionForbidden()
    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        if ticket.assignee_id is None or ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is not held by an agent."))
        previous = ticket.assignee_id
        ticket.assignee, ticket.claimed_at = None, None
        ticket.refresh_queue_flag()
        save_row(ticket)
        entry = log_entry(
            ticket=ticket, actor=supervisor, name="release", from_state=ticket.state,
            to_state=ticket.state, note=note, data={"previous_assignee": previous},
        )  # fmt: skip
        events.ticket_changed(ticket, kind=events.ASSIGNEE, entry=entry)
        return ticket


def reassign_ticket(*, ticket_id: int, supervisor, agent, note: str = "") -> FlowTicket:
    """A supervisor hands the ticket to another agent who works its flow and site."""
    if not roles.is_supervisor(supervisor):
        raise TransitionForbidden()
    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        if ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is closed."))
        if not roles.may_work_ticket(agent, ticket):
            raise InvalidInput({"agent": [_("This agent does not work this flow at this site.")]})
        return take(ticket, agent, actor=supervisor, note=note)

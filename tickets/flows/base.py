"""The shared vocabulary of the seven flow machines.

A flow is a proxy model of `Ticket` whose transitions are django-fsm methods on `state`. Each
transition is declared with `step(...)`, which records beside django-fsm's source, target,
permission and conditions what the console and the API need to offer it: a label, the inputs it
asks for, and the external calls it starts. The services in `tickets.services` are the only
callers of these methods; they validate inputs, write the log row and queue the calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import RETURN_VALUE, transition

from .. import roles
from ..models import ContactOutcome, Ticket

CLOSED = "closed"
ESCALATED = "escalated"


# --- Inputs, calls and conditions -----------------------------------------------------------
@dataclass(frozen=True)
class Input:
    """A value a transition asks the user for. `kind` tells the form which widget to use."""

    name: str
    label: str
    kind: str = "text"  # text | closing_code | choice | incident
    required: bool = True
    choices: tuple[tuple[str, str], ...] = ()


NOTE = Input("note", _("Note"), required=False)
REQUIRED_NOTE = Input("note", _("Note"))
REASON = Input("reason", _("Reason for escalation"))
ANSWER = Input("answer", _("Answer to the agent"))
INCIDENT = Input("incident", _("Gamas incident"), kind="incident")


def closing_code(*codes: tuple[str, str]) -> Input:
    """The closing-code input of one closing step: only the codes that fit the way it closes.

    The machine's `closing_codes` stays the union of these (it labels a closed ticket's code).
    """
    return Input("closing_code", _("Closing code"), kind="closing_code", choices=tuple(codes))


def closing_code_choices(spec: Input, machine) -> list[tuple[str, str]]:
    """What a closing-code input offers: the transition's own codes (the machine's list for an
    input that declares none), as the services accept them."""
    return list(spec.choices or getattr(machine, "closing_codes", ()))


@dataclass(frozen=True)
class Call:
    """An operation of an external application that a transition starts (see integrations).

    `when`, if given, decides from the ticket (after the transition) whether the call is made.
    """

    app: str
    operation: str
    when: Callable | None = None

    def applies_to(self, ticket) -> bool:
        return self.when is None or bool(self.when(ticket))


def condition(message: str) -> Callable:
    """Mark a condition function with the message shown when it is not met."""

    def decorate(func: Callable) -> Callable:
        func.message = message
        return func

    return decorate


@condition(_("The customer has not been reached yet: record an answered call first."))
def customer_reached(ticket: Ticket) -> bool:
    """The last recorded call was answered, and it was made in the current step.

    Evidence belongs to the step: a call counts only if it was made since the ticket entered the
    state it is in (`state_changed_at`), which is the state every guarded transition leaves, the
    one whose SOP step is "call the customer" (contacting, verifying). An answered call from
    before a re-diagnosis, a return from Support or any other move does not let it close.
    A row that has not changed state since `state_changed_at` was added (None) counts any answered
    call recorded since then (`last_answered_at` is set only by calls recorded after it).
    """
    answered_at = ticket.last_answered_at
    if ticket.last_contact_outcome != ContactOutcome.ANSWERED or answered_at is None:
        return False
    return ticket.state_changed_at is None or answered_at >= ticket.state_changed_at


@condition(_("Not enough failed contact attempts yet to give up on the customer."))
def attempts_exhausted(ticket: Ticket) -> bool:
    return ticket.failed_attempts >= settings.TIER2_MAX_CONTACT_ATTEMPTS


@condition(_("Ibooster does not show the service online (or has not been checked yet)."))
def service_online(ticket: Ticket) -> bool:
    return (ticket.facts.get("ibooster") or {}).get("status") == "online"


@condition(_("Ibooster shows the service online; close it instead of escalating."))
def service_not_online(ticket: Ticket) -> bool:
    status = (ticket.facts.get("ibooster") or {}).get("status")
    return status is not None and status != "online"


# --- Permissions: callables (ticket, user) -> bool, as django-fsm expects ----------------------
def may_claim(ticket: Ticket, user) -> bool:
    return user is not None and roles.may_work_ticket(user, ticket)


def assigned_agent(ticket: Ticket, user) -> bool:
    """The agent holding the ticket, still allowed to work its flow at its site."""
    return (
        user is not None and ticket.assignee_id == user.pk and roles.may_work_ticket(user, ticket)
    )


def support_desk(ticket: Ticket, user) -> bool:
    return user is not None and roles.is_support(user)


def system(ticket: Ticket, user) -> bool:
    """Background jobs act with no user."""
    return user is None


def agent_or_system(ticket: Ticket, user) -> bool:
    return system(ticket, user) or assigned_agent(ticket, user)


assigned_agent.label = _("assigned agent")
may_claim.label = _("agent of the flow and site")
support_desk.label = _("Support")
system.label = _("system")
agent_or_system.label = _("assigned agent or system")


def step(
    *,
    source: str | Iterable[str],
    target,
    label: str,
    permission: Callable = assigned_agent,
    inputs: Iterable[Input] = (),
    conditions: Iterable[Callable] = (),
    calls: Iterable[Call] = (),
):
    """Declare a transition of a flow machine (a django-fsm `transition` with our metadata)."""
    sources = [source] if isinstance(source, str) else list(source)
    return transition(
        field="state",
        source=sources,
        target=target,
        permission=permission,
        conditions=list(conditions),
        custom={"label": label, "inputs": tuple(inputs), "calls": tuple(calls)},
    )


@dataclass(frozen=True)
class State:
    label: str
    sop_step: str  # what the agent does in this state, in one sentence


ESCALATED_STATE = State(_("Escalated to Support"), _("Support is looking at the ticket."))


def take_step(calls: Iterable[Call] = ()):
    """`new -> claimed`: the agent takes the ticket (run only by `services.claim_ticket`)."""

    @step(source="new", target="claimed", label=_("Take"), permission=may_claim, calls=calls)
    def claim(self, **inputs):
        pass

    return claim


def unreachable_step():
    """`contacting -> unreachable` once the policy's number of calls has failed."""

    @step(
        source="contacting",
        target="unreachable",
        label=_("Customer unreachable"),
        inputs=(NOTE,),
        conditions=(attempts_exhausted,),
    )
    def mark_unreachable(self, **inputs):
        pass

    return mark_unreachable


def closing_step(
    codes_by_source: dict[str, Iterable[tuple[str, str]]],
    *,
    label: str = _("Close"),
    conditions: Iterable[Callable] = (),
    calls: Iterable[Call] = (),
):
    """`source -> closed` for each source state, each accepting only its own closing codes.

    One django-fsm transition (one name) with one `Transition` per source state, so the console
    and the API offer, and the services accept, the codes that fit the state the ticket is in.
    """

    conditions, calls = tuple(conditions), tuple(calls)

    def decorate(func):
        for source, codes in codes_by_source.items():
            func = step(
                source=source,
                target=CLOSED,
                label=label,
                inputs=(closing_code(*codes), NOTE),
                conditions=conditions,
                calls=calls,
            )(func)
        return func

    return decorate


def close_unreachable_step(code: tuple[str, str], calls: Iterable[Call] = ()):
    """`verifying -> closed` for a customer who cannot be reached while the line is online.

    It accepts one closing code: the flow's "unreachable, service online" code.
    """

    @step(
        source="verifying",
        target=CLOSED,
        label=_("Unreachable, service online: close"),
        inputs=(closing_code(code), NOTE),
        conditions=(attempts_exhausted, service_online),
        calls=calls,
    )
    def close_unreachable(self, **inputs):
        self.mark_closed(inputs["closing_code"])

    return close_unreachable


def escalation_steps(working_states: Iterable[str]):
    """The two transitions every flow shares: escalate to Support, and Support's answer.

    The answer sends the ticket back to the state it was escalated from.
    """
    working = tuple(working_states)

    @step(
        source=working,
        target=ESCALATED,
        label=_("Escalate to Support"),
        inputs=(REASON,),
        calls=(Call("sephia", "internal_escalation"),),
    )
    def escalate(self, **inputs):
        self.escalated_from = self.state

    @step(
        source=ESCALATED,
        target=RETURN_VALUE(*working),
        label=_("Answer and return to the agent"),
        permission=support_desk,
        inputs=(ANSWER,),
    )
    def answer_escalation(self, **inputs):
        back, self.escalated_from = self.escalated_from, ""
        return back

    return escalate, answer_escalation


class FlowTicketManager(models.Manager):
    def get_queryset(self):
        queryset = super().get_queryset()
        flow = getattr(self.model, "flow_code", None)
        return queryset.filter(flow=flow) if flow else queryset


class FlowTicket(Ticket):
    """Base of the per-flow proxies: the machine's states and what the services ask of it."""

    flow_code: ClassVar[str] = ""
    states: ClassVar[dict[str, State]] = {}
    # States in which an unassigned ticket does not wait for an agent (ends, or waits on others).
    unqueued_states: ClassVar[frozenset[str]] = frozenset({CLOSED})
    closing_codes: ClassVar[tuple[tuple[str, str], ...]] = ()

    objects = FlowTicketManager()

    class Meta:
        proxy = True

    # -- what the services read --
    def state_info(self) -> State:
        return self.states[self.state]

    def refresh_queue_flag(self) -> None:
        self.awaiting_agent = (
            self.assignee_id is None
            and self.offered_to_id is None  # reserved for the agent dispatch offered it to
            and self.state not in self.unqueued_states
        )

    def mark_closed(self, closing_code: str) -> None:
        self.closing_code = closing_code
        self.closed_at = timezone.now()

"""Support escalations: raising one (the flows' `escalate` step), taking or handing it over,
and Support's answer, the one path that returns a ticket to its agent.

An escalation is a ticket handed to Support with a reason. Support ends it one of two ways, both
through the flow machine's `answer_escalation` transition:

- *answer*: Support tells the agent what they found; the ticket goes back to the agent, in the
  state it was escalated from.
- *resolve*: Support fixed the customer's problem themselves; the answer is recorded the same
  way plus a note saying so. The ticket still goes back to its agent, who confirms with the
  customer and closes it (closing codes and the contact rules belong to the agent's flow).

Wherever the answer is given (the desk, the workspace's action button, the API's transition
endpoint) it comes here (`routed("answer_escalation")`): the escalation row is answered, the SLA
clock resumes, and the agent is notified, every time. While the ticket is with Support its
resolve clock is paused (`deadlines.pause_clock`).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import roles, sla
from ..exceptions import InvalidInput, TransitionForbidden, TransitionNotAllowed
from ..models import Escalation, EscalationStatus, Note, Ticket, TransitionLog
from . import live
from .deadlines import pause_clock, resume_clock
from .engine import TEXT_INPUT_MAX, after_transition, apply_transition, locked_ticket, routed

ANSWER_MAX = TEXT_INPUT_MAX
RESOLVED = "resolve_escalation"  # the timeline row that marks an answer as Support's fix


def _locked_open_escalation(escalation_id, *, lock_ticket: bool = False) -> Escalation:
    """The escalation row, locked, if it still waits for Support; else a domain error.

    With `lock_ticket`, its ticket is locked first: the services lock ticket then escalation
    (`_close_escalation` runs inside the answer): the same order everywhere cannot deadlock.
    """
    ticket_id = (
        Escalation.objects.filter(pk=_as_id(escalation_id))
        .values_list("ticket_id", flat=True)
        .first()
    )
    if ticket_id is None:
        raise TransitionNotAllowed(_("No such escalation."))
    if lock_ticket:
        list(Ticket.objects.select_for_update().filter(pk=ticket_id).values_list("pk"))
    escalation = (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("ticket")
        .get(pk=escalation_id)
    )
    if escalation.status != EscalationStatus.OPEN:
        raise TransitionNotAllowed(
            _("This escalation has already been answered."), current_status=escalation.status
        )
    return escalation


def _as_id(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as wrong:
        raise TransitionNotAllowed(_("No such escalation.")) from wrong


def _clean_answer(answer: str, field: str = "answer") -> str:
    answer = (answer or "").strip()
    if not answer:
        raise InvalidInput({field: [_("This field is required.")]})
    if len(answer) > ANSWER_MAX:
        raise InvalidInput({field: [_("Keep it under %(max)d characters.") % {"max": ANSWER_MAX}]})
    return answer


def assign_escalation(*, escalation_id: int, support_user, actor) -> Escalation:
    """Give an open escalation to `support_user` (a Support user taking it, or handing it on).

    `actor` must be Support or a supervisor; `support_user` must be an active Support user.
    """
    if not (roles.is_support(actor) or roles.is_supervisor(actor)):
        raise TransitionForbidden(_("Only Support or a supervisor hands escalations over."))
    if support_user is None or not roles.is_support(support_user):
        raise InvalidInput({"support_user": [_("Choose a Support user.")]})
    with transaction.atomic():
        escalation = _locked_open_escalation(escalation_id)
        previous = escalation.support_assignee_id
        if previous == support_user.pk:
            return escalation  # already theirs: handing it over twice changes nothing
        escalation.support_assignee = support_user
        escalation.save(update_fields=["support_assignee"])
        ticket = escalation.ticket
        TransitionLog.objects.create(
            ticket=ticket,
            actor=actor,
            transition="assign_escalation",
            from_state=ticket.state,
            to_state=ticket.state,
            data={
                "escalation": escalation.pk,
                "support_assignee": support_user.pk,
                "previous_support_assignee": previous,
            },
        )
        if support_user.pk != actor.pk:
            live.notify(
                user_id=support_user.pk,
                ticket=ticket,
                kind="escalation_assigned",
                message=_("%(who)s handed you the escalation of %(number)s.")
                % {"who": actor.get_username(), "number": ticket.number},
            )
        return escalation


def answer_escalation(*, escalation_id: int, actor, answer: str) -> Escalation:
    """Support answers: the ticket goes back to its agent in the state it came from."""
    return _answer(escalation_id=escalation_id, actor=actor, answer=answer, resolved=False)


def resolve_escalation(*, escalation_id: int, actor, answer: str) -> Escalation:
    """Support solved the customer's problem: answer the escalation and record that Support
    resolved it. The ticket returns to its agent to confirm with the customer and close."""
    return _answer(escalation_id=escalation_id, actor=actor, answer=answer, resolved=True)


@routed("answer_escalation")
def _answer_from_ticket(*, ticket_id, actor, inputs: dict, expected_state=None):
    """The workspace's or the API's "answer" action on a ticket: the same path as the desk."""
    escalation_id = (
        Escalation.objects.filter(ticket_id=ticket_id, status=EscalationStatus.OPEN)
        .values_list("pk", flat=True)
        .first()
    )
    return _answer(
        escalation_id=escalation_id,
        ticket_id=ticket_id,
        actor=actor,
        answer=(inputs or {}).get("answer", ""),
        resolved=False,
        expected_state=expected_state,
    ).ticket


def _answer(
    *, escalation_id, actor, answer: str, resolved: bool, ticket_id=None, expected_state=None
) -> Escalation:
    if not roles.is_support(actor):
        raise TransitionForbidden(_("Only Support answers escalations."))
    answer = _clean_answer(answer)
    with transaction.atomic():
        if escalation_id is None:  # a ticket escalated with no escalation row (older data)
            ticket = locked_ticket(ticket_id, expected_state)
            escalation = None
        else:
            escalation = _locked_open_escalation(escalation_id, lock_ticket=True)
            ticket = locked_ticket(escalation.ticket_id, expected_state)
        apply_transition(ticket, "answer_escalation", actor, {"answer": answer})
        if escalation is not None:
            escalation.refresh_from_db()
            escalation.ticket = ticket
        if resolved:
            Note.objects.create(
                ticket=ticket,
                author=actor,
                text=_("Resolved by Support: %(answer)s") % {"answer": answer},
            )
            TransitionLog.objects.create(
                ticket=ticket,
                actor=actor,
                transition=RESOLVED,
                from_state=ticket.state,
                to_state=ticket.state,
                data={"escalation": escalation.pk if escalation else None},
            )
            message = _("Support resolved %(number)s: confirm with the customer and close it.")
        else:
            message = _("Support answered the escalation of %(number)s.")
        if ticket.assignee_id is not None:
            live.notify(
                user_id=ticket.assignee_id,
                ticket=ticket,
                kind="escalation_resolved" if resolved else "escalation_answered",
                message=message % {"number": ticket.number},
            )
        if escalation is None:
            escalation = Escalation(ticket=ticket, status=EscalationStatus.ANSWERED)
        return escalation


@after_transition("escalate")
def _open_escalation(ticket, actor, inputs, from_state) -> None:
    """The flows' `escalate` step opens the escalation and pauses the resolve clock."""
    now = timezone.now()
    Escalation.objects.create(
        ticket=ticket,
        raised_by=actor,
        raised_at=now,
        reason=inputs["reason"],
        from_state=from_state,
        due_at=sla.escalation_due(ticket.flow, ticket.priority, now, site_id=ticket.site_id),
    )
    pause_clock(ticket, now)


@after_transition("answer_escalation")
def _close_escalation(ticket, actor, inputs, from_state) -> None:
    """Support's answer closes the open escalation and resumes the clock."""
    now = timezone.now()
    escalation = (
        Escalation.objects.select_for_update()
        .filter(ticket=ticket, status=EscalationStatus.OPEN)
        .first()
    )
    if escalation is not None:
        escalation.status = EscalationStatus.ANSWERED
        escalation.answered_by, escalation.answered_at = actor, now
        escalation.answer = inputs["answer"]
        escalation.save(update_fields=["status", "answered_by", "answered_at", "answer"])
    resume_clock(ticket, actor=actor, at=now, since=escalation.raised_at if escalation else None)


def resolved_by_support(escalation: Escalation) -> bool:
    """Whether Support resolved this (answered) escalation themselves."""
    return TransitionLog.objects.filter(
        ticket_id=escalation.ticket_id, transition=RESOLVED, data__escalation=escalation.pk
    ).exists()

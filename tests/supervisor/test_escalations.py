"""The escalation desk's writes: take / hand over, answer, resolve (services.escalations)."""

from datetime import timedelta

import pytest

from tests import factories
from tests.supervisor.conftest import escalated_ticket
from tickets import services
from tickets.exceptions import InvalidInput, TransitionForbidden, TransitionNotAllowed
from tickets.models import Escalation, EscalationStatus, Note, Notification, Ticket, TransitionLog

pytestmark = pytest.mark.django_db


def reload(escalation) -> Escalation:
    return Escalation.objects.select_related("ticket").get(pk=escalation.pk)


# --- Hand over ---------------------------------------------------------------------------------
def test_support_user_takes_an_escalation_for_themselves(escalation, support_user):
    services.assign_escalation(
        escalation_id=escalation.pk, support_user=support_user, actor=support_user
    )
    assert reload(escalation).support_assignee == support_user
    log = TransitionLog.objects.get(ticket=escalation.ticket, transition="assign_escalation")
    assert log.actor == support_user
    assert log.data["support_assignee"] == support_user.pk
    assert log.from_state == log.to_state == "escalated"


def test_support_hands_an_escalation_to_a_colleague_who_is_notified(
    escalation, support_user, other_support
):
    services.assign_escalation(
        escalation_id=escalation.pk, support_user=support_user, actor=support_user
    )
    services.assign_escalation(
        escalation_id=escalation.pk, support_user=other_support, actor=support_user
    )
    assert reload(escalation).support_assignee == other_support
    note = Notification.objects.get(user=other_support, kind="escalation_assigned")
    assert escalation.ticket.number in note.message
    last = TransitionLog.objects.filter(transition="assign_escalation").order_by("pk").last()
    assert last.data["previous_support_assignee"] == support_user.pk


def test_a_supervisor_may_hand_an_escalation_to_support(escalation, supervisor, support_user):
    services.assign_escalation(
        escalation_id=escalation.pk, support_user=support_user, actor=supervisor
    )
    assert reload(escalation).support_assignee == support_user


def test_an_agent_cannot_hand_escalations_over(escalation, agent, support_user):
    with pytest.raises(TransitionForbidden):
        services.assign_escalation(
            escalation_id=escalation.pk, support_user=support_user, actor=agent
        )
    assert reload(escalation).support_assignee is None


def test_an_escalation_goes_only_to_a_support_user(escalation, support_user, supervisor):
    with pytest.raises(InvalidInput) as refused:
        services.assign_escalation(
            escalation_id=escalation.pk, support_user=supervisor, actor=support_user
        )
    assert "support_user" in refused.value.errors
    assert reload(escalation).support_assignee is None


def test_an_answered_escalation_cannot_be_handed_over(escalation, support_user, other_support):
    services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="OK")
    with pytest.raises(TransitionNotAllowed):
        services.assign_escalation(
            escalation_id=escalation.pk, support_user=other_support, actor=support_user
        )


def test_handing_over_an_unknown_escalation_is_refused(support_user):
    with pytest.raises(TransitionNotAllowed):
        services.assign_escalation(
            escalation_id=999999, support_user=support_user, actor=support_user
        )


def test_taking_an_escalation_twice_logs_it_once(escalation, support_user):
    for _ in range(2):
        services.assign_escalation(
            escalation_id=escalation.pk, support_user=support_user, actor=support_user
        )
    assert TransitionLog.objects.filter(transition="assign_escalation").count() == 1


# --- Answer ------------------------------------------------------------------------------------
def test_answer_returns_the_ticket_to_its_agent_in_the_state_it_came_from(
    escalation, support_user, agent
):
    services.answer_escalation(
        escalation_id=escalation.pk, actor=support_user, answer="OLT normal, cek ONT pelanggan"
    )
    answered = reload(escalation)
    assert answered.status == EscalationStatus.ANSWERED
    assert answered.answered_by == support_user
    assert answered.answer == "OLT normal, cek ONT pelanggan"
    ticket = factories.reload(answered.ticket)
    assert ticket.state == "diagnosing"
    assert ticket.assignee == agent
    assert Notification.objects.filter(user=agent, kind="escalation_answered").exists()
    assert not services.resolved_by_support(answered)
    assert factories.replay_log(ticket)[-2:] == ["escalated", "diagnosing"]


def test_only_support_answers(escalation, supervisor, agent):
    for person in (supervisor, agent):
        with pytest.raises(TransitionForbidden):
            services.answer_escalation(escalation_id=escalation.pk, actor=person, answer="x")
    assert reload(escalation).status == EscalationStatus.OPEN


def test_an_empty_answer_is_refused_and_nothing_changes(escalation, support_user):
    with pytest.raises(InvalidInput) as refused:
        services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="  ")
    assert "answer" in refused.value.errors
    assert reload(escalation).status == EscalationStatus.OPEN
    assert factories.reload(escalation.ticket).state == "escalated"


def test_an_escalation_is_answered_once(escalation, support_user, other_support):
    services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="A")
    with pytest.raises(TransitionNotAllowed):
        services.answer_escalation(escalation_id=escalation.pk, actor=other_support, answer="B")
    assert reload(escalation).answer == "A"


def test_answer_pauses_the_ticket_sla_for_the_time_with_support(escalation, support_user):
    before = factories.reload(escalation.ticket).resolve_by
    Escalation.objects.filter(pk=escalation.pk).update(
        raised_at=escalation.raised_at - timedelta(minutes=30)
    )
    Ticket.objects.filter(pk=escalation.ticket_id).update(
        sla_paused_at=escalation.raised_at - timedelta(minutes=30)
    )
    services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="OK")
    ticket = factories.reload(escalation.ticket)
    assert ticket.sla_paused_seconds >= 30 * 60
    assert ticket.resolve_by > before


# --- Resolve -----------------------------------------------------------------------------------
def test_resolve_answers_records_support_fixed_it_and_returns_to_the_agent(
    escalation, support_user, agent
):
    services.resolve_escalation(
        escalation_id=escalation.pk, actor=support_user, answer="Port OLT di-reset, ONT online"
    )
    answered = reload(escalation)
    assert answered.status == EscalationStatus.ANSWERED
    assert answered.answer == "Port OLT di-reset, ONT online"
    assert services.resolved_by_support(answered)
    note = Note.objects.get(ticket=answered.ticket)
    assert note.author == support_user
    assert note.text == "Resolved by Support: Port OLT di-reset, ONT online"
    ticket = factories.reload(answered.ticket)
    assert ticket.state == "diagnosing"  # the agent confirms with the customer and closes
    assert ticket.closed_at is None
    assert ticket.assignee == agent
    assert Notification.objects.filter(user=agent, kind="escalation_resolved").exists()
    assert factories.replay_log(ticket)[-3:] == ["escalated", "diagnosing", "diagnosing"]


def test_after_support_resolves_the_agent_can_close_the_ticket(escalation, support_user, agent):
    services.resolve_escalation(escalation_id=escalation.pk, actor=support_user, answer="Fixed")
    ticket_id = escalation.ticket_id
    run = lambda name, **inputs: services.transition_ticket(  # noqa: E731
        ticket_id=ticket_id, name=name, actor=agent, inputs=inputs
    )
    run("apply_remote_fix", action="reboot")
    run("remote_fix_done")
    services.record_contact_attempt(ticket_id=ticket_id, agent=agent, outcome="answered")
    assert run("close", closing_code="FIXED_REMOTE").state == "closed"


def test_only_support_resolves_and_a_refusal_leaves_no_note(escalation, supervisor):
    with pytest.raises(TransitionForbidden):
        services.resolve_escalation(escalation_id=escalation.pk, actor=supervisor, answer="x")
    assert not Note.objects.exists()
    assert reload(escalation).status == EscalationStatus.OPEN


def test_resolving_an_answered_escalation_is_refused_without_a_note(escalation, support_user):
    services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="A")
    with pytest.raises(TransitionNotAllowed):
        services.resolve_escalation(escalation_id=escalation.pk, actor=support_user, answer="B")
    assert not Note.objects.exists()


def test_a_second_escalation_of_the_same_ticket_is_its_own(agent, support_user):
    ticket = escalated_ticket(agent)
    first = ticket.escalations.get()
    services.answer_escalation(escalation_id=first.pk, actor=support_user, answer="A")
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "Again"}
    )
    second = Escalation.objects.get(ticket=ticket, status=EscalationStatus.OPEN)
    services.resolve_escalation(escalation_id=second.pk, actor=support_user, answer="B")
    assert not services.resolved_by_support(reload(first))
    assert services.resolved_by_support(reload(second))


@pytest.mark.parametrize("path", ["desk", "ticket action"])
def test_supports_answer_has_one_path_wherever_it_is_given(path, agent, support_user):
    """The desk, the workspace's button and the API's transition endpoint (the last two call
    `transition_ticket`) all answer the escalation row, resume the clock and tell the agent."""
    ticket = escalated_ticket(agent)
    escalation = ticket.escalations.get()
    if path == "desk":
        services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="OK")
    else:
        services.transition_ticket(
            ticket_id=ticket.pk,
            name="answer_escalation",
            actor=support_user,
            inputs={"answer": "OK"},
        )
    escalation.refresh_from_db()
    assert (escalation.status, escalation.answer) == (EscalationStatus.ANSWERED, "OK")
    assert Ticket.objects.get(pk=ticket.pk).sla_paused_at is None
    told = Notification.objects.filter(user=agent, kind="escalation_answered", ticket=ticket)
    assert told.count() == 1


def test_an_agent_cannot_answer_their_own_escalation_through_the_ticket_action(agent):
    ticket = escalated_ticket(agent)
    with pytest.raises(TransitionForbidden):
        services.transition_ticket(
            ticket_id=ticket.pk, name="answer_escalation", actor=agent, inputs={"answer": "x"}
        )
    assert ticket.escalations.get().status == EscalationStatus.OPEN

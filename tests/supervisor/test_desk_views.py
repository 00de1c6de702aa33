"""The escalation desk pages: the list by deadline, one escalation with its evidence, and the
answer, resolve, take and hand-over forms."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import AdapterCall
from tests import factories
from tests.supervisor.conftest import block, escalated_ticket, messages_of, page, shown
from tickets import services
from tickets.models import Escalation, EscalationStatus, Note, Ticket

pytestmark = pytest.mark.django_db


def due_in(escalation, minutes: int):
    Escalation.objects.filter(pk=escalation.pk).update(
        due_at=timezone.now() + timedelta(minutes=minutes)
    )


# --- The list ----------------------------------------------------------------------------------
def test_desk_lists_waiting_escalations_by_their_deadline(support_client, agent):
    late = escalated_ticket(agent).escalations.get()
    soon = escalated_ticket(agent).escalations.get()
    later = escalated_ticket(agent).escalations.get()
    due_in(late, -10)
    due_in(soon, 5)
    due_in(later, 90)
    response = support_client.get(reverse("escalation_desk"))
    html = page(response)
    order = [row["escalation"].pk for row in response.context["rows"]]
    assert order == [late.pk, soon.pk, later.pk]
    assert html.index(f'data-escalation="{late.pk}"') < html.index(f'data-escalation="{soon.pk}"')
    assert 'class="sla-breached"' in html.split(f'data-escalation="{late.pk}"')[0][-80:]
    summary = response.context["summary"]
    assert (summary["waiting"], summary["overdue"], summary["unassigned"]) == (3, 1, 3)


def test_answered_escalations_leave_the_desk(support_client, escalation, support_user):
    services.answer_escalation(escalation_id=escalation.pk, actor=support_user, answer="OK")
    html = page(support_client.get(reverse("escalation_desk")))
    assert 'data-empty="desk"' in html


def test_desk_tabs_mine_unassigned_overdue(support_client, support_user, other_support, agent):
    mine = escalated_ticket(agent).escalations.get()
    theirs = escalated_ticket(agent).escalations.get()
    nobody = escalated_ticket(agent).escalations.get()
    services.assign_escalation(escalation_id=mine.pk, support_user=support_user, actor=support_user)
    services.assign_escalation(
        escalation_id=theirs.pk, support_user=other_support, actor=other_support
    )
    due_in(theirs, -1)

    def shown_ids(show):
        response = support_client.get(reverse("escalation_desk"), {"show": show})
        return {row["escalation"].pk for row in response.context["rows"]}

    assert shown_ids("mine") == {mine.pk}
    assert shown_ids("unassigned") == {nobody.pk}
    assert shown_ids("overdue") == {theirs.pk}
    assert shown_ids("all") == {mine.pk, theirs.pk, nobody.pk}
    assert shown_ids("nonsense") == {mine.pk, theirs.pk, nobody.pk}


def test_desk_shows_how_support_kept_its_answer_target(support_client, support_user, agent):
    in_time = escalated_ticket(agent).escalations.get()
    services.answer_escalation(escalation_id=in_time.pk, actor=support_user, answer="OK")
    late = escalated_ticket(agent).escalations.get()
    due_in(late, -30)  # past its target and still waiting
    due_in(in_time, -5)  # answered ten minutes ago, five minutes before its target
    Escalation.objects.filter(pk=in_time.pk).update(
        answered_at=timezone.now() - timedelta(minutes=10)
    )
    response = support_client.get(reverse("escalation_desk"))
    kept = response.context["summary"]["kept"]
    assert (kept["due"], kept["in_time"], kept["percent"]) == (2, 1, 50.0)
    assert shown(page(response), "kept") == "50.0 %"


def test_desk_query_count_does_not_grow_with_the_escalations(
    support_client, agent, django_assert_max_num_queries
):
    escalated_ticket(agent)
    with django_assert_max_num_queries(8):
        page(support_client.get(reverse("escalation_desk")))
    for _ in range(10):
        escalated_ticket(factories.agent(username=f"agent-{_}"))
    with django_assert_max_num_queries(8):
        response = support_client.get(reverse("escalation_desk"))
    assert len(response.context["rows"]) == 11


# --- One escalation: the evidence --------------------------------------------------------------
def test_escalation_page_shows_reason_checks_calls_and_notes(support_client, agent, support_user):
    ticket = escalated_ticket(agent)
    escalation = ticket.escalations.get()
    AdapterCall.objects.filter(ticket=ticket).update(
        status="succeeded", response={"status": "los", "rx_power": -40.0}
    )
    Ticket.objects.filter(pk=ticket.pk).update(state="diagnosing")
    services.record_contact_attempt(ticket_id=ticket.pk, agent=agent, outcome="no_answer")
    Ticket.objects.filter(pk=ticket.pk).update(state="escalated")
    services.add_note(ticket_id=ticket.pk, author=agent, text="Pelanggan minta teknisi besok")
    html = page(support_client.get(reverse("escalation", args=[escalation.pk])))
    assert "ONT LOS merah, cek OLT dari sisi Support" in html
    assert AdapterCall.objects.filter(ticket=ticket).exists()
    assert "rx_power" in html  # an external system's answer
    assert "No answer" in html  # the call attempt
    assert "Pelanggan minta teknisi besok" in html
    assert 'id="answer-form"' in html and 'id="resolve-form"' in html
    assert 'id="handover-form"' in html
    assert 'class="timeline"' in html  # the workspace's timeline, included


def test_escalation_page_query_count_is_bounded(
    support_client, escalation, django_assert_max_num_queries
):
    with django_assert_max_num_queries(22):
        page(support_client.get(reverse("escalation", args=[escalation.pk])))


def test_supervisors_read_the_desk_and_may_only_hand_over(supervisor_client, escalation):
    html = page(supervisor_client.get(reverse("escalation_desk")))
    assert "only Support answers and resolves" in html
    html = page(supervisor_client.get(reverse("escalation", args=[escalation.pk])))
    assert 'id="answer-form"' not in html and 'id="resolve-form"' not in html
    assert 'id="handover-form"' in html


def test_a_supervisor_cannot_answer_through_the_desk(supervisor_client, escalation):
    response = supervisor_client.post(
        reverse("escalation_answer", args=[escalation.pk]), {"answer-answer": "x"}, follow=True
    )
    assert "Only Support answers escalations." in messages_of(response)
    assert Escalation.objects.get(pk=escalation.pk).status == EscalationStatus.OPEN


@pytest.mark.parametrize("name", ["escalation_desk", "escalation"])
def test_agents_get_403_at_the_desk(client, agent, escalation, name):
    client.force_login(agent)
    args = [escalation.pk] if name == "escalation" else []
    response = client.get(reverse(name, args=args))
    assert response.status_code == 403
    assert "Only Support and supervisors" in response.content.decode()


def test_unknown_escalation_is_404(support_client):
    assert support_client.get(reverse("escalation", args=[999999])).status_code == 404


# --- Answer, resolve, take, hand over ----------------------------------------------------------
def test_support_answers_and_the_ticket_returns_to_the_agent(support_client, escalation, agent):
    response = support_client.post(
        reverse("escalation_answer", args=[escalation.pk]),
        {"answer-answer": "OLT normal; cek kabel drop"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("escalation_desk")
    number = escalation.ticket.number
    assert f"{number} answered; back with agent.pusat." in messages_of(response)
    ticket = Ticket.objects.get(pk=escalation.ticket_id)
    assert (ticket.state, ticket.assignee) == ("diagnosing", agent)
    assert Escalation.objects.get(pk=escalation.pk).answer == "OLT normal; cek kabel drop"


def test_an_empty_answer_comes_back_with_the_error_next_to_the_field(support_client, escalation):
    response = support_client.post(
        reverse("escalation_answer", args=[escalation.pk]), {"answer-answer": ""}
    )
    assert response.status_code == 422
    html = response.content.decode()
    form = block(html, "form", "id", "answer-form")
    assert "This field is required." in form
    assert '<details class="action with-form" open>' in html
    assert Escalation.objects.get(pk=escalation.pk).status == EscalationStatus.OPEN


def test_support_resolves_and_the_agent_is_told_to_confirm_and_close(support_client, escalation):
    response = support_client.post(
        reverse("escalation_resolve", args=[escalation.pk]),
        {"resolve-answer": "Port OLT di-reset"},
        follow=True,
    )
    number = escalation.ticket.number
    assert (
        f"{number} resolved by Support; back with agent.pusat to confirm and close."
        in messages_of(response)
    )
    assert Note.objects.get(ticket_id=escalation.ticket_id).text.startswith("Resolved by Support")
    html = page(support_client.get(reverse("escalation", args=[escalation.pk])))
    assert "resolved by Support" in shown(html, "status")


def test_answering_twice_from_a_stale_page_says_so(support_client, escalation, other_support):
    services.answer_escalation(escalation_id=escalation.pk, actor=other_support, answer="A")
    response = support_client.post(
        reverse("escalation_answer", args=[escalation.pk]), {"answer-answer": "B"}, follow=True
    )
    assert "This escalation has already been answered." in messages_of(response)
    assert Escalation.objects.get(pk=escalation.pk).answer == "A"


def test_support_takes_an_escalation(support_client, escalation, support_user):
    response = support_client.post(reverse("escalation_take", args=[escalation.pk]), follow=True)
    assert "The escalation is yours now." in messages_of(response)
    assert Escalation.objects.get(pk=escalation.pk).support_assignee == support_user


def test_support_hands_an_escalation_to_a_colleague(support_client, escalation, other_support):
    response = support_client.post(
        reverse("escalation_hand_over", args=[escalation.pk]),
        {"handover-support_user": other_support.pk},
        follow=True,
    )
    assert "Handed to support2." in messages_of(response)
    assert Escalation.objects.get(pk=escalation.pk).support_assignee == other_support


def test_hand_over_to_someone_not_in_support_is_refused_next_to_the_field(
    support_client, escalation, agent
):
    response = support_client.post(
        reverse("escalation_hand_over", args=[escalation.pk]),
        {"handover-support_user": agent.pk},
    )
    assert response.status_code == 422
    assert "Select a valid choice" in block(
        response.content.decode(), "form", "id", "handover-form"
    )
    assert Escalation.objects.get(pk=escalation.pk).support_assignee is None


def test_desk_writes_need_post(support_client, escalation):
    for name in ("escalation_answer", "escalation_resolve", "escalation_take"):
        assert support_client.get(reverse(name, args=[escalation.pk])).status_code == 405

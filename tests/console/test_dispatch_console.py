"""Dispatch in the console: the top bar's availability, the offers strip and toast, the
supervisors' agents page and pinning from the dashboard."""

from __future__ import annotations

import pytest

from tests import factories
from tickets.models import (
    AgentProfile,
    Availability,
    DispatchMode,
    Notification,
    Offer,
    Site,
    Ticket,
)
from tickets.services import dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def push_at_pusat(dispatch_mode):
    dispatch_mode("PST", DispatchMode.PUSH, offer_seconds=90)


def offer_one(agent):
    AgentProfile.objects.filter(user=agent).update(availability=Availability.AVAILABLE)
    ticket = factories.flow_ticket("nossa")
    dispatch.dispatch_site(Site.objects.get(code="PST").pk)
    return ticket, Offer.objects.get(ticket=ticket)


def test_the_top_bar_shows_and_changes_the_agents_availability(agent_client, agent):
    page = agent_client.get("/queues/").content.decode()
    assert 'id="availability-select"' in page
    assert '<option value="offline" selected>Offline</option>' in page

    answer = agent_client.post(
        "/availability/", {"availability": "available", "next": "/queues/"}, follow=True
    )
    assert answer.redirect_chain[-1][0] == "/queues/"
    assert "You are now: Available." in answer.content.decode()
    assert AgentProfile.objects.get(user=agent).availability == "available"

    refused = agent_client.post("/availability/", {"availability": "asleep"}, follow=True)
    assert "Choose one of the offered availabilities." in refused.content.decode()
    assert AgentProfile.objects.get(user=agent).availability == "available"


def test_supervisors_have_no_availability_in_the_top_bar(client):
    client.force_login(factories.role_user("Supervisor"))
    assert 'id="availability-select"' not in client.get("/supervisor/").content.decode()


def test_an_offer_shows_on_every_page_and_is_accepted_there(agent_client, agent):
    ticket, offer = offer_one(agent)
    page = agent_client.get("/").content.decode()
    assert f'action="/offers/{offer.pk}/accept/"' in page
    assert f"{ticket.number} is offered to you: answer by" in page

    answer = agent_client.post(f"/offers/{offer.pk}/accept/", follow=True)
    assert answer.redirect_chain[-1][0] == f"/tickets/{ticket.pk}/"
    assert f"{ticket.number} is yours now." in answer.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == agent.pk
    assert f'action="/offers/{offer.pk}/accept/"' not in answer.content.decode()


def test_a_declined_offer_is_gone_and_a_second_answer_is_refused(agent_client, agent):
    ticket, offer = offer_one(agent)
    answer = agent_client.post(f"/offers/{offer.pk}/decline/", {"reason": "busy"}, follow=True)
    assert f"{ticket.number} goes to another agent." in answer.content.decode()
    assert Offer.objects.get(pk=offer.pk).status == "declined"
    again = agent_client.post(f"/offers/{offer.pk}/accept/", follow=True)
    assert "This offer has already ended: Declined." in again.content.decode()
    assert Ticket.objects.get(pk=ticket.pk).assignee_id is None


def test_another_agents_offer_cannot_be_answered(client, agent, other_agent):
    _ticket, offer = offer_one(agent)
    client.force_login(other_agent)
    answer = client.post(f"/offers/{offer.pk}/accept/", follow=True)
    assert "This ticket was offered to another agent." in answer.content.decode()
    assert Offer.objects.get(pk=offer.pk).status == "pending"


def test_the_offer_toast_carries_its_buttons_while_the_offer_waits(agent_client, agent):
    _ticket, offer = offer_one(agent)
    note = Notification.objects.get(user=agent, kind="ticket_offered")
    toast = agent_client.get(f"/notifications/{note.pk}/toast/").content.decode()
    assert "Ticket offered to you" in toast
    assert f'action="/offers/{offer.pk}/accept/"' in toast
    agent_client.post(f"/offers/{offer.pk}/decline/")
    toast = agent_client.get(f"/notifications/{note.pk}/toast/").content.decode()
    assert "/accept/" not in toast


def test_the_agents_page_shows_load_and_saves_a_row(client, agent, other_agent):
    offer_one(agent)  # agent: 0 held, 1 offered of 3
    boss = factories.role_user("Supervisor")
    client.force_login(boss)
    page = client.get("/supervisor/agents/").content.decode()
    assert "0 held, 1 offered / 3" in page
    assert 'data-agent="agent.dua"' in page

    prefix = f"agent-{other_agent.pk}"
    saved = client.post(
        f"/supervisor/agents/{other_agent.pk}/",
        {
            f"{prefix}-availability": "available",
            f"{prefix}-capacity": "5",
            f"{prefix}-flow_limits": "nossa=2",
        },
        follow=True,
    )
    assert "agent.dua saved." in saved.content.decode()
    profile = AgentProfile.objects.get(user=other_agent)
    assert (profile.availability, profile.capacity, profile.flow_capacity) == (
        "available",
        5,
        {"nossa": 2},
    )


@pytest.mark.parametrize(
    ("capacity", "limits", "message"),
    [
        ("0", "", "Capacity: Ensure this value is greater than or equal to 1."),
        ("3", "nossa=0", "The limit for NOSSA must be a whole number from 1 to 50."),
        ("3", "satelit=2", "satelit is not a flow."),
    ],
)
def test_a_bad_row_is_refused_with_its_message_and_saves_nothing(
    client, other_agent, capacity, limits, message
):
    client.force_login(factories.role_user("Supervisor"))
    prefix = f"agent-{other_agent.pk}"
    answer = client.post(
        f"/supervisor/agents/{other_agent.pk}/",
        {
            f"{prefix}-availability": "available",
            f"{prefix}-capacity": capacity,
            f"{prefix}-flow_limits": limits,
        },
        follow=True,
    )
    assert message in answer.content.decode()
    profile = AgentProfile.objects.get(user=other_agent)
    assert (profile.availability, profile.capacity, profile.flow_capacity) == ("offline", 3, {})


def test_agents_may_not_open_the_agents_page(agent_client):
    assert agent_client.get("/supervisor/agents/").status_code == 403


def test_a_supervisor_pins_a_waiting_ticket_from_the_dashboard(client, agent):
    ticket = factories.flow_ticket("nossa")
    client.force_login(factories.role_user("Supervisor"))
    answer = client.post(
        f"/supervisor/tickets/{ticket.pk}/pin/",
        {"agent": agent.pk, "next": "/supervisor/"},
        follow=True,
    )
    assert f"{ticket.number} is pinned to agent.pusat: it is offered to them only." in (
        answer.content.decode()
    )
    assert Ticket.objects.get(pk=ticket.pk).pinned_to_id == agent.pk

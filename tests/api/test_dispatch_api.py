"""Dispatch through the API: /api/agents/, /api/offers/ and /api/tickets/{id}/pin/."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests import factories
from tickets.models import AgentProfile, Availability, DispatchMode, Offer, Site, Ticket
from tickets.services import dispatch

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def push_at_pusat(dispatch_mode):
    dispatch_mode("PST", DispatchMode.PUSH)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def agent(name: str, *, available=True, capacity=3):
    person = factories.agent(site_code="PST", flows=("nossa",), username=name)
    AgentProfile.objects.filter(user=person).update(
        availability=Availability.AVAILABLE if available else Availability.OFFLINE,
        capacity=capacity,
    )
    return person


def test_supervisors_see_every_agents_load_and_an_agent_only_themselves():
    ani, budi = agent("ani"), agent("budi", available=False)
    for _ in range(2):
        ticket = factories.flow_ticket("nossa")
        Ticket.objects.filter(pk=ticket.pk).update(assignee=budi, awaiting_agent=False)
    offered = factories.flow_ticket("nossa")
    dispatch.dispatch_site(Site.objects.get(code="PST").pk)  # ani is the only one available
    boss = factories.role_user("Supervisor")

    rows = {row["username"]: row for row in api(boss).get("/api/agents/").json()["results"]}
    assert (rows["ani"]["held"], rows["ani"]["offers_waiting"]) == (0, 1)
    assert (rows["budi"]["held"], rows["budi"]["offers_waiting"]) == (2, 0)
    assert (rows["ani"]["availability"], rows["budi"]["availability"]) == ("available", "offline")
    assert Offer.objects.get(ticket=offered).agent == ani

    own = api(ani).get("/api/agents/").json()["results"]
    assert [row["username"] for row in own] == ["ani"]
    assert api(ani).get(f"/api/agents/{budi.pk}/").status_code == 404


def test_an_agent_sets_their_availability_but_not_their_capacity():
    ani = agent("ani", available=False)
    answer = api(ani).patch(f"/api/agents/{ani.pk}/", {"availability": "available"}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["availability"] == "available"

    refused = api(ani).patch(f"/api/agents/{ani.pk}/", {"capacity": 9}, format="json")
    assert refused.status_code == 403
    assert AgentProfile.objects.get(user=ani).capacity == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"capacity": 0}, "capacity"),
        ({"capacity": "many"}, "capacity"),
        ({"flow_capacity": {"nossa": 0}}, "flow_capacity"),
        ({"flow_capacity": {"nope": 2}}, "flow_capacity"),
        ({"availability": "asleep"}, "availability"),
    ],
)
def test_bad_changes_answer_400_with_the_field_and_change_nothing(body, field):
    ani = agent("ani")
    answer = api(factories.role_user("Supervisor")).patch(
        f"/api/agents/{ani.pk}/", body, format="json"
    )
    assert answer.status_code == 400
    assert field in str(answer.json())
    profile = AgentProfile.objects.get(user=ani)
    assert (profile.capacity, profile.flow_capacity, profile.availability) == (3, {}, "available")


def test_accept_and_decline_through_the_api():
    ani, budi = agent("ani"), agent("budi")
    first, second = factories.flow_ticket("nossa"), factories.flow_ticket("nossa")
    dispatch.dispatch_site(Site.objects.get(code="PST").pk)
    mine = Offer.objects.get(agent=ani)
    theirs = Offer.objects.get(agent=budi)

    listed = api(ani).get("/api/offers/?status=pending").json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert api(ani).post(f"/api/offers/{theirs.pk}/accept/").status_code == 404

    accepted = api(ani).post(f"/api/offers/{mine.pk}/accept/")
    assert accepted.status_code == 200, accepted.json()
    assert accepted.json()["assignee"] == ani.pk
    assert api(ani).post(f"/api/offers/{mine.pk}/accept/").status_code == 409

    declined = api(budi).post(f"/api/offers/{theirs.pk}/decline/", {"reason": "x" * 256})
    assert declined.status_code == 400 and "reason" in str(declined.json())
    declined = api(budi).post(f"/api/offers/{theirs.pk}/decline/", {"reason": "busy"})
    assert (declined.status_code, declined.json()["status"]) == (200, "declined")
    assert {first.pk, second.pk} == {mine.ticket_id, theirs.ticket_id}


def test_supervisors_pin_a_waiting_ticket_to_a_skilled_agent():
    boss = factories.role_user("Supervisor")
    ani = agent("ani")
    callback_agent = factories.agent(site_code="PST", flows=("callback",), username="cici")
    ticket = factories.flow_ticket("nossa")

    wrong = api(boss).post(f"/api/tickets/{ticket.pk}/pin/", {"agent": callback_agent.pk})
    assert wrong.status_code == 400 and "agent" in wrong.json()["errors"]
    assert api(ani).post(f"/api/tickets/{ticket.pk}/pin/", {"agent": ani.pk}).status_code == 403

    pinned = api(boss).post(f"/api/tickets/{ticket.pk}/pin/", {"agent": ani.pk})
    assert pinned.status_code == 200
    assert Ticket.objects.get(pk=ticket.pk).pinned_to_id == ani.pk
    unpinned = api(boss).post(f"/api/tickets/{ticket.pk}/pin/", {"agent": None}, format="json")
    assert unpinned.status_code == 200
    assert Ticket.objects.get(pk=ticket.pk).pinned_to_id is None

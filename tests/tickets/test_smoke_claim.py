import pytest

from tests import factories
from tickets import services

pytestmark = pytest.mark.django_db


def test_agent_takes_next_ticket_and_it_becomes_claimed(pusat):
    ticket = factories.arrive("nossa")
    agent = factories.agent(flows=["nossa"])
    taken = services.claim_next_ticket(agent=agent)
    assert taken.pk == ticket.pk
    assert taken.state == "claimed"
    assert taken.assignee == agent

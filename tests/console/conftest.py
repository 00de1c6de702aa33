"""Scenario helpers for the console's view tests: agents, tickets in a state, logged-in clients."""

import pytest

from tests import factories
from tickets import services


@pytest.fixture(autouse=True)
def _english_source_strings(settings):
    """The console speaks Indonesian by default; tests read the English source strings unless
    they test the language itself."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def agent(db):
    """An agent of the NOSSA flow at the Pusat site."""
    return factories.agent(site_code="PST", flows=("nossa",), username="agent.pusat")


@pytest.fixture
def other_agent(db):
    return factories.agent(site_code="PST", flows=("nossa",), username="agent.dua")


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


def nossa_ticket(**fields):
    """A NOSSA trouble ticket that arrived at Pusat."""
    fields.setdefault("nossa_number", "IN16672489")
    fields.setdefault("category", "INTERNET")
    fields.setdefault("summary", "Internet mati total, lampu LOS merah berkedip")
    return factories.arrive("nossa", **fields)


def taken(ticket, agent):
    """The ticket, taken by the agent through the service."""
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    return factories.reload(ticket)


def in_state(ticket, agent, state, **fields):
    """The ticket held by `agent` in `state` (set-up only: bypasses the machine)."""
    fields.setdefault("assignee", agent)
    fields.setdefault("awaiting_agent", False)
    return factories.put_in_state(ticket, state, **fields)

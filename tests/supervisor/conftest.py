"""Scenario helpers for the supervisor, Support and admin pages."""

import re

import pytest

from tests import factories
from tickets import services


@pytest.fixture(autouse=True)
def _english(settings):
    """The console speaks Indonesian by default; these tests read the English source strings."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def admin_user(db):
    return factories.user("Admin", username="admin1")


@pytest.fixture
def agent(db):
    return factories.agent(site_code="PST", flows=("nossa",), username="agent.pusat")


@pytest.fixture
def other_support(db):
    return factories.user("Support", username="support2")


def logged_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def supervisor_client(client, supervisor):
    return logged_in(client, supervisor)


@pytest.fixture
def support_client(client, support_user):
    return logged_in(client, support_user)


def escalated_ticket(agent, *, reason="ONT LOS merah, cek OLT dari sisi Support"):
    """A NOSSA ticket at Pusat that `agent` took, started diagnosing and escalated."""
    ticket = factories.arrive(
        "nossa", nossa_number="IN16672489", summary="Internet mati total", category="INTERNET"
    )
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": reason}
    )
    return factories.reload(ticket)


@pytest.fixture
def escalation(agent):
    ticket = escalated_ticket(agent)
    return ticket.escalations.get()


# --- Reading numbers off a page -------------------------------------------------------------
def block(html: str, tag: str, attribute: str, value: str) -> str:
    """The inner HTML of the first `<tag attribute="value">` of the page (no nesting of tag)."""
    match = re.search(
        rf'<{tag}\b[^>]*\b{attribute}="{re.escape(value)}"[^>]*>(.*?)</{tag}>', html, re.S
    )
    assert match, f'no <{tag} {attribute}="{value}"> on the page'
    return match.group(1)


def shown(fragment: str, key: str) -> str:
    """The text of the element marked `data-k="key"` in a fragment, tags and spaces stripped."""
    match = re.search(
        rf'data-k="{re.escape(key)}"[^>]*>(.*?)</(?:td|dd|span|blockquote)>', fragment, re.S
    )
    assert match, f"no data-k={key}"
    text = re.sub(r"<[^>]+>", "", match.group(1))
    return " ".join(text.split())


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# The hand-counted floor of the dashboard reads' tests: five NOSSA tickets at Pusat on Monday
# 23 November 2026 (see its docstring); the page tests check the page shows the same numbers.
from tests.tickets.test_dashboards import MONDAY_9AM, floor  # noqa: E402, F401

"""What the pages declare for the live console (`static/js/live.js`): the topics they watch, the
regions fetched again when a message concerns them, the polls that pause while the socket is
open, and who is already on a ticket when the page is rendered."""

import html as htmllib
import json

import pytest

from tests import factories
from tests.console.conftest import nossa_ticket, taken
from tickets import presence

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_one_present():
    yield
    from django.core.cache import cache

    cache.clear()


def someone_on(ticket, user, activity="viewing"):
    presence.announce(
        ticket_id=ticket.pk, channel=f"test.{user.pk}", user_id=user.pk,
        name=presence.display_name(user), activity=activity,
    )  # fmt: skip


def people_in(page: str, marker: str) -> list[dict]:
    start = page.index(marker)
    attribute = page.index('data-people="', start) + len('data-people="')
    return json.loads(htmllib.unescape(page[attribute : page.index('"', attribute)]))


def test_a_flow_queue_declares_its_topic_region_and_poll(agent_client):
    page = agent_client.get("/queues/nossa/?site=PST").content.decode()

    assert 'data-live-topics="queue"' in page
    assert 'id="queue-results"' in page and 'data-live-part="queue"' in page
    assert 'data-live-flows="nossa" data-live-site="PST"' in page
    assert 'data-live-poll="20"' in page and 'hx-trigger="every 20s"' in page
    assert "data-live-mine" not in page


def test_my_tickets_is_the_agents_own_queue(agent_client):
    page = agent_client.get("/queues/mine/").content.decode()

    assert 'data-live-flows="" data-live-site="" data-live-mine' in page


def test_a_queue_row_says_who_is_on_its_ticket_when_rendered(agent_client, agent, other_agent):
    ticket = nossa_ticket()
    someone_on(ticket, other_agent, "typing")

    page = agent_client.get("/queues/nossa/").content.decode()

    assert f'data-ticket-row="{ticket.pk}"' in page
    people = people_in(page, f'data-ticket-row="{ticket.pk}"')
    assert people == [{"user": other_agent.pk, "name": "agent.dua", "activity": "typing"}]


def test_the_workspace_watches_its_ticket_and_guards_its_forms(agent_client, agent, other_agent):
    ticket = taken(nossa_ticket(), agent)
    someone_on(ticket, other_agent)

    page = agent_client.get(f"/tickets/{ticket.pk}/").content.decode()

    assert f'data-live-topics="ticket:{ticket.pk}" data-live-guard="{ticket.pk}"' in page
    for region in ("ws-head", "ws-notice", "ws-sop", "ws-escalation", "ws-actions", "ws-forms",
                   "ws-timeline"):  # fmt: skip
        assert f'id="{region}" data-live-part="ticket:{ticket.pk}"' in page
    assert people_in(page, f'data-presence-ticket="{ticket.pk}"')[0]["user"] == other_agent.pk


def test_a_customer_messages_status_refreshes_the_timeline_alone(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)

    page = agent_client.get(f"/tickets/{ticket.pk}/").content.decode()

    # docs/live.md: a `customer_message` change concerns the timeline only
    for region in ("ws-head", "ws-notice", "ws-sop", "ws-escalation", "ws-actions", "ws-forms"):
        start = page.index(f'id="{region}"')
        skip = page[start : page.index(">", start)].split('data-live-skip="')[1].split('"')[0]
        assert "customer_message" in skip.split(), region
    timeline = page[page.index('id="ws-timeline"') :]
    assert "data-live-skip" not in timeline[: timeline.index(">")]


def test_the_dashboard_declares_its_live_regions(client):
    client.force_login(factories.user("Supervisor", username="sup.markup"))

    page = client.get("/supervisor/").content.decode()

    assert 'data-live-topics="dashboard"' in page
    assert 'data-live-part="dashboard" data-live-url="/supervisor/live/?' in page
    assert 'id="at-risk" data-live-part="dashboard" data-live-throttle="10"' in page
    assert 'data-live-poll="30"' in page

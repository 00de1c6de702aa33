"""The dashboard page shows the hand-counted numbers of the dashboard reads' fixed floor; its
filters, the tickets-at-risk table with release and reassign, access and query bounds."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from tests import factories
from tests.supervisor.conftest import MONDAY_9AM, block, messages_of, page, shown
from tickets import services
from tickets.models import Ticket, TransitionLog

pytestmark = pytest.mark.django_db
WEDNESDAY = MONDAY_9AM + timedelta(days=2)
RANGE = {"date_from": "2026-11-23", "date_to": "2026-11-26"}


def dashboard(client, **params):
    with time_machine.travel(WEDNESDAY, tick=False):
        return client.get(reverse("dashboard"), {**RANGE, **params})


def test_tile_shows_the_hand_count(supervisor_client, floor):
    html = page(dashboard(supervisor_client))
    tile = block(html, "article", "data-tile", "nossa-PST")
    assert shown(tile, "backlog") == "2"  # tickets 3 and 4
    assert shown(tile, "breached") == "2"
    assert shown(tile, "at_risk") == "0"
    assert shown(tile, "within") == "66.7 %"  # 2 of the 3 closed within the SLA
    assert "2\xa0days" in shown(tile, "oldest") or "2 days" in shown(tile, "oldest")
    totals = block(html, "tr", "data-row", "totals")
    assert (shown(totals, "backlog"), shown(totals, "breached")) == ("2", "2")


def test_ageing_shows_open_tickets_by_age(supervisor_client, floor):
    with time_machine.travel(MONDAY_9AM + timedelta(hours=30), tick=False):
        html = page(supervisor_client.get(reverse("dashboard"), RANGE))
    ageing = block(html, "table", "class", "table compact ageing")
    counts = [shown(ageing, f"ageing-{n}") for n in range(1, 6)]
    assert counts == ["0", "0", "0", "2", "0"]  # both open tickets are 1-3 days old


def test_agent_table_shows_the_hand_count(supervisor_client, floor):
    html = page(dashboard(supervisor_client))
    ani = block(html, "tr", "data-agent", "ani")
    assert shown(ani, "closed") == "2"
    assert shown(ani, "fcr") == "50.0 %"
    assert shown(ani, "escalation") == "50.0 %"
    assert shown(ani, "aht") == "0.0"  # frozen time: claimed and closed in the same instant
    budi = block(html, "tr", "data-agent", "budi")
    assert shown(budi, "closed") == "1"
    assert shown(budi, "escalation") == "0.0 %"


def test_trends_have_7_and_30_days_and_charts_without_a_cdn(supervisor_client, floor):
    response = dashboard(supervisor_client)
    html = page(response)
    [seven, thirty] = response.context["trends"]
    assert len(seven["trend"].points) == 7 and len(thirty["trend"].points) == 30
    monday = next(p for p in seven["trend"].points if p.day == MONDAY_9AM.date())
    assert (monday.created, monday.closed) == (5, 2)
    assert sum(p.breached for p in thirty["trend"].points) == 3
    assert 'id="chart-trend-7" type="application/json"' in html
    assert 'data-chart="line" data-source="chart-trend-30"' in html
    assert "/static/js/charts.js" in html
    assert "cdn" not in html.lower() and "https://" not in html


def test_filter_by_site_shows_only_that_site(supervisor_client, floor):
    html = page(dashboard(supervisor_client, site="MLG"))
    assert 'data-tile="nossa-PST"' not in html
    assert 'data-empty="tiles"' in html
    assert 'data-empty="agents"' in html
    assert 'data-empty="at-risk"' in html
    html = page(dashboard(supervisor_client, site="PST", flow="nossa"))
    assert 'data-tile="nossa-PST"' in html


def test_filter_by_flow(supervisor_client, floor):
    html = page(dashboard(supervisor_client, flow="ideas"))
    assert 'data-empty="tiles"' in html


def test_a_wrong_filter_is_said_next_to_the_field_and_defaults_are_shown(supervisor_client):
    response = dashboard(supervisor_client, date_from="2026-11-26", date_to="2026-11-20")
    html = page(response)
    assert "The start of the range is after its end." in html
    filters = response.context["filters"]
    assert (filters.date_to - filters.date_from).days == 6


def test_the_export_links_carry_the_filter(supervisor_client, floor):
    html = page(dashboard(supervisor_client, site="PST"))
    for table in ("tiles", "ageing", "agents", "trend", "trend-7", "trend-30", "at-risk"):
        url = reverse("dashboard_export", args=[table])
        assert f"{url}?date_from=2026-11-23&amp;date_to=2026-11-26&amp;site=PST" in html, table


# --- Tickets at risk: release and reassign -----------------------------------------------------
def test_at_risk_table_lists_breached_open_tickets_oldest_deadline_first(supervisor_client, floor):
    response = dashboard(supervisor_client)
    rows = response.context["at_risk"]
    tickets = floor["tickets"]
    # Ticket 5 still waits to be claimed (claim-by 09:15), ticket 4 is with Budi (resolve-by
    # Tuesday 09:00): the running deadline of each, oldest first.
    assert [row["ticket"].pk for row in rows] == [tickets[4].pk, tickets[3].pk]
    html = page(response)
    assert f'data-ticket="{tickets[4].number}"' in html


def test_reassign_offers_only_agents_of_the_flow_and_site(supervisor_client, floor):
    factories.agent(site_code="MLG", flows=("nossa",), username="malang.nossa")
    factories.agent(site_code="PST", flows=("ideas",), username="pusat.ideas")
    response = dashboard(supervisor_client)
    [waiting, held] = response.context["at_risk"]
    assert [name for _pk, name in waiting["agents"]] == ["ani", "budi"]
    assert [name for _pk, name in held["agents"]] == ["ani"]  # not Budi, who holds it


def test_supervisor_releases_a_ticket_from_the_dashboard(supervisor_client, floor, supervisor):
    held = floor["tickets"][3]
    back = reverse("dashboard") + "?site=PST"
    response = supervisor_client.post(
        reverse("dashboard_release", args=[held.pk]), {"next": back}, follow=True
    )
    assert response.redirect_chain[-1][0] == back
    assert f"{held.number} is back in the queue." in messages_of(response)
    ticket = Ticket.objects.get(pk=held.pk)
    assert ticket.assignee is None and ticket.awaiting_agent
    assert TransitionLog.objects.filter(ticket=held, transition="release", actor=supervisor)


def test_supervisor_reassigns_a_ticket_from_the_dashboard(supervisor_client, floor):
    waiting, ani = floor["tickets"][4], floor["ani"]
    response = supervisor_client.post(
        reverse("dashboard_reassign", args=[waiting.pk]), {"agent": ani.pk}, follow=True
    )
    assert f"{waiting.number} is with ani now." in messages_of(response)
    assert Ticket.objects.get(pk=waiting.pk).assignee == ani


def test_reassign_to_an_agent_of_another_site_is_refused_with_a_message(supervisor_client, floor):
    stranger = factories.agent(site_code="MLG", flows=("nossa",), username="malang.nossa")
    waiting = floor["tickets"][4]
    response = supervisor_client.post(
        reverse("dashboard_reassign", args=[waiting.pk]), {"agent": stranger.pk}, follow=True
    )
    assert response.status_code == 200
    assert any("does not work this flow at this site" in m for m in messages_of(response))
    assert Ticket.objects.get(pk=waiting.pk).assignee is None


def test_releasing_a_ticket_nobody_holds_says_why(supervisor_client, floor):
    waiting = floor["tickets"][4]
    response = supervisor_client.post(reverse("dashboard_release", args=[waiting.pk]), follow=True)
    assert "The ticket is not held by an agent." in messages_of(response)


def test_a_stale_dashboard_cannot_release_a_closed_ticket(supervisor_client, floor):
    closed = floor["tickets"][0]
    response = supervisor_client.post(reverse("dashboard_release", args=[closed.pk]), follow=True)
    assert response.status_code == 200
    assert messages_of(response)
    assert Ticket.objects.get(pk=closed.pk).assignee == floor["ani"]


def test_release_and_reassign_are_for_supervisors_only(client, floor):
    held = floor["tickets"][3]
    client.force_login(floor["budi"])
    assert client.post(reverse("dashboard_release", args=[held.pk])).status_code == 403
    response = client.post(reverse("dashboard_reassign", args=[held.pk]), {"agent": 1})
    assert response.status_code == 403
    assert Ticket.objects.get(pk=held.pk).assignee == floor["budi"]


def test_release_needs_post(supervisor_client, floor):
    url = reverse("dashboard_release", args=[floor["tickets"][3].pk])
    assert supervisor_client.get(url).status_code == 405


# --- Access, live refresh, query bounds --------------------------------------------------------
@pytest.mark.parametrize("role", ["Agent", "Support"])
def test_dashboard_is_refused_to_agents_and_support(client, role):
    client.force_login(factories.user(role, site_code="PST"))
    response = client.get(reverse("dashboard"))
    assert response.status_code == 403
    assert "Only supervisors and admins" in response.content.decode()


def test_dashboard_asks_anonymous_users_to_log_in(client):
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_admins_see_the_dashboard(client, admin_user):
    client.force_login(admin_user)
    assert client.get(reverse("dashboard")).status_code == 200


def test_live_part_refreshes_tiles_and_ageing_only(supervisor_client, floor):
    with time_machine.travel(WEDNESDAY, tick=False):
        html = page(supervisor_client.get(reverse("dashboard_live"), RANGE))
    assert html.lstrip().startswith("<section") and 'id="live"' in html
    assert 'hx-trigger="every 30s"' in html
    assert shown(block(html, "article", "data-tile", "nossa-PST"), "backlog") == "2"
    assert "<html" not in html


def more_floor(count: int):
    """`count` more agents, each holding a breached NOSSA ticket at Pusat, and Malang tickets."""
    for number in range(count):
        person = factories.agent(username=f"extra-{number}")
        ticket = factories.arrive("nossa")
        services.claim_ticket(ticket_id=ticket.pk, agent=person)
        Ticket.objects.filter(pk=ticket.pk).update(sla_status="breached")
        factories.flow_ticket("c4_caring")


DASHBOARD_QUERY_BOUND = 20


def test_dashboard_queries_are_bounded_whatever_the_floor(
    supervisor_client, floor, django_assert_max_num_queries
):
    with django_assert_max_num_queries(DASHBOARD_QUERY_BOUND):
        page(dashboard(supervisor_client))
    more_floor(12)
    with django_assert_max_num_queries(DASHBOARD_QUERY_BOUND) as counted:
        response = dashboard(supervisor_client)
    assert len(response.context["at_risk"]) == 14
    assert len(counted.captured_queries) <= DASHBOARD_QUERY_BOUND

"""The customer panel (I-SISKA, Ibooster, usage, E-payment) and the My Kiss articles."""

import re

import pytest

from integrations import adapters
from integrations.adapters import AdapterUnavailable
from integrations.models import AdapterCall
from tests import factories
from tests.console.conftest import nossa_ticket, taken
from tickets.views import panel

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def statuses(response) -> dict[str, str]:
    return {key: part["status"] for key, part in response.context["sections"].items()}


def test_panel_of_an_unchecked_ticket_says_so_and_asks_for_the_checks(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)

    response = agent_client.get(f"/tickets/{ticket.pk}/panel/", headers=HTMX)

    page = response.content.decode()
    assert statuses(response) == dict.fromkeys(
        ("isiska", "ibooster", "usage", "bills"), "unchecked"
    )
    assert f'hx-post="/tickets/{ticket.pk}/panel/refresh/" hx-trigger="load"' in page
    assert "checking…" in page
    assert "<html" not in page  # a partial


def test_refresh_queues_the_checks_and_the_answers_fill_the_panel(
    agent_client, agent, django_capture_on_commit_callbacks
):
    ticket = taken(nossa_ticket(), agent)

    with django_capture_on_commit_callbacks(execute=True):
        agent_client.post(f"/tickets/{ticket.pk}/panel/refresh/", headers=HTMX)
    response = agent_client.get(f"/tickets/{ticket.pk}/panel/", headers=HTMX)

    assert statuses(response) == dict.fromkeys(("isiska", "ibooster", "usage", "bills"), "ok")
    facts = factories.reload(ticket).facts
    page = response.content.decode()
    assert facts["isiska"]["customer_name"] in page
    status = facts["ibooster"]["status"]
    shown = re.search(rf'<span class="line-status {status}">([^<]+)</span>', page)
    assert shown and shown.group(1).lower().startswith(f"{status}: ")  # the code, then its meaning
    assert "Rp " in page  # the bills
    assert 'hx-trigger="every' not in page  # nothing left to wait for
    calls = AdapterCall.objects.filter(ticket=ticket, app__in=["isiska", "ibooster", "epayment"])
    assert sorted(calls.values_list("operation", flat=True)) == [
        "bills", "connection_status", "profile", "usage_history"
    ]  # fmt: skip
    assert set(calls.values_list("status", flat=True)) == {"succeeded"}


def test_while_checks_run_the_panel_polls_and_a_second_refresh_queues_nothing_twice(
    agent_client, agent
):
    ticket = taken(nossa_ticket(), agent)

    # Without commit callbacks the calls stay pending, as with a busy worker.
    first = agent_client.post(f"/tickets/{ticket.pk}/panel/refresh/", headers=HTMX)
    second = agent_client.post(f"/tickets/{ticket.pk}/panel/refresh/", headers=HTMX)

    assert set(statuses(first).values()) == {"checking"}
    page = second.content.decode()
    assert f'hx-get="/tickets/{ticket.pk}/panel/" hx-trigger="every 2s"' in page
    assert AdapterCall.objects.filter(ticket=ticket).exclude(app="nossa").count() == 4


def test_a_failed_check_shows_its_error(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)
    AdapterCall.objects.create(
        ticket=ticket, app="epayment", operation="bills", status="failed",
        error="E-payment timed out", idempotency_key="test-failed-bills",
    )  # fmt: skip

    response = agent_client.get(f"/tickets/{ticket.pk}/panel/", headers=HTMX)

    assert statuses(response)["bills"] == "failed"
    assert "E-payment timed out" in response.content.decode()


def test_refresh_without_htmx_goes_back_to_the_workspace(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)

    response = agent_client.post(f"/tickets/{ticket.pk}/panel/refresh/")

    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"


def test_articles_follow_the_tickets_category_and_summary(agent_client, agent):
    ticket = taken(nossa_ticket(category="INTERNET", summary="lampu LOS merah"), agent)

    response = agent_client.get(f"/tickets/{ticket.pk}/articles/", headers=HTMX)

    articles = response.context["articles"]
    assert articles[0]["article_id"] == "KISS-0101"
    assert {article["category"] for article in articles} == {"gangguan-internet"}


def test_article_search(agent_client, agent):
    ticket = taken(nossa_ticket(), agent)

    response = agent_client.get(f"/tickets/{ticket.pk}/articles/", {"q": "tagihan naik"})

    assert response.context["articles"][0]["title"].startswith("Tagihan IndiHome naik")


def test_my_kiss_down_is_a_message_in_the_panel(agent_client, agent, monkeypatch):
    ticket = taken(nossa_ticket(summary="sesuatu yang unik sekali"), agent)

    class Down:
        def search_articles(self, **kwargs):
            raise AdapterUnavailable("My Kiss timed out")

    monkeypatch.setattr(panel, "get_adapter", lambda app: Down())
    response = agent_client.get(f"/tickets/{ticket.pk}/articles/")

    assert response.status_code == 200
    assert "My Kiss is not answering: My Kiss timed out" in response.content.decode()


def test_panel_category_mapping():
    assert panel.kiss_category(factories.Ticket(category="iptv", flow="nossa")) == "gangguan-iptv"
    assert panel.kiss_category(factories.Ticket(category="", flow="ideas")) == "produk"
    assert panel.kiss_category(factories.Ticket(category="", flow="callback")) is None
    assert adapters.get_adapter("mykiss").search_articles(category="produk", limit=1)

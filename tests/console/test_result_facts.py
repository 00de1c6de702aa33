"""Results shown as facts (issue #15, item 4): the answers a flow depends on appear in the
workspace header and the panel with their time; a check that answers after the ticket was
closed does not make the panel contradict how it was closed; one countdown format everywhere.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.urls import reverse

from integrations.models import AdapterCall, CallStatus
from tests import factories
from tests.console.conftest import in_state, nossa_ticket
from tickets import services
from tickets.models import Ticket

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta


def answer(ticket, app, operation, response, *, at):
    """A call of `app.operation` on the ticket that succeeded at `at` with `response`, recorded
    through the service the outbox task calls."""
    call = AdapterCall.objects.create(
        ticket=ticket,
        app=app,
        operation=operation,
        status=CallStatus.SUCCEEDED,
        response=response,
        idempotency_key=f"{app}-{operation}-{at.isoformat()}",
        created_at=at - timedelta(seconds=2),
        finished_at=at,
    )
    services.apply_call_answer(call=call, response=response)
    return call


def line(status: str) -> dict:
    return {
        "service_number": "131100200300",
        "status": status,
        "onu_serial": "ZTEG12345678",
        "ont_rx_power_dbm": -19.5 if status == "online" else None,
        "olt_rx_power_dbm": -21.0 if status == "online" else None,
        "checked_at": "2026-06-01T09:40:00+07:00",
    }


@pytest.fixture
def supervisor_client(client):
    client.force_login(factories.role_user("Supervisor"))
    return client


def panel_of(client, ticket) -> str:
    return client.get(reverse("ticket_panel", args=[ticket.pk]), headers=HTMX).content.decode()


def ibooster_part(page: str) -> str:
    return page[page.index('data-source="ibooster"') :].split("</section>")[0]


# --- Which check said what, and when ------------------------------------------------------------
def test_an_answer_records_which_check_gave_the_fact_and_when(agent):
    ticket = in_state(nossa_ticket(), agent, "diagnosing")

    call = answer(ticket, "ibooster", "connection_status", line("online"), at=NOW)

    facts = Ticket.objects.get(pk=ticket.pk).facts
    assert facts["ibooster"]["status"] == "online"
    assert facts["checked"]["ibooster"] == {
        "app": "ibooster",
        "operation": "connection_status",
        "call": call.pk,
        "at": "2026-06-01T03:00:00+00:00",
        "state": "diagnosing",
    }


def test_on_an_open_ticket_the_latest_answer_is_the_fact(agent):
    ticket = in_state(nossa_ticket(), agent, "diagnosing")
    answer(ticket, "ibooster", "connection_status", line("online"), at=NOW)

    later = answer(
        ticket, "ibooster", "connection_status", line("los"), at=NOW + timedelta(minutes=5)
    )

    facts = Ticket.objects.get(pk=ticket.pk).facts
    assert facts["ibooster"]["status"] == "los"
    assert facts["checked"]["ibooster"]["call"] == later.pk
    assert "later_checks" not in facts


def test_an_older_call_answering_last_does_not_replace_a_newer_answer(agent):
    ticket = in_state(nossa_ticket(), agent, "diagnosing")
    older = AdapterCall.objects.create(
        ticket=ticket,
        app="ibooster",
        operation="connection_status",
        status=CallStatus.SUCCEEDED,
        response=line("los"),
        idempotency_key="older",
        finished_at=NOW + timedelta(minutes=9),
    )
    newer = answer(ticket, "ibooster", "connection_status", line("online"), at=NOW)

    services.apply_call_answer(call=older, response=line("los"))

    facts = Ticket.objects.get(pk=ticket.pk).facts
    assert facts["ibooster"]["status"] == "online"
    assert facts["checked"]["ibooster"]["call"] == newer.pk
    assert facts["later_checks"]["ibooster"]["reason"] == "superseded"


# --- A closed-online ticket after a LOS answer -------------------------------------------------
@pytest.fixture
def closed_online(agent):
    """A NOSSA ticket closed as online at 10:00 (Ibooster said online at 09:58); at 10:20 a
    refresh of the panel asks Ibooster again and the line answers LOS."""
    ticket = in_state(nossa_ticket(summary="Internet mati"), agent, "verifying")
    answer(ticket, "ibooster", "connection_status", line("online"), at=NOW - timedelta(minutes=2))
    in_state(ticket, agent, "closed", closed_at=NOW, closing_code="ONLINE")
    answer(ticket, "ibooster", "connection_status", line("los"), at=NOW + timedelta(minutes=20))
    return Ticket.objects.get(pk=ticket.pk)


def test_a_los_answer_after_closing_leaves_the_fact_the_ticket_was_closed_on(closed_online):
    facts = closed_online.facts

    assert facts["ibooster"]["status"] == "online"
    assert facts["checked"]["ibooster"]["at"] == "2026-06-01T02:58:00+00:00"
    assert facts["checked"]["ibooster"]["state"] == "verifying"
    assert facts["later_checks"]["ibooster"]["at"] == "2026-06-01T03:20:00+00:00"
    assert facts["later_checks"]["ibooster"]["reason"] == "closed"


def test_the_panel_of_a_ticket_closed_online_does_not_contradict_it(
    closed_online, supervisor_client
):
    part = ibooster_part(panel_of(supervisor_client, closed_online))

    assert 'class="line-status online"' in part
    assert "LOS" not in part.upper().replace("CLOSED", "")
    # The fact with its time, and where the later answer is.
    assert "01 Jun 2026 09:58" in part
    assert "Checked again on 01 Jun 2026 10:20, after the ticket was closed" in part


def test_the_workspace_of_a_ticket_closed_online_says_online_in_its_facts(
    closed_online, supervisor_client
):
    page = supervisor_client.get(reverse("ticket", args=[closed_online.pk])).content.decode()

    head = page[page.index('id="ws-head"') :].split("</section>")[0]
    assert "closed" in head
    assert "LOS" not in head.upper().replace("CLOSED", "")
    # The LOS answer is evidence on the timeline, with its date, not a fact on the panel.
    timeline = page[page.index('id="ws-timeline"') :]
    assert "01 Jun 10:20:00" in timeline


# --- The answers the flow depends on, as facts ------------------------------------------------
def test_the_starclick_order_and_nossa_numbers_are_facts_in_the_header_and_panel(
    agent, supervisor_client
):
    ticket = in_state(nossa_ticket(nossa_number="IN16670001"), agent, "escalated_field")
    answer(
        ticket,
        "nossa",
        "escalate",
        {"nossa_number": "IN16670001", "work_order_id": "WO123456789", "reason": "ODP"},
        at=NOW,
    )
    answer(
        ticket,
        "starclick",
        "enter_order",
        {"order_id": "SC0000004242", "service_number": "1", "offer_code": "X", "status": "entered"},
        at=NOW + timedelta(minutes=1),
    )

    page = supervisor_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
    head = page[page.index('id="ws-head"') :].split("</section>")[0]
    panel = panel_of(supervisor_client, ticket)
    results = panel[panel.index('data-source="results"') :].split("</section>")[0]

    for shown in (head, results):
        assert "<code>IN16670001</code>" in shown
        assert "NOSSA work order" in shown and "<code>WO123456789</code>" in shown
        assert "Starclick order" in shown and "<code>SC0000004242</code>" in shown
        assert "01 Jun 2026 10:01" in shown  # when Starclick gave the order


# --- One countdown, one overdue format ---------------------------------------------------------
def test_an_overdue_deadline_reads_the_same_in_the_queue_workspace_and_panel(
    agent, supervisor_client
):
    ticket = in_state(nossa_ticket(), agent, "diagnosing")
    Ticket.objects.filter(pk=ticket.pk).update(resolve_by=NOW - timedelta(minutes=12))
    # 12 minutes past: "-0:12:00", read aloud as "overdue 0:12:00", the moment in the title.
    expected = (
        '<span class="countdown{big} overdue" data-deadline="2026-06-01T02:48:00+00:00" '
        'title="01 Jun 2026 09:48" aria-label="overdue 0:12:00">-0:12:00</span>'
    )

    with time_machine.travel(NOW, tick=False):
        queue = supervisor_client.get(reverse("queue", args=["all"])).content.decode()
        workspace = supervisor_client.get(reverse("ticket", args=[ticket.pk])).content.decode()
        panel = panel_of(supervisor_client, ticket)

    assert expected.format(big="") in queue
    assert expected.format(big=" big") in workspace
    assert expected.format(big="") in panel


def test_no_template_writes_a_countdown_of_its_own():
    """Every countdown goes through `{% countdown_of %}` or the presenters' `sla_view`."""
    templates = Path(settings.BASE_DIR) / "templates"
    hand_written = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if 'class="countdown' in path.read_text()
    ]
    assert hand_written == []


def test_a_check_after_closing_fills_a_fact_the_ticket_never_had(closed_online):
    answer(
        closed_online,
        "isiska",
        "profile",
        {"customer_name": "Budi Santoso", "package_name": "IndiHome 50"},
        at=NOW + timedelta(minutes=30),
    )

    facts = Ticket.objects.get(pk=closed_online.pk).facts
    assert facts["isiska"]["customer_name"] == "Budi Santoso"
    assert facts["checked"]["isiska"]["at"] == "2026-06-01T03:30:00+00:00"
    assert facts["checked"]["isiska"]["state"] == "closed"
    assert "isiska" not in facts["later_checks"]

"""What the console says instead of codes: the external calls' operations, Ibooster's line
status and ACS's answers, states named by their labels in errors, the incident's "Open" (a
state, "Terbuka") apart from the button "Open" ("Buka"), and bulk actions that say what they
did. The Indonesian expected here is the catalogue's, read by a Telkom agent."""

from __future__ import annotations

import pytest
from django.utils import translation

from integrations.adapters import _ADAPTERS
from integrations.adapters.ibooster import LineStatus
from integrations.adapters.labels import LINE_STATUS_LABELS, OPERATION_LABELS
from integrations.models import AdapterCall
from tests import factories
from tests.console.conftest import nossa_ticket, taken
from tickets import services
from tickets.exceptions import TransitionNotAllowed
from tickets.flows import FLOWS, GamasIncidentMachine
from tickets.services.deadlines import SUMMARIES

pytestmark = pytest.mark.django_db


@pytest.fixture
def indonesian(settings):
    settings.LANGUAGE_CODE = "id"


def test_every_operation_of_every_application_has_words():
    operations = {
        (app, name) for app, (interface, _stub) in _ADAPTERS.items()
        for name in interface.__abstractmethods__
    }  # fmt: skip
    assert sorted(operations - set(OPERATION_LABELS)) == []
    assert set(LINE_STATUS_LABELS) == set(LineStatus)


def test_the_timeline_names_a_call_by_what_it_did(agent_client, agent, indonesian):
    ticket = taken(nossa_ticket(), agent)
    AdapterCall.objects.create(
        ticket=ticket, app="ibooster", operation="connection_status", status="succeeded",
        request={}, response={"status": "online"}, idempotency_key="t-words-1",
    )  # fmt: skip

    page = agent_client.get(f"/tickets/{ticket.pk}/").content.decode()

    assert "Ibooster · periksa koneksi" in page
    assert "connection status" not in page


def test_the_panel_reads_the_line_status_and_the_device_in_words(agent_client, agent, indonesian):
    ticket = taken(nossa_ticket(), agent)
    factories.set_facts(
        ticket,
        ibooster={
            "status": "los", "onu_serial": "ZTEG1234ABCD", "ont_rx_power_dbm": None,
            "olt_rx_power_dbm": None, "checked_at": "2026-11-30T09:15:00+07:00",
        },
        acs={
            "device_model": "ZTE F670L", "wifi_status": "off", "findings": [],
            "suggested_action": "reset_wifi",
        },
    )  # fmt: skip

    page = agent_client.get(f"/tickets/{ticket.pk}/panel/").content.decode()

    assert "LOS: tidak ada sinyal optik di kabel fiber" in page
    assert "WiFi mati" in page
    assert "Reset pengaturan Wi-Fi (ACS)" in page  # the suggested action, not `reset_wifi`
    assert "reset_wifi" not in page


def test_an_action_refused_in_this_state_names_the_action_and_the_state(agent):
    ticket = factories.put_in_state(nossa_ticket(), "closed", assignee=agent)

    with translation.override("id"), pytest.raises(TransitionNotAllowed) as refused:
        services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)

    assert str(refused.value.message) == (
        "“Mulai diagnosa” tidak dapat dilakukan selama tiket berstatus “Ditutup”."
    )
    assert refused.value.context == {"current_state": "closed"}  # the code, for the API


def test_an_incident_action_refused_in_this_state_names_the_state(supervisor):
    incident = factories.open_gamas(actor=supervisor)

    with translation.override("en"), pytest.raises(TransitionNotAllowed) as refused:
        services.transition_incident(incident_id=incident.pk, name="close", actor=supervisor)

    assert (
        str(refused.value.message)
        == "“Close incident” is not possible while the incident is “Open”."
    )


def test_open_the_state_and_open_the_button_are_two_words():
    with translation.override("id"):
        assert str(GamasIncidentMachine.states["open"].label) == "Terbuka"
        assert translation.gettext("Open") == "Buka"
        assert str(FLOWS["gamas"].states["converted"].label) == "Dikonversi"


def test_the_sweeps_summary_counts_in_the_right_form():
    with translation.override("en"):
        assert SUMMARIES["sla_breached"] % {"count": 1} == "1 ticket breached its SLA."
        assert SUMMARIES["sla_breached"] % {"count": 3} == "3 tickets breached their SLA."
    with translation.override("id"):
        assert SUMMARIES["sla_breached"] % {"count": 3} == "3 tiket melanggar SLA."

"""What the services send to which channel-layer groups, and when: after commit, once per
committed change, nothing for a rolled-back one; a big batch as one message per queue; the
incident's progress; personal notifications with the unread count; nothing lost to an outage.

The layer records what reaches it (`recorded`, tests/live/conftest.py). Changes commit for real
(`transaction=True`). The expected messages are written out by hand.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests import factories
from tickets import services
from tickets.exceptions import TransitionForbidden
from tickets.models import Escalation, Notification, Ticket, TransitionLog
from tickets.services import gamas, live

pytestmark = pytest.mark.django_db(transaction=True)

DASHBOARD = {"type": "dashboard"}


class Rollback(Exception):
    pass


@pytest.fixture
def agent(transactional_db):
    return factories.agent(site_code="PST", flows=("nossa", "gamas"), username="agent.pusat")


@pytest.fixture
def waiting(transactional_db):
    """A NOSSA ticket waiting in the Pusat queue."""
    return factories.flow_ticket("nossa", site_code="PST")


def escalated(ticket, agent) -> Escalation:
    """`agent` takes `ticket`, starts the diagnosis and escalates it to Support."""
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "Perlu Support"}
    )
    return Escalation.objects.get(ticket_id=ticket.pk)


def logged_at(ticket, name: str) -> str:
    return TransitionLog.objects.filter(ticket_id=ticket.pk, transition=name).get().at.isoformat()


def claimed(ticket) -> dict:
    return {"type": "ticket", "id": ticket.pk, "site": "PST", "flow": "nossa", "state": "claimed",
            "from_state": "new", "kind": "transition", "awaiting_agent": False,
            "at": logged_at(ticket, "claim")}  # fmt: skip


# --- After commit, once per change -------------------------------------------------------------
def test_a_committed_claim_sends_one_ticket_message_to_its_groups_after_commit(
    recorded, agent, waiting
):
    recorded.clear()
    with transaction.atomic():
        services.claim_ticket(ticket_id=waiting.pk, agent=agent)
        assert recorded() == []  # not before the commit

    message = claimed(waiting)
    assert set(message) == {"type", "id", "site", "flow", "state", "from_state", "kind",
                            "awaiting_agent", "at"}  # fmt: skip
    assert recorded() == [
        (f"ticket.{waiting.pk}", message),
        ("queue.PST.nossa", message),
        ("queue.all", message),
        ("dashboard", DASHBOARD),
    ]


def test_an_arrival_is_sent_to_its_queue_with_no_personal_data(recorded):
    ticket = factories.flow_ticket("c4_caring", summary="Pelanggan Budi, 081234567890")
    arrival = TransitionLog.objects.get(ticket_id=ticket.pk, transition="arrive")
    message = {"type": "ticket", "id": ticket.pk, "site": "MLG", "flow": "c4_caring",
               "state": arrival.to_state, "from_state": "", "kind": "arrived",
               "awaiting_agent": True, "at": arrival.at.isoformat()}  # fmt: skip
    assert recorded("queue.MLG.c4_caring") == [message]
    assert recorded("queue.all") == [message]
    assert "0812" not in repr(recorded()) and "Budi" not in repr(recorded())


def test_a_rolled_back_change_sends_nothing(recorded, agent, waiting):
    recorded.clear()
    with pytest.raises(Rollback), transaction.atomic():
        services.claim_ticket(ticket_id=waiting.pk, agent=agent)
        raise Rollback

    assert recorded() == []
    assert Ticket.objects.get(pk=waiting.pk).state == "new"


def test_a_refused_change_sends_nothing(recorded, waiting):
    recorded.clear()
    with pytest.raises(TransitionForbidden):
        services.claim_ticket(ticket_id=waiting.pk, agent=factories.role_user("Support"))
    assert recorded() == []


def test_two_changes_in_one_transaction_are_both_sent_after_its_commit(recorded, agent, waiting):
    recorded.clear()
    with transaction.atomic():
        services.claim_ticket(ticket_id=waiting.pk, agent=agent)
        services.add_note(ticket_id=waiting.pk, author=agent, text="Pelanggan minta ditelepon")
        assert recorded() == []

    note = {"type": "ticket", "id": waiting.pk, "site": "PST", "flow": "nossa", "state": "claimed",
            "from_state": "claimed", "kind": "note", "awaiting_agent": False}  # fmt: skip
    sent = recorded(f"ticket.{waiting.pk}")
    assert sent[0] == claimed(waiting)
    assert {key: value for key, value in sent[1].items() if key != "at"} == note
    assert len(sent) == 2
    assert recorded("queue.PST.nossa") == sent
    assert recorded("dashboard") == [DASHBOARD]


def test_a_transaction_is_sent_in_one_go_however_many_changes_it_makes(
    recorded, agent, waiting, monkeypatch
):
    batches = []
    send = live._send
    monkeypatch.setattr(live, "_send", lambda batch: (batches.append(batch), send(batch)))

    with transaction.atomic():
        services.claim_ticket(ticket_id=waiting.pk, agent=agent)
        for number in range(3):
            services.add_note(ticket_id=waiting.pk, author=agent, text=f"Catatan {number}")
        assert batches == []

    assert [len(batch.tickets) for batch in batches] == [4]
    assert [message["kind"] for message in recorded(f"ticket.{waiting.pk}")][-4:] == [
        "transition", "note", "note", "note"
    ]  # fmt: skip


def test_with_nobody_to_hear_a_change_collects_nothing(settings, agent, waiting):
    """The in-memory layer reaches only sockets of this process: with none, nothing is built."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    assert live.LiveUpdates().wants() is False


# --- Big batches and gamas incidents -----------------------------------------------------------
def incident_with_children(pusat: int, malang: int):
    incident = factories.open_gamas()
    for site, count in (("PST", pusat), ("MLG", malang)):
        for _ in range(count):
            factories.arrive("gamas", service=factories.service_at(site, odp=incident.area_code))
    return incident


def recovered(incident, monkeypatch) -> None:
    """The incident recovered, its fan-out not started (the test runs the batch itself)."""
    monkeypatch.setattr(gamas, "start_fan_out", lambda incident_id: True)
    services.transition_incident(
        incident_id=incident.pk, name="recover", actor=factories.role_user("Supervisor")
    )


def test_a_fan_out_batch_of_many_tickets_is_one_queue_message_per_site_and_flow(
    recorded, monkeypatch
):
    incident = incident_with_children(pusat=60, malang=55)
    recovered(incident, monkeypatch)
    recorded.clear()

    moved = services.fan_out_recovery_batch(incident_id=incident.pk)

    assert moved == 115
    assert recorded("queue.PST.gamas") == [{"type": "queue", "site": "PST", "flow": "gamas"}]
    assert recorded("queue.MLG.gamas") == [{"type": "queue", "site": "MLG", "flow": "gamas"}]
    assert recorded("queue.all") == [
        {"type": "queue", "site": "MLG", "flow": "gamas"},
        {"type": "queue", "site": "PST", "flow": "gamas"},
    ]
    progress = {"type": "incident", "id": incident.pk, "state": "recovered", "done": 115,
                "total": 115}  # fmt: skip
    assert recorded(f"incident.{incident.pk}") == [progress]
    assert recorded("incidents") == [progress]
    assert recorded("dashboard") == [DASHBOARD]
    children = list(Ticket.objects.filter(gamas_incident=incident).values_list("pk", flat=True))
    for child in children:  # each child's own tab still hears of it
        (message,) = recorded(f"ticket.{child}")
        assert (message["state"], message["from_state"]) == ("verifying", "waiting_recovery")
    assert len(recorded()) == 115 + 4 + 2 + 1


def test_a_small_fan_out_batch_tells_the_queues_ticket_by_ticket(recorded, monkeypatch, settings):
    settings.TIER2_GAMAS_BATCH_SIZE = 2
    incident = incident_with_children(pusat=3, malang=0)
    recovered(incident, monkeypatch)
    recorded.clear()

    services.fan_out_recovery_batch(incident_id=incident.pk)  # two of three children
    first = recorded()
    recorded.clear()
    services.fan_out_recovery_batch(incident_id=incident.pk)  # the last one

    queue = [message for group, message in first if group == "queue.PST.gamas"]
    assert [(message["type"], message["state"]) for message in queue] == [
        ("ticket", "verifying"), ("ticket", "verifying")
    ]  # fmt: skip
    assert [message for group, message in first if group == f"incident.{incident.pk}"] == [
        {"type": "incident", "id": incident.pk, "state": "recovered", "done": 2, "total": 3}
    ]
    assert recorded(f"incident.{incident.pk}") == [
        {"type": "incident", "id": incident.pk, "state": "recovered", "done": 3, "total": 3}
    ]


def test_incident_transitions_send_its_state_and_progress(recorded, monkeypatch):
    incident = incident_with_children(pusat=2, malang=1)
    assert recorded("incidents")[0] == {
        "type": "incident", "id": incident.pk, "state": "open", "done": 0, "total": 0
    }  # fmt: skip
    recorded.clear()
    recovered(incident, monkeypatch)
    assert recorded(f"incident.{incident.pk}") == [
        {"type": "incident", "id": incident.pk, "state": "recovered", "done": 0, "total": 3}
    ]


# --- Personal notifications ----------------------------------------------------------------------
def notification(row: Notification, unread: int) -> dict:
    return {"type": "notification", "id": row.pk, "kind": row.kind, "unread": unread}


def test_an_sla_at_risk_mark_notifies_the_holder_and_the_supervisors_only(recorded, agent, waiting):
    services.claim_ticket(ticket_id=waiting.pk, agent=agent)
    colleague = factories.agent(site_code="PST", flows=("nossa",), username="agent.dua")
    supervisor = factories.user("Supervisor", username="supervisor.sla")
    Notification.objects.create(user=agent, kind="escalation_answered", message="earlier")
    now = timezone.now()
    Ticket.objects.filter(pk=waiting.pk).update(warn_at=now - timedelta(minutes=1))
    recorded.clear()

    result = services.sweep_sla(now=now)

    assert result.at_risk == 1
    mine = Notification.objects.get(user=agent, kind="sla_at_risk")
    summary = Notification.objects.get(user=supervisor, kind="sla_at_risk")
    assert recorded(f"user.{agent.pk}") == [notification(mine, unread=2)]
    assert recorded(f"user.{supervisor.pk}") == [notification(summary, unread=1)]
    assert recorded(f"user.{colleague.pk}") == []
    (mark,) = recorded(f"ticket.{waiting.pk}")
    assert (mark["kind"], mark["state"]) == ("sla_mark", "claimed")


def test_supports_answer_notifies_the_agent_holding_the_ticket(recorded, agent, waiting):
    support = factories.role_user("Support")
    escalation = escalated(waiting, agent)
    recorded.clear()

    services.answer_escalation(escalation_id=escalation.pk, actor=support, answer="Port reset")

    row = Notification.objects.get(user=agent, kind="escalation_answered")
    assert recorded(f"user.{agent.pk}") == [notification(row, unread=1)]
    assert recorded(f"user.{support.pk}") == []


def test_handing_an_escalation_over_notifies_the_support_user_given_it(recorded, agent, waiting):
    first, second = factories.role_user("Support"), factories.role_user("Support")
    escalation = escalated(waiting, agent)
    recorded.clear()

    services.assign_escalation(escalation_id=escalation.pk, support_user=second, actor=first)

    row = Notification.objects.get(user=second, kind="escalation_assigned")
    assert recorded(f"user.{second.pk}") == [notification(row, unread=1)]
    assert recorded(f"user.{first.pk}") == []


def test_a_reassignment_notifies_the_agent_given_the_ticket_only(recorded, agent, waiting):
    services.claim_ticket(ticket_id=waiting.pk, agent=agent)
    other = factories.agent(site_code="PST", flows=("nossa",), username="agent.dua")
    supervisor = factories.user("Supervisor", username="supervisor.reassign")
    recorded.clear()

    services.reassign_ticket(ticket_id=waiting.pk, supervisor=supervisor, agent=other)

    row = Notification.objects.get(user=other)
    assert (row.kind, row.ticket_id) == ("ticket_reassigned", waiting.pk)
    assert recorded(f"user.{other.pk}") == [notification(row, unread=1)]
    assert recorded(f"user.{agent.pk}") == recorded(f"user.{supervisor.pk}") == []
    assert not Notification.objects.filter(user=agent).exists()


# --- Never in the way of the change ------------------------------------------------------------
def test_a_channel_layer_outage_never_fails_the_change(settings, agent, waiting, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "tests.live.BrokenLayer"}}

    with caplog.at_level(logging.WARNING, logger="tickets.services.live"):
        ticket = services.claim_ticket(ticket_id=waiting.pk, agent=agent)
        assert live.drain(5.0)

    assert ticket.state == "claimed"
    assert Ticket.objects.get(pk=waiting.pk).assignee_id == agent.pk
    assert any("Connection refused" in record.getMessage() for record in caplog.records)


def test_a_misconfigured_channel_layer_never_fails_the_change(settings, agent, waiting):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "no.such.Layer"}}

    services.claim_ticket(ticket_id=waiting.pk, agent=agent)

    assert Ticket.objects.get(pk=waiting.pk).state == "claimed"

"""The transactional outbox: a transition's calls are rows of its transaction, sent after commit.

The Celery task is replaced by a recorder here, so nothing reaches a broker or runs a call: these
tests are about what is written and when it is sent, not about what the calls do.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from integrations import outbox
from integrations.models import AdapterCall, CallStatus
from integrations.tasks import run_adapter_call
from tests import factories
from tickets import services
from tickets.models import TransitionLog

pytestmark = pytest.mark.django_db

DIAGNOSIS_CALLS = [("ibooster", "connection_status"), ("isiska", "profile"), ("acs", "diagnose")]


class Rollback(Exception):
    """Raised by a test to undo the transaction around a transition."""


@pytest.fixture
def agent(pusat):
    return factories.agent(flows=("nossa",))


@pytest.fixture
def claimed_ticket(agent, django_capture_on_commit_callbacks):
    ticket = factories.arrive(
        "nossa", nossa_number="IN16672489", source_system="nossa", source_ref="IN16672489"
    )
    with django_capture_on_commit_callbacks(execute=False):  # the claim's call is not under test
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    AdapterCall.objects.filter(ticket=ticket).delete()
    return factories.reload(ticket)


@pytest.fixture
def sent(monkeypatch):
    """The call ids handed to Celery, in order (the task itself never runs)."""
    ids: list[int] = []
    monkeypatch.setattr(run_adapter_call, "delay", ids.append)
    return ids


def start_diagnosis(ticket, agent):
    return services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)


def diagnosis_calls(ticket):
    return list(AdapterCall.objects.filter(ticket=ticket).order_by("pk"))


def test_a_transition_writes_its_calls_with_the_state_change_and_its_log_entry(
    claimed_ticket, agent, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        start_diagnosis(claimed_ticket, agent)

    entry = TransitionLog.objects.get(ticket=claimed_ticket, transition="start_diagnosis")
    rows = diagnosis_calls(claimed_ticket)
    assert [(row.app, row.operation) for row in rows] == DIAGNOSIS_CALLS
    for row in rows:
        assert row.log_entry == entry
        assert (row.status, row.attempts, row.dispatched_at) == (CallStatus.PENDING, 0, None)
    assert len({row.idempotency_key for row in rows}) == len(rows)
    assert factories.reload(claimed_ticket).state == "diagnosing"


def test_a_rolled_back_transition_leaves_no_calls_and_sends_nothing(
    claimed_ticket, agent, sent, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Rollback),
        transaction.atomic(),
    ):
        start_diagnosis(claimed_ticket, agent)
        assert len(diagnosis_calls(claimed_ticket)) == 3  # written inside the transaction
        raise Rollback

    assert diagnosis_calls(claimed_ticket) == []
    assert callbacks == []
    assert sent == []
    assert factories.reload(claimed_ticket).state == "claimed"
    assert not TransitionLog.objects.filter(transition="start_diagnosis").exists()


def test_calls_are_sent_to_celery_only_after_commit(
    claimed_ticket, agent, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        start_diagnosis(claimed_ticket, agent)
    rows = diagnosis_calls(claimed_ticket)
    assert sent == []
    assert len(callbacks) == 1
    assert [row.dispatched_at for row in rows] == [None, None, None]

    callbacks[0]()  # the commit

    assert sent == [row.pk for row in rows]
    for row in rows:
        row.refresh_from_db()
        assert row.dispatched_at is not None
        assert row.status == CallStatus.PENDING  # sent, not yet run


def test_a_broker_error_leaves_the_calls_pending_and_the_state_change_committed(
    claimed_ticket, agent, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(call_id):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(run_adapter_call, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        start_diagnosis(claimed_ticket, agent)  # no error reaches the agent

    assert factories.reload(claimed_ticket).state == "diagnosing"
    rows = diagnosis_calls(claimed_ticket)
    assert len(rows) == 3
    for row in rows:
        assert (row.status, row.attempts, row.dispatched_at) == (CallStatus.PENDING, 0, None)


def test_a_broker_error_midway_leaves_the_unsent_calls_to_the_sweep(
    claimed_ticket, agent, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[int] = []

    def broker_fails_after_one(call_id):
        if sent:
            raise OperationalError("Connection to Redis lost")
        sent.append(call_id)

    monkeypatch.setattr(run_adapter_call, "delay", broker_fails_after_one)
    with django_capture_on_commit_callbacks(execute=True):
        start_diagnosis(claimed_ticket, agent)
    first, *unsent = diagnosis_calls(claimed_ticket)
    assert sent == [first.pk]
    assert first.dispatched_at is not None
    assert [row.dispatched_at for row in unsent] == [None, None]

    # Later, with the broker back, the sweep sends what was never sent, and only that.
    monkeypatch.setattr(run_adapter_call, "delay", sent.append)
    AdapterCall.objects.filter(ticket=claimed_ticket).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    first.dispatched_at = timezone.now()  # the first one was sent a moment ago: not stale
    first.save(update_fields=["dispatched_at"])

    assert outbox.redispatch_stale() == 2
    assert sent == [first.pk, *(row.pk for row in unsent)]

"""Exactly-once external calls: claims, leases, the sweep's re-sends and lost replies.

Celery runs eagerly here (a retry runs at once, inside the delivery that asked for it), and the
stubs count their writes in a ledger of this process (`effects`), so each test sees how many
times a write reached the external application and how many times it was applied.
"""

from __future__ import annotations

import itertools
import random
import threading
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from integrations import outbox
from integrations.adapters import (
    AdapterRejected,
    AdapterUnavailable,
    EffectCount,
    StubBehaviour,
    get_adapter,
    stub_effects,
)
from integrations.adapters.base import RedisLedger, idempotent_reference
from integrations.adapters.isiska import IsiskaStub
from integrations.adapters.nossa import NossaStub
from integrations.models import AdapterCall, CallStatus, OutboxProbe
from integrations.tasks import redispatch_outbox, retry_countdown, run_adapter_call
from tests import factories
from tickets import services
from tickets.models import ContactOutcome, TransitionLog

pytestmark = pytest.mark.django_db

_numbers = itertools.count(26672489)


@pytest.fixture
def effects(settings):
    """A fresh ledger in this process's memory for the stubs' writes."""
    settings.TIER2_STUB_EFFECTS_URL = ""
    settings.TIER2_STUB_EFFECTS_KEY = f"test-{uuid.uuid4().hex}"
    return stub_effects()


@pytest.fixture
def sent(monkeypatch):
    """The call ids handed to Celery by the outbox (the task itself does not run)."""
    ids: list[int] = []
    monkeypatch.setattr(run_adapter_call, "delay", ids.append)
    return ids


class Scripted(random.Random):
    """A generator whose `random()` returns the given values in turn (then 0.99: no fault)."""

    def __init__(self, values):
        super().__init__(0)
        self.values = list(values)

    def random(self) -> float:
        return self.values.pop(0) if self.values else 0.99


def nossa_ticket():
    number = f"IN{next(_numbers):08d}"
    return factories.arrive("nossa", nossa_number=number, source_system="nossa", source_ref=number)


def take_call(ticket, key: str, **fields) -> AdapterCall:
    """A NOSSA take_ticket row (a write) for `ticket`, written directly to the outbox."""
    return AdapterCall.objects.create(
        ticket=ticket,
        app="nossa",
        operation="take_ticket",
        idempotency_key=f"t2-x-{ticket.pk}-{key}",
        **fields,
    )


def reload(call: AdapterCall) -> AdapterCall:
    call.refresh_from_db()
    return call


# --- The stubs' faults and their ledger ---------------------------------------------------------
TAKE = {"nossa_number": "IN16672489", "agent_code": "A1"}


def test_a_lost_reply_is_applied_and_its_repeat_is_counted_but_not_applied_again():
    stub = NossaStub(StubBehaviour(lost_reply_rate=1.0))

    for _ in range(2):
        with pytest.raises(AdapterUnavailable, match="after it was applied"):
            stub.take_ticket(**TAKE, idempotency_key="k-1")
    assert stub.effects.counts() == {("nossa", "k-1"): EffectCount(writes=2, lost_replies=2)}
    assert stub.effects.counts()["nossa", "k-1"].applied == 1


def test_a_failure_before_the_call_and_a_rejected_write_apply_nothing():
    stub = NossaStub(StubBehaviour(failure_rate=1.0))
    with pytest.raises(AdapterUnavailable):
        stub.take_ticket(**TAKE, idempotency_key="k-2")
    rejected = NossaStub()
    with pytest.raises(AdapterRejected, match="nossa_number"):
        rejected.take_ticket(nossa_number="123", agent_code="A1", idempotency_key="k-3")
    assert stub.effects.counts() == rejected.effects.counts() == {}


def test_reads_are_not_writes_and_never_lose_a_reply():
    stub = IsiskaStub(StubBehaviour(lost_reply_rate=1.0))
    stub.profile(service_number="131162345678")
    assert stub.effects.counts() == {}


def test_latency_jitters_between_the_latency_and_the_latency_plus_jitter(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr("integrations.adapters.base.time.sleep", slept.append)
    stub = IsiskaStub(StubBehaviour(latency_ms=100, jitter_ms=50), failure_random=random.Random(1))
    for _ in range(50):
        stub.profile(service_number="131162345678")
    assert all(0.1 <= seconds <= 0.15 for seconds in slept) and len(set(slept)) > 40


@pytest.mark.parametrize("behaviour", [{"jitter_ms": -1}, {"lost_reply_rate": 1.5}])
def test_stub_behaviour_rejects_impossible_faults(behaviour):
    with pytest.raises(ValueError):
        StubBehaviour(**behaviour)


def test_the_registry_builds_stubs_with_the_configured_faults_and_the_shared_ledger(settings):
    settings.TIER2_STUB_EFFECTS_URL = ""
    settings.TIER2_ADAPTERS = {"nossa": {"lost_reply_rate": 0.25, "jitter_ms": 30}}
    adapter = get_adapter("nossa")
    assert adapter.behaviour == StubBehaviour(lost_reply_rate=0.25, jitter_ms=30)
    assert adapter.effects is stub_effects() is get_adapter("acs").effects


@pytest.mark.redis
def test_the_redis_ledger_is_read_by_another_process_s_client():
    """Workers write it, a test reads it: two clients of the same Redis keys."""
    prefix = f"t2test:ledger:{uuid.uuid4().hex[:12]}"
    writer, reader = (
        RedisLedger(settings.REDIS_URL, prefix),
        RedisLedger(settings.REDIS_URL, prefix),
    )
    try:
        assert writer.record_write("nossa", "t2-1-nossa-take_ticket") == 1
        assert writer.record_write("nossa", "t2-1-nossa-take_ticket") == 2
        writer.record_lost_reply("nossa", "t2-1-nossa-take_ticket")
        writer.record_write("mycx", "t2-2-mycx-open_case")
        assert reader.counts() == {
            ("nossa", "t2-1-nossa-take_ticket"): EffectCount(writes=2, lost_replies=1),
            ("mycx", "t2-2-mycx-open_case"): EffectCount(writes=1),
        }
    finally:
        writer.clear()
    assert reader.counts() == {}


# --- The claim: a compare-and-set before every run -----------------------------------------
def test_a_duplicate_delivery_of_a_running_call_is_refused_without_calling(effects):
    ticket = nossa_ticket()
    now = timezone.now()
    call = take_call(
        ticket,
        "running",
        status=CallStatus.RUNNING,
        attempts=1,
        lease_until=now + timedelta(seconds=60),
    )

    assert run_adapter_call.apply(args=[call.pk]).get() == CallStatus.RUNNING

    call = reload(call)
    assert (call.status, call.attempts, call.request) == (CallStatus.RUNNING, 1, {})
    assert effects.counts() == {}, "the duplicate delivery called NOSSA"


class TwinDeliveredNossa(NossaStub):
    """While a take_ticket runs, the broker delivers the same call to a second worker."""

    twin_results: list[str] = []

    def take_ticket(self, *, nossa_number: str, agent_code: str, idempotency_key: str):
        call = AdapterCall.objects.get(idempotency_key=idempotency_key)
        self.twin_results.append(run_adapter_call.apply(args=[call.pk]).get())
        return super().take_ticket(
            nossa_number=nossa_number, agent_code=agent_code, idempotency_key=idempotency_key
        )


def test_a_call_delivered_again_while_it_runs_runs_once(effects, settings):
    settings.TIER2_ADAPTERS = {
        "nossa": {"class": f"{__name__}.TwinDeliveredNossa"},
    }
    TwinDeliveredNossa.twin_results.clear()
    call = take_call(nossa_ticket(), "twin")

    assert run_adapter_call.apply(args=[call.pk]).get() == CallStatus.SUCCEEDED

    assert TwinDeliveredNossa.twin_results == [CallStatus.RUNNING]  # refused by the claim
    call = reload(call)
    assert (call.status, call.attempts) == (CallStatus.SUCCEEDED, 1)
    assert effects.counts() == {("nossa", call.idempotency_key): EffectCount(writes=1)}


def test_a_finished_call_delivered_again_is_not_run(effects):
    call = take_call(nossa_ticket(), "finished")
    run_adapter_call.apply(args=[call.pk])
    finished = reload(call)

    assert run_adapter_call.apply(args=[call.pk]).get() == CallStatus.SUCCEEDED

    call = reload(call)
    assert (call.attempts, call.finished_at, call.response) == (
        finished.attempts,
        finished.finished_at,
        finished.response,
    )
    assert effects.counts()[("nossa", call.idempotency_key)].writes == 1


def test_a_running_call_past_its_lease_runs_again_and_its_write_is_applied_once(effects):
    ticket = nossa_ticket()
    now = timezone.now()
    call = take_call(
        ticket,
        "killed",
        status=CallStatus.RUNNING,
        attempts=1,
        lease_until=now - timedelta(seconds=1),
    )
    # The killed worker's run reached NOSSA before it died.
    get_adapter("nossa").take_ticket(
        nossa_number=ticket.nossa_number, agent_code="TIER2", idempotency_key=call.idempotency_key
    )

    assert run_adapter_call.apply(args=[call.pk]).get() == CallStatus.SUCCEEDED

    call = reload(call)
    assert (call.status, call.attempts, call.lease_until) == (CallStatus.SUCCEEDED, 2, None)
    count = effects.counts()[("nossa", call.idempotency_key)]
    assert (count.applied, count.repeats) == (1, 1)


def test_a_run_that_lost_its_lease_does_not_overwrite_the_newer_runs_outcome(effects, settings):
    """A run outlived its lease and another delivery took the call over: only a success of the
    old run is recorded, never its failure."""
    from integrations.tasks import _finish

    call = take_call(nossa_ticket(), "overtaken", status=CallStatus.RUNNING, attempts=2)

    assert _finish(call.pk, 1, status=CallStatus.FAILED, error="timed out") is None
    assert reload(call).status == CallStatus.RUNNING
    assert _finish(call.pk, 1, status=CallStatus.SUCCEEDED, response={"ok": True}) is not None
    assert (reload(call).status, reload(call).response) == (CallStatus.SUCCEEDED, {"ok": True})
    assert _finish(call.pk, 2, status=CallStatus.SUCCEEDED, response={"ok": 2}) is None
    assert reload(call).response == {"ok": True}


# --- Lost replies: the write was applied, the answer never came --------------------------------
@pytest.fixture
def agent(pusat):
    return factories.agent(flows=("callback", "nossa"))


def test_lost_replies_are_retried_and_converge_to_one_effect(
    effects, settings, agent, django_capture_on_commit_callbacks
):
    # Each attempt draws twice: a failure before the call (0.9: none), then the lost reply.
    settings.TIER2_ADAPTERS = {
        "nossa": {
            "lost_reply_rate": 0.5,
            "failure_random": Scripted([0.9, 0.1, 0.9, 0.1, 0.9, 0.9]),
        }
    }
    ticket = factories.arrive("callback", source_system="callback", source_ref="CB0000000077")
    for name in ("claim", "start_contact"):
        services.transition_ticket(ticket_id=ticket.pk, name=name, actor=agent)
    services.record_contact_attempt(
        ticket_id=ticket.pk, agent=agent, outcome=ContactOutcome.ANSWERED
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.transition_ticket(
            ticket_id=ticket.pk, name="create_nossa_ticket", actor=agent, inputs={"note": "Mati"}
        )

    call = AdapterCall.objects.get(ticket=ticket, app="nossa", operation="create_ticket")
    assert (call.status, call.attempts, call.send_count) == (CallStatus.SUCCEEDED, 3, 3)
    assert effects.counts() == {
        ("nossa", call.idempotency_key): EffectCount(writes=3, lost_replies=2)
    }
    expected = idempotent_reference(
        "nossa", "create_ticket", call.idempotency_key, prefix="IN", digits=8
    )
    assert factories.reload(ticket).nossa_number == call.response["nossa_number"] == expected
    assert (
        TransitionLog.objects.filter(ticket=ticket, transition="create_nossa_ticket").count() == 1
    )


def test_many_calls_with_lost_replies_and_failures_each_take_effect_exactly_once(effects, settings):
    settings.TIER2_ADAPTERS = {
        "nossa": {"lost_reply_rate": 0.3, "failure_rate": 0.1, "failure_random": random.Random(5)}
    }
    settings.TIER2_ADAPTER_MAX_RETRIES = 30
    ticket = nossa_ticket()
    calls = [take_call(ticket, f"many-{index}") for index in range(120)]

    assert outbox.dispatch([call.pk for call in calls]) == len(calls)

    rows = list(AdapterCall.objects.filter(pk__in=[call.pk for call in calls]))
    assert {row.status for row in rows} == {CallStatus.SUCCEEDED}
    counts = effects.counts()
    assert set(counts) == {("nossa", row.idempotency_key) for row in rows}
    for row in rows:
        count = counts["nossa", row.idempotency_key]
        assert count.applied == 1
        assert count.repeats == count.lost_replies, "a repeat that no lost reply explains"
        assert row.send_count == row.attempts  # one message per attempt, no duplicate
    assert sum(count.lost_replies for count in counts.values()) > 10, "the fault was not drawn"


# --- Celery's backoff --------------------------------------------------------------------------
def test_retries_wait_celerys_exponential_backoff(monkeypatch):
    assert run_adapter_call.retry_backoff == settings.TIER2_ADAPTER_RETRY_BACKOFF_SECONDS
    assert run_adapter_call.retry_backoff_max == settings.TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS
    assert run_adapter_call.retry_jitter == settings.TIER2_ADAPTER_RETRY_JITTER
    monkeypatch.setattr(run_adapter_call, "retry_backoff", 0.5)
    monkeypatch.setattr(run_adapter_call, "retry_backoff_max", 3)
    monkeypatch.setattr(run_adapter_call, "retry_jitter", False)
    assert [retry_countdown(run_adapter_call, n) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 3, 3]

    monkeypatch.setattr(run_adapter_call, "retry_jitter", True)
    waits = [retry_countdown(run_adapter_call, 3) for _ in range(200)]
    assert all(0 <= wait <= 2 for wait in waits) and len(set(waits)) > 20  # full jitter


def test_a_retry_is_recorded_as_a_message_due_after_its_countdown(settings, sent, monkeypatch):
    settings.TIER2_ADAPTERS = {"nossa": {"failure_rate": 1.0}}
    call = take_call(nossa_ticket(), "retry")
    retried = {}
    monkeypatch.setattr(
        run_adapter_call, "retry", lambda **options: retried.update(options) or RuntimeError()
    )

    with pytest.raises(RuntimeError):
        run_adapter_call.run(call.pk)

    call = reload(call)
    assert (call.status, call.attempts, call.lease_until) == (CallStatus.PENDING, 1, None)
    assert call.send_count == 1
    assert call.due_at - call.last_sent_at == timedelta(seconds=retried["countdown"])
    assert "timed out" in call.error


# --- The sweep ---------------------------------------------------------------------------------
def ago(seconds: float):
    return timezone.now() - timedelta(seconds=seconds)


def test_the_sweep_does_not_send_again_a_call_sent_within_the_grace_time(sent):
    grace = settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS
    ticket = nossa_ticket()
    old = ago(grace * 3)
    recent = take_call(ticket, "recent", created_at=old, last_sent_at=ago(1), due_at=ago(1))
    waiting_retry = take_call(  # a retry sent a moment ago, due in 30 s
        ticket, "retry", created_at=old, attempts=1, last_sent_at=ago(1), due_at=ago(-30)
    )
    refused_retry = take_call(  # the broker refused the retry; it is due in 30 s
        ticket, "refused", created_at=old, attempts=1, due_at=ago(-30)
    )
    never_sent = take_call(ticket, "never", created_at=old)
    OutboxProbe.objects.create(queue="celery", sent_at=ago(0), passed_until=ago(0))

    assert outbox.redispatch_stale() == 1
    assert sent == [never_sent.pk]
    assert outbox.redispatch_stale() == 0, "sent again a call it had just sent"
    assert sent == [never_sent.pk]
    for row in (recent, waiting_retry, refused_retry):
        assert reload(row).send_count == 0


def test_the_sweep_leaves_queued_messages_alone_until_a_probe_shows_they_were_lost(sent):
    grace = settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS
    queued = take_call(
        nossa_ticket(), "q", created_at=ago(grace * 10), last_sent_at=ago(grace * 5),
        due_at=ago(grace * 5), send_count=1,
    )  # fmt: skip

    # A backlog, or a broker that was down: the probe sent after it has not come out yet.
    probe = OutboxProbe.objects.create(queue="celery", sent_at=ago(grace), passed_until=None)
    assert outbox.redispatch_stale() == 0
    probe.passed_until = ago(grace * 6)  # an older probe came out: the queue is behind it
    probe.save()
    assert outbox.redispatch_stale() == 0
    assert sent == []

    outbox.probe_passed(ago(grace))  # the queue has delivered past the call's message
    assert outbox.redispatch_stale() == 1
    assert outbox.redispatch_stale() == 0
    assert sent == [queued.pk]
    assert reload(queued).send_count == 2


def test_the_sweep_sends_a_call_again_once_after_its_worker_died(sent):
    grace = settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS
    sent_at = ago(grace * 3)
    died = take_call(
        nossa_ticket(), "died", created_at=sent_at, last_sent_at=sent_at, due_at=sent_at,
        status=CallStatus.RUNNING, attempts=1, lease_until=ago(1), send_count=1,
    )  # fmt: skip

    assert outbox.redispatch_stale() == 1
    assert outbox.redispatch_stale() == 0  # its new message is on its way
    OutboxProbe.objects.create(queue="celery", sent_at=ago(0), passed_until=ago(0))
    assert outbox.redispatch_stale() == 0  # ... and may still be claimed within the grace time
    AdapterCall.objects.filter(pk=died.pk).update(
        last_sent_at=ago(grace * 2), due_at=ago(grace * 2)
    )
    assert outbox.redispatch_stale() == 1  # the queue delivered it, nobody claimed it: lost
    assert sent == [died.pk, died.pk]


def test_an_eager_sweep_probes_an_empty_queue_and_sends_lost_calls(settings):
    grace = settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS
    call = take_call(
        nossa_ticket(), "lost", created_at=ago(grace * 3), last_sent_at=ago(grace * 2),
        due_at=ago(grace * 2), send_count=1,
    )  # fmt: skip

    redispatch_outbox.apply()

    probe = OutboxProbe.objects.get(queue="celery")
    assert probe.passed_until == probe.sent_at is not None
    call = reload(call)
    assert (call.status, call.attempts, call.send_count) == (CallStatus.SUCCEEDED, 1, 2)


def test_a_probe_is_not_sent_while_the_previous_one_waits_in_the_queue(monkeypatch):
    from integrations.tasks import outbox_probe

    probes: list[str] = []
    monkeypatch.setattr(outbox_probe, "delay", probes.append)

    assert outbox.send_probe() is True
    assert outbox.send_probe() is False  # the first one has not come out yet
    OutboxProbe.objects.update(sent_at=ago(settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS + 1))
    assert outbox.send_probe() is True  # lost with the broker's data, perhaps: send another
    assert len(probes) == 2


# --- PostgreSQL: concurrent claims ---------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_of_many_concurrent_deliveries_exactly_one_claims_the_call():
    call = AdapterCall.objects.create(
        app="nossa", operation="take_ticket", idempotency_key="t2-race"
    )
    workers = 8
    barrier = threading.Barrier(workers)
    claims: list[int | None] = []

    def deliver():
        try:
            barrier.wait()
            claims.append(outbox.claim(call.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(claims, key=lambda claim: claim is None) == [1] + [None] * (workers - 1)
    assert reload(call).attempts == 1

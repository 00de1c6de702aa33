"""A backlog of 1,000 external writes through real workers, killed twice, and a broker outage.

The issue this guards: after a 60 s Redis outage the old sweep sent 1,259 messages for 872
calls, and a NOSSA take_ticket ran twice at once. Here one test starts a private, persistent
redis-server as the broker and real prefork workers on it, and sends the outbox sweep every two
seconds, as beat would. The stubs misbehave the way that matters (a share of writes is applied
and then times out, a share fails before the write, latency jitters), and count every write per
idempotency key in the shared Redis, where this process reads them.

While the backlog drains, the worker is SIGKILLed twice in the middle of calls and the broker
is killed and kept down for a minute (`TIER2_TEST_OUTAGE_SECONDS`). In the end every call has
succeeded, every write was applied exactly once (a repeat is only ever a retry after a lost
reply or a killed run, and is deduplicated by its key), and the messages published for the
calls (dispatches, retries, re-sends) stay within 1.1 per call.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count, Max, Sum
from django.utils import timezone
from kombu import Connection

from integrations.adapters.base import RedisLedger
from integrations.models import AdapterCall, CallStatus
from integrations.tasks import redispatch_outbox
from tests import factories
from tests.integrations import worker

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

CALLS = 1000
OUTAGE_SECONDS = int(os.environ.get("TIER2_TEST_OUTAGE_SECONDS", "60"))
SWEEP_EVERY_SECONDS = 2
CONCURRENCY = 2
KILLS = 2
# Writes only, and none whose answer changes the ticket: the test is about the calls.
OPERATIONS = [("nossa", "take_ticket"), ("nossa", "reopen"), ("myindihome", "register")]
FAULTS = {"LATENCY_MS": "10", "JITTER_MS": "40", "FAILURE_RATE": "0.02", "LOST_REPLY_RATE": "0.02"}


@pytest.fixture
def ledger():
    """The stubs' write counts, in the shared Redis under a key of this test's own."""
    counts = RedisLedger(settings.REDIS_URL, f"t2test:effects:{uuid.uuid4().hex[:12]}")
    yield counts
    counts.clear()


class Beat(threading.Thread):
    """Sends `redispatch_outbox` to the broker every few seconds, as Celery beat does; while
    the broker is down the sends fail, as beat's would."""

    def __init__(self, broker_url: str, every: float) -> None:
        super().__init__(daemon=True)
        self.broker_url, self.every = broker_url, every
        self.sent = self.failed = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            try:
                with Connection(
                    self.broker_url, connect_timeout=1, transport_options={"max_retries": 1}
                ) as broker:
                    redispatch_outbox.apply_async(connection=broker, retry=False)
                self.sent += 1
            except Exception:  # noqa: BLE001 - the broker is down: the next beat tries again
                self.failed += 1

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


def finished() -> int:
    return AdapterCall.objects.filter(status__in=(CallStatus.SUCCEEDED, CallStatus.FAILED)).count()


def wait_finished(processes, at_least: int, *, timeout: float) -> int:
    def enough():
        crashed = processes.task_errors()
        if crashed:
            raise AssertionError(f"a task crashed on the worker: {crashed[0]}")
        done = finished()
        return done if done >= at_least else None

    try:
        return worker.wait_until(enough, timeout=timeout, what=f"{at_least} finished calls")
    except AssertionError as problem:
        raise AssertionError(f"{problem}\n{processes.logs()}") from None


def backlog(count: int) -> list[AdapterCall]:
    """`count` write calls left pending (never sent) by an outage, on twenty NOSSA tickets."""
    tickets = [
        factories.arrive("nossa", nossa_number=number, source_system="nossa", source_ref=number)
        for number in (f"IN{36672489 + index:08d}" for index in range(20))
    ]
    stranded = timezone.now() - timedelta(hours=1)
    return AdapterCall.objects.bulk_create(
        AdapterCall(
            ticket=tickets[index % len(tickets)],
            app=app,
            operation=operation,
            idempotency_key=f"t2-fault-{index}-{app}-{operation}",
            created_at=stranded,
        )
        for index, (app, operation) in (
            (index, OPERATIONS[index % len(OPERATIONS)]) for index in range(count)
        )
    )


def test_a_backlog_survives_killed_workers_and_a_broker_outage_with_every_write_applied_once(
    processes, ledger
):
    env = {
        "TIER2_STUB_EFFECTS_URL": settings.REDIS_URL,
        "TIER2_STUB_EFFECTS_KEY": ledger.prefix,
        **{f"TIER2_ADAPTER_{app}_{key}": value for app in ("NOSSA", "MYINDIHOME")
           for key, value in FAULTS.items()},
        "TIER2_ADAPTER_MAX_RETRIES": "10",
        "TIER2_ADAPTER_RETRY_BACKOFF_SECONDS": "0.5",
        "TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS": "4",
        "TIER2_OUTBOX_LEASE_SECONDS": "10",
        "TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS": "5",
        "CELERY_VISIBILITY_TIMEOUT": "60",
    }  # fmt: skip
    database_url = worker.database_url(connection.settings_dict)
    broker = processes.start_redis(persist=True)

    def start():
        return processes.start_worker(
            redis_url=broker.url(0), database_url=database_url, env=env, concurrency=CONCURRENCY
        )

    current = start()
    calls = backlog(CALLS)
    beat = Beat(broker.url(0), SWEEP_EVERY_SECONDS)
    beat.start()
    began = time.monotonic()
    timeline = []
    try:
        for kill_at in (150, 350):  # SIGKILL mid-run: calls in flight die with the worker
            wait_finished(processes, kill_at, timeout=120)
            current.kill()
            running = AdapterCall.objects.filter(status=CallStatus.RUNNING).count()
            timeline.append(
                f"{time.monotonic() - began:5.1f} s: worker killed at {finished()} finished, "
                f"{running} running"
            )
            current = start()
        wait_finished(processes, 500, timeout=120)
        broker.kill()
        timeline.append(f"{time.monotonic() - began:5.1f} s: broker down at {finished()}")
        time.sleep(OUTAGE_SECONDS)
        stalled = finished()
        broker = processes.start_redis(broker.port, persist=True)
        timeline.append(f"{time.monotonic() - began:5.1f} s: broker back at {stalled}")
        wait_finished(processes, CALLS, timeout=180)
        timeline.append(f"{time.monotonic() - began:5.1f} s: all {CALLS} calls finished")
    finally:
        beat.stop()

    rows = list(AdapterCall.objects.filter(pk__in=[call.pk for call in calls]))
    statuses = AdapterCall.objects.values("status").annotate(n=Count("pk"))
    assert {row.status for row in rows} == {CallStatus.SUCCEEDED}, list(statuses)
    assert not AdapterCall.objects.filter(lease_until__isnull=False).exists()

    counts = ledger.counts()
    assert set(counts) == {(row.app, row.idempotency_key) for row in rows}
    for row in rows:
        count = counts[row.app, row.idempotency_key]
        assert count.applied == 1
        assert count.writes <= row.attempts, f"{row.idempotency_key} written without a claim"
    repeats = sum(count.repeats for count in counts.values())
    lost = sum(count.lost_replies for count in counts.values())
    # A write reaches NOSSA again only to retry a lost reply, or after a run killed in flight.
    assert repeats <= lost + KILLS * CONCURRENCY, (repeats, lost)

    totals = AdapterCall.objects.aggregate(
        messages=Sum("send_count"), attempts=Sum("attempts"), most=Max("send_count")
    )
    duplicates = sum(  # refused by the claim, e.g. messages Redis gave back after the kills
        proc.log(last=10**7).count("duplicate delivery")
        for proc in processes.started
        if isinstance(proc, worker.CeleryWorker)
    )
    report = [
        *timeline,
        f"calls {CALLS}, messages published for them {totals['messages']} "
        f"({totals['messages'] / CALLS:.3f} per call, at most {totals['most']} for one call)",
        f"attempts {totals['attempts']}, writes {sum(c.writes for c in counts.values())}, "
        f"effects applied {sum(c.applied for c in counts.values())}, repeats {repeats} "
        f"(lost replies {lost}), duplicate deliveries refused {duplicates}",
        f"sweeps sent {beat.sent} (failed while the broker was down: {beat.failed}); each "
        "sends at most one probe",
    ]
    print("\n".join(report))
    assert totals["messages"] <= 1.1 * CALLS, "\n".join(report)

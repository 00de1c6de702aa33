"""Customer messages through real Celery workers: sent once, whatever the broker and workers do.

The workers are real prefork processes (tests/integrations/worker.py) against the pytest-django
test database; this process writes the tickets, templates and broadcasts through the services,
which commit for real and publish to the broker. The SMS and WhatsApp stubs of the workers
count every write per idempotency key (`t2-msg-<message id>`) and keep what they sent in the
shared effect ledger, a Redis key of this module's own (`TIER2_STUB_EFFECTS_URL`/`_KEY`, the
same for the workers and for this process), so this process reads what the workers applied and
asks the stubs for receipts.

The tests in `TestOnOneWorker` share one worker (started once for the class, stopped after
it); the fault tests start their own, after it has stopped, so no other worker takes their
messages. Quiet hours are off everywhere (`TIER2_MESSAGE_QUIET_HOURS=""`): the tests run at
any hour of the day.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from kombu import Connection

from integrations.adapters import stub_effects
from integrations.adapters.base import RedisLedger
from integrations.models import AdapterCall, CallStatus
from integrations.tasks import redispatch_outbox, run_adapter_call
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tests.integrations import worker
from tickets import services
from tickets.models import (
    Broadcast,
    Customer,
    CustomerMessage,
    GamasIncident,
    MessageTemplate,
    Ticket,
)
from tickets.services import messages
from tickets.tasks import message_sweep, run_broadcast

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TIMEOUT_SECONDS = 90
BATCH = 7  # the workers' TIER2_MESSAGE_BATCH: customers written per broadcast batch
# Where a message stops moving without receipts polled (sent or failed), or with them.
SETTLED = ("sent", "delivered", "read", "failed", "skipped")
RUN_BROADCAST = re.compile(r"Task tickets\.tasks\.run_broadcast\[[^\]]+\] succeeded in \S+: (\S+)")
MESSAGE_SWEEP = re.compile(r"Task tickets\.tasks\.message_sweep\[[^\]]+\] succeeded in \S+: (.+)")


# --- Fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ledger():
    """The stubs' effect ledger for this module: a Redis key prefix of its own."""
    counts = RedisLedger(settings.REDIS_URL, f"t2test:messages:{uuid.uuid4().hex[:12]}")
    yield counts
    counts.clear()


@pytest.fixture(autouse=True)
def message_settings(settings, ledger):
    """This process as the workers: no quiet hours, the module's ledger, emptied."""
    settings.TIER2_MESSAGE_QUIET_HOURS = ""
    settings.TIER2_STUB_EFFECTS_URL = settings.REDIS_URL
    settings.TIER2_STUB_EFFECTS_KEY = ledger.prefix  # the adapters are built again with it
    ledger.clear()


def worker_env(ledger: RedisLedger, **extra: str) -> dict[str, str]:
    return {
        "TIER2_MESSAGE_QUIET_HOURS": "",
        "TIER2_MESSAGE_BATCH": str(BATCH),
        "TIER2_STUB_EFFECTS_URL": settings.REDIS_URL,
        "TIER2_STUB_EFFECTS_KEY": ledger.prefix,
        # A send takes a moment, so a broadcast's batches are seen one by one.
        "TIER2_ADAPTER_SMS_LATENCY_MS": "150",
        "TIER2_ADAPTER_RETRY_BACKOFF_SECONDS": "0.05",
        "TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS": "0.3",
        "LOG_FORMAT": "text",  # the task lines read below
        **extra,
    }


def purge(broker_url: str) -> None:
    """Messages an earlier run left in the broker's Celery queue (as the shared_broker fixture)."""
    with Connection(broker_url) as broker:
        broker.default_channel.queue_purge("celery")
        broker.default_channel.client.delete("unacked", "unacked_index")


@pytest.fixture(scope="class")
def shared_worker(django_db_setup, tmp_path_factory, ledger):
    """One worker on REDIS_URL for the tests of a class; stopped after the class's last test."""
    purge(settings.REDIS_URL)
    with worker.Processes(log_dir=tmp_path_factory.mktemp("message-worker")) as processes:
        processes.start_worker(
            redis_url=settings.REDIS_URL,
            database_url=worker.database_url(connection.settings_dict),
            env=worker_env(ledger),
        )
        yield processes


@pytest.fixture
def on_worker(shared_worker):
    """The shared worker as one test sees it: its log from this test's start (a crash left by
    an earlier test is that test's failure, not this one's)."""
    return Since(shared_worker)


# --- Helpers ----------------------------------------------------------------------------------
def wait_for(processes, check, *, what: str, timeout: float = TIMEOUT_SECONDS):
    """Poll `check` until truthy; fail at once when a worker's task crashed, with the logs."""

    def done():
        crashed = processes.task_errors()
        if crashed:
            raise AssertionError(f"a task crashed on the worker: {crashed[0]}")
        return check()

    try:
        return worker.wait_until(done, timeout=timeout, interval=0.1, what=what)
    except AssertionError as problem:
        raise AssertionError(f"{problem}\n{processes.logs()}") from None


def settled(processes, rows, count: int, *, what: str) -> list[CustomerMessage]:
    """Wait until `rows` are `count` messages that all stopped moving; return them."""

    def all_settled():
        found = list(rows.select_related("call").order_by("pk"))
        return found if len(found) == count and all(m.status in SETTLED for m in found) else None

    return wait_for(processes, all_settled, what=what)


class LogMark:
    """The part of a worker's log written after this mark (a shared worker's earlier tests)."""

    def __init__(self, processes) -> None:
        self.workers = [p for p in processes.started if isinstance(p, worker.CeleryWorker)]
        self.offsets = {w.name: self._size(w) for w in self.workers}

    @staticmethod
    def _size(proc) -> int:
        return proc.log_path.stat().st_size if proc.log_path.exists() else 0

    def text(self) -> str:
        parts = []
        for proc in self.workers:
            with proc.log_path.open("rb") as log:
                log.seek(self.offsets[proc.name])
                parts.append(log.read().decode(errors="replace"))
        return "\n".join(parts)

    def broadcast_runs(self) -> list[str]:
        """What each run of run_broadcast returned, in the order they finished."""
        return RUN_BROADCAST.findall(self.text())

    def sweeps(self) -> list[dict]:
        """What each run of message_sweep returned."""
        return [ast.literal_eval(found) for found in MESSAGE_SWEEP.findall(self.text())]


class Since:
    """Processes (started, task_errors, logs) whose workers' logs start at a mark."""

    def __init__(self, processes) -> None:
        self.processes, self.started = processes, processes.started
        self.mark = LogMark(processes)

    def task_errors(self) -> list[str]:
        return [line for line in self.mark.text().splitlines() if "raised unexpected" in line]

    def logs(self) -> str:
        return self.processes.logs()


def runs_when(processes, mark: LogMark, count: int) -> list[str]:
    """The results of run_broadcast once `count` runs have finished."""
    return wait_for(
        processes,
        lambda: len(runs := mark.broadcast_runs()) >= count and runs,
        what=f"{count} runs of run_broadcast",
    )


def lock_waiters() -> int:
    """Sessions of the test database waiting for a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE NOT l.granted AND a.datname = current_database()"
        )
        return cursor.fetchone()[0]


def sms_effects() -> dict[str, tuple[int, int]]:
    """(writes, applied) per idempotency key of the SMS stub, from the shared ledger."""
    return {
        key: (count.writes, count.applied)
        for (app, key), count in stub_effects().counts().items()
        if app == "sms"
    }


def app_keys(app: str) -> set[str]:
    return {key for (written, key) in stub_effects().counts() if written == app}


def template(event: str, text_id: str, channel: str = "sms", **fields) -> MessageTemplate:
    return MessageTemplate.objects.create(event=event, channel=channel, text_id=text_id, **fields)


_nossa_numbers = iter(range(16672489, 16682489))


def nossa_report(person):
    """A NOSSA ticket arrives for a new service of `person`."""
    number = f"IN{next(_nossa_numbers):08d}"
    return factories.arrive(
        "nossa",
        service=ServiceFactory(customer=person),
        nossa_number=number,
        source_system="nossa",
        source_ref=number,
    )


def gamas_reports(reports_per_customer: list[int]):
    """An open incident, and for each customer that many IVR Gamas reports linked to it."""
    incident = factories.open_gamas()
    people = []
    for index, count in enumerate(reports_per_customer):
        person = CustomerFactory(phone=f"0812{index + 1:08d}")  # none ends in 99
        people.append(person)
        for _ in range(count):
            factories.arrive(
                "gamas", service=ServiceFactory(customer=person, odp=incident.area_code)
            )
    linked = Ticket.objects.filter(gamas_incident=incident).count()
    assert linked == sum(reports_per_customer)
    return incident, people


def assert_each_customer_told_once(incident, people, *, statuses=("sent",)):
    """One message per customer of the incident, each sent once: one applied SMS per key."""
    rows = list(CustomerMessage.objects.filter(incident=incident).select_related("call"))
    told = Counter(row.customer_id for row in rows)
    assert told == Counter({person.pk: 1 for person in people}), told
    effects = sms_effects()
    for row in rows:
        assert row.status in statuses, (row.pk, row.status, row.reason)
        assert row.call.status == CallStatus.SUCCEEDED, row.call.error
        assert row.call.idempotency_key == f"t2-msg-{row.pk}"
        assert row.provider_id == row.call.response["message_id"]
        writes, applied = effects[row.call.idempotency_key]
        assert applied == 1
        assert writes <= row.call.attempts, f"{row.call.idempotency_key} written without a claim"
    assert len(effects) == len(rows), "an SMS was written for no message of this broadcast"
    return rows


def publish(broker_url: str, task, *args) -> None:
    """Send `task` to the workers of `broker_url`, as Celery beat would."""
    with Connection(broker_url) as broker:
        task.apply_async(args, connection=broker, ignore_result=True)


class Beat(threading.Thread):
    """Sends `task` to the workers of `broker_url` every `every` seconds, as Celery beat does."""

    def __init__(self, broker_url: str, task, *, every: float) -> None:
        super().__init__(daemon=True)
        self.broker_url, self.task, self.every = broker_url, task, every
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(self.every):
            publish(self.broker_url, self.task)

    def __enter__(self) -> Beat:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.halt.set()
        self.join(timeout=10)


# --- On one worker ----------------------------------------------------------------------------
class TestOnOneWorker:
    def test_a_nossa_report_is_acknowledged_by_one_sms_that_the_worker_sends_once(self, on_worker):
        template("report_received", "Laporan {service_number} diterima: tiket {ticket_number}.")
        person = CustomerFactory(name="Budi Santoso", phone="0812-3456-7890")

        ticket = nossa_report(person)

        [message] = CustomerMessage.objects.all()
        assert (message.ticket_id, message.event, message.channel) == (
            ticket.pk, "report_received", "sms"
        )  # fmt: skip
        assert (message.status, message.to_number) == ("queued", "6281234567890")
        [message] = settled(
            on_worker, CustomerMessage.objects.all(), 1, what="the acknowledgement sent"
        )
        call = message.call
        assert message.status == "sent", message.reason
        assert re.fullmatch(r"SMS\d{12}", message.provider_id)
        assert message.provider_id == call.response["message_id"]
        assert message.queued_at <= message.sent_at
        assert (call.app, call.operation, call.status, call.attempts) == (
            "sms", "send", CallStatus.SUCCEEDED, 1
        )  # fmt: skip
        assert call.idempotency_key == f"t2-msg-{message.pk}"
        assert call.request == {
            "to": "6281234567890",
            "text": f"Laporan {ticket.service.service_number} diterima: tiket {ticket.number}.",
            "sender_id": "IndiHome",
        }
        assert sms_effects() == {f"t2-msg-{message.pk}": (1, 1)}
        # The worker's stub kept what it sent where this process's stub reads it.
        sent = stub_effects().configured_answer("sms", message.provider_id)
        assert sent["to"] == "6281234567890"

    def test_a_broadcast_tells_each_customer_once_in_batches_whose_progress_is_seen(
        self, on_worker
    ):
        template("gamas_opened", "Gangguan {incident_number} di {area}. Mohon maaf.")
        # 30 reports from 20 customers: the first ten reported twice.
        incident, people = gamas_reports([2] * 10 + [1] * 10)
        mark = LogMark(on_worker)

        broadcast, created = services.start_broadcast(
            incident_id=incident.pk, actor=factories.role_user("Supervisor")
        )
        assert (created, broadcast.total, broadcast.done, broadcast.finished_at) == (
            True, 20, 0, None
        )  # fmt: skip
        seen = []

        def finished():
            row = Broadcast.objects.get(pk=broadcast.pk)
            if not seen or seen[-1] != row.done:
                seen.append(row.done)
            return row if row.finished_at is not None else None

        broadcast = wait_for(on_worker, finished, what="the broadcast to finish")

        assert (broadcast.done, broadcast.total) == (20, 20)
        # Batches of 7 customers, each committed at once: 7, 14, then the last 6.
        assert set(seen) <= {0, 7, 14, 20}, seen
        assert seen == sorted(seen), f"the progress went back: {seen}"
        assert [done for done in seen if 0 < done < 20], f"no batch seen in between: {seen}"
        settled(
            on_worker, CustomerMessage.objects.filter(incident=incident), 20,
            what="20 messages sent",
        )  # fmt: skip
        rows = assert_each_customer_told_once(incident, people)
        assert {row.text for row in rows} == {
            f"Gangguan {incident.number} di ODP {incident.area_code}. Mohon maaf."
        }
        assert {row.event for row in rows} == {"gamas_opened"}
        # One run per batch, then one that finds the broadcast finished.
        assert runs_when(on_worker, mark, 4) == ["7", "7", "6", "0"]

    def test_duplicate_deliveries_of_a_broadcast_and_of_a_send_tell_each_customer_once(
        self, on_worker
    ):
        template("gamas_opened", "Gangguan {incident_number}.")
        incident, people = gamas_reports([2] * 4 + [1] * 8)  # 16 reports, 12 customers
        mark = LogMark(on_worker)

        broadcast, created = services.start_broadcast(
            incident_id=incident.pk, actor=factories.role_user("Support")
        )
        assert created
        run_broadcast.delay(broadcast.pk)  # the same broadcast delivered twice more
        run_broadcast.delay(broadcast.pk)
        first = wait_for(
            on_worker,
            lambda: (
                CustomerMessage.objects.filter(incident=incident, call__isnull=False)
                .order_by("pk")
                .first()
            ),
            what="a message queued",
        )
        run_adapter_call.delay(first.call_id)  # its send delivered twice more
        run_adapter_call.delay(first.call_id)

        rows = settled(
            on_worker, CustomerMessage.objects.filter(incident=incident), 12,
            what="12 messages sent",
        )  # fmt: skip

        # Every delivery of run_broadcast either asks for one more (a batch written) or ends
        # its chain (finished: 0, or the broadcast held by another run: None): three chains.
        def chains_ended():
            runs = mark.broadcast_runs()
            return runs if sum(run in ("0", "None") for run in runs) == 3 else None

        def duplicates_refused():
            refused = mark.text().count(f"adapter call {first.call_id}: duplicate delivery")
            return refused if refused >= 2 else None

        runs = wait_for(on_worker, chains_ended, what="three chains of run_broadcast ended")
        # Three deliveries of the send: one claims the call, the other two are refused.
        assert wait_for(on_worker, duplicates_refused, what="duplicates refused") == 2
        broadcast.refresh_from_db()
        assert (broadcast.done, broadcast.total) == (12, 12)
        assert broadcast.finished_at is not None
        assert_each_customer_told_once(incident, people)
        assert sms_effects()[f"t2-msg-{first.pk}"] == (1, 1)
        assert all(row.call.attempts == 1 for row in rows)
        written = sum(int(r) for r in runs if r not in ("0", "None"))
        assert written == 12, runs  # no customer written by two runs

    def test_receipts_polled_here_record_what_the_gateways_say_of_the_workers_sends(
        self, on_worker
    ):
        template("report_received", "Tiket {ticket_number} diterima.")
        template(
            "report_received", "Tiket {ticket_number} diterima.", channel="whatsapp",
            whatsapp_name="t2_report_received", whatsapp_status="approved",
        )  # fmt: skip
        # The stubs: an SMS to a number ending 99 fails, any other is delivered; a WhatsApp
        # message to ...99 fails, to another even last digit is read, to an odd one delivered.
        expected = {
            ("sms", "081234567890"): ("delivered", ""),
            ("sms", "081234567899"): ("failed", "absent subscriber"),
            ("whatsapp", "081234567892"): ("read", ""),
            ("whatsapp", "081234567893"): ("delivered", ""),
            ("whatsapp", "081298765499"): ("failed", "not a WhatsApp user"),
        }
        for channel, phone in expected:
            nossa_report(CustomerFactory(phone=phone, message_channel=channel))
        rows = settled(on_worker, CustomerMessage.objects.all(), 5, what="5 messages sent")
        assert {row.status for row in rows} == {"sent"}
        assert Counter(row.call.app for row in rows) == Counter(sms=2, whatsapp=3)

        assert services.poll_receipts() == 5
        assert services.poll_receipts() == 0  # asked again (WhatsApp delivered): nothing new

        found = {
            (row.channel, row.customer.phone): (row.status, row.reason)
            for row in CustomerMessage.objects.select_related("customer")
        }
        assert found == expected
        for row in CustomerMessage.objects.all():
            reached = {
                "delivered": ("delivered_at",),
                "read": ("delivered_at", "read_at"),
                "failed": ("failed_at",),
            }[row.status]
            for stamp in ("delivered_at", "read_at", "failed_at"):
                assert (getattr(row, stamp) is not None) == (stamp in reached), (row.pk, stamp)


# --- A worker killed mid-broadcast ------------------------------------------------------------
def test_a_broadcast_whose_worker_was_killed_mid_way_completes_once_on_a_new_worker(
    processes, shared_broker, database_url, ledger
):
    visibility, lease = 4, 4
    env = worker_env(
        ledger,
        TIER2_MESSAGE_BATCH="3",
        CELERY_VISIBILITY_TIMEOUT=str(visibility),
        TIER2_OUTBOX_LEASE_SECONDS=str(lease),
        TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS="2",
    )
    template("gamas_opened", "Gangguan {incident_number}.")
    incident, people = gamas_reports([2] * 6 + [1] * 18)  # 30 reports, 24 customers
    first = processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)

    broadcast, created = services.start_broadcast(
        incident_id=incident.pk, actor=factories.role_user("Supervisor")
    )
    assert created
    wait_for(
        processes,
        lambda: Broadcast.objects.filter(pk=broadcast.pk, done__gt=0).exists(),
        what="the first batch",
    )
    first.kill()  # SIGKILL, pool and all: the batch or send in hand dies unacknowledged
    killed_at = time.monotonic()

    broadcast.refresh_from_db()
    told_before = CustomerMessage.objects.filter(incident=incident).count()
    assert 0 < broadcast.done < 24 and broadcast.finished_at is None, "killed too late"
    assert told_before == broadcast.done
    # Redis gives the unacknowledged messages back after the visibility timeout, to a worker
    # that starts; a send cut off claims its call again once the dead run's lease ran out.
    time.sleep(max(0.0, killed_at + max(visibility, lease) + 1 - time.monotonic()))
    processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    # The outbox sweep every second, as beat sends it: for a send whose message died with the
    # worker between its batch's commit and the publish (sent again once a probe has passed).
    with Beat(shared_broker, redispatch_outbox, every=1.0):
        wait_for(
            processes,
            lambda: Broadcast.objects.filter(pk=broadcast.pk, finished_at__isnull=False).exists(),
            what="the broadcast to finish on the new worker",
        )
        settled(processes, CustomerMessage.objects.filter(incident=incident), 24, what="24 sent")
    broadcast.refresh_from_db()
    assert (broadcast.done, broadcast.total) == (24, 24)
    assert_each_customer_told_once(incident, people)


# --- The broker down when the broadcast starts ------------------------------------------------
# Run in a separate process whose REDIS_URL points at a port where no Redis listens yet.
START_DURING_OUTAGE = """
import json, sys, time
import django
django.setup()
from django.contrib.auth.models import User
from tickets import services
from tickets.services import messages

incident_id, actor = int(sys.argv[1]), User.objects.get(pk=int(sys.argv[2]))
started = time.monotonic()
try:
    broadcast, created = services.start_broadcast(incident_id=incident_id, actor=actor)
    result = {"broadcast": broadcast.pk, "created": created, "error": ""}
except Exception as problem:
    result = {"broadcast": None, "error": f"{type(problem).__name__}: {problem}"}
result["seconds"] = round(time.monotonic() - started, 1)
print(json.dumps(result))
"""


def test_a_broadcast_started_while_the_broker_is_down_is_resumed_by_the_sweep_once_it_is_back(
    processes, database_url, ledger
):
    template("gamas_opened", "Gangguan {incident_number}.")
    incident, people = gamas_reports([2] * 3 + [1] * 7)  # 13 reports, 10 customers
    supervisor = factories.role_user("Supervisor")
    port = worker.free_port()  # nothing listens there until the broker "comes back"
    broker_url = f"redis://127.0.0.1:{port}/0"

    started = worker.run_script(
        START_DURING_OUTAGE,
        str(incident.pk),
        str(supervisor.pk),
        database_url=database_url,
        redis_url=broker_url,
        env={"TIER2_MESSAGE_QUIET_HOURS": "", "LOG_FORMAT": "text"},
        timeout=120,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    result = json.loads(started.stdout.strip().splitlines()[-1])
    assert (result["error"], result["created"]) == ("", True), result
    assert result["seconds"] < 5, f"starting the broadcast waited on the broker: {result}"
    assert f"Broker unreachable: broadcast {result['broadcast']} waits" in started.stderr
    broadcast = Broadcast.objects.get(pk=result["broadcast"])
    assert (broadcast.incident_id, broadcast.total, broadcast.done) == (incident.pk, 10, 0)
    assert broadcast.finished_at is None and broadcast.last_batch_at is None
    assert not CustomerMessage.objects.exists()

    # The sweep resumes a broadcast that has not moved for a minute (BROADCAST_STALLED): the
    # outage lasted that long.
    Broadcast.objects.filter(pk=broadcast.pk).update(
        started_at=F("started_at") - timedelta(minutes=2)
    )
    broker = processes.start_redis(port)
    processes.start_worker(
        redis_url=broker.url(0), database_url=database_url, env=worker_env(ledger)
    )
    mark = LogMark(processes)
    publish(broker.url(0), message_sweep)

    wait_for(
        processes,
        lambda: Broadcast.objects.filter(pk=broadcast.pk, finished_at__isnull=False).exists(),
        what="the resumed broadcast to finish",
    )
    # The sweep also asks for receipts: a message may be delivered already.
    settled(
        processes, CustomerMessage.objects.filter(incident=incident), 10, what="10 messages sent"
    )
    broadcast.refresh_from_db()
    assert (broadcast.done, broadcast.total) == (10, 10)
    assert_each_customer_told_once(incident, people, statuses=("sent", "delivered"))
    [sweep] = wait_for(processes, mark.sweeps, what="the sweep's result")
    assert (sweep["broadcasts_resumed"], sweep["released"]) == (1, 0), sweep
    assert runs_when(processes, mark, 3) == ["7", "3", "0"]


# --- Gateways that fail -----------------------------------------------------------------------
LONG_NAME = "Raden Mas Bagus Prakoso Wicaksono"  # 33 characters
FILLER = ("Mohon maaf atas gangguan layanan IndiHome Anda. " * 20)[:890]


def test_a_flaky_sms_gateway_sends_each_message_once_a_long_name_is_cut_and_a_refusal_ends_failed(
    processes, shared_broker, database_url, ledger
):
    env = worker_env(
        ledger,
        TIER2_ADAPTER_SMS_LATENCY_MS="0",
        TIER2_ADAPTER_SMS_FAILURE_RATE="0.75",  # three sends in four time out before the write
        TIER2_ADAPTER_MAX_RETRIES="80",  # 0.75 ** 80: never all of them
        TIER2_ADAPTER_RETRY_BACKOFF_MAX_SECONDS="0.2",
    )
    processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    # "Yth. " + name + ", " + 890 characters of GSM-7: 7 + 12 + 890 = 909 for Budi Santoso,
    # six SMS parts (6 x 153 = 918); 7 + 33 + 890 = 930 for the long name would take seven, so
    # the name is cut to fit: 918 - 897 = 21 places, "Raden Mas Bagus Pr" (18) + "...". The
    # template is written as a row, as one saved before the worst-case check on save was.
    template("report_received", "Yth. {customer_name}, " + FILLER)
    template(
        "report_received", "Tiket {ticket_number} diterima.", channel="whatsapp",
        whatsapp_name="draft_report_received", whatsapp_status="approved",  # WhatsApp: pending
    )  # fmt: skip
    flaky = [
        nossa_report(CustomerFactory(name="Budi Santoso", phone=f"08123456{index:04d}"))
        for index in range(8)
    ]
    too_long = nossa_report(CustomerFactory(name=LONG_NAME, phone="081211112222"))
    not_approved = nossa_report(CustomerFactory(phone="081233334444", message_channel="whatsapp"))

    rows = settled(processes, CustomerMessage.objects.all(), 10, what="10 messages settled")

    by_ticket = {row.ticket_id: row for row in rows}
    sent = [by_ticket[ticket.pk] for ticket in flaky]
    effects = sms_effects()
    for row in sent:
        assert row.status == "sent", (row.pk, row.reason)
        assert row.call.status == CallStatus.SUCCEEDED
        assert re.fullmatch(r"SMS\d{12}", row.provider_id)
        # A timeout before the write applies nothing: written once, on the attempt that passed.
        assert effects[f"t2-msg-{row.pk}"] == (1, 1)
    attempts = [row.call.attempts for row in sent]
    assert sum(attempts) > len(sent), f"no send was retried: {attempts}"

    cut = by_ticket[too_long.pk]
    assert (cut.status, cut.channel, cut.call.status) == ("sent", "sms", CallStatus.SUCCEEDED)
    assert cut.text == "Yth. Raden Mas Bagus Pr..., " + FILLER and len(cut.text) == 918
    assert effects[f"t2-msg-{cut.pk}"] == (1, 1)

    pending = by_ticket[not_approved.pk]
    assert (pending.status, pending.channel, pending.call.status) == (
        "failed", "whatsapp", CallStatus.FAILED
    )  # fmt: skip
    assert pending.reason == (
        "template draft_report_received (id) is not approved by WhatsApp: pending"
    )
    assert pending.call.attempts == 1  # a refusal is not retried
    assert app_keys("whatsapp") == set()
    assert AdapterCall.objects.filter(app__in=("sms", "whatsapp")).count() == 10


# --- A broadcast and the incident's other work ----------------------------------------------------
class Holder(threading.Thread):
    """Holds a row lock (`select_for_update`) on its own connection until released."""

    def __init__(self, model, pk: int) -> None:
        super().__init__(daemon=True)
        self.model, self.pk = model, pk
        self.holding, self.release = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            with transaction.atomic():
                self.model.objects.select_for_update().get(pk=self.pk)
                self.holding.set()
                self.release.wait(timeout=30)
        finally:
            connection.close()

    def __enter__(self) -> Holder:
        self.start()
        assert self.holding.wait(timeout=10), "could not take the row lock"
        return self

    def __exit__(self, *exc_info) -> None:
        self.release.set()
        self.join(timeout=30)


class Arrival(threading.Thread):
    """A gamas report arriving on its own connection; its error, if it failed."""

    def __init__(self, customer, incident) -> None:
        super().__init__(daemon=True)
        self.customer, self.incident, self.error = customer, incident, None

    def run(self) -> None:
        try:
            factories.arrive(
                "gamas", service=ServiceFactory(customer=self.customer, odp=self.incident.area_code)
            )
        except Exception as problem:  # noqa: BLE001 - reported by the test
            self.error = problem
        finally:
            connection.close()


def test_a_second_report_arriving_while_its_customers_batch_is_written_leaves_the_broadcast_whole(
    processes, shared_broker, database_url, ledger
):
    """IVR callers keep calling during an outage: a customer the running batch has not reached
    yet reports again, and is told at once (customer_linked). The batch must neither deadlock
    with that arrival nor stop there: every customer is told once and the broadcast finishes.

    To meet in this order every time, the batch is held on the third customer (a row lock, as
    a concurrent change of that customer would) while the fourth customer's report arrives;
    then the third is let go.
    """
    processes.start_worker(
        redis_url=shared_broker, database_url=database_url, env=worker_env(ledger)
    )
    template("gamas_opened", "Gangguan {incident_number}.")
    incident, people = gamas_reports([1] * 12)  # 12 customers: batches of 7 and 5
    third, fourth = people[2], people[3]  # a batch takes its customers in the order of their id

    with Holder(Customer, third.pk) as holder:
        broadcast, _created = services.start_broadcast(
            incident_id=incident.pk, actor=factories.role_user("Supervisor")
        )
        wait_for(processes, lock_waiters, what="the first batch to wait on the third customer")
        arrival = Arrival(fourth, incident)
        arrival.start()
        worker.wait_until(
            lambda: not arrival.is_alive() or lock_waiters() >= 2,
            timeout=10,
            what="the fourth customer's report to commit or wait",
        )
        holder.release.set()
    arrival.join(timeout=30)

    assert arrival.error is None, f"the report's arrival failed: {arrival.error!r}"
    broadcast = wait_for(
        processes,
        lambda: Broadcast.objects.filter(pk=broadcast.pk, finished_at__isnull=False).first(),
        what="the broadcast to finish",
    )
    told = CustomerMessage.objects.filter(incident=incident)
    assert (broadcast.done, broadcast.total) == (12, 12), (
        f"the broadcast finished with {told.count()} of its 12 customers told"
    )
    settled(processes, told, 12, what="12 messages sent")
    assert_each_customer_told_once(incident, people)


def test_a_batch_starting_while_the_incident_is_locked_waits_instead_of_ending_the_broadcast(
    processes, shared_broker, database_url, ledger, monkeypatch
):
    """While the recovery broadcast runs, agents close the children, and each close locks the
    incident (engine._after_close), as incident transitions do. A run of the broadcast that
    starts then is no duplicate delivery: it must write its batch, not give up (and with it the
    chain of batches, which only the sweep would resume, a minute later)."""
    processes.start_worker(
        redis_url=shared_broker, database_url=database_url, env=worker_env(ledger)
    )
    template("gamas_recovered", "Layanan pulih: {incident_number}.")
    incident, people = gamas_reports([1] * 5)
    supervisor = factories.role_user("Supervisor")
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    # The fan-out of the recovery runs on the worker too: let it finish first.
    wait_for(
        processes,
        lambda: not Ticket.objects.filter(gamas_incident=incident, state="waiting_recovery"),
        what="the recovery's fan-out",
    )
    asked = []
    monkeypatch.setattr(messages, "send_broadcast", asked.append)  # published below, by hand
    broadcast, created = services.start_broadcast(incident_id=incident.pk, actor=supervisor)
    monkeypatch.undo()
    assert (created, broadcast.event, asked) == (True, "gamas_recovered", [broadcast.pk])
    mark = LogMark(processes)

    with Holder(GamasIncident, incident.pk):
        run_broadcast.delay(broadcast.pk)  # as send_broadcast does
        time.sleep(2)  # the run starts while the incident is held
    first = runs_when(processes, mark, 1)[0]

    assert first == "5", (
        f"the first run returned {first}: it took the locked incident for a batch held by "
        "another run, and asked for no next batch"
    )
    broadcast = wait_for(
        processes,
        lambda: Broadcast.objects.filter(pk=broadcast.pk, finished_at__isnull=False).first(),
        what="the broadcast to finish",
        timeout=20,
    )
    assert (broadcast.done, broadcast.total) == (5, 5)
    settled(processes, CustomerMessage.objects.filter(incident=incident), 5, what="5 messages sent")
    assert_each_customer_told_once(incident, people)

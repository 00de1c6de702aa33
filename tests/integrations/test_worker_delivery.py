"""Nothing lost between a transition and its external calls, with real processes in the way.

Each test starts real Celery workers (prefork, two processes) against the pytest-django test
database, and drives tickets through the services in this process, which commits for real and
sends the outbox rows to the broker. Then it breaks what can break in production: a worker
killed in the middle of a call, the broker down while agents work. Results are read from the
`AdapterCall` rows, polled with a timeout.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL); the broker-outage tests start a private
redis-server of their own, on a free port, so the shared Redis is never stopped.
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from kombu import Connection
from kombu.exceptions import OperationalError

from integrations.adapters.base import idempotent_reference
from integrations.adapters.nossa import NOSSA_NUMBER_RE
from integrations.models import AdapterCall, CallStatus
from integrations.tasks import redispatch_outbox, run_adapter_call
from tests import factories
from tests.integrations import worker
from tickets import services
from tickets.models import ContactOutcome, TransitionLog

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

CALL_TIMEOUT_SECONDS = 60
FINISHED = (CallStatus.SUCCEEDED, CallStatus.FAILED)
# Retries of a flaky stub come quickly; the worker's tasks never wait long for the test.
WORKER_ENV = {"TIER2_ADAPTER_RETRY_BACKOFF_SECONDS": "0.2"}


# --- Fixtures (the workers, database and broker: tests/conftest.py) -----------------------
@pytest.fixture
def agent(transactional_db):
    return factories.agent(flows=("nossa", "callback"), username="agent-delivery")


# --- Helpers --------------------------------------------------------------------------------
def nossa_ticket(number: str = "IN16672489"):
    return factories.arrive("nossa", nossa_number=number, source_system="nossa", source_ref=number)


def transition(ticket, name: str, agent, **inputs):
    return services.transition_ticket(ticket_id=ticket.pk, name=name, actor=agent, inputs=inputs)


def answered(ticket, agent) -> None:
    services.record_contact_attempt(
        ticket_id=ticket.pk, agent=agent, outcome=ContactOutcome.ANSWERED
    )


def wait_for(processes, check, *, timeout: float = CALL_TIMEOUT_SECONDS, what: str):
    """Poll `check` until truthy; fail at once when a worker's task crashed, with the logs."""

    def done():
        crashed = processes.task_errors()
        if crashed:
            raise AssertionError(f"a task crashed on the worker: {crashed[0]}")
        return check()

    try:
        return worker.wait_until(done, timeout=timeout, what=what)
    except AssertionError as problem:
        raise AssertionError(f"{problem}\n{processes.logs()}") from None


def finished_calls(processes, ticket, count: int) -> list[AdapterCall]:
    """Wait until the ticket has `count` calls and all are finished; return them."""

    def all_finished():
        rows = list(AdapterCall.objects.filter(ticket=ticket).select_related("log_entry"))
        return rows if len(rows) == count and all(r.status in FINISHED for r in rows) else None

    return wait_for(processes, all_finished, what=f"{count} finished calls of {ticket}")


def call_status(call_id: int) -> str:
    return AdapterCall.objects.values_list("status", flat=True).get(pk=call_id)


def overlapping(rows: list[AdapterCall]) -> bool:
    """Whether any two calls ran at the same time (start = finish - duration)."""
    spans = sorted(
        (r.finished_at.timestamp() - r.duration_ms / 1000, r.finished_at.timestamp()) for r in rows
    )
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


# --- A ticket worked end to end -------------------------------------------------------------
def test_every_call_of_a_nossa_ticket_worked_to_close_succeeds_on_the_worker(
    processes, shared_broker, database_url, agent
):
    slow_checks = {
        f"TIER2_ADAPTER_{app}_LATENCY_MS": "700" for app in ("IBOOSTER", "ISISKA", "ACS")
    }
    processes.start_worker(
        redis_url=shared_broker, database_url=database_url, env={**WORKER_ENV, **slow_checks}
    )
    ticket = nossa_ticket()

    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    transition(ticket, "start_diagnosis", agent)
    rows = finished_calls(processes, ticket, 4)
    diagnosis = [row for row in rows if row.log_entry.transition == "start_diagnosis"]
    assert len(diagnosis) == 3
    ticket = factories.reload(ticket)
    assert {"ibooster", "isiska", "acs"} <= set(ticket.facts)
    assert overlapping(diagnosis), "the worker ran the three checks one after another"

    transition(ticket, "escalate_to_field", agent, note="LOS merah di ONT, perlu teknisi")
    transition(ticket, "await_field", agent)
    transition(ticket, "field_done", agent, note="Kabel drop diganti")
    answered(ticket, agent)
    transition(ticket, "close", agent, closing_code="FIXED_FIELD")

    rows = finished_calls(processes, ticket, 8)
    assert sorted((r.log_entry.transition, r.app, r.operation) for r in rows) == sorted(
        [
            ("claim", "nossa", "take_ticket"),
            ("start_diagnosis", "ibooster", "connection_status"),
            ("start_diagnosis", "isiska", "profile"),
            ("start_diagnosis", "acs", "diagnose"),
            ("escalate_to_field", "nossa", "escalate"),
            ("escalate_to_field", "mycx", "open_case"),
            ("field_done", "ibooster", "connection_status"),
            ("close", "nossa", "close_ticket"),
        ]
    )
    for row in rows:
        assert (row.status, row.attempts) == (CallStatus.SUCCEEDED, 1), (row, row.error)
        assert row.request
        assert row.response is not None
        assert row.duration_ms is not None
    ticket = factories.reload(ticket)
    assert ticket.state == "closed"
    assert ticket.facts["nossa_escalation"]["work_order_id"].startswith("WO")
    assert ticket.facts["mycx"]["case_id"].startswith("CX")


# --- A worker killed mid-call ---------------------------------------------------------------
def test_a_call_cut_off_by_a_killed_worker_is_redelivered_and_takes_effect_once(
    processes, shared_broker, database_url, agent
):
    visibility, lease = 5, 10  # the lease outlasts the 4 s call
    env = {
        **WORKER_ENV,
        "TIER2_ADAPTER_NOSSA_LATENCY_MS": "4000",
        "CELERY_VISIBILITY_TIMEOUT": str(visibility),
        "TIER2_OUTBOX_LEASE_SECONDS": str(lease),
    }
    first = processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    ticket = factories.arrive("callback", source_system="callback", source_ref="CB0000000001")
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    transition(ticket, "start_contact", agent)
    answered(ticket, agent)
    transition(ticket, "create_nossa_ticket", agent, note="Internet mati total")
    call = AdapterCall.objects.get(ticket=ticket, app="nossa", operation="create_ticket")

    wait_for(processes, lambda: call_status(call.pk) == CallStatus.RUNNING, what="the call to run")
    running_since = time.monotonic()
    first.kill()

    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.RUNNING, 1), "killed after it finished"
    assert factories.reload(ticket).nossa_number == ""
    # Redis gives an unacknowledged message back once its visibility timeout has passed; a
    # worker looks for such messages when it starts. The message claims the call once the dead
    # run's lease has run out (before that, a delivery is refused as a duplicate).
    time.sleep(max(0.0, running_since + max(visibility, lease) + 1 - time.monotonic()))
    processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    wait_for(processes, lambda: call_status(call.pk) in FINISHED, what="the redelivered call")

    call.refresh_from_db()
    ticket = factories.reload(ticket)
    assert call.status == CallStatus.SUCCEEDED, call.error
    assert call.attempts == 2  # the cut-off run, then the redelivered one
    assert AdapterCall.objects.filter(ticket=ticket).count() == 1
    assert (
        TransitionLog.objects.filter(ticket=ticket, transition="create_nossa_ticket").count() == 1
    )
    expected = idempotent_reference(
        "nossa", "create_ticket", call.idempotency_key, prefix="IN", digits=8
    )
    assert NOSSA_NUMBER_RE.fullmatch(ticket.nossa_number)
    assert ticket.nossa_number == call.response["nossa_number"] == expected


# --- The broker down while agents work ------------------------------------------------------
# Run in a separate process whose REDIS_URL points at a port where no Redis listens yet.
WORK_DURING_OUTAGE = """
import json, sys, time
import django
django.setup()
from django.contrib.auth.models import User
from tickets import services

ticket_id, agent = int(sys.argv[1]), User.objects.get(pk=int(sys.argv[2]))
steps = [("claim", {}), ("start_diagnosis", {}), ("escalate_to_field", {"note": "LOS merah"})]
report = []
for name, inputs in steps:
    started = time.monotonic()
    try:
        services.transition_ticket(ticket_id=ticket_id, name=name, actor=agent, inputs=inputs)
        error = ""
    except Exception as problem:
        error = f"{type(problem).__module__}.{type(problem).__name__}: {problem}".strip()
    seconds = round(time.monotonic() - started, 1)
    report.append({"transition": name, "seconds": seconds, "error": error})
    if error:
        break
print(json.dumps(report))
"""
OUTAGE_CALLS = {
    ("nossa", "take_ticket"),
    ("ibooster", "connection_status"),
    ("isiska", "profile"),
    ("acs", "diagnose"),
    ("nossa", "escalate"),
    ("mycx", "open_case"),
}


def work_during_outage(ticket, agent, *, database_url: str, redis_url: str) -> list[dict]:
    completed = worker.run_script(
        WORK_DURING_OUTAGE,
        str(ticket.pk),
        str(agent.pk),
        database_url=database_url,
        redis_url=redis_url,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def sweep_on_worker(redis_url: str) -> None:
    """Send the periodic outbox sweep to the workers of `redis_url`, as Celery beat would."""
    with Connection(redis_url) as broker:
        redispatch_outbox.apply_async(connection=broker, ignore_result=True)


def assert_delivered_once(processes, ticket) -> list[AdapterCall]:
    rows = finished_calls(processes, ticket, len(OUTAGE_CALLS))
    assert {(row.app, row.operation) for row in rows} == OUTAGE_CALLS
    assert len({row.idempotency_key for row in rows}) == len(rows)
    for row in rows:
        assert (row.status, row.attempts) == (CallStatus.SUCCEEDED, 1), (row, row.error)
    return rows


def test_transitions_while_the_broker_is_down_commit_and_their_calls_are_delivered_once_later(
    processes, database_url, agent
):
    port = worker.free_port()  # nothing listens there until the broker "comes back"
    broker_url = f"redis://127.0.0.1:{port}/0"
    ticket = nossa_ticket()

    report = work_during_outage(ticket, agent, database_url=database_url, redis_url=broker_url)

    assert [step["error"] for step in report] == ["", "", ""], report
    assert max(step["seconds"] for step in report) < 5, (
        f"a transition waited on the broker: {report}"
    )
    ticket = factories.reload(ticket)
    assert ticket.state == "escalated_field"
    pending = AdapterCall.objects.filter(ticket=ticket)
    assert {(row.app, row.operation) for row in pending} == OUTAGE_CALLS
    for row in pending:
        assert (row.status, row.attempts, row.dispatched_at) == (CallStatus.PENDING, 0, None)

    broker = processes.start_redis(port)
    processes.start_worker(
        redis_url=broker.url(0),
        database_url=database_url,
        env={**WORKER_ENV, "TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS": "0"},
    )
    sweep_on_worker(broker.url(0))

    assert_delivered_once(processes, ticket)
    ticket = factories.reload(ticket)
    assert {"ibooster", "isiska", "acs", "nossa_escalation", "mycx"} <= set(ticket.facts)


def test_calls_never_sent_are_delivered_once_by_the_sweep_when_the_broker_is_back(
    processes, database_url, agent, monkeypatch
):
    def broker_down(call_id):
        raise OperationalError("Error 111 connecting. Connection refused.")

    ticket = nossa_ticket()
    monkeypatch.setattr(run_adapter_call, "delay", broker_down)
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    transition(ticket, "start_diagnosis", agent)
    transition(ticket, "escalate_to_field", agent, note="LOS merah")
    monkeypatch.undo()
    assert set(
        AdapterCall.objects.filter(ticket=ticket).values_list("status", "dispatched_at")
    ) == {(CallStatus.PENDING, None)}

    broker = processes.start_redis()
    processes.start_worker(
        redis_url=broker.url(0),
        database_url=database_url,
        env={**WORKER_ENV, "TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS": "0"},
    )
    sweep_on_worker(broker.url(0))

    assert_delivered_once(processes, ticket)

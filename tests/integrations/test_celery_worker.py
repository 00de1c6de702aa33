"""A real Celery worker process takes a task from Redis and writes to PostgreSQL.

Every other test runs Celery eagerly or not at all; this one runs the path production runs:
a service commits, dispatches the task after commit through the Redis broker, and a separate
worker process (`celery -A tier2 worker`) picks it up and changes rows the test then reads.
The worker is pointed at pytest-django's test database, so the test uses `transactional_db`:
its rows are committed and visible to the worker.
"""

import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.conf import settings
from django.db import connection

from integrations.models import AdapterCall
from tests import factories
from tests.integrations.worker import worker_command, worker_process_env
from tickets import services
from tickets.models import Ticket, TransitionLog
from tier2.celery import app

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WORKER_READY_SECONDS = 45
FAN_OUT_SECONDS = 60


def _test_database_url() -> str:
    """The URL of the database this test session uses (pytest-django's test_ database)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "localhost", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    options = {k: v for k, v in (db.get("OPTIONS") or {}).items() if isinstance(v, str)}
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{quote(db['NAME'])}{query}"


def _log_tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:]) or "(the worker wrote nothing)"


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    """Start `celery -A tier2 worker` against the test database and Redis; stop it after.

    It depends on `transactional_db`, so it stops before the database is flushed.
    """
    assert not settings.CELERY_TASK_ALWAYS_EAGER, "with REDIS_URL set Celery must not be eager"
    queue = app.conf.task_default_queue
    app.control.purge()  # messages left by earlier runs on this Redis database
    hostname = f"tier2-test-{uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    log_path = tmp_path / "worker.log"
    env = worker_process_env(database_url=_test_database_url(), redis_url=settings.REDIS_URL)
    command = worker_command(hostname, pool="solo", queues=(queue,))
    with log_path.open("wb") as log:
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + WORKER_READY_SECONDS
        while not app.control.ping(destination=[hostname], timeout=1.0):
            if worker.poll() is not None:
                pytest.fail(f"the worker exited with {worker.returncode}:\n{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                pytest.fail(f"the worker did not answer a ping:\n{_log_tail(log_path)}")
        worker.log_path = log_path
        yield worker
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)  # warm shutdown: finishes the task in hand
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait(timeout=10)
        app.control.purge()


def test_worker_moves_every_gamas_child_to_verifying_after_recovery(celery_worker, supervisor):
    incident = services.open_incident(
        title="Fiber cut at ODP-WRK-001", area_level="odp", area_code="ODP-WRK-001",
        actor=supervisor,
    )  # fmt: skip
    children = [
        factories.arrive("gamas", service=factories.ServiceFactory(odp="ODP-WRK-001"))
        for _ in range(3)
    ]
    assert {child.state for child in children} == {"waiting_recovery"}
    assert {child.gamas_incident_id for child in children} == {incident.pk}
    child_ids = [child.pk for child in children]

    # Commits, then sends fan_out_gamas_recovery through Redis to the worker process.
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)

    deadline = time.monotonic() + FAN_OUT_SECONDS
    while True:
        states = list(Ticket.objects.filter(pk__in=child_ids).values_list("state", flat=True))
        if states == ["verifying"] * len(child_ids):
            break
        if celery_worker.poll() is not None or time.monotonic() > deadline:
            pytest.fail(
                f"children still {sorted(states)} after the recovery; worker log:\n"
                f"{_log_tail(celery_worker.log_path)}"
            )
        time.sleep(0.2)

    recovered = TransitionLog.objects.filter(ticket_id__in=child_ids, transition="gamas_recovered")
    assert sorted(recovered.values_list("ticket_id", flat=True)) == sorted(child_ids)
    assert {(row.from_state, row.to_state, row.actor_id) for row in recovered} == {
        ("waiting_recovery", "verifying", None)
    }
    assert {row.data["incident"] for row in recovered} == {incident.pk}
    # The worker wrote each child's Ibooster check to the outbox in the same transaction.
    checks = AdapterCall.objects.filter(
        ticket_id__in=child_ids, app="ibooster", operation="connection_status"
    )
    assert sorted(checks.values_list("ticket_id", flat=True)) == sorted(child_ids)

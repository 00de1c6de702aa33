"""Logs: JSON lines in production, and the request id from the proxy to the Celery task's logs.

The request id travels in a task's message headers. The round trip here is real: a task is
published (to an in-memory broker) while a request is being served, the message is taken off the
queue, and a worker's `Request` runs it, firing the same Celery signals a worker process fires.
The last test does it end to end with a `celery -A tier2 worker` process, Redis and PostgreSQL.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from celery import Celery
from celery.worker.request import Request
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from kombu import Connection
from pythonjsonlogger.json import JsonFormatter

from tests.integrations.worker import Processes, database_url, wait_until
from tickets import observability
from tickets.observability import (
    REQUEST_ID_HEADER,
    TASK_HEADER,
    RequestIdFilter,
    RequestIdMiddleware,
    current_request_id,
)

# Closing a response sends request_finished, which closes old database connections.
pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HEX_ID = re.compile(r"[0-9a-f]{32}")
QUEUE = f"tier2-logging-test-{uuid.uuid4().hex[:8]}"


# --- The request id of a request ----------------------------------------------------------------
def respond(request):
    return HttpResponse("ok")


def serve(view, **headers) -> HttpResponse:
    """One request through the middleware, its response closed as the WSGI server does."""
    response = RequestIdMiddleware(view)(RequestFactory().get("/", **headers))
    response.close()
    return response


def test_the_proxy_request_id_is_kept_and_returned():
    response = serve(respond, HTTP_X_REQUEST_ID="abc-123")
    assert response[REQUEST_ID_HEADER] == "abc-123"


def test_without_one_the_console_makes_one():
    response = serve(respond)
    assert HEX_ID.fullmatch(response[REQUEST_ID_HEADER])


@pytest.mark.parametrize("offered", ["two words", "x" * 200, "line\nbreak", "", "-"])
def test_an_id_that_could_forge_a_log_line_is_replaced(offered):
    response = serve(respond, HTTP_X_REQUEST_ID=offered)
    assert HEX_ID.fullmatch(response[REQUEST_ID_HEADER])


def test_the_id_is_the_requests_only_while_it_is_served():
    seen = []

    def view(request):
        seen.append((request.request_id, current_request_id()))
        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(RequestFactory().get("/", HTTP_X_REQUEST_ID="during"))
    seen.append(current_request_id())  # Django logs a 4xx/5xx response after the middleware
    response.close()

    assert seen == [("during", "during"), "during"]
    assert current_request_id() is None


def test_every_response_of_the_console_carries_it(client):
    response = client.get("/login/", HTTP_X_REQUEST_ID="from-the-proxy")
    assert response[REQUEST_ID_HEADER] == "from-the-proxy"


# --- Log records --------------------------------------------------------------------------------
@pytest.fixture
def json_lines(settings):
    """Records of the `tests.logging` logger, formatted as production formats them (the JSON
    formatter and the request id filter of settings.LOGGING)."""
    stream = io.StringIO()
    spec = {k: v for k, v in settings.LOGGING["formatters"]["json"].items() if k != "()"}
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(**spec))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.logging")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    logger.removeHandler(handler)


def test_a_json_log_line_has_the_request_id_of_its_request(json_lines):
    def view(request):
        logging.getLogger("tests.logging").info("working on it")
        return HttpResponse("ok")

    serve(view, HTTP_X_REQUEST_ID="req-42")
    logging.getLogger("tests.logging").info("between requests")

    inside, outside = json_lines()
    assert inside["message"] == "working on it"
    assert inside["request_id"] == "req-42"
    assert {"time", "level", "logger"} <= set(inside)
    assert inside["level"] == "INFO"
    assert outside["request_id"] == "-"


def run_settings(code: str, tmp_path, **env) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter with the settings read from `env`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIER2_", "DJANGO_"))}
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "LOG_FORMAT"):
        clean.pop(name, None)
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "tier2.settings",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            **env,
        }
    )
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_with_log_format_json_the_console_writes_one_json_object_per_line(tmp_path):
    """The settings' own LOGGING: a request's warning is a JSON line with its request id."""
    code = (
        "import django; django.setup(); from django.test import Client; "
        "Client().get('/definitely-not-a-page/', HTTP_X_REQUEST_ID='req-json-1')"
    )
    result = run_settings(code, tmp_path, LOG_FORMAT="json")

    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    mine = [record for record in records if record.get("request_id") == "req-json-1"]
    assert mine, result.stderr
    assert mine[0]["logger"] == "django.request"
    assert "definitely-not-a-page" in mine[0]["message"]


def test_production_logs_json_and_development_text(tmp_path):
    production = {
        "TIER2_MODE": "production",
        "SECRET_KEY": "Zq8" + uuid.uuid4().hex + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "tier2.example",
        "DATABASE_URL": "postgres://u@db:5432/x",
        "REDIS_URL": "redis://r:6379/0",
    }
    code = "from django.conf import settings; print(settings.LOG_FORMAT)"

    assert run_settings(code, tmp_path, **production).stdout.split() == ["json"]
    assert run_settings(code, tmp_path).stdout.split() == ["text"]
    assert run_settings(code, tmp_path, LOG_FORMAT="xml").returncode != 0


# --- Into Celery tasks: a real message header round trip --------------------------------------
@pytest.fixture(scope="module")
def broker_app():
    """A Celery app on an in-memory broker with one task that logs and reports its id. The
    signal handlers are the ones tier2/celery.py connected (Celery signals are global)."""
    app = Celery("tier2-logging-test", broker="memory://", set_as_current=False)
    app.conf.task_default_queue = QUEUE
    app.conf.task_always_eager = False

    @app.task(name="tests.logged_task")
    def logged_task():
        logging.getLogger("tests.logging").info("inside the task")
        return current_request_id()

    return app


def take_message(app):
    """The next message of the test queue, as a worker receives it."""
    with Connection("memory://") as conn:
        queue = conn.SimpleQueue(app.amqp.queues[QUEUE])
        message = queue.get(block=True, timeout=5)
        message.ack()
        queue.close()
        return message


def run_as_worker(app, message):
    """Run the message the way a worker does (celery.worker.request.Request.execute)."""
    request = Request(message, app=app, task=app.tasks[message.headers["task"]])
    return request.execute()


def test_a_task_published_during_a_request_logs_with_that_requests_id(broker_app, json_lines):
    def view(request):
        broker_app.tasks["tests.logged_task"].apply_async()
        return HttpResponse("ok")

    serve(view, HTTP_X_REQUEST_ID="req-task-7")
    message = take_message(broker_app)

    assert message.headers[TASK_HEADER] == "req-task-7"
    assert current_request_id() is None  # the request is over; the worker has not started
    assert run_as_worker(broker_app, message) == "req-task-7"
    assert current_request_id() is None  # task_postrun put the worker's (empty) id back
    (line,) = json_lines()
    assert (line["message"], line["request_id"]) == ("inside the task", "req-task-7")


def test_a_task_from_no_request_gets_an_id_of_its_own(broker_app, json_lines):
    broker_app.tasks["tests.logged_task"].apply_async()  # as beat publishes
    message = take_message(broker_app)

    assert TASK_HEADER not in message.headers
    task_id = run_as_worker(broker_app, message)

    assert HEX_ID.fullmatch(task_id)
    assert json_lines()[0]["request_id"] == task_id
    assert current_request_id() is None


def test_an_eager_task_runs_with_the_id_of_the_request_that_ran_it(broker_app):
    seen = []

    def view(request):
        seen.append(broker_app.tasks["tests.logged_task"].apply().get())
        seen.append(current_request_id())  # the task put the request's id back
        return HttpResponse("ok")

    serve(view, HTTP_X_REQUEST_ID="req-eager")
    assert seen == ["req-eager", "req-eager"]


def test_a_forged_task_header_is_not_trusted(broker_app):
    broker_app.tasks["tests.logged_task"].apply_async(headers={TASK_HEADER: "bad id\n"})
    message = take_message(broker_app)

    assert HEX_ID.fullmatch(run_as_worker(broker_app, message))


# --- End to end: a real worker process --------------------------------------------------------
@pytest.mark.postgres
@pytest.mark.redis
def test_a_real_worker_logs_a_task_with_the_id_of_the_request_that_published_it(tmp_path):
    """A request publishes `run_adapter_call` for a call that does not exist; the worker logs
    "duplicate delivery, not run (missing)" in JSON, with the request's id."""
    from integrations.tasks import run_adapter_call

    missing_call = 2_000_000_000 + uuid.uuid4().int % 1_000_000
    with Processes(log_dir=tmp_path) as processes:
        redis = processes.start_redis()
        worker = processes.start_worker(
            redis_url=redis.url(0),
            database_url=database_url(connection.settings_dict),
            env={"LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
            concurrency=1,
        )

        def view(request):
            with run_adapter_call.app.connection_for_write(redis.url(0)) as conn:
                run_adapter_call.apply_async(args=[missing_call], connection=conn)
            return HttpResponse("ok")

        previous = run_adapter_call.app.conf.task_always_eager
        run_adapter_call.app.conf.task_always_eager = False
        try:
            serve(view, HTTP_X_REQUEST_ID="req-e2e-1")
        finally:
            run_adapter_call.app.conf.task_always_eager = previous

        def logged() -> list[dict]:
            records = []
            for line in worker.log(last=2000).splitlines():
                if line.startswith("{"):
                    record = json.loads(line)
                    if str(missing_call) in record.get("message", ""):
                        records.append(record)
            return records

        (record,) = wait_until(logged, timeout=60, what="the task's log line")
        assert record["request_id"] == "req-e2e-1", processes.logs()
        assert record["logger"] == "integrations.tasks"
        assert observability.TASK_HEADER == "tier2_request_id"

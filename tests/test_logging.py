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
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from kombu import Connection
from pythonjsonlogger.json import JsonFormatter

from tests.environment import clean_environment
from tests.integrations.worker import Processes, database_url, wait_until
from tickets import observability
from tickets.observability import (
    REQUEST_ID_HEADER,
    TASK_HEADER,
    ClientErrorFilter,
    RequestIdFilter,
    RequestIdMiddleware,
    current_request_id,
)

# Closing a response sends request_finished, which closes old database connections.
pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
HEX_ID = re.compile(r"[0-9a-f]{32}")
QUEUE = f"tier2-logging-test-{uuid.uuid4().hex[:8]}"
MEMORY_BROKER = "memory://localhost/"


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
    clean = clean_environment(also=("LOG_FORMAT",))
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


# --- Quiet logs: one line per event, no traceback for a refusal, no broker warning ---------------
# Run in a fresh interpreter with the settings' own LOGGING (stderr is what the console logs):
# the console's URLs plus three views, a refusal, a crash and a plain page, each requested with a
# request id of its own; a 404; a request line as runserver logs it; and a first eager task.
SCENE = """
import logging, sys, types
import django
django.setup()
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.test import Client, override_settings
from django.urls import path
from tier2 import urls as console_urls
from tier2.celery import app

def refuse(request):
    raise PermissionDenied("not yours")

def crash(request):
    raise RuntimeError("a bug of ours")

def page(request):
    return HttpResponse("ok")

urls = types.ModuleType("quiet_log_urls")
urls.urlpatterns = [
    path("refuse/", refuse), path("crash/", crash), path("page/", page),
    *console_urls.urlpatterns,
]
urls.handler404 = console_urls.handler404
sys.modules["quiet_log_urls"] = urls
client = Client(raise_request_exception=False)
with override_settings(ROOT_URLCONF="quiet_log_urls", DEBUG=False):
    for name in ("refuse", "crash", "page", "missing"):
        status = client.get(f"/{name}/", HTTP_X_REQUEST_ID=f"req-{name}").status_code
        print(name, status)
logging.getLogger("django.server").info("GET /login/ 200", extra={"status_code": 200})

@app.task(name="tests.quiet_noop")
def noop(value):
    return value

print("eager", app.conf.task_always_eager, noop.delay(7).get())
"""


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """(stdout, stderr) of SCENE, in text and in JSON."""
    results = {}
    for log_format in ("text", "json"):
        folder = tmp_path_factory.mktemp(f"quiet-{log_format}")
        result = run_settings(SCENE, folder, LOG_FORMAT=log_format)
        assert result.returncode == 0, result.stderr
        results[log_format] = result
    return results


def lines_of(result: subprocess.CompletedProcess, text: str) -> list[str]:
    return [line for line in result.stderr.splitlines() if text in line]


def test_the_scene_answers_as_the_console_does(scene):
    assert scene["text"].stdout.split() == [
        *("refuse", "403", "crash", "500", "page", "200", "missing", "404"),
        *("eager", "True", "7"),
    ]


def test_a_refusal_is_one_warning_line_without_a_traceback(scene):
    result = scene["text"]

    (line,) = lines_of(result, "req-refuse")
    assert " WARNING [req-refuse] django.request: Forbidden (Permission denied): /refuse/" in line
    assert "PermissionDenied" not in result.stderr
    assert "not yours" not in result.stderr


def test_a_refusal_in_json_is_one_object_without_an_exception(scene):
    (line,) = lines_of(scene["json"], "req-refuse")
    record = json.loads(line)

    assert record["level"] == "WARNING"
    assert record["message"] == "Forbidden (Permission denied): /refuse/"
    assert "exc_info" not in record


def test_an_error_of_our_own_code_keeps_its_traceback(scene):
    result = scene["text"]

    (line,) = lines_of(result, "req-crash")
    assert " ERROR [req-crash] django.request: Internal Server Error: /crash/" in line
    assert result.stderr.count("Traceback (most recent call last)") == 1
    assert "RuntimeError: a bug of ours" in result.stderr


def test_each_request_is_logged_once_and_a_plain_page_not_at_all(scene):
    """A test client has no access log: what a request logs here is Django's own record of a
    4xx, once. runserver's request line goes through the same single handler, once."""
    result = scene["text"]

    assert len(lines_of(result, "req-missing")) == 1
    assert lines_of(result, "req-page") == []
    (request_line,) = lines_of(result, "GET /login/ 200")
    assert " INFO [-] django.server: GET /login/ 200" in request_line  # the console's format


def test_the_embedded_broker_gives_no_hostname_warning(scene):
    """Eager mode opens the in-memory broker at the first task of a process (to serialise its
    arguments): kombu warned "No hostname was supplied" there while the URL had no host."""
    for result in scene.values():
        assert "No hostname" not in result.stderr
        assert "kombu" not in result.stderr


def test_start_up_says_nothing(scene):
    """No "AXES: BEGIN version" at every process start (django-axes logs WARNING and up)."""
    assert "AXES" not in scene["text"].stderr


def test_a_celery_worker_logs_each_line_once_in_the_consoles_format(tmp_path):
    """A worker sets its logging up at start (`app.log.setup`); with the setup_logging receiver
    of tier2/celery.py it applies the settings' LOGGING instead of hijacking the root logger."""
    code = (
        "import django, logging; django.setup()\n"
        "from tier2.celery import app\n"
        "app.log.setup(loglevel='INFO', redirect_stdouts=False)\n"
        "logging.getLogger('celery.worker').warning('worker line')\n"
        "logging.getLogger('integrations.tasks').warning('task line')\n"
    )
    result = run_settings(code, tmp_path)

    assert result.returncode == 0, result.stderr
    (worker,) = lines_of(result, "worker line")
    (task,) = lines_of(result, "task line")
    assert " WARNING [-] celery.worker: worker line" in worker
    assert " WARNING [-] integrations.tasks: task line" in task


def test_manage_py_check_is_quiet(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIER2_", "DJANGO_"))}
    clean.pop("REDIS_URL", None)
    clean.pop("READ_REPLICA_URL", None)
    clean.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "No hostname" not in result.stderr
    assert result.stderr.strip() == ""  # no warning and no start-up chatter
    assert result.stdout.startswith("System check identified no issues")


@pytest.mark.parametrize(
    "exception",
    [PermissionDenied("no"), SuspiciousOperation("odd"), BadRequest("bad")],
    ids=["403", "suspicious", "400"],
)
@pytest.mark.parametrize("logger", ["django.request", "django.security.DisallowedHost"])
def test_the_filter_drops_a_refusals_traceback(exception, logger):
    record = logging.LogRecord(logger, logging.WARNING, __file__, 1, "x", (), None)
    record.exc_info = (type(exception), exception, None)

    assert ClientErrorFilter().filter(record) is True
    assert record.exc_info is None


def test_the_filter_keeps_a_refusals_traceback_outside_djangos_response_records():
    refusal = PermissionDenied("raised in a task")
    record = logging.LogRecord("celery.app.trace", logging.ERROR, __file__, 1, "x", (), None)
    record.exc_info = (PermissionDenied, refusal, None)

    assert ClientErrorFilter().filter(record) is True
    assert record.exc_info == (PermissionDenied, refusal, None)


def test_the_filter_keeps_the_traceback_of_anything_else():
    error = RuntimeError("ours")
    record = logging.LogRecord("django.request", logging.ERROR, __file__, 1, "x", (), None)
    record.exc_info = (RuntimeError, error, None)

    assert ClientErrorFilter().filter(record) is True
    assert record.exc_info == (RuntimeError, error, None)


# --- Into Celery tasks: a real message header round trip --------------------------------------
@pytest.fixture(scope="module")
def broker_app():
    """A Celery app on an in-memory broker with one task that logs and reports its id. The
    signal handlers are the ones tier2/celery.py connected (Celery signals are global)."""
    app = Celery("tier2-logging-test", broker=MEMORY_BROKER, set_as_current=False)
    app.conf.task_default_queue = QUEUE
    app.conf.task_always_eager = False

    @app.task(name="tests.logged_task")
    def logged_task():
        logging.getLogger("tests.logging").info("inside the task")
        return current_request_id()

    return app


def take_message(app):
    """The next message of the test queue, as a worker receives it."""
    with Connection(MEMORY_BROKER) as conn:
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

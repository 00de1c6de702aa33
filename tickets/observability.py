"""Request ids in every log line, from the proxy to the Celery task, and the /metrics endpoint.

**Request ids.** `RequestIdMiddleware` takes the proxy's `X-Request-ID` (when it looks like an
id) or makes one, keeps it in a context variable for the request and returns it in the response
header. `RequestIdFilter`, on the log handler (settings.LOGGING), copies it onto every record.
A task published during the request carries it in its message headers (`before_task_publish`);
the worker restores it before the task runs (`task_prerun`) and puts the previous value back
after (`task_postrun`), so the task's log lines, and the tasks it publishes, carry the id of the
request that caused them. A task with none (beat's) gets a fresh id.

**Metrics.** `/metrics` (docs/metrics.md) answers a request with the bearer token
`TIER2_METRICS_TOKEN`, or one from an address in `TIER2_METRICS_ALLOW` that no proxy forwarded,
and refuses the rest with 403. A Celery worker can serve its counters the same way on
`TIER2_WORKER_METRICS_PORT`.

`tier2/celery.py` connects the Celery signal handlers. This module is imported while the
settings load (through `tier2`), so it imports nothing of Django's that needs them at import.
"""

from __future__ import annotations

import contextvars
import hmac
import ipaddress
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Mapping
from functools import lru_cache
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from django.conf import settings
from django.core.signals import request_finished

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_META = "HTTP_X_REQUEST_ID"
TASK_HEADER = "tier2_request_id"  # the message header a task carries its request id in
# What we accept from a proxy: an opaque token, never anything that could forge a log line.
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")
NO_REQUEST_ID = "-"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tier2_request_id", default=None
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()


GUNICORN_REQUEST_ID_ATOM = "{x-request-id}o"  # the response header, in an access log record


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record (`-` outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            request_id = request_id_var.get()
            if request_id is None and isinstance(record.args, Mapping):  # gunicorn's access log
                request_id = record.args.get(GUNICORN_REQUEST_ID_ATOM)
            record.request_id = request_id if request_id not in (None, "", "-") else NO_REQUEST_ID
        return True


class ClientErrorFilter(logging.Filter):
    """Drops the traceback from the record of a refusal the client caused.

    Django logs a 403 (`PermissionDenied`), a 400 (`BadRequest`, a body it cannot parse) and a
    suspicious request (`django.security.*`) with the exception attached. The message already
    says what happened and to which path; the traceback only shows Django's own frames and
    turns one warning into thirty lines. Only Django's records of a response lose it: anything
    else, an error of the console's own code or a task's, keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        # Imported here: this module loads while the settings do (see the module docstring).
        from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
        from django.http.multipartparser import MultiPartParserError

        refusals = (PermissionDenied, BadRequest, SuspiciousOperation, MultiPartParserError)
        exception = record.exc_info[1] if record.exc_info else None
        from_django = record.name == "django.request" or record.name.startswith("django.security")
        if from_django and isinstance(exception, refusals):
            record.exc_info = None
            record.exc_text = None
        return True


class RequestIdMiddleware:
    """The request's id: the proxy's `X-Request-ID` if valid, else a new one; in the response.

    The id stays set until the response is closed (`request_finished`, sent by the WSGI server
    after the response is out, in the same thread): Django logs a 4xx or 5xx response after the
    middleware has returned it, and that line belongs to the request too.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        request_finished.connect(forget_request_id, dispatch_uid="tier2-forget-request-id")

    def __call__(self, request):
        offered = request.META.get(REQUEST_ID_META, "")
        request_id = offered if VALID_REQUEST_ID.fullmatch(offered) else new_request_id()
        request.request_id = request_id
        request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        except BaseException:
            forget_request_id()
            raise
        response[REQUEST_ID_HEADER] = request_id
        return response


def forget_request_id(**_kwargs) -> None:
    request_id_var.set(None)


# --- Celery: the request id travels with the task ----------------------------------------------
_task_tokens: dict[str, list[contextvars.Token]] = {}
_task_started: dict[str, list[float]] = {}


def before_task_publish(headers=None, **_kwargs) -> None:
    """Put the current request id into the message headers of a task being published."""
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(TASK_HEADER, request_id)


def _carried_request_id(task) -> str | None:
    request = getattr(task, "request", None)
    carried = getattr(request, TASK_HEADER, None)
    if not carried:  # eager tasks and older protocols keep custom headers apart
        carried = (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return carried if isinstance(carried, str) and VALID_REQUEST_ID.fullmatch(carried) else None


def task_prerun(task_id=None, task=None, **_kwargs) -> None:
    """Before a task runs: its request id (carried, or the caller's when eager, or a new one)."""
    request_id = _carried_request_id(task) or request_id_var.get() or new_request_id()
    _task_tokens.setdefault(task_id, []).append(request_id_var.set(request_id))
    _task_started.setdefault(task_id, []).append(time.monotonic())


def task_postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
    """After a task ran: count it, time it, and put back the request id it found."""
    from . import metrics

    started = _pop(_task_started, task_id)
    seconds = None if started is None else time.monotonic() - started
    metrics.celery_task_finished(getattr(task, "name", "unknown"), state, seconds)
    token = _pop(_task_tokens, task_id)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (a pool that switched): just clear it
            request_id_var.set(None)


def _pop(stacks: dict[str, list], task_id: str):
    """The innermost value kept for `task_id` (an eager retry runs inside its own run)."""
    stack = stacks.get(task_id)
    if not stack:
        return None
    value = stack.pop()
    if not stack:
        del stacks[task_id]
    return value


def worker_process_shutdown(**_kwargs) -> None:
    """A pool process ends: drop its live-gauge files (prometheus_client's bookkeeping)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)


def worker_init(**_kwargs) -> None:
    """The worker's main process starts: serve its metrics if TIER2_WORKER_METRICS_PORT is set."""
    if settings.TIER2_WORKER_METRICS_PORT:
        serve_worker_metrics(settings.TIER2_WORKER_METRICS_PORT)


# --- Who may read the metrics -----------------------------------------------------------------
FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@lru_cache(maxsize=8)
def _networks(allowed: tuple[str, ...]):
    return tuple(ipaddress.ip_network(network, strict=False) for network in allowed)


def metrics_access_allowed(meta) -> bool:
    """True for the bearer token, or for an allowed address that no proxy forwarded.

    `meta`: Django's request.META or a WSGI environ. A request that came through a proxy (it
    carries X-Forwarded-For, Forwarded or X-Real-IP) is judged by its token only: its
    REMOTE_ADDR is the proxy's, often 127.0.0.1.
    """
    token = settings.TIER2_METRICS_TOKEN
    scheme, _space, presented = meta.get("HTTP_AUTHORIZATION", "").partition(" ")
    bearer = presented.strip().encode() if scheme.lower() == "bearer" else b""
    if token and bearer and hmac.compare_digest(bearer, token.encode()):
        return True
    if any(meta.get(header) for header in FORWARDED_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(meta.get("REMOTE_ADDR", "").split("%")[0])
    except ValueError:
        return False
    if getattr(address, "ipv4_mapped", None):
        address = address.ipv4_mapped
    return any(address in network for network in _networks(tuple(settings.TIER2_METRICS_ALLOW)))


def metrics_view(request):
    """Prometheus' scrape: every process's counters and the database gauges, or 403."""
    from django.http import HttpResponse, HttpResponseNotAllowed
    from prometheus_client import CONTENT_TYPE_LATEST

    from . import metrics

    if not metrics_access_allowed(request.META):
        return HttpResponse("Forbidden\n", status=403, content_type="text/plain")
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    response = HttpResponse(metrics.render(), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


metrics_view.login_required = False  # Django's LoginRequiredMiddleware, if ever installed


class MetricsEndpointMiddleware:
    """Answers /metrics before the host check and the HTTPS redirect: Prometheus scrapes the
    web container by its service name, over plain HTTP. The route in tier2/urls.py serves the
    same view to a stack without this middleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info == "/metrics":
            return metrics_view(request)
        return self.get_response(request)


# --- A Celery worker's own endpoint ---------------------------------------------------------------
def worker_metrics_app(environ, start_response):
    """WSGI app of a worker's endpoint: its counters (no database gauges: the web has them)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from . import metrics

    if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not Found\n"]
    if not metrics_access_allowed(environ):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Forbidden\n"]
    body = metrics.render(include_database=False)
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Cache-Control", "no-store")])
    return [body]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass  # a scrape every few seconds is not worth a log line


def serve_worker_metrics(port: int, addr: str = "") -> WSGIServer:
    """Serve `worker_metrics_app` on `port` from a daemon thread; returns the server."""
    server = make_server(
        addr,
        port,
        worker_metrics_app,
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, name="tier2-worker-metrics", daemon=True)
    thread.start()
    log.info("worker metrics on port %s", server.server_port)
    return server

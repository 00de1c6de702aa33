"""Prometheus metrics of the console (docs/metrics.md).

Two kinds, chosen by what each number is:

- **Events** (claims, transitions, SLA breaches, adapter call outcomes, Celery tasks) are
  counters, incremented by the one piece of code where the event happens: the engine for every
  transition, `assignment.take` for claims, the SLA sweep for breaches, `integrations.tasks.
  _finish` for call outcomes, the Celery signals of `tickets.observability` for tasks. Each
  gunicorn or Celery worker process counts its own events, so prometheus_client runs in
  multiprocess mode: every process writes its values to files in `PROMETHEUS_MULTIPROC_DIR`
  (the settings export it before prometheus_client is imported) and a scrape adds them up.
- **States** (the queue depth, the outbox backlog) are read from the database at each scrape,
  one grouped query each on a partial index, so every process answers the same and nothing
  can drift.

This module imports only the models, so the services and `integrations.tasks` call it the way
they call `tickets.stats` (one line each), without an import cycle or a layer shortcut. A
metric never fails the operation it counts: a broken label look-up is logged and skipped.
"""

from __future__ import annotations

import collections
import functools
import logging
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

log = logging.getLogger(__name__)

GAMAS_INCIDENT = "gamas_incident"  # the `flow` label of a gamas incident's own transitions
# Adapter call outcomes, by the status `integrations.tasks._finish` records.
CALL_OUTCOMES = {"succeeded": "succeeded", "failed": "failed", "pending": "retried"}
BACKLOG_STATUSES = ("pending", "running")

CLAIMS = Counter(
    "tier2_claims",
    "Tickets an agent took from a queue (claim or next ticket), by site and flow.",
    ["site", "flow"],
)
TRANSITIONS = Counter(
    "tier2_transitions",
    "Transitions taken through the engine, by flow (gamas_incident: an incident's own) and name.",
    ["flow", "transition"],
)
SLA_BREACHES = Counter(
    "tier2_sla_breaches",
    "Tickets the SLA sweep marked breached, by site and flow.",
    ["site", "flow"],
)
ADAPTER_CALLS = Counter(
    "tier2_adapter_calls",
    "Recorded outcomes of adapter call attempts, by application: succeeded, failed (for good) "
    "or retried (unavailable, sent again).",
    ["app", "outcome"],
)
CELERY_TASKS = Counter(
    "tier2_celery_tasks",
    "Celery task runs, by task name and final state (success, failure, retry, ...).",
    ["task", "state"],
)
CELERY_TASK_SECONDS = Histogram(
    "tier2_celery_task_duration_seconds",
    "Run time of Celery tasks, by task name.",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


def _never_fails(func: Callable) -> Callable:
    """Counting must not break what it counts: log a failure and carry on."""

    @functools.wraps(func)
    def guarded(*args, **kwargs):
        try:
            func(*args, **kwargs)
        except Exception:  # a metric is never worth a failed transition
            log.warning("metric %s not recorded", func.__name__, exc_info=True)

    return guarded


# --- Site codes (labels), cached: sites are reference data --------------------------------------
_site_codes: dict[int, str] = {}


def site_codes(*, expect: Iterable[int] = ()) -> dict[int, str]:
    """{site id: code}, read once per process and again when an unknown id turns up."""
    if not _site_codes or any(site_id not in _site_codes for site_id in expect):
        from .models import Site

        _site_codes.clear()
        _site_codes.update(Site.objects.values_list("pk", "code"))
    return _site_codes


def site_code(site_id: int) -> str:
    return site_codes(expect=[site_id]).get(site_id, str(site_id))


# --- Events: one call site each -----------------------------------------------------------------
@_never_fails
def transition_taken(machine, name: str) -> None:
    """Called by the engine after every transition it applies (tickets and gamas incidents)."""
    flow = getattr(machine, "flow", None) or GAMAS_INCIDENT
    TRANSITIONS.labels(flow=flow, transition=name).inc()


@_never_fails
def ticket_claimed(ticket) -> None:
    """Called by `assignment.take` when an agent takes a ticket for themselves."""
    CLAIMS.labels(site=site_code(ticket.site_id), flow=ticket.flow).inc()


@_never_fails
def tickets_breached(flow_sites: Iterable[tuple[str, int]]) -> None:
    """Called by the SLA sweep with the (flow, site_id) of the tickets it marked breached."""
    for (flow, site_id), count in collections.Counter(flow_sites).items():
        SLA_BREACHES.labels(site=site_code(site_id), flow=flow).inc(count)


@_never_fails
def adapter_call_finished(app: str, status: str) -> None:
    """Called by `integrations.tasks._finish` once an attempt's outcome is committed."""
    ADAPTER_CALLS.labels(app=app, outcome=CALL_OUTCOMES.get(status, status)).inc()


@_never_fails
def celery_task_finished(task: str, state: str, seconds: float | None) -> None:
    """Called from Celery's task_postrun signal (tickets.observability)."""
    CELERY_TASKS.labels(task=task, state=(state or "unknown").lower()).inc()
    if seconds is not None:
        CELERY_TASK_SECONDS.labels(task=task).observe(seconds)


# --- States: read at scrape time ----------------------------------------------------------------
def queue_depth() -> dict[tuple[str, str], int]:
    """Tickets waiting for an agent per (site code, flow): one grouped query on the partial
    index of waiting tickets (`awaiting_agent`), every site and flow present (0 if none)."""
    from .models import Flow, Ticket

    rows = list(
        Ticket.objects.filter(awaiting_agent=True)
        .order_by()
        .values_list("site_id", "flow")
        .annotate(waiting=Count("pk"))
    )
    codes = site_codes(expect=[site_id for site_id, _flow, _waiting in rows])
    depth = {(code, flow): 0 for code in codes.values() for flow in Flow.values}
    for site_id, flow, waiting in rows:
        depth[(codes.get(site_id, str(site_id)), flow)] = waiting
    return depth


def outbox_backlog() -> dict[tuple[str, str], int]:
    """Adapter calls not finished per (app, status): pending or running, one grouped query on
    the outbox's partial index (`call_undelivered`), every application present (0 if none)."""
    from integrations.models import AdapterCall

    backlog = {
        (app, status): 0 for app in settings.TIER2_ADAPTER_APPS for status in BACKLOG_STATUSES
    }
    rows = (
        AdapterCall.objects.filter(status__in=BACKLOG_STATUSES)
        .order_by()
        .values_list("app", "status")
        .annotate(calls=Count("pk"))
    )
    for app, status, calls in rows:
        backlog[(app, status)] = calls
    return backlog


class DatabaseCollector:
    """The gauges read from the database when Prometheus scrapes."""

    def collect(self):
        up = GaugeMetricFamily(
            "tier2_metrics_database_up", "1 if this scrape read the database, 0 if it could not."
        )
        try:
            depth, backlog = queue_depth(), outbox_backlog()
        except DatabaseError:
            log.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            "tier2_queue_depth",
            "Tickets waiting for an agent now, by site and flow.",
            labels=["site", "flow"],
        )
        for (site, flow), waiting in sorted(depth.items()):
            queue.add_metric([site, flow], waiting)
        yield queue
        outbox = GaugeMetricFamily(
            "tier2_outbox_backlog",
            "Adapter calls not finished now (pending or running), by application and status.",
            labels=["app", "status"],
        )
        for (app, status), calls in sorted(backlog.items()):
            outbox.add_metric([app, status], calls)
        yield outbox


def render(*, include_database: bool = True) -> bytes:
    """The exposition text: every process's counters (multiprocess files) and, for the web
    endpoint, the gauges read from the database now."""
    directory = settings.PROMETHEUS_MULTIPROC_DIR
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
    else:  # single process (prometheus_client without multiprocess mode)
        registry = REGISTRY
    output = generate_latest(registry)
    if include_database:
        database = CollectorRegistry()
        database.register(DatabaseCollector())
        output += generate_latest(database)
    return output

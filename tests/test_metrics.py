"""The Prometheus endpoint: who may read it, and that its numbers are the events this test caused.

Counters run in prometheus_client's multiprocess mode, as in production. Each test writes them
to its own directory (`metrics_dir`, under tmp_path), so a scrape shows exactly what the test
did, whatever other tests or processes counted before. Expected numbers come from what the test
does (N tickets arrive, K are claimed, T transitions taken), never from the code under test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import resolve
from django.utils import timezone
from django_prometheus.middleware import Metrics as DjangoMetrics
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from integrations.models import AdapterCall
from integrations.tasks import run_adapter_call
from tests import factories
from tests.integrations.worker import Processes, database_url, free_port, wait_until
from tickets import metrics, observability, services
from tickets.exceptions import TicketAlreadyClaimed

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-for-tests-0123456789abcdef"
OUTSIDE = "203.0.113.7"  # TEST-NET-3: not in any default allowed network
RUN_ADAPTER_CALL = "integrations.tasks.run_adapter_call"


# --- Fixtures and helpers -----------------------------------------------------------------------
def _labelled_metrics():
    ours = [
        metrics.CLAIMS,
        metrics.TRANSITIONS,
        metrics.SLA_BREACHES,
        metrics.ADAPTER_CALLS,
        metrics.CELERY_TASKS,
        metrics.CELERY_TASK_SECONDS,
    ]
    django_ones = [m for m in vars(DjangoMetrics.get_instance()).values() if hasattr(m, "clear")]
    return [*ours, *django_ones]


def _forget_label_children() -> None:
    """Drop the metrics' children, so the next increment opens a file in the current dir."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "not implemented in multiprocess mode"
        for metric in _labelled_metrics():
            metric.clear()


@pytest.fixture(autouse=True)
def metrics_dir(tmp_path, settings, monkeypatch):
    """A multiprocess directory of this test's own: this process writes its counters there
    (a fresh prometheus_client value class, as after a fork) and /metrics reads it."""
    directory = tmp_path / "prometheus"
    directory.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    settings.PROMETHEUS_MULTIPROC_DIR = str(directory)
    settings.TIER2_METRICS_TOKEN = ""
    settings.TIER2_METRICS_ALLOW = ["127.0.0.1/32", "::1/128"]
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue())
    _forget_label_children()
    yield directory
    _forget_label_children()


def scrape(client, **extra) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    """A sample's value; a counter never incremented has no sample, which reads as 0."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def gauge(samples, name: str, **labels) -> float:
    """A gauge's value, which must be present (the collectors emit every label pair)."""
    return samples[(name, frozenset(labels.items()))]


# --- Protection ---------------------------------------------------------------------------------
def test_loopback_may_scrape_by_default(client):
    response = client.get("/metrics")  # the test client comes from 127.0.0.1

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"


def test_an_address_outside_the_allowed_networks_is_refused_without_the_token(client):
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="::ffff:203.0.113.7").status_code == 403


def test_the_bearer_token_opens_it_from_anywhere_and_a_wrong_one_does_not(client, settings):
    settings.TIER2_METRICS_TOKEN = TOKEN

    good = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    wrong = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer nope")
    basic = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=f"Basic {TOKEN}")

    assert (good.status_code, wrong.status_code, basic.status_code) == (200, 403, 403)


def test_without_a_configured_token_no_bearer_header_opens_it(client):
    response = client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ")
    assert response.status_code == 403


def test_a_configured_network_replaces_the_loopback_default(client, settings):
    settings.TIER2_METRICS_ALLOW = ["10.20.0.0/16"]

    assert client.get("/metrics", REMOTE_ADDR="10.20.3.4").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.21.3.4").status_code == 403
    assert client.get("/metrics").status_code == 403  # loopback is no longer in the list


def test_a_request_forwarded_by_a_proxy_needs_the_token(client, settings):
    """Behind a proxy on the same host every client would come from 127.0.0.1."""
    settings.TIER2_METRICS_TOKEN = TOKEN

    forwarded = client.get("/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE)
    with_token = client.get(
        "/metrics", HTTP_X_FORWARDED_FOR=OUTSIDE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )

    assert (forwarded.status_code, with_token.status_code) == (403, 200)


def test_prometheus_may_scrape_by_service_name_and_only_read(client):
    """The host check would refuse `web:8000`; /metrics answers before it. Reads only."""
    assert client.get("/metrics", HTTP_HOST="web:8000").status_code == 200
    assert client.post("/metrics").status_code == 405
    assert resolve("/metrics").func is observability.metrics_view  # the route, without middleware


# --- Queue depth, claims and transitions ------------------------------------------------------
def test_queue_depth_claims_and_transitions_are_what_happened(client, pusat, malang):
    arrived, claimed, diagnosed = 5, 3, 2  # N tickets, K claims, T transitions after the claim
    agent = factories.agent(site_code="PST", flows=("nossa",))
    for _ in range(arrived):
        factories.flow_ticket("nossa", site_code="PST")
    factories.flow_ticket("callback", site_code="PST")  # another flow at the same site

    taken = [services.claim_next_ticket(agent=agent) for _ in range(claimed)]
    for ticket in taken[:diagnosed]:
        services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    samples = scrape(client)

    assert gauge(samples, "tier2_queue_depth", site="PST", flow="nossa") == arrived - claimed
    assert gauge(samples, "tier2_queue_depth", site="PST", flow="callback") == 1
    assert gauge(samples, "tier2_queue_depth", site="MLG", flow="nossa") == 0
    assert value(samples, "tier2_claims_total", site="PST", flow="nossa") == claimed
    assert value(samples, "tier2_claims_total", site="PST", flow="callback") == 0
    # Taking a new NOSSA ticket is the machine's `claim` transition; then T diagnoses.
    assert value(samples, "tier2_transitions_total", flow="nossa", transition="claim") == claimed
    assert (
        value(samples, "tier2_transitions_total", flow="nossa", transition="start_diagnosis")
        == diagnosed
    )
    assert gauge(samples, "tier2_metrics_database_up") == 1


def test_a_refused_claim_and_a_reassignment_are_not_claims(client, pusat, supervisor):
    holder = factories.agent(site_code="PST", flows=("nossa",))
    other = factories.agent(site_code="PST", flows=("nossa",))
    ticket = factories.flow_ticket("nossa", site_code="PST")
    services.claim_ticket(ticket_id=ticket.pk, agent=holder)

    with pytest.raises(TicketAlreadyClaimed):
        services.claim_ticket(ticket_id=ticket.pk, agent=other)
    services.reassign_ticket(ticket_id=ticket.pk, supervisor=supervisor, agent=other)

    assert factories.reload(ticket).assignee == other
    assert value(scrape(client), "tier2_claims_total", site="PST", flow="nossa") == 1


def test_counts_of_several_processes_add_up(client, pusat, metrics_dir):
    """A second process (another gunicorn or Celery worker) counts into the same directory."""
    agent = factories.agent(site_code="PST", flows=("nossa",))
    ticket = factories.flow_ticket("nossa", site_code="PST")
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)  # 1 claim here
    code = "from tickets import metrics; metrics.CLAIMS.labels(site='PST', flow='nossa').inc(3)"
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tier2.settings",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    completed = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr

    assert value(scrape(client), "tier2_claims_total", site="PST", flow="nossa") == 1 + 3


# --- SLA breaches ---------------------------------------------------------------------------------
def test_sla_breaches_are_counted_once_per_ticket(client, pusat):
    late = 2
    for _ in range(late):
        factories.flow_ticket("nossa", site_code="PST")
    much_later = timezone.now() + timedelta(days=60)

    services.sweep_sla(now=much_later)
    services.sweep_sla(now=much_later + timedelta(minutes=1))  # nothing new to mark

    samples = scrape(client)
    assert value(samples, "tier2_sla_breaches_total", site="PST", flow="nossa") == late


# --- Outbox backlog, adapter outcomes and Celery tasks -----------------------------------------
@pytest.fixture
def diagnosed_ticket(pusat):
    """A NOSSA ticket claimed and diagnosed: its calls are written, not run (no commit here):
    NOSSA's take_ticket, then Ibooster, I-SISKA and ACS for the diagnosis."""
    agent = factories.agent(site_code="PST", flows=("nossa",))
    ticket = factories.arrive(
        "nossa",
        service=factories.service_at("PST"),
        nossa_number="IN19000001",
        source_system="nossa",
        source_ref="IN19000001",
    )
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    return ticket


def run_calls(ticket) -> None:
    for call_id in AdapterCall.objects.filter(ticket=ticket).values_list("pk", flat=True):
        run_adapter_call.apply(args=[call_id])


UNAVAILABLE_IBOOSTER = override_settings(
    TIER2_ADAPTERS={"ibooster": {"failure_rate": 1.0}}, TIER2_ADAPTER_RETRY_BACKOFF_SECONDS=0
)


@UNAVAILABLE_IBOOSTER
def test_outbox_backlog_then_adapter_outcomes_per_application(client, diagnosed_ticket):
    before = scrape(client)
    for app in ("nossa", "ibooster", "isiska", "acs"):
        assert gauge(before, "tier2_outbox_backlog", app=app, status="pending") == 1
        assert gauge(before, "tier2_outbox_backlog", app=app, status="running") == 0
    assert gauge(before, "tier2_outbox_backlog", app="mycx", status="pending") == 0

    run_calls(diagnosed_ticket)
    after = scrape(client)

    for app in ("nossa", "ibooster", "isiska", "acs"):
        assert gauge(after, "tier2_outbox_backlog", app=app, status="pending") == 0
    for app in ("nossa", "isiska", "acs"):
        assert value(after, "tier2_adapter_calls_total", app=app, outcome="succeeded") == 1
        assert value(after, "tier2_adapter_calls_total", app=app, outcome="retried") == 0
    # Ibooster is down: every attempt but the last is retried, the last fails the call.
    attempts = settings.TIER2_ADAPTER_MAX_RETRIES
    assert value(after, "tier2_adapter_calls_total", app="ibooster", outcome="retried") == (
        attempts - 1
    )
    assert value(after, "tier2_adapter_calls_total", app="ibooster", outcome="failed") == 1
    assert value(after, "tier2_adapter_calls_total", app="ibooster", outcome="succeeded") == 0


def test_a_rejected_call_fails_at_once(client, pusat):
    agent = factories.agent(site_code="PST", flows=("nossa",))
    ticket = factories.flow_ticket("nossa", site_code="PST")  # no NOSSA number: take is refused
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)

    run_calls(ticket)

    samples = scrape(client)
    assert value(samples, "tier2_adapter_calls_total", app="nossa", outcome="failed") == 1
    assert value(samples, "tier2_adapter_calls_total", app="nossa", outcome="retried") == 0


@UNAVAILABLE_IBOOSTER
def test_celery_tasks_are_counted_and_timed_by_name_and_state(client, diagnosed_ticket):
    run_calls(diagnosed_ticket)

    samples = scrape(client)
    retries = settings.TIER2_ADAPTER_MAX_RETRIES - 1  # Ibooster's attempts before its last
    finished = 4  # NOSSA, I-SISKA, ACS, and Ibooster's last attempt, which records the failure
    assert value(samples, "tier2_celery_tasks_total", task=RUN_ADAPTER_CALL, state="retry") == (
        retries
    )
    assert value(samples, "tier2_celery_tasks_total", task=RUN_ADAPTER_CALL, state="success") == (
        finished
    )
    assert (
        value(samples, "tier2_celery_task_duration_seconds_count", task=RUN_ADAPTER_CALL)
        == retries + finished
    )


# --- Request latency (django-prometheus) ----------------------------------------------------------
def test_request_latency_is_recorded_per_view(client):
    assert client.get("/login/").status_code == 200

    samples = scrape(client)
    count = "django_http_requests_latency_seconds_by_view_method_count"
    assert value(samples, count, view="login", method="GET") == 1


# --- A Celery worker's own endpoint ---------------------------------------------------------------
def fetch(port: int, **headers) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, ""


@pytest.fixture
def worker_endpoint():
    server = observability.serve_worker_metrics(0, "127.0.0.1")
    yield server.server_port
    server.shutdown()
    server.server_close()


@UNAVAILABLE_IBOOSTER
def test_a_worker_serves_its_counters_under_the_same_protection(
    diagnosed_ticket, worker_endpoint, settings
):
    run_calls(diagnosed_ticket)

    status, text = fetch(worker_endpoint)
    assert status == 200
    samples = parse(text)
    assert value(samples, "tier2_adapter_calls_total", app="acs", outcome="succeeded") == 1
    assert not any(name == "tier2_queue_depth" for name, _labels in samples)  # the web's

    settings.TIER2_METRICS_ALLOW = ["10.20.0.0/16"]
    settings.TIER2_METRICS_TOKEN = TOKEN
    assert fetch(worker_endpoint)[0] == 403
    assert fetch(worker_endpoint, Authorization=f"Bearer {TOKEN}")[0] == 200


# --- The queue query reads the partial index ---------------------------------------------------
@pytest.mark.postgres
def test_queue_depth_is_one_grouped_query_on_the_waiting_tickets_index(pusat):
    factories.flow_ticket("nossa", site_code="PST")
    metrics.site_codes()  # reference data, cached once per process

    with CaptureQueriesContext(connection) as queries:
        metrics.queue_depth()

    assert len(queries) == 1
    sql = queries[0]["sql"]
    assert "GROUP BY" in sql
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ticket_next_in_queue" in plan, plan


# --- End to end: a real worker process and its port --------------------------------------------
@pytest.mark.postgres
@pytest.mark.redis
def test_a_real_worker_counts_the_tasks_of_all_its_processes_on_its_port(tmp_path):
    """Two pool processes run the tasks; the worker's endpoint adds up both (multiprocess)."""
    published = 6
    port = free_port()
    with Processes(log_dir=tmp_path / "logs") as processes:
        redis = processes.start_redis()
        processes.start_worker(
            redis_url=redis.url(0),
            database_url=database_url(connection.settings_dict),
            env={
                "TIER2_WORKER_METRICS_PORT": str(port),
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "worker-metrics"),
            },
            concurrency=2,
        )
        app = run_adapter_call.app
        previous, app.conf.task_always_eager = app.conf.task_always_eager, False
        try:
            with app.connection_for_write(redis.url(0)) as conn:
                for missing_call in range(published):  # no such rows: each run returns at once
                    run_adapter_call.apply_async(
                        args=[2_000_000_000 + missing_call], connection=conn
                    )
        finally:
            app.conf.task_always_eager = previous

        def succeeded() -> float:
            status, text = fetch(port)
            assert status == 200
            return value(
                parse(text), "tier2_celery_tasks_total", task=RUN_ADAPTER_CALL, state="success"
            )

        wait_until(lambda: succeeded() == published, timeout=60, what="the worker's task counts")
        assert not processes.task_errors(), processes.logs()


# --- Settings -------------------------------------------------------------------------------------
def load_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIER2_", "DJANGO_"))}
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "tier2.settings",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
            **env,
        }
    )
    code = "from django.conf import settings as s; print(s.TIER2_METRICS_ALLOW)"
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip


def test_the_settings_refuse_a_bad_network_and_a_short_production_token(tmp_path):
    production = {
        "TIER2_MODE": "production",
        "SECRET_KEY": "Zq8" + "".join(f"{n:02x}" for n in range(30)),
        "ALLOWED_HOSTS": "tier2.example",
        "DATABASE_URL": "postgres://u@db:5432/x",
        "REDIS_URL": "redis://r:6379/0",
    }

    allowed = load_settings(tmp_path, TIER2_METRICS_ALLOW="10.0.0.0/8, 192.168.1.7")
    assert allowed.returncode == 0, allowed.stderr
    assert "['10.0.0.0/8', '192.168.1.7']" in allowed.stdout
    assert (tmp_path / "metrics").is_dir()  # created for prometheus_client
    assert "TIER2_METRICS_ALLOW" in load_settings(tmp_path, TIER2_METRICS_ALLOW="nope").stderr
    short = load_settings(tmp_path, TIER2_METRICS_TOKEN="short", **production)
    assert "TIER2_METRICS_TOKEN" in short.stderr
    assert load_settings(tmp_path, TIER2_METRICS_TOKEN=TOKEN, **production).returncode == 0

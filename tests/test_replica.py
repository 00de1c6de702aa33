"""Reads off the primary (tier2/replica.py, docs/replica.md).

The router's decisions are checked first with the lag measurement replaced (any database).
The rest runs against a real PostgreSQL streaming replica (CI builds one with pg_basebackup on
port 5433 and sets READ_REPLICA_URL): which pages read from it, a replica that lags (its replay
paused) or does not answer is skipped, and the replica is used again once it has caught up.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager

import pytest
from django.db import OperationalError, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests import factories
from tickets.models import Ticket
from tier2 import replica
from tier2.replica import PRIMARY, REPLICA, ReplicaRouter, reading_from_replica

router = ReplicaRouter()


@pytest.fixture(autouse=True)
def no_verdict_kept():
    replica.health.forget()
    yield
    replica.health.forget()


# --- The router's decisions (lag measurement replaced) ----------------------------------------
@pytest.fixture
def lag_of(monkeypatch, settings):
    """The replica is configured and `lag_of(seconds)` sets what measuring it finds (a
    DatabaseError instance: it does not answer). Returns the number of measurements made."""
    settings.READ_REPLICA_MAX_LAG_SECONDS = 5
    settings.READ_REPLICA_CHECK_SECONDS = 60
    monkeypatch.setattr(replica, "configured", lambda: True)
    state = {"lag": 0.0, "measured": 0}

    def measure():
        state["measured"] += 1
        if isinstance(state["lag"], Exception):
            raise state["lag"]
        return state["lag"]

    monkeypatch.setattr(replica, "measure_lag", measure)

    def set_lag(lag):
        state["lag"] = lag
        replica.health.forget()
        return state

    return set_lag


@pytest.mark.parametrize(
    ("lag", "expected"),
    [
        (0.0, REPLICA),
        (4.9, REPLICA),
        (5.0, REPLICA),  # the limit itself is still fresh enough
        (5.1, PRIMARY),
        (None, PRIMARY),  # lag unknown (nothing replayed yet)
        (OperationalError("connection refused"), PRIMARY),
    ],
)
def test_reads_inside_the_block_go_to_a_fresh_replica_only(lag_of, lag, expected):
    lag_of(lag)
    with reading_from_replica():
        assert router.db_for_read(Ticket) == expected


def test_reads_outside_the_block_and_every_write_go_to_the_primary(lag_of):
    state = lag_of(0.0)
    assert router.db_for_read(Ticket) == PRIMARY
    with reading_from_replica():
        assert router.db_for_write(Ticket) == PRIMARY
    assert state["measured"] == 0  # neither asked whether the replica is fresh
    assert router.allow_migrate(REPLICA, "tickets") is False
    assert router.allow_migrate(PRIMARY, "tickets") is True


def test_the_lag_is_measured_once_per_check_window(lag_of, settings):
    state = lag_of(0.0)
    with reading_from_replica():
        for _ in range(5):
            router.db_for_read(Ticket)
    assert state["measured"] == 1

    settings.READ_REPLICA_CHECK_SECONDS = 0  # every read measures again
    with reading_from_replica():
        router.db_for_read(Ticket)
        state["lag"] = 30.0
        assert router.db_for_read(Ticket) == PRIMARY
    assert state["measured"] == 3


def test_a_replica_that_does_not_answer_is_logged_and_skipped(lag_of, caplog):
    lag_of(OperationalError("could not connect"))
    with caplog.at_level(logging.WARNING, logger="tier2.replica"), reading_from_replica():
        assert router.db_for_read(Ticket) == PRIMARY
    assert "replica skipped: it does not answer (OperationalError)" in caplog.text


def test_switched_off_every_read_stays_on_the_primary(settings, monkeypatch):
    settings.READ_REPLICA_READS = False  # in CI the replica is configured: this switch alone
    monkeypatch.setattr(replica, "measure_lag", lambda: pytest.fail("measured while off"))
    with reading_from_replica():
        assert router.db_for_read(Ticket) == PRIMARY


# --- A real streaming replica -----------------------------------------------------------------
def real(test):
    """Marks a test that runs against the real replica, with committed rows."""
    for mark in (
        pytest.mark.postgres,
        pytest.mark.replica,
        pytest.mark.django_db(transaction=True, databases=[PRIMARY, REPLICA]),
    ):
        test = mark(test)
    return test


def caught_up(within: float = 15.0) -> None:
    """Wait until the replica has replayed everything the primary has committed."""
    deadline = time.monotonic() + within
    while replica.measure_lag() != 0.0:
        assert time.monotonic() < deadline, "the replica did not catch up"
        time.sleep(0.05)
    replica.health.forget()


def ticket_reads(context: CaptureQueriesContext, table: str = "tickets_ticket") -> int:
    return sum(f'FROM "{table}"' in query["sql"] for query in context.captured_queries)


@contextmanager
def watching():
    """Capture the queries of both connections: `seen[PRIMARY]`, `seen[REPLICA]`."""
    seen = {PRIMARY: CaptureQueriesContext(connections[PRIMARY])}
    seen[REPLICA] = CaptureQueriesContext(connections[REPLICA])
    with seen[PRIMARY], seen[REPLICA]:
        yield seen


@pytest.fixture
def on_replica(settings):
    settings.READ_REPLICA_READS = True
    settings.READ_REPLICA_MAX_LAG_SECONDS = 1
    settings.READ_REPLICA_CHECK_SECONDS = 0  # measure at every read: no verdict carried over


@pytest.fixture
def floor(on_replica, client):
    """A supervisor signed in (session and token), and a NOSSA ticket for a customer with a
    name no other row has; committed, and replayed on the replica."""
    boss = factories.user("Supervisor", username=factories.unique_username("boss"))
    client.force_login(boss)
    token = Token.objects.create(user=boss).key
    service = factories.service_at("PST", customer=factories.CustomerFactory(name="Sri Rejeki"))
    ticket = factories.arrive("nossa", service=service)
    caught_up()
    return {"client": client, "auth": f"Token {token}", "ticket": ticket}


@pytest.mark.parametrize(
    "page",
    [
        "dashboard",
        "dashboard_live",
        "slg_breaches",
        "export",
        "search",
        "api_tickets",
        "api_customers",
        "tmf_list",
    ],
)
@real
def test_dashboard_exports_search_and_api_lists_read_from_the_replica(floor, page):
    client, auth = floor["client"], floor["auth"]
    urls = {
        "dashboard": reverse("dashboard"),
        "dashboard_live": reverse("dashboard_live"),
        "slg_breaches": reverse("slg_breaches"),
        "export": reverse("dashboard_export", args=["at-risk"]),
        "search": reverse("queue", args=["all"]) + "?q=Sri+Rejeki",
        "api_tickets": "/api/tickets/",
        "api_customers": "/api/customers/?name=Sri",
        "tmf_list": "/tmf-api/troubleTicket/v5/troubleTicket",
    }
    with watching() as seen:
        response = client.get(urls[page], HTTP_AUTHORIZATION=auth)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, body[:500]
    table = "tickets_customer" if page == "api_customers" else "tickets_ticket"
    assert ticket_reads(seen[REPLICA], table) > 0
    assert ticket_reads(seen[PRIMARY], table) == 0
    if page in {"search", "api_tickets", "tmf_list"}:
        assert str(floor["ticket"].pk).encode() in body


@real
def test_the_ticket_pages_and_the_plain_queue_read_the_primary(floor):
    client, ticket = floor["client"], floor["ticket"]
    with watching() as seen:
        for url in (reverse("queue", args=["all"]), f"/api/tickets/{ticket.pk}/"):
            response = client.get(url, HTTP_AUTHORIZATION=floor["auth"])
            assert response.status_code == 200
    assert ticket_reads(seen[PRIMARY]) > 0
    assert ticket_reads(seen[REPLICA]) == 0


@real
def test_the_replica_is_a_real_standby_of_the_primary():
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database(), inet_server_port()")
        in_recovery, name, port = cursor.fetchone()
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery(), current_database(), inet_server_port()")
        primary = cursor.fetchone()
    assert in_recovery is True and primary[0] is False
    assert name == primary[1]  # the test database, replicated
    assert port != primary[2]


@contextmanager
def replay_paused():
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_resume()")


@real
def test_a_lagging_replica_is_skipped_until_it_catches_up(floor, caplog):
    client, auth = floor["client"], floor["auth"]
    with replay_paused():
        late = factories.flow_ticket("nossa")  # committed on the primary, not replayed
        time.sleep(1.2)  # the replica is now over READ_REPLICA_MAX_LAG_SECONDS (1 s) behind
        with watching() as seen, caplog.at_level(logging.WARNING, logger="tier2.replica"):
            response = client.get("/api/tickets/", HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200
        listed = {row["id"] for row in response.json()["results"]}
        assert late.pk in listed and floor["ticket"].pk in listed
        assert ticket_reads(seen[REPLICA]) == 0
        assert "replica skipped:" in caplog.text and "behind (limit 1 s)" in caplog.text
    caught_up()
    with watching() as seen:
        response = client.get("/api/tickets/", HTTP_AUTHORIZATION=auth)
    assert late.pk in {row["id"] for row in response.json()["results"]}
    assert ticket_reads(seen[REPLICA]) > 0


@contextmanager
def replica_unreachable(monkeypatch):
    """The replica's address now leads nowhere (a port nothing listens on)."""
    connection = connections[REPLICA]
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "PORT", "9")
    try:
        yield
    finally:
        connection.close()
        monkeypatch.undo()


@real
def test_a_replica_that_does_not_answer_is_skipped(floor, monkeypatch, caplog):
    with replica_unreachable(monkeypatch), caplog.at_level(logging.WARNING, "tier2.replica"):
        response = floor["client"].get("/api/tickets/", HTTP_AUTHORIZATION=floor["auth"])
    assert response.status_code == 200
    assert floor["ticket"].pk in {row["id"] for row in response.json()["results"]}
    assert "replica skipped: it does not answer (OperationalError)" in caplog.text


@real
def test_a_replica_lost_mid_request_is_answered_from_the_primary(floor, monkeypatch, settings):
    settings.READ_REPLICA_CHECK_SECONDS = 60
    assert replica.replica_usable()  # a fresh verdict: the next reads go to the replica...
    with replica_unreachable(monkeypatch):  # ...which is gone before the page reads
        response = floor["client"].get("/api/tickets/", HTTP_AUTHORIZATION=floor["auth"])
        assert response.status_code == 200
        assert floor["ticket"].pk in {row["id"] for row in response.json()["results"]}
        assert replica.health.usable is False  # and it stays skipped until measured again

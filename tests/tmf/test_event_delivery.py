"""TMF621 events delivered through a real broker and real Celery workers to a real listener.

The listener is an HTTP server in a thread of this process (tests/tmf/listener.py); it checks
every signature as docs/tmf621.md tells a receiver to. The workers are real prefork
processes on the Redis of REDIS_URL (tests/integrations/worker.py), against the pytest-django
test database; this process makes the changes through the services, which commit for real and
send the outbox rows to the broker. Then what can go wrong does: the listener refuses the first
attempts, the worker is killed in the middle of a POST, the message of an event is lost.
Whatever happens, every event arrives, signed, at least once, under its one eventId.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
"""

from __future__ import annotations

import itertools
import json
import time

import pytest
from kombu import Connection
from kombu.exceptions import OperationalError

from integrations.models import AdapterCall, CallStatus
from integrations.tasks import redispatch_outbox, run_adapter_call
from tests import factories
from tests.integrations import worker
from tests.tmf.listener import Listener
from tickets import services

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TIMEOUT_SECONDS = 90
FINISHED = (CallStatus.SUCCEEDED, CallStatus.FAILED)
CREATE = "TroubleTicketCreateEvent"
BACKOFF = 0.4  # seconds before the first retry of a delivery; each further one doubles it
WORKER_ENV = {
    "TIER2_HUB_RETRY_BACKOFF_SECONDS": str(BACKOFF),
    "TIER2_ADAPTER_RETRY_JITTER": "false",  # the waits are exactly the backoff
    "TIER2_HUB_MAX_ATTEMPTS": "6",
    "TIER2_ADAPTER_RETRY_BACKOFF_SECONDS": "0.2",
}


# --- Fixtures (the workers, database and broker: tests/conftest.py) ---------------------------
@pytest.fixture
def listener():
    with Listener() as running:
        yield running


def subscribe(listener: Listener, query: str = "") -> int:
    """A system client subscribed to the listener's /crm; its secret goes to the listener."""
    client = factories.role_user("System")
    subscription, secret = services.create_subscription(
        owner=client, callback=listener.url("/crm"), query=query
    )
    listener.secrets["/crm"] = secret
    return subscription.pk


def wait_for(processes, check, *, what: str, timeout: float = TIMEOUT_SECONDS):
    def done():
        crashed = processes.task_errors()
        if crashed:
            raise AssertionError(f"a task crashed on the worker: {crashed[0]}")
        return check()

    try:
        return worker.wait_until(done, timeout=timeout, what=what)
    except AssertionError as problem:
        raise AssertionError(f"{problem}\n{processes.logs()}") from None


def finished_deliveries(processes, subscription_id: int, count: int) -> list[AdapterCall]:
    def all_finished():
        rows = list(AdapterCall.objects.filter(subscription_id=subscription_id).order_by("pk"))
        return rows if len(rows) == count and all(r.status in FINISHED for r in rows) else None

    return wait_for(processes, all_finished, what=f"{count} finished event deliveries")


# --- Signed, at least once, retried with backoff -------------------------------------------------
def test_events_arrive_signed_once_each_even_after_the_listener_refused_the_first_attempts(
    processes, shared_broker, database_url, listener
):
    # The listener refuses the create event three times; every other event at once.
    listener.answer = lambda attempt, event: (
        503 if event.get("eventType") == CREATE and attempt <= 3 else None
    )
    subscription_id = subscribe(listener)
    processes.start_worker(redis_url=shared_broker, database_url=database_url, env=WORKER_ENV)

    scene = factories.flow_scene("callback")
    scene.walk_to("unreachable")
    scene.step(next(item for item in factories.transitions_of(scene.machine)
                    if item.name == "close" and item.source == "unreachable"))  # fmt: skip
    count = AdapterCall.objects.filter(subscription_id=subscription_id).count()
    # create, claim, start_contact, three unanswered calls, unreachable (status change and
    # information required), close
    assert count == 9

    rows = finished_deliveries(processes, subscription_id, count)

    for row in rows:
        assert row.status == CallStatus.SUCCEEDED, (row.operation, row.error)
    delivered = listener.delivered("/crm")
    assert set(delivered) == {row.request["eventId"] for row in rows}  # every one, by its id
    for row in rows:
        post = delivered[row.request["eventId"]]
        assert json.loads(post.body) == row.request  # the body frozen at the change
        assert post.headers["x-tmf-event-type"] == row.request["eventType"]
    posts = listener.posts("/crm")
    assert all(post.verified for post in posts), "a POST whose signature did not verify"
    assert len(posts) == count + 3  # the three refused attempts, nothing else twice
    create = next(row for row in rows if row.request["eventType"] == CREATE)
    assert create.attempts == 4
    times = [post.at for post in posts if post.event_id == create.request["eventId"]]
    waits = [later - earlier for earlier, later in itertools.pairwise(times)]
    for wait, backoff in zip(waits, (BACKOFF, 2 * BACKOFF, 4 * BACKOFF), strict=True):
        assert wait >= backoff - 0.05, (waits, "retried before its backoff")


# --- A worker killed in the middle of a POST ------------------------------------------------------
def test_an_event_whose_worker_was_killed_mid_post_is_sent_again_under_the_same_id(
    processes, shared_broker, database_url, listener
):
    visibility, lease = 5, 10  # the hub's timeout is at most half the lease: 5 s
    env = {
        **WORKER_ENV,
        "CELERY_VISIBILITY_TIMEOUT": str(visibility),
        "TIER2_OUTBOX_LEASE_SECONDS": str(lease),
    }
    listener.delay = lambda attempt, event: 4.0 if attempt == 1 else 0.0  # slow, the first time
    subscription_id = subscribe(listener, f"eventType={CREATE}")
    first = processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)

    ticket = factories.arrive("nossa")
    [row] = AdapterCall.objects.filter(subscription_id=subscription_id)
    wait_for(processes, lambda: listener.posts("/crm"), what="the first POST to arrive")
    posted_at = time.monotonic()
    first.kill()  # while the listener still holds the request

    row.refresh_from_db()
    assert (row.status, row.attempts) == (CallStatus.RUNNING, 1)
    # The unacknowledged message comes back after the visibility timeout, to a worker that
    # starts; it claims the delivery once the dead attempt's lease has run out.
    time.sleep(max(0.0, posted_at + max(visibility, lease) + 1 - time.monotonic()))
    processes.start_worker(redis_url=shared_broker, database_url=database_url, env=env)
    [row] = finished_deliveries(processes, subscription_id, 1)

    assert (row.status, row.attempts) == (CallStatus.SUCCEEDED, 2)
    posts = listener.posts("/crm")
    assert len(posts) == 2  # at least once: the cut-off attempt and the one that answered
    assert {post.event_id for post in posts} == {row.request["eventId"]}
    assert all(post.verified for post in posts)
    assert posts[0].body == posts[1].body
    assert posts[1].event["event"]["troubleTicket"]["id"] == str(ticket.pk)


# --- A lost message -------------------------------------------------------------------------------
def test_events_whose_messages_never_reached_the_broker_are_sent_by_the_sweep(
    processes, shared_broker, database_url, listener, monkeypatch
):
    def broker_down(call_id):
        raise OperationalError("Error 111 connecting. Connection refused.")

    subscription_id = subscribe(listener)
    monkeypatch.setattr(run_adapter_call, "delay", broker_down)
    tickets = [factories.arrive("nossa") for _ in range(3)]
    monkeypatch.undo()
    rows = list(AdapterCall.objects.filter(subscription_id=subscription_id))
    assert [(row.status, row.dispatched_at) for row in rows] == [(CallStatus.PENDING, None)] * 3

    processes.start_worker(
        redis_url=shared_broker,
        database_url=database_url,
        env={**WORKER_ENV, "TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS": "0"},
    )
    with Connection(shared_broker) as connected:  # the periodic sweep, as beat would send it
        redispatch_outbox.apply_async(connection=connected, ignore_result=True)
    rows = finished_deliveries(processes, subscription_id, 3)

    assert [(row.status, row.attempts) for row in rows] == [(CallStatus.SUCCEEDED, 1)] * 3
    delivered = listener.delivered("/crm")
    assert len(listener.posts("/crm")) == 3
    assert {post.event["event"]["troubleTicket"]["id"] for post in delivered.values()} == {
        str(ticket.pk) for ticket in tickets
    }
    assert all(post.verified for post in delivered.values())

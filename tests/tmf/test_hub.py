"""`/hub`: subscribing, and what a subscriber's listener receives (signed, retried, suspended).

The API tests call `/tmf-api/troubleTicket/v5/hub` with token clients. The delivery tests run
the outbox task in this process (Celery is eager here) against a real HTTP listener in a thread
(tests/tmf/listener.py), which checks each signature the way docs/tmf621.md tells a receiver
to. tests/tmf/test_event_delivery.py does the same through a real broker and worker.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from integrations import hub
from integrations.models import AdapterCall, CallStatus, EventSubscription, SubscriptionStatus
from integrations.tasks import retry_countdown, run_adapter_call
from tests import factories
from tests.tmf.listener import Listener
from tickets import services

pytestmark = pytest.mark.django_db

HUB = "/tmf-api/troubleTicket/v5/hub"
STATUS = "TroubleTicketStatusChangeEvent"


def token_client(user) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def crm():
    return factories.user("System", username="crm")


@pytest.fixture
def listener():
    with Listener() as running:
        yield running


def subscribe(client, callback: str, query: str | None = None) -> dict:
    body = {"@type": "Hub", "callback": callback}
    if query is not None:
        body["query"] = query
    response = client.post(HUB, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


# --- The API -------------------------------------------------------------------------------------
def test_a_system_client_subscribes_and_is_shown_the_secret_once(crm):
    client = token_client(crm)
    response = client.post(
        HUB,
        {"@type": "Hub", "callback": "https://crm.example/listener", "query": "ticketType=nossa"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["@type"] == "Hub"
    assert body["callback"] == "https://crm.example/listener"
    assert body["query"] == "ticketType=nossa"
    assert body["href"] == f"{HUB}/{body['id']}"
    assert response["Location"] == body["href"]
    assert len(body["secret"]) == 64 and int(body["secret"], 16) >= 0
    subscription = EventSubscription.objects.get(pk=int(body["id"]))
    assert (subscription.owner, subscription.secret) == (crm, body["secret"])

    again = client.get(f"{HUB}/{body['id']}")
    assert again.status_code == 200
    assert "secret" not in again.json()
    assert again.json() == {key: value for key, value in body.items() if key != "secret"}


def test_a_client_lists_and_reads_its_own_subscriptions_and_an_administrator_all(crm):
    oss = factories.user("System", username="oss")
    mine = subscribe(token_client(crm), "https://crm.example/a")
    theirs = subscribe(token_client(oss), "https://oss.example/b")

    listed = token_client(crm).get(HUB)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [mine["id"]]
    assert token_client(crm).get(f"{HUB}/{theirs['id']}").status_code == 404
    assert token_client(crm).delete(f"{HUB}/{theirs['id']}").status_code == 404
    everything = token_client(factories.role_user("Admin")).get(HUB).json()
    assert [item["id"] for item in everything] == [mine["id"], theirs["id"]]


def test_deleting_a_subscription_answers_204_and_it_is_gone_with_its_deliveries(crm):
    client = token_client(crm)
    hub_id = subscribe(client, "https://crm.example/a")["id"]
    factories.arrive("nossa")
    assert AdapterCall.objects.filter(subscription_id=int(hub_id)).count() == 1

    response = client.delete(f"{HUB}/{hub_id}")

    assert response.status_code == 204
    assert client.get(f"{HUB}/{hub_id}").status_code == 404
    assert client.delete(f"{HUB}/{hub_id}").status_code == 404
    assert not AdapterCall.objects.filter(app="hub").exists()


@pytest.mark.parametrize(
    ("role", "status"),
    [("System", 201), ("Supervisor", 201), ("Admin", 201), ("Agent", 403), ("Support", 403)],
)
def test_system_clients_supervisors_and_administrators_may_subscribe(role, status):
    response = token_client(factories.role_user(role)).post(
        HUB, {"callback": "https://crm.example/listener"}, format="json"
    )
    assert response.status_code == status, response.json()
    assert EventSubscription.objects.count() == (1 if status == 201 else 0)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "eventType=TroubleTicketResolvedEvent",
        "eventType=TroubleTicketCreateEvent,TroubleTicketStatusChangeEvent&ticketType=nossa",
        "troubleTicket.ticketType=nossa,callback&status=resolved,closed",
        "event.troubleTicket.channel.id=nossa&severity=Major&priority=High",
        " eventType = TroubleTicketInformationRequiredEvent ",
    ],
)
def test_queries_in_the_documented_grammar_are_accepted(crm, query):
    body = subscribe(token_client(crm), "http://10.0.0.5:8080/tmf/listener", query)
    assert body["query"] == query.strip()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "callback"),
        ({"callback": ""}, "callback"),
        ({"callback": 42}, "callback"),
        ({"callback": "crm.example/listener"}, "callback"),
        ({"callback": "ftp://crm.example/listener"}, "callback"),
        ({"callback": "http://"}, "callback"),
        ({"callback": "http://crm.example:99999/listener"}, "callback"),
        ({"callback": "https://user:secret@crm.example/listener"}, "callback"),
        ({"callback": "https://crm.example/a b"}, "callback"),
        ({"callback": "https://crm.example/" + "x" * 1000}, "callback"),
        ({"callback": "https://crm.example/l", "query": "eventType=TroubleTicketDeleteEvent"},
         "query"),
        ({"callback": "https://crm.example/l", "query": "eventType=Nope"}, "query"),
        ({"callback": "https://crm.example/l", "query": "colour=red"}, "query"),
        ({"callback": "https://crm.example/l", "query": "ticketType=billing"}, "query"),
        ({"callback": "https://crm.example/l", "query": "status=open"}, "query"),
        ({"callback": "https://crm.example/l", "query": "eventType="}, "query"),
        ({"callback": "https://crm.example/l", "query": "ticketType=nossa&ticketType=ideas"},
         "query"),
        ({"callback": "https://crm.example/l", "query": "just words"}, "query"),
        ({"callback": "https://crm.example/l", "query": ["eventType=x"]}, "query"),
        ({"callback": "https://crm.example/l", "@type": 7}, "@type"),
    ],
)  # fmt: skip
def test_a_bad_callback_or_query_is_400_with_the_field_and_nothing_is_made(crm, body, field):
    response = token_client(crm).post(HUB, body, format="json")

    assert response.status_code == 400
    answer = response.json()
    assert answer["@type"] == "Error"
    assert answer["status"] == "400"
    assert answer["errors"][field]
    assert not EventSubscription.objects.exists()


def test_a_body_that_is_not_a_hub_object_is_400(crm):
    client = token_client(crm)
    assert client.post(HUB, "[1, 2]", content_type="application/json").status_code == 400
    assert client.post(HUB, "{not json", content_type="application/json").status_code == 400
    assert not EventSubscription.objects.exists()


def test_a_client_holds_at_most_the_configured_number_of_subscriptions(crm, settings):
    settings.TIER2_HUB_MAX_PER_CLIENT = 2
    client = token_client(crm)
    for index in range(2):
        subscribe(client, f"https://crm.example/{index}")

    refused = client.post(HUB, {"callback": "https://crm.example/3"}, format="json")

    assert refused.status_code == 409
    assert refused.json()["@type"] == "Error"
    assert EventSubscription.objects.count() == 2


@pytest.mark.parametrize("hub_id", ["999999", "abc", "1.5"])
def test_an_unknown_subscription_is_404(crm, hub_id):
    assert token_client(crm).get(f"{HUB}/{hub_id}").status_code == 404


# --- Delivery: signed, retried, once --------------------------------------------------------------
def queued_events(subscription_id) -> list[AdapterCall]:
    return list(AdapterCall.objects.filter(subscription_id=subscription_id).order_by("pk"))


def deliver(row: AdapterCall) -> AdapterCall:
    run_adapter_call.apply(args=[row.pk])
    row.refresh_from_db()
    return row


@pytest.fixture
def subscribed(crm, listener):
    """The CRM subscribed through the API to its listener: (subscription id, secret)."""
    body = subscribe(token_client(crm), listener.url("/crm"))
    listener.secrets["/crm"] = body["secret"]
    return int(body["id"]), body["secret"]


def test_an_event_arrives_signed_and_the_receiver_verifies_it_with_the_secret(
    subscribed, listener, django_capture_on_commit_callbacks
):
    hub_id, secret = subscribed
    with django_capture_on_commit_callbacks(execute=True):  # committed: sent to Celery
        ticket = factories.arrive("nossa")

    [row] = queued_events(hub_id)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.response) == (
        CallStatus.SUCCEEDED, 1, {"sent": True, "status": 204}
    )  # fmt: skip
    [post] = listener.posts("/crm")
    assert post.verified
    assert post.headers["content-type"] == "application/json"
    assert post.headers["x-tmf-event-type"] == "TroubleTicketCreateEvent"
    assert post.headers["x-tmf-event-id"] == post.event["eventId"] == row.request["eventId"]
    assert post.event == row.request
    assert post.event["event"]["troubleTicket"]["id"] == str(ticket.pk)
    assert secret.encode() not in post.body


def test_a_forged_body_fails_the_receivers_check(subscribed, listener):
    from tests.tmf.listener import receiver_verifies

    hub_id, secret = subscribed
    factories.arrive("nossa")
    [row] = queued_events(hub_id)
    deliver(row)
    [post] = listener.posts()
    forged = post.body.replace(b"acknowledged", b"resolved")
    assert receiver_verifies(post.body, secret, post.headers["x-tmf-signature"])
    assert not receiver_verifies(forged, secret, post.headers["x-tmf-signature"])
    assert not receiver_verifies(post.body, "another-secret", post.headers["x-tmf-signature"])


def test_a_receiver_that_fails_is_retried_with_backoff_and_gets_the_same_event(
    subscribed, listener, settings, monkeypatch
):
    hub_id, _secret = subscribed
    settings.TIER2_HUB_RETRY_BACKOFF_SECONDS = 0.5
    settings.TIER2_HUB_RETRY_BACKOFF_MAX_SECONDS = 60
    settings.TIER2_ADAPTER_RETRY_JITTER = False
    listener.answer = lambda attempt, event: 503 if attempt <= 3 else None
    countdowns = []
    original = run_adapter_call.retry

    def retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return original(*args, **kwargs)

    monkeypatch.setattr(run_adapter_call, "retry", retry)
    factories.arrive("nossa")
    [row] = queued_events(hub_id)

    row = deliver(row)

    assert (row.status, row.attempts) == (CallStatus.SUCCEEDED, 4)
    assert countdowns == [0.5, 1.0, 2.0]  # Celery's exponential backoff from 0.5 s
    posts = listener.posts()
    assert [post.status for post in posts] == [503, 503, 503, 204]
    assert {post.event_id for post in posts} == {row.request["eventId"]}
    assert len({post.body for post in posts}) == 1  # the same bytes every time
    assert all(post.verified for post in posts)
    subscription = EventSubscription.objects.get(pk=hub_id)
    assert subscription.consecutive_failures == 0
    assert "HTTP 503" in subscription.last_error
    assert subscription.last_success_at is not None


def test_the_hub_backoff_doubles_from_its_setting_up_to_its_cap(settings):
    settings.TIER2_HUB_RETRY_BACKOFF_SECONDS = 5
    settings.TIER2_HUB_RETRY_BACKOFF_MAX_SECONDS = 300
    settings.TIER2_ADAPTER_RETRY_JITTER = False
    waits = [retry_countdown(hub.backoff(), attempt) for attempt in range(1, 9)]
    assert waits == [5, 10, 20, 40, 80, 160, 300, 300]


def test_a_delivery_delivered_twice_posts_the_event_once(subscribed, listener):
    hub_id, _secret = subscribed
    factories.arrive("nossa")
    [row] = queued_events(hub_id)

    first = run_adapter_call.apply(args=[row.pk]).get()
    second = run_adapter_call.apply(args=[row.pk]).get()

    assert (first, second) == (CallStatus.SUCCEEDED, CallStatus.SUCCEEDED)
    assert len(listener.posts()) == 1
    row.refresh_from_db()
    assert row.attempts == 1


def test_a_delivery_running_within_its_lease_is_not_posted_by_a_second_message(
    subscribed, listener
):
    from integrations import outbox

    hub_id, _secret = subscribed
    factories.arrive("nossa")
    [row] = queued_events(hub_id)
    assert outbox.claim(row.pk) == 1  # another worker runs it now

    assert run_adapter_call.apply(args=[row.pk]).get() == CallStatus.RUNNING
    assert listener.posts() == []


def test_every_event_has_its_own_id(subscribed, listener):
    hub_id, _secret = subscribed
    scene = factories.flow_scene("callback")
    scene.walk_to("unreachable")
    rows = [deliver(row) for row in queued_events(hub_id)]

    ids = [post.event_id for post in listener.posts()]
    assert len(ids) == len(rows) == len(set(ids)) > 5
    assert ids == [row.request["eventId"] for row in rows]


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(subscribed, listener, settings):
    hub_id, _secret = subscribed
    settings.TIER2_HUB_MAX_ATTEMPTS = 1
    listener.answer = lambda attempt, event: 302
    factories.arrive("nossa")
    [row] = queued_events(hub_id)

    row = deliver(row)

    assert (row.status, row.attempts) == (CallStatus.FAILED, 1)
    assert row.error.startswith("HTTP 302")
    assert len(listener.posts()) == 1


def test_an_unreachable_callback_fails_after_its_attempts(crm, settings):
    settings.TIER2_HUB_MAX_ATTEMPTS = 2
    settings.TIER2_HUB_RETRY_BACKOFF_SECONDS = 0
    with Listener() as gone:
        closed_url = gone.url("/crm")  # nobody listens there any more after this block
    subscription, _secret = services.create_subscription(owner=crm, callback=closed_url)
    factories.arrive("nossa")
    [row] = queued_events(subscription.pk)

    row = deliver(row)

    assert (row.status, row.attempts) == (CallStatus.FAILED, 2)
    assert "ConnectionError" in row.error


# --- Suspension and the admin --------------------------------------------------------------------
def test_a_subscription_that_keeps_failing_is_suspended_and_gets_nothing_more(
    subscribed, listener, settings
):
    hub_id, _secret = subscribed
    settings.TIER2_HUB_MAX_ATTEMPTS = 2
    settings.TIER2_HUB_RETRY_BACKOFF_SECONDS = 0
    settings.TIER2_HUB_SUSPEND_AFTER = 3
    listener.answer = lambda attempt, event: 500
    tickets = [factories.arrive("nossa") for _ in range(4)]
    rows = queued_events(hub_id)
    assert len(rows) == 4

    for row in rows[:3]:
        row = deliver(row)
        assert (row.status, row.attempts) == (CallStatus.FAILED, 2)

    subscription = EventSubscription.objects.get(pk=hub_id)
    assert subscription.status == SubscriptionStatus.SUSPENDED
    assert subscription.consecutive_failures == 3
    assert subscription.suspended_at is not None
    assert "HTTP 500" in subscription.last_error
    assert len(listener.posts()) == 6
    # A delivery queued before the suspension is not sent, and does not count.
    waiting = deliver(rows[3])
    assert (waiting.status, waiting.response) == (CallStatus.FAILED, {"sent": False})
    assert "suspended" in waiting.error
    assert len(listener.posts()) == 6
    assert EventSubscription.objects.get(pk=hub_id).consecutive_failures == 3
    # Nothing more is queued for it.
    services.add_note(ticket_id=tickets[0].pk, author=factories.role_user("Supervisor"), text="x")
    assert len(queued_events(hub_id)) == 4


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("root", "root@example.com", "secret-pass-123")
    client.login(username="root", password="secret-pass-123")
    return client


def test_an_administrator_sees_a_suspended_subscription_with_its_log_and_reactivates_it(
    subscribed, listener, settings, admin_client, django_capture_on_commit_callbacks
):
    hub_id, secret = subscribed
    settings.TIER2_HUB_MAX_ATTEMPTS = 1
    settings.TIER2_HUB_SUSPEND_AFTER = 2
    listener.answer = lambda attempt, event: 503
    for _ in range(2):
        factories.arrive("nossa")
    failed = [deliver(row) for row in queued_events(hub_id)]
    assert EventSubscription.objects.get(pk=hub_id).status == SubscriptionStatus.SUSPENDED

    changelist = reverse("admin:integrations_eventsubscription_changelist")
    listed = admin_client.get(changelist, {"status__exact": "suspended"})
    assert listed.status_code == 200
    assert listener.url("/crm").encode() in listed.content
    page = admin_client.get(reverse("admin:integrations_eventsubscription_change", args=[hub_id]))
    assert page.status_code == 200
    assert b"HTTP 503" in page.content
    assert page.content.count(b"CreateEvent") == 2  # the delivery log
    assert secret.encode() not in page.content and secret.encode() not in listed.content
    log = admin_client.get(
        reverse("admin:integrations_adaptercall_changelist"),
        {"subscription__id__exact": hub_id, "status__exact": "failed"},
    )
    assert log.status_code == 200

    admin_client.post(
        changelist, {"action": "reactivate", "_selected_action": [hub_id]}, follow=True
    )
    subscription = EventSubscription.objects.get(pk=hub_id)
    assert (subscription.status, subscription.consecutive_failures) == ("active", 0)

    listener.answer = lambda attempt, event: None  # the receiver is fixed
    with django_capture_on_commit_callbacks(execute=True):  # sent to Celery after commit
        admin_client.post(
            reverse("admin:integrations_adaptercall_changelist"),
            {"action": "send_events_again", "_selected_action": [row.pk for row in failed]},
            follow=True,
        )
    for row in failed:
        row.refresh_from_db()
        assert row.status == CallStatus.SUCCEEDED
    delivered = listener.delivered("/crm")
    assert set(delivered) == {row.request["eventId"] for row in failed}  # the same events


def test_the_secret_is_never_written_into_a_row_or_a_log(subscribed, listener, settings, caplog):
    hub_id, secret = subscribed
    settings.TIER2_HUB_MAX_ATTEMPTS = 2
    settings.TIER2_HUB_RETRY_BACKOFF_SECONDS = 0
    settings.TIER2_HUB_SUSPEND_AFTER = 1
    listener.answer = lambda attempt, event: 500
    caplog.set_level(logging.DEBUG)
    factories.arrive("nossa")
    factories.arrive("nossa")
    for row in queued_events(hub_id):
        deliver(row)

    for row in AdapterCall.objects.all():
        assert secret not in json.dumps([row.request, row.response, row.error])
    assert secret not in caplog.text
    assert "suspended" in caplog.text

"""Which TMF621 events each change of a ticket sends, to whom, and only when it commits.

The changes are made through the services, as the console, the API and the tasks make them; the
events are read from the outbox rows they queue (`AdapterCall`, app `hub`), which are written in
the change's transaction. Nothing is delivered here (tests/tmf/test_hub.py and
test_event_delivery.py deliver). The expected event types are the table of docs/tmf621.md,
written out by hand.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations import hub
from integrations.models import AdapterCall, EventSubscription, SubscriptionStatus
from tests import factories
from tickets import services
from tickets.exceptions import TransitionForbidden
from tickets.models import ContactOutcome, Escalation, Ticket
from tickets.services import events

pytestmark = pytest.mark.django_db

CREATE = "TroubleTicketCreateEvent"
STATUS = "TroubleTicketStatusChangeEvent"
ATTRIBUTE = "TroubleTicketAttributeValueChangeEvent"
RESOLVED = "TroubleTicketResolvedEvent"
INFORMATION = "TroubleTicketInformationRequiredEvent"


@pytest.fixture
def crm(db):
    """A system client that sees every ticket, subscribed to every event."""
    client = factories.role_user("System")
    services.create_subscription(owner=client, callback="https://crm.example/listener")
    return client


def events_after(mark: int, ticket=None) -> list[dict]:
    """The events queued since row `mark` (of `ticket`, if given), oldest first."""
    rows = AdapterCall.objects.filter(app="hub", pk__gt=mark).order_by("pk")
    found = [row.request for row in rows]
    if ticket is not None:
        found = [
            event for event in found if event["event"]["troubleTicket"]["id"] == str(ticket.pk)
        ]
    return found


def mark() -> int:
    return AdapterCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def types_of(found: list[dict]) -> list[str]:
    return [event["eventType"] for event in found]


def statuses_of(found: list[dict]) -> list[str]:
    return [event["event"]["troubleTicket"]["status"] for event in found]


# --- The table: each change -> the event types it sends -------------------------------------------
# (flow, walk to this state, transition, inputs, event types, TMF status after)
TRANSITIONS = [
    ("nossa", "new", "claim", {}, [STATUS], "inProgress"),
    ("nossa", "claimed", "start_diagnosis", {}, [ATTRIBUTE], "inProgress"),
    ("nossa", "diagnosing", "escalate", {"reason": "Perlu Support"}, [STATUS], "held"),
    ("nossa", "escalated_field", "await_field", {}, [ATTRIBUTE], "held"),
    ("nossa", "waiting_field", "field_done", {}, [STATUS], "inProgress"),
    ("nossa", "verifying", "close", None, [STATUS], "closed"),
    ("callback", "contacting", "mark_unreachable", {}, [STATUS, INFORMATION], "pending"),
    ("callback", "contacting", "resolve_on_call", None, [STATUS, RESOLVED], "resolved"),
    ("callback", "resolved_on_call", "close", {"closing_code": "RESOLVED_ON_CALL"}, [STATUS],
     "closed"),
    ("callback", "resolved_on_call", "close", {"closing_code": "DUPLICATE"}, [STATUS],
     "rejected"),
    ("callback", "unreachable", "close", None, [STATUS], "closed"),
    ("ideas", "checking_offer", "mark_not_eligible", None, [STATUS, RESOLVED], "resolved"),
    ("gamas", "verifying", "report_not_recovered", None, [ATTRIBUTE], "inProgress"),
    ("fresh_lapul", "analysing", "escalate_priority", None, [STATUS], "held"),
    ("fresh_lapul", "escalated_priority", "start_monitoring", None, [STATUS], "inProgress"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("flow", "start", "name", "inputs", "expected", "status"),
    TRANSITIONS,
    ids=[f"{row[0]}:{row[1]}-{row[2]}-{row[5]}" for row in TRANSITIONS],
)
def test_each_transition_sends_the_event_types_of_the_table(
    crm, flow, start, name, inputs, expected, status
):
    scene = factories.flow_scene(flow)
    scene.walk_to(start)
    found = next(item for item in factories.transitions_of(scene.machine)
                 if item.name == name and item.source == start)  # fmt: skip
    actor, prepared = scene.prepare(found)
    before = mark()

    scene.run(name, actor=actor, inputs={**prepared, **(inputs or {})})

    sent = events_after(before, scene.ticket)
    assert types_of(sent) == expected
    assert set(statuses_of(sent)) == {status}
    assert {event["event"]["troubleTicket"]["statusChangeReason"] for event in sent} == {
        scene.ticket.state
    }


def test_an_arrival_sends_a_create_event(crm):
    before = mark()
    ticket = factories.arrive("nossa", nossa_number="IN16672489", source_system="nossa",
                              source_ref="IN16672489")  # fmt: skip
    sent = events_after(before, ticket)
    assert types_of(sent) == [CREATE]
    ticket_json = sent[0]["event"]["troubleTicket"]
    assert (ticket_json["status"], ticket_json["statusChangeReason"]) == ("acknowledged", "new")
    assert ticket_json["ticketType"] == "nossa"
    assert ticket_json["externalIdentifier"][0]["id"] == "IN16672489"


def test_a_gamas_report_inside_an_open_incident_sends_create_then_its_two_linking_steps(crm):
    incident = factories.open_gamas()
    service = factories.service_at("PST", odp=incident.area_code)
    before = mark()

    ticket = factories.arrive("gamas", service=service)

    sent = events_after(before, ticket)
    assert types_of(sent) == [CREATE, STATUS, ATTRIBUTE]
    shown = [event["event"]["troubleTicket"] for event in sent]
    assert [(item["status"], item["statusChangeReason"]) for item in shown] == [
        ("acknowledged", "new"),
        ("held", "linked"),
        ("held", "waiting_recovery"),
    ]


def test_support_answering_an_escalation_sends_one_status_change(crm):
    scene = factories.flow_scene("nossa")
    scene.escalate_from("diagnosing")
    escalation = Escalation.objects.get(ticket=scene.ticket)
    before = mark()

    services.resolve_escalation(escalation_id=escalation.pk, actor=scene.support, answer="Fixed")

    sent = events_after(before, scene.ticket)
    assert types_of(sent) == [STATUS]  # the Support note is part of the same step
    assert sent[0]["event"]["troubleTicket"]["statusChangeReason"] == "diagnosing"


def _note(scene):
    services.add_note(ticket_id=scene.ticket.pk, author=scene.agent, text="Pelanggan minta sore")


def _contact_attempt(scene):
    services.record_contact_attempt(
        ticket_id=scene.ticket.pk, agent=scene.agent, outcome=ContactOutcome.NO_ANSWER
    )


def _priority(scene):
    services.change_priority(ticket_id=scene.ticket.pk, priority=2, actor=scene.supervisor)


def _reassign(scene):
    services.reassign_ticket(
        ticket_id=scene.ticket.pk, supervisor=scene.supervisor, agent=scene.other_agent
    )


def _release(scene):
    services.release_ticket(ticket_id=scene.ticket.pk, supervisor=scene.supervisor)


def _nossa_number(scene):
    call = AdapterCall.objects.create(
        ticket=scene.ticket, app="nossa", operation="create_ticket", idempotency_key="t2-test-nc"
    )
    services.apply_call_answer(call=call, response={"nossa_number": "IN26672489"})


def _sla_breach(scene):
    Ticket.objects.filter(pk=scene.ticket.pk).update(resolve_by=timezone.now() - timedelta(1))
    services.sweep_sla()


def _refresh_checks(scene):
    services.refresh_customer_checks(ticket_id=scene.ticket.pk, actor=scene.agent)


# (what is done to a callback ticket being called, the event types, what the event shows)
OTHER_CHANGES = [
    ("note", _note, [ATTRIBUTE]),
    ("contact attempt", _contact_attempt, [ATTRIBUTE]),
    ("priority", _priority, [ATTRIBUTE]),
    ("reassign", _reassign, [ATTRIBUTE]),
    ("release", _release, [ATTRIBUTE]),
    ("NOSSA number from the adapter", _nossa_number, [ATTRIBUTE]),
    ("SLA breached by the sweep", _sla_breach, [ATTRIBUTE]),
    ("customer checks refreshed", _refresh_checks, []),  # nothing a subscriber sees
]


@pytest.mark.parametrize(
    ("change", "expected"), [row[1:] for row in OTHER_CHANGES], ids=[r[0] for r in OTHER_CHANGES]
)
def test_other_changes_send_the_event_types_of_the_table(crm, change, expected):
    scene = factories.flow_scene("callback")
    scene.walk_to("contacting")
    before = mark()

    change(scene)

    sent = events_after(before, scene.ticket)
    assert types_of(sent) == expected
    assert set(statuses_of(sent)) <= {"inProgress"}


def test_what_the_events_show_is_the_ticket_at_the_moment_of_the_change(crm):
    scene = factories.flow_scene("callback")
    before = mark()
    scene.walk_to("contacting")
    _priority(scene)
    _nossa_number(scene)

    sent = events_after(before, scene.ticket)
    reasons = [event["event"]["troubleTicket"]["statusChangeReason"] for event in sent]
    assert reasons == ["claimed", "contacting", "contacting", "contacting"]
    priorities = [event["event"]["troubleTicket"]["priority"] for event in sent]
    assert priorities == ["Medium", "Medium", "High", "High"]
    identifiers = [event["event"]["troubleTicket"]["externalIdentifier"] for event in sent]
    assert [item["id"] for item in identifiers[-1]][:1] == ["IN26672489"]
    assert all(item == [] or item[0]["id"] != "IN26672489" for item in identifiers[:-1])


def test_the_event_envelope_follows_the_spec_and_every_event_has_its_own_id(crm):
    scene = factories.flow_scene("callback")
    before = mark()
    scene.walk_to("unreachable")

    sent = events_after(before, scene.ticket)
    ids = [event["eventId"] for event in sent]
    assert len(ids) == len(set(ids)) == len(sent) > 3
    pending = [event for event in sent if event["eventType"] == INFORMATION]
    assert len(pending) == 1
    event = pending[0]
    assert event["@type"] == INFORMATION
    assert event["id"] == event["eventId"]
    assert event["eventTime"].endswith("Z")
    assert event["event"]["informationRequired"] == {"op": "add", "path": "/note"}
    assert event["event"]["troubleTicket"]["href"].endswith(f"/troubleTicket/{scene.ticket.pk}")
    status = next(
        e for e in sent if e["eventType"] == STATUS and e["eventTime"] == event["eventTime"]
    )
    assert status["correlationId"] == event["correlationId"]  # one change, two events
    keys = set(AdapterCall.objects.filter(app="hub", pk__gt=before).values_list(
        "idempotency_key", flat=True))  # fmt: skip
    assert keys == {f"hub-{event_id}" for event_id in ids}


# --- Only committed changes -----------------------------------------------------------------------
class Rollback(Exception):
    pass


def test_a_rolled_back_change_queues_no_event(crm):
    scene = factories.flow_scene("nossa")
    scene.hold()
    before = mark()

    with pytest.raises(Rollback), transaction.atomic():
        scene.run("start_diagnosis", actor=scene.agent)
        _note(scene)
        assert len(events_after(before)) == 2  # written inside the transaction
        raise Rollback

    assert events_after(before) == []
    with pytest.raises(TransitionForbidden):
        services.add_note(ticket_id=scene.ticket.pk, author=scene.other_agent, text="Bukan saya")
    assert events_after(before) == []


def test_in_a_batch_a_change_rolled_back_to_its_savepoint_queues_no_event(crm):
    first, second = factories.arrive("nossa"), factories.arrive("nossa")
    supervisor = factories.role_user("Supervisor")
    before = mark()

    with transaction.atomic(), events.batched():
        try:
            with transaction.atomic():
                services.add_note(ticket_id=first.pk, author=supervisor, text="Dibatalkan")
                raise Rollback
        except Rollback:
            pass
        services.add_note(ticket_id=second.pk, author=supervisor, text="Tetap")
        assert events_after(before) == []  # a batch writes at its end

    sent = events_after(before)
    assert [event["event"]["troubleTicket"]["id"] for event in sent] == [str(second.pk)]


# --- Who receives what ----------------------------------------------------------------------------
def subscribe(owner, query: str = "") -> EventSubscription:
    return EventSubscription.objects.create(
        owner=owner, callback="https://example.net/hook", query=query, secret="s" * 64
    )


def receivers(before: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for row in AdapterCall.objects.filter(app="hub", pk__gt=before).order_by("pk"):
        found.setdefault(row.subscription_id, []).append(
            row.request["event"]["troubleTicket"]["id"]
        )
    return found


def test_a_subscriber_receives_only_the_tickets_its_role_may_see(db):
    everything = subscribe(factories.role_user("System"))
    malang_only = subscribe(factories.user("System", username="partner-mlg", site_code="MLG"))
    callback_only = subscribe(factories.user("System", username="crm-cb", flows=["callback"]))
    supervisor = subscribe(factories.role_user("Supervisor"))
    pusat_agent = subscribe(factories.agent(site_code="PST", flows=["nossa"], username="a-pst"))
    before = mark()

    pusat_nossa = factories.flow_ticket("nossa", site_code="PST")
    malang_nossa = factories.flow_ticket("nossa", site_code="MLG")
    pusat_callback = factories.flow_ticket("callback", site_code="PST")

    got = receivers(before)
    ids = {ticket: str(ticket.pk) for ticket in (pusat_nossa, malang_nossa, pusat_callback)}
    assert sorted(got[everything.pk]) == sorted(ids.values())
    assert sorted(got[supervisor.pk]) == sorted(ids.values())
    assert got[malang_only.pk] == [ids[malang_nossa]]
    assert got[callback_only.pk] == [ids[pusat_callback]]
    assert got[pusat_agent.pk] == [ids[pusat_nossa]]


def test_a_query_picks_event_types_and_tickets(db):
    client = factories.role_user("System")
    status_only = subscribe(client, "eventType=TroubleTicketStatusChangeEvent")
    callback_created = subscribe(client, f"eventType={CREATE}&troubleTicket.ticketType=callback")
    resolved_ones = subscribe(client, "status=resolved,closed")
    before = mark()

    scene = factories.flow_scene("callback")
    scene.walk_to("resolved_on_call")

    by_subscription: dict[int, list[str]] = {}
    for row in AdapterCall.objects.filter(app="hub", pk__gt=before).order_by("pk"):
        by_subscription.setdefault(row.subscription_id, []).append(row.request["eventType"])
    # claim, resolve_on_call (start_contact and the answered call change no status)
    assert by_subscription[status_only.pk] == [STATUS, STATUS]
    assert by_subscription[callback_created.pk] == [CREATE]
    assert by_subscription[resolved_ones.pk] == [STATUS, RESOLVED]


def test_a_suspended_subscription_gets_nothing_queued(crm):
    EventSubscription.objects.update(status=SubscriptionStatus.SUSPENDED)
    before = mark()
    factories.arrive("nossa")
    assert events_after(before) == []


# --- What it costs --------------------------------------------------------------------------------
def test_with_nobody_subscribed_a_change_costs_no_query(db, settings, monkeypatch):
    settings.TIER2_HUB_CACHE_SECONDS = 60
    warm_up, watched, baseline = (factories.flow_scene("nossa") for _ in range(3))
    for scene in (warm_up, watched, baseline):
        scene.hold()

    def changes(scene) -> int:
        with CaptureQueriesContext(connection) as captured:
            services.add_note(ticket_id=scene.ticket.pk, author=scene.agent, text="Catatan")
            scene.run("start_diagnosis", actor=scene.agent)
        return len(captured)

    hub.forget_subscriptions()
    changes(warm_up)  # this process reads once that nobody subscribes
    with_hub = changes(watched)
    monkeypatch.setattr(events, "CONSUMERS", [])
    without_hub = changes(baseline)

    assert with_hub == without_hub


def gamas_incident_with(children: int):
    incident = factories.open_gamas()
    for _ in range(children):
        factories.arrive("gamas", service=factories.service_at("PST", odp=incident.area_code))
    supervisor = factories.role_user("Supervisor")
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    return incident


def fan_out_queries(children: int) -> tuple[int, int]:
    """(queries, events queued) of recovering an incident with `children` waiting reports."""
    incident = gamas_incident_with(children)
    before = mark()
    with CaptureQueriesContext(connection) as captured:
        moved = services.fan_out_recovery_batch(incident_id=incident.pk)
    assert moved == children
    return len(captured), len(events_after(before))


def test_a_gamas_fan_out_queues_its_events_with_a_bounded_number_of_queries(db, settings):
    settings.TIER2_HUB_CACHE_SECONDS = 60
    hub.forget_subscriptions()
    plain = {size: fan_out_queries(size) for size in (4, 12)}
    subscribe(factories.role_user("System"))
    subscribe(factories.role_user("Supervisor"), "eventType=TroubleTicketStatusChangeEvent")
    subscribed = {size: fan_out_queries(size) for size in (4, 12)}

    assert [plain[size][1] for size in (4, 12)] == [0, 0]
    assert [subscribed[size][1] for size in (4, 12)] == [8, 24]  # one status change x 2 each
    extra = {size: subscribed[size][0] - plain[size][0] for size in (4, 12)}
    assert extra[4] == extra[12] <= 8, extra

"""Adapter calls started by flow transitions: mapping, effects on tickets, retries, idempotency.

Celery runs eagerly here (also when REDIS_URL is set), so a transition's calls run in this
process as soon as its transaction's on-commit callbacks do. Eager tasks do not propagate their
exceptions (CELERY_TASK_EAGER_PROPAGATES is off), so every outcome is read from the
`AdapterCall` rows, as the console reads it.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from integrations import outbox
from integrations.adapters import get_adapter
from integrations.adapters.base import idempotent_reference
from integrations.adapters.nossa import NOSSA_NUMBER_RE
from integrations.calls import SPECS
from integrations.models import AdapterCall, CallStatus
from integrations.tasks import run_adapter_call
from tests import factories
from tickets import services
from tickets.flows import FLOWS, GamasIncidentMachine
from tickets.models import ContactOutcome

pytestmark = pytest.mark.django_db

FIXED_NOW = datetime(2025, 11, 25, 8, 0, tzinfo=UTC)
DIAGNOSIS_CALLS = {("ibooster", "connection_status"), ("isiska", "profile"), ("acs", "diagnose")}
_nossa_numbers = itertools.count(16672489)
_callback_records = itertools.count(1)


@pytest.fixture
def agent(pusat):
    return factories.agent(flows=("nossa", "callback", "ideas"))


@pytest.fixture
def act(django_capture_on_commit_callbacks):
    """Take a transition as `actor`, then run what it queued for after commit."""

    def take(ticket, name: str, actor, **inputs):
        with django_capture_on_commit_callbacks(execute=True):
            services.transition_ticket(
                ticket_id=ticket.pk, name=name, actor=actor, inputs=inputs or None
            )
        return factories.reload(ticket)

    return take


def nossa_ticket(service=None, *, with_number: bool = True):
    number = f"IN{next(_nossa_numbers):08d}" if with_number else ""
    return factories.arrive(
        "nossa", service=service, nossa_number=number, source_system="nossa", source_ref=number
    )


def callback_ticket():
    record_id = f"CB{next(_callback_records):010d}"
    return factories.arrive("callback", source_system="callback", source_ref=record_id)


def calls_of(ticket, transition: str | None = None):
    rows = AdapterCall.objects.filter(ticket=ticket)
    if transition:
        rows = rows.filter(log_entry__transition=transition)
    return {(row.app, row.operation): row for row in rows}


def answered(ticket, agent) -> None:
    services.record_contact_attempt(
        ticket_id=ticket.pk, agent=agent, outcome=ContactOutcome.ANSWERED
    )


def declared_calls() -> set[tuple[str, str]]:
    """Every (app, operation) a transition of any flow machine (or the gamas incident) starts."""
    declared = set()
    for machine in [*FLOWS.values(), GamasIncidentMachine]:
        for found in machine._meta.get_field("state").get_all_transitions(machine):
            declared.update((call.app, call.operation) for call in found.custom["calls"])
    return declared


# --- The mapping ----------------------------------------------------------------------------
def test_every_call_a_flow_transition_declares_has_a_request_mapping():
    declared = declared_calls()
    assert len(declared) >= 15, "the walk over the machines found too few calls"
    assert sorted(declared - set(SPECS)) == []


def test_every_mapped_operation_exists_on_its_adapter():
    missing = [
        f"{app}.{operation}"
        for app, operation in SPECS
        if not callable(getattr(get_adapter(app), operation, None))
    ]
    assert missing == []


# --- Calls and their effects ----------------------------------------------------------------
def test_diagnosis_fills_ibooster_isiska_and_acs_facts_and_records_every_call(act, agent):
    ticket = nossa_ticket()
    ticket = act(ticket, "claim", agent)
    ticket = act(ticket, "start_diagnosis", agent)

    assert ticket.state == "diagnosing"
    diagnosis = calls_of(ticket, "start_diagnosis")
    assert set(diagnosis) == DIAGNOSIS_CALLS
    assert ticket.facts["ibooster"] == diagnosis["ibooster", "connection_status"].response
    assert ticket.facts["isiska"] == diagnosis["isiska", "profile"].response
    assert ticket.facts["acs"] == diagnosis["acs", "diagnose"].response
    assert ticket.facts["ibooster"]["status"] in {"online", "los", "offline"}
    assert ticket.facts["isiska"]["service_number"] == ticket.service.service_number

    take = calls_of(ticket, "claim")["nossa", "take_ticket"]
    assert take.request == {"nossa_number": ticket.nossa_number, "agent_code": agent.username}
    for row in [take, *diagnosis.values()]:
        assert row.status == CallStatus.SUCCEEDED, (row, row.error)
        assert row.attempts == 1
        assert row.duration_ms is not None
        assert row.response
        assert row.error == ""
        assert row.finished_at is not None
        assert row.dispatched_at is not None
    for row in diagnosis.values():
        assert row.request == {"service_number": ticket.service.service_number}


def test_the_same_request_twice_gets_the_same_stub_answer(act, agent):
    service = factories.ServiceFactory()
    first, second = nossa_ticket(service), nossa_ticket(service)
    fixed_clock = {app: {"clock": lambda: FIXED_NOW} for app in ("ibooster", "isiska", "acs")}
    with override_settings(TIER2_ADAPTERS=fixed_clock):
        for ticket in (first, second):
            act(ticket, "claim", agent)
            act(ticket, "start_diagnosis", agent)

    first_calls, second_calls = calls_of(first), calls_of(second)
    for key in DIAGNOSIS_CALLS:
        assert first_calls[key].status == second_calls[key].status == CallStatus.SUCCEEDED
        assert first_calls[key].request == second_calls[key].request
        assert first_calls[key].response == second_calls[key].response
    # The same answers; only the record of which call gave each, and when, differs.
    first_facts, second_facts = factories.reload(first).facts, factories.reload(second).facts
    assert first_facts.pop("checked").keys() == second_facts.pop("checked").keys()
    assert first_facts == second_facts


def test_creating_a_nossa_ticket_from_a_callback_stores_the_returned_number(act, agent):
    ticket = callback_ticket()
    act(ticket, "claim", agent)
    act(ticket, "start_contact", agent)
    answered(ticket, agent)
    ticket = act(ticket, "create_nossa_ticket", agent, note="Internet mati sejak pagi")

    create = calls_of(ticket)["nossa", "create_ticket"]
    assert create.status == CallStatus.SUCCEEDED
    assert create.request == {
        "service_number": ticket.service.service_number,
        "symptom": "Internet mati sejak pagi",
    }
    assert NOSSA_NUMBER_RE.fullmatch(ticket.nossa_number)
    assert ticket.nossa_number == create.response["nossa_number"]
    assert ticket.nossa_number == idempotent_reference(
        "nossa", "create_ticket", create.idempotency_key, prefix="IN", digits=8
    )

    ticket = act(ticket, "close", agent, closing_code="NOSSA_TICKET")
    mark_done = calls_of(ticket, "close")["callback", "mark_done"]
    assert ticket.state == "closed"
    assert mark_done.status == CallStatus.SUCCEEDED, mark_done.error
    assert mark_done.request == {"record_id": ticket.source_ref, "outcome": "NOSSA_TICKET"}


def test_ideas_offer_check_fills_arrears_and_webcare_offers(act, agent):
    ticket = factories.arrive("ideas")
    act(ticket, "claim", agent)
    ticket = act(ticket, "check_offer", agent)

    service_number = ticket.service.service_number
    arrears = get_adapter("epayment").arrears(service_number=service_number)
    assert ticket.facts["epayment"] == {
        "arrears_total": arrears.total_idr,
        "months_unpaid": arrears.months_unpaid,
    }
    assert ticket.facts["webcare"] == calls_of(ticket)["webcare", "offers"].response
    assert ticket.facts["webcare"], "the stub offers something to every line"
    assert {row.status for row in calls_of(ticket).values()} == {CallStatus.SUCCEEDED}
    # The facts are what the flow's eligibility conditions read.
    next_step = "start_contact" if arrears.total_idr == 0 else "mark_not_eligible"
    options = {option.name: option for option in services.available_transitions(ticket, agent)}
    assert options[next_step].allowed, options[next_step].blocked_reason


# --- Failures -------------------------------------------------------------------------------
@override_settings(
    TIER2_ADAPTERS={"ibooster": {"failure_rate": 1.0}}, TIER2_ADAPTER_RETRY_BACKOFF_SECONDS=0
)
def test_an_application_that_keeps_timing_out_fails_after_the_retries_and_nothing_else_breaks(
    act, agent
):
    ticket = nossa_ticket()
    act(ticket, "claim", agent)
    ticket = act(ticket, "start_diagnosis", agent)

    assert ticket.state == "diagnosing"
    diagnosis = calls_of(ticket, "start_diagnosis")
    ibooster = diagnosis.pop(("ibooster", "connection_status"))
    assert ibooster.status == CallStatus.FAILED
    assert ibooster.attempts == settings.TIER2_ADAPTER_MAX_RETRIES
    assert "timed out" in ibooster.error
    assert ibooster.response is None
    assert ibooster.finished_at is not None
    for row in diagnosis.values():
        assert (row.status, row.attempts) == (CallStatus.SUCCEEDED, 1)
    assert "ibooster" not in ticket.facts
    assert {"isiska", "acs"} <= set(ticket.facts)


def test_a_rejected_call_fails_at_once_without_retry(act, agent):
    ticket = nossa_ticket(with_number=False)
    ticket = act(ticket, "claim", agent)

    assert ticket.state == "claimed"
    take = calls_of(ticket)["nossa", "take_ticket"]
    assert take.status == CallStatus.FAILED
    assert take.attempts == 1
    assert "no NOSSA number" in take.error
    assert take.finished_at is not None


def test_a_call_without_a_mapping_fails_at_once_instead_of_staying_running():
    ticket = nossa_ticket()
    call = AdapterCall.objects.create(
        ticket=ticket, app="nossa", operation="update_status", idempotency_key="t2-unmapped"
    )

    run_adapter_call.apply(args=[call.pk])

    call.refresh_from_db()
    assert (call.status, call.attempts) == (CallStatus.FAILED, 1)
    assert "No mapping" in call.error


# --- Delivery: the sweep and redelivered tasks ----------------------------------------------
def _call(ticket, key: str, *, age_seconds: float, **fields) -> AdapterCall:
    """A diagnosis row of `ticket` created `age_seconds` ago."""
    return AdapterCall.objects.create(
        ticket=ticket,
        app="isiska",
        operation="profile",
        idempotency_key=f"t2-test-{ticket.pk}-{key}",
        created_at=timezone.now() - timedelta(seconds=age_seconds),
        **fields,
    )


def test_redispatch_sends_calls_whose_message_is_missing_and_ignores_queued_or_finished_ones(
    monkeypatch,
):
    ticket = nossa_ticket()
    grace = settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS
    now = timezone.now()
    old = grace * 2
    long_ago = now - timedelta(seconds=old)
    never_sent = _call(ticket, "never-sent", age_seconds=old)
    worker_lost = _call(
        ticket,
        "worker-lost",
        age_seconds=old,
        status=CallStatus.RUNNING,
        attempts=1,
        last_sent_at=long_ago,
        due_at=long_ago,
        lease_until=now - timedelta(seconds=1),
    )
    ignored = [
        _call(ticket, "fresh", age_seconds=grace / 2),
        # Sent long ago but nothing says the queue has delivered it: it may wait in a backlog.
        _call(ticket, "queued", age_seconds=old, last_sent_at=long_ago, due_at=long_ago),
        _call(ticket, "just-sent", age_seconds=old, last_sent_at=now, due_at=now),
        _call(
            ticket,
            "running",
            age_seconds=old,
            status=CallStatus.RUNNING,
            attempts=1,
            last_sent_at=long_ago,
            due_at=long_ago,
            lease_until=now + timedelta(seconds=60),
        ),
        _call(ticket, "done", age_seconds=old, status=CallStatus.SUCCEEDED, attempts=1),
        _call(ticket, "gave-up", age_seconds=old, status=CallStatus.FAILED, attempts=4),
    ]
    sent = []
    monkeypatch.setattr(run_adapter_call, "delay", sent.append)

    assert outbox.redispatch_stale() == 2

    assert sorted(sent) == sorted([never_sent.pk, worker_lost.pk])
    never_sent.refresh_from_db()
    assert never_sent.dispatched_at is not None
    assert (never_sent.send_count, never_sent.last_sent_at is not None) == (1, True)
    for row in ignored:
        before = (row.status, row.attempts, row.last_sent_at, row.send_count)
        row.refresh_from_db()
        assert (row.status, row.attempts, row.last_sent_at, row.send_count) == before


def test_the_sweep_runs_a_call_the_broker_never_received():
    ticket = nossa_ticket()
    stranded = _call(
        ticket, "stranded", age_seconds=settings.TIER2_OUTBOX_REDISPATCH_AFTER_SECONDS * 2
    )

    outbox.redispatch_stale()

    stranded.refresh_from_db()
    assert (stranded.status, stranded.attempts) == (CallStatus.SUCCEEDED, 1)
    assert factories.reload(ticket).facts["isiska"] == stranded.response


def test_running_the_same_call_twice_leaves_one_effect(agent, django_capture_on_commit_callbacks):
    ticket = callback_ticket()
    for name in ("claim", "start_contact"):
        services.transition_ticket(ticket_id=ticket.pk, name=name, actor=agent)
    answered(ticket, agent)
    with django_capture_on_commit_callbacks(execute=False):  # not dispatched: we deliver it
        services.transition_ticket(
            ticket_id=ticket.pk, name="create_nossa_ticket", actor=agent, inputs={"note": "Mati"}
        )
    call = calls_of(ticket)["nossa", "create_ticket"]
    assert call.status == CallStatus.PENDING

    run_adapter_call.apply(args=[call.pk])
    call.refresh_from_db()
    ticket = factories.reload(ticket)
    first = (call.status, call.attempts, call.response, call.finished_at)
    nossa_number, updated_at = ticket.nossa_number, ticket.updated_at
    assert first[:2] == (CallStatus.SUCCEEDED, 1)
    assert nossa_number == call.response["nossa_number"]

    result = run_adapter_call.apply(args=[call.pk])

    assert result.get() == CallStatus.SUCCEEDED
    call.refresh_from_db()
    ticket = factories.reload(ticket)
    assert (call.status, call.attempts, call.response, call.finished_at) == first
    assert (ticket.nossa_number, ticket.updated_at) == (nossa_number, updated_at)
    assert AdapterCall.objects.filter(ticket=ticket).count() == 1

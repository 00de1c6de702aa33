"""The stub adapters and their registry: deterministic answers, simulated failures, idempotent
writes, JSON-ready responses, and settings-driven construction.

Runs with or without pytest-django: the registry tests configure bare Django settings when no
settings module is active.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from integrations.adapters import (
    APPS,
    DISPLAY_NAMES,
    AdapterRejected,
    AdapterUnavailable,
    Stub,
    StubBehaviour,
    get_adapter,
    reset_adapters,
    to_jsonable,
)
from integrations.adapters import base as adapters_base
from integrations.adapters.acs import AcsStub
from integrations.adapters.callback import CallbackStub
from integrations.adapters.epayment import EpaymentStub
from integrations.adapters.ibooster import IboosterStub, LineStatus
from integrations.adapters.isiska import CustomerProfile, IsiskaAdapter, IsiskaStub
from integrations.adapters.minitools import MinitoolsStub
from integrations.adapters.mycx import MyCxStub
from integrations.adapters.myindihome import MyIndiHomeStub
from integrations.adapters.mykiss import MyKissStub
from integrations.adapters.nossa import NOSSA_NUMBER_RE, NossaStub
from integrations.adapters.sephia import SephiaStub
from integrations.adapters.sms import SmsGatewayStub
from integrations.adapters.starclick import StarclickStub
from integrations.adapters.webcare import WebcareStub
from integrations.adapters.whatsapp import WhatsAppStub
from tests.integrations import feeds

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 11, 25, 8, 0, tzinfo=UTC)
SINCE = datetime(2025, 11, 25, 7, 30, 12, tzinfo=UTC)
SERVICE_NUMBER = "131162345678"
NOSSA_NUMBER = "IN16672489"

STUBS: dict[str, type[Stub]] = {
    "mycx": MyCxStub,
    "ibooster": IboosterStub,
    "mykiss": MyKissStub,
    "nossa": NossaStub,
    "isiska": IsiskaStub,
    "epayment": EpaymentStub,
    "starclick": StarclickStub,
    "callback": CallbackStub,
    "webcare": WebcareStub,
    "minitools": MinitoolsStub,
    "sephia": SephiaStub,
    "acs": AcsStub,
    "myindihome": MyIndiHomeStub,
    "sms": SmsGatewayStub,
    "whatsapp": WhatsAppStub,
}

# Reads answered from the service number alone: (app, operation, other arguments).
READS_BY_SERVICE_NUMBER = [
    ("ibooster", "connection_status", {}),
    ("ibooster", "usage_history", {"days": 7}),
    ("acs", "diagnose", {}),
    ("minitools", "review_network", {}),
    ("isiska", "profile", {}),
    ("epayment", "bills", {}),
    ("epayment", "arrears", {}),
    ("webcare", "offers", {}),
]
READS = [
    *(
        (app, op, {"service_number": SERVICE_NUMBER, **kw})
        for app, op, kw in READS_BY_SERVICE_NUMBER
    ),
    ("nossa", "fetch_new_tickets", {"since": SINCE, "limit": 10}),
    ("nossa", "fetch_force_closed", {"since": SINCE, "limit": 10}),
    ("callback", "fetch_records", {"since": SINCE, "limit": 10}),
    ("mykiss", "search_articles", {"query": "lampu LOS merah", "limit": 3}),
    ("mykiss", "search_articles", {"category": "tagihan"}),
    ("mycx", "follow_up", {"case_id": "CX1234567890"}),
    ("whatsapp", "template_status", {"name": "tiket_dibuat", "language": "id"}),
]
# Writes: (app, operation, arguments without the key, the field holding the external id).
WRITES = [
    (
        "nossa",
        "take_ticket",
        {"nossa_number": NOSSA_NUMBER, "agent_code": "T2-PST-014"},
        "reference",
    ),
    (
        "nossa",
        "update_status",
        {"nossa_number": NOSSA_NUMBER, "status": "ANALYSIS", "note": "cek redaman"},
        "reference",
    ),
    ("nossa", "escalate", {"nossa_number": NOSSA_NUMBER, "reason": "LOS"}, "work_order_id"),
    ("nossa", "reopen", {"nossa_number": NOSSA_NUMBER, "reason": "masih mati"}, "reference"),
    (
        "nossa",
        "create_ticket",
        {"service_number": SERVICE_NUMBER, "symptom": "Internet mati"},
        "nossa_number",
    ),
    (
        "nossa",
        "close_ticket",
        {"nossa_number": NOSSA_NUMBER, "closing_code": "SOLVED-TEKNISI"},
        "reference",
    ),
    ("acs", "remote_fix", {"service_number": SERVICE_NUMBER, "action": "reboot"}, "job_id"),
    ("mycx", "open_case", {"service_number": SERVICE_NUMBER, "summary": "Lapul"}, "case_id"),
    ("sephia", "log_event", {"service_number": SERVICE_NUMBER, "text": "catatan"}, "reference"),
    (
        "sephia",
        "internal_escalation",
        {"service_number": SERVICE_NUMBER, "reason": "butuh Support"},
        "escalation_id",
    ),
    (
        "starclick",
        "enter_order",
        {"service_number": SERVICE_NUMBER, "offer_code": "UPG-50M"},
        "order_id",
    ),
    (
        "minitools",
        "update_network",
        {"service_number": SERVICE_NUMBER, "change": "resync_profile"},
        "change_id",
    ),
    (
        "callback",
        "mark_done",
        {"record_id": "CB1234567890", "outcome": "resolved_on_call"},
        "reference",
    ),
    (
        "myindihome",
        "create_account",
        {"service_number": SERVICE_NUMBER, "email": "budi@example.com"},
        "account_id",
    ),
    ("myindihome", "register", {"service_number": SERVICE_NUMBER}, "reference"),
    ("myindihome", "unregister", {"service_number": SERVICE_NUMBER}, "reference"),
    (
        "sms",
        "send",
        {"to": "6281234567890", "text": "Tiket IN16672489 dibuat", "sender_id": "IndiHome"},
        "message_id",
    ),
    (
        "whatsapp",
        "send_template",
        {
            "to": "6281234567890",
            "name": "tiket_dibuat",
            "language": "id",
            "parameters": ["IN16672489"],
        },
        "message_id",
    ),
]
# Answered only about a message sent before; tests/integrations/test_messaging_adapters.py
# covers them.
COVERED_ELSEWHERE = {("sms", "delivery_status"), ("whatsapp", "message_status")}
ALL_CALLS = [
    *READS,
    *((app, op, {**kw, "idempotency_key": "key-1"}) for app, op, kw, _ in WRITES),
]


def call_id(value: Any) -> str:
    return "-".join(value[:2]) if isinstance(value, tuple) else ""


def stub(app: str, *, latency_ms: int = 0, failure_rate: float = 0.0) -> Any:
    """A fresh stub, as a new worker process would build it, with a fixed clock."""
    behaviour = StubBehaviour(latency_ms=latency_ms, failure_rate=failure_rate)
    return STUBS[app](behaviour, clock=lambda: NOW)


def call(app: str, operation: str, kwargs: dict[str, Any], **behaviour: Any) -> Any:
    return getattr(stub(app, **behaviour), operation)(**kwargs)


def service_numbers(count: int) -> list[str]:
    rng = random.Random(20251125)
    return [str(rng.randrange(10**11, 10**12)) for _ in range(count)]


# --- The set of applications ----------------------------------------------------------------


def test_registry_lists_the_fifteen_applications_with_their_display_names():
    expected = {
        "mycx": "My CX",
        "ibooster": "Ibooster",
        "mykiss": "My Kiss",
        "nossa": "NOSSA",
        "isiska": "I-SISKA",
        "epayment": "E-payment",
        "starclick": "Starclick",
        "callback": "Callback",
        "webcare": "Webcare",
        "minitools": "Minitools",
        "sephia": "Sephia 2.0",
        "acs": "ACS",
        "myindihome": "Dashboard My Indihome",
        "sms": "SMS Gateway",
        "whatsapp": "WhatsApp Business",
    }
    assert expected == DISPLAY_NAMES
    assert tuple(expected) == APPS
    assert tuple(STUBS) == APPS


@pytest.mark.parametrize("app", APPS)
def test_every_stub_implements_its_applications_interface(app):
    adapter = stub(app)
    assert adapter.app == app
    assert adapter.display_name == DISPLAY_NAMES[app]
    assert not type(adapter).__abstractmethods__


def test_every_operation_is_exercised_by_these_tests():
    covered = {(app, op) for app, op, _ in ALL_CALLS} | COVERED_ELSEWHERE
    for app, cls in STUBS.items():
        interface = next(base for base in cls.__mro__ if base.__dict__.get("app") == app)
        for operation in interface.__abstractmethods__:
            assert (app, operation) in covered


# --- Determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize(("app", "operation", "kwargs"), READS, ids=call_id)
def test_same_request_twice_gives_the_same_answer(app, operation, kwargs):
    assert call(app, operation, kwargs) == call(app, operation, kwargs)


@given(service_number=st.from_regex(r"\A[0-9]{12}\Z"))
def test_same_service_number_gives_the_same_data_for_any_service_number(service_number):
    for app, operation, kwargs in READS_BY_SERVICE_NUMBER:
        request = {"service_number": service_number, **kwargs}
        assert call(app, operation, request) == call(app, operation, request)


def test_same_service_number_gives_the_same_answers_in_another_process():
    """Builtin hash() differs per process; the stubs must not depend on it."""
    script = (
        "import json, sys\n"
        "from datetime import datetime\n"
        "from integrations.adapters import to_jsonable\n"
        "from integrations.adapters.isiska import IsiskaStub\n"
        "from integrations.adapters.nossa import NossaStub\n"
        "since, now = (datetime.fromisoformat(arg) for arg in sys.argv[2:4])\n"
        "print(json.dumps(to_jsonable([\n"
        "    IsiskaStub().profile(service_number=sys.argv[1]),\n"
        "    NossaStub(clock=lambda: now).fetch_new_tickets(since=since, limit=10),\n"
        "    NossaStub().create_ticket(service_number=sys.argv[1], symptom='x',\n"
        "                              idempotency_key='key-1'),\n"
        "])))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    completed = subprocess.run(  # noqa: S603 - our own interpreter and script, fixed arguments
        [sys.executable, "-c", script, SERVICE_NUMBER, SINCE.isoformat(), NOW.isoformat()],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    here = to_jsonable(
        [
            IsiskaStub().profile(service_number=SERVICE_NUMBER),
            stub("nossa").fetch_new_tickets(since=SINCE, limit=10),
            NossaStub().create_ticket(
                service_number=SERVICE_NUMBER, symptom="x", idempotency_key="key-1"
            ),
        ]
    )
    assert json.loads(completed.stdout) == here


@pytest.mark.parametrize(("app", "operation", "kwargs"), READS_BY_SERVICE_NUMBER, ids=call_id)
def test_different_service_numbers_give_different_data(app, operation, kwargs):
    answers = {
        json.dumps(
            to_jsonable(call(app, operation, {"service_number": number, **kwargs})),
            sort_keys=True,
        )
        for number in service_numbers(20)
    }
    assert len(answers) >= 10


def test_different_service_numbers_give_different_profiles():
    first, second = (
        stub("isiska").profile(service_number=number) for number in ("131162345678", "122198765432")
    )
    assert (first.customer_name, first.address, first.phone) != (
        second.customer_name,
        second.address,
        second.phone,
    )


# Pull feeds: (app, operation). Each record's position is (time, reference).
FEEDS = [
    ("nossa", "fetch_new_tickets"),
    ("nossa", "fetch_force_closed"),
    ("callback", "fetch_records"),
]
FEED_IDS = [operation for _, operation in FEEDS]


def feed(app: str, operation: str, since: datetime, size: int = 10_000) -> list:
    """Every record of a stub feed after (since, ""), up to the stub's clock, NOW."""
    return feeds.walk(getattr(stub(app), operation), feeds.STUB_POSITIONS[operation], since, size)


@pytest.mark.parametrize(("app", "operation"), FEEDS, ids=FEED_IDS)
def test_paging_through_a_feed_gives_the_same_records_whatever_the_page_size(app, operation):
    since = NOW - timedelta(hours=3)
    by_7, by_100, whole = (feed(app, operation, since, size) for size in (7, 100, 10_000))
    assert len(whole) > 100  # several pages of 100
    assert by_7 == by_100 == whole
    positions = [feeds.STUB_POSITIONS[operation](record) for record in whole]
    assert positions == sorted(positions)
    assert len({ref for _, ref in positions}) == len(positions)  # every record once
    assert since <= positions[0][0] and positions[-1][0] <= NOW


@pytest.mark.parametrize(("app", "operation"), FEEDS, ids=FEED_IDS)
def test_a_pull_returns_the_records_strictly_after_the_cursor(app, operation):
    position = feeds.STUB_POSITIONS[operation]
    records = feed(app, operation, NOW - timedelta(hours=1))
    fetch = getattr(stub(app), operation)
    for k in (0, 1, 17, len(records) // 2, len(records) - 2):
        since, after_ref = position(records[k])
        assert fetch(since=since, after_ref=after_ref, limit=5) == records[k + 1 : k + 6]
        # an empty reference reads every record of that time, the cursor's own included
        page = fetch(since=since, limit=5)
        assert records[k] in page
        assert all(position(record)[0] >= since for record in page)
    last_time, last_ref = position(records[-1])
    assert fetch(since=last_time, after_ref=last_ref, limit=5) == []


@pytest.mark.parametrize(("app", "operation"), FEEDS, ids=FEED_IDS)
def test_a_feed_holds_nothing_later_than_now_and_keeps_a_day(app, operation):
    fetch = getattr(stub(app), operation)
    assert fetch(since=NOW + timedelta(seconds=1), limit=10) == []
    week_old = feed(app, operation, NOW - timedelta(days=7), size=500)
    first_time = feeds.STUB_POSITIONS[operation](week_old[0])[0]
    assert NOW - timedelta(days=1, minutes=1) <= first_time <= NOW - timedelta(days=1, minutes=-5)


def test_pulls_return_at_most_limit_records_oldest_first():
    for minute in range(30):
        since = SINCE + timedelta(minutes=minute)
        tickets = stub("nossa").fetch_new_tickets(since=since, limit=2)
        records = stub("callback").fetch_records(since=since, limit=2)
        assert len(tickets) <= 2
        assert len(records) <= 2
        assert tickets == sorted(tickets, key=lambda t: (t.reported_at, t.nossa_number))
        assert records == sorted(records, key=lambda r: (r.recorded_at, r.record_id))
        assert all(t.reported_at >= since for t in tickets)
    assert stub("nossa").fetch_new_tickets(since=SINCE, limit=0) == []


def test_pulled_tickets_carry_nossa_numbers_and_service_numbers():
    tickets = [
        ticket
        for minute in range(10)
        for ticket in stub("nossa").fetch_new_tickets(
            since=SINCE + timedelta(minutes=minute), limit=10
        )
    ]
    assert tickets
    for ticket in tickets:
        assert NOSSA_NUMBER_RE.fullmatch(ticket.nossa_number)
        assert len(ticket.service_number) == 12
        assert ticket.service_number.isdigit()
        assert ticket.symptom


def test_force_closed_tickets_were_closed_after_they_were_reported():
    closed = [
        ticket
        for minute in range(20)
        for ticket in stub("nossa").fetch_force_closed(
            since=SINCE + timedelta(minutes=minute), limit=10
        )
    ]
    assert closed
    assert all(ticket.reported_at < ticket.closed_at for ticket in closed)
    assert all(ticket.closing_code for ticket in closed)


# --- Simulated failures and latency ---------------------------------------------------------


@pytest.mark.parametrize(("app", "operation", "kwargs"), ALL_CALLS, ids=call_id)
def test_failure_rate_one_makes_every_call_unavailable(app, operation, kwargs):
    with pytest.raises(AdapterUnavailable):
        call(app, operation, kwargs, failure_rate=1.0)


@pytest.mark.parametrize(("app", "operation", "kwargs"), ALL_CALLS, ids=call_id)
def test_failure_rate_zero_never_fails(app, operation, kwargs):
    adapter = stub(app, failure_rate=0.0)
    for _ in range(20):
        getattr(adapter, operation)(**kwargs)


def test_failure_rate_one_half_fails_about_half_the_calls():
    adapter = IsiskaStub(StubBehaviour(failure_rate=0.5), failure_random=random.Random(7))
    failures = 0
    for _ in range(400):
        try:
            adapter.profile(service_number=SERVICE_NUMBER)
        except AdapterUnavailable:
            failures += 1
    assert 150 < failures < 250


def test_latency_is_simulated_by_sleeping(monkeypatch):
    slept: list[float] = []
    monkeypatch.setattr(adapters_base.time, "sleep", slept.append)
    stub("ibooster", latency_ms=250).connection_status(service_number=SERVICE_NUMBER)
    stub("ibooster").connection_status(service_number=SERVICE_NUMBER)
    assert slept == [0.25]


def test_unavailable_and_rejected_are_both_adapter_errors_but_distinct():
    assert issubclass(AdapterUnavailable, adapters_base.AdapterError)
    assert issubclass(AdapterRejected, adapters_base.AdapterError)
    assert not issubclass(AdapterRejected, AdapterUnavailable)


@pytest.mark.parametrize("behaviour", [{"latency_ms": -1}, {"failure_rate": 1.5}])
def test_stub_behaviour_rejects_impossible_values(behaviour):
    with pytest.raises(ValueError):
        StubBehaviour(**behaviour)


# --- Idempotent writes ----------------------------------------------------------------------


@pytest.mark.parametrize(("app", "operation", "kwargs", "id_field"), WRITES, ids=call_id)
def test_same_idempotency_key_gives_the_same_result(app, operation, kwargs, id_field):
    first = call(app, operation, {**kwargs, "idempotency_key": "outbox-41"})
    again = call(app, operation, {**kwargs, "idempotency_key": "outbox-41"})
    assert first == again


@pytest.mark.parametrize(("app", "operation", "kwargs", "id_field"), WRITES, ids=call_id)
def test_different_idempotency_keys_give_different_ids(app, operation, kwargs, id_field):
    first = call(app, operation, {**kwargs, "idempotency_key": "outbox-41"})
    other = call(app, operation, {**kwargs, "idempotency_key": "outbox-42"})
    assert getattr(first, id_field) != getattr(other, id_field)


@pytest.mark.parametrize(("app", "operation", "kwargs", "id_field"), WRITES, ids=call_id)
def test_a_write_without_an_idempotency_key_is_rejected(app, operation, kwargs, id_field):
    with pytest.raises(AdapterRejected):
        call(app, operation, {**kwargs, "idempotency_key": ""})


def test_created_nossa_ticket_has_a_nossa_number():
    created = stub("nossa").create_ticket(
        service_number=SERVICE_NUMBER, symptom="Internet mati", idempotency_key="callback-7"
    )
    assert NOSSA_NUMBER_RE.fullmatch(created.nossa_number)


# --- Request checks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "operation", "kwargs"),
    [
        ("isiska", "profile", {"service_number": "12345"}),
        ("ibooster", "connection_status", {"service_number": "13116234567X"}),
        ("ibooster", "usage_history", {"service_number": SERVICE_NUMBER, "days": 0}),
        ("nossa", "fetch_new_tickets", {"since": "yesterday", "limit": 10}),
        ("nossa", "fetch_new_tickets", {"since": SINCE, "limit": -1}),
        ("nossa", "fetch_force_closed", {"since": SINCE, "after_ref": 42, "limit": 10}),
        ("callback", "fetch_records", {"since": None, "limit": 10}),
        ("callback", "fetch_records", {"since": SINCE, "after_ref": None, "limit": 10}),
        (
            "nossa",
            "take_ticket",
            {"nossa_number": "16672489", "agent_code": "A1", "idempotency_key": "k"},
        ),
        (
            "nossa",
            "update_status",
            {"nossa_number": NOSSA_NUMBER, "status": "DONE", "note": "", "idempotency_key": "k"},
        ),
        (
            "acs",
            "remote_fix",
            {"service_number": SERVICE_NUMBER, "action": "format_disk", "idempotency_key": "k"},
        ),
        (
            "minitools",
            "update_network",
            {"service_number": SERVICE_NUMBER, "change": "cut_fibre", "idempotency_key": "k"},
        ),
        ("mycx", "follow_up", {"case_id": "42"}),
        ("callback", "mark_done", {"record_id": "x", "outcome": "ok", "idempotency_key": "k"}),
        (
            "myindihome",
            "create_account",
            {"service_number": SERVICE_NUMBER, "email": "budi", "idempotency_key": "k"},
        ),
        ("mykiss", "search_articles", {"category": "astrologi"}),
    ],
    ids=call_id,
)
def test_malformed_requests_are_rejected_permanently(app, operation, kwargs):
    with pytest.raises(AdapterRejected):
        call(app, operation, kwargs)


# --- The fake world agrees with itself --------------------------------------------------------


def test_about_one_in_five_service_numbers_is_in_arrears():
    epayment = stub("epayment")
    share = (
        sum(epayment.arrears(service_number=number).in_arrears for number in service_numbers(1000))
        / 1000
    )
    assert 0.15 < share < 0.25


def test_arrears_are_the_overdue_unpaid_bills():
    epayment = stub("epayment")
    for number in service_numbers(100):
        bills = epayment.bills(service_number=number)
        overdue = [b for b in bills if not b.paid and b.due_date < NOW.date()]
        arrears = epayment.arrears(service_number=number)
        assert arrears.months_unpaid == len(overdue)
        assert arrears.total_idr == sum(b.amount_idr for b in overdue)
        assert len(bills) == 6
        assert bills[-1].period == "2025-11"


def test_ibooster_acs_and_minitools_tell_the_same_story_about_a_line():
    for number in service_numbers(200):
        status = stub("ibooster").connection_status(service_number=number)
        diagnosis = stub("acs").diagnose(service_number=number)
        review = stub("minitools").review_network(service_number=number)
        profile = stub("isiska").profile(service_number=number)
        assert status.onu_serial == diagnosis.ont_serial == review.ont_serial
        assert review.olt == profile.olt
        if status.status == LineStatus.LOS:
            assert not diagnosis.fixable_remotely
            assert review.issues
        if status.status == LineStatus.OFFLINE:
            assert diagnosis.suggested_action == "reboot"
        if status.status == LineStatus.ONLINE:
            assert status.is_healthy


def test_remote_fix_works_when_it_is_the_suggested_action():
    acs = stub("acs")
    for number in service_numbers(100):
        diagnosis = acs.diagnose(service_number=number)
        for action in ("reboot", "reset_wifi"):
            result = acs.remote_fix(service_number=number, action=action, idempotency_key="k")
            assert result.fixed == (action == diagnosis.suggested_action)


def test_usage_history_covers_the_requested_days_up_to_yesterday():
    history = stub("ibooster").usage_history(service_number=SERVICE_NUMBER, days=7)
    assert [u.day for u in history] == [date(2025, 11, 18) + timedelta(days=d) for d in range(7)]


def test_offers_never_include_a_speed_the_customer_already_has():
    for number in service_numbers(50):
        speed = stub("isiska").profile(service_number=number).speed_mbps
        offers = stub("webcare").offers(service_number=number)
        assert offers
        upgrades = [int(o.code[4:-1]) for o in offers if o.code.startswith("UPG-")]
        assert all(upgrade > speed for upgrade in upgrades)


def test_knowledge_base_answers_red_los_light_with_the_los_article():
    articles = stub("mykiss").search_articles(query="lampu LOS merah", limit=3)
    assert articles[0].article_id == "KISS-0101"


def test_knowledge_base_understands_customer_slang_for_slow_internet():
    articles = stub("mykiss").search_articles(query="internet lemot", limit=1)
    assert articles[0].title == "Internet lambat atau putus-putus"


def test_knowledge_base_browses_a_category():
    articles = stub("mykiss").search_articles(category="tagihan", limit=10)
    assert articles
    assert {a.category for a in articles} == {"tagihan"}


def test_knowledge_base_returns_nothing_for_unknown_words():
    assert stub("mykiss").search_articles(query="zzz qqq") == []


# --- JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("app", "operation", "kwargs"), ALL_CALLS, ids=call_id)
def test_every_response_round_trips_through_json(app, operation, kwargs):
    jsonable = to_jsonable(call(app, operation, kwargs))
    assert json.loads(json.dumps(jsonable)) == jsonable


def test_to_jsonable_writes_dates_as_iso_strings():
    status = stub("ibooster").connection_status(service_number=SERVICE_NUMBER)
    assert to_jsonable(status)["checked_at"] == "2025-11-25T08:00:00+00:00"
    assert to_jsonable(status)["status"] in {"online", "los", "offline"}


# --- Registry -------------------------------------------------------------------------------


class SlowIsiska(IsiskaStub):
    """A configured stub subclass, as a load test might use."""


class IsiskaClient(IsiskaAdapter):
    """Stands for a real client: built from its own options, not from a StubBehaviour."""

    def __init__(self, *, base_url: str) -> None:
        self.base_url = base_url

    def profile(self, *, service_number: str) -> CustomerProfile:
        raise NotImplementedError


def dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@pytest.fixture
def django_settings():
    """Bare Django settings when the tests run without a settings module."""
    try:
        getattr(settings, "TIER2_ADAPTERS", None)
    except ImproperlyConfigured:
        settings.configure()
    reset_adapters()
    yield settings
    reset_adapters()


@pytest.mark.parametrize("app", APPS)
def test_registry_returns_the_stub_by_default(django_settings, app):
    with override_settings(TIER2_ADAPTERS={}):
        adapter = get_adapter(app)
    assert type(adapter) is STUBS[app]
    assert adapter.behaviour == StubBehaviour(latency_ms=0, failure_rate=0.0)


def test_registry_treats_an_empty_class_as_the_stub(django_settings):
    with override_settings(TIER2_ADAPTERS={"nossa": {"latency_ms": 5, "failure_rate": 0.0}}):
        assert type(get_adapter("nossa")) is NossaStub
        assert get_adapter("nossa").behaviour.latency_ms == 5


def test_registry_builds_the_configured_class_with_its_behaviour(django_settings):
    config = {"isiska": {"class": dotted(SlowIsiska), "latency_ms": 40, "failure_rate": 1.0}}
    with override_settings(TIER2_ADAPTERS=config):
        adapter = get_adapter("isiska")
        assert type(adapter) is SlowIsiska
        assert adapter.behaviour == StubBehaviour(latency_ms=40, failure_rate=1.0)


def test_registry_passes_other_options_to_a_real_client(django_settings):
    config = {"isiska": {"class": dotted(IsiskaClient), "latency_ms": 0, "base_url": "https://x"}}
    with override_settings(TIER2_ADAPTERS=config):
        adapter = get_adapter("isiska")
    assert isinstance(adapter, IsiskaClient)
    assert adapter.base_url == "https://x"


def test_registry_refuses_a_class_of_another_application(django_settings):
    config = {"nossa": {"class": dotted(SlowIsiska)}}
    with override_settings(TIER2_ADAPTERS=config), pytest.raises(ImproperlyConfigured):
        get_adapter("nossa")


def test_registry_refuses_a_class_that_does_not_exist(django_settings):
    config = {"nossa": {"class": "integrations.adapters.nossa.NoSuchClient"}}
    with override_settings(TIER2_ADAPTERS=config), pytest.raises(ImproperlyConfigured):
        get_adapter("nossa")


def test_registry_builds_each_adapter_once_until_reset(django_settings):
    with override_settings(TIER2_ADAPTERS={}):
        first = get_adapter("ibooster")
        assert get_adapter("ibooster") is first
        reset_adapters()
        assert get_adapter("ibooster") is not first


def test_registry_forgets_adapters_when_the_setting_changes(django_settings):
    with override_settings(TIER2_ADAPTERS={}):
        default = get_adapter("acs")
    with override_settings(TIER2_ADAPTERS={"acs": {"failure_rate": 1.0}}):
        failing = get_adapter("acs")
    assert failing is not default
    assert failing.behaviour.failure_rate == 1.0


def test_unknown_app_raises_value_error(django_settings):
    with pytest.raises(ValueError, match="unknown adapter app"):
        get_adapter("sap")


def test_acs_messages_name_the_actions_in_words_not_codes():
    from integrations.adapters import get_adapter
    from integrations.adapters.acs import REMOTE_ACTIONS

    acs = get_adapter("acs")
    for number in ("131100000011", "131100000012", "131100000013", "131100000014"):
        for action in REMOTE_ACTIONS:
            result = acs.remote_fix(
                service_number=number, action=action, idempotency_key=f"k-{number}-{action}"
            )
            assert not any(code in result.message for code in REMOTE_ACTIONS), result.message

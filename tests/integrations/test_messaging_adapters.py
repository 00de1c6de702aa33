"""The SMS Gateway and WhatsApp Business stubs: what they accept (numbers, texts and their SMS
parts, templates and parameters), idempotent sends, statuses settled by the number and answered
in another process through the effect ledger, and failures before any effect.

The expected values are worked out by hand from the rules in docs/adapters.md ("Messages").
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from integrations.adapters import (
    AdapterRejected,
    AdapterUnavailable,
    StubBehaviour,
    get_adapter,
    reset_adapters,
    to_jsonable,
)
from integrations.adapters.base import MemoryLedger, RedisLedger
from integrations.adapters.sms import SmsAccepted, SmsGatewayStub, SmsStatus, sms_segments
from integrations.adapters.whatsapp import (
    WaAccepted,
    WaStatus,
    WaTemplateStatus,
    WhatsAppStub,
)

SENT_AT = datetime(2025, 11, 25, 8, 0, tzinfo=UTC)
ASKED_AT = SENT_AT + timedelta(minutes=5)
NUMBER = "6281234567890"  # 0812 3456 7890
SMS = {"to": NUMBER, "text": "Tiket IN16672489 sudah dibuat.", "sender_id": "IndiHome"}
WA = {"to": NUMBER, "name": "tiket_dibuat", "language": "id", "parameters": ["IN16672489"]}


class Clock:
    """A clock the test moves: the stubs read it for "now"."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sms_stub(ledger=None, clock=None, **behaviour) -> SmsGatewayStub:
    return SmsGatewayStub(StubBehaviour(**behaviour), clock=clock or Clock(SENT_AT), effects=ledger)


def wa_stub(ledger=None, clock=None, approved_templates=None, **behaviour) -> WhatsAppStub:
    return WhatsAppStub(
        StubBehaviour(**behaviour),
        clock=clock or Clock(SENT_AT),
        effects=ledger,
        approved_templates=approved_templates,
    )


# --- SMS parts ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a", 1),
        ("a" * 160, 1),  # GSM-7: 160 in one SMS
        ("a" * 161, 2),  # longer: 153 per part
        ("a" * 306, 2),  # 2 x 153
        ("a" * 307, 3),
        ("a" * 918, 6),  # 6 x 153
        ("é" * 160, 1),  # é, ñ, Ä, ß are GSM-7 letters
        ("Añ ß Ä @ £ ¥ §" * 10, 1),  # 140 GSM-7 characters
        ("€" * 80, 1),  # extension table: two places each, 160
        ("€" * 81, 2),  # 162 places: 76 euros (152 places) per part
        ("a" * 159 + "{", 2),  # 161 places
        ("a" * 152 + "€" + "a" * 152, 3),  # 306 places, but the € is not split: 152 + 153 + 1
        ("中" * 70, 1),  # UCS-2: 70 in one SMS
        ("中" * 71, 2),  # longer: 67 per part
        ("中" * 134, 2),  # 2 x 67
        ("中" * 135, 3),
        ("a" * 69 + "ō", 1),  # one character outside GSM-7 makes the whole text UCS-2: 70
        ("a" * 70 + "ō", 2),  # 71
        ("😀" * 35, 1),  # an emoji is two UTF-16 units: 70
        ("😀" * 36, 2),  # 72 units: 33 emoji (66 units) per part
        ("a" * 69 + "😀", 2),  # 71 units
    ],
    ids=lambda value: f"{len(value)}-chars" if isinstance(value, str) else str(value),
)
def test_a_text_takes_the_parts_the_gateway_counts(text, parts):
    assert sms_segments(text) == parts


def test_send_answers_the_parts_of_its_text():
    accepted = sms_stub().send(**{**SMS, "text": "中" * 71}, idempotency_key="sms-1")
    assert (accepted.to, accepted.segments, accepted.status) == (NUMBER, 2, "accepted")


@pytest.mark.parametrize("text", ["a" * 918, "中" * 402])  # 6 x 153 GSM-7, 6 x 67 UCS-2
def test_six_parts_are_sent(text):
    assert sms_stub().send(**{**SMS, "text": text}, idempotency_key="sms-1").segments == 6


@pytest.mark.parametrize("text", ["a" * 919, "中" * 403])  # seven parts
def test_a_text_of_seven_parts_is_rejected_and_has_no_effect(text):
    stub = sms_stub()
    with pytest.raises(AdapterRejected, match="7 SMS parts, at most 6"):
        stub.send(**{**SMS, "text": text}, idempotency_key="sms-1")
    assert stub.effects.counts() == {}


# --- Numbers and other requests -----------------------------------------------------------------
@pytest.mark.parametrize(
    "number",
    [
        "62812345678",  # 628 and 8 digits (0812 3456 78, ten digits nationally): the shortest
        "628123456789",
        "6281234567890",
        "62812345678901",  # 628 and 11 digits: the longest
        "6285712345699",
    ],
)
def test_an_indonesian_mobile_number_is_accepted_by_both(number):
    assert sms_stub().send(**{**SMS, "to": number}, idempotency_key="k").to == number
    assert wa_stub().send_template(**{**WA, "to": number}, idempotency_key="k").to == number


@pytest.mark.parametrize(
    "number",
    [
        "081234567890",  # national form
        "+6281234567890",  # with the plus
        "62 812 3456 7890",
        "62-812-3456-7890",
        "6281234567",  # 628 and 7 digits (nine nationally): too short
        "628123456789012",  # 628 and 12 digits
        "6221234567",  # a Jakarta landline
        "6581234567",  # Singapore
        "6281234567890\n",
        "628１２３４５６７８９０",  # full-width digits
        "",
        6281234567890,  # not a string
        None,
    ],
)
def test_any_other_number_is_rejected_by_both(number):
    with pytest.raises(AdapterRejected, match="Indonesian mobile number"):
        sms_stub().send(**{**SMS, "to": number}, idempotency_key="k")
    with pytest.raises(AdapterRejected, match="Indonesian mobile number"):
        wa_stub().send_template(**{**WA, "to": number}, idempotency_key="k")


@pytest.mark.parametrize(
    "change",
    [
        {"text": ""},
        {"text": "   "},
        {"sender_id": ""},
        {"sender_id": "IndiHomeTelkom"},  # 14 characters, 11 at most
        {"sender_id": " IndiHome"},
        {"sender_id": "Indi-Home"},
    ],
)
def test_an_sms_without_text_or_with_a_bad_sender_id_is_rejected(change):
    with pytest.raises(AdapterRejected):
        sms_stub().send(**{**SMS, **change}, idempotency_key="k")


def test_a_sender_id_of_eleven_letters_digits_or_spaces_is_accepted():
    for sender_id in ("IndiHome", "Telkom 147", "TELKOMINDIH"):
        sms_stub().send(**{**SMS, "sender_id": sender_id}, idempotency_key="k")


# --- Idempotent sends ---------------------------------------------------------------------------
def test_the_same_sms_key_twice_gives_one_effect_and_the_same_id():
    stub = sms_stub()
    first = stub.send(**SMS, idempotency_key="outbox-41")
    again = stub.send(**SMS, idempotency_key="outbox-41")
    other = stub.send(**SMS, idempotency_key="outbox-42")

    assert first == again
    assert first.message_id.startswith("SMS") and len(first.message_id) == 15
    assert other.message_id != first.message_id
    count = stub.effects.counts()["sms", "outbox-41"]
    assert (count.applied, count.repeats) == (1, 1)


def test_the_same_whatsapp_key_twice_gives_one_effect_and_the_same_id():
    stub = wa_stub()
    first = stub.send_template(**WA, idempotency_key="outbox-41")
    again = stub.send_template(**WA, idempotency_key="outbox-41")
    other = stub.send_template(**WA, idempotency_key="outbox-42")

    assert first == again == WaAccepted(message_id=first.message_id, to=NUMBER, status="sent")
    assert first.message_id.startswith("wamid.")
    assert other.message_id != first.message_id
    count = stub.effects.counts()["whatsapp", "outbox-41"]
    assert (count.applied, count.repeats) == (1, 1)


def test_the_same_key_gives_the_same_id_in_a_stub_of_its_own():
    """The id is derived from the key alone, as in every process."""
    mine = sms_stub().send(**SMS, idempotency_key="outbox-41").message_id
    assert sms_stub().send(**SMS, idempotency_key="outbox-41").message_id == mine
    wa = wa_stub().send_template(**WA, idempotency_key="outbox-41").message_id
    assert wa_stub().send_template(**WA, idempotency_key="outbox-41").message_id == wa


def test_a_send_without_an_idempotency_key_is_rejected():
    with pytest.raises(AdapterRejected):
        sms_stub().send(**SMS, idempotency_key="")
    with pytest.raises(AdapterRejected):
        wa_stub().send_template(**WA, idempotency_key=" ")


# --- SMS delivery -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "status", "error"),
    [
        ("6281234567899", "failed", "absent subscriber"),
        ("6281234567890", "delivered", ""),
        ("6281234567898", "delivered", ""),
        ("6281234567809", "delivered", ""),  # ends in 09, not 99
        ("6289912345678", "delivered", ""),  # 99 elsewhere
    ],
)
def test_an_sms_is_settled_by_the_number_it_went_to(number, status, error):
    clock = Clock(SENT_AT)
    stub = sms_stub(clock=clock)
    sent = stub.send(**{**SMS, "to": number}, idempotency_key="sms-1")
    clock.now = ASKED_AT

    assert stub.delivery_status(message_id=sent.message_id) == SmsStatus(
        message_id=sent.message_id, status=status, updated_at=SENT_AT, error=error
    )


def test_another_process_sharing_the_ledger_answers_the_sms_status():
    ledger = MemoryLedger()
    sent = sms_stub(ledger).send(**{**SMS, "to": "6281234567899"}, idempotency_key="sms-1")

    worker = sms_stub(ledger, clock=Clock(ASKED_AT))  # a fresh stub: another process
    status = worker.delivery_status(message_id=sent.message_id)

    assert (status.status, status.error, status.updated_at) == (
        "failed",
        "absent subscriber",
        SENT_AT,
    )


def test_an_sms_the_stub_never_sent_is_unknown():
    sent = sms_stub().send(**SMS, idempotency_key="sms-1")  # in a ledger of its own
    with pytest.raises(AdapterRejected, match="unknown message id"):
        sms_stub().delivery_status(message_id=sent.message_id)
    with pytest.raises(AdapterRejected, match="unknown message id"):
        sms_stub().delivery_status(message_id="SMS000000000000")
    with pytest.raises(AdapterRejected):
        sms_stub().delivery_status(message_id="")


def test_a_repeated_sms_keeps_the_time_of_the_first_send():
    clock = Clock(SENT_AT)
    stub = sms_stub(clock=clock)
    sent = stub.send(**SMS, idempotency_key="sms-1")
    clock.now = ASKED_AT
    stub.send(**SMS, idempotency_key="sms-1")

    assert stub.delivery_status(message_id=sent.message_id).updated_at == SENT_AT


# --- WhatsApp templates -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("tiket_dibuat", "approved"),
        ("kunjungan_teknisi_2", "approved"),
        ("draft_tiket_dibuat", "pending"),
        ("rejected_promo", "rejected"),
        ("tiket_draft_", "approved"),  # only a name starting draft_ is pending
    ],
)
def test_without_a_list_every_template_is_approved_but_drafts_and_rejected_ones(name, status):
    for language in ("id", "en"):
        answer = wa_stub().template_status(name=name, language=language)
        assert answer == WaTemplateStatus(name=name, language=language, status=status)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("tiket_dibuat", "approved"),
        ("draft_ok", "approved"),  # listed: approved whatever its name
        ("kunjungan_teknisi", "pending"),  # not listed
        ("draft_baru", "pending"),
        ("rejected_promo", "rejected"),
    ],
)
def test_with_a_list_exactly_the_listed_templates_are_approved(name, status):
    stub = wa_stub(approved_templates=["tiket_dibuat", "draft_ok"])
    assert stub.template_status(name=name, language="id").status == status


@pytest.mark.parametrize(
    "request_",
    [
        {"name": "tiket_dibuat", "language": "fr"},
        {"name": "tiket_dibuat", "language": "ID"},
        {"name": "tiket_dibuat", "language": ""},
        {"name": "Tiket Dibuat", "language": "id"},
        {"name": "tiket-dibuat", "language": "id"},
        {"name": "", "language": "id"},
    ],
)
def test_a_bad_template_name_or_language_is_rejected(request_):
    with pytest.raises(AdapterRejected):
        wa_stub().template_status(**request_)
    with pytest.raises(AdapterRejected):
        wa_stub().send_template(**{**WA, **request_}, idempotency_key="k")


@pytest.mark.parametrize(
    ("name", "approved", "message"),
    [
        ("draft_tiket", None, "template draft_tiket (id) is not approved by WhatsApp: pending"),
        (
            "rejected_promo",
            None,
            "template rejected_promo (id) is not approved by WhatsApp: rejected",
        ),
        (
            "tiket_dibuat",
            ["lain"],
            "template tiket_dibuat (id) is not approved by WhatsApp: pending",
        ),
    ],
)
def test_a_template_that_is_not_approved_is_not_sent(name, approved, message):
    stub = wa_stub(approved_templates=approved)
    with pytest.raises(AdapterRejected) as rejected:
        stub.send_template(**{**WA, "name": name}, idempotency_key="wa-1")
    assert str(rejected.value) == message
    assert stub.effects.counts() == {}


def test_the_approved_templates_come_from_the_adapter_settings():
    config = {"whatsapp": {"approved_templates": ["tiket_dibuat"], "latency_ms": 0}}
    try:
        with override_settings(TIER2_ADAPTERS=config):
            adapter = get_adapter("whatsapp")
            assert adapter.template_status(name="tiket_dibuat", language="id").status == "approved"
            assert adapter.template_status(name="tiket_baru", language="id").status == "pending"
        with (
            override_settings(TIER2_ADAPTERS={"whatsapp": {"approved_templates": "tiket_dibuat"}}),
            pytest.raises(ImproperlyConfigured, match="not a string"),
        ):
            get_adapter("whatsapp")
    finally:
        reset_adapters()


# --- WhatsApp parameters ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "parameters",
    [
        [],
        ["IN16672489", "Budi Santoso", "25 Nov 2025 pukul 10.00"],
        ["a" * 1024],
        ["empat    spasi"],  # four spaces in a row are allowed
        ("IN16672489",),  # any sequence of strings
    ],
    ids=["none", "three", "1024-chars", "four-spaces", "tuple"],
)
def test_parameters_whatsapp_takes_are_sent(parameters):
    wa_stub().send_template(**{**WA, "parameters": parameters}, idempotency_key="wa-1")


@pytest.mark.parametrize(
    ("parameters", "problem"),
    [
        (["a" * 1025], "parameter 1 has 1025 characters, more than 1024"),
        (["ok", "baris\nbaru"], "parameter 2 holds a newline or a tab"),
        (["baris\r\nbaru"], "parameter 1 holds a newline or a tab"),
        (["tab\tdi sini"], "parameter 1 holds a newline or a tab"),
        (["lima     spasi"], "parameter 1 holds more than four spaces in a row"),
        ([""], "parameter 1 is empty"),
        (["  "], "parameter 1 is empty"),
        ("IN16672489", "parameters must be a list of strings"),
        ([42], "parameters must be a list of strings"),
        (None, "parameters must be a list of strings"),
    ],
    ids=range(10),
)
def test_parameters_whatsapp_refuses_are_rejected_without_effect(parameters, problem):
    stub = wa_stub()
    with pytest.raises(AdapterRejected, match=problem):
        stub.send_template(**{**WA, "parameters": parameters}, idempotency_key="wa-1")
    assert stub.effects.counts() == {}


# --- WhatsApp delivery --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("number", "status", "error"),
    [
        ("6281234567899", "failed", "not a WhatsApp user"),
        ("6281234567898", "read", ""),  # even
        ("6281234567890", "read", ""),  # 0 is even
        ("6281234567892", "read", ""),
        ("6281234567897", "delivered", ""),  # odd
        ("6281234567891", "delivered", ""),
        ("6281234567889", "delivered", ""),  # ends in 89, not 99
    ],
)
def test_a_whatsapp_message_is_settled_by_the_number_it_went_to(number, status, error):
    clock = Clock(SENT_AT)
    stub = wa_stub(clock=clock)
    sent = stub.send_template(**{**WA, "to": number}, idempotency_key="wa-1")
    clock.now = ASKED_AT

    assert stub.message_status(message_id=sent.message_id) == WaStatus(
        message_id=sent.message_id, status=status, updated_at=SENT_AT, error=error
    )


def test_another_process_sharing_the_ledger_answers_the_whatsapp_status():
    ledger = MemoryLedger()
    sent = wa_stub(ledger).send_template(**{**WA, "to": "6281234567897"}, idempotency_key="wa-1")

    status = wa_stub(ledger, clock=Clock(ASKED_AT)).message_status(message_id=sent.message_id)

    assert (status.status, status.updated_at) == ("delivered", SENT_AT)


def test_a_whatsapp_message_the_stub_never_sent_is_unknown():
    sent = wa_stub().send_template(**WA, idempotency_key="wa-1")
    with pytest.raises(AdapterRejected, match="unknown message id"):
        wa_stub().message_status(message_id=sent.message_id)
    # An SMS id is not a WhatsApp message, even in the same ledger.
    ledger = MemoryLedger()
    sms = sms_stub(ledger).send(**SMS, idempotency_key="same-key")
    with pytest.raises(AdapterRejected, match="unknown message id"):
        wa_stub(ledger).message_status(message_id=sms.message_id)


# --- Failures -----------------------------------------------------------------------------------
SENDS = [
    ("sms", lambda stub: stub.send(**SMS, idempotency_key="k-1")),
    ("whatsapp", lambda stub: stub.send_template(**WA, idempotency_key="k-1")),
]


@pytest.mark.parametrize(("app", "send"), SENDS, ids=[app for app, _ in SENDS])
def test_failure_rate_one_fails_every_call_before_any_effect(app, send):
    ledger = MemoryLedger()
    sent = send(sms_stub(ledger) if app == "sms" else wa_stub(ledger))
    failing = (sms_stub if app == "sms" else wa_stub)(ledger, failure_rate=1.0)
    before = ledger.counts()

    calls = [lambda: send(failing)]
    if app == "sms":
        calls.append(lambda: failing.delivery_status(message_id=sent.message_id))
    else:
        calls.append(lambda: failing.message_status(message_id=sent.message_id))
        calls.append(lambda: failing.template_status(name="tiket_dibuat", language="id"))
    for call in calls:
        with pytest.raises(AdapterUnavailable, match="timed out"):
            call()
    assert ledger.counts() == before  # the failed send was not counted again

    fresh = MemoryLedger()
    with pytest.raises(AdapterUnavailable):
        send((sms_stub if app == "sms" else wa_stub)(fresh, failure_rate=1.0))
    assert fresh.counts() == {}
    assert fresh.configured_answer(app, sent.message_id) == {}  # nothing kept to answer


@pytest.mark.parametrize(("app", "send"), SENDS, ids=[app for app, _ in SENDS])
def test_a_lost_reply_was_sent_and_its_retry_names_the_same_message(app, send):
    ledger = MemoryLedger()
    make = sms_stub if app == "sms" else wa_stub
    lossy = make(ledger, lost_reply_rate=1.0)
    with pytest.raises(AdapterUnavailable, match="after it was applied"):
        send(lossy)

    retried = send(make(ledger))
    status = (
        make(ledger).delivery_status(message_id=retried.message_id)
        if app == "sms"
        else make(ledger).message_status(message_id=retried.message_id)
    )

    count = ledger.counts()[app, "k-1"]
    assert (count.applied, count.repeats, count.lost_replies) == (1, 1, 1)
    assert status.status in ("delivered", "read")


def test_a_ledger_out_of_reach_makes_a_send_unavailable():
    ledger = RedisLedger("redis://127.0.0.1:1/0", "test-unreachable")  # nothing listens there
    with pytest.raises(AdapterUnavailable, match="ledger unreachable"):
        sms_stub(ledger).send(**SMS, idempotency_key="k-1")
    with pytest.raises(AdapterUnavailable, match="ledger unreachable"):
        ledger.configure_answer("sms", "SMS000000000001", to=NUMBER)


# --- JSON ---------------------------------------------------------------------------------------
def test_the_answers_round_trip_through_json():
    sms = sms_stub()
    sent = sms.send(**SMS, idempotency_key="k-1")
    wa = wa_stub()
    message = wa.send_template(**WA, idempotency_key="k-1")

    assert to_jsonable(sent) == {
        "message_id": sent.message_id,
        "to": NUMBER,
        "segments": 1,
        "status": "accepted",
    }
    assert isinstance(sent, SmsAccepted)
    assert to_jsonable(sms.delivery_status(message_id=sent.message_id)) == {
        "message_id": sent.message_id,
        "status": "delivered",
        "updated_at": "2025-11-25T08:00:00+00:00",
        "error": "",
    }
    assert to_jsonable(wa.message_status(message_id=message.message_id))["status"] == "read"
    assert to_jsonable(wa.template_status(name="tiket_dibuat", language="en")) == {
        "name": "tiket_dibuat",
        "language": "en",
        "status": "approved",
    }


# --- Redis: another process for real ------------------------------------------------------------
@pytest.mark.redis
def test_a_status_in_redis_is_answered_by_a_stub_built_elsewhere(settings):
    ledger = RedisLedger(settings.REDIS_URL, f"test-messages-{uuid.uuid4().hex}")
    try:
        sms = sms_stub(ledger).send(**{**SMS, "to": "6281234567899"}, idempotency_key="k-1")
        wa = wa_stub(ledger).send_template(**WA, idempotency_key="k-1")
        other = RedisLedger(settings.REDIS_URL, ledger.prefix)  # another process's ledger

        assert sms_stub(other).delivery_status(message_id=sms.message_id).status == "failed"
        assert wa_stub(other).message_status(message_id=wa.message_id).updated_at == SENT_AT
    finally:
        ledger.clear()
    with pytest.raises(AdapterRejected, match="unknown message id"):
        sms_stub(ledger).delivery_status(message_id=sms.message_id)

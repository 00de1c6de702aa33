"""Customer messages (tickets.services.messages): templates, the moments that send them, the
customer's wishes, the outbox, receipts and gamas broadcasts.

Times are hand-computed: WIB is UTC+7, WITA UTC+8; the default quiet hours are 21:00-07:00
local time and the default rate limit is 3 messages per hour per customer.
"""

from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine

from integrations.adapters import stub_effects
from integrations.models import AdapterCall
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tickets import services
from tickets.exceptions import InvalidInput, TransitionForbidden
from tickets.models import (
    Broadcast,
    CustomerMessage,
    MessageStatus,
    MessageTemplate,
    Site,
    Ticket,
)
from tickets.services import messages

pytestmark = pytest.mark.django_db

RECEIVED_ID = (
    "Yth. {customer_name}, laporan {service_number} diterima: tiket {ticket_number}, "
    "perkiraan selesai {expected_time}."
)
RECEIVED_EN = (
    "Dear {customer_name}, report {service_number} received: ticket {ticket_number}, "
    "expected by {expected_time}."
)
# 2026-12-01 10:00 WIB: a working Tuesday morning, outside quiet hours.
MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def fresh_stub_ledger():
    """Message ids come from the rows' ids, which a rolled-back test database gives out again:
    the stubs must not remember another test's messages."""
    stub_effects().clear()


def template(event="report_received", channel="sms", text_id=RECEIVED_ID, **fields):
    return MessageTemplate.objects.create(event=event, channel=channel, text_id=text_id, **fields)


def customer(phone="0812-3456-7890", name="Budi Santoso", **fields):
    return CustomerFactory(phone=phone, name=name, **fields)


def nossa_report(person=None, **fields):
    service = ServiceFactory(customer=person or customer(), service_number="131100000001")
    return factories.arrive("nossa", service=service, **fields)


def messages_of(ticket):
    return list(CustomerMessage.objects.filter(ticket=ticket).order_by("pk"))


# --- Placeholders and templates ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Halo {customer_name}, tiket {ticket_number}", ["customer_name", "ticket_number"]),
        ("{ticket_number} {ticket_number}", ["ticket_number", "ticket_number"]),
        ("Kurung kurawal: {{ dan }}", []),
        ("Tanpa isian", []),
    ],
)
def test_placeholders_are_read_in_order(text, names):
    assert messages.placeholders_in(text) == names


@pytest.mark.parametrize(
    "text", ["{}", "{0}", "{customer.name}", "{customer[0]}", "{x!r}", "{x:>5}", "{tutup", "tutup}"]
)
def test_what_is_not_a_plain_placeholder_is_refused(text):
    with pytest.raises(ValueError):
        messages.placeholders_in(text)


def test_an_admin_saves_a_template_with_the_events_placeholders():
    admin = factories.role_user("Admin")
    saved = services.save_template(
        actor=admin, event="report_received", flow="", channel="sms", text_id=RECEIVED_ID,
        text_en=RECEIVED_EN, whatsapp_name="", active=True,
    )  # fmt: skip
    row = MessageTemplate.objects.get(pk=saved.pk)
    assert (row.text_id, row.text_en, row.updated_by) == (RECEIVED_ID, RECEIVED_EN, admin)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"text_id": "Gangguan {incident_title} di {area}"}, "text_id", "{area}, {incident_title}"),
        ({"text_id": "Tiket {ticket_number"}, "text_id", "brace"),
        ({"text_id": "Tiket {0}"}, "text_id", "not a placeholder"),
        ({"text_id": ""}, "text_id", "required"),
        ({"text_en": "Ticket {nomor}"}, "text_en", "{nomor}"),
        ({"event": "birthday"}, "event", "Choose an event"),
        ({"channel": "fax"}, "channel", "SMS or WhatsApp"),
        ({"flow": "billing"}, "flow", "Choose a flow"),
        # Seven GSM-7 parts of 153 characters: one more than the gateway sends.
        ({"text_id": "a" * (6 * 153 + 1)}, "text_id", "at most 6 SMS parts"),
        ({"channel": "whatsapp", "whatsapp_name": ""}, "whatsapp_name", "approved template"),
        ({"channel": "whatsapp", "whatsapp_name": "Report Received"}, "whatsapp_name", "lower"),
        (
            {"channel": "whatsapp", "whatsapp_name": "t2_received",
             "text_en": "Ticket {ticket_number} for {customer_name}"},
            "text_en", "same order",
        ),
        ({"colour": "red"}, "colour", "Unknown field"),
    ],
)  # fmt: skip
def test_a_bad_template_is_refused_with_field_messages_and_nothing_saved(fields, field, words):
    admin = factories.role_user("Admin")
    values = {"event": "report_received", "flow": "", "channel": "sms", "text_id": RECEIVED_ID,
              "text_en": "", "whatsapp_name": "", "active": True, **fields}  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        services.save_template(actor=admin, **values)
    assert words in " ".join(refused.value.errors[field])
    assert not MessageTemplate.objects.exists()


def test_a_second_template_for_the_same_event_flow_and_channel_is_refused():
    admin = factories.role_user("Admin")
    template()
    with pytest.raises(InvalidInput) as refused:
        services.save_template(
            actor=admin, event="report_received", flow="", channel="sms", text_id="Lagi"
        )
    assert "already a template" in refused.value.errors["event"][0]
    assert MessageTemplate.objects.count() == 1


@pytest.mark.parametrize("role", ["Agent", "Supervisor", "Support"])
def test_only_administrators_edit_templates(role):
    with pytest.raises(TransitionForbidden):
        services.save_template(
            actor=factories.role_user(role), event="closed", channel="sms", text_id="Selesai."
        )
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize(
    ("name", "status"),
    [("t2_report_received", "approved"), ("draft_report", "pending"), ("rejected_x", "rejected")],
)
def test_a_whatsapp_templates_approval_is_asked_of_whatsapp_on_save(name, status):
    saved = services.save_template(
        actor=factories.role_user("Admin"), event="closed", channel="whatsapp",
        text_id="Tiket {ticket_number} ditutup.", whatsapp_name=name,
    )  # fmt: skip
    assert MessageTemplate.objects.get(pk=saved.pk).whatsapp_status == status


# --- A ticket's moments -----------------------------------------------------------------------
@time_machine.travel(MORNING, tick=False)
def test_a_report_is_acknowledged_in_the_customers_language_through_the_outbox(
    django_capture_on_commit_callbacks,
):
    template(text_en=RECEIVED_EN)
    with django_capture_on_commit_callbacks(execute=True):
        ticket = nossa_report()
    [message] = messages_of(ticket)
    # The SLG is 72 h after the report: 4 Dec 2026 10:00 WIB; Indonesian month abbreviations.
    assert message.text == (
        f"Yth. Budi Santoso, laporan 131100000001 diterima: tiket {ticket.number}, "
        "perkiraan selesai 4 Des 2026 10:00 WIB."
    )
    assert (message.event, message.channel, message.language) == ("report_received", "sms", "id")
    call = AdapterCall.objects.get(pk=message.call_id)
    assert (call.app, call.operation, call.status) == ("sms", "send", "succeeded")
    assert call.idempotency_key == f"t2-msg-{message.pk}"
    assert call.request == {"to": "6281234567890", "text": message.text, "sender_id": "IndiHome"}
    message.refresh_from_db()
    assert message.status == MessageStatus.SENT
    assert message.provider_id == call.response["message_id"]
    assert message.queued_at == message.sent_at == MORNING


@time_machine.travel(MORNING, tick=False)
def test_english_when_the_customer_wants_it_and_the_template_has_it():
    template(text_en=RECEIVED_EN)
    ticket = nossa_report(customer(message_language="en"))
    assert messages_of(ticket)[0].text == (
        f"Dear Budi Santoso, report 131100000001 received: ticket {ticket.number}, "
        "expected by 4 Dec 2026 10:00 WIB."
    )


@time_machine.travel(MORNING, tick=False)
def test_indonesian_when_the_template_has_no_english_text():
    template()
    [message] = messages_of(nossa_report(customer(message_language="en")))
    assert (message.language, message.text.split(",")[0]) == ("id", "Yth. Budi Santoso")


@time_machine.travel(MORNING, tick=False)
def test_a_flows_own_template_wins_over_the_every_flow_one():
    template(text_id="Umum {ticket_number}")
    template(flow="nossa", text_id="NOSSA {ticket_number}")
    ticket = nossa_report()
    assert messages_of(ticket)[0].text == f"NOSSA {ticket.number}"


@time_machine.travel(MORNING, tick=False)
def test_no_template_no_message_and_an_inactive_one_is_ignored():
    template(active=False)
    assert messages_of(nossa_report()) == []


@time_machine.travel(MORNING, tick=False)
def test_call_list_flows_send_nothing():
    template()
    ticket = factories.arrive("callback")
    assert messages_of(ticket) == []


@time_machine.travel(MORNING, tick=False)
def test_a_repeat_report_gets_the_fresh_lapul_apology():
    template(event="lapul_apology",
             text_id="Maaf, {ticket_number} menggantikan {previous_ticket_number}.")  # fmt: skip
    template()
    service = ServiceFactory(customer=customer())
    first = factories.arrive("nossa", service=service)
    factories.put_in_state(first, "closed", closed_at=MORNING - timedelta(days=2))
    repeat = factories.arrive("nossa", service=service)
    assert repeat.flow == "fresh_lapul"
    assert [m.text for m in messages_of(repeat)] == [
        f"Maaf, {repeat.number} menggantikan {first.number}."
    ]


@time_machine.travel(MORNING, tick=False)
def test_technician_sent_restored_and_closed_each_tell_the_customer_once():
    for event, text in (
        ("technician_dispatched", "Teknisi menuju {ticket_number}"),
        ("restored", "Pulih {ticket_number}"),
        ("closed", "Ditutup {ticket_number}"),
    ):
        template(event=event, text_id=text)
    scene = factories.flow_scene("nossa")
    scene.walk_to("waiting_field")
    scene.walk_to("verifying")
    scene.walk_to("closed")
    number = scene.ticket.number
    assert [(m.event, m.text) for m in messages_of(scene.ticket)] == [
        ("technician_dispatched", f"Teknisi menuju {number}"),
        ("restored", f"Pulih {number}"),
        ("closed", f"Ditutup {number}"),
    ]


@time_machine.travel(MORNING, tick=False)
def test_the_same_event_is_written_once_per_ticket():
    template(event="restored", text_id="Pulih {ticket_number}")
    ticket = nossa_report()
    person = ticket.service.customer
    first = messages.write_message(
        event="restored", customer=person, ticket=ticket, once=f"restored:t{ticket.pk}"
    )
    again = messages.write_message(
        event="restored", customer=person, ticket=ticket, once=f"restored:t{ticket.pk}"
    )
    assert first is not None and again is None
    assert CustomerMessage.objects.filter(ticket=ticket, event="restored").count() == 1


# --- The customer's wishes --------------------------------------------------------------------
@time_machine.travel(MORNING, tick=False)
def test_an_opted_out_customer_gets_nothing_and_the_row_says_why():
    template()
    [message] = messages_of(nossa_report(customer(messages_opt_out=True)))
    assert (message.status, message.reason, message.call_id) == ("skipped", "opted_out", None)
    assert not AdapterCall.objects.filter(app="sms").exists()


@time_machine.travel(MORNING, tick=False)
def test_a_landline_is_not_texted():
    template()
    [message] = messages_of(nossa_report(customer(phone="0341-551234")))
    assert (message.status, message.reason) == ("skipped", "no_mobile_number")


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("081234567890", "6281234567890"),
        ("+62 812-3456-7890", "6281234567890"),
        ("6285712345678", "6285712345678"),
        ("0341551234", ""),  # Malang landline
        ("0812345", ""),  # too short
        ("", ""),
    ],
)
def test_mobile_numbers_in_the_gateways_form(phone, expected):
    assert messages.msisdn(phone) == expected


@pytest.mark.parametrize(
    ("at", "until"),
    [
        # 21:00 WIB sharp is quiet; it ends at 07:00 WIB the next morning (00:00 UTC).
        (datetime(2026, 12, 1, 14, 0, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        # 20:59 WIB is not.
        (datetime(2026, 12, 1, 13, 59, tzinfo=UTC), None),
        # 06:30 WIB, still quiet: until 07:00 the same morning.
        (datetime(2026, 12, 1, 23, 30, tzinfo=UTC), datetime(2026, 12, 2, 0, 0, tzinfo=UTC)),
        # 07:00 WIB: over.
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), None),
    ],
)
def test_default_quiet_hours_in_wib(at, until):
    from zoneinfo import ZoneInfo

    assert messages.quiet_until(customer(), at, ZoneInfo("Asia/Jakarta")) == until


def test_quiet_hours_follow_the_sites_time_zone(settings):
    """13:30 UTC is 20:30 in Jakarta (not quiet) but 21:30 in Makassar (quiet until 07:00 WITA,
    23:00 UTC)."""
    from zoneinfo import ZoneInfo

    at = datetime(2026, 12, 1, 13, 30, tzinfo=UTC)
    person = customer()
    assert messages.quiet_until(person, at, ZoneInfo("Asia/Jakarta")) is None
    assert messages.quiet_until(person, at, ZoneInfo("Asia/Makassar")) == datetime(
        2026, 12, 1, 23, 0, tzinfo=UTC
    )


def test_a_customers_own_quiet_hours_win_and_none_disables_the_default(settings):
    from zoneinfo import ZoneInfo

    jakarta = ZoneInfo("Asia/Jakarta")
    lunch = customer(quiet_from=time(12, 0), quiet_until=time(13, 0))
    at = datetime(2026, 12, 1, 5, 30, tzinfo=UTC)  # 12:30 WIB
    assert messages.quiet_until(lunch, at, jakarta) == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    night = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)  # 22:00 WIB: not in the customer's hours
    assert messages.quiet_until(lunch, night, jakarta) is None
    settings.TIER2_MESSAGE_QUIET_HOURS = ""
    assert messages.quiet_until(customer(phone="0812"), night, jakarta) is None


def test_a_message_in_quiet_hours_is_held_then_released_by_the_sweep(
    django_capture_on_commit_callbacks,
):
    template()
    late = datetime(2026, 12, 1, 14, 30, tzinfo=UTC)  # 21:30 WIB
    with time_machine.travel(late, tick=False):
        ticket = nossa_report()
    [message] = messages_of(ticket)
    assert (message.status, message.reason) == ("held", "quiet_hours")
    assert message.not_before == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)  # 07:00 WIB
    assert services.release_held(now=datetime(2026, 12, 1, 23, 59, tzinfo=UTC)) == 0
    with (
        time_machine.travel(datetime(2026, 12, 2, 0, 0, tzinfo=UTC), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.release_held() == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.queued_at == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


def test_a_held_message_of_a_customer_who_opts_out_meanwhile_is_not_sent():
    template()
    with time_machine.travel(datetime(2026, 12, 1, 14, 30, tzinfo=UTC), tick=False):
        ticket = nossa_report()
    person = ticket.service.customer
    services.set_message_preferences(
        customer_id=person.pk, actor=factories.role_user("Supervisor"), messages_opt_out=True
    )
    assert services.release_held(now=datetime(2026, 12, 2, 0, 0, tzinfo=UTC)) == 0
    assert messages_of(ticket)[0].status == "skipped"
    assert not AdapterCall.objects.filter(app="sms").exists()


def test_the_rate_limit_holds_the_fourth_message_within_an_hour():
    """3 per hour: messages queued at 10:00, 10:10 and 10:20 WIB; the fourth at 10:30 waits
    until the first leaves the hour, 11:00 WIB (04:00 UTC)."""
    template(event="closed", text_id="Ditutup {ticket_number}")
    person = customer()
    tickets = [factories.arrive("nossa", service=ServiceFactory(customer=person)) for _ in range(4)]
    for minutes, ticket in zip((0, 10, 20, 30), tickets, strict=True):
        with time_machine.travel(MORNING + timedelta(minutes=minutes), tick=False):
            messages.write_message(
                event="closed", customer=person, ticket=ticket, once=f"closed:t{ticket.pk}"
            )
    rows = list(CustomerMessage.objects.filter(customer=person).order_by("pk"))
    assert [row.status for row in rows] == ["queued", "queued", "queued", "held"]
    assert rows[3].reason == "rate_limit"
    assert rows[3].not_before == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@time_machine.travel(MORNING, tick=False)
def test_whatsapp_for_a_customer_who_prefers_it_with_the_placeholders_as_parameters():
    template(channel="whatsapp", whatsapp_name="t2_received", whatsapp_status="approved",
             text_id="Tiket {ticket_number} untuk {customer_name}.")  # fmt: skip
    template()
    ticket = nossa_report(customer(message_channel="whatsapp"))
    [message] = messages_of(ticket)
    call = AdapterCall.objects.get(pk=message.call_id)
    assert (call.app, call.operation) == ("whatsapp", "send_template")
    assert call.request == {
        "to": "6281234567890", "name": "t2_received", "language": "id",
        "parameters": [ticket.number, "Budi Santoso"],
    }  # fmt: skip


@time_machine.travel(MORNING, tick=False)
def test_sms_when_the_whatsapp_template_is_not_approved():
    template(channel="whatsapp", whatsapp_name="draft_received", whatsapp_status="pending",
             text_id="Tiket {ticket_number}.")  # fmt: skip
    template()
    [message] = messages_of(nossa_report(customer(message_channel="whatsapp")))
    assert message.channel == "sms"


@time_machine.travel(MORNING, tick=False)
def test_a_send_whatsapp_refuses_ends_as_failed_with_its_reason(django_capture_on_commit_callbacks):
    """The row says approved, WhatsApp says pending: the send is refused for good."""
    template(channel="whatsapp", whatsapp_name="draft_received", whatsapp_status="approved",
             text_id="Tiket {ticket_number}.")  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        ticket = nossa_report(customer(message_channel="whatsapp"))
    [message] = messages_of(ticket)
    assert message.status == "failed"
    assert "not approved" in message.reason


# --- Receipts ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("channel", "phone", "final"),
    [
        ("sms", "081234567890", "delivered"),
        ("sms", "081234567899", "failed"),  # the stub's absent subscriber
        ("whatsapp", "081234567890", "read"),  # even last digit
        ("whatsapp", "081234567891", "delivered"),  # odd
        ("whatsapp", "081234567899", "failed"),
    ],
)
def test_receipts_come_back_and_are_recorded(
    channel, phone, final, django_capture_on_commit_callbacks
):
    template(channel=channel, whatsapp_name="t2_received" if channel == "whatsapp" else "",
             whatsapp_status="approved" if channel == "whatsapp" else "",
             text_id="Tiket {ticket_number}.")  # fmt: skip
    with (
        time_machine.travel(MORNING, tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        ticket = nossa_report(customer(phone=phone, message_channel=channel))
    later = MORNING + timedelta(minutes=5)
    with time_machine.travel(later, tick=False):
        assert services.poll_receipts() == 1
        assert services.poll_receipts() == 0  # nothing new the second time
    message = messages_of(ticket)[0]
    assert message.status == final
    stamp = {"delivered": "delivered_at", "read": "read_at", "failed": "failed_at"}[final]
    assert getattr(message, stamp) == later


def test_a_late_receipt_never_moves_a_message_back():
    template()
    with time_machine.travel(MORNING, tick=False):
        ticket = nossa_report()
    message = messages_of(ticket)[0]
    CustomerMessage.objects.filter(pk=message.pk).update(status="sent", sent_at=MORNING)
    assert services.record_receipt(message_id=message.pk, status="read") == 1
    assert services.record_receipt(message_id=message.pk, status="delivered") == 0
    assert services.record_receipt(message_id=message.pk, status="failed", error="late") == 1
    assert services.record_receipt(message_id=message.pk, status="read") == 0
    assert CustomerMessage.objects.get(pk=message.pk).status == "failed"


# --- The customer's wishes, set ---------------------------------------------------------------
def test_preferences_are_set_by_who_may_see_the_customer():
    ticket = nossa_report()
    person = ticket.service.customer
    saved = services.set_message_preferences(
        customer_id=person.pk, actor=factories.role_user("Supervisor"),
        message_channel="whatsapp", message_language="en",
        quiet_from=time(22, 0), quiet_until=time(6, 0),
    )  # fmt: skip
    assert (saved.message_channel, saved.message_language, saved.quiet_from, saved.quiet_until) == (
        "whatsapp", "en", time(22, 0), time(6, 0)
    )  # fmt: skip


@pytest.mark.parametrize(
    ("wishes", "field"),
    [
        ({"messages_opt_out": "yes"}, "messages_opt_out"),
        ({"message_channel": "fax"}, "message_channel"),
        ({"message_language": "jv"}, "message_language"),
        ({"quiet_from": "22:00", "quiet_until": time(6)}, "quiet_from"),
        ({"quiet_from": time(22)}, "quiet_until"),
        ({"quiet_from": time(22), "quiet_until": time(22)}, "quiet_until"),
        ({"phone": "0812"}, "phone"),
    ],
)
def test_bad_preferences_are_refused_and_nothing_changes(wishes, field):
    ticket = nossa_report()
    person = ticket.service.customer
    with pytest.raises(InvalidInput) as refused:
        services.set_message_preferences(
            customer_id=person.pk, actor=factories.role_user("Supervisor"), **wishes
        )
    assert field in refused.value.errors
    person.refresh_from_db()
    assert (person.message_channel, person.quiet_from, person.messages_opt_out) == (
        "sms", None, False
    )  # fmt: skip


def test_an_agent_of_another_site_may_not_set_a_customers_preferences():
    ticket = nossa_report()
    stranger = factories.agent(site_code="MLG", flows=("ideas",))
    with pytest.raises(TransitionForbidden):
        services.set_message_preferences(
            customer_id=ticket.service.customer.pk, actor=stranger, messages_opt_out=True
        )


# --- Gamas broadcasts -------------------------------------------------------------------------
def gamas_with_reports(customers_reports: list[int]):
    """An open incident and, per customer, that many IVR Gamas reports linked to it."""
    incident = factories.open_gamas()
    for count in customers_reports:
        person = customer(phone=f"08129{CustomerMessage.objects.count():07d}")
        for _ in range(count):
            service = ServiceFactory(customer=person, odp=incident.area_code)
            factories.arrive("gamas", service=service)
    return incident


@time_machine.travel(MORNING, tick=False)
def test_a_broadcast_informs_each_customer_once_in_batches_with_progress():
    template(event="gamas_opened", text_id="Gangguan {incident_number} di {area}.")
    incident = gamas_with_reports([2, 1, 3, 1, 1])  # 8 reports, 5 customers
    supervisor = factories.role_user("Supervisor")
    broadcast, created = services.start_broadcast(incident_id=incident.pk, actor=supervisor)
    assert (broadcast.event, broadcast.total, broadcast.done, created) == (
        "gamas_opened",
        5,
        0,
        True,
    )
    progress = []
    while handled := services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=2):
        broadcast.refresh_from_db()
        progress.append((handled, broadcast.done, broadcast.finished_at is not None))
    assert progress == [(2, 2, False), (2, 4, False), (1, 5, True)]
    rows = CustomerMessage.objects.filter(incident=incident)
    assert rows.count() == 5
    assert set(rows.values_list("text", flat=True)) == {
        f"Gangguan {incident.number} di ODP {incident.area_code}."
    }
    # Started again: the same broadcast, nobody told twice.
    assert services.start_broadcast(incident_id=incident.pk, actor=supervisor) == (broadcast, False)
    assert services.broadcast_batch(broadcast_id=broadcast.pk) == 0
    assert Broadcast.objects.count() == 1 and rows.count() == 5


@time_machine.travel(MORNING, tick=False)
def test_a_report_linked_after_the_broadcast_is_told_too():
    template(event="gamas_opened", text_id="Gangguan {incident_number}.")
    incident = gamas_with_reports([1])
    broadcast, _created = services.start_broadcast(
        incident_id=incident.pk, actor=factories.role_user("Support")
    )
    services.broadcast_batch(broadcast_id=broadcast.pk)
    late = customer(phone="081277777777")
    factories.arrive("gamas", service=ServiceFactory(customer=late, odp=incident.area_code))
    assert CustomerMessage.objects.filter(incident=incident, customer=late).count() == 1


@time_machine.travel(MORNING, tick=False)
def test_recovery_is_a_broadcast_of_its_own_and_a_closed_incident_is_refused():
    template(event="gamas_recovered", text_id="Pulih {incident_number}.")
    incident = gamas_with_reports([1, 1])
    supervisor = factories.role_user("Supervisor")
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    broadcast, _created = services.start_broadcast(incident_id=incident.pk, actor=supervisor)
    assert broadcast.event == "gamas_recovered"
    closed = factories.incident_in_state("closed")
    with pytest.raises(InvalidInput):
        services.start_broadcast(incident_id=closed.pk, actor=supervisor)


def test_no_broadcast_without_a_template_to_carry_it():
    """Made then, it would finish informing nobody, and could never be made again."""
    incident = gamas_with_reports([1])
    template(event="gamas_opened", text_id="Gangguan.", active=False)
    with pytest.raises(InvalidInput) as refused:
        services.start_broadcast(incident_id=incident.pk, actor=factories.role_user("Support"))
    assert "No active message template" in refused.value.errors["incident"][0]
    assert not Broadcast.objects.exists()


@time_machine.travel(MORNING, tick=False)
def test_a_customer_linked_through_a_nossa_ticket_gets_the_gamas_template():
    """The incident's message is the IVR Gamas flow's, whatever flow the report is in: a NOSSA
    ticket linked to the outage does not stop the broadcast for the others."""
    template(event="gamas_opened", flow="gamas", text_id="Gangguan {incident_number}.")
    incident = gamas_with_reports([1, 1])
    nossa = factories.arrive(
        "nossa", service=ServiceFactory(customer=customer(phone="081200000007"))
    )
    Ticket.objects.filter(pk=nossa.pk).update(gamas_incident=incident)
    broadcast, _created = services.start_broadcast(
        incident_id=incident.pk, actor=factories.role_user("Support")
    )
    while services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=1):
        pass
    broadcast.refresh_from_db()
    assert (broadcast.done, broadcast.total) == (3, 3)


def test_agents_may_not_broadcast():
    incident = gamas_with_reports([1])
    with pytest.raises(TransitionForbidden):
        services.start_broadcast(incident_id=incident.pk, actor=factories.agent())
    assert not Broadcast.objects.exists()


def test_sites_have_a_calendar_in_wib_by_default():
    """The quiet-hours tests above assume the sites' default calendar is in WIB."""
    assert {site.calendar.time_zone for site in Site.objects.select_related("calendar")} == {
        "Asia/Jakarta"
    }


@time_machine.travel(MORNING, tick=False)
def test_a_change_that_rolls_back_sends_nothing(django_capture_on_commit_callbacks):
    from django.db import transaction

    template()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        nossa_report()
        raise RuntimeError("the change fails after its message was written")
    assert not CustomerMessage.objects.exists()
    assert not AdapterCall.objects.filter(app="sms").exists()
    assert not [key for key in stub_effects().counts() if key[0] == "sms"]


def test_the_sweep_resumes_only_a_broadcast_that_stopped_moving():
    template(event="gamas_opened", text_id="Gangguan {incident_number}.")
    incident = gamas_with_reports([1, 1, 1])
    with time_machine.travel(MORNING, tick=False):
        broadcast, _created = services.start_broadcast(
            incident_id=incident.pk, actor=factories.role_user("Supervisor")
        )
    # Started at 10:00 WIB, no batch yet: left alone for a minute, then resumed.
    assert services.unfinished_broadcasts(now=MORNING + timedelta(seconds=59)) == []
    assert services.unfinished_broadcasts(now=MORNING + timedelta(seconds=61)) == [broadcast.pk]
    with time_machine.travel(MORNING + timedelta(minutes=5), tick=False):
        services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=2)
    at = MORNING + timedelta(minutes=5)
    assert services.unfinished_broadcasts(now=at + timedelta(seconds=30)) == []
    assert services.unfinished_broadcasts(now=at + timedelta(seconds=61)) == [broadcast.pk]
    with time_machine.travel(at + timedelta(minutes=2), tick=False):
        services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=2)
    assert services.unfinished_broadcasts(now=at + timedelta(hours=1)) == []  # finished


def test_a_gateways_to_number_is_masked_like_every_phone_number():
    from tickets import roles

    request = {"to": "6281234567890", "text": "Tiket", "sender_id": "IndiHome"}
    assert roles.mask_phones_in(request) == {
        "to": "6281*****7890",
        "text": "Tiket",
        "sender_id": "IndiHome",
    }

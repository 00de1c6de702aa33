"""Customer messages in the console: the admins' message templates, a message on the ticket's
timeline, the customer's wishes in the workspace's customer card, and an incident's "Inform
customers" with its broadcasts' progress.

Times are hand-computed: WIB is UTC+7 (the Pusat site's calendar); the default quiet hours are
21:00-07:00 WIB.
"""

import re
from datetime import UTC, datetime, time

import pytest
import time_machine

from integrations.adapters import stub_effects
from tests import factories
from tests.console.conftest import nossa_ticket, taken
from tests.factories import CustomerFactory, ServiceFactory
from tickets import services
from tickets.models import (
    AgentProfile,
    Broadcast,
    Customer,
    CustomerMessage,
    MessageTemplate,
)

pytestmark = pytest.mark.django_db

RECEIVED = "Yth. {customer_name}, laporan {service_number} diterima: tiket {ticket_number}."
# 2026-12-01 10:00 WIB: a Tuesday morning, outside quiet hours.
MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
TEMPLATES = "/supervisor/message-templates/"


@pytest.fixture(autouse=True)
def fresh_stub_ledger():
    """The stubs' message ids come from row ids, which a rolled-back database gives out again."""
    stub_effects().clear()


@pytest.fixture
def admin(db):
    return factories.user("Admin", username="admin.satu")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


def login(client, user):
    client.force_login(user)
    return client


def template(event="report_received", channel="sms", text_id=RECEIVED, **fields):
    return MessageTemplate.objects.create(event=event, channel=channel, text_id=text_id, **fields)


def form_data(**fields):
    data = {"event": "report_received", "flow": "", "channel": "sms", "text_id": RECEIVED,
            "text_en": "", "whatsapp_name": "", "active": "on"}  # fmt: skip
    data.update(fields)
    return {name: value for name, value in data.items() if value is not None}


def errors_beside(html: str) -> dict[str, list[str]]:
    """The errors the template form shows inside each field's block."""
    found = {}
    for block in html.split('<div class="field')[1:]:
        name = re.search(r'data-field="(\w+)"', block)
        errors = re.findall(r'<p class="field-error" role="alert"[^>]*>(.*?)</p>', block)
        if name and errors:
            found[name.group(1)] = errors
    return found


# --- Message templates: who opens them --------------------------------------------------------
@pytest.mark.parametrize("role", ["Agent", "Supervisor", "Support"])
def test_only_admins_open_or_post_the_template_pages(client, role):
    existing = template()
    login(client, factories.role_user(role))
    for address in (TEMPLATES, f"{TEMPLATES}new/", f"{TEMPLATES}{existing.pk}/"):
        response = client.get(address)
        assert response.status_code == 403, address
        assert "Only admins edit the message templates." in response.content.decode()
    posted = client.post(f"{TEMPLATES}new/", form_data(event="closed"))
    assert posted.status_code == 403
    changed = client.post(f"{TEMPLATES}{existing.pk}/", form_data(text_id="Diubah"))
    assert changed.status_code == 403
    assert list(MessageTemplate.objects.values_list("event", "text_id")) == [
        ("report_received", RECEIVED)
    ]


def test_anonymous_users_are_sent_to_log_in(client):
    response = client.get(TEMPLATES)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_list_shows_each_template_with_whatsapps_approval(admin_client):
    template()
    template(channel="whatsapp", whatsapp_name="t2_received", whatsapp_status="approved")
    template(event="closed", channel="whatsapp", text_id="Tiket {ticket_number} ditutup.",
             whatsapp_name="draft_closed", whatsapp_status="pending")  # fmt: skip
    template(event="restored", channel="whatsapp", text_id="Pulih.", active=False,
             whatsapp_name="rejected_restored", whatsapp_status="rejected")  # fmt: skip
    html = admin_client.get(TEMPLATES).content.decode()
    rows = re.findall(r'<tr data-template="\d+" data-event="(\w+)" data-channel="(\w+)".*?</tr>',
                      html, flags=re.S)  # fmt: skip
    assert rows == [  # in the order of the events, then flow and channel
        ("report_received", "sms"),
        ("report_received", "whatsapp"),
        ("restored", "whatsapp"),
        ("closed", "whatsapp"),
    ]
    approvals = dict(re.findall(r'data-approval="(\w*)"><span class="\w+">(.*?)</span>', html))
    assert approvals == {
        "": "not needed (SMS)",
        "approved": "✓ Approved",
        "pending": "⚠ Waiting for WhatsApp&#x27;s approval",
        "rejected": "✗ Rejected by WhatsApp",
    }
    assert 'class="is-inactive"' in html and "inactive" in html


def test_the_sla_policies_page_links_to_the_templates(admin_client):
    html = admin_client.get("/sla-policies/").content.decode()
    assert f'href="{TEMPLATES}"' in html


# --- Message templates: the form --------------------------------------------------------------
def test_an_unknown_placeholder_is_shown_beside_its_field_and_nothing_is_saved(admin_client):
    response = admin_client.post(
        f"{TEMPLATES}new/", form_data(text_id="Halo {nama}, tiket {ticket_number}.")
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert errors_beside(html) == {
        "text_id": [
            "Unknown placeholder {nama}. This event offers: {customer_name}, {ticket_number}, "
            "{service_number}, {expected_time}."
        ]
    }
    assert "Nothing was saved." in html
    assert "Halo {nama}, tiket {ticket_number}." in html  # what was typed stays in the field
    assert not MessageTemplate.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"text_en": "Ticket {ticket_number"}, "text_en", "brace"),
        ({"text_id": ""}, "text_id", "The Indonesian text is required."),
        ({"event": ""}, "event", "Choose an event."),
        ({"channel": "whatsapp", "whatsapp_name": "Nama Besar"}, "whatsapp_name", "lower-case"),
        # Seven GSM-7 parts of 153 characters: one more than the gateway's six.
        ({"text_id": "a" * (6 * 153 + 1)}, "text_id", "at most 6 SMS parts"),
    ],
)
def test_the_services_refusals_land_beside_their_fields(admin_client, fields, field, words):
    response = admin_client.post(f"{TEMPLATES}new/", form_data(**fields))
    assert response.status_code == 422
    shown = errors_beside(response.content.decode())
    assert list(shown) == [field] and words in " ".join(shown[field])
    assert not MessageTemplate.objects.exists()


def test_a_new_template_is_saved_and_listed(admin_client, admin):
    response = admin_client.post(
        f"{TEMPLATES}new/",
        form_data(
            event="gamas_opened", flow="gamas", text_id="Gangguan di {area}: {incident_title}."
        ),
    )
    assert response.status_code == 302 and response["Location"] == TEMPLATES
    saved = MessageTemplate.objects.get()
    assert (saved.event, saved.flow, saved.channel, saved.active, saved.updated_by) == (
        "gamas_opened", "gamas", "sms", True, admin
    )  # fmt: skip
    html = admin_client.get(TEMPLATES).content.decode()
    assert "Message template saved" in html and "Gangguan di {area}: {incident_title}." in html


def test_an_edit_is_saved_and_asks_whatsapp_again(admin_client, admin):
    existing = template(
        channel="whatsapp", whatsapp_name="draft_received", whatsapp_status="pending"
    )
    form = admin_client.get(f"{TEMPLATES}{existing.pk}/").content.decode()
    assert 'value="draft_received"' in form and RECEIVED in form
    response = admin_client.post(
        f"{TEMPLATES}{existing.pk}/",
        form_data(channel="whatsapp", whatsapp_name="t2_received", active=None,
                  text_id="Tiket {ticket_number} diterima."),
    )  # fmt: skip
    assert response.status_code == 302
    existing.refresh_from_db()
    assert (existing.text_id, existing.whatsapp_name, existing.whatsapp_status) == (
        "Tiket {ticket_number} diterima.", "t2_received", "approved"
    )  # fmt: skip
    assert (existing.active, existing.updated_by) == (False, admin)
    assert MessageTemplate.objects.count() == 1


def test_a_second_template_for_the_same_event_flow_and_channel_is_refused(admin_client):
    template()
    response = admin_client.post(f"{TEMPLATES}new/", form_data(text_id="Lagi."))
    assert response.status_code == 422
    assert "already a template" in errors_beside(response.content.decode())["event"][0]
    assert MessageTemplate.objects.count() == 1


def test_every_events_placeholders_are_on_the_form_and_the_chosen_ones_shown(admin_client):
    existing = template(event="gamas_recovered", text_id="Pulih: {incident_number}.")
    html = admin_client.get(f"{TEMPLATES}{existing.pk}/").content.decode()
    lists = dict(re.findall(r'data-placeholders-for="(\w+)"( hidden)?>', html))
    assert set(lists) == {
        "report_received", "technician_dispatched", "restored", "closed", "lapul_apology",
        "gamas_opened", "gamas_recovered",
    }  # fmt: skip
    assert [event for event, hidden in lists.items() if not hidden] == ["gamas_recovered"]
    shown = html.split('data-placeholders-for="gamas_recovered"')[1].split("</ul>")[0]
    assert re.findall(r"<code>(.*?)</code>", shown) == [
        "{customer_name}", "{service_number}", "{incident_number}", "{incident_title}", "{area}"
    ]  # fmt: skip
    # A new template has no event yet: every list is shown (the script hides all but one).
    blank = admin_client.get(f"{TEMPLATES}new/").content.decode()
    assert re.findall(r'data-placeholders-for="\w+"( hidden)?>', blank) == [""] * 7
    assert 'src="/static/js/message_templates.js"' in blank


# --- The timeline -----------------------------------------------------------------------------
def message(ticket, status, *, created, once, **fields):
    customer = ticket.service.customer
    fields.setdefault("text", "Yth. pelanggan, laporan diterima.")
    return CustomerMessage.objects.create(
        customer=customer, ticket=ticket, event=fields.pop("event", "report_received"),
        channel=fields.pop("channel", "sms"), language="id", status=status, once=once,
        created_at=created, **fields,
    )  # fmt: skip


def timeline_items(html: str) -> list[str]:
    section = html.split('id="ws-timeline"')[1].split("</section>")[0]
    return re.findall(r'<li class="tl-message[^"]*">(.*?)</li>', section, re.S)


def text_of(fragment: str) -> str:
    """The words a screen reader says (marks hidden from it left out)."""
    heard = re.sub(r'<span aria-hidden="true">.*?</span>', "", fragment)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", heard)).strip()


@pytest.fixture
def supervisor_client(client, supervisor):
    return login(client, supervisor)


def test_the_timeline_says_each_messages_status_its_times_and_why(supervisor_client):
    ticket = nossa_ticket()
    at = lambda day, hour, minute=0: datetime(2026, 12, day, hour, minute, tzinfo=UTC)  # noqa: E731
    # Each row's times in UTC; the page writes them in WIB (UTC+7).
    message(ticket, "queued", created=at(1, 3), once="a", queued_at=at(1, 3))
    message(ticket, "sent", created=at(1, 3, 1), once="b", queued_at=at(1, 3, 1),
            sent_at=at(1, 3, 2))  # fmt: skip
    message(ticket, "delivered", created=at(1, 3, 3), once="c", queued_at=at(1, 3, 3),
            sent_at=at(1, 3, 3), delivered_at=at(1, 3, 4))  # fmt: skip
    message(ticket, "read", created=at(1, 3, 5), once="d", channel="whatsapp",
            queued_at=at(1, 3, 5), sent_at=at(1, 3, 5), delivered_at=at(1, 3, 6),
            read_at=at(1, 3, 9))  # fmt: skip
    message(ticket, "failed", created=at(1, 3, 10), once="e", queued_at=at(1, 3, 10),
            failed_at=at(1, 3, 12), reason="number not reachable")  # fmt: skip
    # Written at 22:00 WIB: quiet until 07:00 WIB the next morning (00:00 UTC on the 2nd).
    message(ticket, "held", created=at(1, 15), once="f", reason="quiet_hours",
            not_before=at(2, 0))  # fmt: skip
    # Written at 10:20 WIB past the rate limit: held until 11:05 WIB the same day.
    message(ticket, "held", created=at(1, 3, 20), once="g", reason="rate_limit",
            not_before=at(1, 4, 5))  # fmt: skip
    message(ticket, "skipped", created=at(1, 3, 30), once="h", reason="opted_out")
    message(ticket, "skipped", created=at(1, 3, 31), once="i", reason="no_mobile_number")

    items = [text_of(item) for item in timeline_items(supervisor_client.get(
        f"/tickets/{ticket.pk}/").content.decode())]  # fmt: skip

    assert items == [  # newest first, as the timeline lists
        "01 Dec 22:00:00 · to the customer SMS · Report received Held "
        "Held until 2 Dec 07:00 WIB (quiet hours). Yth. pelanggan, laporan diterima.",
        "01 Dec 10:31:00 · to the customer SMS · Report received Not sent "
        "Not sent: the customer has no mobile number to send to. "
        "Yth. pelanggan, laporan diterima.",
        "01 Dec 10:30:00 · to the customer SMS · Report received Not sent "
        "Not sent: the customer asked for no messages. Yth. pelanggan, laporan diterima.",
        "01 Dec 10:20:00 · to the customer SMS · Report received Held "
        "Held until 11:05 WIB (the customer has had as many messages as they may get for now). "
        "Yth. pelanggan, laporan diterima.",
        "01 Dec 10:10:00 · to the customer SMS · Report received Failed "
        "Failed: number not reachable Queued 01 Dec 10:10:00 · Failed 01 Dec 10:12:00 "
        "Yth. pelanggan, laporan diterima.",
        "01 Dec 10:05:00 · to the customer WhatsApp · Report received Read "
        "Queued 01 Dec 10:05:00 · Sent 01 Dec 10:05:00 · Delivered 01 Dec 10:06:00 · "
        "Read 01 Dec 10:09:00 Yth. pelanggan, laporan diterima.",
        "01 Dec 10:03:00 · to the customer SMS · Report received Delivered "
        "Queued 01 Dec 10:03:00 · Sent 01 Dec 10:03:00 · Delivered 01 Dec 10:04:00 "
        "Yth. pelanggan, laporan diterima.",
        "01 Dec 10:01:00 · to the customer SMS · Report received Sent "
        "Queued 01 Dec 10:01:00 · Sent 01 Dec 10:02:00 Yth. pelanggan, laporan diterima.",
        "01 Dec 10:00:00 · to the customer SMS · Report received Queued "
        "Queued 01 Dec 10:00:00 Yth. pelanggan, laporan diterima.",
    ]


def test_a_held_messages_time_is_in_the_sites_time_zone(supervisor_client):
    ticket = nossa_ticket()
    calendar = factories.site("PST").calendar
    calendar.time_zone = "Asia/Makassar"  # WITA, UTC+8
    calendar.save()
    # Written at 22:00 WITA (14:00 UTC); quiet until 07:00 WITA the next day (23:00 UTC).
    message(ticket, "held", created=datetime(2026, 12, 1, 14, tzinfo=UTC), once="w",
            reason="quiet_hours", not_before=datetime(2026, 12, 1, 23, tzinfo=UTC))  # fmt: skip
    [item] = timeline_items(supervisor_client.get(f"/tickets/{ticket.pk}/").content.decode())
    assert "Held until 2 Dec 07:00 WITA (quiet hours)." in text_of(item)


def test_the_status_is_words_and_a_mark_not_colour_alone(supervisor_client):
    ticket = nossa_ticket()
    message(ticket, "failed", created=MORNING, once="x", failed_at=MORNING, reason="ditolak")
    [item] = timeline_items(supervisor_client.get(f"/tickets/{ticket.pk}/").content.decode())
    assert 'data-message-status="failed"><span aria-hidden="true">✗ </span>Failed</span>' in item
    assert '<blockquote class="tl-message-text" lang="id">' in item


@time_machine.travel(MORNING, tick=False)
def test_a_report_acknowledged_through_the_outbox_shows_as_sent(
    supervisor_client, django_capture_on_commit_callbacks
):
    template()
    with django_capture_on_commit_callbacks(execute=True):
        ticket = nossa_ticket(service=ServiceFactory(
            customer=CustomerFactory(name="Budi Santoso", phone="081234567890"),
            service_number="131100000001"))  # fmt: skip
    [item] = timeline_items(supervisor_client.get(f"/tickets/{ticket.pk}/").content.decode())
    assert text_of(item) == (
        "01 Dec 10:00:00 · to the customer SMS · Report received Sent "
        "Queued 01 Dec 10:00:00 · Sent 01 Dec 10:00:00 "
        f"Yth. Budi Santoso, laporan 131100000001 diterima: tiket {ticket.number}."
    )


# --- The customer's wishes --------------------------------------------------------------------
WISHES = {"wishes-message_channel": "whatsapp", "wishes-message_language": "en",
          "wishes-quiet_from": "22:00", "wishes-quiet_until": "06:30"}  # fmt: skip


def wishes_of(customer) -> tuple:
    row = Customer.objects.get(pk=customer.pk)
    return (row.messages_opt_out, row.message_channel, row.message_language, row.quiet_from,
            row.quiet_until)  # fmt: skip


def test_the_customer_card_shows_the_wishes_and_the_form_to_who_may_record_them(
    client, agent, other_agent, support_user
):
    ticket = taken(nossa_ticket(), agent)
    html = login(client, agent).get(f"/tickets/{ticket.pk}/").content.decode()
    card = html.split('id="message-wishes"')[1].split("</section>")[0]
    assert '<p id="wishes-status" class="wishes-status" role="status"></p>' in card
    assert text_of(card.split('id="wishes-title">')[1].split("</dl>")[0]).startswith(
        "Messages to the customer Messages sent on ticket events Channel SMS Language Indonesian "
        "Quiet hours 21:00–07:00 (the console's)"
    )
    assert 'id="wishes-form"' in card and f'hx-post="/tickets/{ticket.pk}/message-wishes/"' in card
    # Another agent of the flow and site may work it too; Support records wishes as well.
    for user in (other_agent, support_user):
        assert (
            'id="wishes-form"' in login(client, user).get(f"/tickets/{ticket.pk}/").content.decode()
        )


def test_an_agent_records_the_customers_wishes_with_htmx(client, agent):
    ticket = taken(nossa_ticket(), agent)
    response = login(client, agent).post(
        f"/tickets/{ticket.pk}/message-wishes/", {**WISHES, "wishes-messages_opt_out": "on"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.content.decode()
    # The card's body is swapped; what happened is said in its live region (out of band).
    assert html.startswith('<div id="wishes-body">')
    status = html.split('<p id="wishes-status" hx-swap-oob="innerHTML">')[1].split("</p>")[0]
    assert status == '<span class="ok">The customer\'s wishes are saved.</span>'
    assert "none: the customer asked for no messages" in html and "22:00–06:30" in html
    assert wishes_of(ticket.service.customer) == (True, "whatsapp", "en", time(22), time(6, 30))


def test_wishes_without_htmx_go_back_to_the_workspace(client, supervisor):
    ticket = nossa_ticket()
    response = login(client, supervisor).post(f"/tickets/{ticket.pk}/message-wishes/", WISHES)
    assert response.status_code == 302 and response["Location"] == f"/tickets/{ticket.pk}/"
    assert wishes_of(ticket.service.customer) == (False, "whatsapp", "en", time(22), time(6, 30))


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        (
            {"wishes-quiet_until": ""},
            "quiet_until",
            "Give both ends of the quiet hours, or neither.",
        ),
        ({"wishes-quiet_until": "22:00"}, "quiet_until", "cannot start and end at the same time"),
        ({"wishes-quiet_from": "25:00"}, "quiet_from", "Enter a valid time."),
        ({"wishes-message_channel": "fax"}, "message_channel", "Select a valid choice."),
    ],
)
def test_bad_wishes_are_form_errors_and_nothing_changes(client, agent, changes, field, words):
    ticket = taken(nossa_ticket(), agent)
    before = wishes_of(ticket.service.customer)
    url = f"/tickets/{ticket.pk}/message-wishes/"
    htmx = login(client, agent).post(url, {**WISHES, **changes}, headers={"HX-Request": "true"})
    assert htmx.status_code == 200  # htmx swaps the card with its errors
    card = htmx.content.decode()
    block = card.split(f'name="wishes-{field}"')[-1].split('<div class="field')[0]
    assert words in block and 'class="field-error" role="alert"' in block
    assert '<details class="wishes-edit" open>' in card
    plain = client.post(url, {**WISHES, **changes})
    assert plain.status_code == 422 and words in plain.content.decode()
    assert wishes_of(ticket.service.customer) == before


def test_a_user_the_service_refuses_gets_403_and_nothing_changes(client, agent):
    ticket = taken(nossa_ticket(), agent)
    # The agent still holds the ticket (so opens it) but no longer works its flow.
    AgentProfile.objects.filter(user=agent).update(flows=["callback"])
    before = wishes_of(ticket.service.customer)
    html = login(client, agent).get(f"/tickets/{ticket.pk}/").content.decode()
    assert 'id="message-wishes"' in html and 'id="wishes-form"' not in html
    response = client.post(f"/tickets/{ticket.pk}/message-wishes/", WISHES)
    assert response.status_code == 403
    assert wishes_of(ticket.service.customer) == before


def test_an_agent_of_another_site_gets_403(client):
    ticket = nossa_ticket()
    stranger = factories.agent(site_code="MLG", flows=("nossa",), username="agent.malang")
    response = login(client, stranger).post(f"/tickets/{ticket.pk}/message-wishes/", WISHES)
    assert response.status_code == 403
    assert wishes_of(ticket.service.customer)[1] == "sms"


# --- Gamas broadcasts -------------------------------------------------------------------------
def incident_with_customers(reports_per_customer, *, supervisor):
    incident = factories.open_gamas(actor=supervisor)
    for number, count in enumerate(reports_per_customer):
        person = CustomerFactory(phone=f"0812990000{number:02d}")
        for _ in range(count):
            factories.arrive(
                "gamas", service=ServiceFactory(customer=person, odp=incident.area_code)
            )
    return incident


def broadcast_lines(html: str) -> list[tuple[str, str, str, str]]:
    return re.findall(
        r'data-broadcast="(\w+)" data-broadcast-done="(\d+)" data-broadcast-total="(\d+)" '
        r'data-broadcast-finished="(\w+)"',
        html,
    )


@time_machine.travel(MORNING, tick=False)
def test_inform_customers_then_the_progress_in_the_live_part(supervisor_client, supervisor):
    template(event="gamas_opened", text_id="Gangguan {incident_number} di {area}.")
    incident = incident_with_customers([2, 1, 1], supervisor=supervisor)  # 4 reports, 3 people
    page = f"/incidents/{incident.pk}/"
    html = supervisor_client.get(page).content.decode()
    progress_part = html.split('id="incident-progress"')[1].split("</section>")[0]
    assert (
        f'data-live-part="incident:{incident.pk}"' in html.split('id="incident-progress"')[1][:80]
    )
    assert 'id="inform-customers"' in progress_part
    assert "gets one message about the outage" in progress_part

    response = supervisor_client.post(f"{page}inform/")
    assert response.status_code == 302 and response["Location"] == page
    broadcast = Broadcast.objects.get()
    assert (broadcast.event, broadcast.total, broadcast.done) == ("gamas_opened", 3, 0)

    html = supervisor_client.get(page).content.decode()
    assert "Outage announced: the 3 customers of this incident are being informed." in html
    assert broadcast_lines(html) == [("gamas_opened", "0", "3", "false")]
    assert 'id="inform-customers"' not in html  # once per event
    services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=2)
    html = supervisor_client.get(page).content.decode()
    assert broadcast_lines(html) == [("gamas_opened", "2", "3", "false")]
    line = text_of(html.split('id="broadcast-gamas_opened">')[1].split("</p>")[0])
    assert line == "Outage announced: 2 of 3 customers informed · in progress"
    assert (
        '<progress max="3" value="2" aria-labelledby="broadcast-gamas_opened">67 %</progress>'
        in html
    )
    services.broadcast_batch(broadcast_id=broadcast.pk, batch_size=2)
    html = supervisor_client.get(page).content.decode()
    assert broadcast_lines(html) == [("gamas_opened", "3", "3", "true")]
    line = text_of(html.split('id="broadcast-gamas_opened">')[1].split("</p>")[0])
    assert line == "Outage announced: 3 of 3 customers informed · finished 01 Dec 10:00"


def test_after_the_recovery_the_recovery_is_announced_separately(client, support_user, supervisor):
    template(event="gamas_opened", text_id="Gangguan {incident_number}.")
    template(event="gamas_recovered", text_id="Pulih {incident_number}.")
    incident = incident_with_customers([1, 1], supervisor=supervisor)
    login(client, support_user)
    client.post(f"/incidents/{incident.pk}/inform/")
    services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="inform-customers"' in html and "that the outage is over" in html
    client.post(f"/incidents/{incident.pk}/inform/")
    assert list(Broadcast.objects.order_by("pk").values_list("event", "total")) == [
        ("gamas_opened", 2), ("gamas_recovered", 2)
    ]  # fmt: skip
    html = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert [line[0] for line in broadcast_lines(html)] == ["gamas_opened", "gamas_recovered"]


def test_without_an_active_template_the_button_waits_for_one(supervisor_client, supervisor):
    template(event="gamas_opened", text_id="Gangguan {incident_number}.", active=False)
    # A WhatsApp template WhatsApp has not approved is not one either.
    template(event="gamas_opened", channel="whatsapp", text_id="Gangguan {incident_number}.",
             whatsapp_name="draft_gangguan", whatsapp_status="pending")  # fmt: skip
    incident = incident_with_customers([1], supervisor=supervisor)
    html = supervisor_client.get(f"/incidents/{incident.pk}/").content.decode()
    assert 'id="inform-customers"' not in html
    assert "No active message template for “Outage announced”" in html
    assert 'href="/supervisor/message-templates/"' not in html  # for admins only
    admin = factories.user("Admin", username="admin.satu")
    html = login(supervisor_client, admin).get(f"/incidents/{incident.pk}/").content.decode()
    assert 'href="/supervisor/message-templates/"' in html


def test_agents_may_not_inform_customers(client, agent, supervisor):
    template(event="gamas_opened", text_id="Gangguan {incident_number}.")
    incident = incident_with_customers([1], supervisor=supervisor)
    response = login(client, agent).post(f"/incidents/{incident.pk}/inform/")
    assert response.status_code == 403
    assert not Broadcast.objects.exists()


def test_a_closed_incidents_customers_are_not_informed(supervisor_client, supervisor):
    closed = factories.incident_in_state("closed", supervisor=supervisor)
    html = supervisor_client.get(f"/incidents/{closed.pk}/").content.decode()
    assert 'id="inform-customers"' not in html
    response = supervisor_client.post(f"/incidents/{closed.pk}/inform/", follow=True)
    assert (
        "A closed incident&#x27;s customers are not informed any more." in response.content.decode()
    )
    assert not Broadcast.objects.exists()

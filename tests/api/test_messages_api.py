"""Customer messages through the API: /api/message-templates/, /api/tickets/{id}/messages/,
/api/gamas-incidents/{id}/broadcasts/ and /api/customers/{id}/message-preferences/.

Expected values are hand-computed facts: 0812-3456-7890 is sent to 6281234567890, which an
agent not holding the ticket reads as 6281*****7890 (four characters kept at each end); the
default quiet hours are 21:00-07:00 WIB (UTC+7); an SMS takes at most 6 parts of 153 GSM-7
characters (918).
"""

from datetime import UTC, datetime

import pytest
import time_machine

from integrations.adapters import stub_effects
from tests import factories
from tests.factories import CustomerFactory, ServiceFactory
from tickets import services
from tickets.models import Broadcast, Customer, CustomerMessage, MessageTemplate

pytestmark = pytest.mark.django_db

# 2026-12-01 10:00 WIB, a Tuesday morning: outside the default quiet hours.
MORNING = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
# 2026-12-01 22:00 WIB: inside them, which end at 07:00 WIB the next day (00:00 UTC).
NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
RECEIVED = "Yth. {customer_name}, laporan {service_number} diterima: tiket {ticket_number}."
ROLES = ("Admin", "Supervisor", "Support", "Agent", "System")


@pytest.fixture(autouse=True)
def fresh_stub_ledger():
    """The gateway stubs must not remember another test's messages (ids are given out again)."""
    stub_effects().clear()


def person(role: str):
    """A user of the role; the agent works NOSSA at Pusat, where the tests' tickets arrive."""
    if role == "Agent":
        return factories.agent_for("nossa", site_code="PST")
    return factories.role_user(role)


def template(event="report_received", channel="sms", text_id=RECEIVED, **fields):
    return MessageTemplate.objects.create(event=event, channel=channel, text_id=text_id, **fields)


def nossa_report(phone="0812-3456-7890"):
    """A NOSSA report of Budi Santoso's line 131100000001 (routed to Pusat)."""
    customer = CustomerFactory(name="Budi Santoso", phone=phone)
    service = ServiceFactory(customer=customer, service_number="131100000001")
    return factories.arrive("nossa", service=service)


def errors_of(response) -> dict:
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] in ("ValidationError", "InvalidInput") and body["detail"]
    return body["errors"]


# --- Templates ----------------------------------------------------------------------------------
GOOD = {"event": "report_received", "channel": "sms", "text_id": RECEIVED}


@pytest.mark.parametrize(
    ("role", "code"),
    [("Admin", 200), ("Supervisor", 200), ("Support", 403), ("Agent", 403), ("System", 403)],
)
def test_supervisors_and_admins_read_the_templates_others_are_refused(api, role, code):
    row = template()
    client = api(person(role))
    assert client.get("/api/message-templates/").status_code == code
    assert client.get(f"/api/message-templates/{row.pk}/").status_code == code
    assert api(None).get("/api/message-templates/").status_code == 401


def test_an_admin_adds_a_template_201_as_given_with_its_events_placeholders(api, admin_user):
    body = {**GOOD, "text_en": "Dear {customer_name}, ticket {ticket_number} is open."}

    response = api(admin_user).post("/api/message-templates/", body, format="json")

    assert response.status_code == 201, response.json()
    answer = response.json()
    row = MessageTemplate.objects.get()
    assert answer["id"] == row.pk
    assert (row.event, row.flow, row.channel, row.text_id, row.text_en, row.active) == (
        "report_received", "", "sms", RECEIVED, body["text_en"], True
    )  # fmt: skip
    assert row.updated_by == admin_user
    assert answer["placeholders"] == [
        "customer_name", "ticket_number", "service_number", "expected_time"
    ]  # fmt: skip
    assert (answer["flow"], answer["whatsapp_status"], answer["active"]) == ("", "", True)
    assert answer["updated_by"] == admin_user.username


def test_a_template_sent_as_a_form_without_active_is_active(api, admin_user):
    response = api(admin_user).post("/api/message-templates/", GOOD)  # multipart
    assert response.status_code == 201, response.json()
    assert MessageTemplate.objects.get().active is True


@pytest.mark.parametrize(
    ("name", "approval"), [("t2_report_received", "approved"), ("draft_report", "pending")]
)
def test_a_whatsapp_template_shows_whatsapps_approval(api, admin_user, name, approval):
    body = {**GOOD, "channel": "whatsapp", "flow": "nossa", "whatsapp_name": name}
    response = api(admin_user).post("/api/message-templates/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["whatsapp_status"] == approval
    assert MessageTemplate.objects.get().whatsapp_status == approval


@pytest.mark.parametrize("role", ["Supervisor", "Support", "Agent", "System"])
def test_only_admins_write_templates(api, role):
    row = template()
    client = api(person(role))
    assert client.post("/api/message-templates/", GOOD, format="json").status_code == 403
    changed = client.patch(f"/api/message-templates/{row.pk}/", {"active": False}, format="json")
    assert changed.status_code == 403
    assert list(MessageTemplate.objects.values_list("pk", "active")) == [(row.pk, True)]


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"text_id": "Gangguan {incident_title}"}, "text_id", "Unknown placeholder"),
        ({"text_id": "Tiket {ticket_number"}, "text_id", "brace"),
        ({"text_id": "Tiket {0}"}, "text_id", "not a placeholder"),
        ({"text_en": "Ticket {nomor}"}, "text_en", "{nomor}"),
        ({"text_id": ""}, "text_id", "blank"),
        ({"text_id": None}, "text_id", "null"),
        ({"text_id": "a" * 919}, "text_id", "at most 6 SMS parts; this text needs 7"),
        ({"text_id": "a" * 4001}, "text_id", "4000"),
        ({"event": "birthday"}, "event", "not a valid choice"),
        ({"event": None}, "event", "null"),
        ({"channel": "fax"}, "channel", "not a valid choice"),
        ({"flow": "billing"}, "flow", "not a valid choice"),
        ({"active": "maybe"}, "active", "boolean"),
        ({"channel": "whatsapp"}, "whatsapp_name", "approved template"),
        ({"channel": "whatsapp", "whatsapp_name": "Report Received"}, "whatsapp_name", "lower"),
        (
            {"channel": "whatsapp", "whatsapp_name": "t2_received",
             "text_en": "Ticket {ticket_number} for {customer_name}"},
            "text_en", "same order",
        ),
    ],
)  # fmt: skip
def test_a_bad_template_is_400_with_the_fields_messages_and_nothing_saved(
    api, admin_user, fields, field, words
):
    response = api(admin_user).post("/api/message-templates/", {**GOOD, **fields}, format="json")
    errors = errors_of(response)
    assert words in " ".join(errors[field]), errors
    assert not MessageTemplate.objects.exists()


def test_a_missing_event_channel_or_text_is_400_naming_each(api, admin_user):
    errors = errors_of(api(admin_user).post("/api/message-templates/", {}, format="json"))
    assert set(errors) == {"event", "channel", "text_id"}
    assert not MessageTemplate.objects.exists()


def test_a_second_template_for_the_same_event_flow_and_channel_is_400(api, admin_user):
    first = template()
    errors = errors_of(api(admin_user).post("/api/message-templates/", GOOD, format="json"))
    assert "already a template" in errors["event"][0]
    assert list(MessageTemplate.objects.values_list("pk", flat=True)) == [first.pk]


def test_an_admin_changes_a_template_and_a_bad_change_changes_nothing(api, admin_user):
    row = template()
    client = api(admin_user)
    url = f"/api/message-templates/{row.pk}/"

    changed = client.patch(url, {"text_id": "Tiket {ticket_number} diterima.", "active": False})
    assert changed.status_code == 200, changed.json()
    saved = MessageTemplate.objects.get(pk=row.pk)
    assert (saved.text_id, saved.active, saved.updated_by) == (
        "Tiket {ticket_number} diterima.", False, admin_user
    )  # fmt: skip
    assert (changed.json()["text_id"], changed.json()["active"]) == (saved.text_id, False)
    # A change that does not name `active` leaves it as it is (JSON or a form).
    english = "Ticket {ticket_number} received."
    assert client.patch(url, {"text_en": english}, format="json").status_code == 200
    assert client.patch(url, {"text_en": english}).status_code == 200
    assert MessageTemplate.objects.get(pk=row.pk).active is False
    saved = MessageTemplate.objects.get(pk=row.pk)

    other = template(event="closed", text_id="Tiket {ticket_number} ditutup.")
    for body, field in [
        ({"text_id": "Tiket {incident_number}"}, "text_id"),
        ({"event": "closed"}, "event"),  # the closed SMS template of every flow exists
        ({"event": "birthday"}, "event"),
        ({"text_id": ""}, "text_id"),
    ]:
        assert field in errors_of(client.patch(url, body, format="json")), body
        unchanged = MessageTemplate.objects.get(pk=row.pk)
        assert (unchanged.event, unchanged.text_id, unchanged.text_en, unchanged.updated_at) == (
            "report_received", "Tiket {ticket_number} diterima.", english, saved.updated_at
        )  # fmt: skip
    assert MessageTemplate.objects.get(pk=other.pk).event == "closed"
    assert client.patch("/api/message-templates/999999/", {"active": True}).status_code == 404


def test_templates_are_not_replaced_or_deleted_whole(api, admin_user):
    row = template()
    client = api(admin_user)
    assert client.put(f"/api/message-templates/{row.pk}/", GOOD, format="json").status_code == 405
    assert client.delete(f"/api/message-templates/{row.pk}/").status_code == 405
    assert MessageTemplate.objects.filter(pk=row.pk).exists()


def test_the_template_list_is_paged_in_event_flow_channel_order_and_filtered(api, supervisor_user):
    restored = template(event="restored", text_id="Pulih.")
    closed = template(event="closed", text_id="Selesai.")
    received_nossa = template(flow="nossa", text_id="Diterima.")
    received = template(text_id="Diterima semua.")
    client = api(supervisor_user)

    page = client.get("/api/message-templates/?page_size=2").json()
    assert page["count"] == 4
    # closed < report_received < restored; the every-flow template ("") before the nossa one.
    assert [row["id"] for row in page["results"]] == [closed.pk, received.pk]
    rest = client.get(page["next"]).json()
    assert [row["id"] for row in rest["results"]] == [received_nossa.pk, restored.pk]
    assert rest["next"] is None

    only = client.get("/api/message-templates/?event=restored").json()["results"]
    assert [row["id"] for row in only] == [restored.pk]
    assert client.get("/api/message-templates/?event=birthday").status_code == 400


# --- A ticket's messages --------------------------------------------------------------------------
@time_machine.travel(MORNING, tick=False)
@pytest.mark.parametrize(
    ("role", "number"),
    [
        ("Admin", "6281234567890"),
        ("Supervisor", "6281234567890"),
        ("Support", "6281234567890"),
        ("Agent", "6281*****7890"),  # an agent of the ticket's queue who does not hold it
    ],
)
def test_who_may_see_the_ticket_reads_its_messages_with_the_number_as_they_may(api, role, number):
    template()
    ticket = nossa_report()

    response = api(person(role)).get(f"/api/tickets/{ticket.pk}/messages/")

    assert response.status_code == 200, response.json()
    [message] = response.json()
    row = CustomerMessage.objects.get(ticket=ticket)
    assert message["id"] == row.pk
    assert message["to_number"] == number
    assert (message["event"], message["channel"], message["language"]) == (
        "report_received", "sms", "id"
    )  # fmt: skip
    assert message["text"] == (
        f"Yth. Budi Santoso, laporan 131100000001 diterima: tiket {ticket.number}."
    )
    assert message["parameters"] == ["Budi Santoso", "131100000001", ticket.number]
    assert (message["status"], message["reason"], message["not_before"]) == ("queued", "", None)
    assert message["call"] == row.call_id is not None
    assert datetime.fromisoformat(message["queued_at"]) == MORNING


@time_machine.travel(MORNING, tick=False)
def test_the_agent_holding_the_ticket_reads_the_number_in_full(api):
    template()
    ticket = nossa_report()
    holder, colleague = person("Agent"), person("Agent")
    services.claim_ticket(ticket_id=ticket.pk, agent=holder)

    [mine] = api(holder).get(f"/api/tickets/{ticket.pk}/messages/").json()
    [theirs] = api(colleague).get(f"/api/tickets/{ticket.pk}/messages/").json()
    assert (mine["to_number"], theirs["to_number"]) == ("6281234567890", "6281*****7890")


@time_machine.travel(NIGHT, tick=False)
def test_a_message_held_for_quiet_hours_says_why_and_until_when(api, supervisor_user):
    template()
    ticket = nossa_report()
    [message] = api(supervisor_user).get(f"/api/tickets/{ticket.pk}/messages/").json()
    assert (message["status"], message["reason"], message["call"]) == ("held", "quiet_hours", None)
    assert datetime.fromisoformat(message["not_before"]) == datetime(2026, 12, 2, 0, 0, tzinfo=UTC)


@time_machine.travel(MORNING, tick=False)
def test_messages_are_refused_to_who_may_not_see_the_ticket(api):
    template()
    ticket = nossa_report()
    stranger = factories.agent(site_code="MLG", flows=("c4_caring",))
    assert api(stranger).get(f"/api/tickets/{ticket.pk}/messages/").status_code == 403
    assert api(person("System")).get(f"/api/tickets/{ticket.pk}/messages/").status_code == 403
    assert api(None).get(f"/api/tickets/{ticket.pk}/messages/").status_code == 401
    assert api(person("Admin")).get("/api/tickets/999999/messages/").status_code == 404


def test_a_ticket_without_a_template_has_no_messages(api, supervisor_user):
    ticket = nossa_report()
    response = api(supervisor_user).get(f"/api/tickets/{ticket.pk}/messages/")
    assert (response.status_code, response.json()) == (200, [])


# --- Gamas broadcasts -----------------------------------------------------------------------------
def incident_with_customers(reports_per_customer=(2, 1)):
    """An open incident and, per customer, that many IVR Gamas reports linked to it."""
    incident = factories.open_gamas()
    for index, count in enumerate(reports_per_customer):
        customer = CustomerFactory(phone=f"0812900000{index:02d}")
        for _ in range(count):
            factories.arrive(
                "gamas", service=ServiceFactory(customer=customer, odp=incident.area_code)
            )
    return incident


@time_machine.travel(MORNING, tick=False)
@pytest.mark.parametrize("role", ["Supervisor", "Support", "Admin"])
def test_an_incident_manager_starts_a_broadcast_once_201_then_200(
    api, role, django_capture_on_commit_callbacks
):
    template(event="gamas_opened", text_id="Gangguan {incident_number} di {area}.")
    incident = incident_with_customers((2, 1))  # three reports, two customers
    client = api(person(role))
    url = f"/api/gamas-incidents/{incident.pk}/broadcasts/"

    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url)
    assert first.status_code == 201, first.json()
    started = first.json()
    assert (started["event"], started["total"], started["finished_at"]) == ("gamas_opened", 2, None)
    assert started["incident"] == incident.pk
    # After the commit, the batches ran (eager Celery): both customers were told.
    assert CustomerMessage.objects.filter(incident=incident).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(url)
    assert again.status_code == 200, again.json()
    assert again.json()["id"] == started["id"]
    assert (again.json()["done"], again.json()["total"]) == (2, 2)
    assert again.json()["finished_at"] is not None
    assert Broadcast.objects.filter(incident=incident).count() == 1
    assert CustomerMessage.objects.filter(incident=incident).count() == 2

    [listed] = client.get(url).json()
    assert (listed["id"], listed["done"], listed["total"]) == (started["id"], 2, 2)
    assert datetime.fromisoformat(listed["started_at"]) == MORNING


def test_a_recovered_incident_broadcasts_the_recovery_and_a_closed_one_is_400(api, supervisor_user):
    template(event="gamas_recovered", text_id="Pulih {incident_number}.")
    recovered = factories.incident_in_state("recovered")
    response = api(supervisor_user).post(f"/api/gamas-incidents/{recovered.pk}/broadcasts/")
    assert (response.status_code, response.json()["event"]) == (201, "gamas_recovered")

    closed = factories.incident_in_state("closed")
    errors = errors_of(api(supervisor_user).post(f"/api/gamas-incidents/{closed.pk}/broadcasts/"))
    assert "closed incident" in errors["incident"][0]
    assert not Broadcast.objects.filter(incident=closed).exists()


@pytest.mark.parametrize("role", ["Agent", "System"])
def test_other_roles_may_not_read_or_start_broadcasts(api, role):
    incident = incident_with_customers((1,))
    client = api(person(role))
    url = f"/api/gamas-incidents/{incident.pk}/broadcasts/"
    assert client.get(url).status_code == 403
    assert client.post(url).status_code == 403
    assert not Broadcast.objects.exists()


def test_no_broadcast_while_no_template_can_carry_it(api, supervisor_user):
    incident = incident_with_customers((1,))
    MessageTemplate.objects.filter(event="gamas_opened").update(active=False)
    errors = errors_of(api(supervisor_user).post(f"/api/gamas-incidents/{incident.pk}/broadcasts/"))
    assert "No active message template" in errors["incident"][0]
    assert not Broadcast.objects.exists()


def test_an_unknown_incident_has_no_broadcasts(api, supervisor_user):
    assert api(supervisor_user).get("/api/gamas-incidents/999999/broadcasts/").status_code == 404
    assert api(supervisor_user).post("/api/gamas-incidents/999999/broadcasts/").status_code == 404
    assert not Broadcast.objects.exists()


# --- The customer's wishes -----------------------------------------------------------------------
DEFAULTS = {
    "messages_opt_out": False,
    "message_channel": "sms",
    "message_language": "id",
    "quiet_from": None,
    "quiet_until": None,
}
WISHES = {
    "messages_opt_out": True,
    "message_channel": "whatsapp",
    "message_language": "en",
    "quiet_from": "22:00",
    "quiet_until": "06:00",
}


def stored_wishes(customer_id: int) -> dict:
    row = Customer.objects.get(pk=customer_id)
    return {
        "messages_opt_out": row.messages_opt_out,
        "message_channel": row.message_channel,
        "message_language": row.message_language,
        "quiet_from": row.quiet_from and row.quiet_from.strftime("%H:%M"),
        "quiet_until": row.quiet_until and row.quiet_until.strftime("%H:%M"),
    }


@pytest.mark.parametrize("role", ["Admin", "Supervisor", "Support", "Agent"])
def test_who_may_see_the_customer_reads_and_records_their_wishes(api, role):
    customer = nossa_report().service.customer
    client = api(person(role))
    url = f"/api/customers/{customer.pk}/message-preferences/"

    read = client.get(url)
    assert (read.status_code, read.json()) == (200, {"id": customer.pk, **DEFAULTS})

    changed = client.patch(url, WISHES, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json() == {"id": customer.pk, **WISHES}
    assert stored_wishes(customer.pk) == WISHES

    cleared = client.patch(url, {"quiet_from": None, "quiet_until": None}, format="json")
    assert cleared.status_code == 200
    assert stored_wishes(customer.pk) == {**WISHES, "quiet_from": None, "quiet_until": None}


def test_a_patch_changes_only_what_it_names(api, supervisor_user):
    customer = nossa_report().service.customer
    url = f"/api/customers/{customer.pk}/message-preferences/"
    api(supervisor_user).patch(url, {"message_language": "en"}, format="json")
    assert stored_wishes(customer.pk) == {**DEFAULTS, "message_language": "en"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quiet_from": "25:00", "quiet_until": "06:00"}, "quiet_from"),
        ({"quiet_from": "22:00", "quiet_until": "24:00"}, "quiet_until"),
        ({"quiet_from": "22:00:30", "quiet_until": "06:00"}, "quiet_from"),
        ({"quiet_from": "late", "quiet_until": "06:00"}, "quiet_from"),
        ({"quiet_from": "22:00"}, "quiet_until"),
        ({"quiet_until": "06:00"}, "quiet_until"),
        ({"quiet_from": "22:00", "quiet_until": None}, "quiet_until"),
        ({"quiet_from": "22:00", "quiet_until": "22:00"}, "quiet_until"),
        ({"message_channel": "fax"}, "message_channel"),
        ({"message_channel": None}, "message_channel"),
        ({"message_language": "jv"}, "message_language"),
        ({"messages_opt_out": "maybe"}, "messages_opt_out"),
        ({"messages_opt_out": None}, "messages_opt_out"),
    ],
)
def test_bad_wishes_are_400_naming_the_field_and_change_nothing(api, supervisor_user, body, field):
    customer = nossa_report().service.customer
    response = api(supervisor_user).patch(
        f"/api/customers/{customer.pk}/message-preferences/", body, format="json"
    )
    errors = errors_of(response)
    assert field in errors and all(errors[field]), errors
    assert stored_wishes(customer.pk) == DEFAULTS


def test_only_one_end_of_the_quiet_hours_says_to_give_both(api, supervisor_user):
    customer = nossa_report().service.customer
    response = api(supervisor_user).patch(
        f"/api/customers/{customer.pk}/message-preferences/", {"quiet_from": "22:00"}
    )
    assert errors_of(response)["quiet_until"] == ["Give both ends of the quiet hours, or neither."]


def test_a_customer_the_user_may_not_see_is_404_and_unchanged(api):
    customer = nossa_report().service.customer
    url = f"/api/customers/{customer.pk}/message-preferences/"
    stranger = factories.agent(site_code="MLG", flows=("c4_caring",))
    assert api(stranger).get(url).status_code == 404
    assert api(stranger).patch(url, WISHES, format="json").status_code == 404
    assert api(person("Admin")).get("/api/customers/999999/message-preferences/").status_code == 404
    assert api(person("System")).patch(url, WISHES, format="json").status_code == 403
    assert api(None).get(url).status_code == 401
    assert stored_wishes(customer.pk) == DEFAULTS

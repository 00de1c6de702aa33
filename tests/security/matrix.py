"""How each cell of the role × resource matrix is observed (docs/security-matrix.md).

`tests/security/test_data_scoping.py` holds the table (`MATRIX`); this module holds, for every
resource of the table, a probe: `PROBES[resource](world, user)` makes the request the row names,
as `user` (None: anonymous), and answers the outcome in the matrix's words. The world is the
one of test_data_scoping (`build_world`): one NOSSA ticket held by the Pusat agent, one waiting
in the same Pusat queue, one at Malang, one open gamas incident. A probe that needs more (an
offer, an escalation, a template) makes it itself, on those tickets.

Outcomes, besides the reading ones (`visible`, `hidden`, `404`, `403`, `401`, `login`):

- `done`: the write happened: the API answered 2xx; the console came back with its success
  message (or, for a form that says nothing, went on to its next page);
- `refused`: the console came back to its page with the reason as an error message (a service
  refused the write); nothing was done;
- `400`, `405`: the API's status, when that is what the role gets.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from integrations.models import AdapterCall, CallStatus, EventSubscription
from tests import factories
from tests.tmf.test_write import new_ticket
from tickets import services
from tickets.models import (
    AgentProfile,
    Availability,
    Campaign,
    Escalation,
    ImportJob,
    MessageTemplate,
    Offer,
    SlaPolicy,
    Ticket,
)
from tickets.services.live import notify

PASSWORD = "secret-pass-123"  # factories.user's
TMF = "/tmf-api/troubleTicket/v5"
TMF_TICKETS = f"{TMF}/troubleTicket"

Probe = Callable[[dict, object], str]
PROBES: dict[str, Probe] = {}


def probe(resource: str):
    """Register the function that observes the row `resource` of the matrix."""

    def register(function: Probe) -> Probe:
        assert resource not in PROBES, resource
        PROBES[resource] = function
        return function

    return register


# --- Clients and outcomes -------------------------------------------------------------------
def api_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def console_client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def listed(response, wanted: int) -> str:
    if response.status_code != 200:
        return str(response.status_code)
    return "visible" if wanted in [row["id"] for row in response.json()["results"]] else "hidden"


def shown(response) -> str:
    return "visible" if response.status_code == 200 else str(response.status_code)


def page(response) -> str:
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    return "visible" if response.status_code == 200 else str(response.status_code)


def page_lists(response, text: str) -> str:
    """A console page that lists objects: is `text` (a ticket's number) on it?"""
    outcome = page(response)
    if outcome != "visible":
        return outcome
    return "visible" if text in response.content.decode() else "hidden"


def done(response) -> str:
    """An API write: 2xx is done, anything else its status."""
    return "done" if 200 <= response.status_code < 300 else str(response.status_code)


def acted(response, *, done_at: str | None = None) -> str:
    """A console form's post: done (its success message, or the redirect to `done_at` of a
    form that says nothing), refused (an error message on the page it came back to), the login
    page, or the status it answered."""
    if response.status_code == 302 and response["Location"].startswith("/login/"):
        return "login"
    if response.status_code in (400, 403, 404, 405):
        return str(response.status_code)
    levels = {message.level for message in get_messages(response.wsgi_request)}
    if messages.ERROR in levels:
        return "refused"
    if messages.SUCCESS in levels:
        return "done"
    if done_at is not None and response.status_code == 302 and response["Location"] == done_at:
        return "done"
    return str(response.status_code)


def api_get(user, url: str, **params):
    return api_client(user).get(url, params)


def api_send(user, method: str, url: str, body=None, **kwargs):
    kwargs.setdefault("format", "json")
    return getattr(api_client(user), method)(url, body, **kwargs)


def console_post(user, url: str, data=None):
    return console_client(user).post(url, data or {})


def page_of(user, url: str) -> str:
    return page(console_client(user).get(url))


# --- What the probes make on the world's tickets --------------------------------------------
def held(world):
    return factories.reload(world["held"])


def agent_pst(world):
    return world["people"]["agent_pst"]


def second_pusat_agent():
    return factories.agent(site_code="PST", flows=("nossa",), username="agent.pst.two")


def offer_to_agent_pst(world) -> Offer:
    """The waiting Pusat ticket, offered by dispatch to the Pusat agent (available now)."""
    agent = agent_pst(world)
    AgentProfile.objects.filter(user=agent).update(availability=Availability.AVAILABLE)
    ticket = world["queued"]
    Ticket.objects.filter(pk=ticket.pk).update(offered_to=agent)
    return Offer.objects.create(
        ticket_id=ticket.pk, agent=agent, expires_at=timezone.now() + timedelta(minutes=5)
    )


def escalation_on_held(world) -> Escalation:
    """The held ticket, diagnosed and escalated to Support by the Pusat agent."""
    ticket, agent = world["held"], agent_pst(world)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "OLT merah"}
    )
    return Escalation.objects.get(ticket=ticket)


def failed_call_on_held(world) -> AdapterCall:
    return AdapterCall.objects.create(
        ticket=world["held"],
        app="ibooster",
        operation="connection_status",
        idempotency_key=f"matrix-failed-{world['held'].pk}",
        status=CallStatus.FAILED,
        attempts=3,
        error="timeout",
    )


def sms_template(
    event: str = "report_received", text: str = "Tiket {ticket_number}."
) -> MessageTemplate:
    return MessageTemplate.objects.create(event=event, channel="sms", text_id=text)


def gamas_report_to_verify(incident):
    """An IVR Gamas report from the incident's area, linked to it, recovered and waiting for
    an agent to verify it."""
    report = factories.arrive("gamas", service=factories.service_at("PST", odp=incident.area_code))
    Ticket.objects.filter(pk=report.pk).update(state="verifying", awaiting_agent=True)
    return report


def import_job(world) -> ImportJob:
    return ImportJob.objects.create(
        kind="force_close",
        file_name="list.csv",
        content="service_number\n",
        uploaded_by=world["people"]["supervisor"],
    )


def campaign() -> Campaign:
    return Campaign.objects.create(code="ideas-matrix", name="Ideas matrix", flow="ideas")


def nossa_policy() -> SlaPolicy:
    return factories.policy("nossa", 2)


def pusat_calendar(world):
    return world["queued"].site.calendar


def subscription_of(owner) -> EventSubscription:
    subscription, _secret = services.create_subscription(
        owner=owner, callback="https://crm.example/listener", query=None
    )
    return subscription


# ============================================================================================
# The console: every signed-in role
# ============================================================================================
@probe("home page")
def home_page(world, user):
    return page_of(user, "/")


@probe("flow diagrams")
def flow_diagrams(world, user):
    return page_of(user, "/flows/")


@probe("queues page")
def queues_page(world, user):
    return page_of(user, "/queues/")


@probe("NOSSA queue")
def nossa_queue(world, user):
    return page_lists(console_client(user).get("/queues/nossa/"), world["queued"].number)


@probe("Next ticket")
def next_ticket(world, user):
    return acted(console_post(user, "/next/"))


@probe("availability in the top bar")
def availability(world, user):
    return acted(console_post(user, "/availability/", {"availability": "break"}))


@probe("accept an offer")
def accept_offer(world, user):
    offer = offer_to_agent_pst(world)
    return acted(console_post(user, f"/offers/{offer.pk}/accept/"))


@probe("decline an offer")
def decline_offer(world, user):
    offer = offer_to_agent_pst(world)
    return acted(console_post(user, f"/offers/{offer.pk}/decline/", {"reason": "busy"}))


@probe("ticket workspace")
def workspace(world, user):
    return page_of(user, f"/tickets/{world['queued'].pk}/")


@probe("take a ticket")
def take(world, user):
    return acted(console_post(user, f"/tickets/{world['queued'].pk}/take/"))


@probe("a step of the ticket's flow")
def ticket_action(world, user):
    ticket = held(world)
    url = f"/tickets/{ticket.pk}/actions/start_diagnosis/"
    return acted(console_post(user, url, {"start_diagnosis-expected_state": ticket.state}))


@probe("record a call to the customer")
def contact(world, user):
    ticket = held(world)
    data = {"contact-outcome": "no_answer", "contact-expected_state": ticket.state}
    return acted(console_post(user, f"/tickets/{ticket.pk}/contact/", data))


@probe("add a note")
def note(world, user):
    url = f"/tickets/{world['held'].pk}/notes/"
    return acted(console_post(user, url, {"note-text": "Pelanggan minta ditelepon sore"}))


@probe("send a failed call again")
def retry_call(world, user):
    call = failed_call_on_held(world)
    return acted(console_post(user, f"/tickets/{world['held'].pk}/calls/{call.pk}/retry/"))


@probe("customer panel")
def customer_panel(world, user):
    return page_of(user, f"/tickets/{world['queued'].pk}/panel/")


@probe("refresh the customer panel")
def refresh_panel(world, user):
    pk = world["held"].pk
    return acted(console_post(user, f"/tickets/{pk}/panel/refresh/"), done_at=f"/tickets/{pk}/")


@probe("knowledge articles")
def articles(world, user):
    return page_of(user, f"/tickets/{world['queued'].pk}/articles/")


@probe("the customer's message wishes")
def message_wishes(world, user):
    data = {"wishes-message_channel": "sms", "wishes-message_language": "en"}
    return acted(console_post(user, f"/tickets/{world['queued'].pk}/message-wishes/", data))


@probe("open an incident")
def open_incident(world, user):
    data = {"title": "Fibre cut", "area_level": "odp", "area_code": "ODP-MATRIX-001"}
    return acted(console_post(user, "/incidents/new/", data))


@probe("recover an incident")
def recover_incident(world, user):
    url = f"/incidents/{world['incident'].pk}/actions/recover/"
    return acted(console_post(user, url, {"recover-expected_state": "open"}))


@probe("assign an incident's reports together")
def incident_bulk(world, user):
    incident = world["incident"]
    report = gamas_report_to_verify(incident)
    agent = factories.agent_for("gamas")
    data = {"action": "assign", "agent": agent.pk, "tickets": [report.pk]}
    return acted(console_post(user, f"/incidents/{incident.pk}/bulk/", data))


@probe("Inform customers")
def inform_customers(world, user):
    sms_template("gamas_opened", "Gangguan {incident_number}.")
    return acted(console_post(user, f"/incidents/{world['incident'].pk}/inform/"))


@probe("notifications page")
def notifications_page(world, user):
    return page_of(user, "/notifications/")


@probe("mark notifications read")
def mark_notifications_read(world, user):
    if user is not None:
        notify(user_id=user.pk, kind="info", message="Tiket baru")
    return acted(console_post(user, "/notifications/", {"all": "1"}))


@probe("a notification of agent PST as a toast")
def notification_toast(world, user):
    mine = notify(user_id=agent_pst(world).pk, kind="info", message="Tiket baru")
    return page_of(user, f"/notifications/{mine.pk}/toast/")


# ============================================================================================
# Supervisor, Support and admin pages
# ============================================================================================
@probe("supervisor dashboard")
def dashboard(world, user):
    return page_of(user, "/supervisor/")


@probe("dashboard's live part")
def dashboard_live(world, user):
    return page_of(user, "/supervisor/live/")


@probe("release a held ticket")
def dashboard_release(world, user):
    return acted(console_post(user, f"/supervisor/tickets/{world['held'].pk}/release/"))


@probe("reassign a held ticket")
def dashboard_reassign(world, user):
    other = second_pusat_agent()
    url = f"/supervisor/tickets/{world['held'].pk}/reassign/"
    return acted(console_post(user, url, {"agent": other.pk}))


@probe("SLG list")
def slg_list(world, user):
    return page_of(user, "/supervisor/slg/")


@probe("pin a waiting ticket")
def dashboard_pin(world, user):
    url = f"/supervisor/tickets/{world['queued'].pk}/pin/"
    return acted(console_post(user, url, {"agent": agent_pst(world).pk}))


@probe("agents and dispatch page")
def agents_page(world, user):
    return page_of(user, "/supervisor/agents/")


@probe("change an agent's availability and capacity")
def agent_update(world, user):
    agent = agent_pst(world)
    prefix = f"agent-{agent.pk}"
    data = {f"{prefix}-availability": "break", f"{prefix}-capacity": "4"}
    return acted(console_post(user, f"/supervisor/agents/{agent.pk}/", data))


@probe("CSV export")
def export(world, user):
    return page_of(user, "/supervisor/export/tiles.csv")


@probe("CSV export of the tickets that arrived")
def export_tickets(world, user):
    return page_of(user, "/supervisor/export/tickets.csv")


@probe("a call list's page")
def import_detail(world, user):
    return page_of(user, f"/supervisor/imports/{import_job(world).pk}/")


@probe("a call list's progress")
def import_progress(world, user):
    return page_of(user, f"/supervisor/imports/{import_job(world).pk}/progress/")


@probe("cancel a call list")
def import_cancel(world, user):
    return acted(console_post(user, f"/supervisor/imports/{import_job(world).pk}/cancel/"))


@probe("escalation desk")
def desk(world, user):
    return page_of(user, "/desk/")


@probe("an escalation's page")
def escalation_page(world, user):
    return page_of(user, f"/desk/{escalation_on_held(world).pk}/")


@probe("take an escalation")
def escalation_take(world, user):
    return acted(console_post(user, f"/desk/{escalation_on_held(world).pk}/take/"))


@probe("hand an escalation over")
def escalation_hand_over(world, user):
    escalation = escalation_on_held(world)
    other = factories.user("Support", username="support.two")
    data = {"handover-support_user": str(other.pk)}
    return acted(console_post(user, f"/desk/{escalation.pk}/hand-over/", data))


@probe("answer an escalation")
def escalation_answer(world, user):
    escalation = escalation_on_held(world)
    data = {"answer-answer": "OLT normal, cek ONT"}
    return acted(console_post(user, f"/desk/{escalation.pk}/answer/", data))


@probe("resolve an escalation")
def escalation_resolve(world, user):
    escalation = escalation_on_held(world)
    data = {"resolve-answer": "Port OLT direset"}
    return acted(console_post(user, f"/desk/{escalation.pk}/resolve/", data))


@probe("SLA policies page")
def sla_policies_page(world, user):
    return page_of(user, "/sla-policies/")


@probe("an SLA policy's form")
def sla_policy_form(world, user):
    return page_of(user, "/sla-policies/nossa/2/")


@probe("reset an SLA policy")
def sla_policy_reset(world, user):
    nossa_policy()
    return acted(console_post(user, "/sla-policies/nossa/2/reset/"))


@probe("message templates page")
def templates_page(world, user):
    return page_of(user, "/supervisor/message-templates/")


@probe("new message template form")
def template_new_form(world, user):
    return page_of(user, "/supervisor/message-templates/new/")


@probe("add a message template")
def template_new(world, user):
    data = {
        "event": "report_received",
        "flow": "",
        "channel": "sms",
        "text_id": "Tiket {ticket_number} diterima.",
        "active": "on",
    }
    return acted(console_post(user, "/supervisor/message-templates/new/", data))


@probe("a message template's form")
def template_edit_form(world, user):
    return page_of(user, f"/supervisor/message-templates/{sms_template().pk}/")


@probe("change a message template")
def template_edit(world, user):
    template = sms_template()
    data = {
        "event": template.event,
        "flow": "",
        "channel": "sms",
        "text_id": "Tiket {ticket_number} sudah kami terima.",
        "active": "on",
    }
    return acted(console_post(user, f"/supervisor/message-templates/{template.pk}/", data))


# ============================================================================================
# Signing in, two-factor sign-in, language
# ============================================================================================
@probe("sign-in page")
def login_page(world, user):
    return page_of(user, "/login/")


@probe("sign out")
def logout(world, user):
    response = console_post(user, "/logout/")
    return "done" if response.status_code == 302 else str(response.status_code)


@probe("language switch")
def set_language(world, user):
    response = console_post(user, "/i18n/setlang/", {"language": "en", "next": "/"})
    return "done" if response.status_code == 302 else str(response.status_code)


@probe("two-factor page")
def two_factor(world, user):
    return page_of(user, "/account/two-factor/")


@probe("two-factor enrolment")
def two_factor_enrol(world, user):
    return page_of(user, "/account/two-factor/enrol/")


RECOVERY_CODE = "matrixcode1234"


def with_an_app(user):
    """The user's authenticator app (confirmed) and one recovery code, `RECOVERY_CODE`."""
    app = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    codes = StaticDevice.objects.create(user=user, name="recovery", confirmed=True)
    codes.token_set.create(token=RECOVERY_CODE)
    return app


def verified_client(user) -> Client:
    """A console session that has passed its second factor with the user's app."""
    client = console_client(user)
    if user is not None:
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = with_an_app(user).persistent_id
        session.save()
    return client


@probe("two-factor code")
def two_factor_verify(world, user):
    if user is not None:
        with_an_app(user)  # signed in with the password only: the code is asked for
    return page_of(user, "/account/two-factor/verify/")


@probe("new recovery codes")
def recovery_codes(world, user):
    response = verified_client(user).post("/account/two-factor/recovery-codes/")
    return acted(response, done_at="/account/two-factor/recovery-codes/")


@probe("remove two-factor sign-in")
def two_factor_remove(world, user):
    client = verified_client(user)
    return acted(client.post("/account/two-factor/remove/", {"code": RECOVERY_CODE}))


@probe("admin site")
def admin_site(world, user):
    response = console_client(user).get("/admin/")
    if response.status_code == 302 and response["Location"].startswith("/admin/login/"):
        return "login"
    return page(response)


# ============================================================================================
# The console's API
# ============================================================================================
@probe("API root")
def api_root(world, user):
    return shown(api_get(user, "/api/"))


@probe("API token")
def api_token(world, user):
    if user is None:
        response = APIClient().post("/api/auth/token/", {}, format="json")
        return done(response)
    response = APIClient().post(
        "/api/auth/token/", {"username": user.get_username(), "password": PASSWORD}, format="json"
    )
    if response.status_code == 200:
        assert response.json()["token"] == Token.objects.get(user=user).key
    return done(response)


@probe("OpenAPI schema")
def api_schema(world, user):
    return shown(api_get(user, "/api/schema/"))


@probe("API docs")
def api_docs(world, user):
    return shown(api_get(user, "/api/docs/"))


def receipts_posted(user, gateway: str) -> str:
    """A batch of one receipt, sent with the user's own API token and no gateway signature."""
    client = APIClient()
    if user is not None:
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    body = {"receipts": [{"message_id": "SMS123456789012", "status": "delivered"}]}
    response = client.post(f"/api/hooks/{gateway}/receipts/", body, format="json")
    return done(response)


@probe("SMS receipts webhook")
def sms_receipts(world, user):
    return receipts_posted(user, "sms")


@probe("WhatsApp receipts webhook")
def whatsapp_receipts(world, user):
    return receipts_posted(user, "whatsapp")


# --- Tickets ----------------------------------------------------------------------------------
@probe("API Next ticket")
def api_next(world, user):
    return done(api_send(user, "post", "/api/tickets/next/"))


@probe("API ticket's calls")
def api_ticket_calls(world, user):
    return shown(api_get(user, f"/api/tickets/{world['queued'].pk}/calls/"))


@probe("API claim")
def api_claim(world, user):
    return done(api_send(user, "post", f"/api/tickets/{world['queued'].pk}/claim/", {}))


@probe("API contact attempts")
def api_contact_attempts(world, user):
    return shown(api_get(user, f"/api/tickets/{world['queued'].pk}/contact-attempts/"))


@probe("API record a call")
def api_record_call(world, user):
    url = f"/api/tickets/{world['held'].pk}/contact-attempts/"
    return done(api_send(user, "post", url, {"outcome": "no_answer"}))


@probe("API ticket's escalations")
def api_ticket_escalations(world, user):
    return shown(api_get(user, f"/api/tickets/{world['queued'].pk}/escalations/"))


@probe("API ticket's messages")
def api_ticket_messages(world, user):
    return shown(api_get(user, f"/api/tickets/{world['queued'].pk}/messages/"))


@probe("API ticket's notes")
def api_ticket_notes(world, user):
    return shown(api_get(user, f"/api/tickets/{world['queued'].pk}/notes/"))


@probe("API add a note")
def api_add_note(world, user):
    url = f"/api/tickets/{world['held'].pk}/notes/"
    return done(api_send(user, "post", url, {"text": "Pelanggan minta ditelepon sore"}))


@probe("API pin")
def api_pin(world, user):
    url = f"/api/tickets/{world['queued'].pk}/pin/"
    return done(api_send(user, "post", url, {"agent": agent_pst(world).pk}))


@probe("API reassign")
def api_reassign(world, user):
    url = f"/api/tickets/{world['held'].pk}/reassign/"
    return done(api_send(user, "post", url, {"agent": second_pusat_agent().pk}))


@probe("API release")
def api_release(world, user):
    return done(api_send(user, "post", f"/api/tickets/{world['held'].pk}/release/", {}))


@probe("API available transitions")
def api_transitions(world, user):
    return shown(api_get(user, f"/api/tickets/{world['queued'].pk}/transitions/"))


@probe("API take a transition")
def api_transition(world, user):
    ticket = held(world)
    body = {"name": "start_diagnosis", "expected_state": ticket.state}
    return done(api_send(user, "post", f"/api/tickets/{ticket.pk}/transitions/", body))


# --- Escalations and calls --------------------------------------------------------------------
@probe("API escalations")
def api_escalations(world, user):
    wanted = escalation_on_held(world).pk
    return listed(api_get(user, "/api/escalations/"), wanted)


@probe("API escalation detail")
def api_escalation(world, user):
    return shown(api_get(user, f"/api/escalations/{escalation_on_held(world).pk}/"))


@probe("API call detail")
def api_call(world, user):
    return shown(api_get(user, f"/api/calls/{failed_call_on_held(world).pk}/"))


@probe("API send a failed call again")
def api_call_retry(world, user):
    return done(api_send(user, "post", f"/api/calls/{failed_call_on_held(world).pk}/retry/"))


# --- Gamas incidents --------------------------------------------------------------------------
@probe("API open an incident")
def api_open_incident(world, user):
    body = {"title": "Fibre cut", "area_level": "odp", "area_code": "ODP-MATRIX-002"}
    return done(api_send(user, "post", "/api/gamas-incidents/", body))


@probe("API incident's broadcasts")
def api_broadcasts(world, user):
    return shown(api_get(user, f"/api/gamas-incidents/{world['incident'].pk}/broadcasts/"))


@probe("API inform the incident's customers")
def api_start_broadcast(world, user):
    sms_template("gamas_opened", "Gangguan {incident_number}.")
    url = f"/api/gamas-incidents/{world['incident'].pk}/broadcasts/"
    return done(api_send(user, "post", url))


@probe("API incident's reports")
def api_incident_children(world, user):
    return shown(api_get(user, f"/api/gamas-incidents/{world['incident'].pk}/children/"))


@probe("API recover an incident")
def api_incident_transition(world, user):
    url = f"/api/gamas-incidents/{world['incident'].pk}/transitions/"
    return done(api_send(user, "post", url, {"name": "recover"}))


# --- SLA policies, calendars, campaigns -------------------------------------------------------
POLICY = {"flow": "nossa", "priority": 2, "claim_minutes": 10, "resolve_minutes": 600}


@probe("API SLA policies")
def api_policies(world, user):
    wanted = nossa_policy().pk
    return listed(api_get(user, "/api/sla-policies/"), wanted)


@probe("API add an SLA policy")
def api_add_policy(world, user):
    return done(api_send(user, "post", "/api/sla-policies/", POLICY))


@probe("API SLA policy detail")
def api_policy(world, user):
    return shown(api_get(user, f"/api/sla-policies/{nossa_policy().pk}/"))


@probe("API replace an SLA policy")
def api_put_policy(world, user):
    return done(api_send(user, "put", f"/api/sla-policies/{nossa_policy().pk}/", POLICY))


@probe("API change an SLA policy")
def api_patch_policy(world, user):
    url = f"/api/sla-policies/{nossa_policy().pk}/"
    return done(api_send(user, "patch", url, {"claim_minutes": 15}))


@probe("API delete an SLA policy")
def api_delete_policy(world, user):
    return done(api_send(user, "delete", f"/api/sla-policies/{nossa_policy().pk}/"))


@probe("API calendars")
def api_calendars(world, user):
    wanted = pusat_calendar(world).pk
    return listed(api_get(user, "/api/calendars/"), wanted)


@probe("API calendar detail")
def api_calendar(world, user):
    return shown(api_get(user, f"/api/calendars/{pusat_calendar(world).pk}/"))


CAMPAIGN = {"code": "ideas-juni", "name": "Ideas Juni", "flow": "ideas"}


@probe("API campaigns")
def api_campaigns(world, user):
    wanted = campaign().pk
    return listed(api_get(user, "/api/campaigns/"), wanted)


@probe("API add a campaign")
def api_add_campaign(world, user):
    return done(api_send(user, "post", "/api/campaigns/", CAMPAIGN))


@probe("API campaign detail")
def api_campaign(world, user):
    return shown(api_get(user, f"/api/campaigns/{campaign().pk}/"))


@probe("API replace a campaign")
def api_put_campaign(world, user):
    return done(api_send(user, "put", f"/api/campaigns/{campaign().pk}/", CAMPAIGN))


@probe("API change a campaign")
def api_patch_campaign(world, user):
    url = f"/api/campaigns/{campaign().pk}/"
    return done(api_send(user, "patch", url, {"active": False}))


@probe("API delete a campaign")
def api_delete_campaign(world, user):
    return done(api_send(user, "delete", f"/api/campaigns/{campaign().pk}/"))


# --- Customers --------------------------------------------------------------------------------
WISHES = {"message_channel": "whatsapp", "message_language": "en"}


@probe("API customer's message wishes")
def api_message_preferences(world, user):
    customer = world["queued"].service.customer_id
    return shown(api_get(user, f"/api/customers/{customer}/message-preferences/"))


@probe("API record the customer's message wishes")
def api_set_message_preferences(world, user):
    customer = world["queued"].service.customer_id
    url = f"/api/customers/{customer}/message-preferences/"
    return done(api_send(user, "patch", url, WISHES))


# --- Reports pushed in, call lists ------------------------------------------------------------
LINE = {
    "customer_name": "Siti Rahayu",
    "phone": "0812-3456-7890",
    "sto": "STO-KBL",
    "olt": "OLT-KBL-01",
    "odp": "ODP-KBL-015",
}


@probe("API push a NOSSA report")
def api_ingest_nossa(world, user):
    body = {"nossa_number": "IN16672489", "service_number": "131100099991", **LINE}
    return done(api_send(user, "post", "/api/ingest/nossa/", body))


@probe("API push an IVR Gamas report")
def api_ingest_ivr(world, user):
    body = {"call_id": "IVR-MATRIX-1", "service_number": "131100099991", **LINE}
    return done(api_send(user, "post", "/api/ingest/ivr-gamas/", body))


@probe("API push a Callback record")
def api_ingest_callback(world, user):
    body = {"record_id": "CB0000000001", "service_number": "131100099991", **LINE}
    return done(api_send(user, "post", "/api/ingest/callback/", body))


@probe("API call lists")
def api_imports(world, user):
    wanted = import_job(world).pk
    return listed(api_get(user, "/api/imports/"), wanted)


@probe("API upload a call list")
def api_upload(world, user):
    content = b"service_number,nossa_number\n131100000001,IN16672489\n"
    body = {"file": SimpleUploadedFile("list.csv", content, "text/csv"), "kind": "force_close"}
    return done(api_send(user, "post", "/api/imports/", body, format="multipart"))


@probe("API call list detail")
def api_import(world, user):
    return shown(api_get(user, f"/api/imports/{import_job(world).pk}/"))


@probe("API cancel a call list")
def api_import_cancel(world, user):
    return done(api_send(user, "post", f"/api/imports/{import_job(world).pk}/cancel/"))


# --- Dispatch ---------------------------------------------------------------------------------
@probe("API agents")
def api_agents(world, user):
    response = api_get(user, "/api/agents/")
    if response.status_code != 200:
        return str(response.status_code)
    ids = [row["id"] for row in response.json()["results"]]
    return "visible" if agent_pst(world).pk in ids else "hidden"


@probe("API agent PST")
def api_agent(world, user):
    return shown(api_get(user, f"/api/agents/{agent_pst(world).pk}/"))


@probe("API agent PST's availability")
def api_agent_availability(world, user):
    url = f"/api/agents/{agent_pst(world).pk}/"
    return done(api_send(user, "patch", url, {"availability": "break"}))


@probe("API agent PST's capacity")
def api_agent_capacity(world, user):
    url = f"/api/agents/{agent_pst(world).pk}/"
    return done(api_send(user, "patch", url, {"capacity": 4}))


@probe("API offers")
def api_offers(world, user):
    wanted = offer_to_agent_pst(world).pk
    return listed(api_get(user, "/api/offers/"), wanted)


@probe("API offer detail")
def api_offer(world, user):
    return shown(api_get(user, f"/api/offers/{offer_to_agent_pst(world).pk}/"))


@probe("API accept an offer")
def api_accept(world, user):
    return done(api_send(user, "post", f"/api/offers/{offer_to_agent_pst(world).pk}/accept/"))


@probe("API decline an offer")
def api_decline(world, user):
    url = f"/api/offers/{offer_to_agent_pst(world).pk}/decline/"
    return done(api_send(user, "post", url, {"reason": "busy"}))


# --- Message templates ------------------------------------------------------------------------
TEMPLATE = {"event": "report_received", "channel": "sms", "text_id": "Tiket {ticket_number}."}


@probe("API message templates")
def api_templates(world, user):
    wanted = sms_template().pk
    return listed(api_get(user, "/api/message-templates/"), wanted)


@probe("API add a message template")
def api_add_template(world, user):
    return done(api_send(user, "post", "/api/message-templates/", TEMPLATE))


@probe("API message template detail")
def api_template(world, user):
    return shown(api_get(user, f"/api/message-templates/{sms_template().pk}/"))


@probe("API change a message template")
def api_change_template(world, user):
    url = f"/api/message-templates/{sms_template().pk}/"
    return done(api_send(user, "patch", url, {"active": False}))


# ============================================================================================
# TMF621
# ============================================================================================
@probe("TMF create a ticket")
def tmf_create(world, user):
    return done(api_send(user, "post", TMF_TICKETS, new_ticket()))


@probe("TMF add a note")
def tmf_patch(world, user):
    body = json.dumps({"note": [{"@type": "Note", "text": "Pelanggan minta ditelepon"}]})
    url = f"{TMF_TICKETS}/{world['queued'].pk}"
    response = api_client(user).patch(url, body, content_type="application/merge-patch+json")
    return done(response)


@probe("TMF delete a ticket")
def tmf_delete(world, user):
    return done(api_client(user).delete(f"{TMF_TICKETS}/{world['queued'].pk}"))


@probe("TMF subscriptions")
def tmf_hubs(world, user):
    subscription = subscription_of(world["people"]["system"])
    response = api_get(user, f"{TMF}/hub")
    if response.status_code != 200:
        return str(response.status_code)
    return "visible" if str(subscription.pk) in [row["id"] for row in response.json()] else "hidden"


@probe("TMF subscribe")
def tmf_subscribe(world, user):
    body = {"@type": "Hub", "callback": "https://crm.example/listener"}
    return done(api_send(user, "post", f"{TMF}/hub", body))


@probe("TMF subscription detail")
def tmf_hub(world, user):
    subscription = subscription_of(world["people"]["system"])
    return shown(api_get(user, f"{TMF}/hub/{subscription.pk}"))


@probe("TMF unsubscribe")
def tmf_unsubscribe(world, user):
    subscription = subscription_of(world["people"]["system"])
    return done(api_client(user).delete(f"{TMF}/hub/{subscription.pk}"))


def fresh(user):
    """A fresh copy of `user` (None stays None): no permission or profile cached by an
    earlier probe."""
    return None if user is None else get_user_model().objects.get(pk=user.pk)

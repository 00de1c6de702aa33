"""Every console page of every role, on one small floor: what the accessibility and layout
tests walk through.

The floor is `demo_data.populate()` (two Pusat agents, Support, a supervisor, tickets of several
flows and states) plus a Malang agent with tickets of its own, an admin, three escalations, a
gamas incident, notifications, message templates with messages on a ticket's timeline, a
second incident whose customers are being informed, and a user who has set up two-factor
sign-in (for the verify and recovery-code pages). `pages(role, floor)` lists (name, address)
pairs for one role.
"""

from __future__ import annotations

import binascii
import contextlib
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP

from tests import factories
from tests.e2e import demo_data
from tickets import services
from tickets.models import (
    AgentProfile,
    Availability,
    Broadcast,
    Campaign,
    CustomerMessage,
    DispatchMode,
    Offer,
    Site,
    Ticket,
)
from tickets.services import accounts, dispatch, imports
from tickets.services.live import notify

PASSWORD = demo_data.PASSWORD
TWO_FACTOR_USER = "agent.duafaktor"

# role -> the demo user who logs in ("anonymous": nobody)
USERS = {
    "anonymous": None,
    "agent_pusat": "agent.pusat",
    "agent_malang": "agent.malang",
    "supervisor": "supervisor.pusat",
    "support": "support.satu",
    "admin": "admin.satu",
}


@dataclass
class ConsoleFloor:
    tickets: dict = field(default_factory=dict)  # what the ticket is -> its id
    escalation: int = 0
    incident: int = 0
    import_job: int = 0
    recovery_codes: list = field(default_factory=list)
    message_template: int = 0
    informing_incident: int = 0


def build() -> ConsoleFloor:
    floor = demo_data.populate()
    found = ConsoleFloor()
    malang = factories.agent(site_code="MLG", flows=("nossa", "c4_caring"), username="agent.malang")
    supervisor = floor.supervisor
    admin = factories.user("Admin", username="admin.satu")

    # Agent Pusat: a waiting ticket (breached), one of theirs being diagnosed, a closed one.
    found.tickets["new"] = floor.target.pk
    mine = factories.arrive("nossa", service=demo_data.service(), summary="Internet lambat")
    services.claim_ticket(ticket_id=mine.pk, agent=floor.agent)
    services.transition_ticket(ticket_id=mine.pk, name="start_diagnosis", actor=floor.agent)
    services.record_contact_attempt(ticket_id=mine.pk, agent=floor.agent, outcome="no_answer")
    services.add_note(ticket_id=mine.pk, author=floor.agent, text="Redaman -27 dBm, cek ODP.")
    found.tickets["diagnosing"] = mine.pk
    closed = factories.arrive("nossa", service=demo_data.service())
    factories.put_in_state(closed, "closed", awaiting_agent=False, closing_code="FIXED_REMOTE")
    found.tickets["closed"] = closed.pk

    # Escalations on the desk: one taken back from Support later, one overdue.
    reasons = ("ONT LOS merah, redaman -40 dBm", "Pelanggan minta kompensasi")
    escalations = [
        demo_data.escalate(
            factories.arrive("nossa", service=demo_data.service(), summary=reason),
            floor.agent,
            reason,
        )
        for reason in reasons
    ]
    found.escalation = escalations[0].pk
    found.tickets["escalated"] = escalations[0].ticket_id

    # Agent Malang: a C4 Caring ticket of theirs and some waiting work at Malang.
    caring = factories.flow_ticket("c4_caring", site_code="MLG")
    services.claim_ticket(ticket_id=caring.pk, agent=malang)
    found.tickets["malang"] = caring.pk
    for _ in range(2):
        factories.arrive("nossa", service=factories.service_at("MLG"))

    # A gamas incident over the ODP of one of the waiting tickets, and notifications.
    incident = factories.open_gamas(actor=supervisor)
    found.incident = incident.pk
    for user in (floor.agent, malang, floor.support, supervisor):
        notify(user_id=user.pk, kind="sla_at_risk", message="IN16672401 hampir lewat SLA",
               ticket=floor.target)  # fmt: skip
        notify(user_id=user.pk, kind="escalation_answered", message="Eskalasi dijawab")
    services.sweep_sla()

    # An uploaded Ideas list whose line 3 was rejected (an 11-digit service number).
    campaign = Campaign.objects.create(code="ideas-a11y", name="Ideas Desember", flow="ideas")
    job = imports.start_import(
        kind="ideas",
        file_name="ideas-desember.csv",
        content=(
            "service_number,customer_name,phone,sto,olt,odp,summary\n"
            "131100000021,Budi Santoso,081234567801,KBY,OLT-KBY-02,ODP-KBY-FAC/011,Tawaran\n"
            "13110000002,Siti Aminah,081234567802,KBY,OLT-KBY-02,ODP-KBY-FAC/011,Tawaran\n"
        ),
        campaign=campaign,
        uploaded_by=supervisor,
    )
    imports.run_import_job(job.pk)
    found.import_job = job.pk

    # Dispatch at Pusat (push and pull): agent.pusat is available and has a ticket offered, so
    # the offers strip is on every one of their pages.
    factories.dispatch_at("PST", DispatchMode.BOTH)
    AgentProfile.objects.filter(user=floor.agent).update(
        availability=Availability.AVAILABLE, capacity=10
    )
    dispatch.dispatch_site(Site.objects.get(code="PST").pk)
    assert Offer.objects.filter(agent=floor.agent, status="pending").exists()
    dispatch.push_sites.forget()

    # Customer messages, after every arrival above (so building the floor sends nothing): the
    # templates, a message of each outcome on the diagnosed ticket's timeline, and a second
    # incident whose customers are being informed (2 of 3 so far).
    found.message_template = messages_for(found, admin, supervisor)

    # A user with an authenticator app: logging in leads to the verify page.
    second = factories.agent(site_code="PST", flows=("nossa",), username=TWO_FACTOR_USER)
    key = accounts.new_totp_secret()
    totp = TOTP(key=binascii.unhexlify(key), step=30, t0=0, digits=6, drift=0)
    totp.time = time.time()
    _device, found.recovery_codes = accounts.confirm_enrolment(
        user=second, key=key, code=f"{totp.token():06d}"
    )
    return found


def messages_for(found: ConsoleFloor, admin, supervisor) -> int:
    """Message templates (the WhatsApp one waiting for WhatsApp's approval), three messages on
    the diagnosed ticket's timeline and an incident's broadcast in progress; returns the
    WhatsApp template's id."""
    services.save_template(
        actor=admin, event="report_received", flow="", channel="sms", active=True,
        text_id="Yth. {customer_name}, laporan {service_number} diterima: tiket {ticket_number}.",
        text_en="Dear {customer_name}, report {service_number} received: ticket {ticket_number}.",
    )  # fmt: skip
    whatsapp = services.save_template(
        actor=admin, event="report_received", flow="nossa", channel="whatsapp", active=True,
        text_id="Laporan {ticket_number} diterima.", whatsapp_name="draft_laporan_diterima",
    )  # fmt: skip
    services.save_template(
        actor=admin, event="gamas_opened", flow="", channel="sms", active=True,
        text_id="Gangguan massal {incident_number} di {area}: {incident_title}.",
    )  # fmt: skip
    ticket = Ticket.objects.select_related("service__customer").get(pk=found.tickets["diagnosing"])
    now = timezone.now()
    for once, status, fields in (
        ("floor:sent", "delivered", {"queued_at": now, "sent_at": now, "delivered_at": now}),
        ("floor:held", "held", {"reason": "quiet_hours", "not_before": now + timedelta(hours=9)}),
        ("floor:skipped", "skipped", {"reason": "opted_out"}),
    ):
        CustomerMessage.objects.create(
            customer=ticket.service.customer, ticket=ticket, event="report_received",
            channel="sms", language="id", once=once, status=status,
            text=f"Yth. pelanggan, laporan {ticket.number} diterima.", **fields,
        )  # fmt: skip
    informing = factories.open_gamas(actor=supervisor)
    Broadcast.objects.create(
        incident=informing, event="gamas_opened", started_by=supervisor, total=3, done=2
    )
    found.informing_incident = informing.pk
    return whatsapp.pk


def call_lists(floor: ConsoleFloor) -> list[tuple[str, str]]:
    """The call-list imports, an import with a rejected row, and the Callback record form."""
    return [
        ("imports", reverse("imports")),
        ("import", reverse("import_detail", args=[floor.import_job])),
        ("callback-record", reverse("callback_record")),
    ]


def pages(role: str, floor: ConsoleFloor) -> list[tuple[str, str]]:
    """The (name, address) of every page this role opens."""
    ticket = floor.tickets
    if role == "anonymous":
        return [("login", "/login/"), ("flows", "/flows/"), ("404", "/no-such-page/")]
    common = [
        ("home", "/"),
        ("flows", "/flows/"),
        ("notifications", "/notifications/"),
        ("two-factor", "/account/two-factor/"),
        ("two-factor-enrol", "/account/two-factor/enrol/"),
        ("404", "/tickets/999999/"),
    ]
    if role == "agent_pusat":
        return [
            *common,
            ("queues", "/queues/"),
            ("my-tickets", "/queues/mine/"),
            ("workspace-new", f"/tickets/{ticket['new']}/"),
            ("workspace-diagnosing", f"/tickets/{ticket['diagnosing']}/"),
            ("workspace-escalated", f"/tickets/{ticket['escalated']}/"),
            ("workspace-closed", f"/tickets/{ticket['closed']}/"),
            ("403", "/supervisor/"),
        ]
    if role == "agent_malang":
        return [
            *common,
            ("queues", "/queues/"),
            ("my-tickets", "/queues/mine/"),
            ("workspace-c4-caring", f"/tickets/{ticket['malang']}/"),
            ("403", "/desk/"),
        ]
    desk = [("desk", "/desk/"), ("escalation", f"/desk/{floor.escalation}/")]
    gamas = [
        ("incidents", "/incidents/"),
        ("incident", f"/incidents/{floor.incident}/"),
        ("incident-informing", f"/incidents/{floor.informing_incident}/"),
    ]
    if role == "support":
        return [*common, *desk, *gamas, ("workspace-escalated", f"/tickets/{ticket['escalated']}/")]
    supervising = [
        ("dashboard", "/supervisor/"),
        ("slg", "/supervisor/slg/"),
        ("agents", "/supervisor/agents/"),
        ("all-tickets", "/queues/all/"),
        ("workspace-diagnosing", f"/tickets/{ticket['diagnosing']}/"),
    ]
    if role == "supervisor":
        return [
            *common,
            *supervising,
            *desk,
            *gamas,
            *call_lists(floor),
            ("403", "/sla-policies/"),
            ("403-message-templates", "/supervisor/message-templates/"),
        ]
    if role == "admin":
        return [
            *common,
            *supervising,
            *desk,
            *gamas,
            *call_lists(floor),
            ("sla-policies", "/sla-policies/"),
            ("sla-policy-form", "/sla-policies/nossa/3/"),
            ("message-templates", "/supervisor/message-templates/"),
            ("message-template-new", "/supervisor/message-templates/new/"),
            ("message-template-edit", f"/supervisor/message-templates/{floor.message_template}/"),
        ]
    raise ValueError(role)


# --- In the browser ----------------------------------------------------------------------
def new_context(browser, base_url: str, language: str):
    """A browser context speaking `language` (the console's language cookie). The console's
    Content-Security-Policy allows no inline script, which is how axe is injected: it is
    bypassed in these contexts only."""
    context = browser.new_context(
        viewport={"width": 1366, "height": 800},
        base_url=base_url,
        bypass_csp=True,
        locale="id-ID" if language == "id" else "en-GB",
    )
    context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    return context


@contextlib.contextmanager
def signed_in(browser, base_url: str, language: str, username: str | None):
    """A page of a fresh context speaking `language`, signed in as `username` (None: signed
    out); the context is closed afterwards."""
    context = new_context(browser, base_url, language)
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        if username:
            log_in(page, username)
        yield page
    finally:
        context.close()


def log_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()


def settle(page) -> None:
    """Wait for the page's htmx loads (customer panel, articles) to finish: htmx marks an
    element with .htmx-request while its request is in flight."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")

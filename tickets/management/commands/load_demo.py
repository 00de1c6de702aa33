"""Demo data: a user for every role, customers and their lines, and tickets in every state of
every flow, driven through the real services so each ticket's log tells how it got there.

    python manage.py load_demo            # loads once; later runs only refresh the demo users
    python manage.py load_demo --reset    # wipes the demo tickets and loads them again

The passwords printed at the end are for a demo on a laptop ONLY: never run this command against
a database that real people use.

How the tickets are made: for each flow machine, the cheapest path of transitions from `new` to
every state is found from the machine's own metadata (django-fsm's transitions, see
`arrival_paths`), and one ticket per path walks it through `tickets.services`. Inputs are filled
from the transition's declared `Input`s; conditions are made true the way the world would make
them true: a recorded call for `customer_reached`, failed calls for `attempts_exhausted`, and an
external check's answer in `ticket.facts` for the Ibooster / E-payment / Webcare conditions
(written on the row, as the adapter task would). Afterwards the timestamps are spread over the
last days, so queues, SLA clocks and timelines look lived in.

Demo rows are recognised by their service numbers: every demo line's number starts with one of
`DEMO_SERVICE_PREFIXES` (the bench generator in `bench/` never uses those); the two demo outages
by their titles and areas (`demo_incidents`). The wipe deletes those rows only, so the demo can
live next to the generator's tickets, lines and incidents, before or after them.

A run may stop half way (an error, Ctrl-C): every service call commits on its own. The load's
last transaction spreads the timelines and writes the spare lines, so a later run knows the load
finished when every state has its ticket and the spare lines are there (`load_finished`);
otherwise it wipes what the stopped run left and loads again.

Every demo line, and its customer, is a line of the line directory
(`integrations/adapters/lines.py`), which the stubs answer from too: a demo ticket, I-SISKA and
Minitools agree about its customer, address, package, OLT and ODP (see `pick_demo_lines`).

`DEMO_USERS` / `ensure_demo_users` and the path planner are also used by
`bench/generate_tickets.py`.
"""

from __future__ import annotations

import functools
import heapq
import random
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from integrations.adapters.base import customer_ont
from integrations.adapters.lines import SERVICE_NUMBER_PREFIXES
from integrations.adapters.lines import line as directory_line
from integrations.models import AdapterCall
from tickets import services, sla, stats
from tickets.flows import FLOWS, as_flow
from tickets.flows.base import CLOSED, ESCALATED, closing_code_choices, system
from tickets.models import (
    AgentProfile,
    Campaign,
    ContactAttempt,
    ContactOutcome,
    Customer,
    Escalation,
    Flow,
    GamasIncident,
    MessageTemplate,
    Note,
    Priority,
    Role,
    Service,
    Site,
    SlaStatus,
    Ticket,
    TransitionLog,
)

# --- Demo users -------------------------------------------------------------------------------
ALL_FLOWS = tuple(Flow.values)
# Pusat works every flow except C4 Caring, which is Malang's alone (SOP 8.4).
PUSAT_FLOWS = tuple(flow for flow in ALL_FLOWS if flow != Flow.C4_CARING)


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    first_name: str
    last_name: str
    site: str | None = None
    flows: tuple[str, ...] = ()
    superuser: bool = False


DEMO_USERS = (
    DemoUser("agent.pusat", "demo-agent-123", Role.AGENT, "Rina", "Agustina", "PST", PUSAT_FLOWS),
    DemoUser("agent.pusat2", "demo-agent-123", Role.AGENT, "Dimas", "Prasetyo", "PST", PUSAT_FLOWS),
    DemoUser("agent.malang", "demo-agent-123", Role.AGENT, "Wulan", "Sari", "MLG", ALL_FLOWS),
    DemoUser("agent.malang2", "demo-agent-123", Role.AGENT, "Bayu", "Firmansyah", "MLG", ALL_FLOWS),
    DemoUser("supervisor", "demo-supervisor-123", Role.SUPERVISOR, "Hendra", "Wijaya"),
    DemoUser("support", "demo-support-123", Role.SUPPORT, "Maya", "Kusuma"),
    DemoUser("admin", "demo-admin-123", Role.ADMIN, "Arif", "Nugroho", superuser=True),
    # A system client of the TMF621 API (the CRM): it gets a token, it never signs in.
    DemoUser("crm", "demo-crm-123", Role.SYSTEM, "CRM", "Indihome"),
)


def ensure_demo_users(*, set_passwords: bool = True) -> dict[str, object]:
    """Create or refresh the demo users (groups, agent profiles, known passwords); by username.

    The role groups and the sites come with `migrate` (see `tickets.roles`).
    """
    user_model = get_user_model()
    sites = {site.code: site for site in Site.objects.all()}
    groups = {group.name: group for group in Group.objects.filter(name__in=Role.values)}
    missing = {spec.site for spec in DEMO_USERS if spec.site} - set(sites)
    missing |= set(Role.values) - set(groups)
    if missing:
        raise CommandError(f"Missing sites or role groups {sorted(missing)}: run migrate first.")
    users = {}
    for spec in DEMO_USERS:
        user, created = user_model.objects.get_or_create(username=spec.username)
        user.first_name, user.last_name = spec.first_name, spec.last_name
        user.is_active = True
        user.is_staff = user.is_superuser = spec.superuser
        if created or set_passwords:
            user.set_password(spec.password)
        user.save()
        user.groups.set([groups[spec.role]])
        if spec.site:
            number = sum(
                1 for other in DEMO_USERS[: DEMO_USERS.index(spec) + 1] if other.site == spec.site
            )
            AgentProfile.objects.update_or_create(
                user=user,
                defaults={
                    "site": sites[spec.site],
                    "flows": list(spec.flows),
                    "agent_code": f"T2{spec.site}{number:02d}",
                },
            )
        users[spec.username] = user_model.objects.get(pk=user.pk)  # no stale permission cache
    return users


# The demo's customer messages (docs/notifications.md): (event, channel, WhatsApp name,
# Indonesian text, English text). Written after the demo tickets, so loading sends nothing;
# what agents do afterwards in the demo sends them (to the stub gateways).
DEMO_MESSAGE_TEMPLATES = (
    ("report_received", "sms", "",
     "Yth. {customer_name}, laporan gangguan layanan {service_number} kami terima dengan nomor "
     "tiket {ticket_number}. Perkiraan selesai: {expected_time}. Terima kasih.",
     "Dear {customer_name}, we received your fault report for service {service_number}, "
     "ticket {ticket_number}. Expected fix by {expected_time}. Thank you."),
    ("report_received", "whatsapp", "t2_report_received",
     "Yth. {customer_name}, laporan gangguan layanan {service_number} kami terima dengan nomor "
     "tiket {ticket_number}. Perkiraan selesai: {expected_time}.",
     "Dear {customer_name}, we received your fault report for service {service_number}, "
     "ticket {ticket_number}. Expected fix by {expected_time}."),
    ("technician_dispatched", "sms", "",
     "Yth. {customer_name}, teknisi kami menuju lokasi untuk tiket {ticket_number}. "
     "Perkiraan selesai: {expected_time}.",
     "Dear {customer_name}, a technician is on the way for ticket {ticket_number}. "
     "Expected fix by {expected_time}."),
    ("restored", "sms", "",
     "Yth. {customer_name}, layanan {service_number} sudah normal kembali (tiket "
     "{ticket_number}). Hubungi 147 bila masih ada kendala.",
     "Dear {customer_name}, service {service_number} works again (ticket {ticket_number}). "
     "Call 147 if anything is still wrong."),
    ("closed", "sms", "",
     "Yth. {customer_name}, tiket {ticket_number} untuk layanan {service_number} telah ditutup. "
     "Terima kasih telah menggunakan IndiHome.",
     "Dear {customer_name}, ticket {ticket_number} for service {service_number} is closed. "
     "Thank you for using IndiHome."),
    ("lapul_apology", "sms", "",
     "Yth. {customer_name}, mohon maaf gangguan layanan {service_number} terulang. Laporan Anda "
     "kami prioritaskan dengan tiket {ticket_number} (sebelumnya {previous_ticket_number}). "
     "Perkiraan selesai: {expected_time}.",
     "Dear {customer_name}, we are sorry the fault on service {service_number} is back. Your "
     "report has priority as ticket {ticket_number} (before: {previous_ticket_number}). "
     "Expected fix by {expected_time}."),
    ("gamas_opened", "sms", "",
     "Yth. {customer_name}, terjadi gangguan massal di area {area} ({incident_number}) yang "
     "memengaruhi layanan {service_number}. Teknisi kami sedang menanganinya.",
     "Dear {customer_name}, an outage in area {area} ({incident_number}) affects service "
     "{service_number}. Our technicians are on it."),
    ("gamas_recovered", "sms", "",
     "Yth. {customer_name}, gangguan massal {incident_number} di area {area} telah pulih. "
     "Nyalakan ulang modem bila layanan {service_number} belum normal.",
     "Dear {customer_name}, outage {incident_number} in area {area} is over. Restart your "
     "modem if service {service_number} does not work yet."),
)  # fmt: skip


def ensure_demo_message_templates(admin) -> int:
    """The demo's message templates, through the services as the demo admin; existing ones are
    left as they are (an admin may have edited them). Returns how many were added."""
    have = set(MessageTemplate.objects.values_list("event", "flow", "channel"))
    added = 0
    for event, channel, whatsapp_name, text_id, text_en in DEMO_MESSAGE_TEMPLATES:
        if (event, "", channel) in have:
            continue
        services.save_template(
            actor=admin, event=event, flow="", channel=channel, text_id=text_id,
            text_en=text_en, whatsapp_name=whatsapp_name, active=True,
        )  # fmt: skip
        added += 1
    return added


def demo_user_table() -> str:
    rows = [("username", "password", "role", "site", "flows")]
    rows += [
        (spec.username, spec.password, spec.role, spec.site or "-", ",".join(spec.flows) or "-")
        for spec in DEMO_USERS
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = [
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


# --- The fake world: lines, from the line directory ------------------------------------------
# Every demo line is a line of the directory (`integrations/adapters/lines.py`): its customer,
# address, package and network codes are the ones I-SISKA and the other stubs give for its
# number. Demo service numbers are a regional prefix, "00" and 6 digits; the bench generator and
# the stubs' customer pool use the prefix and 8 digits from 10000000, so they never meet.
DEMO_SERVICE_PREFIXES = tuple(f"{prefix}00" for prefix in SERVICE_NUMBER_PREFIXES)
DEMO_NUMBERS_PER_PREFIX = 999_999

# The two demo outages: one still open, one recovered (its reports are being verified). Both
# codes are the directory's; the ODP lies on OLT-BLB-02, away from the open outage. The demo
# knows its own incidents by their title, area and opener (`demo_incidents`).
OPEN_OUTAGE = ("olt", "OLT-KBL-02", "KBL")
RECOVERED_OUTAGE = ("odp", "ODP-BLB-FAD/007", "BLB")
OPEN_OUTAGE_TITLE = "Kabel feeder putus, OLT-KBL-02 Kebalen mati total"
RECOVERED_OUTAGE_TITLE = "ODP Blimbing FAD/007 rusak tertabrak truk"
SPARE_LINES = 40  # lines with no ticket yet, for trying arrivals by hand
# The spare lines come from their own part of the demo range, the same whatever the options,
# and are the load's last write: their presence says a load ran to its end (`load_finished`).
SPARE_FROM = 900_000


def demo_numbers(start: int = 1, stop: int = DEMO_NUMBERS_PER_PREFIX + 1) -> Iterator[str]:
    """The demo range (sequences `start` to `stop - 1`) in order, the regional prefixes taking
    turns."""
    for sequence in range(start, stop):
        for prefix in DEMO_SERVICE_PREFIXES:
            yield f"{prefix}{sequence:06d}"


def create_lines(numbers: list[str]) -> list[Service]:
    """Lines and their customers (one each) for these numbers, as the line directory has them.

    In one transaction: an interrupted load leaves no customer without its line.
    """
    lines = [directory_line(number) for number in numbers]
    with transaction.atomic():
        customers = Customer.objects.bulk_create(
            Customer(name=found.customer_name, phone=found.phone, email=found.email,
                     address=found.address)
            for found in lines
        )  # fmt: skip
        return Service.objects.bulk_create(
            Service(
                service_number=found.service_number,
                customer=customer,
                package=found.package.name,
                address=found.address,
                sto=found.sto,
                olt=found.olt,
                odp=found.odp,
            )
            for found, customer in zip(lines, customers, strict=True)
        )


def pick_demo_lines(
    needs: dict[str, int],
    *,
    avoid: frozenset[str] = frozenset(),
    start: int = 1,
    stop: int = SPARE_FROM,
) -> dict[str, list[str]]:
    """Demo numbers for each kind of line: `open_outage` (on the open outage's OLT),
    `recovered_outage` (on the recovered outage's ODP) and `general` (in neither); the first
    ones of the demo range that the line directory places there, so a load picks the same.

    `avoid`: the area codes (STO, OLT or ODP) of other open gamas incidents, for instance the
    bench generator's. An IVR report from a general line must not be linked to one of them at
    its arrival, nor one from the open outage to an incident on a narrower area than the demo's
    OLT (`services.intake.covering_incident`); such lines are skipped.
    """
    wanted = {
        "open_outage": {OPEN_OUTAGE[0]: OPEN_OUTAGE[1]},
        "recovered_outage": {RECOVERED_OUTAGE[0]: RECOVERED_OUTAGE[1]},
    }
    picked: dict[str, list[str]] = {kind: [] for kind in needs}
    outages = (OPEN_OUTAGE[1], RECOVERED_OUTAGE[1])
    for number in demo_numbers(start, stop):
        found = directory_line(number)
        kind = "general"
        for candidate, where in wanted.items():
            if all(getattr(found, level) == code for level, code in where.items()):
                kind = candidate
        if kind == "general" and {found.olt, found.odp} & set(outages):
            continue
        if kind == "general" and {found.sto, found.olt, found.odp} & avoid:
            continue
        if kind == "open_outage" and found.odp in avoid:
            continue
        if len(picked.get(kind, ())) < needs.get(kind, 0):
            picked[kind].append(number)
        if all(len(picked[kind]) >= count for kind, count in needs.items()):
            return picked
    raise CommandError(f"The demo range holds too few lines for {dict(needs)}.")


@functools.cache
def spare_numbers() -> tuple[str, ...]:
    """The spare lines' numbers: general lines from `SPARE_FROM` on, never a ticket's line."""
    picked = pick_demo_lines(
        {"general": SPARE_LINES}, start=SPARE_FROM, stop=DEMO_NUMBERS_PER_PREFIX + 1
    )
    return tuple(picked["general"])


def nossa_number(sequence: int) -> str:
    """A NOSSA trouble-ticket number: IN + 8 digits (demo numbers are IN166xxxxx)."""
    return f"IN{16_600_000 + sequence:08d}"


SUMMARIES = {
    "fault": (
        ("internet", "Internet mati total, lampu LOS di modem merah"),
        ("internet", "Internet lambat sejak dua hari, speedtest di bawah 5 Mbps"),
        ("internet", "Internet sering putus-putus terutama malam hari"),
        ("internet", "Tidak bisa browsing padahal lampu PON menyala normal"),
        ("wifi", "Wi-Fi tidak terdeteksi di HP dan laptop"),
        ("iptv", "UseeTV tidak bisa tayang, muncul kode error 1302"),
        ("voice", "Telepon rumah tidak ada nada sambung"),
    ),
    Flow.CALLBACK: (
        ("internet", "Minta ditelepon balik: internet mati sejak pagi"),
        ("billing", "Minta ditelepon balik: tagihan bulan ini lebih tinggi"),
        ("internet", "Minta ditelepon balik: internet lambat saat jam kerja"),
        ("iptv", "Minta ditelepon balik: channel UseeTV hilang"),
    ),
    Flow.GAMAS: (
        ("internet", "Lapor via IVR: internet mati, tetangga juga mati"),
        ("internet", "Lapor via IVR: tidak ada koneksi sejak subuh"),
        ("iptv", "Lapor via IVR: internet dan UseeTV mati bersamaan"),
    ),
    Flow.C4_CARING: (
        ("caring", "Caring pelanggan pasang baru bulan ini"),
        ("caring", "Caring setelah perbaikan gangguan"),
        ("caring", "Caring pelanggan dengan tiga gangguan dalam sebulan"),
    ),
    Flow.FORCE_CLOSE: (
        ("internet", "Tiket NOSSA ditutup tanpa konfirmasi pelanggan"),
        ("internet", "Force close oleh teknisi, perlu verifikasi ke pelanggan"),
    ),
    Flow.IDEAS: (
        ("offer", "Penawaran upgrade kecepatan internet"),
        ("offer", "Penawaran add-on UseeTV"),
    ),
}
NOTES = {
    "resolve_on_call": "Pelanggan dipandu restart ONT, internet kembali normal.",
    "create_nossa_ticket": "Internet mati total sejak pagi, dibuatkan tiket NOSSA.",
    "escalate_to_field": "Redaman tinggi di sisi pelanggan (-29 dBm), perlu teknisi ke lokasi.",
    "apply_remote_fix": "Reboot ONT dari ACS, menunggu hasil.",
    "remote_fix_done": "Setelah reboot ONT status online, lanjut verifikasi.",
    "await_field": "Work order sudah diterima teknisi.",
    "field_done": "Teknisi mengganti patch cord, redaman normal.",
    "link_to_gamas": "Lokasi pelanggan di area gangguan massal.",
    "link": "Pelanggan di area gamas, sudah diinformasikan.",
    "not_restored": "Pelanggan menyatakan internet masih sering putus.",
    "report_issue": "Pelanggan mengeluhkan tagihan naik setelah upgrade.",
    "mark_cared": "Pelanggan puas dengan layanan, tidak ada keluhan.",
    "confirm_ok": "Pelanggan konfirmasi internet sudah normal.",
    "report_not_ok": "Menurut pelanggan lampu LOS masih merah.",
    "reopen": "Tiket dibuka kembali di NOSSA.",
    "escalate_priority": "Gangguan berulang dalam sebulan, eskalasi prioritas ke My CX.",
    "start_monitoring": "Monitoring trafik dan redaman selama 2x24 jam.",
    "verify": "Trafik stabil selama monitoring, konfirmasi ke pelanggan.",
    "not_fixed": "Masih putus-putus saat malam hari, lanjut monitoring.",
    "report_not_recovered": "Gamas sudah pulih tetapi layanan pelanggan masih LOS.",
    "convert": "Dibuatkan tiket NOSSA untuk pelanggan ini.",
    "accept": "Pelanggan setuju upgrade mulai bulan depan.",
    "enter_order": "Order sudah masuk Starclick.",
    "decline": "Pelanggan belum berminat, tagihan masih cukup besar.",
    "mark_not_eligible": "Ada tunggakan, pelanggan tidak eligible untuk penawaran.",
    "mark_unreachable": "Sudah dihubungi tiga kali, tidak diangkat.",
    "close": "Selesai.",
}
GENERIC_NOTE = "Sudah ditindaklanjuti sesuai SOP."
ESCALATION_REASONS = (
    "Data pelanggan di I-SISKA tidak sesuai dengan data di NOSSA, mohon dicek.",
    "Pelanggan minta kompensasi SLG, mohon arahan Support.",
    "ACS tidak bisa menjangkau ONT, mohon bantuan pengecekan.",
    "Pelanggan komplain berulang, mohon bantuan eskalasi internal.",
)
SUPPORT_ANSWERS = (
    "Sudah dicek, data pelanggan sudah diperbarui. Silakan lanjutkan.",
    "Kompensasi diproses oleh tim billing, informasikan ke pelanggan.",
    "ONT sudah bisa dijangkau kembali, lanjutkan penanganan.",
)
CAMPAIGNS = (
    {
        "code": "ideas-upgrade-100",
        "name": "Upgrade ke IndiHome 100 Mbps",
        "flow": Flow.IDEAS,
        "offer_code": "UPG100",
        "description": "Pelanggan 30/50 Mbps tanpa tunggakan: upgrade ke 100 Mbps.",
    },
    {
        "code": "ideas-usee-prime",
        "name": "Add-on UseeTV Prime",
        "flow": Flow.IDEAS,
        "offer_code": "USEEPRIME",
        "description": "Paket channel premium untuk pelanggan internet + TV.",
    },
    {
        "code": "c4-caring-psb",
        "name": "Caring pelanggan pasang baru",
        "flow": Flow.C4_CARING,
        "offer_code": "",
        "description": "Panggilan caring untuk pelanggan yang baru dipasang (daftar upload).",
    },
)


def ensure_demo_campaigns() -> dict[str, list[Campaign]]:
    """The demo campaigns (created or refreshed), by flow."""
    today = timezone.localdate()
    campaigns: dict[str, list[Campaign]] = defaultdict(list)
    for spec in CAMPAIGNS:
        campaign, _created = Campaign.objects.update_or_create(
            code=spec["code"],
            defaults={
                **spec,
                "active": True,
                "starts_on": today - timedelta(days=20),
                "ends_on": today + timedelta(days=40),
            },
        )
        campaigns[campaign.flow].append(campaign)
    return dict(campaigns)


# --- Paths through a machine ------------------------------------------------------------------
class Step(NamedTuple):
    name: str
    source: str
    target: str


def machine_steps(machine) -> list[tuple[Step, object]]:
    """Every transition of a flow machine with a fixed target, with its django-fsm Transition.

    Support's answer (`answer_escalation`) returns to wherever the ticket came from, so it has
    no fixed target and is left out; `arrival_paths` adds it where it is wanted.
    """
    found = machine._meta.get_field("state").get_all_transitions(machine)
    return [
        (Step(item.name, item.source, item.target), item)
        for item in found
        if isinstance(item.target, str) and (item.name, item.source) not in RESCUE_STEPS
    ]


# Steps that exist only to rescue a ticket stranded by a race (a recovery fan-out also moves
# reports still `linked`); the demo walks the usual road through `waiting_recovery`.
RESCUE_STEPS = frozenset({("gamas_recovered", "linked")})


def cheapest_paths(machine, start: str = "new") -> dict[str, list[Step]]:
    """For every reachable state, the cheapest path from `start`.

    Steps only a background job may take (`gamas_recovered`) cost more, so a state an agent can
    reach by hand is reached by hand.
    """
    steps = machine_steps(machine)
    best: dict[str, list[Step]] = {}
    queue: list[tuple[int, int, str, list[Step]]] = [(0, 0, start, [])]
    order = 0
    while queue:
        cost, _order, state, path = heapq.heappop(queue)
        if state in best:
            continue
        best[state] = path
        for step, found in steps:
            if step.source == state and step.target not in best:
                order += 1
                weight = 5 if found.permission is system else 1
                heapq.heappush(queue, (cost + weight, order, step.target, [*path, step]))
    return best


def arrival_paths(machine) -> dict[str, list[list[Step]]]:
    """For every state, the ways into it: the cheapest path to each transition that ends there.

    The first path of a state is its cheapest. One extra path per flow goes through Support and
    back (escalate, answer), from the deepest state an agent can escalate from.
    """
    best = cheapest_paths(machine)
    unreachable = [state for state in machine.states if state not in best]
    if unreachable:
        raise CommandError(f"{machine.__name__}: states not reachable from new: {unreachable}")
    ways: dict[str, list[list[Step]]] = {state: [best[state]] for state in machine.states}
    for step, _found in machine_steps(machine):
        path = [*best[step.source], step]
        if step.source in best and path != best[step.target] and step not in best[step.source]:
            ways[step.target].append(path)
    escalation = [step for step, _found in machine_steps(machine) if step.name == "escalate"]
    answer = getattr(machine, "answer_escalation", None)
    if escalation and answer is not None:
        deepest = max(escalation, key=lambda step: len(best[step.source]))
        back = Step("answer_escalation", ESCALATED, deepest.source)
        ways[deepest.source].append([*best[deepest.source], deepest, back])
    return ways


# --- The loader -------------------------------------------------------------------------------
PAUSE_AT = frozenset({"gamas_recovered"})  # taken by the incident's recovery fan-out, not here


@dataclass
class Job:
    """One demo ticket: the path it walks and where and when it lives."""

    number: int
    flow: str
    path: list[Step]
    area: str = "general"  # general | open_outage | recovered_outage
    created_at: datetime | None = None
    ends_at: datetime | None = None
    anchor: datetime | None = None  # when its gamas was recovered, if it waited for it
    history: Job | None = None  # Fresh Lapul: the earlier ticket on the same line
    arrival_flow: str = ""
    service: Service | None = None
    ticket_id: int | None = None
    agent: object = None
    done: int = 0
    names: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self):
        self.names = frozenset(step.name for step in self.path)
        self.arrival_flow = self.arrival_flow or self.flow

    @property
    def final_state(self) -> str:
        return self.path[-1].target if self.path else "new"


class DemoLoader:
    def __init__(self, *, seed: int, per_state: int, new_per_flow: int):
        self.rng = random.Random(seed)
        self.per_state = per_state
        self.new_per_flow = new_per_flow
        self.now = timezone.now()
        self.open_outage_at = self.now - timedelta(hours=3)
        self.recovered_outage_at = self.now - timedelta(hours=30)
        self.recovered_at = self.now - timedelta(hours=8)
        self.sequence = 0
        self.jobs: list[Job] = []

    # -- the whole load --
    def load(self) -> dict[str, int]:
        self.users = ensure_demo_users()
        self.users_by_id = {user.pk: user for user in self.users.values()}
        self.supervisor, self.support = self.users["supervisor"], self.users["support"]
        self.agents_by_site = defaultdict(list)
        for spec in DEMO_USERS:
            if spec.role == Role.AGENT:
                self.agents_by_site[spec.site].append(self.users[spec.username])
        self.campaigns = ensure_demo_campaigns()
        self._plan()
        self._make_world()
        self.open_incident = self._outage(OPEN_OUTAGE_TITLE, OPEN_OUTAGE)
        self.recovered_incident = self._outage(RECOVERED_OUTAGE_TITLE, RECOVERED_OUTAGE)
        paused = [job for job in self.jobs if not self._start(job)]
        services.transition_incident(
            incident_id=self.recovered_incident.pk,
            name="recover",
            actor=self.supervisor,
            inputs={"note": "ODP sudah diganti, semua port kembali normal."},
        )
        # The recovery's fan-out runs after commit as a Celery task; run its batches here too,
        # so the children move on even when the command runs inside an outer transaction.
        while services.fan_out_recovery_batch(incident_id=self.recovered_incident.pk):
            pass
        for job in paused:
            if not self._advance(job):
                raise CommandError(f"Ticket {job.ticket_id} still waits after the recovery.")
        # The last write, all or nothing: the timelines spread over the last days, then the
        # spare lines, whose presence tells a later run that this one finished.
        with transaction.atomic():
            self._spread_timelines()
            create_lines(list(spare_numbers()))
        return {"tickets": len(self._all_jobs()), "paused": len(paused)}

    def _outage(self, title: str, area: tuple[str, str, str]) -> GamasIncident:
        """Open one of the two demo outages, or take over the one an earlier run left open.

        A wipe keeps a demo incident that reports from other lines (the bench generator's, say)
        were linked to when it opened; a second incident on the same area would not get the
        demo's reports (the oldest open incident takes them), so the demo uses that one again.
        """
        left = demo_incidents().filter(title=title, state="open").order_by("opened_at", "pk")
        incident = left.first()
        if incident is not None:
            return incident
        return services.open_incident(
            title=title, area_level=area[0], area_code=area[1], actor=self.supervisor
        )

    def _all_jobs(self) -> list[Job]:
        return [job.history for job in self.jobs if job.history] + self.jobs

    # -- planning: which tickets, on which lines, when --
    def _plan(self) -> None:
        number = 0
        for flow, machine in FLOWS.items():
            ways = arrival_paths(machine)
            for state in machine.states:
                wanted = self.new_per_flow if state == "new" else self.per_state
                for copy in range(max(wanted, len(ways[state]))):
                    number += 1
                    path = ways[state][copy % len(ways[state])]
                    job = Job(number=number, flow=flow, path=path)
                    job.area = self._area_of(job, copy)
                    self._schedule(job)
                    if flow == Flow.FRESH_LAPUL:
                        self._add_history(job)
                    self.jobs.append(job)

    def _area_of(self, job: Job, copy: int) -> str:
        if "gamas_recovered" in job.names:
            return "recovered_outage"
        if job.flow == Flow.NOSSA and "link_to_gamas" in job.names:
            return "open_outage"
        if job.flow == Flow.GAMAS and "await_recovery" in job.names and copy % 2 == 0:
            return "open_outage"  # reported inside the outage: linked by the arrival rules
        return "general"

    def _between(self, earliest: datetime, latest: datetime) -> datetime:
        return earliest + (latest - earliest) * self.rng.random()

    def _schedule(self, job: Job) -> None:
        """When the ticket arrived and when its last step was taken.

        Ages are drawn against the flow's SLA targets, so most tickets are within SLA and some
        are at risk or breached, as on a real floor.
        """
        now, rng = self.now, self.rng
        priority = self._priority(job)
        if job.flow == Flow.FRESH_LAPUL:  # the arrival rules raise a repeat report's priority
            priority = services.raised(priority)
        policy = sla.policy_for(job.flow, priority)
        claim_within = timedelta(minutes=policy.claim_minutes)
        resolve_within = timedelta(minutes=policy.resolve_minutes)

        def minutes(low: float, high: float) -> timedelta:
            return timedelta(minutes=rng.uniform(low, high))

        if job.area == "recovered_outage":
            job.created_at = self._between(
                self.recovered_outage_at + minutes(10, 20), self.recovered_at - minutes(30, 40)
            )
            job.anchor = self.recovered_at
            job.ends_at = self._between(self.recovered_at + minutes(20, 30), now - minutes(5, 10))
            return
        if job.area == "open_outage" or job.names & {"link", "link_to_gamas"}:
            earliest = self.open_outage_at + minutes(5, 10)
            job.created_at = self._between(earliest, now - minutes(30, 40))
        elif job.final_state == CLOSED:
            # A Fresh Lapul's earlier ticket closed 4+ days ago: the repeat came after it.
            days = (1, 2.5) if job.flow == Flow.FRESH_LAPUL else (1.2, 10)
            job.created_at = now - timedelta(days=rng.uniform(*days))
        elif job.final_state == "new":
            job.created_at = now - max(timedelta(minutes=2), claim_within * rng.uniform(0.1, 1.15))
        else:
            age = min(resolve_within * rng.uniform(0.1, 1.15), timedelta(days=2.5))
            job.created_at = now - max(minutes(20, 40), age)
        if job.final_state == CLOSED:
            handled = max(minutes(20, 40), resolve_within * rng.uniform(0.1, 1.15))
            job.ends_at = min(job.created_at + handled, now - minutes(5, 10))
        else:
            job.ends_at = self._between(job.created_at, now - minutes(1, 3))

    def _add_history(self, job: Job) -> None:
        """A Fresh Lapul needs an earlier ticket on the same line, closed within the window."""
        nossa = cheapest_paths(FLOWS[Flow.NOSSA])[CLOSED]
        history = Job(number=-job.number, flow=Flow.NOSSA, path=nossa)
        history.created_at = self.now - timedelta(days=self.rng.uniform(4, 20))
        history.ends_at = history.created_at + timedelta(hours=self.rng.uniform(1, 20))
        job.history = history
        job.arrival_flow = Flow.NOSSA if job.number % 2 else Flow.CALLBACK

    def _make_world(self) -> None:
        """One line per demo ticket, each with its own customer, as the line directory has
        them, in the areas the tickets' stories need (the spare lines come at the end).

        Lines under another open gamas incident (the bench generator opens some) are left out,
        so that no arrival rule takes a demo ticket off its story."""
        needs = defaultdict(int)
        for job in self.jobs:
            needs[job.area] += 1
        others = GamasIncident.objects.filter(state="open").exclude(pk__in=demo_incidents())
        avoid = frozenset(others.values_list("area_code", flat=True))
        picked = pick_demo_lines(dict(needs), avoid=avoid)
        with transaction.atomic():
            pools = {kind: create_lines(numbers) for kind, numbers in picked.items()}
        for pool in pools.values():
            self.rng.shuffle(pool)
        for job in self.jobs:
            job.service = pools[job.area].pop()
            if job.history:
                job.history.service = job.service
        self.service_count = sum(len(numbers) for numbers in picked.values()) + SPARE_LINES
        self.customer_count = self.service_count  # one customer per line

    # -- walking one ticket --
    def _start(self, job: Job) -> bool:
        """Arrive and walk the path; False when it stops to wait for the gamas recovery."""
        if job.history is not None and not self._start(job.history):
            raise CommandError("A Fresh Lapul's earlier ticket cannot wait for a gamas.")
        ticket = self._arrive(job)
        job.ticket_id = ticket.pk
        agents = self.agents_by_site[ticket.site.code]
        job.agent = agents[abs(job.number) % len(agents)]
        return self._advance(job)

    def _arrive(self, job: Job):
        flow = job.arrival_flow
        self.sequence += 1
        fields = {"priority": self._priority(job)}
        kind = "fault" if flow in (Flow.NOSSA, Flow.FORCE_CLOSE) else flow
        category, summary = self.rng.choice(SUMMARIES[kind])
        fields.update(category=category, summary=summary)
        if flow in (Flow.NOSSA, Flow.FORCE_CLOSE):
            number = nossa_number(self.sequence)
            source = "nossa" if flow == Flow.NOSSA else "nossa-fc"
            fields.update(source_system=source, source_ref=number, nossa_number=number)
        elif flow == Flow.CALLBACK:
            # The Callback app's record ids are CB + 10 digits.
            fields.update(source_system="callback", source_ref=f"CB{2_600_000_000 + self.sequence}")
        elif flow == Flow.GAMAS:
            fields.update(source_system="ivr", source_ref=f"IVR{30_000_000 + self.sequence}")
        elif flow in self.campaigns:
            campaigns = self.campaigns[flow]
            fields.update(campaign=campaigns[job.number % len(campaigns)], source_system="campaign")
        ticket, _created = services.create_ticket(
            flow=flow, service=job.service, reported_at=job.created_at, **fields
        )
        if ticket.flow != job.flow:
            raise CommandError(
                f"A {flow} arrival on {job.service} became {ticket.flow}, not {job.flow}: "
                "the demo lines are not as planned."
            )
        return ticket

    def _priority(self, job: Job) -> int:
        if job.number % 11 == 0:
            return Priority.CRITICAL
        if job.number % 5 == 0:
            return Priority.HIGH
        if job.number % 7 == 0 and job.flow in (Flow.IDEAS, Flow.C4_CARING):
            return Priority.LOW
        return Priority.NORMAL

    def _reload(self, job: Job):
        return as_flow(Ticket.objects.select_related("site").get(pk=job.ticket_id))

    def _advance(self, job: Job) -> bool:
        while job.done < len(job.path):
            ticket = self._reload(job)
            step = job.path[job.done]
            if ticket.state != step.source:
                # The arrival rules or a background job took steps of the path already.
                job.done = self._catch_up(job, ticket.state)
                continue
            if step.name in PAUSE_AT:
                return False
            self._take(job, ticket, step)
            job.done += 1
        self._finishing_touches(job)
        return True

    def _catch_up(self, job: Job, state: str) -> int:
        rest = range(job.done, len(job.path))
        for index in rest:
            if job.path[index].source == state:
                return index
        for index in rest:
            if job.path[index].target == state:
                return index + 1
        raise CommandError(
            f"Ticket {job.ticket_id} ({job.flow}) is {state}, off its demo path {job.path}."
        )

    def _take(self, job: Job, ticket, step: Step) -> None:
        if step.name == "claim":
            services.claim_ticket(ticket_id=job.ticket_id, agent=job.agent, expected_state="new")
            return
        found = getattr(type(ticket), step.name)._django_fsm.get_transition(ticket.state)
        actor = self._actor_for(job, ticket, found)
        self._satisfy(job, found, actor)
        services.transition_ticket(
            ticket_id=job.ticket_id,
            name=step.name,
            actor=actor,
            inputs=self._inputs(job, found, step),
            expected_state=step.source,
        )

    def _actor_for(self, job: Job, ticket, found):
        """Who takes the step: the agent (taking the ticket first if nobody holds it), Support,
        or the system."""
        if ticket.assignee_id is None:
            ticket.assignee_id = job.agent.pk
            agent_may = found.has_perm(ticket, job.agent)
            ticket.assignee_id = None
            if agent_may:
                services.claim_ticket(ticket_id=job.ticket_id, agent=job.agent)
                return job.agent
        holder = self.users_by_id.get(ticket.assignee_id)
        for candidate in (holder, self.support, None):
            if (candidate is not None or holder is None) and found.has_perm(ticket, candidate):
                return candidate
        raise CommandError(f"No demo user may take “{found.name}” on ticket {ticket.pk}.")

    def _inputs(self, job: Job, found, step: Step) -> dict:
        values = {}
        for spec in found.custom.get("inputs", ()):
            if spec.kind == "closing_code":
                values[spec.name] = self._closing_code(job, step, spec)
            elif spec.kind == "choice":
                values[spec.name] = spec.choices[job.number % len(spec.choices)][0]
            elif spec.kind == "incident":
                values[spec.name] = self._incident_for(job).pk
            elif spec.kind == "offer":
                values[spec.name] = self._offer_code(job)
            elif spec.name == "reason":
                values[spec.name] = ESCALATION_REASONS[job.number % len(ESCALATION_REASONS)]
            elif spec.name == "answer":
                values[spec.name] = SUPPORT_ANSWERS[job.number % len(SUPPORT_ANSWERS)]
            elif spec.required or job.number % 2 == 0:
                values[spec.name] = NOTES.get(step.name, GENERIC_NOTE)
        return values

    def _incident_for(self, job: Job) -> GamasIncident:
        if "gamas_recovered" in job.names:
            return self.recovered_incident
        return self.open_incident

    def _offer_code(self, job: Job) -> str:
        ticket = Ticket.objects.select_related("campaign").get(pk=job.ticket_id)
        if ticket.campaign and ticket.campaign.offer_code:
            return ticket.campaign.offer_code
        return "UPG100"

    def _closing_code(self, job: Job, step: Step, spec) -> str:
        """The code that fits the ticket's story, among those this closing step accepts."""
        codes = [code for code, _label in closing_code_choices(spec, FLOWS[job.flow])]
        taken = {item.name for item in job.path[: job.done + 1]}
        hints = (
            ("unreachable" in step.name or step.source == "unreachable", "UNREACHABLE"),
            ("mark_not_eligible" in taken, "NOT_ELIGIBLE"),
            (step.source == "converted", "CONVERTED_NOSSA"),
            (step.source == "nossa_ticket_created", "NOSSA_TICKET"),
            ("gamas_recovered" in taken, "GAMAS_RECOVERED"),
            ("field_done" in taken, "FIXED_FIELD"),
            ("apply_remote_fix" in taken, "FIXED_REMOTE"),
            (step.source == "issue_found", "ISSUE_ESCALATED"),
            (True, step.source.upper()),
        )
        for applies, wanted in hints:
            if applies:
                match = next((code for code in codes if wanted in code), None)
                if match:
                    return match
        if not codes:
            raise CommandError(f"{job.flow} has no closing codes.")
        return codes[0]

    # -- making conditions true the way the world would --
    def _satisfy(self, job: Job, found, actor) -> None:
        names = {check.__name__ for check in found.conditions}
        for check in found.conditions:
            ticket = self._reload(job)
            if check(ticket):
                continue
            make = getattr(self, f"_make_{check.__name__}", None)
            if make is None:
                raise CommandError(
                    f"load_demo does not know how to make “{check.__name__}” true for "
                    f"{job.flow}.{found.name}: teach it in DemoLoader._make_{check.__name__}."
                )
            make(job, ticket, names)
        ticket = self._reload(job)
        failed = [check.__name__ for check in found.conditions if not check(ticket)]
        if failed:
            raise CommandError(f"{job.flow}.{found.name} on {ticket.pk}: still not {failed}.")

    def _call(self, job: Job, outcome: str, note: str = "") -> None:
        services.record_contact_attempt(
            ticket_id=job.ticket_id, agent=job.agent, outcome=outcome, note=note
        )

    def _make_customer_reached(self, job, ticket, names) -> None:
        """A call answered in this step (the one the guarded transition leaves): an answered
        call from an earlier step does not count."""
        if job.number % 3 == 0:
            self._call(job, ContactOutcome.NO_ANSWER, "Tidak diangkat.")
        self._call(job, ContactOutcome.ANSWERED, "Pelanggan bisa dihubungi.")

    def _make_attempts_exhausted(self, job, ticket, names) -> None:
        failures = (ContactOutcome.NO_ANSWER, ContactOutcome.BUSY, ContactOutcome.NO_ANSWER)
        for attempt in range(settings.TIER2_MAX_CONTACT_ATTEMPTS - ticket.failed_attempts):
            self._call(job, failures[attempt % len(failures)], "Tidak ada jawaban.")

    def _set_facts(self, job: Job, **facts) -> None:
        ticket = Ticket.objects.get(pk=job.ticket_id)
        Ticket.objects.filter(pk=job.ticket_id).update(facts={**ticket.facts, **facts})

    def _ibooster(self, job: Job, status: str) -> dict:
        online = status == "online"
        return {
            "service_number": job.service.service_number,
            "status": status,
            "onu_serial": customer_ont(job.service.service_number).serial,
            "ont_rx_power_dbm": round(self.rng.uniform(-23.5, -17), 2) if online else None,
            "olt_rx_power_dbm": round(self.rng.uniform(-25, -19), 2) if online else None,
            "checked_at": timezone.now().isoformat(),
        }

    def _make_service_online(self, job, ticket, names) -> None:
        self._set_facts(job, ibooster=self._ibooster(job, "online"))

    def _make_service_not_online(self, job, ticket, names) -> None:
        self._set_facts(job, ibooster=self._ibooster(job, "los"))

    def _arrears(self, names) -> dict:
        if "has_arrears" in names:
            months = self.rng.randint(1, 3)
            return {
                "arrears_total": months * self.rng.choice((285_000, 345_000)),
                "months_unpaid": months,
            }
        return {"arrears_total": 0, "months_unpaid": 0}

    def _make_offer_checked(self, job, ticket, names) -> None:
        offers = [
            {
                "code": campaign.offer_code,
                "name": campaign.name,
                "monthly_price_idr": 75_000,
                "description": campaign.description,
            }
            for campaign in self.campaigns.get(Flow.IDEAS, [])
        ]
        self._set_facts(job, epayment=self._arrears(names), webcare=offers)

    def _make_no_arrears(self, job, ticket, names) -> None:
        self._set_facts(job, epayment=self._arrears(names - {"has_arrears"}))

    def _make_has_arrears(self, job, ticket, names) -> None:
        self._set_facts(job, epayment=self._arrears({"has_arrears"}))

    def _make_nossa_number_received(self, job, ticket, names) -> None:
        self.sequence += 1
        Ticket.objects.filter(pk=job.ticket_id).update(nossa_number=nossa_number(self.sequence))

    def _make_issue_handled(self, job, ticket, names) -> None:
        """An issue found on a caring call goes to Support and comes back answered."""
        services.transition_ticket(
            ticket_id=job.ticket_id,
            name="escalate",
            actor=job.agent,
            inputs={"reason": ESCALATION_REASONS[job.number % len(ESCALATION_REASONS)]},
        )
        services.transition_ticket(
            ticket_id=job.ticket_id,
            name="answer_escalation",
            actor=self.support,
            inputs={"answer": SUPPORT_ANSWERS[job.number % len(SUPPORT_ANSWERS)]},
        )

    def _finishing_touches(self, job: Job) -> None:
        """Work in progress looks like it: a missed call while contacting, an agent's note."""
        ticket = self._reload(job)
        if ticket.assignee_id != job.agent.pk or ticket.is_closed:
            return
        if ticket.state == "contacting" and job.number % 2 == 0:
            self._call(job, ContactOutcome.BUSY, "Nada sibuk, coba lagi nanti.")
        if job.number % 4 == 0:
            services.add_note(
                ticket_id=job.ticket_id,
                author=job.agent,
                text="Pelanggan minta dihubungi setelah jam 16.00.",
            )

    # -- timestamps: spread every ticket's story over its own span of time --
    def _spread(self, count: int, start: datetime, end: datetime) -> list[datetime]:
        if count <= 0:
            return []
        if count == 1:
            return [start]
        end = max(end, start + timedelta(minutes=count))
        inner = sorted(self.rng.random() for _ in range(count - 2))
        return [start, *(start + (end - start) * share for share in inner), end]

    def _spread_timelines(self) -> None:
        jobs = {job.ticket_id: job for job in self._all_jobs()}
        ids = list(jobs)
        events = defaultdict(list)
        logs = list(TransitionLog.objects.filter(ticket_id__in=ids))
        for row in logs:
            events[row.ticket_id].append((row.at, 0, row.pk, "log", row))
        attempts = list(ContactAttempt.objects.filter(ticket_id__in=ids))
        for row in attempts:
            events[row.ticket_id].append((row.at, 1, row.pk, "call", row))
        escalations = list(Escalation.objects.filter(ticket_id__in=ids))
        due_after = {}
        for row in escalations:
            due_after[row.pk] = (row.due_at - row.raised_at) if row.due_at else None
            events[row.ticket_id].append((row.raised_at, 2, row.pk, "raised", row))
            if row.answered_at:
                events[row.ticket_id].append((row.answered_at, 3, row.pk, "answered", row))
        notes = list(Note.objects.filter(ticket_id__in=ids))
        for row in notes:
            events[row.ticket_id].append((row.created_at, 4, row.pk, "note", row))

        claim_targets = {
            pk: claim_by - created_at
            for pk, claim_by, created_at in Ticket.objects.filter(pk__in=ids).values_list(
                "pk", "claim_by", "created_at"
            )
        }
        moved = {}  # log pk -> (old time, new time), for the adapter calls they caused
        ticket_times = {}
        for ticket_id, job in jobs.items():
            story = sorted(events[ticket_id], key=lambda event: event[:3])
            times = self._story_times(job, story, claim_targets[ticket_id])
            claimed = closed = entered = answered = None
            for (old, _kind, _pk, what, row), new in zip(story, times, strict=True):
                if what in ("log", "call"):
                    row.at = new
                elif what == "raised":
                    row.raised_at = new
                    if due_after[row.pk] is not None:
                        row.due_at = new + due_after[row.pk]
                elif what == "answered":
                    row.answered_at = new
                else:
                    row.created_at = new
                if what == "log":
                    moved[row.pk] = (old, new)
                    if row.transition in ("claim", "reassign"):
                        claimed = new
                    if row.to_state == CLOSED:
                        closed = new
                    if row.to_state != row.from_state:
                        entered = new
                elif what == "call" and row.outcome == ContactOutcome.ANSWERED:
                    answered = new
            last = times[-1] if times else job.created_at
            ticket_times[ticket_id] = (claimed, closed, entered, answered, last)

        TransitionLog.objects.bulk_update(logs, ["at"], batch_size=500)
        ContactAttempt.objects.bulk_update(attempts, ["at"], batch_size=500)
        Escalation.objects.bulk_update(
            escalations, ["raised_at", "due_at", "answered_at"], batch_size=500
        )
        Note.objects.bulk_update(notes, ["created_at"], batch_size=500)
        self._move_calls(ids, moved)
        self._move_incidents()
        for ticket in Ticket.objects.filter(pk__in=ids):
            claimed, closed, entered, answered, last = ticket_times[ticket.pk]
            Ticket.objects.filter(pk=ticket.pk).update(
                claimed_at=claimed if ticket.claimed_at else None,
                closed_at=closed if ticket.closed_at else None,
                # The step's evidence moves with its calls: a call answered in this step still
                # is, one from an earlier step still is not (the story keeps its order).
                state_changed_at=entered or ticket.state_changed_at,
                last_answered_at=answered if ticket.last_answered_at else None,
                updated_at=last,
            )
        self._mark_sla(ids, escalations)

    def _mark_sla(self, ids: list[int], escalations: list[Escalation]) -> None:
        """What the SLA sweep would have marked, had it run while these tickets were worked.

        The time with Support pauses the SLA (as `services` counts it when Support answers);
        at-risk and breach marks get their timeline rows at the moment they happened, in the
        state the ticket was in then. The real sweep then runs once for what is left (overdue
        escalations), and the dashboards' roll-ups are rebuilt from the tickets.
        """
        paused = defaultdict(timedelta)
        for escalation in escalations:
            if escalation.answered_at:
                paused[escalation.ticket_id] += escalation.answered_at - escalation.raised_at
        history = defaultdict(list)
        for row in TransitionLog.objects.filter(ticket_id__in=ids).order_by("at", "pk"):
            history[row.ticket_id].append(row)
        marks = []
        for ticket in Ticket.objects.filter(pk__in=ids):
            ticket.sla_paused_seconds = int(paused[ticket.pk].total_seconds())
            sla.apply_deadlines(ticket, ticket.created_at)
            rows = history[ticket.pk]
            end = ticket.closed_at or self.now

            def state_at(moment, rows=rows):
                return [row.to_state for row in rows if row.at <= moment][-1]

            breach = ticket.resolve_by if ticket.resolve_by < end else None
            if ticket.claim_by < end and state_at(ticket.claim_by) == "new":
                claimed_by_then = any(
                    row.transition == "claim" and row.at <= ticket.claim_by for row in rows
                )
                if not claimed_by_then:
                    breach = min(breach or ticket.claim_by, ticket.claim_by)
            risk = ticket.warn_at if ticket.warn_at and ticket.warn_at < end else None
            if breach is not None and (risk is None or breach < risk):
                risk = breach
            for kind, moment in (("sla_at_risk", risk), ("sla_breached", breach)):
                if moment is not None and not (kind == "sla_at_risk" and moment == breach):
                    state = state_at(moment)
                    marks.append(
                        TransitionLog(
                            ticket=ticket, at=moment, transition=kind,
                            from_state=state, to_state=state,
                        )
                    )  # fmt: skip
            status = SlaStatus.OK
            if risk is not None:
                status = SlaStatus.BREACHED if breach is not None else SlaStatus.AT_RISK
            Ticket.objects.filter(pk=ticket.pk).update(
                sla_paused_seconds=ticket.sla_paused_seconds,
                resolve_by=ticket.resolve_by,
                warn_at=ticket.warn_at,
                at_risk_at=risk,
                breached_at=breach,
                sla_status=status,
            )
        TransitionLog.objects.bulk_create(marks, batch_size=500)
        services.sweep_sla(now=self.now)
        stats.rebuild()

    def _story_times(self, job: Job, story, claim_within: timedelta) -> list[datetime]:
        """New times for a ticket's events, in their order.

        What the system does in the same breath as the event before it (linking an arrival to
        its gamas, the escalation row of an escalate step) stays a few seconds after it; the
        people's steps spread over the ticket's span.
        """
        attached = [
            index > 0
            and (
                what in ("raised", "answered")
                or (what == "log" and row.actor_id is None and row.transition != "gamas_recovered")
            )
            for index, (_old, _kind, _pk, what, row) in enumerate(story)
        ]
        free = [event for event, follows in zip(story, attached, strict=True) if not follows]
        spread = iter(self._times_for(job, free, claim_within))
        times: list[datetime] = []
        for follows in attached:
            moment = times[-1] + timedelta(seconds=self.rng.uniform(1, 5)) if follows else None
            moment = moment or next(spread)
            if times and moment <= times[-1]:
                moment = times[-1] + timedelta(seconds=1)
            times.append(moment)
        return times

    def _times_for(self, job: Job, story, claim_within: timedelta) -> list[datetime]:
        anchor_at = next(
            (
                index
                for index, (_old, _kind, _pk, what, row) in enumerate(story)
                if what == "log" and row.transition == "gamas_recovered"
            ),
            None,
        )
        if anchor_at is None or job.anchor is None:
            return self._segment(story, job.created_at, job.ends_at, claim_within)
        before = self._segment(
            story[:anchor_at], job.created_at, job.anchor - timedelta(minutes=5), claim_within
        )
        after = self._segment(
            story[anchor_at + 1 :],
            job.anchor + timedelta(minutes=15),
            job.ends_at,
            claim_within,
        )
        return [*before, job.anchor + timedelta(seconds=self.rng.uniform(1, 90)), *after]

    def _segment(
        self, story, start: datetime, end: datetime, claim_within: timedelta
    ) -> list[datetime]:
        """Times for a run of events; an agent takes a waiting ticket within about its claim
        target (now and then a little late), the rest spreads over the remaining time."""
        claim_at = next(
            (
                index
                for index, (_old, _kind, _pk, what, row) in enumerate(story)
                if what == "log" and row.transition == "claim"
            ),
            None,
        )
        if not claim_at:
            return self._spread(len(story), start, end)
        waited = min(claim_within * self.rng.uniform(0.15, 1.1), (end - start) / 2)
        head = self._spread(claim_at + 1, start, start + waited)
        return [*head, *self._spread(len(story) - claim_at, head[-1], end)[1:]]

    def _move_calls(self, ids: list[int], moved: dict) -> None:
        calls = list(AdapterCall.objects.filter(ticket_id__in=ids, log_entry__isnull=False))
        for call in calls:
            old, new = moved.get(call.log_entry_id, (None, None))
            if old is None:
                continue
            shift = new - old
            call.created_at += shift
            if call.dispatched_at:
                call.dispatched_at += shift
            if call.finished_at:
                call.finished_at += shift
        AdapterCall.objects.bulk_update(
            calls, ["created_at", "dispatched_at", "finished_at"], batch_size=500
        )

    def _move_incidents(self) -> None:
        for incident, opened in (
            (self.open_incident, self.open_outage_at),
            (self.recovered_incident, self.recovered_outage_at),
        ):
            GamasIncident.objects.filter(pk=incident.pk).update(
                opened_at=opened,
                recovered_at=self.recovered_at if incident == self.recovered_incident else None,
            )
            TransitionLog.objects.filter(incident=incident, transition="open").update(at=opened)
            TransitionLog.objects.filter(incident=incident, transition="recover").update(
                at=self.recovered_at
            )


# --- Finding and wiping demo data -------------------------------------------------------------
def demo_services_q(prefix: str = "") -> Q:
    query = Q()
    for start in DEMO_SERVICE_PREFIXES:
        query |= Q(**{f"{prefix}service_number__startswith": start})
    return query


def demo_tickets():
    return Ticket.objects.filter(demo_services_q("service__"))


def demo_incidents():
    """The two demo outages, by title, area and opener (the bench generator's are on OLTs too,
    opened by the same supervisor, but titled otherwise)."""
    return GamasIncident.objects.filter(
        Q(title=OPEN_OUTAGE_TITLE, area_level=OPEN_OUTAGE[0], area_code=OPEN_OUTAGE[1])
        | Q(
            title=RECOVERED_OUTAGE_TITLE,
            area_level=RECOVERED_OUTAGE[0],
            area_code=RECOVERED_OUTAGE[1],
        ),
        opened_by__username="supervisor",
    )


def missing_states() -> list[str]:
    """`flow.state` pairs with no demo ticket (empty when the demo data is complete)."""
    present = set(demo_tickets().values_list("flow", "state").distinct())
    return [
        f"{flow}.{state}"
        for flow, machine in FLOWS.items()
        for state in machine.states
        if (flow, state) not in present
    ]


def load_finished() -> bool:
    """Whether a load ran to its end: its last transaction writes the spare lines."""
    numbers = spare_numbers()
    return Service.objects.filter(service_number__in=numbers).count() == len(numbers)


def demo_data_present() -> bool:
    """Anything a load writes besides users and campaigns: lines (tickets live on them), or
    one of the demo outages."""
    return Service.objects.filter(demo_services_q()).exists() or demo_incidents().exists()


def wipe_demo_data() -> int:
    """Delete the demo tickets (with their logs, calls, notes), outages, lines and customers,
    in one transaction; nothing else. Returns how many tickets went.

    Demo rows are the tickets on demo lines and the two demo incidents; other data (the bench
    generator's tickets, lines, customers and incidents) is left alone. A demo incident that
    other lines' reports were linked to stays, with them (`DemoLoader._outage` takes it over).
    """
    with transaction.atomic():
        tickets = demo_tickets()
        count = tickets.count()
        # Repeat reports point at earlier tickets; unlink them first so deletion order is free.
        tickets.exclude(previous_ticket=None).update(previous_ticket=None)
        Ticket.objects.filter(pk__in=list(tickets.values_list("pk", flat=True))).delete()
        demo_incidents().filter(children=None).delete()
        lines = Service.objects.filter(demo_services_q()).filter(tickets=None)
        customer_ids = set(lines.values_list("customer_id", flat=True))
        lines.delete()
        Customer.objects.filter(pk__in=customer_ids, services=None).delete()
    return count


@contextmanager
def unhurried_sqlite():
    """On SQLite, do not wait for the disk at every commit while the demo loads.

    The demo is thousands of small transactions (one per service call, as in production), and
    SQLite's default waits for a disk flush at each commit. The setting is this connection's
    only and is put back afterwards; PostgreSQL, and a load inside an outer transaction (which
    commits nothing until its end), are left alone.
    """
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA synchronous = OFF")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous = {int(previous)}")


class Command(BaseCommand):
    help = (
        "Load demo users (one per role, known passwords: DEMO ONLY) and demo tickets in every "
        "state of every flow. Idempotent: a second run only refreshes the users, and one after "
        "an interrupted run wipes the incomplete demo data and loads it again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset", action="store_true", help="wipe the demo tickets first and load them again"
        )
        parser.add_argument("--seed", type=int, default=16, help="random seed (default 16)")
        parser.add_argument(
            "--per-state", type=int, default=3, help="tickets per state of each flow (default 3)"
        )
        parser.add_argument(
            "--new-per-flow",
            type=int,
            default=6,
            help="tickets waiting in each flow's queue (default 6)",
        )

    def handle(self, *args, **options):
        began = time.monotonic()
        if options["reset"]:
            wiped = wipe_demo_data()
            self.stdout.write(f"Wiped {wiped} demo tickets.")
        elif demo_data_present():
            missing = missing_states()
            if not missing and load_finished():
                users = ensure_demo_users()
                ensure_demo_message_templates(users["admin"])
                self.stdout.write("Demo tickets are already loaded (use --reset to load again).")
                self._print_users()
                return
            where = f"no ticket in {', '.join(missing[:5])}..." if missing else "not finished"
            self.stdout.write(
                f"Demo data is incomplete ({where}): an earlier run stopped half way. "
                "Wiping it and loading it again."
            )
            wipe_demo_data()
        loader = DemoLoader(
            seed=options["seed"],
            per_state=max(1, options["per_state"]),
            new_per_flow=max(1, options["new_per_flow"]),
        )
        with unhurried_sqlite():
            loaded = loader.load()
        missing = missing_states()
        if missing:
            raise CommandError(f"Demo data misses states: {', '.join(missing)}")
        if not load_finished():
            raise CommandError("The demo load did not write its spare lines.")
        ensure_demo_message_templates(ensure_demo_users(set_passwords=False)["admin"])
        self.stdout.write(
            f"Loaded {loaded['tickets']} demo tickets in every state of the "
            f"{len(FLOWS)} flows ({loaded['paused']} waited for a gamas recovery), "
            f"{loader.customer_count} customers, {loader.service_count} lines, 2 gamas incidents, "
            f"{Campaign.objects.filter(code__in=[c['code'] for c in CAMPAIGNS]).count()} "
            f"campaigns in {time.monotonic() - began:.1f} s."
        )
        self._print_users()

    def _print_users(self) -> None:
        self.stdout.write("")
        self.stdout.write(demo_user_table())
        self.stdout.write("")
        self.stdout.write(
            self.style.WARNING(
                "These passwords are for demos only: never load demo data on a server real "
                "people use."
            )
        )

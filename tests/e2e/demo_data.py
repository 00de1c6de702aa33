"""A small, believable floor for the browser tests and the screenshots: two Pusat agents, a
Support user, a supervisor, and a few dozen tickets of several flows in different states.

Tickets arrive through `services.create_ticket` (arrival rules, SLA deadlines, log rows); only
their later states are placed directly, as set-up.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from integrations.adapters import get_adapter
from tests import factories
from tickets import services
from tickets.models import (
    Customer,
    Escalation,
    EscalationStatus,
    Priority,
    Service,
    SlaStatus,
    Ticket,
)

PASSWORD = "secret-pass-123"  # what tests.factories.user gives everyone

SYMPTOMS = (
    ("INTERNET", "Internet mati total, lampu LOS merah berkedip"),
    ("INTERNET", "Internet lambat pada malam hari"),
    ("INTERNET", "WiFi tidak muncul di HP dan laptop"),
    ("IPTV", "UseeTV tidak ada siaran, layar hitam"),
    ("VOICE", "Telepon rumah tidak ada nada panggil"),
    ("INTERNET", "Internet putus-putus sejak kemarin"),
)
_numbers = itertools.count(1)


@dataclass
class Floor:
    agent: object
    second_agent: object
    support: object
    supervisor: object
    target: Ticket  # the most urgent waiting NOSSA ticket: what Next ticket takes


def service() -> Service:
    """A line at Pusat (the service number's last digit routes arrivals to Pusat), with the
    customer I-SISKA knows for that number, so the customer panel agrees with the ticket."""
    number = f"1311{next(_numbers):07d}1"
    profile = get_adapter("isiska").profile(service_number=number)
    customer = Customer.objects.create(
        name=profile.customer_name, phone=profile.phone, address=profile.address
    )
    return Service.objects.create(
        service_number=number,
        customer=customer,
        package=profile.package_name,
        address=profile.address,
        sto=profile.sto,
        olt=profile.olt,
        odp=profile.odp,
    )


def arrive(flow: str, index: int, *, minutes_ago: int, priority=Priority.NORMAL) -> Ticket:
    category, symptom = SYMPTOMS[index % len(SYMPTOMS)]
    ticket, _created = services.create_ticket(
        flow=flow,
        service=service(),
        priority=priority,
        category=category,
        summary=symptom,
        source_system="nossa" if flow == "nossa" else "",
        source_ref=f"IN{16672400 + index}" if flow == "nossa" else "",
        nossa_number=f"IN{16672400 + index}" if flow in ("nossa", "force_close") else "",
        reported_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    return ticket


def populate() -> Floor:
    agent = factories.agent(
        site_code="PST", flows=("nossa", "force_close", "fresh_lapul"), username="agent.pusat"
    )
    second = factories.agent(site_code="PST", flows=("nossa",), username="agent.dua")
    support = factories.user("Support", username="support.satu")
    supervisor = factories.user("Supervisor", username="supervisor.pusat")

    # The most urgent: reported 40 minutes ago, its 15-minute claim target long gone.
    target = arrive("nossa", 0, minutes_ago=40, priority=Priority.HIGH)
    Ticket.objects.filter(pk=target.pk).update(sla_status=SlaStatus.BREACHED)

    placements = [
        # (flow, minutes ago, priority, state, holder, sla status)
        ("nossa", 12, Priority.NORMAL, "new", None, SlaStatus.AT_RISK),
        ("nossa", 9, Priority.CRITICAL, "new", None, SlaStatus.OK),
        ("nossa", 7, Priority.NORMAL, "new", None, SlaStatus.OK),
        ("nossa", 5, Priority.LOW, "new", None, SlaStatus.OK),
        ("nossa", 95, Priority.NORMAL, "diagnosing", second, SlaStatus.OK),
        ("nossa", 180, Priority.HIGH, "waiting_field", second, SlaStatus.AT_RISK),
        ("nossa", 260, Priority.NORMAL, "verifying", second, SlaStatus.OK),
        ("nossa", 30, Priority.NORMAL, "escalated", second, SlaStatus.OK),
        ("force_close", 50, Priority.NORMAL, "new", None, SlaStatus.OK),
        ("force_close", 20, Priority.NORMAL, "new", None, SlaStatus.OK),
        ("nossa", 3, Priority.NORMAL, "new", None, SlaStatus.OK),
        ("nossa", 2, Priority.HIGH, "new", None, SlaStatus.OK),
    ]
    for index, (flow, ago, priority, state, holder, sla_status) in enumerate(placements, 1):
        ticket = arrive(flow, index, minutes_ago=ago, priority=priority)
        fields = {"sla_status": sla_status}
        if holder is not None:
            fields.update(assignee=holder, awaiting_agent=False, claimed_at=timezone.now())
        if state == "escalated":
            fields["escalated_from"] = "diagnosing"
        factories.put_in_state(ticket, state, **fields)
    # A closed NOSSA ticket for the service of one of the waiting ones: history for search.
    closed = arrive("nossa", 40, minutes_ago=600)
    factories.put_in_state(
        closed, "closed", closed_at=timezone.now() - timedelta(hours=2), awaiting_agent=False,
        closing_code="FIXED_REMOTE",
    )  # fmt: skip
    # The same line reported again: a Fresh Lapul that points back to the closed ticket.
    services.create_ticket(
        flow="nossa", service=closed.service, category="INTERNET",
        summary="Internet mati lagi setelah diperbaiki kemarin", source_system="nossa",
        source_ref="IN16672499", nossa_number="IN16672499",
    )  # fmt: skip
    return Floor(agent, second, support, supervisor, target)


def escalate(ticket, agent, reason: str) -> Escalation:
    """`ticket` taken, diagnosed, called and escalated to Support by `agent`; its escalation."""
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    services.record_contact_attempt(ticket_id=ticket.pk, agent=agent, outcome="no_answer")
    services.add_note(ticket_id=ticket.pk, author=agent, text="Sudah cek Ibooster: LOS.")
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": reason}
    )
    return Escalation.objects.get(ticket=ticket, status=EscalationStatus.OPEN)

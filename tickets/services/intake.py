"""Intake: how reports from outside become tickets, whichever way they come.

Pulls (Celery beat), pushes (the ingestion API) and CSV lists all come through `receive_report`
(or, for a CSV list's rows whose services are already resolved, `create_ticket`): deduplication on
the source reference, find-or-create of the service and its customer, routing to a site, and the
arrival rules (Fresh Lapul, gamas linking).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import roles, sla, stats
from ..exceptions import InvalidInput, TransitionForbidden
from ..flows import FLOWS, FlowTicket, as_flow
from ..models import Customer, Flow, GamasIncident, Priority, Service, Site, Ticket
from . import events, messages
from .engine import apply_transition, log_entry

# Flows whose arrival is a fault report: a recent close on the same service makes a Fresh Lapul.
LAPUL_FLOWS = frozenset({Flow.NOSSA, Flow.CALLBACK})
# Flows whose tickets carry the SLG restoration guarantee.
FAULT_FLOWS = frozenset({Flow.NOSSA, Flow.CALLBACK, Flow.GAMAS, Flow.FRESH_LAPUL, Flow.FORCE_CLOSE})


def raised(priority: int) -> int:
    return max(Priority.CRITICAL, priority - 1)


_bulk = threading.local()


@contextmanager
def bulk_arrivals():
    """Many arrivals in one transaction (a CSV list): the sites and SLA policies are read once,
    and the dashboards' roll-ups are written once per day, flow and site, at the end."""
    outer = getattr(_bulk, "sites", None)
    _bulk.sites = list(Site.objects.order_by("code")) if outer is None else outer
    try:
        with sla.policies_held(), stats.deferred():
            yield
    finally:
        if outer is None:
            _bulk.sites = None


def route_site(flow: str, service: Service) -> Site:
    """C4 Caring goes to Malang (SOP 8.4); other flows split by service number between sites."""
    sites = getattr(_bulk, "sites", None) or list(Site.objects.order_by("code"))
    if flow == Flow.C4_CARING:
        return next(site for site in sites if site.code == settings.TIER2_C4_CARING_SITE)
    return sites[int(service.service_number[-1:] or 0) % len(sites)]


def covering_incident(service: Service) -> GamasIncident | None:
    """The open gamas incident whose area (ODP, OLT or STO; narrowest first) covers the service."""
    for level, code in (("odp", service.odp), ("olt", service.olt), ("sto", service.sto)):
        incident = (
            GamasIncident.objects.filter(state="open", area_level=level, area_code=code)
            .order_by("opened_at")
            .first()
        )
        if incident is not None:
            return incident
    return None


def recent_closed_ticket(service: Service, at=None) -> Ticket | None:
    since = (at or timezone.now()) - timedelta(days=settings.TIER2_LAPUL_WINDOW_DAYS)
    return (
        Ticket.objects.filter(service=service, closed_at__gte=since)
        .exclude(flow__in=[Flow.C4_CARING, Flow.IDEAS])
        .order_by("-closed_at")
        .first()
    )


def create_ticket(
    *,
    flow: str,
    service: Service,
    actor=None,
    priority: int = Priority.NORMAL,
    category: str = "",
    summary: str = "",
    source_system: str = "",
    source_ref: str = "",
    nossa_number: str = "",
    campaign=None,
    reported_at=None,
) -> tuple[FlowTicket, bool]:
    """A ticket arrives. Returns (ticket, created); the same source reference twice gives one.

    Arrival rules: a fault report on a service closed within the lapul window becomes a Fresh
    Lapul linked to the earlier ticket, one priority step higher; an IVR Gamas report inside an
    open incident's area is linked to it and waits for its recovery.
    """
    if source_ref:
        existing = Ticket.objects.filter(source_system=source_system, source_ref=source_ref).first()
        if existing is not None:
            return as_flow(existing), False
    now = timezone.now()
    reported_at = reported_at or now
    try:
        with transaction.atomic():
            previous = recent_closed_ticket(service, reported_at) if flow in LAPUL_FLOWS else None
            if previous is not None:
                flow, priority = Flow.FRESH_LAPUL, raised(priority)
            ticket = FLOWS[flow](
                flow=flow,
                service=service,
                site=route_site(flow, service),
                priority=priority,
                category=category,
                summary=summary[:255],
                source_system=source_system,
                source_ref=source_ref,
                nossa_number=nossa_number,
                campaign=campaign,
                previous_ticket=previous,
                created_at=reported_at,
                state_changed_at=reported_at,
            )
            sla.apply_deadlines(ticket, reported_at)
            if flow in FAULT_FLOWS:
                first_report = previous.slg_due if previous and previous.slg_due else None
                ticket.slg_due = first_report or sla.slg_due(reported_at)
            ticket.refresh_queue_flag()
            ticket.save()
            stats.record_created(ticket)
            arrival = log_entry(
                ticket=ticket,
                actor=actor,
                name="arrive",
                from_state="",
                to_state=ticket.state,
                data={"previous_ticket": previous.pk} if previous else {},
            )
            events.ticket_changed(ticket, kind=events.ARRIVED, from_state="", entry=arrival)
            messages.ticket_arrived(ticket)
            if flow == Flow.GAMAS:
                incident = covering_incident(service)
                if incident is not None:
                    link_report(ticket, incident)
    except IntegrityError:
        if not source_ref:
            raise
        # A concurrent arrival of the same source reference won the insert.
        existing = Ticket.objects.get(source_system=source_system, source_ref=source_ref)
        return as_flow(existing), False
    return ticket, True


SERVICE_FIELDS = ("customer_name", "phone", "sto", "olt", "odp")


def _profile_fields(service_number: str) -> dict:
    """A new line's customer and network codes, as I-SISKA (the customer registry) has them."""
    from integrations.adapters import get_adapter

    profile = get_adapter("isiska").profile(service_number=service_number)
    return {
        "customer_name": profile.customer_name,
        "phone": profile.phone,
        "address": profile.address,
        "package": profile.package_name,
        "sto": profile.sto,
        "olt": profile.olt,
        "odp": profile.odp,
    }


def find_or_create_services(wanted: dict[str, dict | None]) -> dict[str, Service]:
    """The services of these numbers, creating each unknown one with its customer.

    `wanted` maps a service number to the fields to create it from (customer_name, phone, sto,
    olt, odp; address and package optional), or to None to ask I-SISKA. New lines are inserted
    in bulk; if a concurrent arrival created one of them first (the unique service number
    decides), they are inserted one by one instead and the winners' rows are read back, so no
    line is ever inserted twice and no arrival fails for it.
    """
    known = Service.objects.filter(service_number__in=wanted)
    found = {item.service_number: item for item in known}
    new = {}
    for number, fields in wanted.items():
        if number in found:
            continue
        fields = fields if fields is not None else _profile_fields(number)
        missing = [name for name in SERVICE_FIELDS if not fields.get(name)]
        if missing:
            message = _("Needed to create a service that is not known yet.")
            raise InvalidInput({name: [message] for name in missing})
        new[number] = fields
    if not new:
        return found
    try:
        with transaction.atomic():
            found.update(_insert_services(new))
    except IntegrityError:
        for number, fields in new.items():
            try:
                with transaction.atomic():
                    found.update(_insert_services({number: fields}))
            except IntegrityError:
                found[number] = Service.objects.get(service_number=number)
    return found


def _insert_services(new: dict[str, dict]) -> dict[str, Service]:
    customers = Customer.objects.bulk_create(
        Customer(
            name=fields["customer_name"], phone=fields["phone"], address=fields.get("address", "")
        )
        for fields in new.values()
    )
    created = Service.objects.bulk_create(
        Service(
            service_number=number,
            customer=customer,
            package=fields.get("package", ""),
            address=fields.get("address", ""),
            sto=fields["sto"],
            olt=fields["olt"],
            odp=fields["odp"],
        )
        for (number, fields), customer in zip(new.items(), customers, strict=True)
    )
    return {service.service_number: service for service in created}


def receive_report(
    *,
    flow: str,
    source_system: str,
    source_ref: str,
    service_number: str,
    service_fields: dict | None = None,
    actor=None,
    **ticket_fields,
) -> tuple[FlowTicket, bool]:
    """The one intake of reports from outside: pulls, pushes (API) and CSV lists.

    Deduplicates on (source_system, source_ref), finds or creates the service and customer,
    then lets `create_ticket` route it and apply the arrival rules (Fresh Lapul, gamas linking).
    Returns (ticket, created); a repeat changes nothing. `actor` None is the system (a pull);
    whoever pushes reports must be a supervisor (admins are) or a system client (TMF621).
    """
    if actor is not None and not (roles.is_supervisor(actor) or roles.is_system(actor)):
        raise TransitionForbidden(_("Only supervisors and service accounts may push reports."))
    if source_ref:
        existing = Ticket.objects.filter(source_system=source_system, source_ref=source_ref).first()
        if existing is not None:
            return as_flow(existing), False
    with transaction.atomic():
        service = find_or_create_services({service_number: service_fields})[service_number]
        return create_ticket(
            flow=flow, service=service, actor=actor, source_system=source_system,
            source_ref=source_ref, **ticket_fields,
        )  # fmt: skip


def receive_callback_record(
    *,
    record_id: str,
    service_number: str,
    service_fields: dict | None = None,
    actor=None,
    summary: str = "",
    reported_at=None,
) -> tuple[FlowTicket, bool]:
    """A record of the Callback app, however it came (the pull, the ingestion API, a
    supervisor's hand entry): one Callback ticket per record. A new line given with none of its
    fields is asked of I-SISKA, as the pull does."""
    if service_fields is not None and not any(service_fields.values()):
        service_fields = None
    return receive_report(
        flow=Flow.CALLBACK,
        source_system="callback",
        source_ref=record_id,
        service_number=service_number,
        service_fields=service_fields,
        actor=actor,
        summary=summary,
        reported_at=reported_at,
    )


def link_report(ticket: FlowTicket, incident: GamasIncident) -> None:
    apply_transition(ticket, "link", None, {"incident": incident})
    apply_transition(ticket, "await_recovery", None)
    messages.customer_linked(ticket, incident)

"""Background jobs of the ticket flows. Tasks take ids and re-read rows."""

import logging

from celery import shared_task
from django.conf import settings
from kombu.exceptions import OperationalError

from .models import GamasIncident, Ticket

log = logging.getLogger(__name__)
# States of an incident's children that its recovery moves on (see each flow's gamas_recovered).
WAITING_FOR_RECOVERY = ("linked", "waiting_recovery", "linked_to_gamas")


@shared_task(acks_late=True)
def fan_out_gamas_recovery(incident_id: int) -> int:
    """Move a recovered incident's children on, one batch per task run, until none waits.

    Each batch is its own transaction, so thousands of children never hold one long lock and a
    worker lost mid-way resumes from what is left.
    """
    from .services import fan_out_recovery_batch

    moved = fan_out_recovery_batch(incident_id=incident_id)
    if moved >= settings.TIER2_GAMAS_BATCH_SIZE or _children_left(incident_id):
        if moved:
            fan_out_gamas_recovery.delay(incident_id)
        else:  # only rows locked by someone else are left: try again shortly
            fan_out_gamas_recovery.apply_async((incident_id,), countdown=5)
    return moved


@shared_task
def sla_sweep() -> dict:
    """Mark SLA at-risk and breached tickets and overdue escalations (Celery beat, every minute)."""
    from dataclasses import asdict

    from .sla import sweep

    return asdict(sweep())


def start_gamas_fan_out(incident_id: int) -> None:
    """Send the fan-out to Celery; if the broker is down, `resume_gamas_fan_outs` sends it."""
    try:
        fan_out_gamas_recovery.delay(incident_id)
    except OperationalError:
        log.warning(
            "Broker unreachable: gamas %s fan-out waits for the next resume sweep.", incident_id
        )


@shared_task
def resume_gamas_fan_outs() -> int:
    """Start again the fan-out of every recovered incident that still has waiting children
    (a broker outage at recovery time, or a lost worker). Safe to repeat: batches skip moved
    children."""
    incidents = (
        Ticket.objects.filter(gamas_incident__state="recovered", state__in=WAITING_FOR_RECOVERY)
        .values_list("gamas_incident_id", flat=True)
        .distinct()
    )
    started = 0
    for incident_id in incidents:
        start_gamas_fan_out(incident_id)
        started += 1
    return started


def _children_left(incident_id: int) -> bool:
    incident = GamasIncident.objects.get(pk=incident_id)
    if incident.state == "open":
        return False
    return Ticket.objects.filter(
        gamas_incident_id=incident_id, state__in=WAITING_FOR_RECOVERY
    ).exists()


@shared_task(acks_late=True)
def run_import(job_id: int) -> str:
    """Import an uploaded CSV list (C4 Caring, Ideas, Force Close): validate, then all-or-nothing.

    See `tickets.imports.run_import_job`; a redelivered task finds the job finished or locked.
    """
    from .imports import run_import_job

    return run_import_job(job_id)


# --- Periodic pulls into the flows ----------------------------------------------------------
def _pull(source: str, fetch, receive) -> int:
    """Read what arrived since the cursor, create tickets (idempotent), move the cursor."""
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import PullCursor

    now = timezone.now()
    cursor, _created = PullCursor.objects.get_or_create(
        source=source, defaults={"pulled_until": now - timedelta(minutes=1)}
    )
    created = 0
    for record in fetch(since=cursor.pulled_until, limit=100):
        _ticket, is_new = receive(record)
        created += is_new
    PullCursor.objects.filter(pk=cursor.pk).update(pulled_until=now)
    return created


@shared_task(acks_late=True)
def pull_nossa_tickets() -> int:
    from integrations.adapters import get_adapter

    from . import services
    from .models import Flow

    return _pull(
        "nossa",
        get_adapter("nossa").fetch_new_tickets,
        lambda record: services.receive_report(
            flow=Flow.NOSSA,
            source_system="nossa",
            source_ref=record.nossa_number,
            service_number=record.service_number,
            category=record.category,
            summary=record.symptom,
            nossa_number=record.nossa_number,
            reported_at=record.reported_at,
        ),
    )


@shared_task(acks_late=True)
def pull_callback_records() -> int:
    from integrations.adapters import get_adapter

    from . import services
    from .models import Flow

    return _pull(
        "callback",
        get_adapter("callback").fetch_records,
        lambda record: services.receive_report(
            flow=Flow.CALLBACK,
            source_system="callback",
            source_ref=record.record_id,
            service_number=record.service_number,
            summary=record.reason,
            reported_at=record.recorded_at,
        ),
    )


@shared_task(acks_late=True)
def pull_force_closed_tickets() -> int:
    from integrations.adapters import get_adapter

    from . import services
    from .models import Flow

    return _pull(
        "force_close",
        get_adapter("nossa").fetch_force_closed,
        lambda record: services.receive_report(
            flow=Flow.FORCE_CLOSE,
            source_system="nossa-fc",
            source_ref=record.nossa_number,
            service_number=record.service_number,
            category=record.category,
            summary=record.symptom,
            nossa_number=record.nossa_number,
            reported_at=record.closed_at,
        ),
    )

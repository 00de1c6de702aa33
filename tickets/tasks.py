"""Background jobs of the ticket flows. Tasks take ids, re-read rows, and write only through
the services (`tickets.services`)."""

import logging

from celery import shared_task
from django.conf import settings

from integrations.adapters import get_adapter

from . import services
from .models import Flow

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def fan_out_gamas_recovery(incident_id: int) -> int:
    """Move a recovered incident's children on, one batch per task run, until none waits.

    Each batch is its own transaction, so thousands of children never hold one long lock and a
    worker lost mid-way resumes from what is left.
    """
    moved = services.fan_out_recovery_batch(incident_id=incident_id)
    if moved >= settings.TIER2_GAMAS_BATCH_SIZE or services.children_waiting(incident_id):
        if moved:
            fan_out_gamas_recovery.delay(incident_id)
        else:  # only rows locked by someone else are left: try again shortly
            fan_out_gamas_recovery.apply_async((incident_id,), countdown=5)
    return moved


@shared_task(acks_late=True)
def run_broadcast(broadcast_id: int) -> int | None:
    """Write one batch of a gamas broadcast's messages, then ask for the next until none is
    left. A duplicate delivery finds the broadcast locked and does nothing; a worker lost
    mid-batch leaves its batch uncommitted for the redelivery or the sweep."""
    handled = services.broadcast_batch(broadcast_id=broadcast_id)
    if handled:
        run_broadcast.delay(broadcast_id)
    return handled


@shared_task
def message_sweep() -> dict:
    """Customer messages: queue the held ones whose time has come, resume broadcasts whose
    next batch was never asked for (a broker outage, a lost worker), record receipts."""
    resumed = sum(services.send_broadcast(pk) for pk in services.unfinished_broadcasts())
    return {
        "released": services.release_held(),
        "broadcasts_resumed": resumed,
        "receipts": services.poll_receipts(),
    }


@shared_task
def dispatch_site(site_id: int) -> int:
    """Offer a push site's waiting tickets to its agents (asked for after a change commits)."""
    return services.dispatch_site(site_id).offered


@shared_task
def dispatch_sweep() -> dict:
    """End offers not answered in time, set idle agents offline, dispatch every push site."""
    return services.dispatch_sweep()


@shared_task
def sla_sweep() -> dict:
    """Mark SLA at-risk and breached tickets and overdue escalations (Celery beat, every minute)."""
    from dataclasses import asdict

    return asdict(services.sweep_sla())


@shared_task
def resume_gamas_fan_outs() -> int:
    """Start again the fan-out of every recovered incident that still has waiting children
    (a broker outage at recovery time, or a lost worker). Safe to repeat: batches skip moved
    children."""
    started = 0
    for incident_id in services.incidents_with_waiting_children():
        started += services.start_fan_out(incident_id)
    return started


@shared_task(acks_late=True)
def run_import(job_id: int) -> str:
    """Import an uploaded CSV list (C4 Caring, Ideas, Force Close): validate, then all-or-nothing.

    See `tickets.services.imports.run_import_job`; a redelivered task finds the job finished or
    locked.
    """
    from .services.imports import run_import_job

    return run_import_job(job_id)


# --- Periodic pulls into the flows ----------------------------------------------------------


def _pull(source: str, fetch, receive, position) -> int:
    """Read everything the source holds after the cursor, page by page; return tickets created.

    `fetch(since=, after_ref=, limit=)` returns the records after the cursor in (time, ref)
    order, `receive(record)` makes a ticket of one (idempotent: `services.receive_report`), and
    `position(record)` is its (time, ref). Each page is one transaction: its tickets and the
    cursor moved to its last record commit together, so a worker lost mid-pull resumes after
    the last committed page and no record is lost or read twice. The cursor row stays locked
    while a page is read; a pull that finds it locked leaves the work to the one holding it.
    A page shorter than `TIER2_PULL_PAGE_SIZE` means the source is exhausted.
    """
    from datetime import timedelta

    from django.core.exceptions import ImproperlyConfigured
    from django.db import transaction
    from django.utils import timezone

    from integrations.models import PullCursor

    page_size = settings.TIER2_PULL_PAGE_SIZE
    if page_size < 1:
        raise ImproperlyConfigured(f"TIER2_PULL_PAGE_SIZE must be at least 1, got {page_size}")
    # A source pulled for the first time starts a minute back, not at the start of its history.
    PullCursor.objects.get_or_create(
        source=source, defaults={"pulled_until": timezone.now() - timedelta(minutes=1)}
    )
    created = pages = 0
    while True:
        with transaction.atomic():
            cursor = (
                PullCursor.objects.select_for_update(skip_locked=True).filter(source=source).first()
            )
            if cursor is None:
                log.info("Pull %s: another pull holds the cursor; leaving it the work.", source)
                return created
            since = (cursor.pulled_until, cursor.last_ref)
            page = fetch(since=since[0], after_ref=since[1], limit=page_size)
            for record in page:
                _ticket, is_new = receive(record)
                created += is_new
            if page:
                last = position(page[-1])
                if not last > since:  # the source ignored the cursor: paging would never end
                    raise RuntimeError(f"pull {source}: page ends at {last}, not after {since}")
                cursor.pulled_until, cursor.last_ref = last
                cursor.save(update_fields=["pulled_until", "last_ref"])
        pages += 1
        if len(page) < page_size:
            log.info("Pull %s: %d pages, %d new tickets.", source, pages, created)
            return created


@shared_task(acks_late=True)
def pull_nossa_tickets() -> int:
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
        lambda record: (record.reported_at, record.nossa_number),
    )


@shared_task(acks_late=True)
def pull_callback_records() -> int:
    return _pull(
        "callback",
        get_adapter("callback").fetch_records,
        lambda record: services.receive_callback_record(
            record_id=record.record_id,
            service_number=record.service_number,
            summary=record.reason,
            reported_at=record.recorded_at,
        ),
        lambda record: (record.recorded_at, record.record_id),
    )


@shared_task(acks_late=True)
def pull_force_closed_tickets() -> int:
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
        lambda record: (record.closed_at, record.nossa_number),
    )


# --- Personal data protection -----------------------------------------------------------------
@shared_task(acks_late=True)
def apply_retention() -> dict:
    """Anonymise customers' personal data past its retention period (Celery beat, daily).

    See `tickets.services.privacy.apply_retention`: batches of one transaction each, and rows
    already anonymised are not selected again, so a redelivered or repeated run is harmless.
    """
    from .services import privacy

    return privacy.apply_retention()


@shared_task
def maintain_log_partitions() -> dict:
    """The logs' monthly partitions (Celery beat, daily): the months ahead created, rows of a
    month without one moved into a new one, old months detached for archive when due. Each step
    checks what exists first, so a repeated or redelivered run does nothing more."""
    from .services import log_partitions

    report = log_partitions.maintain()
    return {
        "created": [f"{table} {month:%Y-%m}" for table, month in report.created],
        "detached": report.detached,
        "kept": [f"{month:%Y-%m}: {why}" for month, why in report.kept],
    }

"""Celery tasks that talk to the external applications. Tasks take ids and re-read rows.

`run_adapter_call` runs one outbox row: it is safe to deliver twice (a finished row is not run
again; a write carries the row's idempotency key, so the external side does it once), retries
transient failures with exponential backoff, and records every attempt on the row.
The pulls bring new work from NOSSA and the Callback app into the flows (Celery beat).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tickets.models import Customer, Flow, Service, Ticket
from tickets.services import create_ticket

from . import outbox
from .adapters import AdapterRejected, AdapterUnavailable, get_adapter, to_jsonable
from .calls import SPECS
from .models import AdapterCall, CallStatus, PullCursor

log = logging.getLogger(__name__)


def _backoff_seconds(attempt: int) -> float:
    return settings.TIER2_ADAPTER_RETRY_BACKOFF_SECONDS * (2 ** (attempt - 1))


def _finish(call_id: int, *, status: str, response=None, error: str = "", duration_ms=None):
    """Record the outcome on the call row and, on success, its effect on the ticket."""
    with transaction.atomic():
        call = AdapterCall.objects.select_for_update().get(pk=call_id)
        if call.status == CallStatus.SUCCEEDED:
            return call  # a twin delivery finished first; its effect is already recorded
        call.status, call.error, call.duration_ms = status, error[:2000], duration_ms
        if status in (CallStatus.SUCCEEDED, CallStatus.FAILED):
            call.finished_at = timezone.now()
        if response is not None:
            call.response = response
        call.save(update_fields=["status", "error", "duration_ms", "finished_at", "response"])
        spec = SPECS.get((call.app, call.operation))
        if status == CallStatus.SUCCEEDED and spec and spec.apply and call.ticket_id:
            ticket = Ticket.objects.select_for_update().get(pk=call.ticket_id)
            changed = spec.apply(ticket, response)
            ticket.save(update_fields=[*changed, "updated_at"])
        return call


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_adapter_call(self, call_id: int) -> str:
    with transaction.atomic():
        call = (
            AdapterCall.objects.select_for_update(of=("self",))
            .select_related("ticket__service", "ticket__assignee", "log_entry")
            .filter(pk=call_id)
            .first()
        )
        if call is None or call.status in (CallStatus.SUCCEEDED, CallStatus.FAILED):
            return call.status if call else "missing"
        call.status = CallStatus.RUNNING
        call.attempts += 1
        call.dispatched_at = call.dispatched_at or timezone.now()
        call.save(update_fields=["status", "attempts", "dispatched_at"])
    spec = SPECS.get((call.app, call.operation))
    started = time.monotonic()
    try:
        if spec is None:
            raise AdapterRejected(f"No mapping for {call.app}.{call.operation}.")
        request = spec.request(call.ticket, call)
        AdapterCall.objects.filter(pk=call_id).update(request=request)
        arguments = {**request, "idempotency_key": call.idempotency_key} if spec.writes else request
        answer = getattr(get_adapter(call.app), call.operation)(**arguments)
    except AdapterUnavailable as problem:
        elapsed = int((time.monotonic() - started) * 1000)
        if call.attempts < settings.TIER2_ADAPTER_MAX_RETRIES:
            _finish(call_id, status=CallStatus.PENDING, error=str(problem), duration_ms=elapsed)
            raise self.retry(countdown=_backoff_seconds(call.attempts), exc=problem) from problem
        _finish(call_id, status=CallStatus.FAILED, error=str(problem), duration_ms=elapsed)
        return CallStatus.FAILED
    except AdapterRejected as problem:
        elapsed = int((time.monotonic() - started) * 1000)
        _finish(call_id, status=CallStatus.FAILED, error=str(problem), duration_ms=elapsed)
        return CallStatus.FAILED
    elapsed = int((time.monotonic() - started) * 1000)
    _finish(call_id, status=CallStatus.SUCCEEDED, response=to_jsonable(answer), duration_ms=elapsed)
    return CallStatus.SUCCEEDED


@shared_task
def redispatch_outbox() -> int:
    """Send again the outbox rows that were never delivered (broker outage, lost worker)."""
    return outbox.redispatch_stale()


# --- Periodic pulls into the flows ----------------------------------------------------------
def _advance(source: str):
    now = timezone.now()
    cursor, _created = PullCursor.objects.get_or_create(
        source=source, defaults={"pulled_until": now - timedelta(minutes=1)}
    )
    return cursor, now


def _service_for(service_number: str):
    """The service row for a number, created from its I-SISKA profile on first sight."""
    service = Service.objects.filter(service_number=service_number).first()
    if service is not None:
        return service
    profile = get_adapter("isiska").profile(service_number=service_number)
    customer = Customer.objects.create(
        name=profile.customer_name, phone=profile.phone, address=profile.address
    )
    return Service.objects.create(
        service_number=service_number,
        customer=customer,
        package=profile.package_name,
        address=profile.address,
        sto=profile.sto,
        olt=profile.olt,
        odp=profile.odp,
    )


def _pull(source: str, fetch, make_ticket) -> int:
    """Read what arrived since the cursor, create tickets (idempotent), move the cursor."""
    cursor, now = _advance(source)
    created = 0
    records = fetch(since=cursor.pulled_until, limit=100)
    for record in records:
        _ticket, is_new = make_ticket(record)
        created += is_new
    PullCursor.objects.filter(pk=cursor.pk).update(pulled_until=now)
    return created


@shared_task(acks_late=True)
def pull_nossa_tickets() -> int:
    return _pull(
        "nossa",
        get_adapter("nossa").fetch_new_tickets,
        lambda record: create_ticket(
            flow=Flow.NOSSA,
            service=_service_for(record.service_number),
            category=record.category,
            summary=record.symptom,
            source_system="nossa",
            source_ref=record.nossa_number,
            nossa_number=record.nossa_number,
            reported_at=record.reported_at,
        ),
    )


@shared_task(acks_late=True)
def pull_callback_records() -> int:
    return _pull(
        "callback",
        get_adapter("callback").fetch_records,
        lambda record: create_ticket(
            flow=Flow.CALLBACK,
            service=_service_for(record.service_number),
            summary=record.reason,
            source_system="callback",
            source_ref=record.record_id,
            reported_at=record.recorded_at,
        ),
    )


@shared_task(acks_late=True)
def pull_force_closed_tickets() -> int:
    return _pull(
        "force_close",
        get_adapter("nossa").fetch_force_closed,
        lambda record: create_ticket(
            flow=Flow.FORCE_CLOSE,
            service=_service_for(record.service_number),
            category=record.category,
            summary=record.symptom,
            source_system="nossa-fc",
            source_ref=record.nossa_number,
            nossa_number=record.nossa_number,
            reported_at=record.closed_at,
        ),
    )

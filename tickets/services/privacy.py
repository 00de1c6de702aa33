"""Personal data protection (UU 27/2022 PDP, SOP IN.OCC.TELK.P-16 §10): retention and erasure.

Customers' personal data is kept while it serves their tickets and for a retention period after
the last one closed, then anonymised in place: the rows stay (tickets, calls, notes, escalations,
the transition log), so every count, SLA figure and daily roll-up stays what it was, but the
values that identify or describe the person are blanked. docs/data-protection.md has the table.

- `apply_retention(now=)`: the daily job (Celery beat, `tickets.tasks.apply_retention`). A
  customer is *settled* when they have at least one ticket and every ticket of every one of their
  services closed before the cutoff; a customer with an open ticket, or one closed at or after
  the cutoff, keeps everything. Each record type is a pass that selects only rows still holding
  personal data, so a second run writes nothing, and works in batches of
  `TIER2_RETENTION_BATCH_SIZE` rows, one transaction each: the UPDATE itself checks again that
  the customer is still settled, so a ticket arriving meanwhile keeps its customer's data.
- `erase_customer(customer_id=, actor=)`: an erasure request for one customer, at once,
  whatever the retention, refused while they have an open ticket. Logged in the security log
  (who, when, the customer's id; never the erased values).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Case, Exists, OuterRef, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..exceptions import TicketError
from ..models import (
    ContactAttempt,
    Customer,
    Escalation,
    ImportJob,
    ImportStatus,
    Note,
    SecurityEvent,
    SecurityEventKind,
    Service,
    Ticket,
    TransitionLog,
)
from . import security

# What replaces a text that held something; phone, email and addresses become empty.
REDACTED = "[anonymised]"
# `Ticket.facts` keys filled from answers about the person: I-SISKA's profile (name, address,
# phone), E-payment's arrears and bills, Ibooster's daily usage.
PERSONAL_FACTS = ("isiska", "epayment", "bills", "usage")
# External calls whose stored answer describes the person (the same answers as above).
PERSONAL_ANSWERS = (
    ("isiska", "profile"),
    ("epayment", "arrears"),
    ("epayment", "bills"),
    ("ibooster", "usage_history"),
)
# Free text that external calls carried (escalation reasons, symptoms, case summaries).
TEXT_REQUEST_KEYS = ("reason", "summary", "symptom")
# Free-text inputs of transitions kept in `TransitionLog.data` (the note is its own column).
TEXT_LOG_INPUTS = ("reason", "answer")


class ErasureRefused(TicketError):
    """The customer still has an open ticket: their data is needed to work it."""

    default_message = _("This customer's data cannot be erased now.")


# --- Who is settled -------------------------------------------------------------------------
def _settled(customer_ref: str, cutoff: datetime) -> Q:
    """Rows whose customer (`customer_ref`: the path to the customer id) has tickets, every one
    closed before `cutoff`. Closed exactly at the cutoff is not "longer than the period"."""
    tickets = Ticket.objects.filter(service__customer_id=OuterRef(customer_ref))
    keeping = tickets.filter(Q(closed_at__isnull=True) | Q(closed_at__gte=cutoff))
    return Q(Exists(tickets)) & ~Q(Exists(keeping))


def _blank_unless_empty(field: str):
    return Case(When(**{field: ""}, then=Value("")), default=Value(REDACTED))


def _text_held(field: str) -> Q:
    return ~Q(**{field: ""}) & ~Q(**{field: REDACTED})


# --- The passes: one per record type ----------------------------------------------------------
@dataclass(frozen=True)
class Pass:
    """One record type: its rows still holding personal data, and how to blank them.

    `update` blanks with one UPDATE; `rewrite(row)` changes a loaded row instead (JSON fields),
    saving `fields`. `customer` is the path from the row to its customer's id.
    """

    name: str
    model: type[models.Model]
    customer: str
    held: Callable[[], Q]
    period: str  # "customer" or "calls": which retention period applies
    update: Callable[[], dict] | None = None
    rewrite: Callable | None = None
    fields: tuple[str, ...] = ()


def _rewrite_ticket(ticket: Ticket) -> None:
    ticket.facts = {key: value for key, value in ticket.facts.items() if key not in PERSONAL_FACTS}
    if ticket.summary:
        ticket.summary = REDACTED


def _rewrite_log(entry: TransitionLog) -> None:
    entry.data = {key: value for key, value in entry.data.items() if key not in TEXT_LOG_INPUTS}
    if entry.note:
        entry.note = REDACTED


def _rewrite_call(call) -> None:
    request = call.request if isinstance(call.request, dict) else {}
    call.request = {key: value for key, value in request.items() if key not in TEXT_REQUEST_KEYS}
    if (call.app, call.operation) in PERSONAL_ANSWERS:
        call.response = None


def _any_key(field: str, keys) -> Q:
    held = Q()
    for key in keys:
        held |= Q(**{f"{field}__has_key": key})
    return held


def _personal_answer() -> Q:
    held = Q()
    for app, operation in PERSONAL_ANSWERS:
        held |= Q(app=app, operation=operation, response__isnull=False)
    return held


def _passes() -> list[Pass]:
    from integrations.models import AdapterCall

    via_ticket = "ticket__service__customer_id"
    return [
        Pass(
            "customers", Customer, "pk", period="customer",
            held=lambda: ~Q(name=REDACTED) | ~Q(phone="") | ~Q(email="") | ~Q(address=""),
            update=lambda: {"name": REDACTED, "phone": "", "email": "", "address": ""},
        ),
        Pass(
            "services", Service, "customer_id", period="customer",
            held=lambda: ~Q(address=""), update=lambda: {"address": ""},
        ),
        Pass(
            "tickets", Ticket, "service__customer_id", period="customer",
            held=lambda: _any_key("facts", PERSONAL_FACTS) | _text_held("summary"),
            rewrite=_rewrite_ticket, fields=("facts", "summary"),
        ),
        Pass(
            "adapter_calls", AdapterCall, via_ticket, period="customer",
            held=lambda: _personal_answer() | _any_key("request", TEXT_REQUEST_KEYS),
            rewrite=_rewrite_call, fields=("request", "response"),
        ),
        Pass(
            "contact_attempts", ContactAttempt, via_ticket, period="calls",
            held=lambda: ~Q(phone="") | _text_held("note"),
            update=lambda: {"phone": "", "note": _blank_unless_empty("note")},
        ),
        Pass(
            "notes", Note, via_ticket, period="calls",
            held=lambda: ~Q(text=REDACTED), update=lambda: {"text": REDACTED},
        ),
        Pass(
            "escalations", Escalation, via_ticket, period="calls",
            held=lambda: ~Q(reason=REDACTED) | _text_held("answer"),
            update=lambda: {"reason": REDACTED, "answer": _blank_unless_empty("answer")},
        ),
        Pass(
            "log_entries", TransitionLog, via_ticket, period="calls",
            held=lambda: _text_held("note") | _any_key("data", TEXT_LOG_INPUTS),
            rewrite=_rewrite_log, fields=("data", "note"),
        ),
    ]  # fmt: skip


def personal_data_left(model: type[models.Model]) -> Q:
    """Rows of `model` still holding personal data the anonymisation blanks: those of a
    ticket's customer (rows of no ticket hold none of theirs), whatever their period."""
    held = [step.held() for step in _passes() if step.model is model]
    if not held:
        return Q(pk__in=[])
    return Q(ticket__isnull=False) & functools.reduce(operator.or_, held)


def _apply(step: Pass, scope: Q, batch_size: int) -> int:
    """Blank the rows of `step` in `scope` that still hold personal data; returns how many."""
    candidates = step.model.objects.filter(step.held()).filter(scope)
    done, last = 0, None
    while True:
        page = candidates.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        pks = list(page.values_list("pk", flat=True)[:batch_size])
        if not pks:
            return done
        last = pks[-1]
        with transaction.atomic():
            # The scope again, in the same statement as the write: a ticket that arrived since
            # the page was read keeps its customer's data.
            rows = step.model.objects.filter(pk__in=pks).filter(step.held()).filter(scope)
            if step.update is not None:
                done += rows.update(**step.update())
            else:
                loaded = list(rows.select_for_update())
                for row in loaded:
                    step.rewrite(row)
                step.model.objects.bulk_update(loaded, step.fields)
                done += len(loaded)
        if len(pks) < batch_size:
            return done


# --- Retention ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cutoffs:
    customer: datetime
    calls: datetime
    imports: datetime
    security_log: datetime


def cutoffs(now: datetime | None = None) -> Cutoffs:
    """Rows older than these are anonymised (or deleted: the security log). Calls and notes are
    personal data too, so they never outlive the customer's own period."""
    now = now or timezone.now()
    customer_days = settings.TIER2_RETENTION_CUSTOMER_DAYS
    calls_days = min(settings.TIER2_RETENTION_CALLS_DAYS, customer_days)
    return Cutoffs(
        customer=now - timedelta(days=customer_days),
        calls=now - timedelta(days=calls_days),
        imports=now - timedelta(days=calls_days),
        security_log=now - timedelta(days=settings.TIER2_RETENTION_SECURITY_LOG_DAYS),
    )


def _clear_imports(before: datetime, batch_size: int) -> int:
    """Uploaded call lists (names and phones of many customers): the file is dropped once the
    import finished longer ago than the calls period; counts and line errors stay."""
    finished = ImportJob.objects.filter(
        status__in=(ImportStatus.DONE, ImportStatus.FAILED), finished_at__lt=before
    ).exclude(content="")
    done = 0
    while pks := list(finished.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        done += ImportJob.objects.filter(pk__in=pks).update(content="")
    return done


def _purge_security_log(before: datetime, batch_size: int) -> int:
    """Security events past their retention are deleted (the only rows the log ever loses)."""
    old = SecurityEvent.objects.filter(at__lt=before)
    done = 0
    while pks := list(old.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        deleted, _per_model = SecurityEvent.objects.filter(pk__in=pks).delete()
        done += deleted
    return done


def apply_retention(*, now: datetime | None = None) -> dict[str, int]:
    """The daily job: anonymise what is past its period; returns the rows changed per type."""
    now = now or timezone.now()
    limits = cutoffs(now)
    batch = settings.TIER2_RETENTION_BATCH_SIZE
    counts = {}
    for step in _passes():
        cutoff = limits.customer if step.period == "customer" else limits.calls
        counts[step.name] = _apply(step, _settled(step.customer, cutoff), batch)
    counts["imports"] = _clear_imports(limits.imports, batch)
    counts["security_events_deleted"] = _purge_security_log(limits.security_log, batch)
    security.record_event(
        kind=SecurityEventKind.RETENTION, actor=None, request=None, detail={"changed": counts}
    )
    return counts


# --- Erasure --------------------------------------------------------------------------------
def _refusal(customer_id: int, open_numbers: list[str], count: int) -> str:
    shown = ", ".join(open_numbers)
    if count > len(open_numbers):
        shown += ", …"
    return ngettext(
        "Customer #%(id)d still has %(count)d open ticket (%(numbers)s): their data is needed to "
        "work it. Close it first, then erase.",
        "Customer #%(id)d still has %(count)d open tickets (%(numbers)s): their data is needed "
        "to work them. Close them first, then erase.",
        count,
    ) % {"id": customer_id, "count": count, "numbers": shown}


def _erase_from_imports(service_numbers: list[str]) -> int:
    """Drop the lines naming the customer's lines from finished uploaded lists."""
    changed = 0
    for number in service_numbers:
        jobs = ImportJob.objects.filter(
            status__in=(ImportStatus.DONE, ImportStatus.FAILED), content__contains=number
        )
        for job in jobs.select_for_update():
            lines = job.content.splitlines(keepends=True)
            job.content = "".join(line for line in lines if number not in line)
            job.save(update_fields=["content"])
            changed += 1
    return changed


def erase_customer(*, customer_id: int, actor, request=None) -> dict[str, int]:
    """Erase one customer's personal data now (a data subject's request, UU PDP art. 8 and 43).

    Refused with `ErasureRefused` while the customer has an open ticket; the refusal is logged
    too. Returns the rows changed per record type.
    """
    with transaction.atomic():
        customer = Customer.objects.select_for_update().filter(pk=customer_id).first()
        if customer is None:
            raise ErasureRefused(_("No customer #%(id)d.") % {"id": customer_id})
        open_tickets = Ticket.objects.filter(
            service__customer_id=customer_id, closed_at__isnull=True
        ).order_by("pk")
        count = open_tickets.count()
        if not count:
            counts = {
                step.name: _apply(
                    step, Q(**{step.customer: customer_id}), settings.TIER2_RETENTION_BATCH_SIZE
                )
                for step in _passes()
            }
            numbers = list(customer.services.values_list("service_number", flat=True))
            counts["imports"] = _erase_from_imports(numbers)
            security.record_event(
                kind=SecurityEventKind.ERASURE,
                actor=actor,
                request=request,
                detail={"customer_id": customer_id, "changed": counts},
            )
            return counts
        numbers = [ticket.number for ticket in open_tickets[:5]]
    message = _refusal(customer_id, numbers, count)
    security.record_event(
        kind=SecurityEventKind.ERASURE_REFUSED,
        actor=actor,
        request=request,
        detail={"customer_id": customer_id, "open_tickets": count},
    )
    raise ErasureRefused(message, customer_id=customer_id, open_tickets=count)

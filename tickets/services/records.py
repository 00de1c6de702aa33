"""Records on a ticket: calls to the customer, notes, the customer panel's checks, and what the
external applications answered."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations import outbox

from .. import roles
from ..exceptions import InvalidInput, TransitionForbidden, TransitionNotAllowed
from ..models import ContactAttempt, ContactOutcome, Note, Ticket
from . import events
from .engine import TEXT_INPUT_MAX, locked_ticket, log_entry, save_row


def record_contact_attempt(
    *, ticket_id: int, agent, outcome: str, note: str = "", expected_state: str | None = None
) -> ContactAttempt:
    """One call to the customer. Failed calls count toward the unreachable rule."""
    if outcome not in ContactOutcome.values:
        raise InvalidInput({"outcome": [_("Choose answered, no answer, busy or wrong number.")]})
    if len(note) > TEXT_INPUT_MAX:
        raise InvalidInput({"note": [_("Keep it under %(max)d characters.") % {"max": 4000}]})
    with transaction.atomic():
        ticket = locked_ticket(ticket_id, expected_state)
        if ticket.is_closed:
            raise TransitionNotAllowed(_("The ticket is closed."))
        if ticket.assignee_id != agent.pk:
            raise TransitionForbidden(_("Only the agent holding the ticket records calls."))
        attempt = ContactAttempt.objects.create(
            ticket=ticket,
            agent=agent,
            outcome=outcome,
            phone=ticket.service.customer.phone,
            note=note,
        )
        if attempt.failed:
            ticket.failed_attempts += 1
        else:
            ticket.last_answered_at = attempt.at
        ticket.last_contact_outcome = outcome
        save_row(ticket)
        events.ticket_changed(ticket, kind=events.CONTACT_ATTEMPT, at=attempt.at)
        return attempt


def add_note(*, ticket_id: int, author, text: str) -> Note:
    text = (text or "").strip()
    if not text:
        raise InvalidInput({"text": [_("Write the note.")]})
    if len(text) > TEXT_INPUT_MAX:
        raise InvalidInput({"text": [_("Keep it under %(max)d characters.") % {"max": 4000}]})
    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        _require_note_writer(ticket, author)
        note = Note.objects.create(ticket=ticket, author=author, text=text)
        events.ticket_changed(ticket, kind=events.NOTE, at=note.created_at)
        return note


def _require_ticket_insider(ticket: Ticket, user) -> None:
    """The ticket's agent, Support or a supervisor may annotate a ticket and refresh its checks."""
    if ticket.assignee_id == user.pk or roles.is_support(user) or roles.is_supervisor(user):
        return
    raise TransitionForbidden(_("Only the ticket's agent, Support or a supervisor."))


def _require_note_writer(ticket: Ticket, user) -> None:
    """Who may write a note: the insiders, and a system client on a ticket it may see (the
    reporter answering a request for information through the TMF621 API)."""
    if roles.is_system(user) and roles.system_may_see(user, ticket):
        return
    _require_ticket_insider(ticket, user)


def may_retry_call(call, user) -> bool:
    """Who may send a failed external call again: the agent holding its ticket, Support, or a
    supervisor."""
    if roles.is_support(user) or roles.is_supervisor(user):
        return True
    return call.ticket_id is not None and call.ticket.assignee_id == user.pk


def retry_call(*, call_id: int, actor):
    """Send a failed call to its application again, with a fresh retry budget; logged on the
    ticket (or incident): who asked, which call, and the error it had. Raises
    AdapterCall.DoesNotExist, TransitionForbidden, or TransitionNotAllowed (not failed)."""
    from integrations.models import AdapterCall, CallStatus

    with transaction.atomic():
        call = (
            AdapterCall.objects.select_for_update(of=("self",))
            .select_related("ticket", "incident")
            .get(pk=call_id)
        )
        if not may_retry_call(call, actor):
            raise TransitionForbidden(_("Only the ticket's agent, Support or a supervisor."))
        if call.status != CallStatus.FAILED:
            raise TransitionNotAllowed(
                _("Only a failed call can be retried; this one is “%(status)s”.")
                % {"status": call.get_status_display()},
                current_state=call.status,
            )
        previous_error = call.error
        outbox.reopen(call)
        subject = call.ticket or call.incident
        if subject is not None:
            log_entry(
                ticket=call.ticket,
                incident=None if call.ticket_id else call.incident,
                actor=actor,
                name="retry_call",
                from_state=subject.state,
                to_state=subject.state,
                data={"call": call.pk, "app": call.app, "operation": call.operation},
                note=previous_error[:500],
            )
        return call


# What the console's customer panel shows, asked again on "Refresh".
CUSTOMER_CHECKS = (
    ("isiska", "profile"),
    ("ibooster", "connection_status"),
    ("ibooster", "usage_history"),
    ("epayment", "bills"),
)


def refresh_customer_checks(*, ticket_id: int, actor) -> int:
    """Ask I-SISKA, Ibooster and E-payment again for the customer panel: a logged request with
    no state change; checks still under way are not asked twice. Returns how many were queued."""
    from integrations.models import AdapterCall, CallStatus

    from ..flows.base import Call

    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        if not roles.may_work_ticket(actor, ticket):  # any agent of its queue may look
            _require_ticket_insider(ticket, actor)
        running = set(
            AdapterCall.objects.filter(
                ticket=ticket, status__in=(CallStatus.PENDING, CallStatus.RUNNING)
            ).values_list("app", "operation")
        )
        calls = [Call(*check) for check in CUSTOMER_CHECKS if check not in running]
        if not calls:
            return 0
        entry = log_entry(
            ticket=ticket, actor=actor, name="refresh_checks", from_state=ticket.state,
            to_state=ticket.state,
        )  # fmt: skip
        outbox.enqueue(calls=calls, ticket=ticket, log_entry=entry)
        return len(calls)


def apply_call_answer(*, call, response) -> list[str]:
    """Record on the ticket what a successful external call found (facts, the NOSSA number, the
    Starclick order). Called inside the transaction that marks the call succeeded; the ticket
    row is locked like every other write. Returns the changed fields."""
    from integrations.calls import SPECS

    spec = SPECS.get((call.app, call.operation))
    if spec is None or spec.apply is None or call.ticket_id is None:
        return []
    ticket = Ticket.objects.select_for_update().get(pk=call.ticket_id)
    before = dict(ticket.facts or {})
    changed = spec.apply(ticket, response)
    if "facts" in changed:
        ticket.facts = _with_provenance(ticket, before, call, spec)
    save_row(ticket, [*changed, "updated_at"])
    if "nossa_number" in changed:  # the other answers (facts) are not part of the TMF ticket
        events.ticket_changed(ticket, kind=events.EXTERNAL_ID)
    return changed


# Where each fact in `Ticket.facts` came from: facts[CHECKED][key] = {app, operation, call, at,
# state}. A read-only check that answers after the ticket was closed, or after a later call of
# the same check already answered, does not replace a fact the ticket has: it keeps what it was
# decided on (closed as online stays online), and facts[LATER][key] says which call answered
# later and when (its answer is in the call's row, on the timeline). A fact it never had is
# taken: there is nothing for it to contradict.
CHECKED, LATER = "checked", "later_checks"


def _with_provenance(ticket: Ticket, before: dict, call, spec) -> dict:
    after = dict(ticket.facts or {})
    keys = [
        key
        for key in after.keys() | before.keys()
        if key not in (CHECKED, LATER) and after.get(key) != before.get(key)
    ]
    when = (call.finished_at or timezone.now()).isoformat()
    checked = dict(before.get(CHECKED) or {})
    later = dict(before.get(LATER) or {})
    source = {"app": call.app, "operation": call.operation, "call": call.pk, "at": when}
    for key in keys:
        newer = ((checked.get(key) or {}).get("call") or 0) > call.pk
        if not spec.writes and key in before and (ticket.is_closed or newer):
            after[key] = before[key]
            later[key] = {**source, "reason": "closed" if ticket.is_closed else "superseded"}
            continue
        checked[key] = {**source, "state": ticket.state}
    after[CHECKED] = checked
    if later:
        after[LATER] = later
    return after

"""Writes on the outbox that people trigger (the automatic ones live in `outbox` and `tasks`)."""

from django.db import transaction
from django.utils.translation import gettext as _

from tickets import roles
from tickets.exceptions import TransitionForbidden, TransitionNotAllowed
from tickets.models import TransitionLog

from . import outbox
from .models import AdapterCall, CallStatus


def may_retry(call: AdapterCall, user) -> bool:
    """The agent holding the call's ticket, Support, or a supervisor."""
    if roles.is_support(user) or roles.is_supervisor(user):
        return True
    return call.ticket_id is not None and call.ticket.assignee_id == user.pk


def retry_call(*, call_id: int, actor) -> AdapterCall:
    """Send a failed call to its application again, with a fresh retry budget.

    The row keeps its idempotency key, so a write the application did receive before the failure
    is not done twice. The retry is logged on the ticket (who asked, which call). Raises
    AdapterCall.DoesNotExist, TransitionForbidden, or TransitionNotAllowed (not failed).
    """
    with transaction.atomic():
        call = (
            AdapterCall.objects.select_for_update(of=("self",))
            .select_related("ticket", "incident")
            .get(pk=call_id)
        )
        if not may_retry(call, actor):
            raise TransitionForbidden(_("Only the ticket's agent, Support or a supervisor."))
        if call.status != CallStatus.FAILED:
            raise TransitionNotAllowed(
                _("Only a failed call can be retried; this one is %(status)s.")
                % {"status": call.status},
                current_state=call.status,
            )
        previous_error = call.error
        call.status = CallStatus.PENDING
        call.attempts = 0
        call.dispatched_at = None
        call.finished_at = None
        call.save(update_fields=["status", "attempts", "dispatched_at", "finished_at"])
        subject = call.ticket or call.incident
        if subject is not None:
            TransitionLog.objects.create(
                ticket_id=call.ticket_id,
                incident_id=None if call.ticket_id else call.incident_id,
                actor=actor,
                transition="retry_call",
                from_state=subject.state,
                to_state=subject.state,
                data={"call": call.pk, "app": call.app, "operation": call.operation},
                note=previous_error[:500],
            )
        outbox.dispatch_on_commit([call.pk])
        return call

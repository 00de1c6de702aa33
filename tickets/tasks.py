"""Background jobs of the ticket flows. Tasks take ids and re-read rows."""

from celery import shared_task
from django.conf import settings

from .models import GamasIncident, Ticket


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


def _children_left(incident_id: int) -> bool:
    incident = GamasIncident.objects.get(pk=incident_id)
    if incident.state == "open":
        return False
    return Ticket.objects.filter(
        gamas_incident_id=incident_id, state__in=("waiting_recovery", "linked_to_gamas")
    ).exists()

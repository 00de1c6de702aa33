"""Gamas (mass outage) incidents: opening one, its own small machine, and the recovery fan-out.

Recovery moves every child ticket on through its own flow machine's `gamas_recovered`
transition, one child at a time inside batches: the same conditions, log row, outbox calls,
queue rule and close hooks as any other transition, with no bulk shortcut around them.
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from ..exceptions import ConcurrentChange, InvalidInput, TransitionForbidden, TransitionNotAllowed
from ..flows import FLOWS, GamasIncidentMachine, as_flow
from ..flows.gamas import incident_managers
from ..models import Flow, GamasIncident, Ticket
from . import events, live
from .engine import apply_transition, log_entry
from .intake import link_report

log = logging.getLogger(__name__)
# The Celery task that runs one fan-out batch and queues the next (tickets.tasks); named, not
# imported, because the services sit below the tasks.
FAN_OUT_TASK = "tickets.tasks.fan_out_gamas_recovery"


def waiting_for_recovery_states() -> frozenset[str]:
    """The states from which some flow's `gamas_recovered` transition leaves (read from the
    machines, so a flow that gains such a state needs no change here)."""
    states = set()
    for machine in FLOWS.values():
        method = getattr(machine, "gamas_recovered", None)
        if method is not None:
            states.update(method._django_fsm.transitions)
    return frozenset(states)


def open_incident(*, title: str, area_level: str, area_code: str, actor) -> GamasIncident:
    """Open a mass outage; unlinked IVR Gamas reports already in its area are linked to it."""
    if not incident_managers(None, actor):
        raise TransitionForbidden()
    errors = {}
    if not (title or "").strip():
        errors["title"] = [_("This field is required.")]
    if area_level not in ("sto", "olt", "odp"):
        errors["area_level"] = [_("Choose STO, OLT or ODP.")]
    if not (area_code or "").strip():
        errors["area_code"] = [_("This field is required.")]
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        incident = GamasIncidentMachine.objects.create(
            title=title.strip()[:200], area_level=area_level, area_code=area_code.strip(),
            opened_by=actor,
        )  # fmt: skip
        log_entry(incident=incident, actor=actor, name="open", from_state="", to_state="open")
        waiting = Ticket.objects.select_for_update().filter(
            flow=Flow.GAMAS, state="new", **{f"service__{area_level}": incident.area_code}
        )
        with events.batched():
            for report in waiting:
                link_report(as_flow(report), incident)
        live.incident_changed(incident.pk)
        return incident


def transition_incident(
    *, incident_id: int, name: str, actor, inputs: dict | None = None, expected_state=None
):
    """Recover or close a gamas incident. Recovery fans out to its children in the background."""
    with transaction.atomic():
        try:
            incident = GamasIncidentMachine.objects.select_for_update().get(pk=incident_id)
        except (GamasIncident.DoesNotExist, ValueError, TypeError) as missing:
            raise TransitionNotAllowed(_("No such incident.")) from missing
        if expected_state is not None and incident.state != expected_state:
            raise ConcurrentChange(current_state=incident.state)
        apply_transition(incident, name, actor, inputs)
        live.incident_changed(incident.pk)
        if name == "recover":
            transaction.on_commit(lambda: start_fan_out(incident.pk))
        return incident


def start_fan_out(incident_id: int) -> bool:
    """Send the fan-out to Celery; if the broker is down, the resume sweep sends it later."""
    try:
        current_app.tasks[FAN_OUT_TASK].delay(incident_id)
    except OperationalError:
        log.warning("Broker unreachable: gamas %s fan-out waits for the resume sweep.", incident_id)
        return False
    return True


def fan_out_recovery_batch(*, incident_id: int, batch_size: int | None = None) -> int:
    """Move one batch of a recovered incident's waiting children on; returns how many moved.

    Each child takes its flow machine's `gamas_recovered` transition as the system, through the
    engine. Children another transaction holds are skipped (SKIP LOCKED) and left for a later
    batch.
    """
    batch_size = batch_size or settings.TIER2_GAMAS_BATCH_SIZE
    moved = 0
    with transaction.atomic():
        incident = GamasIncident.objects.get(pk=incident_id)
        if incident.state == "open":
            return 0
        children = list(
            Ticket.objects.select_for_update(skip_locked=True)
            .filter(gamas_incident_id=incident_id, state__in=waiting_for_recovery_states())
            .order_by("pk")[:batch_size]
        )
        with events.batched():  # the children's events: read once, written in bulk
            for child in children:
                apply_transition(
                    as_flow(child), "gamas_recovered", None, {}, log_data={"incident": incident_id}
                )
                moved += 1
        if moved:  # the progress after this batch, sent with the children's changes
            live.incident_changed(incident_id)
    return moved


def children_waiting(incident_id: int) -> bool:
    """Whether a recovered (or closed) incident still has children waiting for its recovery."""
    if not GamasIncident.objects.filter(pk=incident_id).exclude(state="open").exists():
        return False
    return Ticket.objects.filter(
        gamas_incident_id=incident_id, state__in=waiting_for_recovery_states()
    ).exists()


def incidents_with_waiting_children() -> list[int]:
    """Recovered incidents whose fan-out was interrupted (a broker outage, a lost worker)."""
    return list(
        Ticket.objects.filter(
            gamas_incident__state="recovered", state__in=waiting_for_recovery_states()
        )
        .values_list("gamas_incident_id", flat=True)
        .distinct()
    )

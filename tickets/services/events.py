"""What changed on a ticket, announced by the services inside the change's own transaction.

Every service that changes something a follower of a ticket can see announces it here, once the
change is written (the row saved, its log row written) and before its transaction commits:

    events.ticket_changed(ticket, kind=events.TRANSITION, from_state=from_state, entry=entry)

One announcement per change. The consumers registered with `@consumer` turn it into rows of
their own in the same transaction (the TMF621 hub writes its deliveries to the outbox,
`services.hub`), and send anything after commit. A change that rolls back therefore leaves
nothing behind, and a committed one never loses its rows. The announcement knows nothing of who
consumes it: the console's live updates (`services.live`, WebSockets) and the TMF621 deliveries
(`services.hub`) are two consumers of the same changes.

Cost: each consumer says first whether it wants anything now (`wants()`, e.g. "is there any
active subscription"), which costs no query when nobody listens; the change is then not even
built. A batch of many changes in one transaction (the gamas fan-out) runs inside `batched()`:
consumers keep what they read once for the whole batch and write their rows in bulk at its end.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.db import connection, transaction
from django.utils import timezone

from ..models import Ticket, TransitionLog

# --- What changed -------------------------------------------------------------------------------
ARRIVED = "arrived"  # a new ticket (intake)
TRANSITION = "transition"  # a flow machine's step: the state changed (engine)
ASSIGNEE = "assignee"  # claimed outside a step, released, reassigned (assignment)
PRIORITY = "priority"  # priority and so the SLA deadlines (deadlines)
NOTE = "note"  # a note written on the ticket (records)
CONTACT_ATTEMPT = "contact_attempt"  # a call to the customer recorded (records)
EXTERNAL_ID = "external_id"  # an external application gave the ticket its number (records)
SLA_MARK = "sla_mark"  # the sweep marked it at risk or breached (deadlines)
KINDS = (ARRIVED, TRANSITION, ASSIGNEE, PRIORITY, NOTE, CONTACT_ATTEMPT, EXTERNAL_ID, SLA_MARK)


@dataclass(frozen=True)
class TicketChange:
    """One committed-with-the-transaction change of one ticket.

    `ticket` is the row as the change left it (consumers read it at once: it is the frozen
    picture of that moment); `from_state` is the SOP state before (blank on arrival) and
    `to_state` after; `entry` the transition-log row that records it, when there is one;
    `change_id` identifies the change across everything consumers derive from it.
    """

    ticket: Ticket
    kind: str
    from_state: str
    to_state: str
    at: datetime
    entry: TransitionLog | None = None
    change_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Consumer(Protocol):
    def wants(self) -> bool:
        """Whether anything would be done with a change now (cheap: no query when idle)."""

    def handle(self, change: TicketChange) -> None:
        """Turn the change into rows, in the caller's transaction."""


CONSUMERS: list[Consumer] = []


def consumer(instance: Consumer) -> Consumer:
    """Register a consumer of every ticket change (an instance, or a class to instantiate)."""
    if isinstance(instance, type):
        instance = instance()
    CONSUMERS.append(instance)
    return instance


def _listening() -> list[Consumer]:
    return [item for item in CONSUMERS if item.wants()]


def ticket_changed(
    ticket: Ticket,
    *,
    kind: str,
    from_state: str | None = None,
    entry: TransitionLog | None = None,
    at: datetime | None = None,
) -> None:
    """Announce one change of `ticket`, already written, inside its transaction.

    `from_state` defaults to the current state (a change within the state)."""
    listening = _listening()
    if not listening:
        return
    change = TicketChange(
        ticket=ticket,
        kind=kind,
        from_state=ticket.state if from_state is None else from_state,
        to_state=ticket.state,
        at=at or (entry.at if entry is not None else timezone.now()),
        entry=entry,
    )
    for item in listening:
        item.handle(change)


def tickets_changed(ticket_ids: Iterable[int], *, kind: str, at: datetime | None = None) -> None:
    """The same change on many tickets written in bulk (the SLA sweep's marks): they are read
    once, only when someone listens, and announced as one batch."""
    ids = list(ticket_ids)
    if not ids or not _listening():
        return
    with batched():
        for ticket in Ticket.objects.filter(pk__in=ids).order_by("pk"):
            ticket_changed(ticket, kind=kind, at=at)


# --- Batches: many changes in one transaction ------------------------------------------------
class Batch:
    """What consumers keep for the length of one `batched()` block: read-once values (`memo`)
    and rows written in bulk when it ends (`defer`)."""

    def __init__(self) -> None:
        self.memo: dict = {}
        self._deferred: dict[str, tuple[Callable[[list], object], list]] = {}

    def defer(self, name: str, write: Callable[[list], object], items: list) -> None:
        """Write `items` with `write(items)` when the batch ends, together with the others of
        `name`; items of a savepoint rolled back in the meantime are dropped then."""
        if not items:
            return
        marker = _Marker()
        transaction.on_commit(marker)  # dropped by Django if the savepoint rolls back
        self._deferred.setdefault(name, (write, []))[1].extend((marker, item) for item in items)

    def flush(self) -> None:
        # Django keeps a savepoint's on-commit callbacks until it rolls back: an item whose
        # marker is gone was announced inside a rolled-back savepoint, and is not written.
        alive = {id(entry[1]) for entry in connection.run_on_commit}
        for write, items in self._deferred.values():
            kept = [item for marker, item in items if id(marker) in alive]
            if kept:
                write(kept)
        self._deferred.clear()


class _Marker:
    def __call__(self) -> None:
        """Nothing to do after commit: it only marks that its savepoint did not roll back."""


_local = threading.local()


def current_batch() -> Batch | None:
    return getattr(_local, "batch", None)


@contextmanager
def batched():
    """Changes announced inside share one `Batch`: consumers read once and write in bulk at the
    end of the block, which must sit inside the transaction (rows are written before commit).
    An error leaving the block drops the batch's rows with the transaction. Nested blocks join
    the outer one."""
    if current_batch() is not None:
        yield current_batch()
        return
    if not connection.in_atomic_block:
        raise RuntimeError("events.batched() needs a transaction (transaction.atomic()).")
    _local.batch = batch = Batch()
    try:
        yield batch
        batch.flush()
    finally:
        _local.batch = None

"""Reads off the primary: a database router that sends chosen reads to a streaming replica.

Only code that asks for it reads from the replica: a view wrapped in `replica_reads` (the
dashboard, its CSV exports, search, the API's lists). Everything else, every write and every
row locked for update reads the primary, so a ticket's own pages always show its latest state.

Before the first replica read in a window of `READ_REPLICA_CHECK_SECONDS`, the router measures
how far behind the replica is (see `measure_lag`). A replica further behind than
`READ_REPLICA_MAX_LAG_SECONDS`, or one that does not answer, is skipped: the reads go to the
primary until a later check finds it fresh again. See docs/replica.md.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import threading
import time
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connections
from django.http import StreamingHttpResponse

log = logging.getLogger(__name__)

REPLICA = "replica"
PRIMARY = "default"


class _Reads:
    """One `reading_from_replica()` block: whether any of its reads went to the replica."""

    used = False


_wanted: contextvars.ContextVar[_Reads | None] = contextvars.ContextVar(
    "replica_reads", default=None
)


def configured() -> bool:
    return REPLICA in settings.DATABASES and settings.READ_REPLICA_READS


class _Health:
    """The last verdict on the replica, shared by the threads of one process."""

    def __init__(self):
        self.lock = threading.Lock()
        self.checked_at: float | None = None
        self.usable = False
        self.lag: float | None = None

    def forget(self) -> None:
        with self.lock:
            self.checked_at = None

    def record(self, usable: bool, lag: float | None, at: float) -> None:
        """A verdict reached at `at` (time.monotonic(); the caller holds the lock)."""
        self.checked_at, self.usable, self.lag = at, usable, lag


health = _Health()


def measure_lag() -> float | None:
    """Seconds of primary changes the replica has not applied yet; None when it cannot tell.

    The primary's write position is read first, then the replica's replay position: a replica
    that has replayed up to it holds everything committed before the check (lag 0, even after a
    quiet hour). Otherwise the lag is the age of the last transaction it replayed. A server
    that is not in recovery is the primary itself (a setting pointing both at one server): 0.
    """
    with connections[PRIMARY].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        (primary_lsn,) = cursor.fetchone()
    with connections[REPLICA].cursor() as cursor:
        cursor.execute(
            """
            SELECT NOT pg_is_in_recovery()
                   OR pg_last_wal_replay_lsn() >= %s::pg_lsn,
                   EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())
            """,
            [primary_lsn],
        )
        caught_up, age = cursor.fetchone()
    if caught_up:
        return 0.0
    return None if age is None else max(float(age), 0.0)


def replica_usable() -> bool:
    """Whether reads may go to the replica now; measured at most once per check window."""
    now = time.monotonic()
    with health.lock:
        fresh_verdict = (
            health.checked_at is not None
            and now - health.checked_at < settings.READ_REPLICA_CHECK_SECONDS
        )
        if fresh_verdict:
            return health.usable
        try:
            lag = measure_lag()
        except DatabaseError as error:
            log.warning("replica skipped: it does not answer (%s)", error.__class__.__name__)
            if REPLICA in settings.DATABASES:
                connections[REPLICA].close()
            lag = None
        usable = lag is not None and lag <= settings.READ_REPLICA_MAX_LAG_SECONDS
        if not usable and lag is not None:
            log.warning(
                "replica skipped: %.1f s behind (limit %s s)",
                lag,
                settings.READ_REPLICA_MAX_LAG_SECONDS,
            )
        health.record(usable, lag, at=now)
        return usable


@contextmanager
def reading_from_replica():
    """Reads inside go to the replica when it is configured and fresh enough."""
    reads = _Reads()
    token = _wanted.set(reads)
    try:
        yield reads
    finally:
        _wanted.reset(token)


def _streamed_from_replica(chunks):
    with reading_from_replica():
        yield from chunks


def replica_reads(view):
    """Run a read-only view against the replica. A streamed response reads while it streams,
    so its iterator runs in the replica context too. If the replica fails mid-request, the
    view runs once more against the primary (it only reads, so running it twice is harmless)."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not configured():
            return view(request, *args, **kwargs)
        try:
            with reading_from_replica() as reads:
                response = view(request, *args, **kwargs)
        except DatabaseError:
            if not (reads.used and _replica_broke()):
                raise
            log.warning("replica failed during %s; answered from the primary", request.path)
            return view(request, *args, **kwargs)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = _streamed_from_replica(response.streaming_content)
        return response

    return wrapped


def _replica_broke() -> bool:
    """After a database error in a replica read: was it the replica? Then mark it unusable."""
    connection = connections[REPLICA]
    if connection.connection is not None and connection.is_usable():
        return False  # the replica still answers: the error came from elsewhere
    connection.close()
    with health.lock:
        health.record(False, None, at=time.monotonic())
    return True


class ReplicaRouter:
    """Sends reads to the replica inside `reading_from_replica()`; everything else to the
    primary. The replica holds the primary's rows, so objects from both may be related."""

    def db_for_read(self, model, **hints):
        reads = _wanted.get()
        if reads is not None and configured() and replica_usable():
            reads.used = True
            return REPLICA
        return PRIMARY

    def db_for_write(self, model, **hints):
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints):
        return {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA, None}

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA


class ListsFromReplica:
    """Mixed into a DRF viewset: its `list` action reads from the replica (see replica_reads)."""

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        view = super().as_view(actions, **initkwargs)
        if actions and actions.get("get") == "list":
            return replica_reads(view)
        return view

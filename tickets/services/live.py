"""Live updates: what each committed change pushes to the console's open websockets.

One more consumer of `services.events` (beside the TMF621 hub): every ticket change announced
there becomes a small message of ids and codes, never personal data (no names of customers, no
phone numbers, no summaries), sent after the change's transaction commits to the channel-layer
groups whose sockets may hear of it. Each page then re-fetches what it shows through the normal
views, so every user sees only what their role may. The services also call this module where
they write a `Notification` (`notify`, `users_notified`), where a gamas incident moves
(`incident_changed`), and where what a ticket's page shows changes without the ticket changing
(`ticket_page_changed`: a customer message's status, for the ticket's own tabs only). The
protocol, the groups and who may join them are in docs/live.md; who may watch what is decided
in one place, `selectors.live_watch`.

After commit, once per transaction: what a transaction announces is collected in one buffer
(`_Pending`), registered as the transaction's one on-commit callback where it announces its
first change. A rolled-back transaction drops it with its other callbacks, and so does a
savepoint that rolls back the registration (a later announcement starts a new buffer). A change
announced inside a savepoint rolled back after an earlier announcement outside it is still sent:
Django says nothing of a savepoint's rollback but by dropping callbacks registered inside it, and
one callback per transaction is the price of cheap changes (the pages re-fetch, so such a
message costs a re-fetch, never a wrong screen). Announcements outside any transaction are sent
at once.

Never in the way of the change: building and sending happen after the commit, and every error
there (the channel layer down, a query failing) is logged and swallowed; the pages' polling
catches up. Sending does not wait either: messages are handed to a per-process sender thread
with its own event loop (one Redis connection per process), or, with the in-memory layer
(`make run`, no Redis), to the event loop of this process's websockets; with no websocket in
the process nothing is collected at all. `wants()` costs no query and no I/O.

Coalescing: a change of more than `TIER2_LIVE_BULK_THRESHOLD` tickets of one site and flow in
one transaction (the gamas fan-out) reaches the queue groups as one `queue` message instead of
one per ticket; `dashboard` is sent at most once per `TIER2_LIVE_DASHBOARD_SECONDS` from each
process (the first change at once, the last of a burst at the end of the interval).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Iterable
from datetime import datetime

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from ..models import GamasIncident, Notification, Site, Ticket
from . import events

log = logging.getLogger(__name__)

# --- Groups ------------------------------------------------------------------------------------
ALL_QUEUES = "queue.all"  # supervisors, Support and admins: every queue
DASHBOARD = "dashboard"  # supervisors and admins
INCIDENTS = "incidents"  # incident managers: the list of gamas incidents
FORWARD = "live.forward"  # the websocket consumer's handler: passes `message` to the browser


def envelope(message: dict, key: str | None = None) -> dict:
    """What goes to a group: the message, and a key shared by its copies sent to other groups,
    so a socket in several of them (a tab watching its queue and a ticket) passes it on once."""
    return {"type": FORWARD, "message": message, "key": key or uuid.uuid4().hex}


def user_group(user_id: int) -> str:
    """Each socket of the user: their notifications."""
    return f"user.{user_id}"


def ticket_group(ticket_id: int) -> str:
    """The tabs that have the ticket open (its workspace)."""
    return f"ticket.{ticket_id}"


def queue_group(site_code: str, flow: str) -> str:
    """The queue of one flow at one site, watched by its agents."""
    return f"queue.{site_code}.{flow}"


def incident_group(incident_id: int) -> str:
    return f"incident.{incident_id}"


def ticket_groups(ticket_id: int, site_code: str, flow: str) -> tuple[str, ...]:
    """Where a ticket's messages go: its own group, its queue's and the all-queues group."""
    return (ticket_group(ticket_id), queue_group(site_code, flow), ALL_QUEUES)


_site_codes: dict[int, str] = {}


def site_code(ticket: Ticket) -> str:
    """The ticket's site code with no query: the sites are reference data, read once per
    process (again when a new one appears)."""
    if Ticket.site.is_cached(ticket):
        return ticket.site.code
    code = _site_codes.get(ticket.site_id)
    if code is None:
        _site_codes.update(Site.objects.values_list("pk", "code"))
        code = _site_codes.get(ticket.site_id, "")
    return code


# --- What the services call --------------------------------------------------------------------
def ticket_message(
    *,
    ticket_id: int,
    site: str,
    flow: str,
    state: str,
    from_state: str,
    kind: str,
    awaiting_agent: bool,
    at: datetime,
) -> dict:
    """The `ticket` message (docs/live.md): ids and codes only."""
    return {
        "type": "ticket", "id": ticket_id, "site": site, "flow": flow, "state": state,
        "from_state": from_state, "kind": kind, "awaiting_agent": awaiting_agent,
        "at": at.isoformat(),
    }  # fmt: skip


class LiveUpdates:
    """The consumer of ticket changes that sends the `ticket` messages (and, for a gamas child,
    its incident's progress)."""

    def wants(self) -> bool:
        return _reachable()

    def handle(self, change: events.TicketChange) -> None:
        ticket = change.ticket
        message = ticket_message(
            ticket_id=ticket.pk, site=site_code(ticket), flow=ticket.flow, state=change.to_state,
            from_state=change.from_state, kind=change.kind,
            awaiting_agent=ticket.awaiting_agent, at=change.at,
        )  # fmt: skip
        incident = ticket.gamas_incident_id
        _collect(tickets=[message], incidents=[incident] if incident else ())


events.consumer(LiveUpdates)


def notify(*, user_id: int, kind: str, message: str, ticket=None, at=None) -> Notification:
    """Write a notification for one user and tell their open tabs (after commit)."""
    fields = {"created_at": at} if at is not None else {}
    row = Notification.objects.create(
        user_id=user_id, ticket=ticket, kind=kind, message=message, **fields
    )
    users_notified([row])
    return row


def users_notified(rows: Iterable[Notification]) -> list[Notification]:
    """Tell each notification's user (after commit) of rows already written, e.g. by
    `bulk_create`; returns the rows."""
    rows = list(rows)
    found = [(row.user_id, row.pk, row.kind) for row in rows if row.pk is not None]
    if found and _reachable():
        _collect(notifications=found)
    return rows


# What a ticket's page shows besides the ticket itself changed: a customer message's status.
CUSTOMER_MESSAGE = "customer_message"


def ticket_page_changed(ticket_id: int, *, kind: str) -> None:
    """Something the ticket's page shows changed, not the ticket itself (a customer message was
    queued, sent, delivered, read, failed, held or released): a `ticket` message of `kind` to
    the ticket's own group only, after commit, once per ticket and transaction. Queues, the
    dashboard and the TMF621 subscribers have nothing new to show, so this is not a change of
    `services.events`. The ticket is read after commit (its state then), and only when a
    socket could hear of it."""
    if _reachable():
        _collect(pages={ticket_id: (kind, timezone.now())})


def incident_changed(incident_id: int) -> None:
    """A gamas incident moved (a transition, a fan-out batch): its progress is sent after
    commit, read then."""
    if _reachable():
        _collect(incidents=[incident_id])


def drain(timeout: float = 5.0) -> bool:
    """Wait until what this process handed to the sender is sent (tests, benchmarks, exit)."""
    return _sender.drain(timeout)


def serve_here(loop: asyncio.AbstractEventLoop) -> None:
    """The websockets of this process run on `loop` (the consumer says so on connect): with the
    in-memory layer, messages are handed to it, the only loop whose sockets they can reach."""
    global _websocket_loop
    _websocket_loop = loop


# --- Collecting per transaction ----------------------------------------------------------------
_local = threading.local()
_websocket_loop: asyncio.AbstractEventLoop | None = None


class _Pending:
    """What one transaction sends once it commits; it is itself the on-commit callback."""

    def __init__(self) -> None:
        self.hooks: list | None = None  # the connection's on-commit list it was registered in
        self.tickets: list[dict] = []
        self.incidents: dict[int, None] = {}  # ordered set
        self.notifications: list[tuple[int, int, str]] = []  # (user, notification, kind)
        self.pages: dict[int, tuple[str, datetime]] = {}  # ticket -> (kind, at): its page only
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        if getattr(_local, "pending", None) is self:
            _local.pending = None
        _send(self)


def _pending() -> _Pending | None:
    """This transaction's buffer, registered on first use; None outside a transaction."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return None
    hooks = connection.run_on_commit
    pending = getattr(_local, "pending", None)
    if pending is not None and not pending.sent:
        if pending.hooks is hooks:
            return pending
        # Django rebuilds the list when a savepoint rolls back (or the transaction ends): the
        # buffer is still this transaction's only if its callback survived.
        if any(entry[1] is pending for entry in hooks):
            pending.hooks = hooks
            return pending
    pending = _local.pending = _Pending()
    transaction.on_commit(pending)
    pending.hooks = connection.run_on_commit
    return pending


def _collect(*, tickets=(), incidents=(), notifications=(), pages=None) -> None:
    pending = _pending()
    batch = pending if pending is not None else _Pending()
    batch.tickets.extend(tickets)
    batch.incidents.update(dict.fromkeys(incidents))
    batch.notifications.extend(notifications)
    batch.pages.update(pages or {})
    if pending is None:  # autocommit: the change is committed already
        _send(batch)


def _send(batch: _Pending) -> None:
    try:
        sends = _messages(batch)
        _dispatch(sends, dashboard=bool(batch.tickets))
    except Exception:  # never fail a committed change: polling catches up
        log.exception("Live updates of a committed change not sent.")


def _messages(batch: _Pending) -> list[tuple[str, dict]]:
    """(group, message) pairs, in the order the changes were made."""
    sends: list[tuple[str, dict]] = []
    per_queue: dict[tuple[str, str], int] = {}
    for message in batch.tickets:
        key = (message["site"], message["flow"])
        per_queue[key] = per_queue.get(key, 0) + 1
    bulk = {key for key, count in per_queue.items() if count > settings.TIER2_LIVE_BULK_THRESHOLD}
    for message in batch.tickets:
        sends.append((ticket_group(message["id"]), message))
        if (message["site"], message["flow"]) not in bulk:
            sends.append((queue_group(message["site"], message["flow"]), message))
            sends.append((ALL_QUEUES, message))
    for site, flow in sorted(bulk):
        changed = {"type": "queue", "site": site, "flow": flow}
        sends += [(queue_group(site, flow), changed), (ALL_QUEUES, changed)]
    if batch.pages:
        sends += _page_messages(batch.pages, told={message["id"] for message in batch.tickets})
    if batch.incidents:
        sends += _incident_messages(list(batch.incidents))
    if batch.notifications:
        sends += _notification_messages(batch.notifications)
    return sends


def _page_messages(pages: dict[int, tuple[str, datetime]], told: set[int]):
    """One `ticket` message to each ticket's own group, but for a ticket whose page is told of a
    change of the same transaction already (it fetches its regions again anyway)."""
    ids = [pk for pk in pages if pk not in told]
    if not ids:
        return []
    rows = Ticket.objects.filter(pk__in=ids).values_list(
        "pk", "site__code", "flow", "state", "awaiting_agent"
    )
    found = {row[0]: row[1:] for row in rows}
    sends = []
    for pk in ids:
        if pk not in found:
            continue
        site, flow, state, awaiting_agent = found[pk]
        kind, at = pages[pk]
        message = ticket_message(
            ticket_id=pk, site=site, flow=flow, state=state, from_state=state, kind=kind,
            awaiting_agent=awaiting_agent, at=at,
        )  # fmt: skip
        sends.append((ticket_group(pk), message))
    return sends


def _incident_messages(ids: list[int]) -> list[tuple[str, dict]]:
    """Each incident's state and recovery progress: `done` of its `total` children no longer
    wait for the recovery (one query for all of them)."""
    from .gamas import waiting_for_recovery_states  # gamas imports this module

    rows = (
        GamasIncident.objects.filter(pk__in=ids)
        .annotate(
            total=Count("children"),
            waiting=Count("children", filter=Q(children__state__in=waiting_for_recovery_states())),
        )
        .values_list("pk", "state", "total", "waiting")
    )
    found = {pk: (state, total, waiting) for pk, state, total, waiting in rows}
    sends = []
    for pk in ids:
        if pk not in found:
            continue
        state, total, waiting = found[pk]
        done = total - waiting if state != "open" else 0  # as selectors.recovery_progress
        message = {"type": "incident", "id": pk, "state": state, "done": done, "total": total}
        sends += [(incident_group(pk), message), (INCIDENTS, message)]
    return sends


def _notification_messages(found: list[tuple[int, int, str]]) -> list[tuple[str, dict]]:
    users = {user for user, _pk, _kind in found}
    unread = dict(
        Notification.objects.filter(user_id__in=users, read_at__isnull=True)
        .order_by()
        .values_list("user_id")
        .annotate(count=Count("pk"))
    )
    return [
        (user_group(user), {"type": "notification", "id": pk, "kind": kind,
                            "unread": unread.get(user, 0)})
        for user, pk, kind in found
    ]  # fmt: skip


# --- Sending -------------------------------------------------------------------------------------
def _reachable() -> bool:
    """Whether a message could reach any socket: always with a Redis layer; with the in-memory
    one only while this process serves websockets."""
    try:
        layer = get_channel_layer()
    except Exception:  # a misconfigured layer: the change goes on without live updates
        log.exception("No channel layer: live updates are off.")
        return False
    if layer is None:
        return False
    if isinstance(layer, InMemoryChannelLayer):
        return _websocket_loop is not None and not _websocket_loop.is_closed()
    return True


def _dispatch(sends: list[tuple[str, dict]], *, dashboard: bool) -> None:
    if not sends and not dashboard:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        loop = _websocket_loop
        if loop is None or loop.is_closed():
            return
    else:
        loop = _sender.loop()
    _sender.submit(_publish(layer, sends, dashboard), loop)


async def _publish(layer, sends: list[tuple[str, dict]], dashboard: bool) -> None:
    keys: dict[int, str] = {}  # one key per message, however many groups it goes to
    for group, message in sends:
        key = keys.setdefault(id(message), uuid.uuid4().hex)
        await layer.group_send(group, envelope(message, key))
    if dashboard:
        await _dashboard_of(layer).request(layer)


class _Dashboard:
    """`dashboard` at most once per interval: the first change at once; changes within the
    interval after it by one more message at its end (which covers them all, being sent after
    them). Lives on the loop that sends."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.last: float | None = None
        self.timer: asyncio.TimerHandle | None = None

    async def request(self, layer) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self.loop:  # a new loop (a test's): start afresh
            self.loop, self.last, self.timer = loop, None, None
        if self.timer is not None:
            return  # the message already due at the end of the interval covers this change
        interval = float(settings.TIER2_LIVE_DASHBOARD_SECONDS)
        now = loop.time()
        if self.last is None or now - self.last >= interval:
            self.last = now
            await layer.group_send(DASHBOARD, envelope({"type": "dashboard"}))
        else:
            self.timer = loop.call_later(self.last + interval - now, self._later, layer, loop)

    def _later(self, layer, loop: asyncio.AbstractEventLoop) -> None:
        self.timer, self.last = None, loop.time()
        message = envelope({"type": "dashboard"})
        _sender.track(loop.create_task(layer.group_send(DASHBOARD, message)))


_dashboards: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _dashboard_of(layer) -> _Dashboard:
    found = _dashboards.get(layer)
    if found is None:
        found = _dashboards[layer] = _Dashboard()
    return found


class _Sender:
    """A daemon thread running an event loop, started on first use in each process (after a
    fork too), to which messages are handed without waiting. If the channel layer hangs, at
    most `MAX_PENDING` sends wait; later ones are dropped and logged."""

    MAX_PENDING = 1000

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._pending: set = set()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                self._loop, self._pid = asyncio.new_event_loop(), os.getpid()
                self._pending = set()
                threading.Thread(
                    target=self._loop.run_forever, name="tier2-live-sender", daemon=True
                ).start()
            return self._loop

    def submit(self, coroutine, loop: asyncio.AbstractEventLoop) -> None:
        with self._lock:
            crowded = len(self._pending) >= self.MAX_PENDING
        if crowded:
            coroutine.close()
            log.warning("Live updates dropped: %d sends still wait for the channel layer.",
                        self.MAX_PENDING)  # fmt: skip
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        try:
            if running is loop:
                future = loop.create_task(coroutine)
            else:
                future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed meanwhile
            coroutine.close()
            return
        self.track(future)

    def track(self, future) -> None:
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future) -> None:
        try:
            error = None if future.cancelled() else future.exception()
            if error is not None:
                log.warning("Live update not sent: %s: %s", type(error).__name__, error)
        finally:
            with self._lock:
                self._pending.discard(future)
                self._lock.notify_all()

    def drain(self, timeout: float) -> bool:
        """Wait until the sends handed over from other threads are done (and logged)."""

        def sent() -> bool:
            return not any(isinstance(item, concurrent.futures.Future) for item in self._pending)

        with self._lock:
            return self._lock.wait_for(sent, timeout=timeout)


_sender = _Sender()
atexit.register(_sender.drain, 2.0)

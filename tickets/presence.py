"""Presence: who has a ticket open in the console right now, and what they are doing there.

Each open workspace tab (one websocket, `tickets.consumers`) announces itself on its ticket,
"viewing", "typing" (in the note or action form) or "acting" (submitting), and repeats it as a
heartbeat. An entry lasts `TIER2_LIVE_PRESENCE_SECONDS` after its last announcement; the
socket's disconnect removes its entries at once, and readers skip (and prune) expired ones.

Presence is not business data: nothing is written to the database, nothing is kept past the
TTL. It lives in the Django cache: with django-redis one Redis hash per ticket (one field per
socket, so tabs of different processes never overwrite each other), else the local-memory
cache under a lock (one process, `make run`). A cache outage means no presence, never an error.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

VIEWING, TYPING, ACTING, GONE = "viewing", "typing", "acting", "gone"
ACTIVITIES = (VIEWING, TYPING, ACTING)  # weakest first: a person shows their strongest tab
KEY = "tier2:presence:%d"


@dataclass(frozen=True)
class Change:
    """What an announcement left: whether the people on the ticket (or what they do) changed,
    and who they are now."""

    changed: bool
    people: list[dict]


def display_name(user) -> str:
    """How colleagues see a user: "Rina A." (first name, initial of the last), else the name
    given, else the user name."""
    first, last = (user.first_name or "").strip(), (user.last_name or "").strip()
    if first and last:
        return f"{first} {last[0]}."
    return first or last or user.get_username()


def announce(*, ticket_id: int, channel: str, user_id: int, name: str, activity: str) -> Change:
    """The tab behind `channel` is on the ticket doing `activity` (also its heartbeat)."""
    if activity not in ACTIVITIES:
        raise ValueError(f"unknown activity {activity!r}")
    entry = {"user": user_id, "name": name, "activity": activity, "until": _now() + _ttl()}
    return _store().update(ticket_id, channel, entry)


def leave(*, ticket_id: int, channel: str) -> Change:
    """The tab behind `channel` left the ticket (closed, navigated away, disconnected)."""
    return _store().update(ticket_id, channel, None)


def people(ticket_id: int) -> list[dict]:
    """The people on the ticket now: `{"user", "name", "activity"}` each, by name."""
    return people_on([ticket_id]).get(ticket_id, [])


def people_on(ticket_ids: Iterable[int]) -> dict[int, list[dict]]:
    """`people` of many tickets at once (the rows of a queue page), with one cache read; tickets
    nobody is on are left out."""
    ids = list(dict.fromkeys(int(pk) for pk in ticket_ids))
    if not ids:
        return {}
    found = _store().read(ids)
    now = _now()
    return {pk: shown for pk in ids if (shown := _people(found.get(pk, {}), now))}


# --- Reading entries -----------------------------------------------------------------------
def _now() -> float:
    return time.time()


def _ttl() -> float:
    return float(settings.TIER2_LIVE_PRESENCE_SECONDS)


def _people(entries: dict[str, dict], now: float) -> list[dict]:
    """One line per person: their strongest activity over their tabs still alive."""
    strongest: dict[int, dict] = {}
    for entry in entries.values():
        if entry["until"] <= now:
            continue
        held = strongest.get(entry["user"])
        rank = ACTIVITIES.index(entry["activity"])
        if held is None or rank > ACTIVITIES.index(held["activity"]):
            strongest[entry["user"]] = entry
    shown = [
        {"user": entry["user"], "name": entry["name"], "activity": entry["activity"]}
        for entry in strongest.values()
    ]
    return sorted(shown, key=lambda person: (person["name"], person["user"]))


def _apply(
    before: dict[str, dict], channel: str, entry: dict | None, now: float
) -> tuple[dict[str, dict], Change]:
    """The entries after setting (or, None, removing) `channel`'s, expired ones pruned, and the
    change. An entry that ran out counts as a change: it is pruned now, and told once."""
    after = {key: value for key, value in before.items() if value["until"] > now}
    expired = len(after) < len(before)
    if entry is None:
        after.pop(channel, None)
    else:
        after[channel] = entry
    shown = _people(after, now)
    return after, Change(changed=expired or shown != _people(before, now), people=shown)


# --- Where entries live ----------------------------------------------------------------------
class _RedisStore:
    """One Redis hash per ticket: field = socket channel, value = its entry as JSON. A write
    reads the hash and sets its field in one MULTI, so the change is told exactly once."""

    def __init__(self, client) -> None:
        self.client = client

    def _key(self, ticket_id: int) -> str:
        return cache.make_key(KEY % ticket_id)

    def update(self, ticket_id: int, channel: str, entry: dict | None) -> Change:
        key, now = self._key(ticket_id), _now()
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.hgetall(key)
            if entry is None:
                pipe.hdel(key, channel)
            else:
                pipe.hset(key, channel, json.dumps(entry))
                pipe.pexpire(key, int(_ttl() * 1000))
            before = _decoded(pipe.execute()[0])
            stale = [field for field, value in before.items() if value["until"] <= now]
            if stale:
                self.client.hdel(key, *stale)
        except (RedisError, OSError):  # Redis down: no presence, never an error
            log.warning("Presence store unavailable: ticket %s not updated.", ticket_id)
            return Change(changed=False, people=[])
        return _apply(before, channel, entry, now)[1]

    def read(self, ticket_ids: list[int]) -> dict[int, dict[str, dict]]:
        try:
            pipe = self.client.pipeline(transaction=False)
            for ticket_id in ticket_ids:
                pipe.hgetall(self._key(ticket_id))
            rows = pipe.execute()
        except (RedisError, OSError):
            log.warning("Presence store unavailable: presence not shown.")
            return {}
        return {pk: _decoded(row) for pk, row in zip(ticket_ids, rows, strict=True)}


def _decoded(row: dict) -> dict[str, dict]:
    found = {}
    for field, value in row.items():
        try:
            found[field.decode() if isinstance(field, bytes) else field] = json.loads(value)
        except ValueError:
            continue
    return found


class _CacheStore:
    """Any other Django cache (local memory: one process): one dict per ticket, written under
    this process's lock."""

    lock = threading.Lock()

    def update(self, ticket_id: int, channel: str, entry: dict | None) -> Change:
        now = _now()
        with self.lock:
            after, change = _apply(cache.get(KEY % ticket_id) or {}, channel, entry, now)
            if after:
                cache.set(KEY % ticket_id, after, timeout=_ttl())
            else:
                cache.delete(KEY % ticket_id)
        return change

    def read(self, ticket_ids: list[int]) -> dict[int, dict[str, dict]]:
        found = cache.get_many([KEY % pk for pk in ticket_ids])
        return {pk: found.get(KEY % pk, {}) for pk in ticket_ids}


def _store():
    try:
        from django_redis import get_redis_connection

        return _RedisStore(get_redis_connection("default"))
    except (ImportError, NotImplementedError):
        return _CacheStore()

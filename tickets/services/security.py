"""The security log: the one writer of `SecurityEvent` rows (append-only).

Sign-ins, failed sign-ins, lockouts, 2FA device changes, role and privilege changes, exports of
customer data, erasures and the retention job each become one row: when, what kind, who acted,
whose account it concerns, from which address and browser, and a small JSON detail. Never the
data itself: an export records what was exported and how many rows, an erasure the customer's
id, a failed sign-in the user name typed (never a password).

Signals carry no request, so the receivers (`tickets.receivers`) find the current one through
`request_context`, set for every request by `receivers.SecurityContextMiddleware`.
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from django.conf import settings

from ..models import SecurityEvent, SecurityEventKind

USER_AGENT_MAX = 256
DETAIL_TEXT_MAX = 200
DETAIL_MAX = 2000  # characters of the JSON detail; a larger one is cut down to its keys

_FROM_REQUEST = object()
_request: contextvars.ContextVar = contextvars.ContextVar("tier2_security_request", default=None)


@contextmanager
def request_context(request):
    """Make `request` the current one for the events recorded inside the block."""
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def current_request():
    return _request.get()


def client_ip(request) -> str | None:
    """The client's address: what django-axes found (it counts locks per address), else, behind
    `TIER2_PROXY_COUNT` proxies, the address the outermost of them saw, else REMOTE_ADDR. None
    if it is not an IP address."""
    if request is None:
        return None
    candidate = getattr(request, "axes_ip_address", None)
    if not candidate:
        meta = getattr(request, "META", {})
        proxies = getattr(settings, "TIER2_PROXY_COUNT", 0)
        forwarded = [part.strip() for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if proxies and forwarded:  # the same rule as the lockouts' (tickets.views.account)
            candidate = forwarded[-min(proxies, len(forwarded))]
        else:
            candidate = meta.get("REMOTE_ADDR")
    return _valid_ip(candidate)


def _valid_ip(candidate) -> str | None:
    try:
        return str(ipaddress.ip_address(str(candidate).strip()))
    except ValueError:
        return None


def _small(detail: dict | None) -> dict:
    """The detail as plain JSON, long texts cut; an oversized detail keeps only its keys."""
    if not detail:
        return {}

    def shorten(value):
        if isinstance(value, str) and len(value) > DETAIL_TEXT_MAX:
            return value[:DETAIL_TEXT_MAX] + "…"
        if isinstance(value, dict):
            return {str(key): shorten(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [shorten(item) for item in value]
        return value

    plain = json.loads(json.dumps(shorten(detail), default=str))
    if len(json.dumps(plain)) > DETAIL_MAX:
        return {"truncated": True, "keys": sorted(plain)[:20]}
    return plain


def _user_of(request):
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


def record_event(
    *,
    kind: str,
    actor=_FROM_REQUEST,
    target_user=None,
    target_username: str = "",
    request=None,
    ip_address: str | None = None,
    detail: dict | None = None,
) -> SecurityEvent:
    """Append one event. `request` defaults to the current one; `actor` to its signed-in user
    (None for background jobs and anonymous requests); `ip_address` to the request's client."""
    if kind not in SecurityEventKind.values:
        raise ValueError(f"Unknown security event kind: {kind!r}")
    request = request if request is not None else current_request()
    if actor is _FROM_REQUEST:
        actor = _user_of(request)
    meta = getattr(request, "META", {}) if request is not None else {}
    if target_user is not None and not target_username:
        target_username = target_user.get_username()
    return SecurityEvent.objects.create(
        kind=kind,
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        target_user=target_user,
        target_username=(target_username or "")[:150],
        ip_address=_valid_ip(ip_address) if ip_address else client_ip(request),
        user_agent=meta.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX],
        detail=_small(detail),
    )


def record_export(*, actor, what: str, rows: int, request=None, **detail) -> SecurityEvent:
    """Someone exported data: what (a table name) and how many rows, never the rows."""
    return record_event(
        kind=SecurityEventKind.EXPORT,
        actor=actor,
        request=request,
        detail={"what": what, "rows": rows, **detail},
    )


def logged_export(
    rows: Iterable[list], *, actor, what: str, request=None, header_rows: int = 1, **detail
) -> Iterator[list]:
    """Pass the rows of a (streamed) export through and record it once they have been read.

    The event is written when the stream ends, with the number of data rows sent; a download
    the client abandons half-way is recorded with `"complete": false`.
    """
    sent, complete = 0, False
    try:
        for row in rows:
            sent += 1  # handed over: counted even if the client leaves before the next one
            yield row
        complete = True
    finally:
        if sent or complete:
            record_export(
                actor=actor,
                what=what,
                rows=max(0, sent - header_rows),
                request=request,
                complete=complete,
                **detail,
            )

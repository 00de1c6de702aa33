"""The HTTP sender of TMF621 event deliveries: one signed POST to a subscriber's callback.

Plain Python, like every adapter: it knows bytes, headers and a URL, nothing of subscriptions or
tickets. The caller (`integrations.hub`) builds the body, signs it and decides what a failure
means; this module only reports how the POST went:

- a 2xx answer is a delivery (`Posted`);
- anything else is `AdapterUnavailable`: a connection refused or reset, a timeout, a redirect
  (never followed: the callback registered is the one that gets the events), any other status.
  The outbox retries it with backoff; a receiver that is down, overloaded or misconfigured for a
  while gets its events once it is back.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import requests
import urllib3

from .base import AdapterUnavailable

SIGNATURE_HEADER = "X-Tmf-Signature"
EVENT_ID_HEADER = "X-Tmf-Event-Id"
EVENT_TYPE_HEADER = "X-Tmf-Event-Type"
SIGNATURE_PREFIX = "sha256="
USER_AGENT = "Tier2-TMF621-Hub/1"
ANSWER_SHOWN = 200  # characters of a receiver's refusal kept in the error, for the admin


def signature(body: bytes, secret: str) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the exact body bytes with the subscription's secret."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_PREFIX}{digest}"


def verify(body: bytes, secret: str, header: str) -> bool:
    """What a receiver does with the `X-Tmf-Signature` header (in constant time)."""
    return hmac.compare_digest(signature(body, secret), (header or "").strip())


@dataclass(frozen=True)
class Posted:
    status: int
    duration_ms: int


class HubSender:
    """POSTs event bodies; one `requests` session per process (connections are reused)."""

    def __init__(self, *, timeout: float) -> None:
        self.timeout = timeout
        self._session = requests.Session()

    def post(self, url: str, body: bytes, *, secret: str, event_id: str, event_type: str) -> Posted:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: event_type,
            SIGNATURE_HEADER: signature(body, secret),
        }
        try:
            # Streamed: a receiver's answer is read only as far as the error message needs.
            with self._session.post(
                url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            ) as answer:
                duration_ms = int(answer.elapsed.total_seconds() * 1000)
                if 200 <= answer.status_code < 300:
                    return Posted(status=answer.status_code, duration_ms=duration_ms)
                start = answer.raw.read(ANSWER_SHOWN * 4, decode_content=True) or b""
        except requests.Timeout as problem:
            raise AdapterUnavailable(f"No answer within {self.timeout:g} s.") from problem
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as problem:
            raise AdapterUnavailable(f"{type(problem).__name__}: {problem}") from problem
        text = " ".join(start.decode("utf-8", "replace").split())[:ANSWER_SHOWN]
        raise AdapterUnavailable(f"HTTP {answer.status_code} {answer.reason or ''}: {text}".strip())

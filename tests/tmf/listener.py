"""A real HTTP listener for TMF621 events, as a subscriber would run one (tests only).

`Listener` serves `http://127.0.0.1:<free port>/<path>` from a thread (`http.server`), and checks
every POST the way docs/tmf621.md tells a receiver to: the HMAC-SHA256 of the raw body bytes
with the subscription's secret, hex, must equal the `X-Tmf-Signature` header after `sha256=`
(compared in constant time). It is written here from the documentation, not from the code under
test, so a test that passes shows a receiver can verify what we send.

It can also misbehave on purpose: answer a status other than 2xx (`fail`), or take its time
(`delay`), for chosen events.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    status: int  # what the listener answered
    at: float  # time.monotonic() when it arrived

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers.get("x-tmf-event-id", "")


def receiver_verifies(body: bytes, secret: str, header: str) -> bool:
    """The receiver's check, from the docs: sha256=<hex HMAC-SHA256(secret, raw body)>."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header or "")


class Listener:
    """Records every POST; `secrets[path]` is the secret of the subscription posting there."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.received: list[Received] = []
        self.lock = threading.Lock()
        # (received so far for this event id, event) -> status to answer (None: 204)
        self.answer: Callable[[int, dict], int | None] = lambda attempt, event: None
        self.delay: Callable[[int, dict], float] = lambda attempt, event: 0.0
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {key.lower(): value for key, value in self.headers.items()}
                secret = listener.secrets.get(self.path, "")
                verified = receiver_verifies(body, secret, headers.get("x-tmf-signature", ""))
                try:
                    event = json.loads(body)
                except ValueError:
                    event = {}
                with listener.lock:
                    attempt = 1 + sum(
                        1
                        for item in listener.received
                        if item.event_id == headers.get("x-tmf-event-id")
                    )
                status = listener.answer(attempt, event) or 204
                pause = listener.delay(attempt, event)
                with listener.lock:
                    listener.received.append(
                        Received(self.path, headers, body, verified, status, time.monotonic())
                    )
                if pause:
                    time.sleep(pause)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (its worker was killed)

            def log_message(self, *args) -> None:
                pass  # quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/listener") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def posts(self, path: str | None = None) -> list[Received]:
        with self.lock:
            return [item for item in self.received if path is None or item.path == path]

    def delivered(self, path: str | None = None) -> dict[str, Received]:
        """Event id -> the first POST of it that the listener accepted (2xx)."""
        found: dict[str, Received] = {}
        for item in self.posts(path):
            if 200 <= item.status < 300:
                found.setdefault(item.event_id, item)
        return found

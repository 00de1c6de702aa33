"""Helpers of the live console's tests: a console tab's websocket, spoken to through the real
ASGI application (Origin check, session sign-in, routing) with channels' WebsocketCommunicator,
and a channel layer that records what the services send.

The scenarios run in one event loop (`run`); the services they call run in the test's thread
with its database connection (`database_sync_to_async`), committing for real
(`transactional_db`), so what is sent after commit is sent.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import BaseChannelLayer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.db import connections
from django.test import Client

WAIT = 3.0  # seconds for a message that must come
QUIET = 0.4  # seconds during which a message that must not come does not


def run(scenario, *args):
    """Run an async scenario from a (sync) test.

    When this thread already runs an event loop (Playwright's sync API keeps one in the main
    thread once a browser test of the same session has started it), the scenario runs from a
    thread of its own instead, where `async_to_sync` may start one; `in_thread` functions then
    run in that thread, with a database connection of its own, which the `transactional_db`
    tests here allow (their rows are committed)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return async_to_sync(scenario)(*args)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(_run_and_close_connections, scenario, *args).result()


def _run_and_close_connections(scenario, *args):
    try:
        return async_to_sync(scenario)(*args)
    finally:
        connections.close_all()  # this thread's connections, or the test database stays in use


def in_thread(function):
    """`function` called from a scenario, in the test's thread (its database connection)."""
    return database_sync_to_async(function)


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def open_socket(user=None, *, origin: str = "http://testserver") -> WebsocketCommunicator:
    """A console tab's socket, signed in as `user` (None: anonymous), opened from `origin`."""
    from tier2.asgi import application

    headers = [(b"origin", origin.encode()), (b"host", b"testserver")]
    if user is not None:
        cookie = await in_thread(session_cookie)(user)
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    socket = WebsocketCommunicator(application, "/ws/live/", headers=headers)
    socket.opened, _code = await socket.connect(timeout=WAIT)  # False: refused at the handshake
    return socket


async def close_code(socket: WebsocketCommunicator) -> int | None:
    """The code the server closed the socket with."""
    output = await socket.receive_output(timeout=WAIT)
    assert output["type"] == "websocket.close", output
    return output.get("code")


async def watch(socket: WebsocketCommunicator, *topics) -> tuple[list[str], list[str]]:
    """Ask to watch `topics`; returns (topics granted, topics refused) once the server answers."""
    await socket.send_json_to({"type": "watch", "topics": list(topics)})
    refused = []
    while True:
        message = await socket.receive_json_from(timeout=WAIT)
        if message["type"] == "refused":
            refused.append(message["topic"])
        elif message["type"] == "watching":
            return message["topics"], refused


async def say(socket: WebsocketCommunicator, ticket_id, activity: str) -> None:
    await socket.send_json_to({"type": "presence", "ticket": ticket_id, "activity": activity})


async def next_message(socket: WebsocketCommunicator, wanted=None, timeout: float = WAIT) -> dict:
    """The next message (for which `wanted(message)` holds: others are skipped)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = await socket.receive_json_from(timeout=max(deadline - loop.time(), 0.01))
        if wanted is None or wanted(message):
            return message


async def all_messages(socket: WebsocketCommunicator, quiet: float = QUIET) -> list[dict]:
    """Every message that comes until none has come for `quiet` seconds (waiting with
    `receive_nothing`: a receive that times out ends the application)."""
    found = []
    while not await socket.receive_nothing(timeout=quiet, interval=0.02):
        found.append(await socket.receive_json_from(timeout=WAIT))
    return found


def of_type(kind: str):
    return lambda message: message.get("type") == kind


class RecordingLayer(BaseChannelLayer):
    """A channel layer that keeps what is sent to its groups, as (group, message) pairs."""

    extensions = ["groups"]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.sent: list[tuple[str, dict]] = []

    async def group_send(self, group, message) -> None:
        self.sent.append((group, message["message"]))

    async def group_add(self, group, channel) -> None:
        pass

    async def group_discard(self, group, channel) -> None:
        pass

    async def send(self, channel, message) -> None:
        pass

    async def new_channel(self, prefix="specific.") -> str:
        return f"{prefix}recorded"

    async def receive(self, channel):
        await asyncio.Future()


class BrokenLayer(RecordingLayer):
    """A channel layer whose server is down."""

    async def group_send(self, group, message) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

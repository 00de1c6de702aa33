"""The real ASGI server, started as docker-compose.yml's asgi service (and `make run`) start it,
serves the live console's websocket at /ws/live/: to a signed-in console, not to anonymous
callers or other sites' pages; and its processes share their group messages through the Redis
channel layer, so a message sent by one process reaches a socket held by another. That is what
lets the asgi service run as many processes, on as many hosts, as the load needs.

Each server is a subprocess on the test database (committed rows: transaction=True), spoken to
by the `websockets` client as a browser would: session cookie, Origin of the site.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from tests import factories

pytestmark = [pytest.mark.redis, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WAIT = 10  # seconds for a message that should come
# The servers' and this process's channel names: Redis pub/sub is shared by every database of a
# Redis server, so other test runs on the same Redis must not hear these (nor these them).
PREFIX = f"t2serve{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def own_channel_names(settings):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [settings.TIER2_LIVE_REDIS_URL], "prefix": PREFIX},
        }
    }


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def compose_command(port: int) -> list[str]:
    """The asgi service's command from docker-compose.yml, on the loopback, one process."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = " ".join(compose["services"]["asgi"]["command"].split())
    command = command.replace("${ASGI_CONCURRENCY:-2}", "1")
    command = command.replace("--host 0.0.0.0", "--host 127.0.0.1")
    command = command.replace("--port 8001", f"--port {port}")
    program, *arguments = shlex.split(command)
    return [str(BIN / program), *arguments]


def runserver_command(port: int) -> list[str]:
    """`make run`: manage.py runserver, which daphne (first in INSTALLED_APPS) makes ASGI."""
    return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]


class Server:
    def __init__(self, kind: str, database_url: str, log: Path) -> None:
        self.port = free_port()
        command = compose_command(self.port) if kind == "compose" else runserver_command(self.port)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "0",
            "TIER2_LIVE_PREFIX": PREFIX,
        }
        self.log = log
        self.process = subprocess.Popen(  # noqa: S603 - our own venv's server, fixed arguments
            command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
        )
        self.wait_ready()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live/"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited: {self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.origin}/healthz", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        pytest.fail(f"the server did not answer /healthz: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture(scope="module")
def database_url(django_db_setup, django_db_blocker) -> str:
    """The test database, as the servers must reach it."""
    with django_db_blocker.unblock():
        params = connection.settings_dict
    user = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    return f"postgres://{user}@{params['HOST']}:{params['PORT'] or 5432}/{params['NAME']}"


@pytest.fixture(scope="module")
def servers(database_url, tmp_path_factory):
    """Started on demand, once per module: `servers("compose", 0)`, `servers("compose", 1)`."""
    started: dict[tuple[str, int], Server] = {}
    logs = tmp_path_factory.mktemp("asgi-logs")

    def get(kind: str, number: int = 0) -> Server:
        if (kind, number) not in started:
            started[kind, number] = Server(kind, database_url, logs / f"{kind}-{number}.log")
        return started[kind, number]

    yield get
    for server in started.values():
        server.stop()


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def open_socket(server: Server, cookie: str | None = None, origin: str | None = None):
    headers = {"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"} if cookie else {}
    return connect(
        server.url,
        origin=origin or server.origin,
        additional_headers=headers,
        open_timeout=WAIT,
        close_timeout=2,
    )


def watch(ws, *topics: str) -> None:
    """Send `watch` and wait until the server has joined the groups (its `watching` answer)."""
    ws.send(json.dumps({"type": "watch", "topics": list(topics)}))
    answer = next_message(ws, lambda message: message.get("type") in {"watching", "refused"})
    assert answer == {"type": "watching", "topics": list(topics)}


def next_message(ws, wanted, seconds: float = WAIT) -> dict:
    """The first message for which `wanted(message)` holds (others on the socket are skipped:
    the dashboard pulse, presence of other tests' tickets...)."""
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            pytest.fail("no such message came")
        try:
            message = json.loads(ws.recv(timeout=left))
        except TimeoutError:
            pytest.fail("no such message came")
        if wanted(message):
            return message


def about(ticket_id: int):
    return lambda message: message.get("type") == "ticket" and message.get("id") == ticket_id


def close_code_of(ws) -> int | None:
    """The code the server closed the socket with (waiting for it to close)."""
    try:
        while True:
            ws.recv(timeout=WAIT)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    except TimeoutError:
        return None


# --- Serving: who gets a socket --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["compose", "runserver"])
def test_the_server_gives_a_signed_in_console_a_socket_that_carries_its_queue(servers, kind):
    server = servers(kind)
    supervisor = factories.role_user("Supervisor")
    with open_socket(server, session_cookie(supervisor)) as ws:
        watch(ws, "queue")
        ticket = factories.flow_ticket("nossa")  # committed here, sent by this process's layer
        message = next_message(ws, about(ticket.pk))
    assert message["kind"] == "arrived"
    assert message["flow"] == "nossa"


@pytest.mark.parametrize("kind", ["compose", "runserver"])
def test_the_server_closes_an_anonymous_socket_with_4401(servers, kind):
    server = servers(kind)
    with open_socket(server) as ws:  # accepted, so that the page can read the code
        assert close_code_of(ws) == 4401


def test_the_server_refuses_a_socket_opened_by_another_sites_page(servers):
    """A page of another origin may not ride on the user's cookie (cross-site websocket)."""
    server = servers("compose")
    cookie = session_cookie(factories.role_user("Supervisor"))
    with (
        pytest.raises(InvalidStatus) as refused,
        open_socket(server, cookie, "https://evil.example"),
    ):
        pass
    assert refused.value.response.status_code == 403


def test_a_session_that_ended_gets_no_socket(servers):
    server = servers("compose")
    agent = factories.agent(username=factories.unique_username("agent"))
    cookie = session_cookie(agent)
    Session.objects.filter(session_key=cookie).delete()  # signed out elsewhere, or expired
    with open_socket(server, cookie) as ws:
        assert close_code_of(ws) == 4401


# --- Scaling: processes share their group messages through Redis -----------------------------
def test_a_change_reaches_sockets_held_by_two_server_processes(servers):
    """One committed change, sent once by the process that made it, reaches the queue screens
    on both server processes: a socket need not be on any particular process (no stickiness)."""
    first, second = servers("compose", 0), servers("compose", 1)
    supervisor = factories.role_user("Supervisor")
    agent = factories.agent(
        site_code="MLG", flows=["ideas"], username=factories.unique_username("live-agent")
    )
    with (
        open_socket(first, session_cookie(supervisor)) as on_first,
        open_socket(second, session_cookie(agent)) as on_second,
    ):
        watch(on_first, "queue")
        watch(on_second, "queue")
        ticket = factories.flow_ticket("ideas", site_code="MLG")
        seen_first = next_message(on_first, about(ticket.pk))
        seen_second = next_message(on_second, about(ticket.pk))
    assert seen_first["id"] == seen_second["id"] == ticket.pk
    assert seen_second["site"] == "MLG"


def test_presence_sent_by_one_server_process_reaches_a_socket_on_another(servers):
    """A tab on process A says it is typing on a ticket; a colleague's tab on process B, open
    on the same ticket, hears of it: the group message crossed from A's layer to B's socket."""
    first, second = servers("compose", 0), servers("compose", 1)
    ticket = factories.flow_ticket("nossa", site_code="PST")
    typing = factories.agent(
        site_code="PST", flows=["nossa"], username=factories.unique_username("live-typist")
    )
    watching = factories.role_user("Supervisor")
    with (
        open_socket(first, session_cookie(typing)) as on_first,
        open_socket(second, session_cookie(watching)) as on_second,
    ):
        watch(on_second, f"ticket:{ticket.pk}")
        watch(on_first, f"ticket:{ticket.pk}")
        on_first.send(json.dumps({"type": "presence", "ticket": ticket.pk, "activity": "typing"}))

        def typing_on_ticket(message):
            return (
                message.get("type") == "presence"
                and message.get("ticket") == ticket.pk
                and any(
                    person.get("user") == typing.pk and person.get("activity") == "typing"
                    for person in message.get("people", [])
                )
            )

        message = next_message(on_second, typing_on_ticket)
    assert message["ticket"] == ticket.pk

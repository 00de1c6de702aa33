"""Live fan-out: N consoles on websockets, each committed change timed from commit to screen.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    export REDIS_URL=redis://127.0.0.1:6379/3
    .venv/bin/python bench/live_fanout.py --consoles 300 --changes 300 --rate 10 \\
        --server uvicorn --processes 2

What it does, in order:

1. Bench users (created once, reused): supervisors and agents of both sites, each agent working
   a few flows (`live-agent-PST-001`...), and actors that make the changes. Every console gets
   a real session of its user, made by Django's login machinery (`Client.force_login`: the
   session row and cookie a sign-in through /login/ makes, without hashing 300 passwords).
2. Bench tickets waiting in the queues (one per planned claim) and services for new arrivals.
3. The ASGI server: `--server uvicorn --processes N` runs docker-compose.yml's asgi command
   (one port, N workers); `--server daphne` runs N daphne processes on N ports, the consoles
   spread over them as a proxy would; or `--url ws://host:port/ws/live/` uses one already
   running (`--pid` its processes, for their CPU and memory).
4. The consoles connect (cookie, Origin and Host that pass AllowedHostsOriginValidator) and
   send `watch` as the pages do: each console's queue tab watches "queue" (templates/tickets/
   queue.html), and `--workspaces` of the users have a workspace tab open as well, a second
   socket on the same session watching "ticket:<id>" (workspace.html) and saying it is there
   (`presence`, then a heartbeat every 20 s). Each waits for the server's `watching` answer.
5. A separate process (Django set up, no websocket) makes the changes through the services, at
   `--rate` per second, one transaction each: new arrivals (`create_ticket`), claims
   (`claim_ticket`) and releases by a supervisor (`release_ticket`). It stamps the wall clock
   when each transaction has committed (an on-commit callback registered before the change's
   own, so before the live layer sends anything).
6. The consoles stamp each message on arrival. Expected receivers are worked out here from the
   bench's own rules (an agent: the ticket's site and one of the agent's flows, C4 Caring at
   Malang only; a supervisor: every ticket; a workspace: its ticket), not from the server code.

Prints deliveries expected / received / missing / unexpected (a message to a console that should
not see it) / duplicates, latency commit -> screen p50 / p95 / max per delivery and per change
(until its last screen had it), load average, CPU of server and client, and data sizes.
Everything runs on this machine: the client's own CPU use is part of what is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import random
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

# The flows of the bench's tickets and agents. C4 Caring arrives at Malang only (SOP 8.4).
FLOWS = ("callback", "nossa", "gamas", "c4_caring", "force_close", "ideas")
C4 = "c4_caring"
C4_SITE = "MLG"
SITES = ("PST", "MLG")
SITE_DIGIT = {"MLG": "2", "PST": "1"}  # intake routes a line by its last digit: even -> Malang
PASSWORDLESS_BACKEND = "django.contrib.auth.backends.ModelBackend"


def setup_django() -> None:
    import django

    django.setup()


# --- Consoles: who they are and what they should receive -----------------------------------
@dataclass
class Console:
    """One browser tab: its user, session cookie and what it watches."""

    username: str
    role: str  # "agent" | "supervisor"
    site: str = ""
    flows: tuple[str, ...] = ()
    cookie: str = ""
    ticket_id: int | None = None  # a workspace tab: this ticket only, not the queue

    @property
    def topics(self) -> list[str]:
        return ["queue"] if self.ticket_id is None else [f"ticket:{self.ticket_id}"]

    def should_receive(self, change: Change) -> bool:
        """The bench's statement of who may see a change (docs/live.md), written out here."""
        if self.ticket_id is not None:
            return change.ticket_id == self.ticket_id
        if self.role == "supervisor":
            return True
        if change.site != self.site or change.flow not in self.flows:
            return False
        return change.flow != C4 or self.site == C4_SITE


@dataclass
class Change:
    """One committed change, as the driver made it."""

    op: str
    ticket_id: int
    site: str
    flow: str
    from_state: str
    to_state: str
    committed_at: float

    @property
    def key(self) -> tuple[int, str, str]:
        return (self.ticket_id, self.from_state, self.to_state)


def agent_flows(number: int, site: str) -> tuple[str, ...]:
    """Two or three flows per agent, rotating so every flow has agents at both sites."""
    pool = [flow for flow in FLOWS if flow != C4] + ([C4] if site == C4_SITE else [])
    start = number % len(pool)
    count = 2 + number % 2
    return tuple(pool[(start + step) % len(pool)] for step in range(count))


def ensure_user(username: str, role: str, site: str = "", flows=()):
    from django.contrib.auth.models import Group, User

    from tickets.models import AgentProfile, Site

    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
    user.groups.set([Group.objects.get(name=role)])
    if site:
        AgentProfile.objects.update_or_create(
            user=user,
            defaults={
                "site": Site.objects.get(code=site),
                "flows": list(flows),
                "agent_code": username[-16:],
            },
        )
    return User.objects.get(pk=user.pk)


def log_in(user) -> str:
    """A session of `user` through Django's own login (the cookie /login/ would set)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    backend = (
        PASSWORDLESS_BACKEND
        if PASSWORDLESS_BACKEND in settings.AUTHENTICATION_BACKENDS
        else settings.AUTHENTICATION_BACKENDS[-1]
    )
    client.force_login(user, backend=backend)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def make_consoles(count: int, supervisor_share: float, workspace_share: float) -> list[Console]:
    supervisors = max(1, round(count * supervisor_share))
    consoles = [
        Console(username=f"live-supervisor-{number:03d}", role="supervisor")
        for number in range(1, supervisors + 1)
    ]
    for number in range(1, count - supervisors + 1):
        site = SITES[number % 2]
        consoles.append(
            Console(
                username=f"live-agent-{site}-{number:03d}",
                role="agent",
                site=site,
                flows=agent_flows(number, site),
            )
        )
    for console in consoles:
        user = ensure_user(
            console.username,
            "Supervisor" if console.role == "supervisor" else "Agent",
            console.site,
            console.flows,
        )
        console.cookie = log_in(user)
    rng = random.Random(7)
    for console in rng.sample(consoles, round(len(consoles) * workspace_share)):
        # The same user's workspace tab; its ticket is chosen once the bench tickets exist.
        consoles.append(Console(**{**console.__dict__, "ticket_id": -1}))
    return consoles


def forget_sessions(consoles: list[Console]) -> None:
    from django.contrib.sessions.models import Session

    Session.objects.filter(session_key__in=[c.cookie for c in consoles]).delete()


# --- Bench tickets and the plan of changes ---------------------------------------------------
def new_services(count: int, tag: str) -> list[tuple[int, str, str]]:
    """(service id, site, flow) for `count` new lines; the flow decides the site for C4."""
    from tickets.models import Customer, Service

    made = []
    for number in range(count):
        flow = FLOWS[number % len(FLOWS)]
        site = C4_SITE if flow == C4 else SITES[(number + number // len(FLOWS)) % 2]
        customer = Customer.objects.create(name=f"Live bench {tag}-{number}", phone="081200000000")
        service = Service.objects.create(
            service_number=f"17{tag}{number:05d}{SITE_DIGIT[site]}",
            customer=customer,
            sto="STO-LIVE",
            olt=f"OLT-LIVE-{tag}",
            odp=f"ODP-LIVE-{tag}",
        )
        made.append((service.pk, site, flow))
    return made


def actors() -> dict[str, int]:
    """User ids that make the changes: an agent per (site, flow) and one supervisor."""
    ids = {"supervisor": ensure_user("live-actor-supervisor", "Supervisor").pk}
    for site in SITES:
        for flow in FLOWS:
            if flow == C4 and site != C4_SITE:
                continue
            username = f"live-actor-{site}-{flow}"
            ids[f"{site}:{flow}"] = ensure_user(username, "Agent", site, [flow]).pk
    return ids


def prepare_plan(changes: int, tag: str) -> tuple[list[tuple], list[tuple[int, str, str]]]:
    """The operations, and the waiting bench tickets (id, site, flow) the claims take.

    One change in three is an arrival, one a claim and one the release of a claimed ticket."""
    from tickets import services
    from tickets.models import Service

    actor = actors()
    claims = changes // 3 + (changes % 3 > 1)
    arrivals = changes - claims - changes // 3
    waiting = []
    for service_id, _site, flow in new_services(claims, tag + "w"):
        ticket, _created = services.create_ticket(
            flow=flow, service=Service.objects.get(pk=service_id), summary="live bench"
        )
        waiting.append((ticket.pk, ticket.site.code, ticket.flow))
    fresh = new_services(arrivals, tag + "a")
    plan: list[tuple] = []
    claimed: list[int] = []
    taken = 0
    for step in range(changes):
        kind = step % 3
        if kind == 0 and fresh:
            service_id, _site, flow = fresh.pop(0)
            plan.append(("arrive", service_id, flow))
        elif kind == 1 and taken < len(waiting):
            ticket_id, site, flow = waiting[taken]
            taken += 1
            claimed.append(ticket_id)
            plan.append(("claim", ticket_id, actor[f"{site}:{flow}"]))
        else:
            plan.append(("release", claimed.pop(0), actor["supervisor"]))
    return plan, waiting


def drive(plan: list[tuple], rate: float, go, results) -> None:
    """In its own process: make the planned changes through the services, stamping commits."""
    setup_django()
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from tickets import services
    from tickets.models import Service, Ticket
    from tickets.services import live

    users = {user.pk: user for user in User.objects.filter(username__startswith="live-actor-")}
    go.wait()
    began = time.monotonic()
    made = []
    for index, (op, target, extra) in enumerate(plan):
        delay = began + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        stamp: list[float] = []
        if op == "arrive":
            service = Service.objects.get(pk=target)
            from_state = ""
        else:
            from_state = Ticket.objects.values_list("state", flat=True).get(pk=target)
        with transaction.atomic():
            # Runs first at commit: before the live layer's own on-commit sending.
            transaction.on_commit(lambda stamp=stamp: stamp.append(time.time()))
            if op == "arrive":
                ticket, _created = services.create_ticket(
                    flow=extra, service=service, summary="live bench"
                )
            elif op == "claim":
                ticket = services.claim_ticket(ticket_id=target, agent=users[extra])
            else:
                ticket = services.release_ticket(ticket_id=target, supervisor=users[extra])
        made.append(
            Change(op, ticket.pk, ticket.site.code, ticket.flow, from_state, ticket.state, stamp[0])
        )
    live.drain(30)  # the last messages are handed to the layer before the process ends
    connection.close()
    results.put(made)


# --- The server -----------------------------------------------------------------------------
@dataclass
class Server:
    """ASGI server processes this bench started (or none: --url)."""

    urls: list[str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    given_pids: list[int] = field(default_factory=list)  # of a server started elsewhere

    def pids(self) -> list[int]:
        """Every process serving: the started ones and their children (uvicorn's workers)."""
        found = list(self.given_pids)
        for proc in self.procs:
            found.append(proc.pid)
            found.extend(children_of(proc.pid))
        return [pid for pid in found if "resource_tracker" not in command_line(pid)]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found + [grand for child in found for grand in children_of(child)]


def server_command(kind: str, port: int, processes: int) -> list[str]:
    """uvicorn: docker-compose.yml's asgi command as it is, on the loopback; daphne: one
    process (`make run` serves through daphne's runserver)."""
    bindir = Path(sys.executable).parent
    if kind == "uvicorn":
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        command = " ".join(compose["services"]["asgi"]["command"].split())
        command = command.replace("${ASGI_CONCURRENCY:-2}", str(processes))
        command = command.replace("--host 0.0.0.0", "--host 127.0.0.1")
        command = command.replace("--port 8001", f"--port {port}")
        program, *arguments = shlex.split(command)
        return [str(bindir / program), *arguments]
    return [
        str(bindir / "daphne"), "-b", "127.0.0.1", "-p", str(port), "--verbosity", "0",
        "tier2.asgi:application",
    ]  # fmt: skip


def default_log_dir() -> Path:
    return Path(tempfile.gettempdir()) / "tier2-live-bench"


def start_server(kind: str, processes: int, port: int, log_dir: Path) -> Server:
    env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "0")}
    server = Server(urls=[])
    ports = [port] if kind == "uvicorn" else [port + number for number in range(processes)]
    log_dir.mkdir(parents=True, exist_ok=True)
    for number, listen in enumerate(ports):
        log = (log_dir / f"{kind}-{number}.log").open("w")
        server.procs.append(
            subprocess.Popen(  # noqa: S603 - our own venv's server, fixed arguments
                server_command(kind, listen, processes), cwd=ROOT, env=env, stdout=log, stderr=log
            )
        )
        server.urls.append(f"ws://127.0.0.1:{listen}/ws/live/")
    for url in server.urls:
        wait_ready(url)
    if kind == "uvicorn":
        time.sleep(2)  # the workers start after the supervisor answers
    return server


def wait_ready(ws_url: str, seconds: float = 60) -> None:
    health = ws_url.replace("ws://", "http://").replace("/ws/live/", "/healthz")
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:  # noqa: S310 - our URL
                if answer.status == 200:
                    return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.3)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < needed:
        raise SystemExit(f"need {needed} file descriptors, the hard limit allows {soft}")
    return soft


# --- The websocket clients --------------------------------------------------------------------
@dataclass
class Received:
    console: int
    at: float
    raw: str


async def open_console(url: str, cookie: str, topics: list[str] | None):
    """A websocket as the console's page opens it: session cookie, the site's Origin; it sends
    its `watch` and waits for the server's `watching` (and a workspace says it is there)."""
    from django.conf import settings
    from websockets.asyncio.client import connect

    origin = url.replace("ws://", "http://").replace("wss://", "https://").split("/ws/")[0]
    socket = await connect(
        url,
        origin=origin,
        additional_headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
        open_timeout=60,
        ping_interval=20,
        ping_timeout=60,
        max_queue=None,
    )
    if topics:
        await socket.send(json.dumps({"type": "watch", "topics": topics}))
        while True:
            answer = json.loads(await asyncio.wait_for(socket.recv(), 60))
            if answer.get("type") == "refused":
                raise SystemExit(f"the server refused {answer.get('topic')}: check the bench users")
            if answer.get("type") == "watching":
                break
        for topic in topics:
            if topic.startswith("ticket:"):
                await say_present(socket, int(topic.partition(":")[2]))
    return socket


async def say_present(socket, ticket_id: int) -> None:
    await socket.send(json.dumps({"type": "presence", "ticket": ticket_id, "activity": "viewing"}))


async def heartbeat(sockets_tickets: list[tuple[object, int]], stop: asyncio.Event) -> None:
    """The workspace tabs' presence heartbeat, every 20 s as static/js/live.js sends it."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 20)
        if not stop.is_set():
            for socket, ticket_id in sockets_tickets:
                with contextlib.suppress(Exception):
                    await say_present(socket, ticket_id)


async def listen(index: int, socket, inbox: list[Received]) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in socket:
            inbox.append(Received(index, time.time(), raw))
    except ConnectionClosed:
        pass


async def connect_all(urls, cookies_topics, batch: int = 50) -> list:
    """Open every socket, `batch` at a time (a shift starting, not a thundering herd)."""
    sockets = []
    for start in range(0, len(cookies_topics), batch):
        chunk = cookies_topics[start : start + batch]
        sockets += await asyncio.gather(
            *(
                open_console(urls[(start + offset) % len(urls)], cookie, topics)
                for offset, (cookie, topics) in enumerate(chunk)
            )
        )
    return sockets


async def sample_load(samples: list, stop: asyncio.Event) -> None:
    while not stop.is_set():
        samples.append(os.getloadavg()[0])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1)


async def run_consoles(args, server: Server, consoles: list[Console], plan) -> dict:
    inbox: list[Received] = []
    began = time.monotonic()
    sockets = await connect_all(server.urls, [(c.cookie, c.topics) for c in consoles])
    connect_seconds = time.monotonic() - began
    listeners = [
        asyncio.create_task(listen(index, socket, inbox)) for index, socket in enumerate(sockets)
    ]
    await asyncio.sleep(args.settle)  # presence of the workspace tabs is spread meanwhile
    early = len(inbox)
    pids = server.pids()
    cpu_before = {pid: cpu_seconds(pid) for pid in pids}
    client_before = sum(os.times()[:2])
    samples: list[float] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_load(samples, stop))
    workspaces = [
        (socket, console.ticket_id)
        for socket, console in zip(sockets, consoles, strict=True)
        if console.ticket_id is not None
    ]
    beating = asyncio.create_task(heartbeat(workspaces, stop))

    context = multiprocessing.get_context("spawn")
    go, results = context.Event(), context.Queue()
    driver = context.Process(target=drive, args=(plan, args.rate, go, results))
    driver.start()
    await asyncio.sleep(3)  # Django set up in the driver
    started = time.monotonic()
    go.set()
    loop = asyncio.get_running_loop()
    made = await loop.run_in_executor(None, results.get)
    drive_seconds = time.monotonic() - started
    await loop.run_in_executor(None, driver.join)
    await asyncio.sleep(args.grace)
    stop.set()
    await sampler
    await beating
    cpu_after = {pid: cpu_seconds(pid) for pid in pids if Path(f"/proc/{pid}").exists()}
    client_cpu = sum(os.times()[:2]) - client_before
    still_open = sum(1 for socket in sockets if socket.close_code is None)
    for socket in sockets:
        await socket.close()
    await asyncio.gather(*listeners)
    return {
        "inbox": inbox[early:],
        "before_changes": inbox[:early],
        "made": made,
        "connect_seconds": connect_seconds,
        "drive_seconds": drive_seconds,
        "load_samples": samples,
        "server_cpu": sum(cpu_after.get(pid, 0) - cpu_before[pid] for pid in pids),
        "client_cpu": client_cpu,
        "still_open": still_open,
        "server_pids": pids,
    }


# --- Figures ----------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def ms(value: float) -> str:
    return f"{value * 1000:.0f} ms"


def analyse(consoles: list[Console], run: dict) -> dict:
    """Pair each message with the change it announces and the console that got it.

    A change is known by (ticket, from_state, state); a gamas claim and its release share that
    key (no state step), so a console's n-th message of a key is its n-th matching change of it.
    """
    made: list[Change] = run["made"]
    by_key: dict[tuple, list[Change]] = defaultdict(list)
    for change in sorted(made, key=lambda change: change.committed_at):
        by_key[change.key].append(change)
    wanted = {
        (key, index): [change for change in changes if console.should_receive(change)]
        for key, changes in by_key.items()
        for index, console in enumerate(consoles)
    }
    expected = sum(len(changes) for changes in wanted.values())
    got: Counter = Counter()
    latencies, last_arrival = [], defaultdict(float)
    kinds, unexpected, duplicates, foreign, other_types = Counter(), 0, 0, 0, Counter()
    data_bytes = 0
    for item in sorted(run["inbox"], key=lambda item: item.at):
        data_bytes += len(item.raw.encode())
        message = json.loads(item.raw)
        if message.get("type") != "ticket":
            other_types[message.get("type")] += 1
            continue
        key = (message.get("id"), message.get("from_state") or "", message.get("state"))
        if key not in by_key:
            foreign += 1  # not one of this run's changes (another writer on this database)
            continue
        kinds[message.get("kind")] += 1
        mine = wanted[(key, item.console)]
        if not mine:
            unexpected += 1
            continue
        if got[(key, item.console)] >= len(mine):
            duplicates += 1
            continue
        change = mine[got[(key, item.console)]]
        got[(key, item.console)] += 1
        latencies.append(item.at - change.committed_at)
        last_arrival[id(change)] = max(last_arrival[id(change)], item.at)
    received = sum(got.values())
    per_change = [last_arrival[id(c)] - c.committed_at for c in made if id(c) in last_arrival]
    return {
        "expected": expected,
        "received": received,
        "missing": expected - received,
        "unexpected": unexpected,
        "duplicates": duplicates,
        "foreign": foreign,
        "other_types": dict(other_types),
        "kinds": dict(kinds),
        "latencies": latencies,
        "per_change": per_change,
        "data_bytes": data_bytes,
        "messages": len(run["inbox"]),
    }


def database_size() -> str:
    from django.db import connection

    from tickets.models import Ticket

    tickets = Ticket.objects.count()
    if connection.vendor != "postgresql":
        return f"{tickets:,} tickets ({connection.vendor})"
    with connection.cursor() as cursor:
        cursor.execute("select pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    return f"{tickets:,} tickets, database {size}"


def report(args, consoles, run, figures, load_before, server_label) -> None:
    made, latencies = run["made"], figures["latencies"]
    queues = [c for c in consoles if c.ticket_id is None]
    supervisors = sum(1 for c in queues if c.role == "supervisor")
    workspaces = len(consoles) - len(queues)
    samples = run["load_samples"] or [os.getloadavg()[0]]
    print(f"server: {server_label}; cpus: {os.cpu_count()}; data: {database_size()}")
    print(
        f"consoles: {len(queues)} watching their queues ({supervisors} supervisors, "
        f"{len(queues) - supervisors} agents of both sites) + {workspaces} workspace tabs of "
        f"the same users on a ticket = {len(consoles)} websockets, connected and watching in "
        f"{run['connect_seconds']:.1f} s, {run['still_open']} still open at the end"
    )
    ops = Counter(change.op for change in made)
    print(
        f"changes: {len(made)} committed in {run['drive_seconds']:.1f} s "
        f"(target rate {args.rate}/s): " + ", ".join(f"{n} {op}" for op, n in sorted(ops.items()))
    )
    print(
        f"deliveries: expected {figures['expected']}, received {figures['received']}, "
        f"missing {figures['missing']}, to a non-matching console {figures['unexpected']}, "
        f"duplicates {figures['duplicates']}"
    )
    if figures["foreign"] or figures["other_types"]:
        print(
            f"  also received: {figures['foreign']} ticket messages of other writers, "
            f"other types {figures['other_types']}"
        )
    print(f"  ticket message kinds: {figures['kinds']}")
    if latencies:
        print(
            f"latency commit -> screen, per delivery: p50 {ms(statistics.median(latencies))}, "
            f"p95 {ms(percentile(latencies, 0.95))}, max {ms(max(latencies))} "
            f"(target p95 < 500 ms: {'met' if percentile(latencies, 0.95) < 0.5 else 'MISSED'})"
        )
    if figures["per_change"]:
        per_change = figures["per_change"]
        print(
            f"latency commit -> last matching screen, per change: "
            f"p50 {ms(statistics.median(per_change))}, p95 {ms(percentile(per_change, 0.95))}, "
            f"max {ms(max(per_change))}"
        )
    print(
        f"load average (1 min): {load_before:.2f} before, {max(samples):.2f} highest during, "
        f"{samples[-1]:.2f} at the end; CPU seconds: server {run['server_cpu']:.1f}, "
        f"this client {run['client_cpu']:.1f} over {run['drive_seconds']:.0f} s"
    )
    count = max(1, figures["messages"])
    print(
        f"data: {figures['messages']} messages, {figures['data_bytes'] / 1024:.0f} KiB "
        f"({figures['data_bytes'] / count:.0f} bytes each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--consoles", type=int, default=300)
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--rate", type=float, default=10, help="changes per second")
    parser.add_argument("--supervisors", type=float, default=0.1, help="share of consoles")
    parser.add_argument("--workspaces", type=float, default=0.2, help="users with a ticket open")
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8790)
    parser.add_argument("--url", help="use a running server: ws://host:port/ws/live/")
    parser.add_argument("--settle", type=float, default=3, help="seconds after the watches")
    parser.add_argument("--grace", type=float, default=5, help="seconds after the last change")
    parser.add_argument("--log-dir", type=Path, default=default_log_dir(), help="servers' output")
    parser.add_argument("--pid", type=int, action="append", default=[], help="--url's processes")
    args = parser.parse_args()

    setup_django()
    raise_fd_limit(2 * args.consoles + 100)
    tag = f"{secrets.randbelow(10**4):04d}"
    consoles = make_consoles(args.consoles, args.supervisors, args.workspaces)
    plan, waiting = prepare_plan(args.changes, tag)
    assign_workspaces(consoles, waiting)
    from django.db import connection

    connection.close()

    if args.url:
        server = Server(urls=[args.url], given_pids=args.pid)
        label = f"running at {args.url}, pids {args.pid}"
    else:
        if not shutil.which(server_command(args.server, 0, 1)[0]):
            raise SystemExit(f"{args.server} is not installed in this venv")
        server = start_server(args.server, args.processes, args.port, args.log_dir)
        label = f"{args.server}, {args.processes} process(es), logs in {args.log_dir}"
    load_before = os.getloadavg()[0]
    try:
        run = asyncio.run(run_consoles(args, server, consoles, plan))
    finally:
        server.stop()
    figures = analyse(consoles, run)
    report(args, consoles, run, figures, load_before, label)
    forget_sessions(consoles)


def assign_workspaces(consoles: list[Console], waiting: list[tuple[int, str, str]]) -> None:
    """Each workspace tab opens a bench ticket its user may open (an agent: site and flow); a
    user with none keeps only the queue tab."""
    for number, console in enumerate(c for c in consoles if c.ticket_id is not None):
        mine = [
            ticket_id
            for ticket_id, site, flow in waiting
            if console.role == "supervisor" or (site == console.site and flow in console.flows)
        ]
        console.ticket_id = mine[number % len(mine)] if mine else -1
    consoles[:] = [c for c in consoles if c.ticket_id is None or c.ticket_id > 0]


if __name__ == "__main__":
    main()

"""Live idle: 2,000 websocket connections held open; the server's memory per connection.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    export REDIS_URL=redis://127.0.0.1:6379/3
    .venv/bin/python bench/live_idle.py --connections 2000 --hold 120 \\
        --server uvicorn --processes 2

Consoles of `--users` bench users (the same `live-agent-...` / `live-supervisor-...` users as
live_fanout.py, one session each, shared by that user's tabs as a browser shares its cookie)
open `--connections` websockets, each watching "queue" as an idle queue tab does, and hold them
for `--hold` seconds: no traffic but the keep-alive pings (the client's every 20 s, the
server's own). At the end every socket must still be open and answer a ping.

Memory: VmRSS (/proc/<pid>/status) of each server process after a warm-up (a few connections
opened and closed, so the code paths are loaded) and again with every connection open; the
difference divided by the connections is the memory per connection. Redis's `used_memory` and
its pub/sub channel count are shown too (the Redis channel layer subscribes one channel per
connection). The client raises its own soft file-descriptor limit (`resource.setrlimit`); the
server needs one descriptor per connection as well: see docs/operations.md (`ulimit -n`,
compose's `ulimits`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import live_fanout as fanout


def open_files(pid: int) -> tuple[int, str]:
    """(descriptors open now, the soft limit) of a server process."""
    count = len(os.listdir(f"/proc/{pid}/fd"))
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return count, line.split()[3]
    return count, "?"


def redis_figures() -> tuple[int, int] | None:
    """(used_memory bytes, pub/sub channels) of the channel layer's Redis, if there is one."""
    from django.conf import settings

    url = getattr(settings, "TIER2_LIVE_REDIS_URL", "") or settings.REDIS_URL
    if not url:
        return None
    import redis

    client = redis.Redis.from_url(url)
    try:
        return client.info("memory")["used_memory"], len(client.pubsub_channels())
    finally:
        client.close()


def memory(pids: list[int]) -> dict[int, int]:
    return {pid: fanout.rss_kb(pid) for pid in pids if Path(f"/proc/{pid}").exists()}


async def ping_all(sockets, timeout: float) -> int:
    """How many sockets answer a ping (a pong comes back only from a live server end)."""

    async def answered(socket) -> bool:
        try:
            waiter = await socket.ping()
            await asyncio.wait_for(waiter, timeout)
        except Exception:  # noqa: BLE001 - a closed or silent socket simply does not count
            return False
        return True

    return sum(await asyncio.gather(*(answered(socket) for socket in sockets)))


async def hold(args, server: fanout.Server, cookies: list[str]) -> dict:
    # Warm-up: load the code paths (routing, auth, the consumer, the layer's connection).
    warm = await fanout.connect_all(server.urls, [(cookie, ["queue"]) for cookie in cookies[:10]])
    await asyncio.sleep(1)
    for socket in warm:
        await socket.close()
    await asyncio.sleep(2)
    pids = server.pids()
    rss_before = memory(pids)
    redis_before = redis_figures()

    began = time.monotonic()
    plan = [(cookies[n % len(cookies)], ["queue"]) for n in range(args.connections)]
    sockets = await fanout.connect_all(server.urls, plan, batch=args.batch)
    connect_seconds = time.monotonic() - began
    listeners = [
        asyncio.create_task(fanout.listen(index, socket, []))
        for index, socket in enumerate(sockets)
    ]
    await asyncio.sleep(args.settle)
    rss_open = memory(pids)
    redis_open = redis_figures()
    files = {pid: open_files(pid) for pid in pids}
    load_open = os.getloadavg()
    cpu_before = {pid: fanout.cpu_seconds(pid) for pid in pids}

    closed_early, samples = [], []
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline:
        samples.append(os.getloadavg()[0])
        closed_early.append(sum(1 for task in listeners if task.done()))
        await asyncio.sleep(min(5, max(0, deadline - time.monotonic())))
    hold_cpu = sum(fanout.cpu_seconds(pid) - cpu_before[pid] for pid in pids)
    still_open = sum(1 for socket in sockets if socket.close_code is None)
    answering = await ping_all(sockets, timeout=30)
    rss_end = memory(pids)
    for socket in sockets:
        await socket.close()
    await asyncio.gather(*listeners)
    return {
        "pids": pids,
        "rss_before": rss_before,
        "rss_open": rss_open,
        "rss_end": rss_end,
        "redis_before": redis_before,
        "redis_open": redis_open,
        "files": files,
        "connect_seconds": connect_seconds,
        "opened": len(sockets),
        "closed_during_hold": max(closed_early or [0]),
        "still_open": still_open,
        "answering": answering,
        "load_open": load_open,
        "load_max": max(samples or [0]),
        "hold_cpu": hold_cpu,
    }


def report(args, label: str, server: fanout.Server, run: dict, fd_limit: int) -> None:
    connections = run["opened"]
    print(f"server: {label}; cpus: {os.cpu_count()}; client fd limit raised to {fd_limit}")
    print(
        f"connections: {connections} opened in {run['connect_seconds']:.1f} s "
        f"({args.batch} at a time), held {args.hold:.0f} s: {run['still_open']} still open, "
        f"{run['answering']} answered a ping at the end, "
        f"{run['closed_during_hold']} closed during the hold"
    )
    serving = [pid for pid in run["pids"] if pid not in {proc.pid for proc in server.procs}]
    serving = serving or run["pids"]  # daphne: the started processes serve themselves
    total_before = total_open = 0
    for pid in run["pids"]:
        before, opened = run["rss_before"].get(pid, 0), run["rss_open"].get(pid, 0)
        files, limit = run["files"].get(pid, (0, "?"))
        role = "serves" if pid in serving else "supervisor"
        print(
            f"  pid {pid} ({role}): RSS {before / 1024:.1f} MiB -> {opened / 1024:.1f} MiB "
            f"with the connections open, {run['rss_end'].get(pid, 0) / 1024:.1f} MiB after the "
            f"hold; {files} files open, limit {limit}"
        )
        if pid in serving:
            total_before += before
            total_open += opened
    per_connection = (total_open - total_before) / max(1, connections)
    print(
        f"server memory per connection: {per_connection:.1f} KiB "
        f"({(total_open - total_before) / 1024:.1f} MiB for {connections} connections, "
        f"serving processes {total_before / 1024:.1f} -> {total_open / 1024:.1f} MiB)"
    )
    if run["redis_before"] and run["redis_open"]:
        used = (run["redis_open"][0] - run["redis_before"][0]) / 1024
        print(
            f"redis: used_memory +{used / 1024:.1f} MiB ({used / max(1, connections):.2f} KiB "
            f"per connection), pub/sub channels {run['redis_before'][1]} -> "
            f"{run['redis_open'][1]}"
        )
    load = run["load_open"]
    print(
        f"load average with the connections open: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
        f"highest 1-min during the hold {run['load_max']:.2f}; server CPU during the hold "
        f"{run['hold_cpu']:.1f} s over {args.hold:.0f} s (the keep-alive pings)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--users", type=int, default=300, help="their tabs share a session")
    parser.add_argument("--hold", type=float, default=120, help="seconds")
    parser.add_argument("--batch", type=int, default=100, help="connections opened at once")
    parser.add_argument("--settle", type=float, default=5)
    parser.add_argument("--server", choices=("uvicorn", "daphne"), default="uvicorn")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--port", type=int, default=8890)
    parser.add_argument("--url", help="a running server's ws://host:port/ws/live/ (RSS: --pid)")
    parser.add_argument("--pid", type=int, action="append", default=[], help="its process ids")
    parser.add_argument("--log-dir", type=Path, default=fanout.default_log_dir())
    args = parser.parse_args()

    fanout.setup_django()
    fd_limit = fanout.raise_fd_limit(args.connections + 200)
    consoles = fanout.make_consoles(args.users, supervisor_share=0.1, workspace_share=0)
    cookies = [console.cookie for console in consoles]
    from django.db import connection

    connection.close()
    if args.url:
        server = fanout.Server(urls=[args.url], given_pids=args.pid)
        label = f"running at {args.url}, pids {args.pid}"
    else:
        server = fanout.start_server(args.server, args.processes, args.port, args.log_dir)
        label = f"{args.server}, {args.processes} process(es), logs in {args.log_dir}"
    try:
        run = asyncio.run(hold(args, server, cookies))
    finally:
        server.stop()
    report(args, label, server, run, fd_limit)
    fanout.forget_sessions(consoles)


if __name__ == "__main__":
    main()

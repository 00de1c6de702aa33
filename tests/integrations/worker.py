"""Real Celery worker processes and private Redis servers for end-to-end delivery tests.

A test that must see a task cross a broker (acks, redelivery, outages) starts the processes it
needs through a `Processes` supervisor and closes it in its fixture's teardown; the supervisor
stops every process it started, and only those, even when the test fails half-way.

    with Processes(log_dir=tmp_path) as processes:
        redis = processes.start_redis()
        worker = processes.start_worker(redis_url=redis.url(0), database_url=url)
        ...
        worker.kill()  # SIGKILL to the worker's whole process group, mid-task

Workers run `python -m celery -A tier2 worker --pool=prefork` from the project root with the
environment given (settings read it once, as in production), in a session of their own so a kill
takes the pool children with the main process. Each gets a unique node name and runs without
gossip, mingle and heartbeats, so it never talks to other engineers' workers on a shared Redis.

Every test that starts a process of the project against the test database builds it here:
`process_env` (its environment), `worker_command` (a worker's command line), `run_script` (a
short script run to its end, e.g. a service called while the broker is down).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nobody listens on right now (the kernel's pick for an ephemeral bind)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url(settings_dict: Mapping) -> str:
    """A DATABASE_URL for the database Django is connected to (e.g. pytest-django's test DB)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{credentials}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def process_env(
    *, database_url: str, redis_url: str, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a process of the project (a worker, a script) against `database_url`
    and `redis_url`: this process's, with the settings module, the two URLs and no database
    connection kept between requests or tasks (the test database is dropped at the end);
    `env` adds or overrides variables."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tier2.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATABASE_CONN_MAX_AGE": "0",  # no connection outlives a task: the test DB is dropped
        **(env or {}),
    }


def worker_process_env(
    *, database_url: str, redis_url: str, env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """`process_env` for a Celery worker: INFO logging, unbuffered, so its log says when it is
    ready and what its tasks did as they do it."""
    return process_env(
        database_url=database_url,
        redis_url=redis_url,
        env={
            "CELERY_LOG_LEVEL": "INFO",  # the "ready." line is how we know it consumes
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        },
    )


def worker_command(
    nodename: str,
    *,
    pool: str = "prefork",
    concurrency: int | None = None,
    queues: tuple[str, ...] = (),
) -> list[str]:
    """`celery -A tier2 worker` named `nodename`, talking to no other worker (no gossip, mingle
    or heartbeats); `queues` empty: the default queue."""
    command = [sys.executable, "-m", "celery", "-A", "tier2", "worker", f"--pool={pool}"]
    if concurrency is not None:
        command.append(f"--concurrency={concurrency}")
    command += ["-l", "info", "-n", nodename]
    if queues:
        command += ["-Q", ",".join(queues)]
    return [*command, "--without-gossip", "--without-mingle", "--without-heartbeat"]


def run_script(
    script: str,
    *args: str,
    database_url: str,
    redis_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float,
) -> subprocess.CompletedProcess:
    """Run `python -c script args...` from the project root in `process_env`, to its end; its
    output is captured as text (the caller checks the return code)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and script, fixed arguments
        [sys.executable, "-c", script, *args],
        cwd=PROJECT_ROOT,
        env=process_env(database_url=database_url, redis_url=redis_url, env=env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_until(
    check: Callable[[], T], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy; return it, or fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class _Process:
    """A child process with its log file; stopping it is idempotent."""

    def __init__(self, name: str, process: subprocess.Popen, log_path: Path) -> None:
        self.name, self.process, self.log_path = name, process, log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self, last: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return ""
        return "\n".join(lines[-last:])

    def _kill_group(self) -> None:
        """SIGKILL the process's group (its own session: the group id is its pid).

        Only while the leader is not yet reaped: until then its pid, and so the group id,
        cannot belong to anybody else.
        """
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL the process and everything in its group: no shutdown, no acks."""
        self._kill_group()
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def stop(self) -> None:
        """SIGTERM (a worker's warm shutdown), then SIGKILL the group if it lingers."""
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        if self.process.returncode is None:
            self.kill()


class RedisServer(_Process):
    """A private redis-server: no persistence, loopback only, on its own port."""

    def __init__(self, process: subprocess.Popen, log_path: Path, port: int) -> None:
        super().__init__(f"redis:{port}", process, log_path)
        self.port = port

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


class CeleryWorker(_Process):
    def __init__(self, process: subprocess.Popen, log_path: Path, nodename: str) -> None:
        super().__init__(nodename, process, log_path)
        self.nodename = nodename

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        def ready() -> bool:
            if not self.running():
                raise AssertionError(f"worker {self.nodename} exited:\n{self.log()}")
            return f"{self.nodename} ready." in self.log(last=400)

        try:
            wait_until(ready, timeout=timeout, what=f"worker {self.nodename} to be ready")
        except AssertionError as problem:
            raise AssertionError(f"{problem}\n--- worker log ---\n{self.log()}") from None


class Processes:
    """Starts workers and Redis servers for one test and stops all of them on close()."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.started: list[_Process] = []

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _log_path(self, stem: str) -> Path:
        return self.log_dir / f"{stem}-{len(self.started)}.log"

    def start_redis(self, port: int | None = None, *, persist: bool = False) -> RedisServer:
        """Start redis-server on `port` (default: a free one) and wait until it answers PING.

        With `persist`, every write is appended to a file (`appendfsync always`, as a
        production broker with `appendonly yes`), so a server killed and started again on the
        same port comes back with its queues, its unacknowledged messages included.
        """
        binary = shutil.which("redis-server")
        if binary is None:
            raise AssertionError("redis-server is not installed")
        port = port or free_port()
        data_dir = self.log_dir / f"redis-{port}"
        data_dir.mkdir(exist_ok=True)
        log_path = self._log_path(f"redis-{port}")
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if persist else []
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - redis-server from PATH, fixed arguments
                [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", *durability, "--daemonize", "no", "--dir", str(data_dir)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        server = RedisServer(process, log_path, port)
        self.started.append(server)
        wait_until(
            lambda: _redis_answers(port) or not server.running(),
            timeout=READY_TIMEOUT_SECONDS,
            what=f"redis-server on port {port}",
        )
        if not server.running():
            raise AssertionError(f"redis-server on port {port} exited:\n{server.log()}")
        return server

    def start_worker(
        self,
        *,
        redis_url: str,
        database_url: str,
        env: Mapping[str, str] | None = None,
        concurrency: int = 2,
        wait: bool = True,
    ) -> CeleryWorker:
        """Start a prefork worker on `redis_url` against `database_url`; wait until it is ready.

        `env` adds settings' environment variables (adapter latency, retry backoff, ...).
        """
        nodename = f"t2test-{uuid.uuid4().hex[:8]}@%h"
        worker_env = worker_process_env(database_url=database_url, redis_url=redis_url, env=env)
        log_path = self._log_path("worker")
        with log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
                worker_command(nodename, concurrency=concurrency),
                cwd=PROJECT_ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        worker = CeleryWorker(process, log_path, nodename.replace("%h", socket.gethostname()))
        self.started.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def task_errors(self) -> list[str]:
        """Log lines of tasks that raised an unexpected error in any started worker."""
        return [
            line
            for proc in self.started
            if isinstance(proc, CeleryWorker)
            for line in proc.log(last=2000).splitlines()
            if "raised unexpected" in line
        ]

    def logs(self) -> str:
        """Every started process's log tail, for a failing test's report."""
        return "\n".join(f"--- {proc.name} ---\n{proc.log()}" for proc in self.started)

    def close(self) -> None:
        """Stop workers first (they use the Redis servers), then the Redis servers."""
        problems = []
        for proc in sorted(self.started, key=lambda proc: isinstance(proc, RedisServer)):
            try:
                proc.stop()
            except Exception as problem:  # noqa: BLE001 - stop the rest, report at the end
                problems.append(f"{proc.name}: {problem!r}")
        self.started.clear()
        if problems:
            raise AssertionError("could not stop: " + "; ".join(problems))

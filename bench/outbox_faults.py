"""Outbox under faults: messages per call and effects applied, with workers killed and Redis down.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench \
    REDIS_URL=redis://127.0.0.1:6379/7 \
        python bench/outbox_faults.py --outage-seconds 60

Runs the fault scenario of `tests/integrations/test_worker_faults.py` once (the same scenario CI
runs): 1,000 external writes through real Celery worker processes, the worker SIGKILLed twice
mid-call, and the broker (a private redis-server the scenario starts) down for the outage. The
stubs lose a share of replies after applying the write and jitter their latency. It prints what
the scenario measured: messages published per call, attempts, writes reaching the stubs, effects
applied per idempotency key, repeats, duplicate deliveries refused, and the machine's load
average before and after. pytest-django creates and drops its own test database next to the
one named. Everything happens in-process or on this machine's loopback.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIO = "tests/integrations/test_worker_faults.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-seconds", type=int, default=60, help="broker down this long")
    args = parser.parse_args()
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name):
            parser.error(f"set {name} (PostgreSQL and Redis are needed; see the docstring)")
    env = {**os.environ, "TIER2_TEST_OUTAGE_SECONDS": str(args.outage_seconds)}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    started = time.monotonic()
    run = subprocess.run(  # noqa: S603 - our own pytest, our own scenario file
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", SCENARIO],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    for line in run.stdout.splitlines():
        text = line.strip()
        if text.startswith(("calls ", "attempts ", "sweeps ")) or " s: " in text:
            print(text)  # the scenario's report: its timeline, then its totals
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"scenario {'passed' if run.returncode == 0 else 'FAILED'} in {elapsed:.0f} s")
    if run.returncode:
        print(run.stdout[-4000:], run.stderr[-2000:], sep="\n")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())

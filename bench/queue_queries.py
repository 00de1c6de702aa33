"""One queue page's statements, in-process: the whole view's time and its slowest queries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_big \\
        .venv/bin/python bench/queue_queries.py --username supervisor "/queues/all/?priority=4"

Builds the queue page's context (`tickets.views.queues.queue_context`, rows included) for the
user and URL given, --runs times, and prints the time of each run and the statements of the
last one, slowest first, with --explain the plan of the slowest. For finding which statement
of a slow URL that `page_latency.py` flags takes the time; it writes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help='a queue URL, e.g. "/queues/all/?priority=4"')
    parser.add_argument("--username", default="supervisor")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the slowest")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from tickets.views.queues import queue_context

    user = get_user_model().objects.get(username=args.username)
    request = RequestFactory().get(args.url)
    request.user = user
    slug = args.url.split("?")[0].strip("/").split("/")[-1]
    for run in range(1, args.runs + 1):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            context = queue_context(request, slug)
            rows = len(context["rows"])
            elapsed = (time.perf_counter() - started) * 1000
        print(f"run {run}: {elapsed:.1f} ms, {rows} rows, {len(captured.captured_queries)} queries")
    queries = sorted(captured.captured_queries, key=lambda query: -float(query["time"]))
    print(f"\n{'ms':>8}  statement (last run, slowest first)")
    for query in queries:
        print(f"{float(query['time']) * 1000:8.1f}  {query['sql'][:160]}")
    if args.explain and queries:
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + queries[0]["sql"])
            print("\n" + "\n".join(row[0] for row in cursor.fetchall()))
    print(f"\nload average: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main()

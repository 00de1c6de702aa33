"""Supervisor dashboard latency: p50/p95 of each read behind the page and of the whole page.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    .venv/bin/python manage.py migrate && .venv/bin/python manage.py rebuild_stats
    .venv/bin/python bench/dashboard_latency.py --runs 50
    .venv/bin/python bench/dashboard_latency.py --runs 5 --explain   # EXPLAIN ANALYZE the SQL

Runs in-process against the database of DATABASE_URL: each page is a view called with a
RequestFactory request and a supervisor (`--username`, created as `bench-supervisor` if it does
not exist), rendered to HTML; each table is its read in `tickets.dashboards` or
`tickets.views.dashboard`, evaluated to a list. Three filters are timed: the default page (the
last 7 days, every site and flow), one site, and one site and flow over 30 days. Nothing is
written except that user (and, for `--desk`, a Support user of the same kind).

`--explain` prints EXPLAIN (ANALYZE, BUFFERS) of every SQL statement of one page load, slowest
first, to see which query costs what and whether it uses its index.

Index-only scans need PostgreSQL's visibility map: VACUUM (ANALYZE) tickets_ticket after a bulk
load (autovacuum does it in production).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")


def setup_django() -> None:
    import django

    django.setup()


def user_with_role(username: str, role: str):
    from django.contrib.auth.models import Group, User

    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.save()
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


def timed(run: Callable[[], object], runs: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def page_call(view, user, path: str, params: dict, **kwargs) -> Callable[[], object]:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.base import SessionBase
    from django.test import RequestFactory

    factory = RequestFactory()

    def run():
        request = factory.get(path, params)
        request.user = user
        request.session = SessionBase()
        request._messages = FallbackStorage(request)
        response = view(request, **kwargs)
        if getattr(response, "streaming", False):
            body = b"".join(response.streaming_content)
        else:
            body = response.content
        assert response.status_code == 200, response.status_code
        return body

    return run


def scenarios(today):
    week = {"date_from": (today - timedelta(days=6)).isoformat(), "date_to": today.isoformat()}
    month = {"date_from": (today - timedelta(days=29)).isoformat(), "date_to": today.isoformat()}
    return {
        "all sites, 7 days": week,
        "site PST, 7 days": {**week, "site": "PST"},
        "PST nossa, 30 days": {**month, "site": "PST", "flow": "nossa"},
    }


def table_reads(filters) -> dict[str, Callable[[], object]]:
    from tickets import dashboards
    from tickets.forms_supervisor import trailing
    from tickets.views import dashboard

    return {
        "flow_tiles": lambda: dashboards.flow_tiles(filters),
        "ageing": lambda: dashboards.ageing(filters),
        "agent_table": lambda: dashboards.agent_table(filters),
        "trend 7 days": lambda: dashboards.trend(trailing(filters, 7)),
        "trend 30 days": lambda: dashboards.trend(trailing(filters, 30)),
        "at-risk table (+agents)": lambda: dashboard.at_risk_rows(filters),
        "slg first page": lambda: list(dashboards.slg_breaches(filters)[:100]),
        "slg count": lambda: dashboards.slg_breaches(filters).count(),
    }


def report(name: str, samples: list[float]) -> None:
    print(
        f"  {name:<28} p50 {statistics.median(samples):8.1f} ms   "
        f"p95 {percentile(samples, 0.95):8.1f} ms   max {max(samples):8.1f} ms"
    )


def explain(run: Callable[[], object]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            total = float(plan.rsplit("Execution Time: ", 1)[-1].split(" ")[0])
            plans.append((total, sql, plan))
    print(f"\n{len(plans)} SELECTs in one page load, slowest first:")
    for total, sql, plan in sorted(plans, reverse=True):
        print(f"\n--- {total:.1f} ms: {sql[:300]}")
        print(plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="timed calls of each (default 30)")
    parser.add_argument("--username", default="bench-supervisor")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE one page load")
    parser.add_argument("--desk", action="store_true", help="also time the escalation desk")
    args = parser.parse_args()
    setup_django()

    from django.db import connection
    from django.utils import timezone

    from tickets.forms_supervisor import DashboardFilterForm
    from tickets.models import Ticket
    from tickets.views import dashboard, desk, exports

    supervisor = user_with_role(args.username, "Supervisor")
    vendor = connection.vendor
    print(
        f"database: {vendor} {connection.settings_dict['NAME']}; "
        f"tickets: {Ticket.objects.count():,}; "
        f"open: {Ticket.objects.filter(closed_at__isnull=True).count():,}; runs: {args.runs}"
    )
    today = timezone.localdate()
    for title, params in scenarios(today).items():
        form = DashboardFilterForm(params, sites=dashboard.site_choices())
        filters = form.filters()
        print(f"\n{title}: {filters}")
        for name, read in table_reads(filters).items():
            report(name, timed(read, args.runs))
        page = page_call(dashboard.dashboard, supervisor, "/supervisor/", params)
        report("WHOLE PAGE /supervisor/", timed(page, args.runs))
        live = page_call(dashboard.dashboard_live, supervisor, "/supervisor/live/", params)
        report("live refresh", timed(live, args.runs))
        slg = page_call(dashboard.slg_breaches, supervisor, "/supervisor/slg/", params)
        report("SLG page", timed(slg, args.runs))
        for table in ("tiles", "agents", "at-risk"):
            csv = page_call(exports.export, supervisor, "/x.csv", params, table=table)
            report(f"CSV {table}", timed(csv, max(5, args.runs // 3)))
        if args.explain and title.startswith("all"):
            explain(page)
    if args.desk:
        support = user_with_role("bench-support", "Support")
        print("\nescalation desk")
        report("desk page", timed(page_call(desk.desk, support, "/desk/", {}), args.runs))


if __name__ == "__main__":
    main()

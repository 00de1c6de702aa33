"""Every page's p50/p95 over HTTP: each role's queues with each filter and sort, search, the
workspace, the dashboard, the API lists, and the CSV export's rate.

Run it against gunicorn (2 workers, DEBUG off) on a big database, then again on a bigger one,
and compare the two runs:

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    DEBUG=0 .venv/bin/gunicorn tier2.wsgi -w 2 -b 127.0.0.1:8011 &
    .venv/bin/python bench/page_latency.py --base-url http://127.0.0.1:8011 --tsv /tmp/1m.tsv
    .venv/bin/python bench/page_latency.py --compare /tmp/1m.tsv /tmp/10m.tsv

The URLs are found the way a user finds them: each role signs in through the login form, reads
its queue tabs from its home page, and every option of every select of each queue's filter form
becomes one URL (the sorts included), plus the next page by keyset and searches by a customer
name, a service number, a NOSSA number and a ticket number read off the first page. Each URL is
requested --requests times, one at a time, after one warm-up request. The CSV export of a month
is read to its end --exports times; its rate is rows per second.

Only the standard library: it needs the server's URL and the demo logins, not Django.
"""

from __future__ import annotations

import argparse
import csv
import html
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.console_latency import Browser, load_average, percentile  # noqa: E402
from bench.tmf_listing import Client  # noqa: E402

# The demo logins (`manage.py load_demo`) of the roles that work in the console.
ROLES = {
    "agent": ("agent.pusat", "demo-agent-123"),
    "supervisor": ("supervisor", "demo-supervisor-123"),
    "support": ("support", "demo-support-123"),
}
# Each page kind's bound from issue #16, in milliseconds of p95.
TARGETS = {
    "queue": 80,
    "search": 100,
    "workspace": 60,
    "dashboard": 150,
    "api list": 50,
}


@dataclass
class Probe:
    kind: str  # one of TARGETS
    role: str
    name: str
    path: str
    headers: dict


def select_options(page: str) -> dict[str, list[str]]:
    """name → non-empty option values, for every <select> of the page's filter form (the one
    with role="search"; not the language switch)."""
    form = re.search(r'<form[^>]*role="search"[^>]*>(.*?)</form>', page, re.S)
    found: dict[str, list[str]] = {}
    if form is None:
        return found
    pattern = r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>'
    for name, body in re.findall(pattern, form.group(1), re.S):
        values = [html.unescape(v) for v in re.findall(r'<option[^>]*value="([^"]*)"', body)]
        found[name] = [value for value in values if value]
    return found


def queue_tabs(page: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'href="/queues/([a-z0-9_-]+)/"', page)))


def first_row_values(page: str) -> dict[str, str]:
    """A ticket number, customer name, service number and NOSSA number shown in the rows."""
    values = {}
    if found := re.search(r'href="/tickets/(\d+)/"', page):
        values["ticket number"] = f"T2-{int(found.group(1)):07d}"
    if found := re.search(r"\b(IN\d{8,})\b", page):
        values["NOSSA number"] = found.group(1)
    if found := re.search(r"\b(1[0-9]{11})\b", page):
        values["service number"] = found.group(1)
    return values


def queue_probes(browser: Browser, role: str, name_query: str) -> list[Probe]:
    _status, home, _ms = browser.get("/queues/")
    probes = []
    for slug in queue_tabs(home):
        base = f"/queues/{slug}/"
        _status, page, _ms = browser.get(base)
        probes.append(Probe("queue", role, f"{slug} first page", base, {}))
        probes.append(
            Probe(
                "queue", role, f"{slug} refresh (htmx)", base,
                {"HX-Request": "true", "HX-Target": "queue-results"},
            )
        )  # fmt: skip
        if found := re.search(r'href="\?([^"]*after=\d+)" rel="next"', page):
            after = html.unescape(found.group(1))
            probes.append(Probe("queue", role, f"{slug} next page", f"{base}?{after}", {}))
        for field, values in select_options(page).items():
            for value in values:
                query = urllib.parse.urlencode({field: value})
                probes.append(
                    Probe("queue", role, f"{slug} {field}={value}", f"{base}?{query}", {})
                )
        searches = {"customer name": name_query, **first_row_values(page)}
        for what, text in searches.items():
            query = urllib.parse.urlencode({"q": text})
            probes.append(Probe("search", role, f"{slug} by {what}", f"{base}?{query}", {}))
    return probes


def workspace_probes(browser: Browser, role: str) -> list[Probe]:
    """An open ticket the role sees and a closed one: the page and its customer panel."""
    probes = []
    for scope in ("true", "false"):
        _status, page, _ms = browser.get(f"/queues/?open={scope}")
        if found := re.search(r'href="(/tickets/\d+/)"', page):
            ticket = found.group(1)
            label = "open" if scope == "true" else "closed"
            probes.append(Probe("workspace", role, f"{label} ticket", ticket, {}))
            probes.append(
                Probe("workspace", role, f"{label} ticket's panel (htmx)", f"{ticket}panel/",
                      {"HX-Request": "true"})
            )  # fmt: skip
    return probes


def dashboard_probes(browser: Browser) -> list[Probe]:
    """The default page, each site, each flow, and 30 and 90 days (every filter the form has)."""
    _status, page, _ms = browser.get("/supervisor/")
    options = select_options(page)
    today = date.today()
    probes = [Probe("dashboard", "supervisor", "default (7 days)", "/supervisor/", {})]
    for field in ("site", "flow"):
        for value in options.get(field, []):
            path = "/supervisor/?" + urllib.parse.urlencode({field: value})
            probes.append(Probe("dashboard", "supervisor", f"{field}={value}", path, {}))
    for days in (30, 90):
        query = {"date_from": (today - timedelta(days=days - 1)).isoformat()}
        path = "/supervisor/?" + urllib.parse.urlencode(query)
        probes.append(Probe("dashboard", "supervisor", f"{days} days", path, {}))
    probes.append(Probe("dashboard", "supervisor", "live tiles (htmx)", "/supervisor/live/",
                        {"HX-Request": "true"}))  # fmt: skip
    probes.append(Probe("queue", "support", "escalation desk", "/desk/", {}))
    return probes


def api_probes(token: str) -> list[Probe]:
    auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
    lists = {
        "tickets": "/api/tickets/",
        "tickets, open, one flow": "/api/tickets/?open=true&flow=nossa",
        "tickets, newest": "/api/tickets/?sort=newest",
        "escalations": "/api/escalations/",
        "TMF621 troubleTicket": "/tmf-api/troubleTicket/v5/troubleTicket?limit=50",
    }
    return [Probe("api list", "supervisor", name, path, auth) for name, path in lists.items()]


def time_probe(browser: Browser, probe: Probe, requests: int) -> list[float]:
    status, _body, _ms = browser.get(probe.path, probe.headers)  # warm-up
    if status != 200:
        raise SystemExit(f"{probe.path}: HTTP {status}")
    timings = []
    for _ in range(requests):
        _status, _body, elapsed = browser.get(probe.path, probe.headers)
        timings.append(elapsed)
    return timings


def export_rate(browser: Browser, month: str, runs: int) -> list[tuple[int, float]]:
    """(rows, rows per second) of each full read of the month's ticket export."""
    first = date.fromisoformat(f"{month}-01")
    last = (first + timedelta(days=31)).replace(day=1) - timedelta(days=1)
    path = f"/supervisor/export/tickets.csv?date_from={first}&date_to={last}"
    results = []
    for _ in range(runs):
        request = urllib.request.Request(browser.base_url + path)  # noqa: S310
        started = time.perf_counter()
        rows = -1  # the header line
        with browser.opener.open(request, timeout=600) as response:
            if response.status != 200:
                raise SystemExit(f"{path}: HTTP {response.status}")
            for _line in response:
                rows += 1
        seconds = time.perf_counter() - started
        results.append((rows, rows / seconds))
    return results


def run(args) -> list[dict]:
    browsers = {}
    for role, (username, password) in ROLES.items():
        browsers[role] = Browser(args.base_url)
        browsers[role].login(username, password)
    probes: list[Probe] = []
    for role, browser in browsers.items():
        if role != "support":
            probes += queue_probes(browser, role, args.name)
            probes += workspace_probes(browser, role)
    probes += dashboard_probes(browsers["supervisor"])
    api = Client(args.base_url)
    api.login(*ROLES["supervisor"])
    probes += api_probes(api.token)
    if args.only:
        probes = [p for p in probes if any(text in f"{p.kind} {p.name}" for text in args.only)]
    print(f"{args.base_url}: {len(probes)} URLs, {args.requests} requests each, one at a time")
    print(f"load average at start: {load_average()}")
    rows = []
    for number, probe in enumerate(probes, 1):
        timings = time_probe(browsers[probe.role], probe, args.requests)
        row = {
            "kind": probe.kind,
            "role": probe.role,
            "name": probe.name,
            "path": probe.path,
            "p50": statistics.median(timings),
            "p95": percentile(timings, 0.95),
        }
        rows.append(row)
        flag = " OVER" if row["p95"] > TARGETS[probe.kind] else ""
        print(
            f"{number:4d} {probe.kind:10} {probe.role:10} {probe.name[:48]:48} "
            f"p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f} ms{flag}",
            flush=True,
        )
    if args.exports:
        for exported, rate in export_rate(browsers["supervisor"], args.month, args.exports):
            rows.append({"kind": "export", "role": "supervisor", "name": f"tickets of {args.month}",
                         "path": "", "p50": exported, "p95": rate})  # fmt: skip
            print(f"     export     tickets of {args.month}: {exported:,} rows, {rate:,.0f} rows/s")
    print(f"load average at end: {load_average()}")
    summarise(rows)
    return rows


def summarise(rows: list[dict]) -> None:
    print(f"\n{'kind':10} {'URLs':>5} {'worst p95 ms':>13} {'target':>7}  worst URL")
    for kind, target in TARGETS.items():
        mine = [row for row in rows if row["kind"] == kind]
        if mine:
            worst = max(mine, key=lambda row: row["p95"])
            print(f"{kind:10} {len(mine):5d} {worst['p95']:13.1f} {target:7d}  "
                  f"{worst['role']} {worst['name']}")  # fmt: skip


def compare(first: Path, second: Path) -> None:
    """Two --tsv files side by side: p95 of each URL in both and the growth (second/first)."""

    def read(path: Path) -> dict[tuple, dict]:
        with path.open(newline="") as handle:
            return {
                (r["kind"], r["role"], r["name"]): r for r in csv.DictReader(handle, delimiter="\t")
            }

    a, b = read(first), read(second)
    print(f"| kind | role | page | p95 {first.stem} | p95 {second.stem} | growth |")
    print("|---|---|---|---|---|---|")
    worst = 0.0
    for key in [k for k in a if k in b]:
        if key[0] == "export":
            print(f"| export | {key[1]} | {key[2]} | {float(a[key]['p95']):,.0f} rows/s | "
                  f"{float(b[key]['p95']):,.0f} rows/s | |")  # fmt: skip
            continue
        before, after = float(a[key]["p95"]), float(b[key]["p95"])
        growth = after / before if before else float("inf")
        worst = max(worst, growth)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {before:.1f} | {after:.1f} | {growth:.2f}× |")
    print(f"\nlargest growth: {worst:.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8011")
    parser.add_argument("--requests", type=int, default=20, help="timed GETs of each URL")
    parser.add_argument("--name", default="budi", help="the customer name searched for")
    parser.add_argument(
        "--only",
        action="append",
        help="time only the URLs whose kind and name hold this (repeat: any of them)",
    )
    parser.add_argument("--exports", type=int, default=3, help="full reads of the month's CSV")
    parser.add_argument(
        "--month",
        default=(date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m"),
        help="the month exported (default: last month)",
    )
    parser.add_argument("--tsv", type=Path, help="write every URL's figures here")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("FIRST", "SECOND"))
    args = parser.parse_args()
    if args.compare:
        compare(*args.compare)
        return
    rows = run(args)
    if args.tsv:
        with args.tsv.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter="\t")
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()

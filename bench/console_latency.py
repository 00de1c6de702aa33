"""Console page latency: p50/p95 of the queue and workspace pages, as an agent's browser sees them.

Logs in through the login form like a browser (session cookie, CSRF token), then times GETs of
the pages an agent loads all day: a flow queue (first page, a filtered page, the next page by
keyset), "my tickets", a ticket workspace and its customer panel. Run it against a server on a
big database, e.g. the 1M-ticket bench database under gunicorn:

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    .venv/bin/gunicorn tier2.wsgi -w 2 -b 127.0.0.1:8011 &
    .venv/bin/python bench/console_latency.py --base-url http://127.0.0.1:8011 \\
        --username agent.pusat --password demo-agent-123 --requests 200 --concurrency 2

Only the standard library: it needs neither Django nor the database, only the URL.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import defaultdict


class Browser:
    """One logged-in session (cookies kept, redirects followed)."""

    def __init__(self, base_url: str):
        if not base_url.startswith(("http://", "https://")):
            sys.exit("--base-url must be an http:// or https:// address.")
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def get(self, path: str, headers: dict | None = None) -> tuple[int, str, float]:
        # The base URL is the operator's own server (an http(s) address given on the command line).
        request = urllib.request.Request(self.base_url + path, headers=headers or {})  # noqa: S310
        started = time.perf_counter()
        with self.opener.open(request, timeout=60) as response:
            body = response.read().decode("utf-8", "replace")
            status = response.status
        return status, body, (time.perf_counter() - started) * 1000

    def login(self, username: str, password: str) -> None:
        _status, page, _ms = self.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        if token is None:
            sys.exit("No CSRF token on the login page: is this the Tier-2 console?")
        form = urllib.parse.urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
        ).encode()
        request = urllib.request.Request(  # noqa: S310 - the operator's own server
            f"{self.base_url}/login/", data=form, headers={"Referer": f"{self.base_url}/login/"}
        )
        with self.opener.open(request, timeout=60) as response:
            landed = response.geturl()
        if landed.rstrip("/").endswith("/login"):
            sys.exit(f"Login as {username} failed: check the user name and password.")


def first_ticket(page: str) -> str | None:
    found = re.search(r'href="(/tickets/\d+/)"', page)
    return found.group(1) if found else None


def next_page(page: str) -> str | None:
    found = re.search(r'href="\?([^"]*after=\d+)" rel="next"', page)
    return "?" + found.group(1).replace("&amp;", "&") if found else None


def plan(browser: Browser, queue: str) -> dict[str, tuple[str, dict]]:
    """The URLs to time, found the way an agent would: from the queue pages themselves."""
    queue_url = f"/queues/{queue}/"
    _s, queue_page, _ms = browser.get(queue_url)
    _s, mine_page, _ms = browser.get("/queues/mine/")
    ticket = first_ticket(mine_page) or first_ticket(queue_page)
    if ticket is None:
        sys.exit(f"The queue {queue_url} and 'my tickets' are empty: nothing to open.")
    pages = {
        "queue": (queue_url, {}),
        "queue, waiting only": (f"{queue_url}?assignee=none", {}),
        "queue, search by name": (f"{queue_url}?q=budi", {}),
        "my tickets": ("/queues/mine/", {}),
        "queue auto-refresh (htmx)": (
            queue_url,
            {"HX-Request": "true", "HX-Target": "queue-results"},
        ),
        "workspace": (ticket, {}),
        "customer panel (htmx)": (f"{ticket}panel/", {"HX-Request": "true"}),
    }
    after = next_page(queue_page)
    if after:
        pages["queue, next page (keyset)"] = (queue_url + after, {})
    return pages


def run(args) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    first = Browser(args.base_url)
    first.login(args.username, args.password)
    pages = plan(first, args.queue)

    def worker(index: int) -> None:
        browser = first if index == 0 else Browser(args.base_url)
        if index:
            browser.login(args.username, args.password)
        for path, headers in pages.values():  # warm up: caches, connections
            browser.get(path, headers)
        for _round in range(args.requests // args.concurrency):
            for name, (path, headers) in pages.items():
                status, _body, elapsed = browser.get(path, headers)
                if status != 200:
                    raise SystemExit(f"{path}: HTTP {status}")
                with lock:
                    timings[name].append(elapsed)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{args.base_url}  user {args.username}  {args.concurrency} concurrent session(s)")
    for name, (path, _headers) in pages.items():
        print(f"  {name:28} {path}")
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def load_average() -> str:
    """The machine's load average over 1, 5 and 15 minutes, as the benches print it."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8011")
    parser.add_argument("--username", default="agent.pusat")
    parser.add_argument("--password", default="demo-agent-123")
    parser.add_argument("--queue", default="nossa", help="the flow queue to time")
    parser.add_argument("--requests", type=int, default=100, help="GETs of each page")
    parser.add_argument("--concurrency", type=int, default=1, help="sessions in parallel")
    args = parser.parse_args()
    timings = run(args)
    print(f"\n{'page':30} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, values in timings.items():
        print(
            f"{name:30} {len(values):5d} {statistics.median(values):8.1f} "
            f"{percentile(values, 0.95):8.1f} {max(values):8.1f}"
        )


if __name__ == "__main__":
    main()

"""TMF621 listing latency: p50/p95 of paging through 10,000 tickets, as an integration sees it.

Pages through `GET /tmf-api/troubleTicket/v5/troubleTicket` with
`fields=id,status,priority,ticketType,creationDate&limit=100` (offset 0, 100, ... up to
`--tickets`), once unfiltered and once with a filter (`--filter`), over HTTP with a token, the
way a CRM or OSS pulls tickets. Prints per variant the requests, median, p95 and max, and the
load average and the data size: the tickets the client sees (`X-Total-Count` of the unfiltered
listing; all of them for a supervisor or an unscoped system client). Run it against a server on
the big database, e.g. the 1M-ticket bench database under gunicorn:

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    .venv/bin/gunicorn tier2.wsgi -w 2 -b 127.0.0.1:8011 &
    .venv/bin/python bench/tmf_listing.py --url http://127.0.0.1:8011 \\
        --username supervisor --password demo-supervisor-123

`--token <key>` instead of a user name and password uses that token (e.g. a System client's,
`manage.py drf_create_token <username>`). Only the standard library: it needs neither Django nor
the database, only the URL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TICKETS = "/tmf-api/troubleTicket/v5/troubleTicket"
FIELDS = "id,status,priority,ticketType,creationDate"
DEFAULT_FILTER = "ticketType=nossa,fresh_lapul&status=resolved,closed&severity=Minor"


class Client:
    def __init__(self, url: str, token: str = ""):
        if not url.startswith(("http://", "https://")):
            sys.exit("--url must be an http:// or https:// address.")
        self.url = url.rstrip("/")
        self.token = token

    def request(self, path: str, data: bytes | None = None, headers: dict | None = None):
        headers = dict(headers or {})
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        # The URL is the operator's own server (an http(s) address given on the command line).
        request = urllib.request.Request(self.url + path, data=data, headers=headers)  # noqa: S310
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                body = response.read()
                status, answer_headers = response.status, response.headers
        except urllib.error.HTTPError as error:
            body, status, answer_headers = error.read(), error.code, error.headers
        return status, answer_headers, body, (time.perf_counter() - started) * 1000

    def login(self, username: str, password: str) -> None:
        form = json.dumps({"username": username, "password": password}).encode()
        status, _headers, body, _ms = self.request(
            "/api/auth/token/", data=form, headers={"Content-Type": "application/json"}
        )
        if status != 200:
            sys.exit(f"Getting a token for {username} failed (HTTP {status}): {body[:200]!r}")
        self.token = json.loads(body)["token"]


def page_through(client: Client, query: str, tickets: int, limit: int) -> tuple[list, int]:
    """Time each page of `query` until `tickets` are read or the listing ends."""
    timings, total = [], 0
    for offset in range(0, tickets, limit):
        path = f"{TICKETS}?fields={FIELDS}&limit={limit}&offset={offset}"
        if query:
            path += "&" + query
        status, headers, body, elapsed = client.request(path)
        if status != 200:
            sys.exit(f"{path}: HTTP {status}: {body[:300]!r}")
        timings.append(elapsed)
        total = int(headers.get("X-Total-Count", 0))
        if int(headers.get("X-Result-Count", 0)) < limit:
            break
    return timings, total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8011", help="the server's base URL")
    parser.add_argument("--token", default="", help="an API token (else --username/--password)")
    parser.add_argument("--username", default="supervisor")
    parser.add_argument("--password", default="demo-supervisor-123")
    parser.add_argument("--tickets", type=int, default=10_000, help="tickets to page through")
    parser.add_argument("--limit", type=int, default=100, help="tickets per page")
    parser.add_argument("--filter", default=DEFAULT_FILTER, help="the filtered variant's query")
    parser.add_argument("--rounds", type=int, default=1, help="times to page through each")
    args = parser.parse_args()

    client = Client(args.url, args.token)
    if not client.token:
        client.login(args.username, args.password)
    status, headers, body, _ms = client.request(f"{TICKETS}?limit=0")
    if status != 200:
        sys.exit(f"{TICKETS}: HTTP {status}: {body[:300]!r}")
    data_size = int(headers["X-Total-Count"])
    client.request(f"{TICKETS}?fields=id&limit=1")  # warm up: connection, caches

    variants = {"unfiltered": "", "filtered": args.filter}
    results = {}
    for name, query in variants.items():
        timings, total = [], 0
        for _round in range(args.rounds):
            times, total = page_through(client, query, args.tickets, args.limit)
            timings += times
        results[name] = (query, timings, total)

    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    print(f"{args.url}  fields={FIELDS}  limit={args.limit}  up to {args.tickets:,} tickets")
    print(f"data size: {data_size:,} tickets visible to this client")
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"\n{'variant':12} {'matching':>10} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, (query, timings, total) in results.items():
        print(
            f"{name:12} {total:10,d} {len(timings):5d} {statistics.median(timings):8.1f} "
            f"{percentile(timings, 0.95):8.1f} {max(timings):8.1f}"
        )
        if query:
            print(f"{'':12} {query}")


if __name__ == "__main__":
    main()

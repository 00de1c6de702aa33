"""Claims and transitions over HTTP: N agents press "Next ticket", then work what they took.

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench
    .venv/bin/gunicorn tier2.wsgi -w 2 -b 127.0.0.1:8011 &
    .venv/bin/python bench/claim_http.py --base-url http://127.0.0.1:8011 --agents 16 --seconds 20

Each agent is its own process with its own session (logged in through the login form, CSRF
token and all, as a browser): phase 1 posts the "Next ticket" form (`POST /next/`) in a loop for
`--seconds`, phase 2 posts the first action of each ticket it took (`start_diagnosis` for
NOSSA: a transition with its audit row and its outbox rows) for `--seconds`. Redirects are not
followed: the response's `Location` tells which ticket was taken. The server does the work the
console does; the client is the standard library.

The script sets up its agents through Django (`bench-http-PST-01`..., a password of its own,
the Pusat site, every flow but C4 Caring) and afterwards checks by SQL on the transition log
that no ticket was claimed twice in the run and that every claim and transition the clients
saw has its log row. Prints claims/s, transitions/s, latency percentiles and the load average.
Tickets taken are put back at the end as `claim_rate.py` does (`--keep` keeps them). Run the
server with `REDIS_URL` set, so the transitions' calls go to the broker as in production.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import statistics
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

from bench.console_latency import Browser, load_average, percentile

PREFIX = "bench-http-PST-"
PASSWORD = "bench-http-password-1"
TICKET = re.compile(r"/tickets/(\d+)/$")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Session(Browser):
    """console_latency's logged-in browser, plus form posts whose redirects are not followed."""

    def __init__(self, base_url: str):
        super().__init__(base_url)
        self.stay = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect
        )
        self.token = ""

    def login(self, username: str, password: str = PASSWORD) -> None:
        super().login(username, password)
        _status, page, _ms = self.get("/queues/mine/")
        self.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def open(self, path: str, data: dict):
        request = urllib.request.Request(  # noqa: S310 - the operator's own server
            self.base_url + path,
            data=urllib.parse.urlencode(data).encode(),
            headers={"Referer": self.base_url + "/"},
        )
        try:
            with self.stay.open(request, timeout=60) as response:
                return response.status, response.headers
        except urllib.error.HTTPError as answer:  # a 302 not followed lands here
            return answer.code, answer.headers

    def post(self, path: str, fields: dict | None = None) -> tuple[int, str]:
        status, headers = self.open(path, {"csrfmiddlewaretoken": self.token, **(fields or {})})
        # The flash message ("You took ...") would be shown by the next page; no page follows
        # here, so drop it rather than let the cookie grow.
        for cookie in list(self.cookies):
            if cookie.name == "messages":
                self.cookies.clear(cookie.domain, cookie.path, cookie.name)
        return status, headers.get("Location", "") if headers else ""


def agent(base_url: str, username: str, seconds: float, start_at: float, results) -> None:
    session = Session(base_url)
    session.login(username)
    while time.time() < start_at:
        time.sleep(0.001)
    claims, claim_ms = [], []
    deadline = start_at + seconds
    while time.time() < deadline:
        began = time.perf_counter()
        status, location = session.post("/next/")
        elapsed = (time.perf_counter() - began) * 1000
        taken = TICKET.search(location)
        if status != 302 or taken is None:
            break  # no ticket left for this agent
        claim_ms.append(elapsed)
        claims.append(int(taken.group(1)))
    moved, move_ms = [], []
    second = time.time()
    deadline = second + seconds
    for ticket_id in claims:
        if time.time() >= deadline:
            break
        began = time.perf_counter()
        status, location = session.post(
            f"/tickets/{ticket_id}/actions/start_diagnosis/",
            {"start_diagnosis-expected_state": "claimed"},  # the state the page showed
        )
        if status == 302 and location.endswith(f"/tickets/{ticket_id}/"):
            move_ms.append((time.perf_counter() - began) * 1000)
            moved.append(ticket_id)
    results.put((username, claims, claim_ms, moved, move_ms, time.time() - second))


def setup_agents(count: int) -> list[str]:
    import django

    django.setup()
    from django.contrib.auth.models import Group, User

    from tickets.models import AgentProfile, Availability, Flow, Site

    group = Group.objects.get(name="Agent")
    site = Site.objects.get(code="PST")
    names = []
    for number in range(1, count + 1):
        user, _created = User.objects.get_or_create(username=f"{PREFIX}{number:02d}")
        user.set_password(PASSWORD)
        user.save()
        user.groups.add(group)
        AgentProfile.objects.update_or_create(
            user=user,
            defaults={
                "site": site,
                "flows": [Flow.NOSSA],  # every claim can then take start_diagnosis
                "agent_code": user.username[-12:],
                "availability": Availability.OFFLINE,
            },
        )
        names.append(user.username)
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    names = setup_agents(args.agents)
    from django.db.models import Count
    from django.utils import timezone

    from bench.claim_rate import _release as release
    from integrations.models import AdapterCall
    from tickets.models import TransitionLog

    print(f"load average at start: {load_average()}")
    began_at = timezone.now()
    results = multiprocessing.Queue()
    start_at = time.time() + 3 + args.agents * 0.2  # every agent logged in first
    workers = [
        multiprocessing.Process(
            target=agent, args=(args.base_url, name, args.seconds, start_at, results)
        )
        for name in names
    ]
    for worker in workers:
        worker.start()
    rows = [results.get(timeout=args.seconds * 4 + 120) for _ in workers]
    for worker in workers:
        worker.join()
    load_after = load_average()

    claims = [ticket for _n, taken, _ms, _m, _mm, _s in rows for ticket in taken]
    claim_ms = [ms for _n, _t, times, _m, _mm, _s in rows for ms in times]
    moved = [ticket for _n, _t, _ms, done, _mm, _s in rows for ticket in done]
    move_ms = [ms for _n, _t, _ms, _m, times, _s in rows for ms in times]
    # By SQL on the log: claims of this run per ticket, and every seen claim and move logged.
    run_log = TransitionLog.objects.filter(at__gte=began_at, actor__username__startswith=PREFIX)
    twice = (
        run_log.filter(transition="claim")
        .values("ticket_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )
    logged_claims = set(run_log.filter(transition="claim").values_list("ticket_id", flat=True))
    logged_moves = set(
        run_log.filter(transition="start_diagnosis").values_list("ticket_id", flat=True)
    )

    # Phase 2 ends when an agent has worked every ticket it took, or after --seconds.
    move_seconds = max(row[5] for row in rows)

    def figures(count: int, times: list[float], seconds: float) -> str:
        return (
            f"{count} in {seconds:.1f} s ({count / seconds:.0f}/s), "
            f"p50 {statistics.median(times or [0]):.0f} ms, p95 {percentile(times, 0.95):.0f} ms"
        )

    print(
        f"claims over HTTP, {args.agents} agents, {args.seconds:.0f} s:",
        figures(len(claims), claim_ms, args.seconds),
    )
    print(f"  tickets claimed twice (SQL on the log): {twice}")
    print(f"  claims seen by clients without a log row: {len(set(claims) - logged_claims)}")
    print(f"  the same ticket to two clients: {len(claims) - len(set(claims))}")
    done = set(moved) & logged_moves  # a refused action also redirects to the ticket
    print(f"transitions over HTTP (start_diagnosis): {figures(len(done), move_ms, move_seconds)}")
    print(f"  posted but refused (no log row): {len(set(moved) - logged_moves)}")
    print(f"load average after: {load_after}")
    if not args.keep:
        # The moves first (their log rows and outbox rows), then claim_rate's release puts each
        # ticket back unassigned in the state it was claimed from.
        moves = TransitionLog.objects.filter(
            ticket_id__in=claims, transition="start_diagnosis", at__gte=began_at
        )
        AdapterCall.objects.filter(log_entry__in=moves).delete()
        moves.delete()
        release(claims)


if __name__ == "__main__":
    main()

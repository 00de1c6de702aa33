"""Claim rate: N agents take "next ticket" at once, for a fixed time, against the real database.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench \
        python bench/claim_rate.py --agents 16 --seconds 20

Each agent is its own process with its own connection (as gunicorn workers would be), calling
`tickets.services.claim_next_ticket` in a loop. Prints claims/s, latency percentiles, and checks
that no ticket was claimed twice. Claimed tickets are released at the end (--keep to keep them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")


def _setup_django() -> None:
    import django

    django.setup()


def ensure_agents(count: int, site_code: str) -> list[int]:
    from django.contrib.auth.models import Group, User

    from tickets.models import AgentProfile, Flow, Site

    group = Group.objects.get(name="Agent")
    site = Site.objects.get(code=site_code)
    flows = [flow for flow in Flow.values if flow != Flow.C4_CARING or site_code == "MLG"]
    ids = []
    for number in range(1, count + 1):
        user, created = User.objects.get_or_create(username=f"bench-agent-{site_code}-{number:02d}")
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(group)
        AgentProfile.objects.update_or_create(
            user=user, defaults={"site": site, "flows": flows, "agent_code": user.username[-12:]}
        )
        ids.append(user.pk)
    return ids


def agent_loop(agent_id: int, seconds: float, start_at: float, results) -> None:
    _setup_django()
    from django.contrib.auth.models import User
    from django.db import connection

    from tickets.exceptions import NoTicketAvailable
    from tickets.services import claim_next_ticket

    agent = User.objects.select_related("profile__site").get(pk=agent_id)
    while time.time() < start_at:
        time.sleep(0.001)
    claimed, latencies = [], []
    deadline = start_at + seconds
    while time.time() < deadline:
        began = time.perf_counter()
        try:
            ticket = claim_next_ticket(agent=agent)
        except NoTicketAvailable:
            break
        latencies.append(time.perf_counter() - began)
        claimed.append(ticket.pk)  # now held by the agent, so out of the queue
    connection.close()
    results.put((agent_id, claimed, latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--site", default="PST")
    parser.add_argument("--keep", action="store_true", help="leave the claimed tickets claimed")
    args = parser.parse_args()

    _setup_django()
    from django.db import connection

    from tickets.models import Ticket

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(f"tickets: {Ticket.objects.count():,}; waiting at {args.site}: ", end="", flush=True)
    print(f"{Ticket.objects.filter(awaiting_agent=True, site__code=args.site).count():,}")
    agent_ids = ensure_agents(args.agents, args.site)
    connection.close()

    results = multiprocessing.get_context("fork").Queue()
    start_at = time.time() + 3  # let every process connect before the clock starts
    workers = [
        multiprocessing.get_context("fork").Process(
            target=agent_loop, args=(agent_id, args.seconds, start_at, results)
        )
        for agent_id in agent_ids
    ]
    for worker in workers:
        worker.start()
    collected = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    elapsed = min(args.seconds, time.time() - start_at)

    all_ids = [pk for _agent, ids, _lat in collected for pk in ids]
    latencies = sorted(lat for _agent, _ids, lats in collected for lat in lats)
    duplicates = len(all_ids) - len(set(all_ids))
    print(f"agents: {args.agents}, seconds: {elapsed:.1f}")
    print(f"claims: {len(all_ids):,}  rate: {len(all_ids) / elapsed:,.0f} claims/s")
    if latencies:
        p50 = statistics.median(latencies) * 1000
        p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
        print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  max {latencies[-1] * 1000:.1f}")
    print(f"double claims: {duplicates}")

    # Cross-check in the database: each claimed ticket has exactly one assignee and one claim.
    from tickets.models import TransitionLog

    claims_logged = TransitionLog.objects.filter(ticket_id__in=all_ids, transition="claim").count()
    print(f"claim log rows for them: {claims_logged:,} (expected {len(set(all_ids)):,})")
    if not args.keep:
        _release(all_ids)
    sys.exit(1 if duplicates else 0)


def _release(ids: list[int]) -> None:
    """Put the benchmark's tickets back as they were before it: unassigned, in their old state."""
    from integrations.models import AdapterCall
    from tickets.models import Ticket, TransitionLog

    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        claims = TransitionLog.objects.filter(ticket_id__in=chunk, transition="claim")
        before = dict(claims.values_list("ticket_id", "from_state"))
        AdapterCall.objects.filter(log_entry__in=claims).delete()
        claims.delete()
        for state in set(before.values()):
            Ticket.objects.filter(pk__in=[pk for pk, old in before.items() if old == state]).update(
                state=state, assignee=None, claimed_at=None, awaiting_agent=True
            )
    print(f"released {len(ids):,} tickets")


if __name__ == "__main__":
    main()

"""Dispatch: how long one offer decision takes with many agents online, and how evenly equal
agents share the tickets (in-process, against the real database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench python bench/dispatch_rate.py \
        --agents 500 --decisions 1000 --fair-agents 7 --fair-tickets 10000

It creates a site of its own ("BENCHD", push mode) with `--agents` available agents (capacity
large enough never to bind) and waiting tickets, then:

1. decision latency: `tickets.services.dispatch_site(site, limit=1)` called `--decisions` times,
   one waiting ticket offered per call: the whole decision as production runs it (the site's
   lock, the agents and their loads read, the choice, the offer, the ticket, the log row and the
   agent's notification written, the commit). Prints p50 / p95 / max, and the same for the
   choice alone (`dispatch.choose` over the agents in memory);
2. fair shares: `--fair-tickets` tickets among `--fair-agents` equal agents, dispatched in
   batches (`TIER2_DISPATCH_BATCH`) until none waits: offers per agent, most minus least.

Everything it created is deleted at the end (`--keep` keeps it). Prints the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

from bench.console_latency import load_average, percentile

SITE = "BENCHD"
PREFIX = "bench-dispatch-"


def make_agents(site, count: int, label: str) -> list[int]:
    from django.contrib.auth.models import Group, User

    from tickets.models import AgentProfile, Availability

    group = Group.objects.get(name="Agent")
    users = User.objects.bulk_create(
        [User(username=f"{PREFIX}{label}-{n:04d}", password="!") for n in range(count)]
    )
    group.user_set.add(*users)
    AgentProfile.objects.bulk_create(
        [
            AgentProfile(
                user=user,
                site=site,
                flows=["nossa"],
                agent_code=f"bd{label}{n}"[:16],
                availability=Availability.AVAILABLE,
                capacity=50,
            )
            for n, user in enumerate(users)
        ]
    )
    return [user.pk for user in users]


def make_tickets(site, count: int) -> None:
    from django.utils import timezone

    from tickets.models import Customer, Service, Ticket

    customer, _ = Customer.objects.get_or_create(name="Bench dispatch", phone="0800000000")
    service, _ = Service.objects.get_or_create(
        service_number="131199999999", defaults={"customer": customer, "sto": "STO-BD"}
    )
    now = timezone.now()
    Ticket.objects.bulk_create(
        [
            Ticket(
                flow="nossa",
                state="new",
                service=service,
                site=site,
                awaiting_agent=True,
                claim_by=now + timedelta(seconds=n),
                created_at=now,
                summary="bench dispatch",
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def set_capacity(user_ids: list[int], capacity: int) -> None:
    from tickets.models import AgentProfile

    AgentProfile.objects.filter(user_id__in=user_ids).update(capacity=capacity)


def clean(site) -> None:
    from django.contrib.auth.models import User

    from tickets.models import Notification, Offer, Site, Ticket, TransitionLog

    tickets = Ticket.objects.filter(site=site)
    Notification.objects.filter(ticket__in=tickets).delete()
    Offer.objects.filter(ticket__in=tickets).delete()
    TransitionLog.objects.filter(ticket__in=tickets).delete()
    tickets.delete()
    User.objects.filter(username__startswith=PREFIX).delete()
    Site.objects.filter(code=SITE).delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--fair-agents", type=int, default=7)
    parser.add_argument("--fair-tickets", type=int, default=10000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count

    from tickets.models import AgentProfile, Availability, DispatchMode, Offer, Site, Ticket
    from tickets.services import dispatch

    dispatch.request_dispatch = lambda site_id: None
    print(f"database: {connection.vendor} {settings.DATABASES['default'].get('NAME')}")
    print(f"load average at start: {load_average()}")
    leftover = Site.objects.filter(code=SITE).first()
    if leftover is not None:  # an earlier run with --keep
        clean(leftover)
    site = Site.objects.create(code=SITE, name="Bench dispatch", dispatch_mode=DispatchMode.PUSH)
    try:
        # 1. Decision latency with --agents available agents.
        agents = make_agents(site, args.agents, "a")
        make_tickets(site, args.decisions)
        whole, choices = [], []
        pool = dispatch.candidates(site)
        for _ in range(args.decisions):
            began = time.perf_counter()
            result = dispatch.dispatch_site(site.pk, limit=1)
            whole.append((time.perf_counter() - began) * 1000)
            assert result.offered == 1, result
        ticket = Ticket.objects.filter(site=site).first()
        for _ in range(args.decisions):
            began = time.perf_counter()
            dispatch.choose(ticket, pool, set())
            choices.append((time.perf_counter() - began) * 1000)
        print(
            f"decision, whole (in-process, {args.agents} agents online, {args.decisions} offers): "
            f"p50 {statistics.median(whole):.2f} ms, p95 {percentile(whole, 0.95):.2f} ms, "
            f"max {max(whole):.2f} ms"
        )
        print(
            f"decision, the choice alone over {len(pool)} agents: "
            f"p50 {statistics.median(choices):.3f} ms, p95 {percentile(choices, 0.95):.3f} ms"
        )
        print(f"load average after the decisions: {load_average()}")

        # 2. Fair shares among equal agents: the first agents go offline, new ones come.
        AgentProfile.objects.filter(user_id__in=agents).update(availability=Availability.OFFLINE)
        for_fairness = make_agents(site, args.fair_agents, "f")
        set_capacity(for_fairness, args.fair_tickets)
        make_tickets(site, args.fair_tickets)
        began = time.perf_counter()
        runs = 0
        while dispatch.dispatch_site(site.pk).offered:
            runs += 1
        seconds = time.perf_counter() - began
        shares = dict(
            Offer.objects.filter(agent_id__in=for_fairness)
            .values_list("agent__username")
            .annotate(n=Count("pk"))
            .values_list("agent__username", "n")
        )
        counts = sorted(shares.values())
        waiting = Ticket.objects.filter(site=site, awaiting_agent=True).count()
        print(
            f"fair shares: {args.fair_tickets} tickets among {args.fair_agents} equal agents in "
            f"{runs} runs ({seconds:.1f} s): least {counts[0]}, most {counts[-1]}, "
            f"difference {counts[-1] - counts[0]}, still waiting {waiting}"
        )
        print(f"load average at the end: {load_average()}")
    finally:
        if not args.keep:
            clean(site)


if __name__ == "__main__":
    main()

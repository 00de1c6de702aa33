"""Dispatch: how long one offer decision takes with many agents online, and how evenly equal
agents share the tickets (in-process, against the real database).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench python bench/dispatch_rate.py \
        --agents 500 --decisions 1000 --fair-agents 7 --fair-tickets 10000

It creates a site of its own ("BENCHD", push mode) with `--agents` available agents (capacity
large enough never to bind, except for the `--full-share` of them first in dispatch's order,
who hold two tickets against a capacity of two) and waiting tickets, then:

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


def fill(site, user_ids: list[int]) -> None:
    """These agents hold as many open tickets as their capacity (2): no room for an offer."""
    from tickets.models import AgentProfile, Service, Ticket

    AgentProfile.objects.filter(user_id__in=user_ids).update(capacity=2)
    service = Service.objects.get(service_number="131199999999")
    Ticket.objects.bulk_create(
        [
            Ticket(
                flow="nossa",
                state="diagnosing",
                service=service,
                site=site,
                assignee_id=user_id,
                awaiting_agent=False,
                summary="bench dispatch, held",
            )
            for user_id in user_ids
            for _ in range(2)
        ],
        batch_size=2000,
    )


def waiting_first(site):
    """The site's most urgent waiting ticket, as a dispatch run takes it."""
    from django.db.models import F

    from tickets.models import Ticket, running_deadline

    return (
        Ticket.objects.filter(awaiting_agent=True, site_id=site.pk)
        .alias(deadline=running_deadline())
        .order_by(F("deadline").asc(nulls_last=True), "priority", "created_at", "pk")
        .first()
    )


def analyze() -> None:
    """Vacuumed tables with fresh planner statistics after the bulk inserts, as autovacuum keeps
    them in production (without them the planner takes the new tables for empty and picks the
    wrong indexes, and no index can be read without the table)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("tickets_agentprofile", "tickets_ticket", "tickets_offer", "auth_user"):
                cursor.execute(f"VACUUM ANALYZE {table}")


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
    parser.add_argument(
        "--full-share",
        type=float,
        default=0.0,
        help="share of the agents at capacity, first in dispatch's order (e.g. 0.9)",
    )
    parser.add_argument("--fair-agents", type=int, default=7)
    parser.add_argument("--fair-tickets", type=int, default=10000)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction
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
        full = agents[: int(len(agents) * args.full_share)]
        if full:
            fill(site, full)
        analyze()
        decisions, ticket_reads, whole, choices = [], [], [], []
        pool = dispatch.candidates(site)
        for _ in range(args.decisions):
            # The decision: who gets the most urgent waiting ticket (the agents read as a run
            # reads them, and the choice); the ticket's own read is timed apart.
            with transaction.atomic():
                began = time.perf_counter()
                ticket = waiting_first(site)
                ticket_reads.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                chosen = dispatch.Pool(site, page=dispatch.PAGE)
                chosen.read_page()
                assert chosen.choose(ticket, set()) is not None
                decisions.append((time.perf_counter() - began) * 1000)
            # The whole run that then offers it (lock, read, choose, write, commit).
            began = time.perf_counter()
            result = dispatch.dispatch_site(site.pk, limit=1)
            whole.append((time.perf_counter() - began) * 1000)
            assert result.offered == 1, result
        ticket = Ticket.objects.filter(site=site).first()
        for _ in range(args.decisions):
            began = time.perf_counter()
            dispatch.choose(ticket, pool, set())
            choices.append((time.perf_counter() - began) * 1000)
        setting = (
            f"in-process, {args.agents} agents online, {len(full)} of them at capacity, "
            f"{args.decisions} offers"
        )
        for name, figures, digits in (
            (f"decision: the agents read and the choice ({setting})", decisions, 2),
            ("the most urgent waiting ticket read (before each decision)", ticket_reads, 2),
            (f"whole run offering one ticket ({setting})", whole, 2),
            (f"the choice alone over {len(pool)} agents in memory", choices, 3),
        ):
            print(
                f"{name}: p50 {statistics.median(figures):.{digits}f} ms, "
                f"p95 {percentile(figures, 0.95):.{digits}f} ms, max {max(figures):.{digits}f} ms"
            )
        print(f"load average after the decisions: {load_average()}")

        # 2. Fair shares among equal agents: the first agents go offline, new ones come.
        AgentProfile.objects.filter(user_id__in=agents).update(availability=Availability.OFFLINE)
        for_fairness = make_agents(site, args.fair_agents, "f")
        set_capacity(for_fairness, args.fair_tickets)
        make_tickets(site, args.fair_tickets)
        analyze()
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

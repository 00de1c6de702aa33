"""The running deadline (issue #15, item 2): "most urgent first" sorts by the deadline that runs
now, and every countdown and the badge beside it speak of that same deadline.

One hand-written table of tickets at 10:00 (Asia/Jakarta), with the at-risk share set to one
half. For each ticket: what it is doing, its stored deadlines, and what the console must say.

    name  doing                              claim-by  resolve  arrived  running      badge
    F     held, resolve-by passed             08:10     09:40    08:00    09:40 res.   breached
    C     waiting (new), claim-by passed      09:50     17:00    09:35    09:50 claim  breached
    H     waiting (new), priority high        10:30     18:00    09:45    10:30 claim  -
    A     waiting (new), priority normal      10:30     18:00    09:45    10:30 claim  -
    E     back in the queue after a claim     09:05     10:45    08:45    10:45 res.   at risk
    B     held, claim-by long passed          09:15     12:00    09:00    12:00 res.   -
    D     with Support, paused at 09:30       08:00     10:05    07:30    none         paused
    G     closed                              08:00     09:00    07:00    none         -

At-risk points (arrival + half the time to the running deadline): A/H 10:07:30 (not yet),
E 09:45 (passed), B 10:30 (not yet). D had 35 minutes left when its clock stopped.

Expected "most urgent first" (open tickets): F, C, H, A, E, B, D — running deadline, then
priority (H before A), paused last. The old order (claim-by first) was D, E, F, B, C, H, A.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse

from tests import factories
from tests.console.conftest import nossa_ticket
from tickets import services
from tickets.filtersets import SORTS, TicketQueueFilter, sorted_queryset
from tickets.models import Priority, Ticket, running_deadline
from tickets.services.deadlines import running_deadline_of
from tickets.views.paging import keyset_page
from tickets.views.presenters import sla_view

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)  # 10:00 in Jakarta


def at(hhmm: str) -> datetime:
    """A time on the table's day, Jakarta local (UTC+7)."""
    hours, minutes = map(int, hhmm.split(":"))
    return NOW + timedelta(hours=hours - 10, minutes=minutes)


# name: (state, held, awaiting, claim_by, resolve_by, arrived, priority, paused_at, closed_at)
TABLE = {
    "F": ("claimed", True, False, "08:10", "09:40", "08:00", Priority.NORMAL, None, None),
    "C": ("new", False, True, "09:50", "17:00", "09:35", Priority.NORMAL, None, None),
    "H": ("new", False, True, "10:30", "18:00", "09:45", Priority.HIGH, None, None),
    "A": ("new", False, True, "10:30", "18:00", "09:45", Priority.NORMAL, None, None),
    "E": ("diagnosing", False, True, "09:05", "10:45", "08:45", Priority.NORMAL, None, None),
    "B": ("claimed", True, False, "09:15", "12:00", "09:00", Priority.NORMAL, None, None),
    "D": ("escalated", True, False, "08:00", "10:05", "07:30", Priority.NORMAL, "09:30", None),
    "G": ("closed", True, False, "08:00", "09:00", "07:00", Priority.NORMAL, None, "09:30"),
}
# name: (kind, running deadline, status, countdown text at 10:00)
EXPECTED = {
    "F": ("resolve", "09:40", "overdue", "-0:20:00"),
    "C": ("claim", "09:50", "overdue", "-0:10:00"),
    "H": ("claim", "10:30", "ok", "0:30:00"),
    "A": ("claim", "10:30", "ok", "0:30:00"),
    "E": ("resolve", "10:45", "at_risk", "0:45:00"),
    "B": ("resolve", "12:00", "ok", "2:00:00"),
    "D": ("paused", None, "paused", "0:35:00"),
    "G": ("closed", None, "closed", "—"),
}
BADGES = {"overdue": "Breached", "at_risk": "At risk", "paused": "Paused", "ok": "", "closed": ""}
MOST_URGENT_FIRST = ["F", "C", "H", "A", "E", "B", "D"]


@pytest.fixture(autouse=True)
def _half_share(settings):
    settings.TIER2_SLA_AT_RISK_SHARE = 0.5
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def table(agent):
    made = {}
    for name, row in TABLE.items():
        state, held, awaiting, claim_by, resolve_by, arrived, priority, paused, closed = row
        ticket = nossa_ticket(summary=f"ticket {name}")
        Ticket.objects.filter(pk=ticket.pk).update(
            state=state,
            assignee=agent if held else None,
            awaiting_agent=awaiting,
            claim_by=at(claim_by),
            resolve_by=at(resolve_by),
            # As sla.apply_deadlines stores it for a 24x7 policy: the share of the time from
            # arrival to resolve-by (the at-risk points above).
            warn_at=at(arrived) + (at(resolve_by) - at(arrived)) / 2,
            created_at=at(arrived),
            priority=priority,
            sla_paused_at=at(paused) if paused else None,
            closed_at=at(closed) if closed else None,
        )
        made[name] = Ticket.objects.get(pk=ticket.pk)
    return made


@pytest.fixture
def agent(db):
    return factories.agent(site_code="PST", flows=("nossa",), username="agent.table")


def names_of(tickets, table) -> list[str]:
    by_pk = {ticket.pk: name for name, ticket in table.items()}
    return [by_pk[ticket.pk] for ticket in tickets]


@pytest.mark.parametrize("name", list(TABLE))
def test_each_ticket_has_the_running_deadline_of_the_table(table, name):
    kind, deadline, status, _text = EXPECTED[name]

    running = running_deadline_of(table[name], NOW)

    assert running.kind == kind
    assert running.at == (at(deadline) if deadline else None)
    assert running.status == status


def test_the_sql_expression_says_the_same_as_the_python_rule(table):
    found = dict(Ticket.objects.annotate(due=running_deadline()).values_list("summary", "due"))
    for name, (_kind, deadline, _status, _text) in EXPECTED.items():
        assert found[f"ticket {name}"] == (at(deadline) if deadline else None), name


def test_a_paused_ticket_shows_the_time_it_had_left_when_its_clock_stopped(table):
    running = running_deadline_of(table["D"], NOW)

    assert running.left == timedelta(minutes=35)  # 10:05 - 09:30


def test_most_urgent_first_is_the_order_of_the_table(table):
    queryset = TicketQueueFilter(
        {"sort": "urgent", "open": "true"}, queryset=Ticket.objects.all()
    ).qs

    assert names_of(queryset, table) == MOST_URGENT_FIRST


def test_the_queue_pages_walk_the_same_order(table):
    open_tickets = Ticket.objects.filter(closed_at__isnull=True)
    seen, after = [], None
    while True:
        page = keyset_page(open_tickets, SORTS["urgent"], after=after, size=2)
        seen += page.rows
        if page.after is None:
            break
        after = page.after

    assert names_of(seen, table) == MOST_URGENT_FIRST

    back = keyset_page(open_tickets, SORTS["urgent"], before=seen[-1].pk, size=2)
    assert names_of(back.rows, table) == ["E", "B"]


def test_priority_sort_breaks_ties_by_the_running_deadline(table):
    queryset = TicketQueueFilter(
        {"sort": "priority", "open": "true"}, queryset=Ticket.objects.all()
    ).qs

    # H is the only high one; the normal ones follow by their running deadline, D last.
    assert names_of(queryset, table) == ["H", "F", "C", "A", "E", "B", "D"]


def test_next_ticket_takes_the_waiting_tickets_by_their_running_deadline(table, agent):
    taker = factories.agent(site_code="PST", flows=("nossa",), username="agent.next")

    with time_machine.travel(NOW, tick=False):
        taken = [services.claim_next_ticket(agent=taker).pk for _ in range(4)]

    # C (claim-by 09:50), H (10:30, high), A (10:30), then E: back in the queue, its running
    # deadline is resolve-by 10:45, not the claim-by of 09:05 it met long ago.
    assert names_of([Ticket(pk=pk) for pk in taken], table) == ["C", "H", "A", "E"]


@pytest.mark.parametrize("name", [name for name in TABLE if name != "G"])
def test_the_badge_and_countdown_speak_of_the_running_deadline(table, name):
    _kind, deadline, status, text = EXPECTED[name]

    shown = sla_view(table[name], NOW)

    assert shown["badge"] == BADGES[status]
    assert f">{text}</span>" in shown["countdown"]
    if deadline:
        assert f'data-deadline="{at(deadline).isoformat()}"' in shown["countdown"]
    else:
        assert "data-deadline" not in shown["countdown"]  # a stopped clock does not tick


def test_a_claim_breach_stays_a_dated_fact_not_the_badge_of_the_clock_that_runs(table):
    # B was marked breached when its claim-by passed; it is held now, resolve-by 12:00 runs.
    Ticket.objects.filter(pk=table["B"].pk).update(breached_at=at("09:16"), sla_status="breached")

    shown = sla_view(Ticket.objects.get(pk=table["B"].pk), NOW)

    assert shown["badge"] == ""
    assert shown["earlier_mark"]["at"] == at("09:16")


def test_the_queue_page_lists_the_table_most_urgent_first_with_its_countdowns(table, client):
    supervisor = factories.role_user("Supervisor")
    client.force_login(supervisor)

    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("queue", args=["all"]) + "?sort=urgent").content.decode()

    positions = [page.index(f"ticket {name}") for name in MOST_URGENT_FIRST]
    assert positions == sorted(positions)
    assert "ticket G" not in page  # closed: not in the open queue
    for name in MOST_URGENT_FIRST:
        row = page[page.index(f"ticket {name}") :].split("</tr>")[0]
        _kind, _deadline, status, text = EXPECTED[name]
        assert f">{text}</span>" in row, name
        if BADGES[status]:
            assert f">{BADGES[status]}</span>" in row, name
        else:
            assert "sla-badge" not in row, name


def test_the_workspace_header_shows_the_running_deadline_and_its_badge(table, client):
    supervisor = factories.role_user("Supervisor")
    client.force_login(supervisor)

    with time_machine.travel(NOW, tick=False):
        page = client.get(reverse("ticket", args=[table["E"].pk])).content.decode()

    head = page[page.index('id="ws-head"') :].split("</section>")[0]
    assert "SLA to resolve" in head
    assert f'data-deadline="{at("10:45").isoformat()}"' in head
    assert ">0:45:00</span>" in head
    assert ">At risk</span>" in head
    assert at("09:05").isoformat() not in head  # the claim-by it met long ago


# --- PostgreSQL: the order is read from an index, not sorted -----------------------------------
def _plan(sql: str, params) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


RUNNING_INDEXES = ("ticket_open_queue", "ticket_open_running")  # migration 0013


@pytest.mark.postgres
@pytest.mark.parametrize("queue", ["agent", "floor"])
def test_the_urgent_queue_walks_an_index_of_the_running_deadline(table, queue):
    queryset = Ticket.objects.filter(closed_at__isnull=True)
    if queue == "agent":  # a flow queue at the agent's site
        queryset = queryset.filter(flow="nossa", site_id=table["A"].site_id)
    rows = sorted_queryset(queryset, SORTS["urgent"])[:51]
    sql, params = rows.query.sql_with_params()

    plan = _plan(sql, params)

    # With sorting priced out, the only way to this order is an index that holds it.
    assert any(index in plan for index in RUNNING_INDEXES), plan
    assert "Sort" not in plan, plan


@pytest.mark.postgres
def test_next_ticket_walks_the_waiting_tickets_index(table):
    from django.db.models import F

    site = table["A"].site_id
    rows = (
        Ticket.objects.filter(awaiting_agent=True, site_id=site, flow__in=["nossa"])
        .alias(deadline=running_deadline())
        .order_by(F("deadline").asc(nulls_last=True), "priority", "created_at", "pk")[:1]
    )
    sql, params = rows.query.sql_with_params()

    plan = _plan(sql, params)

    assert "ticket_next_in_queue" in plan, plan
    assert "Sort" not in plan, plan

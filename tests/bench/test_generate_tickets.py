"""bench/generate_tickets.py: exactly N tickets, each in a state of its own flow's machine.

The generator commits batch by batch (and on PostgreSQL writes from a second connection), so
these tests use a transactional database, flushed after each test.
"""

import re
from collections import Counter

import pytest
from django.db import connection

from bench.generate_tickets import generate, set_aside_indexes
from tickets.flows import FLOWS
from tickets.flows.base import CLOSED
from tickets.models import Escalation, Flow, Ticket, TransitionLog
from tier2 import partitions
from tier2.partitions import month_start

pytestmark = pytest.mark.django_db(transaction=True)


def quiet(*_args) -> None:
    pass


def test_generator_creates_exactly_the_requested_tickets_in_states_of_their_flow():
    result = generate(tickets=500, batch=200, log=quiet)

    assert result.tickets == 500
    assert Ticket.objects.count() == 500
    pairs = set(Ticket.objects.values_list("flow", "state"))
    assert {flow for flow, _state in pairs} == set(Flow.values)
    assert [(flow, state) for flow, state in pairs if state not in FLOWS[flow].states] == []
    assert result.rate > 0


def test_generated_tickets_are_consistent_with_their_state():
    generate(tickets=500, batch=500, log=quiet)

    for ticket in Ticket.objects.select_related("site"):
        machine = FLOWS[ticket.flow]
        assert ticket.claim_by and ticket.resolve_by and ticket.claim_by <= ticket.resolve_by
        if ticket.state == CLOSED:
            assert ticket.closed_at is not None and not ticket.awaiting_agent
            assert ticket.closing_code in dict(machine.closing_codes)
        else:
            assert ticket.closed_at is None and ticket.closing_code == ""
        waits = ticket.assignee_id is None and ticket.state not in machine.unqueued_states
        assert ticket.awaiting_agent == waits
        if ticket.flow == Flow.C4_CARING:
            assert ticket.site.code == "MLG"
    escalated = Ticket.objects.filter(state="escalated").exclude(assignee=None)
    assert Escalation.objects.count() == escalated.count()


def test_generated_transition_log_ends_in_each_tickets_state():
    result = generate(tickets=300, batch=300, transition_log=True, log=quiet)

    assert result.log_rows == TransitionLog.objects.count() > 300
    last_state = {}
    for ticket_id, to_state in TransitionLog.objects.order_by("at", "pk").values_list(
        "ticket_id", "to_state"
    ):
        last_state[ticket_id] = to_state
    assert last_state == dict(Ticket.objects.values_list("pk", "state"))


def test_a_years_log_lands_in_its_months_partitions():
    """Each entry carries its ticket's arrival month (docs/partitions.md), and on PostgreSQL
    every month of the history has its partition before the rows go in: none wait in DEFAULT."""
    generate(tickets=300, batch=300, transition_log=True, days=365, log=quiet)

    arrived = {pk: month_start(at) for pk, at in Ticket.objects.values_list("pk", "created_at")}
    months = dict(TransitionLog.objects.values_list("pk", "month"))
    entries = TransitionLog.objects.values_list("pk", "ticket_id")
    assert {pk: arrived[ticket] for pk, ticket in entries} == months
    assert len(set(months.values())) >= 12  # a year of arrivals
    if connection.vendor == "postgresql":
        assert partitions.months_in_default(connection, "tickets_transitionlog") == []


def test_generator_adds_to_what_is_there_without_clashing_numbers():
    generate(tickets=200, batch=200, log=quiet)
    generate(tickets=200, batch=200, log=quiet)

    assert Ticket.objects.count() == 400
    refs = Counter(Ticket.objects.exclude(source_ref="").values_list("source_system", "source_ref"))
    assert refs and max(refs.values()) == 1


def test_generated_deadlines_count_on_the_site_calendars_as_arrivals_do():
    """The generator computes deadlines itself, a million times; on a policy that counts on
    the sites' calendars they are what `sla.apply_deadlines` gives a ticket of that site."""
    from tests import factories
    from tickets import sla

    factories.policy("nossa", 3, claim=30, resolve=240, hours="site")
    generate(tickets=300, batch=300, log=quiet)

    generated = Ticket.objects.filter(flow=Flow.NOSSA, priority=3, sla_paused_seconds=0)
    assert generated.exists()
    for ticket in generated:
        expected = Ticket(flow=ticket.flow, priority=ticket.priority, site_id=ticket.site_id)
        sla.apply_deadlines(expected, ticket.created_at)
        assert (ticket.claim_by, ticket.resolve_by, ticket.warn_at) == (
            expected.claim_by, expected.resolve_by, expected.warn_at,
        )  # fmt: skip


def test_several_processes_load_exactly_the_requested_tickets_with_their_logs():
    """--jobs 2 on PostgreSQL: two forked processes, each with its own connection, share the
    tickets (250 each, in batches of 100); every ticket once, each log ending in its state.
    On SQLite the generator stays in one process and the result is the same."""
    result = generate(tickets=500, batch=100, transition_log=True, jobs=2, log=quiet)

    assert result.tickets == 500
    ids = list(Ticket.objects.values_list("pk", flat=True))
    assert len(ids) == len(set(ids)) == 500
    pairs = set(Ticket.objects.values_list("flow", "state"))
    assert [(flow, state) for flow, state in pairs if state not in FLOWS[flow].states] == []
    assert result.log_rows == TransitionLog.objects.count()
    last_state = {}
    for ticket_id, to_state in TransitionLog.objects.order_by("at", "pk").values_list(
        "ticket_id", "to_state"
    ):
        last_state[ticket_id] = to_state
    assert last_state == dict(Ticket.objects.values_list("pk", "state"))


def _same_meaning(definition: str) -> str:
    """An index definition without casts, brackets and spaces: PostgreSQL prints a rebuilt
    partial index's `IN` list with its casts placed differently, meaning the same."""
    return re.sub(r"::[a-z ]+(\[\])?|[()\s]", "", definition)


def _secondary_indexes() -> dict[str, tuple[str, bool]]:
    """Every index of the three load tables and of their partitions: name → (definition, valid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid
            FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid IN (
                SELECT relid FROM pg_partition_tree('tickets_transitionlog')
                UNION SELECT 'tickets_ticket'::regclass UNION SELECT 'tickets_escalation'::regclass
            )
            """
        )
        return {name: (_same_meaning(text), valid) for name, text, valid in cursor.fetchall()}


def _set_aside_notes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_set_aside_index")
        return cursor.fetchone()[0]


# Indexes the load tables have (migrations), named by hand: one of each table.
LOAD_INDEXES = {"ticket_next_in_queue", "translog_ticket_at", "escalation_status_due"}


@pytest.mark.postgres
def test_a_load_with_the_indexes_set_aside_ends_with_every_index_back_and_valid():
    """--rebuild-indexes: afterwards the same indexes as before, by name and definition (the
    log's on each of its partitions too), all valid, and nothing left noted."""
    generate(tickets=10, batch=10, transition_log=True, days=365, log=quiet)  # months exist
    before = _secondary_indexes()
    assert before.keys() >= LOAD_INDEXES
    assert all(valid for _definition, valid in before.values())

    result = generate(
        tickets=400, batch=100, transition_log=True, days=365, jobs=2, set_aside=True, log=quiet
    )

    assert result.tickets == 400 and Ticket.objects.count() == 410
    assert _secondary_indexes() == before
    assert _set_aside_notes() == 0


@pytest.mark.postgres
def test_indexes_an_interrupted_load_left_set_aside_are_built_by_the_next_run():
    """A run that dies between dropping and rebuilding leaves each definition noted in the
    database; the next run (even one without --rebuild-indexes) builds them back."""
    before = _secondary_indexes()

    dropped = set_aside_indexes(connection)

    assert set(dropped) >= LOAD_INDEXES
    left = _secondary_indexes()
    assert not LOAD_INDEXES & left.keys()
    assert {"tickets_ticket_pkey", "tickets_escalation_pkey"} <= left.keys()  # constraints stay
    assert _set_aside_notes() == len(dropped)

    generate(tickets=50, batch=50, log=quiet)

    assert _secondary_indexes() == before
    assert _set_aside_notes() == 0

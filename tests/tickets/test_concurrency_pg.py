"""Exactly-once claiming and transitions under real concurrency (PostgreSQL only).

Threads start together behind a barrier, each on its own database connection, and call the
services the way concurrent web and worker processes would. SQLite serialises writers, so these
tests need PostgreSQL: `DATABASE_URL=postgres://...` (skipped without it, failed in CI).
"""

import threading
from collections import Counter

import pytest
from django.db import connections

from tests import factories
from tickets import services
from tickets.exceptions import (
    ConcurrentChange,
    TicketAlreadyClaimed,
    TicketError,
    TransitionForbidden,
    TransitionNotAllowed,
)
from tickets.models import Site, Ticket, TransitionLog

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def sites():
    """The sites a flush may have emptied (transactional tests flush the tables after each)."""
    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})


def at_once(calls) -> list[tuple[str, object]]:
    """Run the callables in threads released together; ("ok", result) or ("error", exc) each."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", call())
        except Exception as error:  # noqa: BLE001 - every outcome is reported to the test
            results[index] = ("error", error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def outcomes(results) -> Counter:
    return Counter("ok" if kind == "ok" else type(value).__name__ for kind, value in results)


def test_fifty_agents_claiming_at_once_get_fifty_different_tickets():
    tickets = [factories.flow_ticket("nossa") for _ in range(60)]
    agents = [factories.agent_for("nossa") for _ in range(50)]

    results = at_once(
        [lambda agent=agent: services.claim_next_ticket(agent=agent) for agent in agents]
    )

    assert outcomes(results) == Counter(ok=50), [v for k, v in results if k == "error"]
    taken = [ticket.pk for _kind, ticket in results]
    assert len(set(taken)) == 50  # no ticket twice
    for agent, (_kind, ticket) in zip(agents, results, strict=True):
        row = Ticket.objects.get(pk=ticket.pk)
        assert (row.assignee_id, row.state, row.awaiting_agent) == (agent.pk, "claimed", False)
    assert TransitionLog.objects.filter(transition="claim").count() == 50
    waiting = Ticket.objects.filter(pk__in=[t.pk for t in tickets], awaiting_agent=True)
    assert waiting.count() == 10
    assert not waiting.filter(assignee__isnull=False).exists()


def test_two_agents_claiming_the_same_ticket_at_once_give_it_to_one():
    ticket = factories.flow_ticket("nossa")
    first, second = factories.agent_for("nossa"), factories.agent_for("nossa")

    results = at_once(
        [
            lambda: services.claim_ticket(ticket_id=ticket.pk, agent=first),
            lambda: services.claim_ticket(ticket_id=ticket.pk, agent=second),
        ]
    )

    assert outcomes(results) == Counter(ok=1, TicketAlreadyClaimed=1)
    winner = next(value for kind, value in results if kind == "ok")
    assert Ticket.objects.get(pk=ticket.pk).assignee_id == winner.assignee_id
    assert TransitionLog.objects.filter(ticket_id=ticket.pk, transition="claim").count() == 1


@pytest.mark.parametrize(
    ("expected_state", "loser_error"),
    [("claimed", ConcurrentChange), (None, TransitionNotAllowed)],
    ids=["with-expected-state:concurrent-change", "without:transition-not-allowed"],
)
def test_same_transition_twice_at_once_happens_once(expected_state, loser_error):
    """The second waits for the row lock, then finds the ticket already moved on (observed:
    ConcurrentChange when it said which state it expected, TransitionNotAllowed otherwise)."""
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")

    def start():
        return services.transition_ticket(
            ticket_id=scene.ticket.pk,
            name="start_diagnosis",
            actor=scene.agent,
            expected_state=expected_state,
        )

    results = at_once([start, start])

    assert outcomes(results) == Counter({"ok": 1, loser_error.__name__: 1})
    assert scene.reload().state == "diagnosing"
    rows = TransitionLog.objects.filter(ticket_id=scene.ticket.pk, transition="start_diagnosis")
    assert rows.count() == 1
    assert factories.replay_log(scene.ticket)[-1] == "diagnosing"


def test_agents_transition_racing_a_supervisors_release_leaves_a_consistent_ticket():
    scene = factories.flow_scene("nossa")
    scene.walk_to("claimed")

    results = at_once(
        [
            lambda: services.transition_ticket(
                ticket_id=scene.ticket.pk, name="start_diagnosis", actor=scene.agent
            ),
            lambda: services.release_ticket(ticket_id=scene.ticket.pk, supervisor=scene.supervisor),
        ]
    )

    (move_kind, move), (release_kind, _release) = results
    assert release_kind == "ok"  # the ticket is held either way, so the release goes through
    ticket = scene.reload()
    assert (ticket.assignee_id, ticket.awaiting_agent) == (None, True)
    if move_kind == "ok":  # the agent was first
        assert ticket.state == "diagnosing"
    else:  # the release was first: the agent no longer holds the ticket
        assert isinstance(move, TransitionForbidden)
        assert ticket.state == "claimed"
    assert factories.replay_log(ticket)[-1] == ticket.state
    moves = TransitionLog.objects.filter(ticket_id=ticket.pk, transition="start_diagnosis")
    assert moves.count() == (1 if move_kind == "ok" else 0)


def test_same_source_reference_arriving_from_ten_threads_gives_one_ticket():
    service = factories.service_at("PST")

    def arrive():
        return services.create_ticket(
            flow="nossa", service=service, source_system="nossa", source_ref="IN16672489"
        )

    results = at_once([arrive] * 10)

    assert outcomes(results) == Counter(ok=10), [v for k, v in results if k == "error"]
    assert len({ticket.pk for _kind, (ticket, _created) in results}) == 1
    assert sorted(created for _kind, (_ticket, created) in results) == [False] * 9 + [True]
    assert Ticket.objects.filter(source_ref="IN16672489").count() == 1
    assert TransitionLog.objects.filter(transition="arrive").count() == 1


def test_different_reports_arriving_at_once_all_become_tickets():
    services_ = [factories.service_at("PST") for _ in range(20)]

    results = at_once(
        [
            lambda service=service, n=n: services.create_ticket(
                flow="nossa", service=service, source_system="nossa", source_ref=f"IN{n:08d}"
            )
            for n, service in enumerate(services_)
        ]
    )

    assert outcomes(results) == Counter(ok=20), [v for k, v in results if k == "error"]
    assert Ticket.objects.count() == 20


def test_claims_and_calls_at_once_never_raise_anything_but_domain_errors():
    """A small storm on one ticket: only domain errors, and the log still replays."""
    scene = factories.flow_scene("callback")
    scene.walk_to("contacting")

    def call():
        return services.record_contact_attempt(
            ticket_id=scene.ticket.pk, agent=scene.agent, outcome="no_answer"
        )

    def claim_by_other():
        return services.claim_ticket(ticket_id=scene.ticket.pk, agent=scene.other_agent)

    results = at_once([call] * 5 + [claim_by_other] * 3)

    errors = [value for kind, value in results if kind == "error"]
    assert all(isinstance(error, TicketError) for error in errors), errors
    assert outcomes(results)["ok"] == 5
    assert all(isinstance(error, TicketAlreadyClaimed) for error in errors)
    ticket = scene.reload()
    assert ticket.failed_attempts == 5  # no lost update
    assert factories.replay_log(ticket)[-1] == "contacting"

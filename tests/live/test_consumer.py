"""The live console's websocket (`/ws/live/`) as a tab meets it: who gets a socket, what each
user may watch, and what reaches which screen when tickets change (docs/live.md, "Protocol").

Every scenario runs on the in-memory layer of `make run` and, marked `redis`, on the Redis
pub/sub layer of production (`any_layer`). The expectations are written out by hand.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests import factories
from tests.live import (
    all_messages,
    close_code,
    in_thread,
    next_message,
    of_type,
    open_socket,
    run,
    say,
    watch,
)
from tickets import selectors, services
from tickets.models import Notification, TransitionLog
from tickets.services import live

pytestmark = pytest.mark.django_db(transaction=True)

TICKET_KEYS = {"type", "id", "site", "flow", "state", "from_state", "kind", "awaiting_agent", "at"}


def claim_entry_at(ticket) -> str:
    at = TransitionLog.objects.get(ticket_id=ticket.pk, transition="claim").at
    return at.isoformat()


# --- Who gets a socket -------------------------------------------------------------------------
def test_an_anonymous_socket_is_closed_with_4401(any_layer):
    async def scenario():
        socket = await open_socket(None)
        assert socket.opened
        assert await close_code(socket) == 4401

    run(scenario)


@pytest.mark.parametrize("who", ["no role", "System"])
def test_a_user_without_a_console_role_is_closed_with_4403(any_layer, who):
    if who == "no role":
        user = User.objects.create_user(username="nobody", password="secret-pass-123")
    else:
        user = factories.role_user("System")  # a TMF621 client: the API, never the console

    async def scenario():
        socket = await open_socket(user)
        assert await close_code(socket) == 4403

    run(scenario)


def test_a_user_who_still_owes_the_second_factor_is_closed_with_4401(any_layer):
    supervisor = factories.role_user("Supervisor")
    TOTPDevice.objects.create(user=supervisor, name="phone", confirmed=True)

    async def scenario():
        socket = await open_socket(supervisor)  # password only: the code was never entered
        assert await close_code(socket) == 4401

    run(scenario)


def test_a_socket_opened_by_another_sites_page_is_refused_at_the_handshake(any_layer):
    supervisor = factories.role_user("Supervisor")

    async def scenario():
        socket = await open_socket(supervisor, origin="https://evil.example")
        assert socket.opened is False

    run(scenario)


@pytest.mark.parametrize("role", ["Agent", "Supervisor", "Support", "Admin"])
def test_a_console_user_gets_a_socket_in_their_own_group(any_layer, role):
    user = factories.user(role, site_code="PST", flows=["nossa"], username=f"{role.lower()}.x")

    async def scenario():
        socket = await open_socket(user)
        assert socket.opened
        assert await watch(socket) == ([], [])  # answered: the socket is open and joined
        await get_channel_layer().group_send(
            f"user.{user.pk}", {"type": "live.forward", "message": {"type": "ping"}}
        )
        assert await next_message(socket) == {"type": "ping"}
        await socket.disconnect()

    run(scenario)


# --- What each user may watch ------------------------------------------------------------------
def test_a_tab_is_told_which_topics_it_watches_and_which_are_refused(
    any_layer, pusat_agent, malang_agent
):
    own = factories.flow_ticket("nossa", site_code="PST")
    malang = factories.flow_ticket("nossa", site_code="MLG")
    topics = ["queue", f"ticket:{own.pk}", f"ticket:{malang.pk}", "dashboard", "incidents",
              "incident:1", "ticket:x", "everything"]  # fmt: skip

    async def scenario():
        socket = await open_socket(pusat_agent)
        granted, refused = await watch(socket, *topics)
        assert granted == ["queue", f"ticket:{own.pk}"]
        assert refused == [f"ticket:{malang.pk}", "dashboard", "incidents", "incident:1",
                           "ticket:x", "everything"]  # fmt: skip
        granted, refused = await watch(socket, "queue")  # replaces the topics
        assert (granted, refused) == (["queue"], [])
        await socket.disconnect()

    run(scenario)


def groups_of(user, *topics):
    return selectors.live_watch(user, topics).groups


def test_an_agent_hears_of_the_queues_they_work_at_their_own_site(db):
    pusat = factories.agent(site_code="PST", flows=["nossa", "c4_caring", "callback"])
    malang = factories.agent(site_code="MLG", flows=["c4_caring", "nossa"])

    # C4 Caring is worked at Malang only (SOP 8.4): a Pusat agent's profile does not change that.
    assert groups_of(pusat, "queue") == {"queue": ("queue.PST.nossa", "queue.PST.callback")}
    assert groups_of(malang, "queue") == {"queue": ("queue.MLG.c4_caring", "queue.MLG.nossa")}


@pytest.mark.parametrize("role", ["Supervisor", "Support", "Admin"])
def test_supervisors_support_and_admins_hear_of_every_queue(db, role):
    assert groups_of(factories.role_user(role), "queue") == {"queue": ("queue.all",)}


def test_an_agent_may_watch_a_ticket_of_their_queues_and_no_other(db):
    agent = factories.agent(site_code="PST", flows=["nossa"])
    own = factories.flow_ticket("nossa", site_code="PST")
    other_site = factories.flow_ticket("nossa", site_code="MLG")
    other_flow = factories.flow_ticket("callback", site_code="PST")

    found = selectors.live_watch(
        agent, [f"ticket:{own.pk}", f"ticket:{other_site.pk}", f"ticket:{other_flow.pk}",
                "ticket:999999", "ticket:-1"]
    )  # fmt: skip

    assert found.groups == {f"ticket:{own.pk}": (f"ticket.{own.pk}",)}
    assert found.presence == {own.pk: (f"ticket.{own.pk}", "queue.PST.nossa", "queue.all")}
    assert found.refused == [f"ticket:{other_site.pk}", f"ticket:{other_flow.pk}",
                             "ticket:999999", "ticket:-1"]  # fmt: skip


def test_a_supervisor_may_watch_a_ticket_of_any_site(db):
    ticket = factories.flow_ticket("c4_caring")  # at Malang
    found = selectors.live_watch(factories.role_user("Supervisor"), [f"ticket:{ticket.pk}"])
    assert found.presence == {ticket.pk: (f"ticket.{ticket.pk}", "queue.MLG.c4_caring",
                                          "queue.all")}  # fmt: skip


@pytest.mark.parametrize(
    ("role", "dashboard", "incidents"),
    [("Agent", False, False), ("Support", False, True), ("Supervisor", True, True),
     ("Admin", True, True)],
)  # fmt: skip
def test_the_dashboard_is_for_supervisors_and_incidents_for_their_managers(
    db, role, dashboard, incidents
):
    user = factories.user(role, site_code="PST", flows=["nossa"], username=f"{role}.w")
    found = selectors.live_watch(user, ["dashboard", "incidents", "incident:7"])
    expected = {}
    if dashboard:
        expected["dashboard"] = ("dashboard",)
    if incidents:
        expected |= {"incidents": ("incidents",), "incident:7": ("incident.7",)}
    assert found.groups == expected


def test_a_tab_watches_at_most_twenty_topics(db):
    supervisor = factories.role_user("Supervisor")
    topics = [f"incident:{number}" for number in range(1, 23)]
    found = selectors.live_watch(supervisor, topics)
    assert list(found.groups) == topics[:20]
    assert found.refused == ["incident:21", "incident:22"]


# --- What reaches which screen -------------------------------------------------------------------
def test_a_claim_reaches_the_ticket_tab_and_the_queue_screens_once_after_commit(
    any_layer, pusat_agent, live_supervisor
):
    ticket = factories.flow_ticket("nossa", site_code="PST")
    colleague = factories.agent(site_code="PST", flows=["nossa"], username="agent.colleague")

    async def scenario():
        queue_of_agent = await open_socket(pusat_agent)
        floor = await open_socket(live_supervisor)
        workspace = await open_socket(colleague)
        await watch(queue_of_agent, "queue")
        await watch(floor, "queue")
        await watch(workspace, f"ticket:{ticket.pk}")

        await in_thread(services.claim_ticket)(ticket_id=ticket.pk, agent=pusat_agent)

        expected = {
            "type": "ticket", "id": ticket.pk, "site": "PST", "flow": "nossa",
            "state": "claimed", "from_state": "new", "kind": "transition",
            "awaiting_agent": False, "at": await in_thread(claim_entry_at)(ticket),
        }  # fmt: skip
        for socket in (queue_of_agent, floor, workspace):
            received = await all_messages(socket)
            assert [m for m in received if m["type"] == "ticket"] == [expected]
            assert set(received[0]) == TICKET_KEYS  # ids and codes: nothing else
            datetime.fromisoformat(received[0]["at"])
            await socket.disconnect()

    run(scenario)


def test_a_tab_watching_a_ticket_and_its_queue_hears_of_each_change_once(
    any_layer, fresh_cache, pusat_agent, live_supervisor
):
    ticket = factories.flow_ticket("nossa", site_code="PST")

    async def scenario():
        floor = await open_socket(live_supervisor)  # queue.all and ticket.<id>
        agent = await open_socket(pusat_agent)  # queue.PST.nossa and ticket.<id>
        for socket in (floor, agent):
            await watch(socket, "queue", f"ticket:{ticket.pk}")
        await in_thread(services.claim_ticket)(ticket_id=ticket.pk, agent=pusat_agent)
        await say(agent, ticket.pk, "acting")

        for socket in (floor, agent):
            assert [message["type"] for message in await all_messages(socket)] == [
                "ticket", "presence"
            ]  # fmt: skip
            await socket.disconnect()

    run(scenario)


def test_an_agent_of_pusat_never_hears_of_a_malang_ticket_while_a_supervisor_does(
    any_layer, fresh_cache, pusat_agent, malang_agent, live_supervisor
):
    """THE LEAK TEST: arrivals, transitions and presence of a Malang ticket reach the floor's
    screens and Malang's, never a Pusat agent watching their queues."""

    async def scenario():
        pusat = await open_socket(pusat_agent)
        floor = await open_socket(live_supervisor)
        malang = await open_socket(malang_agent)
        for socket in (pusat, floor):
            await watch(socket, "queue")

        arrived = await in_thread(factories.flow_ticket)("nossa", site_code="MLG")
        assert (await next_message(floor, of_type("ticket")))["kind"] == "arrived"
        granted, refused = await watch(pusat, "queue", f"ticket:{arrived.pk}")
        assert (granted, refused) == (["queue"], [f"ticket:{arrived.pk}"])

        await watch(malang, "queue", f"ticket:{arrived.pk}")
        await in_thread(services.claim_ticket)(ticket_id=arrived.pk, agent=malang_agent)
        assert (await next_message(floor, of_type("ticket")))["state"] == "claimed"
        await say(malang, arrived.pk, "typing")
        seen = await next_message(floor, of_type("presence"))
        assert seen == {
            "type": "presence",
            "ticket": arrived.pk,
            "people": [{"user": malang_agent.pk, "name": "agent.malang", "activity": "typing"}],
        }
        await in_thread(services.add_note)(ticket_id=arrived.pk, author=malang_agent,
                                           text="Pelanggan minta dihubungi sore")  # fmt: skip
        await in_thread(factories.flow_ticket)("c4_caring")  # Malang's own flow, at Malang
        assert len(await all_messages(floor)) >= 2

        assert await all_messages(pusat) == []  # nothing about Malang, of any kind

        # The Pusat agent's socket is alive and hears of their own queue.
        own = await in_thread(factories.flow_ticket)("nossa", site_code="PST")
        message = await next_message(pusat)
        assert (message["type"], message["id"], message["site"]) == ("ticket", own.pk, "PST")
        for socket in (pusat, floor, malang):
            await socket.disconnect()

    run(scenario)


def test_many_changes_within_the_interval_make_at_most_two_dashboard_messages(
    any_layer, settings, pusat_agent, live_supervisor
):
    """Twenty changes well within the interval (2 s here): the dashboard is told at most twice,
    an interval apart, the last time after the last change (so it re-reads all of them)."""
    settings.TIER2_LIVE_DASHBOARD_SECONDS = 0  # the set-up's changes: each told at once
    ticket = factories.flow_ticket("nossa", site_code="PST")
    services.claim_ticket(ticket_id=ticket.pk, agent=pusat_agent)

    async def scenario():
        loop = asyncio.get_running_loop()
        floor = await open_socket(live_supervisor)
        await watch(floor, "dashboard")
        await all_messages(floor, quiet=0.2)
        settings.TIER2_LIVE_DASHBOARD_SECONDS = 2.0
        started = loop.time()
        for number in range(20):
            await in_thread(services.add_note)(ticket_id=ticket.pk, author=pusat_agent,
                                               text=f"Catatan {number}")  # fmt: skip
        ended = loop.time()
        assert ended - started < 1.5, "the notes took too long for this test"
        arrivals = []
        while not await floor.receive_nothing(timeout=2.5, interval=0.02):
            arrivals.append((await floor.receive_json_from(), loop.time()))
        assert [message for message, _at in arrivals] in (
            [{"type": "dashboard"}],
            [{"type": "dashboard"}, {"type": "dashboard"}],
        )
        assert arrivals[-1][1] >= ended
        if len(arrivals) == 2:  # the first at once, the second at the end of the interval
            assert arrivals[1][1] - started >= 1.9
        await floor.disconnect()

    run(scenario)


def test_a_reassigned_agent_gets_a_notification_with_their_unread_count(
    any_layer, pusat_agent, live_supervisor
):
    ticket = factories.flow_ticket("nossa", site_code="PST")
    services.claim_ticket(ticket_id=ticket.pk, agent=pusat_agent)
    other = factories.agent(site_code="PST", flows=["nossa"], username="agent.dua")
    Notification.objects.create(user=other, kind="sla_at_risk", message="earlier, unread")

    async def scenario():
        before = await open_socket(pusat_agent)
        after = await open_socket(other)
        floor = await open_socket(live_supervisor)
        for socket in (before, after, floor):
            await watch(socket)
        await in_thread(services.reassign_ticket)(
            ticket_id=ticket.pk, supervisor=live_supervisor, agent=other
        )
        row = await in_thread(Notification.objects.get)(user=other, kind="ticket_reassigned")
        assert await all_messages(after) == [
            {"type": "notification", "id": row.pk, "kind": "ticket_reassigned", "unread": 2}
        ]
        assert await all_messages(before) == []
        assert await all_messages(floor) == []
        for socket in (before, after, floor):
            await socket.disconnect()

    run(scenario)
    assert Notification.objects.get(user=other, kind="ticket_reassigned").message == (
        f"supervisor.live assigned you {ticket.number}."
    )


def test_only_the_personal_group_is_joined_before_watching(memory_layer, pusat_agent):
    async def scenario():
        socket = await open_socket(pusat_agent)
        await watch(socket)
        member_of = {group for group, members in memory_layer.groups.items() if members}
        assert member_of == {live.user_group(pusat_agent.pk)}
        await watch(socket, "queue")
        member_of = {group for group, members in memory_layer.groups.items() if members}
        assert member_of == {f"user.{pusat_agent.pk}", "queue.PST.nossa", "queue.PST.gamas"}
        await socket.disconnect()
        assert not any(memory_layer.groups.values())

    run(scenario)

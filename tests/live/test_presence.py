"""Presence: who has a ticket open and what they do there (tickets.presence), and how the
websocket tells it (docs/live.md, "Presence and soft locks").

The store is tested on the local-memory cache (one process) and, marked `redis`, on Redis as in
production; the sockets on both channel layers. Expectations are written out by hand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import SimpleNamespace

import pytest

from tests import factories
from tests.live import all_messages, next_message, of_type, open_socket, run, say, watch
from tickets import presence


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, settings):
    """Presence in the local-memory cache, and in Redis."""
    request.getfixturevalue(f"{request.param}_cache")
    settings.TIER2_LIVE_PRESENCE_SECONDS = 45


def rina(activity: str, channel: str = "tab-1", ticket_id: int = 10) -> presence.Change:
    return presence.announce(ticket_id=ticket_id, channel=channel, user_id=7, name="Rina A.",
                             activity=activity)  # fmt: skip


# --- The store ---------------------------------------------------------------------------------
def test_a_heartbeat_puts_the_tab_on_the_ticket_and_only_a_change_is_news(store):
    first = rina("viewing")
    again = rina("viewing")
    typing = rina("typing")

    assert first == presence.Change(True, [{"user": 7, "name": "Rina A.", "activity": "viewing"}])
    assert again == presence.Change(False, [{"user": 7, "name": "Rina A.", "activity": "viewing"}])
    assert typing == presence.Change(True, [{"user": 7, "name": "Rina A.", "activity": "typing"}])
    assert presence.people(10) == [{"user": 7, "name": "Rina A.", "activity": "typing"}]
    assert presence.people(11) == []


def test_a_person_with_two_tabs_shows_as_one_doing_the_most(store):
    rina("viewing", channel="tab-1")
    assert rina("acting", channel="tab-2").people == [
        {"user": 7, "name": "Rina A.", "activity": "acting"}
    ]
    left = presence.leave(ticket_id=10, channel="tab-2")
    assert left == presence.Change(True, [{"user": 7, "name": "Rina A.", "activity": "viewing"}])


def test_people_are_listed_by_name_and_a_tab_that_leaves_is_gone_at_once(store):
    rina("viewing")
    presence.announce(ticket_id=10, channel="tab-9", user_id=3, name="Agus P.", activity="typing")
    assert [person["name"] for person in presence.people(10)] == ["Agus P.", "Rina A."]

    assert presence.leave(ticket_id=10, channel="tab-1").changed
    assert presence.people(10) == [{"user": 3, "name": "Agus P.", "activity": "typing"}]
    assert presence.leave(ticket_id=10, channel="tab-1") == presence.Change(
        False, [{"user": 3, "name": "Agus P.", "activity": "typing"}]
    )


def test_a_tab_without_heartbeat_drops_out_after_the_ttl(store, settings):
    settings.TIER2_LIVE_PRESENCE_SECONDS = 0.3
    rina("typing")
    time.sleep(0.4)

    assert presence.people(10) == []
    change = presence.announce(ticket_id=10, channel="tab-9", user_id=3, name="Agus P.",
                               activity="viewing")  # fmt: skip
    assert change == presence.Change(True, [{"user": 3, "name": "Agus P.", "activity": "viewing"}])


def test_an_expired_tab_is_news_once_to_the_next_heartbeat(store, settings):
    presence.announce(ticket_id=10, channel="tab-9", user_id=3, name="Agus P.", activity="viewing")
    settings.TIER2_LIVE_PRESENCE_SECONDS = 0.2
    rina("viewing")
    time.sleep(0.3)
    settings.TIER2_LIVE_PRESENCE_SECONDS = 45

    heartbeat = presence.announce(ticket_id=10, channel="tab-9", user_id=3, name="Agus P.",
                                  activity="viewing")  # fmt: skip
    again = presence.announce(ticket_id=10, channel="tab-9", user_id=3, name="Agus P.",
                              activity="viewing")  # fmt: skip
    assert heartbeat.changed and not again.changed  # Rina left by expiry: told once
    assert again.people == [{"user": 3, "name": "Agus P.", "activity": "viewing"}]


def test_the_rows_of_a_queue_read_everyones_presence_at_once(store):
    rina("viewing", ticket_id=10)
    rina("typing", channel="tab-2", ticket_id=12)
    assert presence.people_on([10, 11, 12]) == {
        10: [{"user": 7, "name": "Rina A.", "activity": "viewing"}],
        12: [{"user": 7, "name": "Rina A.", "activity": "typing"}],
    }


def test_an_unknown_activity_is_refused(store):
    with pytest.raises(ValueError):
        rina("sleeping")


def test_a_redis_outage_means_no_presence_not_an_error(settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    with caplog.at_level(logging.WARNING, logger="tickets.presence"):
        assert rina("typing") == presence.Change(False, [])
        assert presence.people(10) == []
    assert "Presence store unavailable" in caplog.text


@pytest.mark.parametrize(
    ("first", "last", "username", "shown"),
    [("Rina", "Astuti", "rina", "Rina A."), ("Rina", "", "rina", "Rina"),
     ("", "", "agent.pusat", "agent.pusat")],
)  # fmt: skip
def test_colleagues_see_a_short_name(first, last, username, shown):
    user = SimpleNamespace(first_name=first, last_name=last, get_username=lambda: username)
    assert presence.display_name(user) == shown


# --- Over the websocket -----------------------------------------------------------------------


def person(user, activity: str) -> dict:
    return {"user": user.pk, "name": user.get_username(), "activity": activity}


@pytest.mark.django_db(transaction=True)
def test_presence_reaches_the_tickets_tabs_and_its_queue_and_not_other_sites(
    any_layer, fresh_cache, pusat_agent, malang_agent, live_supervisor
):
    ticket = factories.flow_ticket("nossa", site_code="PST")
    colleague = factories.agent(site_code="PST", flows=["nossa"], username="agent.dua")

    async def scenario():
        editing = await open_socket(pusat_agent)
        reading = await open_socket(colleague)
        floor = await open_socket(live_supervisor)
        malang = await open_socket(malang_agent)
        await watch(editing, f"ticket:{ticket.pk}")
        await watch(reading, f"ticket:{ticket.pk}")
        await watch(floor, "queue")
        await watch(malang, "queue")

        await say(editing, ticket.pk, "typing")

        told = {"type": "presence", "ticket": ticket.pk,
                "people": [person(pusat_agent, "typing")]}  # fmt: skip
        for socket in (editing, reading, floor):
            assert await all_messages(socket) == [told]
        await say(editing, ticket.pk, "typing")  # the heartbeat: nothing changed, nothing told
        assert await all_messages(reading) == []
        await say(reading, ticket.pk, "viewing")
        both = [person(colleague, "viewing"), person(pusat_agent, "typing")]
        assert (await next_message(editing))["people"] == both
        assert await all_messages(malang) == []
        for socket in (editing, reading, floor, malang):
            await socket.disconnect()

    run(scenario)


@pytest.mark.django_db(transaction=True)
def test_a_closed_tab_leaves_the_ticket_at_once(any_layer, fresh_cache, pusat_agent):
    ticket = factories.flow_ticket("nossa", site_code="PST")
    colleague = factories.agent(site_code="PST", flows=["nossa"], username="agent.dua")

    async def scenario():
        closing = await open_socket(pusat_agent)
        staying = await open_socket(colleague)
        await watch(closing, f"ticket:{ticket.pk}")
        await watch(staying, f"ticket:{ticket.pk}")
        await say(closing, ticket.pk, "viewing")
        await next_message(staying, of_type("presence"))

        await closing.disconnect()

        assert await next_message(staying) == {"type": "presence", "ticket": ticket.pk,
                                               "people": []}  # fmt: skip
        await staying.disconnect()

    run(scenario)
    assert presence.people(ticket.pk) == []


@pytest.mark.django_db(transaction=True)
def test_a_tab_that_says_gone_or_watches_another_ticket_leaves(any_layer, fresh_cache, pusat_agent):
    first = factories.flow_ticket("nossa", site_code="PST")
    second = factories.flow_ticket("nossa", site_code="PST")
    colleague = factories.agent(site_code="PST", flows=["nossa"], username="agent.dua")

    async def scenario():
        moving = await open_socket(pusat_agent)
        staying = await open_socket(colleague)
        await watch(staying, f"ticket:{first.pk}", f"ticket:{second.pk}")
        await watch(moving, f"ticket:{first.pk}")
        await say(moving, first.pk, "viewing")
        await next_message(staying, of_type("presence"))

        await watch(moving, f"ticket:{second.pk}")  # navigated to the next ticket
        assert await next_message(staying) == {"type": "presence", "ticket": first.pk,
                                               "people": []}  # fmt: skip
        await say(moving, second.pk, "viewing")
        await next_message(staying, of_type("presence"))
        await say(moving, second.pk, "gone")
        assert await next_message(staying) == {"type": "presence", "ticket": second.pk,
                                               "people": []}  # fmt: skip
        for socket in (moving, staying):
            await socket.disconnect()

    run(scenario)


@pytest.mark.django_db(transaction=True)
def test_an_idle_tab_drops_out_after_the_ttl(any_layer, fresh_cache, settings, pusat_agent):
    settings.TIER2_LIVE_PRESENCE_SECONDS = 0.5
    ticket = factories.flow_ticket("nossa", site_code="PST")
    colleague = factories.agent(site_code="PST", flows=["nossa"], username="agent.dua")

    async def scenario():
        idle = await open_socket(pusat_agent)
        active = await open_socket(colleague)
        await watch(idle, f"ticket:{ticket.pk}")
        await watch(active, f"ticket:{ticket.pk}")
        await say(idle, ticket.pk, "viewing")  # and no heartbeat after it
        for socket in (idle, active):
            await next_message(socket, of_type("presence"))
        await asyncio.sleep(0.7)

        await say(active, ticket.pk, "viewing")

        assert await next_message(idle) == {"type": "presence", "ticket": ticket.pk,
                                            "people": [person(colleague, "viewing")]}  # fmt: skip
        for socket in (idle, active):
            await socket.disconnect()

    run(scenario)


@pytest.mark.django_db(transaction=True)
def test_a_tab_may_only_announce_itself_on_a_ticket_it_watches(any_layer, fresh_cache, pusat_agent):
    own = factories.flow_ticket("nossa", site_code="PST")
    malang = factories.flow_ticket("nossa", site_code="MLG")

    async def scenario():
        socket = await open_socket(pusat_agent)
        await watch(socket, "queue")
        await say(socket, own.pk, "typing")
        await say(socket, malang.pk, "typing")
        assert await all_messages(socket) == [
            {"type": "refused", "topic": f"ticket:{own.pk}"},
            {"type": "refused", "topic": f"ticket:{malang.pk}"},
        ]
        await socket.disconnect()

    run(scenario)
    assert presence.people(own.pk) == presence.people(malang.pk) == []

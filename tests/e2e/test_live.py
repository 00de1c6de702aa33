"""The live console in the browser: two and three people at once, each in their own browser,
on the console served over ASGI with its websocket (`asgi_console`).

- a ticket taken by one agent leaves the other agent's queue at once, and the counts change;
- who else is on a ticket shows in the workspace and in the queue rows, and goes when they
  close the tab; someone about to send while another types is warned first;
- a change made by one refreshes the other's workspace: the new state and actions;
- a gamas recovery's progress "n of N" moves on the incident page without a reload;
- a ticket given to an agent brings a toast and a higher unread count;
- with the websocket refused, the page says live updates are paused and polls instead.

No page is reloaded by the test: a marker set in the page (`window.stillHere`) must survive.
Set-up and changes made "by someone else" run through `asgi_console.run`, where the server runs
a request's code, so what they send after commit reaches the sockets as a request's would.
The pages are in Bahasa Indonesia; the test finds things by ids and data attributes.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e import demo_data
from tickets import services
from tickets.models import Note, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

PUSHED = 8_000  # ms: a pushed change shows well within this (the polls are every 20 s, paused)


def named(user, first: str, last: str):
    user.first_name, user.last_name = first, last
    user.save(update_fields=["first_name", "last_name"])
    return user


def floor_with_names():
    floor = demo_data.populate()
    named(floor.agent, "Rina", "Andriani")  # shown to colleagues as "Rina A."
    named(floor.second_agent, "Budi", "Santoso")
    named(floor.supervisor, "Sari", "Wulandari")
    return floor


def live(page):
    """The page is connected and the server has joined it to its topics' groups: its polls
    stopped, what is pushed from now on reaches it."""
    expect(page.locator("body")).to_have_class(re.compile(r"\blive-open\b"))
    page.wait_for_function("() => window.tier2Live.open && window.tier2Live.watching !== null")
    page.evaluate("window.stillHere = true")
    return page


def not_reloaded(page) -> None:
    assert page.evaluate("window.stillHere === true"), "the page was reloaded"


def waiting_queue(page) -> None:
    page.goto("/queues/nossa/?assignee=none")
    expect(page.locator("#queue-results")).to_be_visible()


def test_a_ticket_taken_by_one_agent_leaves_the_others_queue_at_once(
    asgi_console, live_logged_in, screenshot
):
    floor = asgi_console.run(floor_with_names)
    ticket = floor.target
    waiting = asgi_console.run(
        lambda: Ticket.objects.filter(flow="nossa", assignee=None, closed_at=None).count()
    )

    rival = live_logged_in("agent.dua")
    waiting_queue(rival)
    live(rival)
    row = rival.locator(f'[data-ticket-row="{ticket.pk}"]')
    expect(row).to_be_visible()
    total = rival.locator(".state-counts a").first.locator(".count")
    expect(total).to_have_text(str(waiting))

    agent = live_logged_in("agent.pusat")
    agent.goto(f"/tickets/{ticket.pk}/")
    agent.locator("#take-button").click()
    expect(agent.locator("[data-state]")).to_have_attribute("data-state", "claimed")

    expect(row).to_have_count(0, timeout=PUSHED)
    expect(total).to_have_text(str(waiting - 1))
    not_reloaded(rival)
    screenshot(rival, "live-queue")


def test_presence_shows_who_is_on_a_ticket_and_goes_when_their_tab_closes(
    asgi_console, live_logged_in, screenshot
):
    floor = asgi_console.run(floor_with_names)
    ticket = floor.target
    asgi_console.run(services.claim_ticket, ticket_id=ticket.pk, agent=floor.agent)

    supervisor = live_logged_in("supervisor.pusat")
    supervisor.goto("/queues/")
    live(supervisor)
    marker = supervisor.locator(f'[data-ticket-row="{ticket.pk}"] .presence-marker')
    expect(marker).to_have_count(0)

    rival = live_logged_in("agent.dua")
    rival.goto(f"/tickets/{ticket.pk}/")
    live(rival)
    others = rival.locator(f'[data-presence-ticket="{ticket.pk}"]')
    expect(others).to_be_hidden()

    agent = live_logged_in("agent.pusat")
    agent.goto(f"/tickets/{ticket.pk}/")
    live(agent)

    # Rina opened the ticket: the other agent sees her there, the supervisor in the queue row.
    viewing = others.locator("li.presence-viewing")
    expect(viewing).to_contain_text("Rina A.", timeout=PUSHED)
    expect(marker).to_contain_text("Rina A.", timeout=PUSHED)
    # Rina sees the other agent, not herself.
    expect(agent.locator("[data-presence-ticket] li")).to_contain_text("Budi S.")
    expect(agent.locator("[data-presence-ticket]")).not_to_contain_text("Rina A.")

    # She starts writing a note: "is entering a note", for both of them.
    agent.locator("#id_note-text").click()
    agent.keyboard.type("Pelanggan minta dihubungi sore")
    expect(others.locator("li.presence-typing")).to_contain_text("Rina A.", timeout=PUSHED)
    expect(marker).to_have_class(re.compile(r"\bbusy\b"), timeout=PUSHED)
    screenshot(rival, "live-presence")
    # A queue opened now shows her at once, before any change is pushed.
    late = supervisor.context.new_page()
    late.goto("/queues/")
    expect(late.locator(f'[data-ticket-row="{ticket.pk}"] .presence-marker')).to_contain_text(
        "Rina A."
    )
    late.close()

    # She closes the tab: she is gone from both at once (not after the 45 s expiry).
    agent.close()
    expect(others).to_be_hidden(timeout=PUSHED)
    expect(marker).not_to_contain_text("Rina A.", timeout=PUSHED)
    expect(marker).to_contain_text("Budi S.")  # still there
    expect(marker).not_to_have_class(re.compile(r"\bbusy\b"))
    rival.close()
    expect(marker).to_have_count(0, timeout=PUSHED)
    not_reloaded(supervisor)


def test_a_second_person_is_warned_before_sending_while_someone_types(asgi_console, live_logged_in):
    floor = asgi_console.run(floor_with_names)
    ticket = floor.target
    asgi_console.run(services.claim_ticket, ticket_id=ticket.pk, agent=floor.agent)

    agent = live_logged_in("agent.pusat")
    agent.goto(f"/tickets/{ticket.pk}/")
    live(agent)
    supervisor = live_logged_in("supervisor.pusat")
    supervisor.goto(f"/tickets/{ticket.pk}/")
    live(supervisor)

    agent.locator("#id_note-text").click()
    agent.keyboard.type("Sedang saya telepon")
    expect(supervisor.locator("[data-presence-ticket] li.presence-typing")).to_be_visible(
        timeout=PUSHED
    )

    # The supervisor's note is held back with a warning naming who is typing.
    supervisor.locator("#id_note-text").fill("Tolong prioritaskan")
    supervisor.locator("#note-form button[type=submit]").click()
    warning = supervisor.locator("#note-form .presence-warning")
    expect(warning).to_be_visible()
    expect(warning).to_have_attribute("role", "alert")
    expect(warning).to_contain_text("Rina A.")
    expect(warning.locator("[data-live-confirm]")).to_be_focused()
    assert asgi_console.run(lambda: Note.objects.filter(ticket_id=ticket.pk).count()) == 0

    # A second, deliberate click sends it.
    warning.locator("[data-live-confirm]").click()
    supervisor.wait_for_load_state()
    expect(supervisor.locator("#ws-timeline")).to_contain_text("Tolong prioritaskan")
    assert asgi_console.run(lambda: Note.objects.filter(ticket_id=ticket.pk).count()) == 1


def test_a_change_by_one_refreshes_the_others_workspace_with_the_new_state_and_actions(
    asgi_console, live_logged_in, screenshot
):
    floor = asgi_console.run(floor_with_names)
    ticket = floor.target

    rival = live_logged_in("agent.dua")
    rival.goto(f"/tickets/{ticket.pk}/")
    live(rival)
    expect(rival.locator("[data-state]")).to_have_attribute("data-state", "new")
    expect(rival.locator("#take-button")).to_be_visible()

    agent = live_logged_in("agent.pusat")
    agent.goto(f"/tickets/{ticket.pk}/")
    agent.locator("#take-button").click()
    expect(agent.locator("[data-state]")).to_have_attribute("data-state", "claimed")

    # The other agent's page now shows the ticket as it is: claimed, held by Rina, and no Take
    # button left to press (the stale form is gone, not refused after the fact).
    expect(rival.locator("[data-state]")).to_have_attribute("data-state", "claimed", timeout=PUSHED)
    expect(rival.locator("#take-button")).to_have_count(0)
    expect(rival.locator(".owner")).to_have_text("agent.pusat")
    expect(rival.locator("#ws-notice .held")).to_be_visible()
    expect(rival.locator("#live-announce")).not_to_be_empty()
    not_reloaded(rival)

    # Rina moves it on (from another tab); the supervisor watching it sees the new step, and
    # the note the supervisor is writing stays as it was.
    live(agent)
    supervisor = live_logged_in("supervisor.pusat")
    supervisor.goto(f"/tickets/{ticket.pk}/")
    live(supervisor)
    supervisor.locator("#id_note-text").fill("catatan yang belum dikirim")
    next_state = advance(asgi_console, ticket.pk, floor.agent)
    assert next_state != "claimed"
    expect(supervisor.locator("[data-state]")).to_have_attribute(
        "data-state", next_state, timeout=PUSHED
    )
    expect(supervisor.locator("#id_note-text")).to_have_value("catatan yang belum dikirim")
    not_reloaded(supervisor)
    screenshot(supervisor, "live-workspace")

    # Rina's own page has the new step's actions, each carrying the state it was shown in.
    expect(agent.locator("[data-state]")).to_have_attribute("data-state", next_state)
    shown_states = agent.locator("#ws-actions input[name$='expected_state']")
    expect(shown_states.first).to_be_attached()
    for shown in shown_states.all():
        expect(shown).to_have_value(next_state)

    # The supervisor takes the ticket away from her: her action forms go, Take comes back.
    asgi_console.run(services.release_ticket, ticket_id=ticket.pk, supervisor=floor.supervisor)
    expect(agent.locator("#take-button")).to_be_visible(timeout=PUSHED)
    expect(shown_states).to_have_count(0)
    not_reloaded(agent)
    # The supervisor's page followed again, the unsent note still in it.
    expect(supervisor.locator("#ws-head .owner")).not_to_contain_text("agent.pusat")
    expect(supervisor.locator("#id_note-text")).to_have_value("catatan yang belum dikirim")


def advance(console, ticket_id: int, agent) -> str:
    """Rina takes the first step open to her that needs no input; the state it led to."""

    def step():
        ticket = Ticket.objects.get(pk=ticket_id)
        machine = factories.reload(ticket)
        options = [
            option
            for option in services.available_transitions(machine, agent)
            if option.allowed and not option.inputs and option.name != "claim"
        ]
        assert options, "a step without inputs is open after the claim"
        services.transition_ticket(
            ticket_id=ticket_id, name=options[0].name, actor=agent, inputs={},
            expected_state=ticket.state,
        )  # fmt: skip
        return Ticket.objects.get(pk=ticket_id).state

    return console.run(step)


def test_gamas_recovery_progress_moves_without_a_reload(
    asgi_console, live_logged_in, monkeypatch, screenshot
):
    def incident_with_children():
        floor = floor_with_names()
        incident = factories.open_gamas(
            actor=floor.supervisor, area_level="sto", area_code="STO-KBL"
        )
        children = [factories.arrive("gamas") for _ in range(4)]
        assert {child.gamas_incident_id for child in children} == {incident.pk}
        return incident

    incident = asgi_console.run(incident_with_children)
    # The recovery's fan-out runs batch by batch here, two children at a time, when the test
    # says, instead of all at once in the recovering request.
    monkeypatch.setattr("tickets.services.gamas.start_fan_out", lambda incident_id: True)

    supervisor = live_logged_in("supervisor.pusat")
    supervisor.goto(f"/incidents/{incident.pk}/")
    live(supervisor)
    progress = supervisor.locator("[data-progress]")
    expect(progress).to_have_attribute("data-total", "4")
    expect(progress).to_have_attribute("data-done", "0")
    waiting = supervisor.locator('#incident-progress [data-count-state="waiting_recovery"]')
    expect(waiting).to_contain_text("4")

    asgi_console.run(
        services.transition_incident, incident_id=incident.pk, name="recover",
        actor=floor_supervisor(),
    )  # fmt: skip
    expect(supervisor.locator("#incident-head [data-state]")).to_have_attribute(
        "data-state", "recovered", timeout=PUSHED
    )

    seen = []
    for expected in ("2", "4"):
        asgi_console.run(services.fan_out_recovery_batch, incident_id=incident.pk, batch_size=2)
        expect(progress).to_have_attribute("data-done", expected, timeout=PUSHED)
        seen.append(supervisor.locator("[data-progress]").inner_text())
    expect(progress).to_have_attribute("data-total", "4")
    expect(waiting).to_have_count(0)
    assert seen[0] != seen[1]
    not_reloaded(supervisor)
    screenshot(supervisor, "live-gamas")


def floor_supervisor():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="supervisor.pusat")


def test_a_ticket_given_to_an_agent_brings_a_toast_and_the_dashboards_follow(
    asgi_console, live_logged_in, screenshot
):
    def floor_and_a_second_supervisor():
        floor = floor_with_names()
        factories.user("Supervisor", username="supervisor.dua")
        return floor

    floor = asgi_console.run(floor_and_a_second_supervisor)
    ticket = floor.target  # breached and waiting: on the dashboards' at-risk table

    agent = live_logged_in("agent.dua")
    agent.goto("/queues/mine/")
    live(agent)
    badge = agent.locator("#notif-count")
    expect(badge).to_have_text("0")
    expect(badge.locator("xpath=..")).to_be_hidden()

    watcher = live_logged_in("supervisor.dua")
    watcher.goto("/supervisor/")
    live(watcher)
    holder = watcher.locator(f'#at-risk tr[data-ticket="{ticket.number}"] td').nth(7)
    expect(holder).not_to_contain_text("agent.dua")

    # The supervisor hands the breached ticket to the second agent from the at-risk table.
    supervisor = live_logged_in("supervisor.pusat")
    supervisor.goto("/supervisor/")
    row = supervisor.locator(f'#at-risk tr[data-ticket="{ticket.number}"]')
    row.locator(f"#agent-{ticket.pk}").select_option(str(floor.second_agent.pk))
    row.locator("[data-action=reassign]").click()
    supervisor.wait_for_load_state()

    toast = agent.locator("#toasts .toast")
    expect(toast).to_be_visible(timeout=PUSHED)
    expect(toast).to_contain_text(ticket.number)
    expect(toast.locator(f'a[href="/tickets/{ticket.pk}/"]')).to_be_visible()
    expect(badge).to_have_text("1")
    expect(badge.locator("xpath=..")).to_be_visible()
    # The ticket arrived in "my tickets" too, pushed; the other supervisor's table shows it.
    expect(agent.locator(f'[data-ticket-row="{ticket.pk}"]')).to_be_visible(timeout=PUSHED)
    expect(holder).to_have_text("agent.dua", timeout=PUSHED)
    screenshot(agent, "live-toast")

    toast.locator("[data-toast-close]").click()
    expect(toast).to_have_count(0)
    not_reloaded(agent)
    not_reloaded(watcher)


def test_with_the_websocket_refused_the_page_says_so_and_polls(
    asgi_console, live_logged_in, monkeypatch
):
    monkeypatch.setattr("tickets.views.queues.REFRESH_SECONDS", 2)
    floor = asgi_console.run(floor_with_names)
    ticket = floor.target

    rival = live_logged_in("agent.dua")
    rival.context.route_web_socket("**/ws/live/", lambda socket: socket.close(code=1011))
    waiting_queue(rival)
    rival.evaluate("window.stillHere = true")
    note = rival.locator("#live-status")
    expect(note).to_be_visible(timeout=PUSHED)
    expect(note).to_contain_text("2")
    assert not rival.evaluate("window.tier2Live.open")

    row = rival.locator(f'[data-ticket-row="{ticket.pk}"]')
    expect(row).to_be_visible()
    asgi_console.run(services.claim_ticket, ticket_id=ticket.pk, agent=floor.agent)
    expect(row).to_have_count(0, timeout=PUSHED)  # by the 2 s poll
    not_reloaded(rival)

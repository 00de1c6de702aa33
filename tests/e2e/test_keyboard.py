"""The agent's whole loop from the keyboard (issue 17): a NOSSA ticket worked from the queue to
its close with key presses only, the focus checked after every page change and the messages
checked in the screen-reader regions; shortcuts that wait while the agent types; the "?" list
of shortcuts as an accessible dialog, in English and in Bahasa Indonesia.

In the journey nothing is clicked and no field is filled by locator: keys go to whatever has
the focus (`page.keyboard`), so a focus in the wrong place fails the test. Pages are found by
ids, data attributes and form addresses; the only words read are those the test compares with
the page's own message or with the catalogue's Indonesian.
"""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.e2e import demo_data
from tickets import services
from tickets.models import Note, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DIALOG_HAS_FOCUS = "document.getElementById('shortcuts').contains(document.activeElement)"


def key_of(page, action: str) -> str:
    """The digit an action's button shows (and answers to)."""
    button = page.locator(f'#ws-actions [data-action="{action}"]')
    key = button.get_attribute("data-key")
    assert key and key.isdigit()
    expect(button.locator("kbd")).to_have_text(key)
    expect(button).to_have_attribute("aria-keyshortcuts", key)
    return key


def settled(page) -> None:
    """A workspace's panels have loaded (they write evidence rows: on SQLite a write of ours at
    the same moment would find the table locked)."""
    if page.locator("#ticket-title").count():
        expect(page.locator("#customer-panel")).to_have_attribute("aria-busy", "false")
        expect(page.locator("#kiss-articles[hx-trigger]")).to_have_count(0)


def press_and_load(page, key: str) -> None:
    """A key that sends a form or opens a page: wait for the page that answers."""
    with page.expect_navigation():
        page.keyboard.press(key)
    page.wait_for_load_state()
    settled(page)


def expect_heard(page, *, error: bool = False) -> str:
    """The page's message, read out in the polite (or, for an error, assertive) region."""
    kind = ".msg-error" if error else ":not(.msg-error)"
    message = page.locator(f"#messages li{kind}").first
    text = " ".join(message.inner_text().split())
    assert text
    region = page.locator("#announce-assertive" if error else "#announce-polite")
    expect(region).to_have_text(text)
    return text


def expect_on_first_open_action(page) -> None:
    expect(page.locator("#ws-actions [data-key]:not([disabled])").first).to_be_focused()


def state_of(page):
    return page.locator("[data-state]")


def test_agent_works_a_nossa_ticket_from_the_queue_to_its_close_with_the_keyboard_only(logged_in):
    floor = demo_data.populate()
    ticket = floor.target
    agent = logged_in("agent.pusat")
    agent.goto("/queues/nossa/")

    # j / k move between the queue's rows; Enter opens the row's ticket, heading focused.
    rows = agent.locator("#queue-results [data-ticket-row] a.ticket-link")
    agent.keyboard.press("j")
    expect(rows.nth(0)).to_be_focused()
    agent.keyboard.press("j")
    expect(rows.nth(1)).to_be_focused()
    agent.keyboard.press("k")
    expect(rows.nth(0)).to_be_focused()
    agent.keyboard.press("j")
    opened = rows.nth(1).get_attribute("href")
    press_and_load(agent, "Enter")
    assert agent.url.endswith(opened)
    expect(agent.locator("#ticket-title")).to_be_focused()

    # g q: back to the queue it came from.
    with agent.expect_navigation():
        agent.keyboard.press("g")
        agent.keyboard.press("q")
    agent.wait_for_load_state()
    assert agent.url.endswith("/queues/nossa/")

    # n: Next ticket takes the most urgent one; the heading has the focus, the message is heard.
    press_and_load(agent, "n")
    assert agent.url.endswith(f"/tickets/{ticket.pk}/")
    expect(state_of(agent)).to_have_attribute("data-state", "claimed")
    expect(agent.locator("#ticket-title")).to_be_focused()
    assert ticket.number in expect_heard(agent)

    # A digit presses the step's action that shows it; the new step's first action has the focus.
    press_and_load(agent, key_of(agent, "start_diagnosis"))
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")
    expect_on_first_open_action(agent)
    expect_heard(agent)

    # e opens the escalation form in its field. Sent empty: the error is in the assertive region
    # and the focus is back in the field; typed (its letters are shortcuts too), it goes.
    agent.keyboard.press("e")
    expect(agent.locator("#id_escalate-reason")).to_be_focused()
    agent.keyboard.press("Tab")
    expect(agent.locator("#action-escalate button[type=submit]")).to_be_focused()
    press_and_load(agent, "Enter")
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")
    expect(agent.locator("#id_escalate-reason")).to_be_focused()
    expect_heard(agent, error=True)
    reason = "ONT tidak merespons ACS; mohon cek port OLT no 1/2 (n j k ? x)."
    agent.keyboard.type(reason)
    expect(agent.locator("#id_escalate-reason")).to_have_value(reason)
    agent.keyboard.press("Tab")
    press_and_load(agent, "Enter")
    expect(state_of(agent)).to_have_attribute("data-state", "escalated")
    expect_heard(agent)
    # Only Support acts on an escalated ticket: no action for the agent, the message has the focus.
    expect(agent.locator("#ws-actions [data-key]")).to_have_count(0)
    expect(agent.locator("#messages")).to_be_focused()

    # Support answers (on their own desk); the agent's page shows the ticket back.
    services.transition_ticket(
        ticket_id=ticket.pk,
        name="answer_escalation",
        actor=floor.support,
        inputs={"answer": "Port OLT sudah di-reset; silakan reboot ONT."},
        expected_state="escalated",
    )
    agent.reload()
    settled(agent)
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")

    # An action with inputs: its digit opens the form in the first field (a select: arrows).
    agent.keyboard.press(key_of(agent, "apply_remote_fix"))
    remote_action = agent.locator("#id_apply_remote_fix-action")
    expect(remote_action).to_be_focused()
    agent.keyboard.press("ArrowDown")
    expect(remote_action).to_have_value("reboot")
    agent.keyboard.press("Tab")
    expect(agent.locator("#id_apply_remote_fix-note")).to_be_focused()
    agent.keyboard.type("Reboot ONT dari ACS.")
    agent.keyboard.press("Tab")
    press_and_load(agent, "Enter")
    expect(state_of(agent)).to_have_attribute("data-state", "remote_fix")
    expect_on_first_open_action(agent)

    agent.keyboard.press(key_of(agent, "remote_fix_done"))
    expect(agent.locator("#id_remote_fix_done-note")).to_be_focused()
    agent.keyboard.type("ONT online setelah reboot.")
    agent.keyboard.press("Tab")
    press_and_load(agent, "Enter")
    expect(state_of(agent)).to_have_attribute("data-state", "verifying")
    expect_on_first_open_action(agent)

    # x before the customer was reached: the close is blocked and the reason is read out.
    agent.keyboard.press("x")
    expect(agent.locator("#announce-polite")).to_contain_text(
        " ".join(agent.locator("#why-close").inner_text().split())
    )
    expect(state_of(agent)).to_have_attribute("data-state", "verifying")

    # c: the call's outcome (the first, "answered"), a note, sent.
    agent.keyboard.press("c")
    expect(agent.locator("#id_contact-outcome_0")).to_be_focused()
    agent.keyboard.press("Space")
    expect(agent.locator("#id_contact-outcome_0")).to_be_checked()
    agent.keyboard.press("Tab")
    expect(agent.locator("#id_contact-note")).to_be_focused()
    agent.keyboard.type("Pelanggan konfirmasi internet normal.")
    agent.keyboard.press("Tab")
    press_and_load(agent, "Enter")
    expect_heard(agent)
    expect_on_first_open_action(agent)

    # m: a note.
    agent.keyboard.press("m")
    expect(agent.locator("#id_note-text")).to_be_focused()
    agent.keyboard.type("Dicek bersama pelanggan.")
    agent.keyboard.press("Tab")
    press_and_load(agent, "Enter")
    expect_heard(agent)
    assert Note.objects.filter(ticket=ticket, text="Dicek bersama pelanggan.").exists()

    # x now opens the close form: a closing code, a note, sent.
    agent.keyboard.press("x")
    code = agent.locator("#id_close-closing_code")
    expect(code).to_be_focused()
    agent.keyboard.press("ArrowDown")
    expect(code).to_have_value("FIXED_REMOTE")
    agent.keyboard.press("Tab")
    agent.keyboard.type("Selesai, dikonfirmasi.")
    agent.keyboard.press("Tab")
    press_and_load(agent, "Enter")
    expect(state_of(agent)).to_have_attribute("data-state", "closed")
    expect_heard(agent)
    expect(agent.locator("#ws-actions [data-key]")).to_have_count(0)
    expect(agent.locator("#messages")).to_be_focused()

    closed = Ticket.objects.get(pk=ticket.pk)
    assert closed.closed_at is not None
    assert closed.closing_code == "FIXED_REMOTE"
    assert closed.assignee == floor.agent


def test_shortcuts_wait_while_the_agent_types_and_ignore_modifier_keys(logged_in):
    demo_data.populate()
    agent = logged_in("agent.pusat")
    agent.goto("/queues/nossa/?assignee=none")

    # o opens the row the focus is in; t takes the ticket, and the focus goes to its first action.
    agent.keyboard.press("j")
    row = agent.locator("#queue-results [data-ticket-row] a.ticket-link").first
    expect(row).to_be_focused()
    address = row.get_attribute("href")
    # The queue redraws itself (its poll, or the live console's push): the focus stays on the
    # same row of the new table, not back at the page's start.
    with agent.expect_response(lambda response: "/queues/nossa/" in response.url):
        agent.evaluate(
            "htmx.ajax('GET', location.href, {target: '#queue-results', swap: 'outerHTML'})"
        )
    expect(agent.locator(f'#queue-results a.ticket-link[href="{address}"]')).to_be_focused()
    press_and_load(agent, "o")
    assert agent.url.endswith(address)
    expect(agent.locator("#ticket-title")).to_be_focused()
    press_and_load(agent, "t")
    expect(agent.locator(".owner")).to_have_text("agent.pusat")
    expect_heard(agent)
    expect_on_first_open_action(agent)
    ticket = Ticket.objects.get(pk=int(address.strip("/").split("/")[-1]))
    assert (ticket.state, ticket.assignee.username) == ("claimed", "agent.pusat")
    url = agent.url

    # In the note field every key is a letter of the note.
    agent.keyboard.press("m")
    note = agent.locator("#id_note-text")
    expect(note).to_be_focused()
    typed = "n j k o t c m e x r 1 2 / ? g q"
    agent.keyboard.type(typed)
    expect(note).to_have_value(typed)
    expect(note).to_be_focused()
    expect(agent.locator("#shortcuts")).to_be_hidden()
    assert agent.url == url
    assert Ticket.objects.get(pk=ticket.pk).state == "claimed"

    # Esc leaves the field; keys held with Alt, Ctrl or Shift are not shortcuts.
    agent.keyboard.press("Escape")
    expect(note).not_to_be_focused()
    start = key_of(agent, "start_diagnosis")
    for chord in (f"Alt+{start}", f"Control+{start}", "Alt+n", "Shift+N", "Shift+X"):
        agent.keyboard.press(chord)
    expect(agent.locator("#shortcuts")).to_be_hidden()
    assert agent.url == url
    expect(state_of(agent)).to_have_attribute("data-state", "claimed")
    assert Ticket.objects.get(pk=ticket.pk).state == "claimed"

    # Esc in an action's form closes the form; the focus is on its button again.
    agent.keyboard.press("e")
    expect(agent.locator("#id_escalate-reason")).to_be_focused()
    agent.keyboard.press("Escape")
    expect(agent.locator("#action-escalate")).not_to_have_attribute("open", "")
    expect(agent.locator("#action-escalate summary")).to_be_focused()

    # / is the page's search box (here My Kiss), where keys are letters again.
    agent.keyboard.press("/")
    expect(agent.locator("#kiss-q")).to_be_focused()
    agent.keyboard.type("x1")
    expect(agent.locator("#kiss-q")).to_have_value("x1")
    agent.keyboard.press("Escape")

    # r asks the customer panel again; the swap redraws the panel, and the focus stays on its
    # Refresh button (the same button in the new panel), not back at the page's start.
    with agent.expect_response(lambda response: "/panel/refresh/" in response.url):
        agent.keyboard.press("r")
    settled(agent)
    expect(agent.locator("#panel-refresh")).to_be_focused()

    # The plain digit, out of any field, presses the action.
    press_and_load(agent, start)
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")

    # g q: the queue page it came from, with its filter; g h: home.
    with agent.expect_navigation():
        agent.keyboard.press("g")
        agent.keyboard.press("q")
    assert agent.url.endswith("/queues/nossa/?assignee=none")
    with agent.expect_navigation():
        agent.keyboard.press("g")
        agent.keyboard.press("h")
    assert urlsplit(agent.url).path == "/"


def test_the_shortcuts_list_is_a_dialog_that_keeps_the_focus_in_both_languages(logged_in):
    factories.agent(username="agent.kunci")
    page = logged_in("agent.kunci")
    dialog = page.locator("#shortcuts")

    def open_from(selector: str) -> None:
        page.keyboard.press("?")
        expect(dialog).to_be_visible()
        expect(dialog).to_have_attribute("role", "dialog")
        expect(dialog).to_have_attribute("aria-modal", "true")
        expect(dialog.locator("#shortcuts-title")).to_be_focused()
        # Tab and Shift+Tab go round the dialog's controls and never leave it.
        for key in ("Tab", "Tab", "Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab", "Shift+Tab"):
            page.keyboard.press(key)
            assert page.evaluate(DIALOG_HAS_FOCUS), key
        # Other shortcuts wait while it is open.
        page.keyboard.press("g")
        page.keyboard.press("h")
        expect(dialog).to_be_visible()
        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(page.locator(selector)).to_be_focused()

    # A shortcut with nothing to act on here says so.
    page.keyboard.press("x")
    expect(page.locator("#announce-polite")).to_have_text(dialog.get_attribute("data-unavailable"))

    # Bahasa Indonesia, the console's default: opened from the skip link, closed with Esc.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    open_from(".skip-link")
    keys = set(dialog.locator("dt kbd").all_inner_texts())
    wanted = {"?", "n", "/", "g", "q", "h", "j", "k", "o", "Enter", "t", "1", "9", "c", "m", "e",
              "x", "r", "Esc"}  # fmt: skip
    assert wanted - keys == set()
    for text in ("Pintasan keyboard", "Tiket berikutnya", "Kembali ke antrean", "Catat panggilan",
                 "Tambah catatan", "Eskalasi ke Support", "Ambil tiket ini", "Tutup"):  # fmt: skip
        expect(dialog).to_contain_text(text)
    expect(dialog).not_to_contain_text("Back to the queue")

    # English, after the switch in the top bar; opened from the Next ticket button this time.
    page.locator("#lang-select").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.locator("#next-ticket-form button").focus()
    open_from("#next-ticket-form button")
    for text in ("Keyboard shortcuts", "Next ticket", "Back to the queue", "Record a call",
                 "Add a note", "Escalate to Support", "Take this ticket", "Close the ticket",
                 "Next row, previous row", "Open the ticket"):  # fmt: skip
        expect(dialog).to_contain_text(text)

    # "?" closes it too, and its Close button does, the focus going back each time.
    page.keyboard.press("?")
    expect(dialog).to_be_visible()
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    expect(page.locator("#next-ticket-form button")).to_be_focused()
    page.keyboard.press("?")
    page.keyboard.press("Tab")
    expect(dialog.locator("[data-shortcuts-close]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#next-ticket-form button")).to_be_focused()

    # Opened, closed and opened again within one task (before the first closing's "close" event
    # runs): the second closing still gives the focus back to the button.
    page.evaluate("""() => {
        const press = () => document.activeElement.dispatchEvent(
            new KeyboardEvent("keydown", {key: "?", bubbles: true, cancelable: true}));
        press(); press(); press();
    }""")
    expect(dialog).to_be_visible()
    page.keyboard.press("Tab")
    expect(dialog.locator("[data-shortcuts-close]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#next-ticket-form button")).to_be_focused()

    # Next ticket with nothing waiting: back where it was, the error has the focus and is heard.
    press_and_load(page, "n")
    assert urlsplit(page.url).path == "/"
    expect(page.locator("#messages")).to_be_focused()
    expect_heard(page, error=True)

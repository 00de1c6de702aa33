"""An agent's day in the browser: the NOSSA queue, Next ticket, the customer panel filling in,
an escalation Support answers, a remote fix verified with the customer, the close; and a
second agent who tried to take the same ticket and was told who has it.

The pages are in Bahasa Indonesia (the console's default); the test finds things by ids, data
attributes and form addresses, not by words. It takes screenshots (into docs/screenshots/ only
when TIER2_SCREENSHOTS_DIR asks for it).
"""

import pytest
from playwright.sync_api import expect

from integrations.models import AdapterCall
from tests.e2e import demo_data
from tickets.models import Escalation, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def state_of(page):
    return page.locator("[data-state]")


def take_action(page, name: str, **fields) -> None:
    """Press an action's button; for an action with inputs, open its form, fill it, send it."""
    details = page.locator(f"#action-{name}")
    if details.count():
        details.locator("summary").click()
        for field, value in fields.items():
            control = page.locator(f"#id_{name}-{field}")
            if control.evaluate("el => el.tagName") == "SELECT":
                control.select_option(value)
            else:
                control.fill(value)
        details.locator("button[type=submit]").click()
    else:
        page.locator(f"form[action$='/actions/{name}/'] button").click()
    page.wait_for_load_state()


def test_agent_takes_escalates_verifies_and_closes_a_nossa_ticket(logged_in, screenshot, settings):
    # I-SISKA answers slowly here, so the panel's "checking…" state is there to be seen.
    settings.TIER2_ADAPTERS = {**settings.TIER2_ADAPTERS, "isiska": {"latency_ms": 1500}}
    floor = demo_data.populate()
    ticket = floor.target
    customer = ticket.service.customer.name

    # A second agent opens the same waiting ticket: the Take button is there for them too.
    rival = logged_in("agent.dua")
    rival.goto(f"/tickets/{ticket.pk}/")
    expect(rival.locator("#take-button")).to_be_visible()

    # The agent's NOSSA queue, what waits for an agent: most urgent first, counted per state.
    agent = logged_in("agent.pusat")
    agent.goto("/queues/nossa/")
    agent.locator("#f-assignee").select_option("none")
    agent.wait_for_url("**assignee=none**")
    expect(agent.locator("#queue-results tbody tr").first).to_contain_text(ticket.number)
    waiting = Ticket.objects.filter(flow="nossa", assignee=None, closed_at=None).count()
    expect(agent.locator(".state-counts .count").first).to_have_text(str(waiting))
    assert "assignee=none" in agent.url  # the filter is in the address: refresh keeps it
    agent.keyboard.press("/")
    expect(agent.locator("#f-q")).to_be_focused()
    agent.keyboard.press("Escape")
    screenshot(agent, "queue")

    # "n" takes the most urgent ticket and opens it.
    agent.keyboard.press("n")
    agent.wait_for_url(f"**/tickets/{ticket.pk}/")
    expect(state_of(agent)).to_have_attribute("data-state", "claimed")
    expect(agent.locator(".owner")).to_have_text("agent.pusat")

    # The customer panel fills in from I-SISKA, Ibooster and E-payment, loaded after the page;
    # Refresh asks again, and the panel says it is checking until the answers are in.
    panel = agent.locator("#customer-panel")
    for source in ("isiska", "ibooster", "usage", "bills"):
        expect(panel.locator(f"[data-source={source}]")).to_have_attribute("data-status", "ok")
    expect(panel.locator("[data-source=isiska]")).to_contain_text(customer)
    expect(agent.locator("#panel-checking")).to_be_hidden()
    agent.locator("#panel-refresh").click()
    expect(agent.locator("#panel-checking")).to_be_visible()
    expect(agent.locator("#panel-checking")).to_be_hidden()
    expect(panel.locator("[data-source=isiska]")).to_have_attribute("data-status", "ok")
    expect(agent.locator("#kiss-articles li").first).to_be_visible()

    # The second agent, on their stale page, tries to take it: refused, and told by whom.
    rival.locator("#take-button").click()
    expect(rival.locator(".messages .msg-error")).to_contain_text("agent.pusat")
    expect(rival.locator(".owner")).to_have_text("agent.pusat")
    expect(rival.locator("#take-button")).to_have_count(0)
    expect(rival.locator("[data-source=bills]")).to_have_attribute("data-status", "ok")
    screenshot(rival, "collision")

    take_action(agent, "start_diagnosis")
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")

    # Escalating without a reason is explained next to the field; with one, it goes.
    take_action(agent, "escalate")
    expect(agent.locator("#action-escalate .field-error")).to_be_visible()
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")
    reason = "ONT tidak merespons ACS; mohon cek port OLT."
    agent.fill("#id_escalate-reason", reason)
    agent.locator("#action-escalate button[type=submit]").click()
    expect(state_of(agent)).to_have_attribute("data-state", "escalated")

    # Support finds it on the escalation desk and answers.
    support = logged_in("support.satu")
    support.goto("/queues/all/?state=escalated")
    support.locator(f"#row-{ticket.pk}").click()
    expect(state_of(support)).to_have_attribute("data-state", "escalated")
    expect(support.locator(".escalation")).to_contain_text(reason)
    support.locator("#action-answer_escalation summary").click()
    answer = "Port OLT sudah di-reset dari sisi jaringan; silakan reboot ONT dan verifikasi."
    support.fill("#id_answer_escalation-answer", answer)
    screenshot(support, "workspace_support")
    support.locator("#action-answer_escalation button[type=submit]").click()
    expect(state_of(support)).to_have_attribute("data-state", "diagnosing")

    # Back with the agent: the answer is on the timeline; fix remotely and verify.
    agent.reload()
    expect(state_of(agent)).to_have_attribute("data-state", "diagnosing")
    expect(agent.locator(".timeline")).to_contain_text(answer)
    take_action(agent, "apply_remote_fix", action="reboot")
    expect(state_of(agent)).to_have_attribute("data-state", "remote_fix")
    take_action(agent, "remote_fix_done", note="ONT sudah online setelah reboot.")
    expect(state_of(agent)).to_have_attribute("data-state", "verifying")

    # Closing waits for the customer to be reached; the button says so.
    expect(agent.locator("#why-close")).to_be_visible()
    agent.locator("#id_contact-outcome_0").check()  # answered
    agent.fill("#id_contact-note", "Pelanggan konfirmasi internet sudah normal.")
    agent.locator("#contact-form button[type=submit]").click()
    expect(agent.locator("#action-close summary")).to_be_visible()
    screenshot(agent, "workspace", full_page=True)

    take_action(agent, "close", closing_code="FIXED_REMOTE", note="Selesai, dikonfirmasi.")
    expect(state_of(agent)).to_have_attribute("data-state", "closed")
    expect(agent.locator(".messages .msg-success")).to_be_visible()

    closed = Ticket.objects.get(pk=ticket.pk)
    assert closed.closed_at is not None
    assert closed.closing_code == "FIXED_REMOTE"
    assert closed.assignee == floor.agent
    escalation = Escalation.objects.get(ticket=closed)
    assert (escalation.status, escalation.answer) == ("answered", answer)
    assert AdapterCall.objects.filter(
        ticket=closed, app="nossa", operation="close_ticket", status="succeeded"
    ).exists()

    # The SOP's flow diagrams, as the console draws them.
    agent.goto("/flows/")
    expect(agent.locator("svg.flow-svg")).to_have_count(8)
    screenshot(agent, "flows", full_page=True)

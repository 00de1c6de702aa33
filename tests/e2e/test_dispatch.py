"""Dispatch in the browser: an agent at a push site sets "available" in the top bar, gets a
ticket offered, accepts it (the workspace opens, the ticket is theirs), declines the next one
(it goes to the other agent), and goes on a break. A supervisor sees both on the agents page.

Pages are in Bahasa Indonesia; the test finds things by ids, data attributes and addresses.
"""

import pytest
from playwright.sync_api import expect

from tests import factories
from tickets.models import AgentProfile, Availability, DispatchMode, Offer, Site, Ticket
from tickets.services import dispatch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def push_at_pusat(dispatch_mode):
    dispatch_mode("PST", DispatchMode.PUSH, offer_seconds=120)


def run_dispatch():
    dispatch.dispatch_site(Site.objects.get(code="PST").pk)


def test_an_agent_goes_available_accepts_one_offer_and_declines_the_next(logged_in, screenshot):
    agent = factories.agent(site_code="PST", flows=("nossa",), username="agent.push")
    other = factories.agent(site_code="PST", flows=("nossa",), username="agent.lain")
    first = factories.flow_ticket("nossa")  # nobody is available: it waits

    page = logged_in("agent.push")
    page.goto("/queues/")
    select = page.locator("#availability-select")
    expect(select).to_have_value("offline")
    select.select_option("available")  # the form sends itself
    page.wait_for_load_state()
    expect(page.locator("#availability-select")).to_have_value("available")
    assert AgentProfile.objects.get(user=agent).availability == "available"

    # Becoming available asked for a dispatch (run at once here: Celery is eager in tests),
    # and the waiting ticket is offered to the only available agent.
    AgentProfile.objects.filter(user=other).update(availability=Availability.AVAILABLE)
    run_dispatch()
    offer = Offer.objects.get(ticket=first, status="pending")
    assert offer.agent_id == agent.pk
    page.reload()
    strip = page.locator(f"[data-offer='{offer.pk}']")
    expect(strip).to_contain_text(first.number)
    screenshot(page, "dispatch-offer", for_docs=False)
    strip.locator("[data-action=accept-offer]").click()
    page.wait_for_url(f"**/tickets/{first.pk}/")
    expect(page.locator("[data-state]")).to_have_attribute("data-state", "claimed")
    assert Ticket.objects.get(pk=first.pk).assignee_id == agent.pk

    # The next ticket arrives (its arrival asks for a dispatch). Neither agent counts as given
    # one, so the lower user id, agent.push, gets it; declined, it goes to agent.lain.
    AgentProfile.objects.filter(user__in=[agent, other]).update(last_assigned_at=None)
    second = factories.flow_ticket("nossa")
    offer = Offer.objects.get(ticket=second, status="pending")
    assert offer.agent_id == agent.pk
    page.goto("/queues/")
    page.locator(f"[data-offer='{offer.pk}'] [data-action=decline-offer]").click()
    page.wait_for_load_state()
    expect(page.locator(f"[data-offer='{offer.pk}']")).to_have_count(0)
    assert Offer.objects.get(pk=offer.pk).status == "declined"
    run_dispatch()
    assert Offer.objects.get(ticket=second, status="pending").agent_id == other.pk

    # A break: no more offers until available again.
    page.locator("#availability-select").select_option("break")
    page.wait_for_load_state()
    expect(page.locator("#availability-select")).to_have_value("break")
    AgentProfile.objects.filter(user=other).update(capacity=1)  # agent.lain is full
    third = factories.flow_ticket("nossa")
    run_dispatch()
    assert not Offer.objects.filter(ticket=third).exists()


def test_a_supervisor_changes_an_agents_capacity_and_availability(logged_in):
    agent = factories.agent(site_code="PST", flows=("nossa",), username="agent.push")
    factories.user("Supervisor", username="spv.push")

    page = logged_in("spv.push")
    page.goto("/supervisor/agents/")
    row = page.locator("[data-agent='agent.push']")
    expect(row).to_be_visible()
    prefix = f"#id_agent-{agent.pk}"
    page.locator(f"{prefix}-availability").select_option("available")
    page.locator(f"{prefix}-capacity").fill("4")
    page.locator(f"{prefix}-flow_limits").fill("nossa=2")
    row.locator("button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".messages .msg-success")).to_be_visible()
    profile = AgentProfile.objects.get(user=agent)
    assert (profile.availability, profile.capacity, profile.flow_capacity) == (
        "available",
        4,
        {"nossa": 2},
    )

    # A bad limit: the message names it, nothing is saved.
    page.locator(f"{prefix}-flow_limits").fill("nossa=0")
    page.locator("[data-agent='agent.push'] button[type=submit]").click()
    page.wait_for_load_state()
    expect(page.locator(".messages .msg-error")).to_be_visible()
    assert AgentProfile.objects.get(user=agent).flow_capacity == {"nossa": 2}

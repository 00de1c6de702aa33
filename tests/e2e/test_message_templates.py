"""An admin writes a message template in the browser: the placeholder list beside the texts
follows the Event select; a text with an unknown placeholder comes back with the error beside
its field and nothing saved; corrected, it is saved and listed.

The pages are in Bahasa Indonesia; the test finds things by ids and data attributes (and the
placeholder names, the same in both languages). It saves message_templates.png and
message_template_error.png (in its temporary folder, or in TIER2_SCREENSHOTS_DIR).
"""

import pytest
from playwright.sync_api import expect

from tests import factories
from tickets.models import MessageTemplate

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVENTS = (
    "report_received", "technician_dispatched", "restored", "closed", "lapul_apology",
    "gamas_opened", "gamas_recovered",
)  # fmt: skip


@pytest.fixture
def admin_page(logged_in):
    factories.user("Admin", username="admin.pesan")
    return logged_in("admin.pesan")


def shown_lists(page) -> list[str]:
    """The events whose placeholder list is on screen."""
    return [
        event
        for event in EVENTS
        if page.locator(f'#placeholders [data-placeholders-for="{event}"]').is_visible()
    ]


def test_an_admin_fixes_an_unknown_placeholder_and_saves_the_template(admin_page, screenshot):
    page = admin_page
    page.goto("/sla-policies/")
    page.locator("#message-templates-link").click()
    page.wait_for_url("**/supervisor/message-templates/")
    expect(page.locator("#no-templates")).to_be_visible()
    page.locator("#new-template").click()
    page.wait_for_url("**/supervisor/message-templates/new/")

    # No event chosen yet: every event's list; then only the chosen event's.
    assert shown_lists(page) == list(EVENTS)
    page.select_option("#id_event", "lapul_apology")
    expect(page.locator('[data-placeholders-for="lapul_apology"]')).to_be_visible()
    assert shown_lists(page) == ["lapul_apology"]
    expect(page.locator('[data-placeholders-for="lapul_apology"]')).to_contain_text(
        "{previous_ticket_number}"
    )
    page.select_option("#id_event", "report_received")
    expect(page.locator('[data-placeholders-for="report_received"]')).to_be_visible()
    assert shown_lists(page) == ["report_received"]

    page.fill("#id_text_id", "Halo {nama}, tiket {ticket_number} diterima.")
    page.locator("#save-template").click()
    page.wait_for_load_state()

    error = page.locator('[data-field="text_id"] .field-error')
    expect(error).to_be_visible()
    expect(error).to_contain_text("{nama}")
    expect(page.locator('[data-field="text_en"] .field-error')).to_have_count(0)
    expect(page.locator("#id_text_id")).to_have_value(
        "Halo {nama}, tiket {ticket_number} diterima."
    )
    assert shown_lists(page) == ["report_received"]  # the chosen event's list, after the answer
    assert not MessageTemplate.objects.exists()
    screenshot(page, "message_template_error")

    page.fill("#id_text_id", "Halo {customer_name}, tiket {ticket_number} diterima.")
    page.locator("#save-template").click()
    page.wait_for_url("**/supervisor/message-templates/")

    row = page.locator('#message-templates tr[data-event="report_received"]')
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Halo {customer_name}, tiket {ticket_number} diterima.")
    expect(row.locator('[data-approval=""]')).to_be_visible()  # SMS: no approval needed
    saved = MessageTemplate.objects.get()
    assert (saved.event, saved.flow, saved.channel, saved.active) == (
        "report_received", "", "sms", True
    )  # fmt: skip
    screenshot(page, "message_templates")

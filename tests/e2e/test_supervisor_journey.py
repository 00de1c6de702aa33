"""The supervisor and Support in the browser: the dashboard filtered by site and exported as
CSV, a ticket released from the at-risk table; the escalation desk, where Support answers an
escalation and the ticket goes back to its agent.

The floor is `demo_data.populate()` (the agent journey's Pusat floor) plus a Malang site, ten
days of history worked through the services (so the roll-ups, trends and agent table are real)
and escalations raised through the flow machines (so the desk has its evidence). The pages
are in Bahasa Indonesia; the test finds things by ids, data attributes and addresses. It saves
docs/screenshots/dashboard.png, slg_breaches.png, escalation_desk.png, escalation.png and
sla_policy.png.
"""

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from tests import factories
from tests.e2e import demo_data
from tests.tickets.test_dashboards import work_to_close
from tickets import services
from tickets.models import Escalation, EscalationStatus, SlaPolicy, Ticket

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REASONS = (
    "ONT LOS merah, redaman -40 dBm; mohon cek port OLT dari sisi Support",
    "Pelanggan minta kompensasi, gangguan lebih dari 3 hari",
    "ACS tidak bisa reboot ONT, perangkat tidak merespon",
)


def history(agents_by_site: dict, days: int = 10) -> None:
    """Tickets that arrived and were worked over the last `days` days at both sites."""
    now = timezone.now()
    for day in range(days, 0, -1):
        morning = now.replace(hour=2, minute=0, second=0, microsecond=0) - timedelta(days=day)
        for site_code, people in agents_by_site.items():
            for number in range(2 + day % 3):
                at = morning + timedelta(minutes=35 * number)
                with time_machine.travel(at, tick=False):
                    ticket = factories.arrive("nossa", service=factories.service_at(site_code))
                person = people[number % len(people)]
                escalate = factories.role_user("Support") if number == 1 and day % 2 else None
                with time_machine.travel(at + timedelta(minutes=4 + number), tick=False):
                    services.claim_ticket(ticket_id=ticket.pk, agent=person)
                with time_machine.travel(at + timedelta(minutes=20 + 7 * number), tick=False):
                    work_to_close(ticket, person, escalate_with=escalate)
            # One ticket a day that waited too long, and one still open.
            with time_machine.travel(morning, tick=False):
                late = factories.arrive("nossa", service=factories.service_at(site_code))
            services.sweep_sla(now=late.resolve_by + timedelta(minutes=1))
            if day % 4 == 0:
                with time_machine.travel(late.resolve_by + timedelta(hours=2), tick=False):
                    work_to_close(late, people[0])


def supervisor_floor():
    floor = demo_data.populate()
    malang = factories.agent(site_code="MLG", flows=("nossa", "c4_caring"), username="agent.malang")
    history({"PST": [floor.agent, floor.second_agent], "MLG": [malang]})
    for _ in range(3):
        factories.flow_ticket("c4_caring")
        factories.arrive("nossa", service=factories.service_at("MLG"))
    escalations = []
    for index, reason in enumerate(REASONS):
        ticket = factories.arrive("nossa", service=factories.service_at("PST"), summary=reason)
        agent = floor.agent if index else floor.second_agent
        escalations.append(demo_data.escalate(ticket, agent, reason))
    # Different answer deadlines: one already overdue, the others later.
    for minutes, escalation in zip((-25, 40, 95), escalations, strict=True):
        Escalation.objects.filter(pk=escalation.pk).update(
            due_at=timezone.now() + timedelta(minutes=minutes)
        )
    services.sweep_sla()
    return floor, escalations


def test_supervisor_filters_by_site_exports_csv_and_support_answers(logged_in, screenshot):
    floor, escalations = supervisor_floor()

    # --- The supervisor's dashboard: both sites, then Pusat only -----------------------------
    page = logged_in("supervisor.pusat")
    page.goto("/supervisor/")
    expect(page.locator('[data-tile="nossa-PST"]')).to_be_visible()
    expect(page.locator('[data-tile="nossa-MLG"]')).to_be_visible()
    expect(page.locator(".chart[data-drawn] svg").first).to_be_visible()
    assert page.locator(".chart[data-drawn] svg").count() == 5  # ageing + 2 x (trend, SLA %)

    page.locator("#id_site").select_option("PST")
    page.locator("#apply-filters").click()
    page.wait_for_url("**site=PST**")
    expect(page.locator('[data-tile="nossa-MLG"]')).to_have_count(0)
    tiles = page.locator("[data-tile]")
    assert tiles.count() >= 1
    assert all(name.endswith("-PST") for name in tiles.evaluate_all(
        "els => els.map(el => el.dataset.tile)"
    ))  # fmt: skip
    backlog = Ticket.objects.filter(flow="nossa", site__code="PST", closed_at=None).count()
    expect(page.locator('[data-tile="nossa-PST"] [data-k="backlog"]')).to_have_text(str(backlog))
    expect(page.locator("[data-agent]").first).to_be_visible()
    expect(page.locator(".risk-table tbody tr").first).to_be_visible()
    screenshot(page, "dashboard", full_page=True)

    # CSV of the tiles, with the site filter: a UTF-8 file with a BOM, named with the date.
    with page.expect_download() as download_info:
        page.locator("#live a.export[href*='/export/tiles.csv']").click()
    download = download_info.value
    assert download.suggested_filename.startswith("tier2-tiles-PST_")
    assert download.suggested_filename.endswith(f"{timezone.localdate().isoformat()}.csv")
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"\xef\xbb\xbf")
    lines = content.decode("utf-8-sig").splitlines()
    assert len(lines) >= 2
    assert all(line.split(",")[1] == "PST" for line in lines[1:])

    # The SLG compensation list, with the same filter: faults still not restored after 3x24 h.
    page.locator(".page-links a[href^='/supervisor/slg/']").click()
    page.wait_for_url("**/supervisor/slg/?**site=PST**")
    expect(page.locator(".slg-table tbody tr").first).to_be_visible()
    screenshot(page, "slg_breaches")
    page.go_back()
    page.wait_for_url("**/supervisor/?**site=PST**")

    # Release a held ticket at risk back to the queue, from the dashboard.
    held = page.locator(".risk-table tr:has([data-action=release])").first
    number = held.get_attribute("data-ticket")
    held.locator("[data-action=release]").click()
    page.wait_for_url("**site=PST**")
    expect(page.locator("#messages .msg-success")).to_contain_text(number)
    assert Ticket.objects.get(pk=int(number.split("-")[1])).assignee is None

    # --- Support's desk: the overdue escalation first; answer it -----------------------------
    desk = logged_in("support.satu")
    desk.goto("/desk/")
    rows = desk.locator("[data-escalation]")
    expect(rows).to_have_count(len(escalations))
    assert rows.evaluate_all("els => els.map(el => Number(el.dataset.escalation))") == [
        escalation.pk for escalation in escalations
    ]
    expect(rows.first).to_have_class("sla-breached")
    screenshot(desk, "escalation_desk", full_page=True)

    first = escalations[0]
    rows.first.locator("a.ticket-link").click()
    desk.wait_for_url(f"**/desk/{first.pk}/")
    expect(desk.locator(".calls-table")).to_be_visible()  # the systems' answers
    expect(desk.locator(".timeline")).to_be_visible()
    desk.locator("#answer-button").click()
    desk.locator("#id_answer-answer").fill("Port OLT sudah di-reset, redaman normal -19 dBm")
    screenshot(desk, "escalation", full_page=True)
    desk.locator("#answer-form button[type=submit]").click()
    desk.wait_for_url("**/desk/")
    expect(desk.locator("#messages .msg-success")).to_contain_text(first.ticket.number)
    expect(desk.locator(f'[data-escalation="{first.pk}"]')).to_have_count(0)

    answered = Escalation.objects.select_related("ticket").get(pk=first.pk)
    assert answered.status == EscalationStatus.ANSWERED
    assert answered.answered_by == floor.support
    assert answered.ticket.state == "diagnosing"  # back with its agent
    assert answered.ticket.assignee == floor.second_agent


def test_admin_edits_an_sla_policy_and_a_wrong_value_is_said_next_to_its_field(
    logged_in, screenshot
):
    factories.user("Admin", username="admin.satu")
    page = logged_in("admin.satu")
    page.goto("/sla-policies/")
    row = page.locator('[data-flow="nossa"] tr[data-priority="3"]')
    expect(row.locator(".default-badge")).to_be_visible()
    row.locator("a").click()
    page.wait_for_url("**/sla-policies/nossa/3/")
    page.locator("#id_claim_minutes").fill("0")
    page.locator("#id_hours_1").check()  # "a business calendar", and none chosen
    page.locator("#policy-form button[type=submit]").click()
    expect(page.locator(".field.has-error")).to_have_count(2)  # minutes, no calendar
    screenshot(page, "sla_policy", full_page=True)
    assert not SlaPolicy.objects.exists()

    page.locator("#id_claim_minutes").fill("10")
    page.locator("#id_calendar").select_option(label="Jam kerja WIB")
    page.locator("#policy-form button[type=submit]").click()
    page.wait_for_url("**/sla-policies/")
    expect(page.locator("#messages .msg-success")).to_be_visible()
    expect(row.locator('[data-k="claim"]')).to_contain_text("10")
    expect(row.locator('[data-k="calendar"]')).to_contain_text("Jam kerja WIB")
    policy = SlaPolicy.objects.select_related("calendar").get(flow="nossa", priority=3)
    assert (policy.claim_minutes, policy.hours, policy.calendar.name) == (
        10, "calendar", "Jam kerja WIB",
    )  # fmt: skip

"""A supervisor uploads call lists in the browser: a list with a bad row comes back rejected
with the row's line number; a good list's progress bar is polled until the import is done.

The pages are in Bahasa Indonesia; the test finds things by ids and data attributes. It saves
imports.png, import_rejected.png and import_done.png (in its temporary folder, or in
TIER2_SCREENSHOTS_DIR).
"""

import pytest
from playwright.sync_api import expect

from tests import factories
from tickets.models import Campaign, ImportJob, Ticket
from tickets.services import imports

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = "service_number,customer_name,phone,sto,olt,odp,summary\n"
GOOD = (
    HEADER
    + "131100090011,Budi Santoso,081234567801,STO-KBL,OLT-KBL-01,ODP-KBL-015,Tawaran 50 Mbps\n"
    + "131100090023,Siti Aminah,081234567802,STO-KBL,OLT-KBL-01,ODP-KBL-016,Tawaran 50 Mbps\n"
)
# Line 4 has an 11-digit service number.
BAD = (
    HEADER
    + "131100090035,Agus Wijaya,081234567803,STO-KBL,OLT-KBL-02,ODP-KBL-020,\n"
    + "131100090047,Dewi Lestari,081234567804,STO-KBL,OLT-KBL-02,ODP-KBL-020,\n"
    + "13110009005,Rudi Hartono,081234567805,STO-KBL,OLT-KBL-02,ODP-KBL-020,\n"
)


@pytest.fixture
def supervisor_page(logged_in):
    factories.user("Supervisor", username="spv.lists")
    Campaign.objects.create(code="ideas-juni", name="Ideas Juni", flow="ideas")
    return logged_in("spv.lists")


def upload(page, path):
    page.goto("/supervisor/imports/")
    page.select_option("#id_kind", "ideas")
    page.select_option("#id_campaign", "ideas-juni")
    page.set_input_files("#id_file", str(path))
    page.locator("#import-form button[type=submit]").click()
    page.wait_for_url("**/supervisor/imports/*/")


def test_a_rejected_list_shows_its_bad_row_by_line(supervisor_page, tmp_path, screenshot):
    bad = tmp_path / "ideas-juni.csv"
    bad.write_text(BAD, encoding="utf-8")
    page = supervisor_page
    page.locator('nav a[href="/supervisor/imports/"]').click()
    expect(page.locator("#import-form")).to_be_visible()
    screenshot(page, "imports")

    upload(page, bad)

    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-status", "failed")
    row = page.locator('#import-errors tr[data-line="4"]')
    expect(row).to_be_visible()
    expect(row).to_contain_text("service_number")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    screenshot(page, "import_rejected")
    assert not Ticket.objects.exists()


def test_the_progress_bar_is_polled_until_the_import_is_done(
    supervisor_page, tmp_path, screenshot, monkeypatch
):
    # No background worker here: the upload is stored and left waiting, and this test runs the
    # import itself once the page shows it waiting.
    monkeypatch.setattr(imports, "_dispatch", lambda job_id, task: None)
    good = tmp_path / "ideas-juni.csv"
    good.write_text(GOOD, encoding="utf-8")
    page = supervisor_page

    upload(page, good)

    status = page.locator("#import-status")
    expect(status).to_have_attribute("data-phase", "pending")
    expect(page.locator("#import-cancel button")).to_be_visible()
    job = ImportJob.objects.get()
    assert imports.run_import_job(job.pk) == "done"

    # The page's next poll swaps the finished status in, without a reload.
    expect(status).to_have_attribute("data-phase", "done", timeout=15_000)
    expect(page.locator("#import-status progress")).to_have_attribute("value", "100")
    expect(page.locator('[data-count="created"]')).to_have_text("2")
    expect(page.locator("#import-cancel")).to_have_count(0)
    screenshot(page, "import_done")
    assert Ticket.objects.filter(campaign__code="ideas-juni").count() == 2

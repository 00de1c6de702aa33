"""A 100,000-row list imports in the background, all in one transaction, with visible progress.

A thread stands in for the Celery worker (it runs the `run_import` task itself), so the test
needs PostgreSQL (two connections writing and reading at once) but no broker. The test thread
polls GET /api/imports/{id}/ like the console does while the import runs.
"""

import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from tickets import tasks
from tickets.models import Campaign, Customer, ImportJob, Service, Ticket

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROWS = 100_000
# About four minutes on a busy 2-CPU machine; see "Cost and limits" in docs/imports.md.
DEADLINE_SECONDS = 900


def big_list(rows: int) -> bytes:
    lines = ["service_number,customer_name,phone,sto,olt,odp,priority,summary"]
    lines += [
        f"13{n:010d},Pelanggan {n},0812{n:08d},STO-MLG,OLT-MLG-{n % 40:02d},"
        f"ODP-MLG-{n % 900:03d},{1 + n % 4},Caring call"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


@pytest.fixture
def worker_threads(monkeypatch):
    """`run_import.delay(job_id)` starts the task in a thread (a stand-in Celery worker)."""
    threads: list[threading.Thread] = []

    def work(job_id):
        try:
            tasks.run_import(job_id)
        finally:
            connection.close()

    def delay(job_id):
        thread = threading.Thread(target=work, args=(job_id,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(tasks.run_import, "delay", delay)
    yield threads
    for thread in threads:
        thread.join(DEADLINE_SECONDS)


def test_a_100k_row_list_imports_in_the_background_with_progress(
    api, supervisor_user, worker_threads
):
    campaign = Campaign.objects.create(code="c4-besar", name="C4 besar", flow="c4_caring")
    client = api(supervisor_user)
    content = big_list(ROWS)

    started = time.monotonic()
    accepted = client.post(
        "/api/imports/",
        {
            "file": SimpleUploadedFile("c4-besar.csv", content, "text/csv"),
            "kind": "c4_caring",
            "campaign": campaign.code,
        },
        format="multipart",
    )
    answered = time.monotonic() - started
    assert accepted.status_code == 202, accepted.content
    assert accepted.json()["total_rows"] == ROWS

    url = f"/api/imports/{accepted.json()['id']}/"
    seen = []
    while True:
        job = client.get(url).json()
        seen.append((job["phase"], job["progress_percent"]))
        if job["status"] in ("done", "failed"):
            break
        if time.monotonic() - started > DEADLINE_SECONDS:
            client.post(f"{url}cancel/")  # the worker rolls back at its next chunk
            for thread in worker_threads:
                thread.join(120)
            pytest.fail(
                f"not done after {DEADLINE_SECONDS}s, at {seen[-1]}: see 'Cost and limits' in "
                "docs/imports.md"
            )
        time.sleep(0.5)
    elapsed = time.monotonic() - started

    print(
        f"\n100k import: accepted in {answered:.1f}s, done in {elapsed:.0f}s "
        f"({ROWS / elapsed:.0f} rows/s), {len(seen)} progress polls"
    )
    assert job["status"] == "done", job["errors"][:5]
    assert (job["processed_rows"], job["progress_percent"]) == (ROWS, 100)
    assert job["created_tickets"] == ROWS
    importing = [percent for phase, percent in seen if phase == "importing"]
    assert any(0 < percent < 100 for percent in importing), seen
    assert importing == sorted(importing), "progress only goes forward"
    assert Ticket.objects.filter(campaign=campaign, flow="c4_caring").count() == ROWS
    assert Service.objects.count() == ROWS
    assert Customer.objects.count() == ROWS
    assert ImportJob.objects.get().finished_at is not None

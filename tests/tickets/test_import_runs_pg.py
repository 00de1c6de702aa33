"""Two runs of one import (a redelivered task) never both import it, and the job's row stays
writable while a run holds the job (PostgreSQL only: the advisory lock of
`imports._exclusive`). Threads stand for the workers, each on its own database connection.
"""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from tests import factories
from tests.integrations.worker import wait_until
from tickets.models import Campaign, ImportJob, Site, Ticket
from tickets.services import imports

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CSV = (
    "service_number,customer_name,phone,sto,olt,odp\n"
    "131100090011,Budi Santoso,081234567801,STO-KBL,OLT-KBL-01,ODP-KBL-015\n"
    "131100090023,Siti Aminah,081234567802,STO-KBL,OLT-KBL-01,ODP-KBL-016\n"
)


@pytest.fixture(autouse=True)
def sites():
    for code, name in (("PST", "Pusat"), ("MLG", "Malang")):
        Site.objects.get_or_create(code=code, defaults={"name": name})


@pytest.fixture
def job(db, monkeypatch):
    """A stored job; its task is not sent (the test runs the import itself)."""
    monkeypatch.setattr(imports, "_dispatch", lambda job_id, task: None)
    supervisor = factories.role_user("Supervisor")
    ideas = Campaign.objects.create(code="ideas-juni", name="Ideas Juni", flow="ideas")
    return imports.start_import(
        kind="ideas", file_name="juni.csv", content=CSV, campaign=ideas, uploaded_by=supervisor
    )


def waiting_for_the_lock() -> bool:
    """Some session waits for an advisory lock of the imports' namespace."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = %s",
            [imports.IMPORT_LOCK_NAMESPACE],
        )
        return cursor.fetchone()[0] > 0


def test_a_second_run_waits_for_the_first_and_finds_the_job_finished(job):
    holding, finish = threading.Event(), threading.Event()
    results = {}

    def first_run():  # holds the job as a run importing it would, and finishes it
        try:
            with imports._exclusive(job.pk):
                holding.set()
                finish.wait(60)
                # The job's row is not locked by the run: anyone may write it meanwhile.
                ImportJob.objects.filter(pk=job.pk).update(
                    status="done", finished_at=timezone.now()
                )
        finally:
            connections.close_all()

    def second_run():
        try:
            results["second"] = imports.run_import_job(job.pk)
        finally:
            connections.close_all()

    first = threading.Thread(target=first_run)
    first.start()
    assert holding.wait(30)
    second = threading.Thread(target=second_run)
    second.start()
    wait_until(waiting_for_the_lock, timeout=30, what="the second run to wait for the lock")
    # While a run holds the job, a cancel request is written on its row at once.
    ImportJob.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())
    finish.set()
    first.join(30)
    second.join(30)

    assert results == {"second": "done"}
    assert not Ticket.objects.exists()  # the second run imported nothing


def test_a_cancel_asked_while_the_rows_are_checked_stops_the_run(job, monkeypatch):
    """The request is read every 5,000 rows checked, before any ticket is created."""
    lines = [
        f"13110{n:07d},Pelanggan {n},0812{n:08d},STO-KBL,OLT-KBL-01,ODP-KBL-015"
        for n in range(1, 5002)
    ]
    big = "service_number,customer_name,phone,sto,olt,odp\n" + "\n".join(lines) + "\n"
    ImportJob.objects.filter(pk=job.pk).update(content=big, total_rows=5001)
    real_publish = imports._publish
    published = []

    def ask_while_checking(job_id, phase, done):
        real_publish(job_id, phase, done)
        published.append((phase, done))
        if (phase, done) == ("validating", 5000):
            ImportJob.objects.filter(pk=job_id).update(cancel_requested_at=timezone.now())

    monkeypatch.setattr(imports, "_publish", ask_while_checking)
    assert imports.run_import_job(job.pk) == "failed"
    assert ("validating", 5000) in published
    assert not any(phase == "importing" for phase, _done in published)
    assert not Ticket.objects.exists()

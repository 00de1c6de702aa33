"""The call-list page with a real Celery worker: the upload is imported by the worker, the page
follows its progress, and a cancel sent from the page stops it.

The page runs in this process (Django's test client) and the worker in its own, against the
pytest-django test database and the Redis under test (broker and cache), as in production. To
catch the import half-way for certain (never by timing), a second connection of this process
holds an uncommitted line with the service number of row 700: the worker imports the first chunk
of 500 rows, publishes its progress, then waits on that line's unique number in its second
chunk until the test lets it go.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL).
"""

from __future__ import annotations

import re
import threading

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections, transaction

from tests import factories
from tests.integrations import worker
from tickets.models import Campaign, ImportJob, Service, Ticket
from tickets.services import imports

pytestmark = [
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]

TIMEOUT_SECONDS = 180
HEADER = "service_number,customer_name,phone,sto,olt,odp\n"


def number(n: int) -> str:
    return f"13110009{n:04d}"


def list_of(rows: int) -> str:
    lines = [
        f"{number(n)},Pelanggan {n},0812{n:08d},STO-KBL,OLT-KBL-01,ODP-KBL-015"
        for n in range(1, rows + 1)
    ]
    return HEADER + "\n".join(lines) + "\n"


@pytest.fixture
def page(client, supervisor):
    client.force_login(supervisor)
    return client


@pytest.fixture
def ideas(db):
    return Campaign.objects.create(code="ideas-juni", name="Ideas Juni", flow="ideas")


@pytest.fixture
def running_worker(processes, shared_broker, database_url):
    return processes.start_worker(redis_url=shared_broker, database_url=database_url)


def upload(page, content: str) -> ImportJob:
    """Upload through the console's form; the task goes to the worker when the upload commits."""
    response = page.post(
        "/supervisor/imports/",
        {
            "kind": "ideas",
            "campaign": "ideas-juni",
            "file": SimpleUploadedFile("juni.csv", content.encode(), "text/csv"),
        },
    )
    assert response.status_code == 302, response.content.decode()
    return ImportJob.objects.order_by("-pk").first()


def shown(page, job: ImportJob) -> dict:
    """What the progress part the page polls says: status, phase, rows done."""
    html = page.get(f"/supervisor/imports/{job.pk}/progress/").content.decode()
    found = re.search(
        r'data-status="(\w+)" data-phase="(\w+)" data-done="(\d+)" data-total="(\d+)"', html
    )
    assert found, html
    status, phase, done, total = found.groups()
    return {"status": status, "phase": phase, "done": int(done), "total": int(total), "html": html}


def wait_for(processes, page, job, wanted, what: str) -> dict:
    """Poll the progress part as the page does until `wanted(shown)` holds; what it showed."""

    def done():
        crashed = processes.task_errors()
        if crashed:
            raise AssertionError(f"a task crashed on the worker: {crashed[0]}")
        now = shown(page, job)
        return now if wanted(now) else None

    try:
        return worker.wait_until(done, timeout=TIMEOUT_SECONDS, interval=0.5, what=what)
    except AssertionError as problem:
        raise AssertionError(f"{problem}\n{processes.logs()}") from None


class HeldLine:
    """A line inserted and not committed by another connection: an insert of the same service
    number waits for it. `release()` rolls it back, and the waiting insert goes on."""

    def __init__(self, service_number: str) -> None:
        self.service_number = service_number
        self.held, self.released = threading.Event(), threading.Event()
        self.problem: BaseException | None = None
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                factories.ServiceFactory(service_number=self.service_number)
                self.held.set()
                self.released.wait(TIMEOUT_SECONDS)
                transaction.set_rollback(True)
        except BaseException as problem:  # noqa: BLE001 - reported by the test thread
            self.problem = problem
            self.held.set()
        finally:
            connections.close_all()

    def __enter__(self) -> HeldLine:
        self.thread.start()
        assert self.held.wait(30) and self.problem is None, self.problem
        return self

    def release(self) -> None:
        self.released.set()
        self.thread.join(30)

    def __exit__(self, *exc_info) -> None:
        self.release()


def test_a_list_is_imported_by_the_worker_and_the_page_shows_it_done(
    page, ideas, running_worker, processes
):
    job = upload(page, list_of(3))
    final = wait_for(processes, page, job, lambda now: now["status"] == "done", "the import")

    assert (final["phase"], final["done"], final["total"]) == ("done", 3, 3)
    assert '<dd data-count="created">3</dd>' in final["html"]
    assert "hx-trigger" not in final["html"]
    assert Ticket.objects.filter(campaign=ideas).count() == 3


def test_the_page_follows_a_running_import_and_its_cancel_stops_the_worker(
    page, ideas, running_worker, processes
):
    assert imports.CHUNK_ROWS == 500  # the worker's chunk: progress after rows 500 and 1,000
    with HeldLine(number(700)) as held:
        job = upload(page, list_of(1000))
        halfway = wait_for(
            processes,
            page,
            job,
            lambda now: (now["phase"], now["done"]) == ("importing", 500),
            "the first chunk's progress",
        )
        assert (halfway["status"], halfway["total"]) == ("running", 1000)
        assert "Importing: 500 of 1000 rows (50 %)." in halfway["html"]
        assert 'id="import-cancel"' in halfway["html"]

        # The cancel request is written on the job's row while the import's transaction runs:
        # it is answered at once, and the page says the import is stopping.
        answer = page.post(f"/supervisor/imports/{job.pk}/cancel/", follow=True)
        assert "Stopping: the import stops at its next rows" in answer.content.decode()
        held.release()

    failed = wait_for(processes, page, job, lambda now: now["status"] == "failed", "the stop")
    job.refresh_from_db()
    # The worker writes the reason in its own language (the console's default, Indonesian).
    assert [(error["line"], error["field"]) for error in job.errors] == [(0, "")]
    assert "supervisor1" in job.errors[0]["message"]
    assert job.errors[0]["message"] in failed["html"]
    assert job.created_tickets == 0
    assert not Ticket.objects.exists()
    # The first chunk's lines went with the rolled-back transaction, and so did the held one.
    assert not Service.objects.filter(service_number__in=[number(1), number(700)]).exists()

"""The console's call-list page (upload, progress, cancel, rejected rows by line) and the
Callback record entered by hand, for supervisors and admins.

The CSV files are written here by hand; the line numbers expected are counted in them (line 1
is the header, as a spreadsheet shows it).
"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests import factories
from tickets.models import Campaign, Customer, ImportJob, Service, Ticket
from tickets.services import imports

pytestmark = pytest.mark.django_db

UPLOAD = "/supervisor/imports/"
CALLBACK = "/supervisor/callback-records/new/"

GOOD_IDEAS = (
    "Service Number,customer_name,phone,sto,olt,odp,priority,summary\n"
    "131100090011,Budi Santoso,0812-3456-7801,STO-KBL,OLT-KBL-01,ODP-KBL-015,,Tawaran 50 Mbps\n"
    "131100090023,Siti Aminah,081234567802,STO-KBL,OLT-KBL-01,ODP-KBL-016,high,Tawaran 50 Mbps\n"
    "\n"
    "131100090035,Agus Wijaya,081234567803,STO-KBL,OLT-KBL-02,ODP-KBL-020,,\n"
)
# Line 3: a phone of letters. Line 4: an 8-digit service number. Line 6 repeats line 2's
# service. Line 5 is fine.
BAD_IDEAS = (
    "service_number,customer_name,phone,sto,olt,odp\n"
    "131100090041,Dewi Lestari,081234567804,STO-KBL,OLT-KBL-01,ODP-KBL-015\n"
    "131100090053,Rudi Hartono,telepon saya,STO-KBL,OLT-KBL-01,ODP-KBL-015\n"
    "13110009,Wati,081234567806,STO-KBL,OLT-KBL-01,ODP-KBL-015\n"
    "131100090077,Joko Susilo,081234567807,STO-KBL,OLT-KBL-01,ODP-KBL-015\n"
    "131100090041,Dewi Lestari,081234567804,STO-KBL,OLT-KBL-01,ODP-KBL-015\n"
)
FORCE_CLOSE = (
    "nossa_number,service_number,customer_name,phone,sto,olt,odp,category\n"
    "IN16672489,131100090089,Ani Yudhoyono,081234567808,STO-KBL,OLT-KBL-01,ODP-KBL-015,INTERNET\n"
)


@pytest.fixture
def ideas(db):
    return Campaign.objects.create(code="ideas-juni", name="Ideas Juni", flow="ideas")


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


def csv_file(content, name="list.csv"):
    data = content.encode("utf-8") if isinstance(content, str) else content
    return SimpleUploadedFile(name, data, "text/csv")


def post_list(client, content, *, kind="ideas", campaign="ideas-juni", name="list.csv"):
    data = {"kind": kind, "campaign": campaign or "", "file": csv_file(content, name)}
    return client.post(UPLOAD, data)


def uploaded(client, content, capture, **fields) -> ImportJob:
    """Upload through the page; the import runs as the upload commits (eager Celery)."""
    with capture(execute=True):
        response = post_list(client, content, **fields)
    assert response.status_code == 302, response.content.decode()
    job = ImportJob.objects.order_by("-pk").first()
    assert response["Location"] == f"/supervisor/imports/{job.pk}/"
    return job


def status_part(html: str) -> str:
    start = html.index('id="import-status"')
    return html[start : html.index("</section>", start)]


def attribute(html: str, name: str) -> str:
    found = re.search(rf'{name}="([^"]*)"', status_part(html))
    assert found, name
    return found.group(1)


def error_rows(html: str) -> list[tuple[str, str]]:
    """(line, column) of every row of the rejected-rows table."""
    table = html[html.index('id="import-errors"') :]
    table = table[: table.index("</table>")]
    return re.findall(r'<tr data-line="(\d+)">.*?<code>([a-z_]+)</code>', table, re.S)


# --- The page and a good list ------------------------------------------------------------------
def test_the_page_offers_the_kinds_the_active_campaigns_and_the_columns(supervisor_client, ideas):
    Campaign.objects.create(code="c4-lama", name="C4 lama", flow="c4_caring", active=False)
    html = supervisor_client.get(UPLOAD).content.decode()

    assert 'enctype="multipart/form-data"' in html
    for kind in ("c4_caring", "ideas", "force_close"):
        assert f'value="{kind}"' in html
    assert 'value="ideas-juni"' in html
    assert "c4-lama" not in html  # an inactive campaign is not offered
    assert "nossa_number" in html  # the Force Close columns are explained


def test_a_good_list_becomes_tickets_and_the_page_shows_the_counts(
    supervisor_client, ideas, django_capture_on_commit_callbacks
):
    job = uploaded(supervisor_client, GOOD_IDEAS, django_capture_on_commit_callbacks)

    assert (job.status, job.total_rows, job.created_tickets) == ("done", 3, 3)
    tickets = Ticket.objects.filter(campaign=ideas, flow="ideas", source_system="ideas-list")
    assert sorted(tickets.values_list("source_ref", flat=True)) == [
        "ideas-juni:131100090011",
        "ideas-juni:131100090023",
        "ideas-juni:131100090035",
    ]
    assert tickets.get(source_ref="ideas-juni:131100090023").priority == 2  # "high"
    html = supervisor_client.get(f"/supervisor/imports/{job.pk}/").content.decode()
    assert (attribute(html, "data-status"), attribute(html, "data-phase")) == ("done", "done")
    assert '<progress max="100" value="100"' in status_part(html)
    assert '<dd data-count="created">3</dd>' in html
    assert '<dd data-count="existing">0</dd>' in html
    assert "hx-trigger" not in status_part(html)  # finished: no more polling
    assert 'id="import-cancel"' not in html


def test_the_same_list_again_creates_nothing_and_says_so(
    supervisor_client, ideas, django_capture_on_commit_callbacks
):
    uploaded(supervisor_client, GOOD_IDEAS, django_capture_on_commit_callbacks)
    again = uploaded(supervisor_client, GOOD_IDEAS, django_capture_on_commit_callbacks)

    assert (again.status, again.processed_rows, again.created_tickets) == ("done", 3, 0)
    html = supervisor_client.get(f"/supervisor/imports/{again.pk}/").content.decode()
    assert '<dd data-count="created">0</dd>' in html
    assert '<dd data-count="existing">3</dd>' in html
    assert Ticket.objects.count() == 3


def test_a_force_close_list_needs_no_campaign(
    supervisor_client, django_capture_on_commit_callbacks
):
    job = uploaded(
        supervisor_client, FORCE_CLOSE, django_capture_on_commit_callbacks,
        kind="force_close", campaign=None,
    )  # fmt: skip
    assert job.status == "done"
    ticket = Ticket.objects.get()
    assert (ticket.flow, ticket.source_system, ticket.nossa_number) == (
        "force_close",
        "nossa-fc",
        "IN16672489",
    )


# --- Rejected rows -----------------------------------------------------------------------------
def test_bad_rows_are_listed_with_their_line_numbers_and_nothing_is_created(
    supervisor_client, ideas, django_capture_on_commit_callbacks
):
    job = uploaded(supervisor_client, BAD_IDEAS, django_capture_on_commit_callbacks)

    assert job.status == "failed"
    html = supervisor_client.get(f"/supervisor/imports/{job.pk}/").content.decode()
    assert attribute(html, "data-status") == "failed"
    assert error_rows(html) == [("3", "phone"), ("4", "service_number"), ("6", "service_number")]
    assert "A service number is 12 digits." in html
    assert "Already in line 2 of this file." in html
    assert "Rejected: nothing was imported." in html
    assert not Ticket.objects.exists()
    assert not Service.objects.exists()
    assert not Customer.objects.exists()


# --- Bad files: form errors, nothing stored ------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("service_number\n131100090011\n".encode("utf-16"), "not UTF-8 text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not UTF-8 text"),
        (b"service_number\n1311\x00\n", "not a CSV text file"),
        (b"nama,telepon\nBudi,0812\n", "Line 1 must name the columns service_number"),
        (b"service_number,phone,service_number\n131100090011,0812,x\n", "Columns named twice"),
        (b"service_number,customer_name\n", "no rows under its header"),
        (b"", "The submitted file is empty."),
    ],
    ids=["utf-16", "binary", "nul-byte", "wrong-header", "column-twice", "header-only", "empty"],
)
def test_a_file_that_is_not_a_csv_list_is_a_form_error(supervisor_client, ideas, content, message):
    response = post_list(supervisor_client, content)

    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert 'class="field has-error"' in html
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_refused_before_it_is_read(supervisor_client, ideas, monkeypatch):
    monkeypatch.setattr(imports, "MAX_FILE_BYTES", 2 * 2**20)
    big = "service_number\n" + "131100090011\n" * (2 * 2**20 // 13 + 1)
    response = post_list(supervisor_client, big)
    assert response.status_code == 422
    assert "The file is over 2 MB." in response.content.decode()
    assert not ImportJob.objects.exists()


def test_the_kind_and_the_campaign_must_fit(supervisor_client, ideas):
    Campaign.objects.create(code="c4-juni", name="C4 Juni", flow="c4_caring")
    no_kind = post_list(supervisor_client, GOOD_IDEAS, kind="")
    wrong_campaign = post_list(supervisor_client, GOOD_IDEAS, kind="ideas", campaign="c4-juni")
    force_close_campaign = post_list(supervisor_client, FORCE_CLOSE, kind="force_close")
    unknown = post_list(supervisor_client, GOOD_IDEAS, campaign="tidak-ada")

    assert no_kind.status_code == 422
    assert "This field is required." in no_kind.content.decode()
    assert "Campaign c4-juni is not a Ideas campaign." in wrong_campaign.content.decode()
    assert "Force Close lists have no campaign." in force_close_campaign.content.decode()
    assert unknown.status_code == 422
    assert not ImportJob.objects.exists()


def test_a_list_without_a_campaign_is_rejected_row_by_row(
    supervisor_client, ideas, django_capture_on_commit_callbacks
):
    """No campaign chosen and none in the rows: the job lists every row (the API's rule)."""
    job = uploaded(supervisor_client, GOOD_IDEAS, django_capture_on_commit_callbacks, campaign="")
    html = supervisor_client.get(f"/supervisor/imports/{job.pk}/").content.decode()
    assert error_rows(html) == [("2", "campaign"), ("3", "campaign"), ("5", "campaign")]


# --- Progress while the job runs ---------------------------------------------------------------
def started(supervisor, ideas, rows: int = 4) -> ImportJob:
    """A job stored and waiting (its task is queued on commit, which a test never reaches)."""
    lines = [
        f"13110009{n:04d},Pelanggan {n},0812{n:08d},STO-KBL,OLT-KBL-01,ODP-KBL-015"
        for n in range(1, rows + 1)
    ]
    content = "service_number,customer_name,phone,sto,olt,odp\n" + "\n".join(lines) + "\n"
    return imports.start_import(
        kind="ideas", file_name="juni.csv", content=content, campaign=ideas,
        uploaded_by=supervisor,
    )  # fmt: skip


def test_a_waiting_job_polls_and_offers_cancel(supervisor_client, supervisor, ideas):
    job = started(supervisor, ideas)
    html = supervisor_client.get(f"/supervisor/imports/{job.pk}/").content.decode()

    part = status_part(html)
    assert f'hx-get="/supervisor/imports/{job.pk}/progress/"' in part
    assert 'hx-trigger="every 2s"' in part
    assert attribute(html, "data-phase") == "pending"
    assert "Waiting for the background worker: 4 rows." in part
    assert 'id="import-cancel"' in part


def test_the_progress_part_follows_the_import(supervisor_client, supervisor, ideas):
    job = started(supervisor, ideas)
    url = f"/supervisor/imports/{job.pk}/progress/"
    ImportJob.objects.filter(pk=job.pk).update(status="running")

    validating = supervisor_client.get(url).content.decode()
    assert attribute(validating, "data-phase") == "validating"
    assert "Checking 4 rows." in validating
    assert "<progress aria-labelledby" in validating  # indeterminate while rows are checked

    imports._publish(job.pk, "importing", 3)
    importing = supervisor_client.get(url).content.decode()
    assert (attribute(importing, "data-phase"), attribute(importing, "data-done")) == (
        "importing",
        "3",
    )
    assert "Importing: 3 of 4 rows (75 %)." in importing
    assert '<progress max="100" value="75"' in importing
    assert "hx-trigger" in importing
    assert "<html" not in importing  # the part alone, to swap in

    imports.run_import_job(job.pk)
    done = supervisor_client.get(url).content.decode()
    assert attribute(done, "data-phase") == "done"
    assert "hx-trigger" not in done
    assert '<dd data-count="created">4</dd>' in done


# --- Cancel ------------------------------------------------------------------------------------
def test_cancelling_a_waiting_job_fails_it_at_once(supervisor_client, supervisor, ideas):
    job = started(supervisor, ideas)
    response = supervisor_client.post(f"/supervisor/imports/{job.pk}/cancel/")

    assert response.status_code == 302
    assert response["Location"] == f"/supervisor/imports/{job.pk}/"
    html = supervisor_client.get(response["Location"]).content.decode()
    assert attribute(html, "data-status") == "failed"
    assert "Nothing was imported: cancelled by supervisor1" in html
    assert imports.run_import_job(job.pk) == "failed"  # its queued task changes nothing
    assert not Ticket.objects.exists()


def test_cancelling_a_running_job_stops_it_at_its_next_check(supervisor_client, supervisor, ideas):
    job = started(supervisor, ideas)
    ImportJob.objects.filter(pk=job.pk).update(status="running")

    response = supervisor_client.post(f"/supervisor/imports/{job.pk}/cancel/", follow=True)
    html = response.content.decode()
    assert "The import stops at its next rows; nothing of it will be kept." in html
    assert "Stopping: the import stops at its next rows and keeps nothing." in html
    assert 'id="import-cancel"' not in html  # asked once is enough
    job.refresh_from_db()
    assert (job.status, job.cancel_requested_by) == ("running", supervisor)

    # The worker (here: the redelivered task) reads the request from the row and stops.
    assert imports.run_import_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.errors[0]["message"] == "Nothing was imported: cancelled by supervisor1"
    assert not Ticket.objects.exists()


def test_a_cancel_asked_between_chunks_rolls_the_whole_import_back(supervisor, ideas, monkeypatch):
    """The request lands on the row while the transaction runs; the next chunk's check sees it."""
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    job = started(supervisor, ideas, rows=5)
    real_publish = imports._publish

    def ask_after_the_first_chunk(job_id, phase, done):
        real_publish(job_id, phase, done)
        if phase == "importing" and done == 2:
            ImportJob.objects.filter(pk=job_id).update(
                cancel_requested_at="2026-06-01T10:00:00+07:00", cancel_requested_by=supervisor
            )

    monkeypatch.setattr(imports, "_publish", ask_after_the_first_chunk)
    assert imports.run_import_job(job.pk) == "failed"
    assert not Ticket.objects.exists()
    assert not Service.objects.exists()


def test_a_finished_job_cannot_be_cancelled(
    supervisor_client, ideas, django_capture_on_commit_callbacks
):
    job = uploaded(supervisor_client, GOOD_IDEAS, django_capture_on_commit_callbacks)
    response = supervisor_client.post(f"/supervisor/imports/{job.pk}/cancel/", follow=True)
    assert "The import is already Done." in response.content.decode()
    job.refresh_from_db()
    assert (job.status, job.cancel_requested_at) == ("done", None)
    assert Ticket.objects.count() == 3


def test_cancel_is_a_post(supervisor_client, supervisor, ideas):
    job = started(supervisor, ideas)
    assert supervisor_client.get(f"/supervisor/imports/{job.pk}/cancel/").status_code == 405
    assert ImportJob.objects.get(pk=job.pk).status == "pending"


def test_an_unknown_job_is_404(supervisor_client):
    assert supervisor_client.get("/supervisor/imports/999999/").status_code == 404
    assert supervisor_client.get("/supervisor/imports/999999/progress/").status_code == 404
    assert supervisor_client.post("/supervisor/imports/999999/cancel/").status_code == 404


def test_the_page_lists_the_latest_uploads(supervisor_client, supervisor, ideas):
    job = started(supervisor, ideas)
    html = supervisor_client.get(UPLOAD).content.decode()
    assert f'<tr data-job="{job.pk}">' in html
    assert f'href="/supervisor/imports/{job.pk}/">juni.csv</a>' in html


# --- Who may -----------------------------------------------------------------------------------
@pytest.fixture
def people(db, supervisor):
    return {
        "agent": factories.agent(site_code="PST", flows=("nossa", "ideas")),
        "support": factories.role_user("Support"),
        "system": factories.role_user("System"),
        "supervisor": supervisor,
        "admin": factories.role_user("Admin"),
    }


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("agent", 403),
        ("support", 403),
        ("system", 403),
        ("supervisor", 200),
        ("admin", 200),
        ("anonymous", 302),
    ],
)
def test_only_supervisors_and_admins_open_the_pages(people, ideas, role, expected):
    job = started(people["supervisor"], ideas)
    client = client_of(people.get(role))
    for url in (
        UPLOAD,
        f"/supervisor/imports/{job.pk}/",
        f"/supervisor/imports/{job.pk}/progress/",
        CALLBACK,
    ):
        response = client.get(url)
        assert response.status_code == expected, url
        if expected == 302:
            assert response["Location"].startswith("/login/")
        if expected == 403:
            assert "Only supervisors and admins upload call lists." in response.content.decode()


@pytest.mark.parametrize("role", ["agent", "support", "system", "anonymous"])
def test_the_others_change_nothing(people, ideas, role):
    job = started(people["supervisor"], ideas)
    client = client_of(people.get(role))
    client.post(UPLOAD, {"kind": "ideas", "campaign": "ideas-juni", "file": csv_file(GOOD_IDEAS)})
    client.post(f"/supervisor/imports/{job.pk}/cancel/")
    client.post(CALLBACK, {"record_id": "CB2941730401", "service_number": "131100090011"})
    assert list(ImportJob.objects.values_list("pk", "status")) == [(job.pk, "pending")]
    assert not Ticket.objects.exists()


@pytest.mark.parametrize(
    ("role", "has_link"),
    [("agent", False), ("support", False), ("supervisor", True), ("admin", True)],
)
def test_the_nav_links_the_page_for_supervisors_and_admins(people, role, has_link):
    html = client_of(people[role]).get("/").content.decode()
    nav = html[html.index("<nav") : html.index("</nav>")]
    assert ('href="/supervisor/imports/"' in nav) is has_link


# --- A Callback record by hand -----------------------------------------------------------------
NEW_LINE = {
    "customer_name": "Budi Santoso",
    "phone": "0812 3456 7801",
    "sto": "STO-KBL",
    "olt": "OLT-KBL-01",
    "odp": "ODP-KBL-015",
}


def test_a_callback_record_becomes_a_callback_ticket_once(supervisor_client):
    record = {
        "record_id": "cb2941730401",
        "service_number": "131100090011",
        "summary": "Internet mati, minta dihubungi kembali",
        **NEW_LINE,
    }
    first = supervisor_client.post(CALLBACK, record)
    ticket = Ticket.objects.get()
    assert first.status_code == 302
    assert first["Location"] == f"/tickets/{ticket.pk}/"
    assert (ticket.flow, ticket.source_system, ticket.source_ref) == (
        "callback",
        "callback",
        "CB2941730401",
    )
    assert ticket.summary == "Internet mati, minta dihubungi kembali"
    assert ticket.service.customer.phone == "081234567801"
    assert ticket.site.code == "PST"  # last digit 1: odd, Pusat

    again = supervisor_client.post(CALLBACK, record, follow=True)
    assert f"Callback record CB2941730401 was already ticket #{ticket.pk}." in (
        again.content.decode()
    )
    assert Ticket.objects.count() == 1


def test_a_known_line_needs_no_customer_fields(supervisor_client):
    service = factories.service_at("MLG")
    response = supervisor_client.post(
        CALLBACK,
        {
            "record_id": "CB2941730402",
            "service_number": service.service_number,
            "summary": "Telepon rumah tidak ada nada panggil",
        },
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert (ticket.service, ticket.site.code) == (service, "MLG")


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"record_id": "CB123"}, "record_id", "A Callback record is CB and 10 digits"),
        ({"record_id": "IN16672489"}, "record_id", "A Callback record is CB and 10 digits"),
        ({"service_number": "1311000900"}, "service_number", "A service number is 12 digits."),
        ({"summary": ""}, "summary", "This field is required."),
        ({"phone": "telepon"}, "phone", "Enter a phone number of 8 to 15 digits"),
        ({"odp": "ODP KBL 015"}, "odp", "Enter a network code"),
        ({"reported_at": "2999-01-01T10:00"}, "reported_at", "cannot be from the future"),
    ],
)
def test_a_wrong_callback_field_is_said_beside_it_and_nothing_is_created(
    supervisor_client, fields, field, message
):
    record = {
        "record_id": "CB2941730403",
        "service_number": "131100090013",
        "summary": "Internet lambat",
        **NEW_LINE,
        **fields,
    }
    response = supervisor_client.post(CALLBACK, record)
    assert response.status_code == 422
    html = response.content.decode()
    assert message in html
    assert re.search(rf'<div class="field has-error">\s*<label for="id_{field}"', html)
    assert not Ticket.objects.exists()
    assert not Service.objects.exists()


def test_a_new_line_with_some_customer_fields_needs_them_all(supervisor_client):
    response = supervisor_client.post(
        CALLBACK,
        {
            "record_id": "CB2941730404",
            "service_number": "131100090015",
            "summary": "Internet mati",
            "customer_name": "Budi Santoso",
        },
    )
    assert response.status_code == 422
    assert "Needed to create a service that is not known yet." in response.content.decode()
    assert not Ticket.objects.exists()
    assert not Customer.objects.exists()


def test_a_new_line_without_customer_fields_is_asked_of_isiska(supervisor_client):
    """As the Callback pull does: the I-SISKA stub knows every well-formed number."""
    response = supervisor_client.post(
        CALLBACK,
        {"record_id": "CB2941730405", "service_number": "131100090017", "summary": "LOS merah"},
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.service.customer.name  # from I-SISKA's answer
    assert ticket.flow == "callback"


def test_a_cancel_reaches_the_worker_even_when_the_cache_drops_every_write(
    supervisor_client, supervisor, ideas, monkeypatch
):
    """The cache may lose what it holds (Redis down: writes are dropped); a cancel request may
    not, so it is kept on the job's row."""
    from django.core.cache.backends.dummy import DummyCache

    monkeypatch.setattr(imports, "cache", DummyCache("dropped", {}))
    job = started(supervisor, ideas)
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    supervisor_client.post(f"/supervisor/imports/{job.pk}/cancel/")

    assert imports.run_import_job(job.pk) == "failed"
    assert not Ticket.objects.exists()


def test_when_isiska_cannot_tell_a_new_line_the_form_asks_for_its_fields(
    supervisor_client, monkeypatch
):
    from integrations.adapters import AdapterUnavailable

    def unavailable(service_number):
        raise AdapterUnavailable("I-SISKA is down")

    monkeypatch.setattr("tickets.services.intake._profile_fields", unavailable)
    response = supervisor_client.post(
        CALLBACK,
        {"record_id": "CB2941730406", "service_number": "131100090019", "summary": "LOS merah"},
    )
    assert response.status_code == 422
    assert "I-SISKA could not tell this new line" in response.content.decode()
    assert not Ticket.objects.exists()

"""CSV lists (C4 Caring, Ideas, Force Close): validation by line, all-or-nothing, progress."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests import factories
from tickets.exceptions import InvalidInput, TransitionForbidden
from tickets.models import Campaign, Customer, ImportJob, Service, Ticket
from tickets.services import imports

pytestmark = pytest.mark.django_db

HEADER = "service_number,customer_name,phone,sto,olt,odp,priority,summary"


def row(number: int, **overrides) -> str:
    values = {
        "service_number": f"13110009{number:04d}",
        "customer_name": f"Pelanggan {number}",
        "phone": f"0812{number:08d}",
        "sto": "STO-KBL",
        "olt": "OLT-KBL-01",
        "odp": "ODP-KBL-015",
        "priority": "",
        "summary": "Tawaran 50 Mbps",
        **overrides,
    }
    return ",".join(values.values())


def csv_of(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def ideas_campaign(db):
    return Campaign.objects.create(code="ideas-juni", name="Ideas Juni", flow="ideas")


@pytest.fixture
def c4_campaign(db):
    return Campaign.objects.create(code="c4-juni", name="C4 Juni", flow="c4_caring")


def upload(client, text, *, kind="ideas", campaign="ideas-juni", name="list.csv"):
    content = text.encode("utf-8") if isinstance(text, str) else text
    data = {"file": SimpleUploadedFile(name, content, "text/csv"), "kind": kind}
    if campaign:
        data["campaign"] = campaign
    return client.post("/api/imports/", data, format="multipart")


# --- validate_rows ----------------------------------------------------------------------------
def test_a_good_list_validates_with_no_errors(ideas_campaign):
    rows, errors = imports.validate_rows(
        "ideas", csv_of(row(1), row(2, priority="high")), campaign=ideas_campaign
    )
    assert errors == []
    assert [item["line"] for item in rows] == [2, 3]
    assert rows[1]["priority"] == 2


@pytest.mark.parametrize(
    ("bad_row", "field"),
    [
        (row(2, service_number="1311"), "service_number"),
        (row(2, phone="call me"), "phone"),
        (row(2, customer_name=""), "customer_name"),
        (row(2, odp=""), "odp"),
        (row(2, priority="urgent"), "priority"),
        (row(2, summary="x" * 256), "summary"),
        (row(1), "service_number"),  # the same service twice in the campaign
    ],
)
def test_each_rule_names_the_line_and_the_field(ideas_campaign, bad_row, field):
    text = csv_of(row(1), bad_row, row(3))
    rows, errors = imports.validate_rows("ideas", text, campaign=ideas_campaign)
    assert rows == []
    assert [(error["line"], error["field"]) for error in errors] == [(3, field)]


def test_a_known_service_needs_no_customer_columns(ideas_campaign):
    service = factories.service_at("PST")
    text = csv_of(service.service_number, header="service_number")
    rows, errors = imports.validate_rows("ideas", text, campaign=ideas_campaign)
    assert errors == []
    assert rows[0]["service_number"] == service.service_number


def test_the_campaign_comes_from_the_upload_or_the_row(ideas_campaign, c4_campaign):
    header = f"{HEADER},campaign"
    text = csv_of(
        row(1) + ",ideas-juni", row(2) + ",c4-juni", row(3) + ",nope", row(4) + ",", header=header
    )
    _rows, errors = imports.validate_rows("ideas", text)
    assert [(error["line"], error["field"]) for error in errors] == [
        (3, "campaign"),  # a C4 campaign on an Ideas list
        (4, "campaign"),  # no such campaign
        (5, "campaign"),  # none at all
    ]


def test_force_close_rows_need_a_nossa_number_once(db):
    header = f"nossa_number,{HEADER}"
    text = csv_of(
        "IN16672489," + row(1), "IN1667248," + row(2), "IN16672489," + row(3), header=header
    )
    _rows, errors = imports.validate_rows("force_close", text)
    assert [(error["line"], error["field"]) for error in errors] == [
        (3, "nossa_number"),
        (4, "nossa_number"),
    ]
    assert "line 2" in errors[1]["message"]


def test_a_file_without_the_columns_fails_on_line_1(ideas_campaign):
    _rows, errors = imports.validate_rows("ideas", "name,phone\nA,0812\n", campaign=ideas_campaign)
    assert errors[0]["line"] == 1
    assert "service_number" in errors[0]["message"]


def test_too_many_errors_are_cut_with_a_count(ideas_campaign, monkeypatch):
    monkeypatch.setattr(imports, "MAX_REPORTED_ERRORS", 3)
    text = csv_of(*[row(n, phone="x") for n in range(1, 7)])
    _rows, errors = imports.validate_rows("ideas", text, campaign=ideas_campaign)
    assert len(errors) == 4
    assert "3 more" in errors[-1]["message"]


# --- The API: upload, background import, progress ---------------------------------------------
def test_a_good_list_is_imported_in_the_background(
    api, supervisor_user, ideas_campaign, eager_celery, django_capture_on_commit_callbacks
):
    client = api(supervisor_user)
    with django_capture_on_commit_callbacks(execute=True):
        accepted = upload(client, csv_of(row(1), row(2), row(3, priority="1")))

    assert accepted.status_code == 202
    assert accepted.json()["total_rows"] == 3
    job = client.get(f"/api/imports/{accepted.json()['id']}/").json()
    assert (job["status"], job["phase"], job["progress_percent"]) == ("done", "done", 100)
    assert job["created_tickets"] == 3
    tickets = Ticket.objects.filter(campaign=ideas_campaign)
    assert tickets.count() == 3
    assert set(tickets.values_list("flow", flat=True)) == {"ideas"}
    assert tickets.filter(priority=1).count() == 1


def test_one_bad_row_imports_nothing_and_names_the_row(
    api, supervisor_user, ideas_campaign, eager_celery, django_capture_on_commit_callbacks
):
    client = api(supervisor_user)
    text = csv_of(row(1), row(2), row(3, service_number="13110009"), row(4))
    with django_capture_on_commit_callbacks(execute=True):
        accepted = upload(client, text)

    job = client.get(f"/api/imports/{accepted.json()['id']}/").json()
    assert job["status"] == "failed"
    assert job["errors"] == [
        {"line": 4, "field": "service_number", "message": "A service number is 12 digits."}
    ]
    assert job["created_tickets"] == 0
    assert not Ticket.objects.exists()
    assert not Service.objects.exists()
    assert not Customer.objects.exists()


def test_importing_the_same_list_again_creates_nothing_new(
    api, supervisor_user, c4_campaign, eager_celery, django_capture_on_commit_callbacks
):
    client = api(supervisor_user)
    text = csv_of(row(1), row(2))
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            last = upload(client, text, kind="c4_caring", campaign="c4-juni")
    job = client.get(f"/api/imports/{last.json()['id']}/").json()
    assert (job["status"], job["created_tickets"], job["processed_rows"]) == ("done", 0, 2)
    assert Ticket.objects.filter(flow="c4_caring", site__code="MLG").count() == 2


def test_a_force_close_list_shares_the_pull_source(
    api, supervisor_user, eager_celery, django_capture_on_commit_callbacks
):
    text = csv_of("IN16672489," + row(1), header=f"nossa_number,{HEADER}")
    with django_capture_on_commit_callbacks(execute=True):
        accepted = upload(api(supervisor_user), text, kind="force_close", campaign=None)
    assert accepted.status_code == 202
    ticket = Ticket.objects.get()
    assert (ticket.flow, ticket.source_system, ticket.source_ref, ticket.nossa_number) == (
        "force_close",
        "nossa-fc",
        "IN16672489",
        "IN16672489",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("service_number\n".encode("utf-16"), "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "UTF-8"),
        (b"service_number\n1311\x00\n", "CSV"),
        (b"name,phone\nA,0812\n", "service_number"),
        (b"", ""),  # DRF: the submitted file is empty
        (b"service_number\n", "no rows"),
    ],
)
def test_a_file_that_is_not_a_csv_list_is_400(
    api, supervisor_user, ideas_campaign, content, message
):
    response = upload(api(supervisor_user), content)
    assert response.status_code == 400
    assert message in " ".join(response.json()["errors"]["file"])
    assert not ImportJob.objects.exists()


def test_a_file_over_the_limit_is_400(api, supervisor_user, ideas_campaign, monkeypatch):
    monkeypatch.setattr(imports, "MAX_FILE_BYTES", 100)
    response = upload(api(supervisor_user), csv_of(row(1), row(2)))
    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_the_campaign_must_fit_the_kind(api, supervisor_user, c4_campaign):
    client = api(supervisor_user)
    wrong = upload(client, csv_of(row(1)), kind="ideas", campaign="c4-juni")
    assert wrong.status_code == 400
    assert "campaign" in wrong.json()["errors"]
    unknown = upload(client, csv_of(row(1)), kind="ideas", campaign="nope")
    assert unknown.status_code == 400
    assert "campaign" in unknown.json()["errors"]
    bad_kind = upload(client, csv_of(row(1)), kind="pizza")
    assert "kind" in bad_kind.json()["errors"]


def test_only_supervisors_upload_and_read_imports(api, nossa_agent, ideas_campaign):
    assert upload(api(nossa_agent), csv_of(row(1))).status_code == 403
    assert api(nossa_agent).get("/api/imports/").status_code == 403
    with pytest.raises(TransitionForbidden):
        imports.start_import(
            kind="ideas", file_name="a.csv", content=csv_of(row(1)), campaign=ideas_campaign,
            uploaded_by=nossa_agent,
        )  # fmt: skip


def test_the_console_form_calls_the_same_function(supervisor_user, ideas_campaign):
    job = imports.start_import(
        kind="ideas",
        file_name="juni.csv",
        content=("\ufeff" + csv_of(row(1))).encode("utf-8"),
        campaign=ideas_campaign,
        uploaded_by=supervisor_user,
    )
    assert (job.status, job.total_rows, job.file_name) == ("pending", 1, "juni.csv")
    with pytest.raises(InvalidInput) as refused:
        imports.start_import(
            kind="force_close", file_name="x.csv", content=csv_of(row(1)),
            campaign=ideas_campaign, uploaded_by=supervisor_user,
        )  # fmt: skip
    assert "campaign" in refused.value.errors


def test_progress_is_read_from_the_cache_while_the_import_runs(supervisor_user, ideas_campaign):
    job = imports.start_import(
        kind="ideas", file_name="a.csv", content=csv_of(*[row(n) for n in range(1, 5)]),
        campaign=ideas_campaign, uploaded_by=supervisor_user,
    )  # fmt: skip
    ImportJob.objects.filter(pk=job.pk).update(status="running")
    job.refresh_from_db()
    assert imports.progress_of(job)["phase"] == "validating"
    imports._publish(job.pk, "importing", 3)
    assert imports.progress_of(job) == {
        "phase": "importing",
        "processed_rows": 3,
        "progress_percent": 75,
    }


def test_a_job_run_twice_is_imported_once(supervisor_user, ideas_campaign):
    job = imports.start_import(
        kind="ideas", file_name="a.csv", content=csv_of(row(1), row(2)),
        campaign=ideas_campaign, uploaded_by=supervisor_user,
    )  # fmt: skip
    assert imports.run_import_job(job.pk) == "done"
    assert imports.run_import_job(job.pk) == "done"
    assert Ticket.objects.count() == 2
    assert imports.run_import_job(987654) == "missing"


def test_an_odd_file_name_is_cleaned_not_refused(api, supervisor_user, ideas_campaign):
    response = upload(api(supervisor_user), csv_of(row(1)), name="juni\x07" + "x" * 300 + ".csv")
    assert response.status_code == 202
    name = response.json()["file_name"]
    assert len(name) <= 255
    assert name.isprintable()


def test_a_waiting_import_is_cancelled_and_never_runs(api, supervisor_user, ideas_campaign):
    job = imports.start_import(
        kind="ideas", file_name="a.csv", content=csv_of(row(1)), campaign=ideas_campaign,
        uploaded_by=supervisor_user,
    )  # fmt: skip
    response = api(supervisor_user).post(f"/api/imports/{job.pk}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "failed"
    assert "cancelled by" in response.json()["errors"][0]["message"]
    assert response.json()["cancel_requested_at"] is not None
    assert imports.run_import_job(job.pk) == "failed"
    assert not Ticket.objects.exists()
    again = api(supervisor_user).post(f"/api/imports/{job.pk}/cancel/")
    assert again.status_code == 409


def test_a_running_import_stops_at_its_next_chunk_and_keeps_nothing(
    supervisor_user, ideas_campaign, monkeypatch
):
    monkeypatch.setattr(imports, "CHUNK_ROWS", 2)
    job = imports.start_import(
        kind="ideas", file_name="a.csv", content=csv_of(*[row(n) for n in range(1, 6)]),
        campaign=ideas_campaign, uploaded_by=supervisor_user,
    )  # fmt: skip
    real_publish = imports._publish

    def cancel_midway(job_id, phase, done):
        real_publish(job_id, phase, done)
        if phase == "importing" and done == 2:
            imports.cancel_import(job_id=job_id, actor=supervisor_user)

    monkeypatch.setattr(imports, "_publish", cancel_midway)
    assert imports.run_import_job(job.pk) == "failed"
    job.refresh_from_db()
    assert "cancelled by" in job.errors[0]["message"]
    assert not Ticket.objects.exists()
    assert not Service.objects.exists()

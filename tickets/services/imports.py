"""Supervisors' CSV lists (C4 Caring, Ideas, Force Close): validated, then imported whole.

CSV lists (C4 Caring, Ideas campaign, Force Close) are imported all-or-nothing in the background:

1. `start_import(...)` (the console's upload form and `POST /api/imports/`) checks the file is a
   UTF-8 CSV of the kind's columns, stores it as an `ImportJob` and queues `tasks.run_import`.
2. `run_import_job(job_id)` (the task) validates every row (`validate_rows`). One bad row and the
   job fails with every error listed by line, and nothing is created.
3. Otherwise it creates the tickets through `intake.create_ticket` (the arrival rules apply)
   inside ONE transaction, and publishes its progress through the cache while that transaction
   runs, because the job row itself only changes when the transaction commits. A cancel
   request is written on the job's row (`cancel_import`) and read between chunks. See
   docs/imports.md.

Rows become tickets through the intake (`intake.find_or_create_services` for their lines, then
`intake.create_ticket`), the same one that pulls and pushed reports use.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from celery import current_app
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import roles
from ..exceptions import InvalidInput, TransitionForbidden, TransitionNotAllowed
from ..models import (
    Campaign,
    Flow,
    ImportJob,
    ImportKind,
    ImportStatus,
    Priority,
    Service,
)
from .intake import bulk_arrivals, create_ticket, find_or_create_services

log = logging.getLogger(__name__)
# The Celery task that runs an import (tickets.tasks), named: the services sit below the tasks.
IMPORT_TASK = "tickets.tasks.run_import"

SERVICE_NUMBER_RE = re.compile(r"[0-9]{12}")
NOSSA_NUMBER_RE = re.compile(r"IN[0-9]{8}")
CALLBACK_RECORD_RE = re.compile(r"CB[0-9]{10}")  # the Callback app's record numbers
PHONE_RE = re.compile(r"\+?[0-9]{8,15}")
PHONE_SEPARATORS = re.compile(r"[\s\-().]")
AREA_CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/\-]*")

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_REPORTED_ERRORS = 1000
CHUNK_ROWS = 500  # rows created between two progress reports (and one service look-up)
PROGRESS_TIMEOUT_SECONDS = 6 * 3600
PRIORITY_WORDS = {str(label).lower(): value for value, label in Priority.choices} | {
    name.lower(): value for name, value in Priority.__members__.items()
}


# --- Field rules shared by the CSV lists and the ingestion endpoints -------------------------
def clean_service_number(value: str) -> str:
    value = (value or "").strip()
    if not SERVICE_NUMBER_RE.fullmatch(value):
        raise ValueError(_("A service number is 12 digits."))
    return value


def clean_nossa_number(value: str) -> str:
    value = (value or "").strip().upper()
    if not NOSSA_NUMBER_RE.fullmatch(value):
        raise ValueError(_("A NOSSA number is IN and 8 digits, like IN16672489."))
    return value


def clean_callback_record(value: str) -> str:
    value = (value or "").strip().upper()
    if not CALLBACK_RECORD_RE.fullmatch(value):
        raise ValueError(_("A Callback record is CB and 10 digits, like CB2941730401."))
    return value


def clean_phone(value: str) -> str:
    """A contact number: 8 to 15 digits, an optional leading +; spaces and dashes dropped."""
    value = PHONE_SEPARATORS.sub("", value or "")
    if not PHONE_RE.fullmatch(value):
        raise ValueError(_("Enter a phone number of 8 to 15 digits (an optional leading +)."))
    return value


def clean_area_code(value: str) -> str:
    value = (value or "").strip()
    if not value or len(value) > 16 or not AREA_CODE_RE.fullmatch(value):
        raise ValueError(_("Enter a network code of letters, digits, dots, dashes or slashes."))
    return value


def clean_text(value: str, max_length: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValueError(_("This field is required."))
    if len(value) > max_length:
        raise ValueError(_("Keep it under %(max)d characters.") % {"max": max_length})
    return value


def clean_priority(value: str) -> int:
    value = (value or "").strip().lower()
    if not value:
        return Priority.NORMAL
    if value.isascii() and value.isdigit() and int(value) in Priority.values:
        return int(value)
    if value in PRIORITY_WORDS:
        return PRIORITY_WORDS[value]
    raise ValueError(_("Priority is 1 to 4 or critical, high, normal, low."))


# The fields a new service (and its customer) is created from, with their rules.
SERVICE_FIELDS: dict[str, Callable[[str], str]] = {
    "customer_name": lambda value: clean_text(value, 128, required=True),
    "phone": clean_phone,
    "sto": clean_area_code,
    "olt": clean_area_code,
    "odp": clean_area_code,
}
OPTIONAL_SERVICE_FIELDS: dict[str, Callable[[str], str]] = {
    "address": lambda value: clean_text(value, 255),
    "package": lambda value: clean_text(value, 64),
}


# --- CSV lists: what each kind looks like -----------------------------------------------------
@dataclass(frozen=True)
class ListKind:
    flow: str
    source_system: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    needs_campaign: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return self.required + self.optional


SERVICE_COLUMNS = ("customer_name", "phone", "sto", "olt", "odp", "address", "package")
LIST_KINDS: dict[str, ListKind] = {
    ImportKind.C4_CARING: ListKind(
        flow=Flow.C4_CARING,
        source_system="c4-list",
        required=("service_number",),
        optional=(*SERVICE_COLUMNS, "priority", "summary", "campaign"),
        needs_campaign=True,
    ),
    ImportKind.IDEAS: ListKind(
        flow=Flow.IDEAS,
        source_system="ideas-list",
        required=("service_number",),
        optional=(*SERVICE_COLUMNS, "priority", "summary", "campaign"),
        needs_campaign=True,
    ),
    # The same source as the periodic Force Close pull, so a ticket pulled and listed is one.
    ImportKind.FORCE_CLOSE: ListKind(
        flow=Flow.FORCE_CLOSE,
        source_system="nossa-fc",
        required=("nossa_number", "service_number"),
        optional=(*SERVICE_COLUMNS, "priority", "summary", "category"),
    ),
}


def source_ref_of(kind: str, row: dict) -> str:
    """One ticket per campaign and service (lists), or per NOSSA number (Force Close)."""
    if kind == ImportKind.FORCE_CLOSE:
        return row["nossa_number"]
    return f"{row['campaign_code']}:{row['service_number']}"


@dataclass
class _Problems:
    items: list[dict] = field(default_factory=list)
    total: int = 0

    def add(self, line: int, column: str, message: str) -> None:
        self.total += 1
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"line": line, "field": column, "message": str(message)})

    def as_list(self) -> list[dict]:
        items = sorted(self.items, key=lambda item: item["line"])
        if self.total > len(self.items):
            more = self.total - len(self.items)
            items.append(
                {
                    "line": 0,
                    "field": "",
                    "message": _("%(count)d more errors are not listed.") % {"count": more},
                }
            )
        return items


def decode_upload(content: str | bytes) -> str:
    """The file as text: UTF-8 (a byte-order mark is allowed), no NUL characters."""
    if isinstance(content, bytes):
        if len(content) > MAX_FILE_BYTES:
            raise InvalidInput(
                {"file": [_("The file is over %(mb)d MB.") % {"mb": MAX_FILE_BYTES // 2**20}]}
            )
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError as problem:
            raise InvalidInput(
                {"file": [_("The file is not UTF-8 text; save the list as CSV UTF-8.")]}
            ) from problem
    content = content.removeprefix("\ufeff")
    if "\x00" in content:
        raise InvalidInput({"file": [_("The file is not a CSV text file.")]})
    return content


def _reader(text: str):
    return csv.reader(io.StringIO(text, newline=""), strict=True)


def _header(kind: str, text: str) -> list[str]:
    """The normalised column names of the first line, or InvalidInput naming what is wrong."""
    spec = LIST_KINDS[kind]
    try:
        first = next(_reader(text), None)
    except csv.Error as problem:
        raise InvalidInput(
            {"file": [_("Line 1 is not CSV: %(problem)s") % {"problem": problem}]}
        ) from problem
    if not first or not any(cell.strip() for cell in first):
        raise InvalidInput({"file": [_("The file is empty: line 1 must name the columns.")]})
    names = [cell.strip().lower().replace(" ", "_") for cell in first]
    missing = [name for name in spec.required if name not in names]
    if missing:
        raise InvalidInput(
            {
                "file": [
                    _("Line 1 must name the columns %(required)s (missing: %(missing)s).")
                    % {"required": ", ".join(spec.required), "missing": ", ".join(missing)}
                ]
            }
        )
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise InvalidInput(
            {"file": [_("Columns named twice: %(names)s.") % {"names": ", ".join(repeated)}]}
        )
    return names


def _records(text: str) -> Iterable[tuple[int, list[str] | None, str]]:
    """(line, cells, problem) for every non-blank data record; line 1 is the header."""
    reader = _reader(text)
    try:
        next(reader, None)
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            yield reader.line_num, cells, ""
    except csv.Error as problem:
        yield reader.line_num + 1, None, str(problem)


def count_rows(text: str) -> int:
    return sum(1 for _line, _cells, _problem in _records(text))


def _campaign_problem(kind: str, campaign: Campaign | None) -> str:
    spec = LIST_KINDS[kind]
    if campaign is None:
        return ""
    if not spec.needs_campaign:
        return _("Force Close lists have no campaign.")
    if campaign.flow != spec.flow:
        return _("Campaign %(code)s is not a %(flow)s campaign.") % {
            "code": campaign.code,
            "flow": Flow(spec.flow).label,
        }
    if not campaign.active:
        return _("Campaign %(code)s is not active.") % {"code": campaign.code}
    return ""


def _clean_row(kind: str, values: dict, line: int, problems: _Problems) -> dict | None:
    """Field-level checks that need no database; None if any failed (each one reported)."""
    spec = LIST_KINDS[kind]
    row: dict = {"line": line}
    rules: dict[str, Callable[[str], object]] = {
        "service_number": clean_service_number,
        "priority": clean_priority,
        "summary": lambda value: clean_text(value, 255),
        "category": lambda value: clean_text(value, 32),
        "campaign": lambda value: clean_text(value, 32),
    }
    if kind == ImportKind.FORCE_CLOSE:
        rules["nossa_number"] = clean_nossa_number
    ok = True
    for name, rule in rules.items():
        if name not in spec.columns:
            continue
        try:
            row[name] = rule(values.get(name, ""))
        except ValueError as problem:
            problems.add(line, name, str(problem))
            ok = False
    # Service fields are checked now when given, and required later only for unknown services.
    service_fields = {}
    for name, rule in {**SERVICE_FIELDS, **OPTIONAL_SERVICE_FIELDS}.items():
        raw = values.get(name, "").strip()
        if not raw:
            continue
        try:
            service_fields[name] = rule(raw)
        except ValueError as problem:
            problems.add(line, name, str(problem))
            ok = False
    row["service_fields"] = service_fields
    return row if ok else None


def validate_rows(
    kind: str, text: str, *, campaign: Campaign | None = None, on_progress=None
) -> tuple[list[dict], list[dict]]:
    """Check every row of a list; returns (rows, errors).

    `errors` is a list of {"line", "field", "message"}, the header counting as line 1; when it
    is not empty, `rows` must not be imported. Checks: the columns of the kind; a 12-digit
    service number; the customer and network fields of a service not known yet (name, phone,
    STO / OLT / ODP); a phone of 8 to 15 digits; the campaign (the upload's or the row's
    `campaign` column: existing, active, of the kind's flow) for Ideas and C4 Caring; an
    optional priority; a NOSSA number ``IN`` + 8 digits for Force Close; no row twice in the
    file (the same service in the same campaign, or the same NOSSA number).
    """
    if kind not in LIST_KINDS:
        return [], [{"line": 1, "field": "kind", "message": _("Unknown list kind.")}]
    problems = _Problems()
    try:
        names = _header(kind, text)
    except InvalidInput as bad:
        return [], [{"line": 1, "field": "file", "message": str(bad.errors["file"][0])}]
    upload_problem = _campaign_problem(kind, campaign)
    if upload_problem:
        return [], [{"line": 1, "field": "campaign", "message": upload_problem}]

    rows: list[dict] = []
    for count, (line, cells, problem) in enumerate(_records(text), start=1):
        if cells is None:
            problems.add(line, "", _("Not CSV: %(problem)s") % {"problem": problem})
            break
        if len(cells) > len(names):
            problems.add(line, "", _("More values than columns in line 1."))
            continue
        values = {name: cell for name, cell in zip(names, cells, strict=False) if name}
        row = _clean_row(kind, values, line, problems)
        if row is not None:
            rows.append(row)
        if on_progress is not None and count % 5000 == 0:
            on_progress(count)

    _check_campaigns(kind, rows, campaign, problems)
    _check_duplicates(kind, rows, problems)
    _check_services(rows, problems)
    return (rows if not problems.total else []), problems.as_list()


def _check_campaigns(kind: str, rows: list[dict], campaign, problems: _Problems) -> None:
    spec = LIST_KINDS[kind]
    if not spec.needs_campaign:
        return
    codes = {row["campaign"] for row in rows if row.get("campaign")}
    known = {item.code: item for item in Campaign.objects.filter(code__in=codes)}
    for row in rows:
        code = row.get("campaign")
        chosen = known.get(code) if code else campaign
        if code and chosen is None:
            problems.add(row["line"], "campaign", _("No campaign %(code)s.") % {"code": code})
            continue
        if chosen is None:
            problems.add(
                row["line"], "campaign", _("Choose a campaign for the list or name it here.")
            )
            continue
        problem = _campaign_problem(kind, chosen)
        if problem:
            problems.add(row["line"], "campaign", problem)
            continue
        row["campaign_id"], row["campaign_code"] = chosen.pk, chosen.code


def _check_duplicates(kind: str, rows: list[dict], problems: _Problems) -> None:
    seen: dict[str, int] = {}
    column = "nossa_number" if kind == ImportKind.FORCE_CLOSE else "service_number"
    for row in rows:
        if kind != ImportKind.FORCE_CLOSE and "campaign_code" not in row:
            continue
        key = source_ref_of(kind, row)
        if key in seen:
            problems.add(
                row["line"],
                column,
                _("Already in line %(line)d of this file.") % {"line": seen[key]},
            )
        else:
            seen[key] = row["line"]


def _known_services(numbers: Iterable[str]) -> set[str]:
    numbers = list(numbers)
    known: set[str] = set()
    for start in range(0, len(numbers), 5000):
        chunk = numbers[start : start + 5000]
        known.update(
            Service.objects.filter(service_number__in=chunk).values_list(
                "service_number", flat=True
            )
        )
    return known


def _check_services(rows: list[dict], problems: _Problems) -> None:
    """A service not known yet needs the fields to create it (and its customer)."""
    known = _known_services({row["service_number"] for row in rows})
    first_fields: dict[str, dict] = {}
    for row in rows:
        number = row["service_number"]
        if number in known:
            continue
        fields = row["service_fields"] or first_fields.get(number, {})
        missing = [name for name in SERVICE_FIELDS if not fields.get(name)]
        for name in missing:
            problems.add(
                row["line"],
                name,
                _("Service %(number)s is not known yet: %(field)s is needed to create it.")
                % {"number": number, "field": name},
            )
        if not missing:
            first_fields.setdefault(number, fields)


# --- CSV lists: the jobs ----------------------------------------------------------------------
def start_import(
    *, kind: str, file_name: str, content: str | bytes, campaign: Campaign | None, uploaded_by
) -> ImportJob:
    """Store an uploaded list as an ImportJob and queue its import; returns the job at once.

    Raises InvalidInput (field "file", "kind" or "campaign") when the upload cannot be a list
    of that kind: not UTF-8, not CSV, over 20 MB, without the kind's columns, or no rows.
    Rows are checked by the background import, which reports each bad row by line.
    """
    if not roles.is_supervisor(uploaded_by):
        raise TransitionForbidden(_("Only supervisors upload lists."))
    if kind not in LIST_KINDS:
        raise InvalidInput({"kind": [_("Choose C4 Caring, Ideas or Force Close.")]})
    problem = _campaign_problem(kind, campaign)
    if problem:
        raise InvalidInput({"campaign": [problem]})
    text = decode_upload(content)
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise InvalidInput(
            {"file": [_("The file is over %(mb)d MB.") % {"mb": MAX_FILE_BYTES // 2**20}]}
        )
    _header(kind, text)
    total = count_rows(text)
    if not total:
        raise InvalidInput({"file": [_("The file has no rows under its header.")]})
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            campaign=campaign,
            file_name=_printable(file_name)[:255] or "list.csv",
            content=text,
            uploaded_by=uploaded_by,
            total_rows=total,
        )
        transaction.on_commit(lambda: _dispatch(job.pk, current_app.tasks[IMPORT_TASK]))
    return job


def _printable(text: str) -> str:
    return "".join(char for char in (text or "") if char.isprintable()).strip()


def _dispatch(job_id: int, task) -> None:
    from kombu.exceptions import OperationalError

    try:
        task.delay(job_id)
    except OperationalError:
        log.warning("Import %s could not be queued: the broker is unreachable.", job_id)
        _finish(
            job_id,
            ImportStatus.FAILED,
            errors=[
                {
                    "line": 0,
                    "field": "",
                    "message": _("The background queue is unavailable; upload the file again."),
                }
            ],
        )


def _progress_key(job_id: int) -> str:
    return f"tier2:import:{job_id}:progress"


def _publish(job_id: int, phase: str, done: int) -> None:
    cache.set(_progress_key(job_id), {"phase": phase, "done": done}, PROGRESS_TIMEOUT_SECONDS)


def progress_of(job: ImportJob) -> dict:
    """Where a job is: {"phase", "processed_rows", "progress_percent"}.

    While the import transaction runs, the job row still says 0 rows; the running count is
    published through the cache (see docs/imports.md).
    """
    if job.status == ImportStatus.RUNNING:
        published = cache.get(_progress_key(job.pk)) or {"phase": "validating", "done": 0}
        phase = published.get("phase", "validating")
        done = published.get("done", 0) if phase == "importing" else 0
    else:
        phase, done = job.status, job.processed_rows
    total = job.total_rows
    return {
        "phase": phase,
        "processed_rows": done,
        "progress_percent": int(100 * done / total) if total else 0,
    }


def _finish(job_id: int, status: str, **fields) -> None:
    ImportJob.objects.filter(pk=job_id).update(status=status, finished_at=timezone.now(), **fields)
    cache.delete(_progress_key(job_id))


# --- Cancelling -------------------------------------------------------------------------------
class ImportCancelled(Exception):
    """A supervisor cancelled the import; its transaction rolls back."""


class _FinishedElsewhere(Exception):
    """Another run finished the job first (without the PostgreSQL lock); roll this one back."""


# Two-key advisory locks (PostgreSQL): this namespace, then the job's id.
IMPORT_LOCK_NAMESPACE = 73_150_015


@contextmanager
def _exclusive(job_id: int):
    """One run of a job at a time, for the whole run (a redelivered task waits here).

    A PostgreSQL session advisory lock, not a lock on the job's row: the row must stay writable
    while the import runs, or a supervisor's cancel request would wait for the end of the import.
    Elsewhere (SQLite, one process) nothing: the database's own write lock serialises writers.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [IMPORT_LOCK_NAMESPACE, job_id])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [IMPORT_LOCK_NAMESPACE, job_id])
        except DatabaseError:  # the connection is gone, and the session's locks with it
            log.warning("Import %s: could not release its lock; the connection closed.", job_id)


def _check_cancelled(job_id: int) -> None:
    """Raise ImportCancelled if a supervisor asked to stop the job (read from its row, which the
    request's own commit made visible to the import's transaction)."""
    asked = list(
        ImportJob.objects.filter(pk=job_id, cancel_requested_at__isnull=False).values_list(
            "cancel_requested_by__username", flat=True
        )[:1]
    )
    if asked:
        raise ImportCancelled(_("cancelled by %(user)s") % {"user": asked[0] or _("a supervisor")})


def cancel_import(*, job_id: int, actor) -> ImportJob:
    """Stop a waiting or running import; nothing of it is kept (all-or-nothing).

    A waiting job fails at once. A running one gets the request on its row and stops at its
    next chunk of rows (or of validation), rolling its transaction back. Asking again while it
    stops changes nothing. Raises TransitionNotAllowed once the job is done or failed.
    """
    if not roles.is_supervisor(actor):
        raise TransitionForbidden(_("Only supervisors cancel imports."))
    now = timezone.now()
    message = _("Nothing was imported: %(problem)s") % {
        "problem": _("cancelled by %(user)s") % {"user": actor.get_username()}
    }
    with transaction.atomic():
        ImportJob.objects.filter(
            pk=job_id,
            status__in=(ImportStatus.PENDING, ImportStatus.RUNNING),
            cancel_requested_at__isnull=True,
        ).update(cancel_requested_at=now, cancel_requested_by=actor)
        failed_now = ImportJob.objects.filter(pk=job_id, status=ImportStatus.PENDING).update(
            status=ImportStatus.FAILED,
            finished_at=now,
            errors=[{"line": 0, "field": "", "message": message}],
        )
    job = ImportJob.objects.get(pk=job_id)
    if not failed_now and job.status != ImportStatus.RUNNING:
        raise TransitionNotAllowed(
            _("The import is already %(status)s.") % {"status": job.get_status_display()},
            current_state=job.status,
        )
    return job


def run_import_job(job_id: int) -> str:
    """Validate a job's rows, then import them all in one transaction; returns its status.

    Safe to run twice (a redelivered task): a finished job is left as it is, and a second run
    of a job being imported waits for the first (`_exclusive`), then finds it finished.
    """
    with _exclusive(job_id):
        return _run(job_id)


def _run(job_id: int) -> str:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None:
            return "missing"
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED):
            return job.status
        job.status = ImportStatus.RUNNING
        job.save(update_fields=["status"])
    _publish(job_id, "validating", 0)

    def validating(count: int) -> None:
        _publish(job_id, "validating", count)
        _check_cancelled(job_id)

    try:
        _check_cancelled(job_id)
        rows, errors = validate_rows(
            job.kind, job.content, campaign=job.campaign, on_progress=validating
        )
    except ImportCancelled as cancelled:
        _fail(job_id, cancelled)
        return ImportStatus.FAILED
    if errors:
        _finish(job_id, ImportStatus.FAILED, errors=errors, processed_rows=0)
        return ImportStatus.FAILED
    try:
        with transaction.atomic():
            with bulk_arrivals():  # sites, policies read once; one roll-up write per day/flow/site
                created = _create_tickets(job, rows)
            # The last statement: the row is locked only while the transaction commits. A
            # cancel asked after the last chunk still counts; one asked later finds it done.
            locked = ImportJob.objects.select_for_update().get(pk=job_id)
            if locked.status != ImportStatus.RUNNING:
                raise _FinishedElsewhere(locked.status)
            _check_cancelled(job_id)
            locked.status = ImportStatus.DONE
            locked.processed_rows = len(rows)
            locked.created_tickets = created
            locked.total_rows = len(rows)
            locked.errors = []
            locked.finished_at = timezone.now()
            locked.save(
                update_fields=[
                    "status",
                    "processed_rows",
                    "created_tickets",
                    "total_rows",
                    "errors",
                    "finished_at",
                ]
            )
    except _FinishedElsewhere as finished:
        return str(finished.args[0])
    except ImportCancelled as cancelled:
        _fail(job_id, cancelled)
        return ImportStatus.FAILED
    except Exception as problem:
        # Whatever went wrong, the transaction rolled back: nothing was imported. Say so on the
        # job instead of leaving it "running" forever.
        log.exception("Import %s failed", job_id)
        _fail(job_id, problem)
        return ImportStatus.FAILED
    cache.delete(_progress_key(job_id))
    return ImportStatus.DONE


def _fail(job_id: int, problem: Exception) -> None:
    message = str(getattr(problem, "message", "") or problem)[:500]
    _finish(
        job_id,
        ImportStatus.FAILED,
        processed_rows=0,
        errors=[
            {
                "line": 0,
                "field": "",
                "message": _("Nothing was imported: %(problem)s") % {"problem": message},
            }
        ],
    )


def _create_tickets(job: ImportJob, rows: list[dict]) -> int:
    spec = LIST_KINDS[job.kind]
    campaign_ids = {row["campaign_id"] for row in rows if row.get("campaign_id")}
    campaigns = {item.pk: item for item in Campaign.objects.filter(pk__in=campaign_ids)}
    created = 0
    _publish(job.pk, "importing", 0)
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        services = find_or_create_services(
            {row["service_number"]: row["service_fields"] for row in chunk}
        )
        for row in chunk:
            _ticket, is_new = create_ticket(
                flow=spec.flow,
                service=services[row["service_number"]],
                actor=job.uploaded_by,
                priority=row.get("priority", Priority.NORMAL),
                category=row.get("category", ""),
                summary=row.get("summary", ""),
                source_system=spec.source_system,
                source_ref=source_ref_of(job.kind, row),
                nossa_number=row.get("nossa_number", ""),
                campaign=campaigns.get(row.get("campaign_id")),
            )
            created += is_new
        _publish(job.pk, "importing", start + len(chunk))
        _check_cancelled(job.pk)
    return created

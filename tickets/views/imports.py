"""Call lists and Callback records for supervisors (and admins).

- **Upload a call list** (C4 Caring, Ideas, Force Close): the form hands the file to
  `imports.start_import`, the function behind `POST /api/imports/` too, and the page of the job
  follows it: a progress bar polled with htmx (`import_progress`, the job's
  `imports.progress_of` as the API shows it), a cancel button (`imports.cancel_import`), and at
  the end the counts or every rejected row with its line number and message.
- **Enter a Callback record by hand**: one record the Callback pull has not brought in, through
  the intake every report goes through (`services.receive_report`, source `callback`, the
  record number as its reference), so entering it twice, or the pull bringing it later, gives
  one ticket.

See docs/imports.md and docs/supervisor.md.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from integrations.adapters import AdapterError

from .. import roles, services
from ..exceptions import TicketError
from ..forms_supervisor import CallbackRecordForm, ImportUploadForm
from ..models import ImportJob, ImportKind, ImportStatus
from ..services import imports
from .access import role_required
from .mixins import form_errors, message_for, redirect_to
from .workspace import INVALID

POLL_SECONDS = 2  # how often a job's page asks for its progress while it runs
RECENT_JOBS = 20

imports_required = role_required(
    roles.is_supervisor, gettext_lazy("Only supervisors and admins upload call lists.")
)

# The columns of each kind, for the page's help (the service's own lists).
COLUMN_HELP = [
    {
        "kind": kind,
        "label": label,
        "required": imports.LIST_KINDS[kind].required,
        "optional": imports.LIST_KINDS[kind].optional,
    }
    for kind, label in ImportKind.choices
]


def _jobs():
    return ImportJob.objects.select_related("campaign", "uploaded_by").defer("content")


def _job_context(job: ImportJob) -> dict:
    progress = imports.progress_of(job)
    running = job.status in (ImportStatus.PENDING, ImportStatus.RUNNING)
    return {
        "job": job,
        "progress": progress,
        "running": running,
        "stopping": running and job.cancel_requested_at is not None,
        "existing": max(job.processed_rows - job.created_tickets, 0),
        "poll_seconds": POLL_SECONDS,
    }


@imports_required
def upload(request):
    """The upload form and the latest uploads; a good upload goes to its job's page."""
    status = 200
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            with form_errors(form):
                job = imports.start_import(
                    kind=data["kind"],
                    file_name=data["file"].name or "list.csv",
                    content=data["file"].read(),
                    campaign=data.get("campaign"),
                    uploaded_by=request.user,
                )
                messages.success(
                    request,
                    _("%(name)s uploaded: %(rows)d rows to check and import.")
                    % {"name": job.file_name, "rows": job.total_rows},
                )
                return redirect_to(request, reverse("import_detail", args=[job.pk]))
        messages.error(request, _("The file was not uploaded. Nothing was imported."))
        status = INVALID
    else:
        form = ImportUploadForm()
    return render(
        request,
        "supervisor/imports.html",
        {"form": form, "jobs": _jobs()[:RECENT_JOBS], "column_help": COLUMN_HELP},
        status=status,
    )


@imports_required
def detail(request, pk: int):
    job = get_object_or_404(_jobs(), pk=pk)
    return render(request, "supervisor/import_detail.html", _job_context(job))


@imports_required
def progress(request, pk: int):
    """The job's status part alone: what the page polls while the job runs."""
    job = get_object_or_404(_jobs(), pk=pk)
    return render(request, "supervisor/_import_status.html", _job_context(job))


@require_POST
@imports_required
def cancel(request, pk: int):
    job = get_object_or_404(_jobs(), pk=pk)
    try:
        job = imports.cancel_import(job_id=job.pk, actor=request.user)
    except TicketError as error:
        messages.error(request, message_for(error))
    else:
        if job.status == ImportStatus.RUNNING:
            messages.warning(
                request, _("The import stops at its next rows; nothing of it will be kept.")
            )
        else:
            messages.success(request, _("The import was cancelled; nothing was imported."))
    return redirect_to(request, reverse("import_detail", args=[job.pk]))


@imports_required
def callback_record(request):
    """One Callback record entered by hand: a Callback ticket through the intake."""
    if request.method != "POST":
        return render(request, "supervisor/callback_form.html", {"form": CallbackRecordForm()})
    form = CallbackRecordForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        with form_errors(form):
            try:
                ticket, created = services.receive_callback_record(
                    record_id=data["record_id"],
                    service_number=data["service_number"],
                    service_fields=form.service_fields(),
                    actor=request.user,
                    summary=data["summary"].strip(),
                    reported_at=data.get("reported_at"),
                )
            except AdapterError:
                form.add_error(
                    None,
                    _(
                        "I-SISKA could not tell this new line's customer and network codes; "
                        "enter them."
                    ),
                )
            else:
                if created:
                    messages.success(
                        request,
                        _("Callback record %(record)s is ticket #%(ticket)d.")
                        % {"record": data["record_id"], "ticket": ticket.pk},
                    )
                else:
                    messages.info(
                        request,
                        _("Callback record %(record)s was already ticket #%(ticket)d.")
                        % {"record": data["record_id"], "ticket": ticket.pk},
                    )
                return redirect_to(request, reverse("ticket", args=[ticket.pk]))
    messages.error(request, _("Check the highlighted fields. Nothing was saved."))
    return render(request, "supervisor/callback_form.html", {"form": form}, status=INVALID)

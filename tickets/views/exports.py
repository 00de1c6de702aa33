"""CSV exports of every dashboard table and of the SLG compensation list.

The same filter as the page (query string), the same reads. Files are streamed (a long SLG list
never sits in memory), start with a UTF-8 byte order mark so Excel opens them as UTF-8, and are
named after the table and the date range, e.g. ``tier2-tiles_2026-11-17_2026-11-23.csv``.
Numbers are written plainly (dot decimals, no thousands separators) for spreadsheets; text
that a spreadsheet would take for a formula is defused (`cell`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator

from django.http import Http404, StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from tier2.replica import replica_reads

from .. import dashboards
from ..dashboards import DashboardFilter, local_text, tickets_at_risk
from ..forms_supervisor import trailing
from ..models import Flow, Priority, SlaStatus, Ticket
from ..services import security
from .access import supervisor_required
from .dashboard import AGEING_LABELS, filter_form, slg_row
from .presenters import deadline_of, flow_label, state_label

BOM = "\ufeff"
STREAM_CHUNK = 2000


class Echo:
    """A file-like object whose `write` hands the line back (csv.writer into a generator)."""

    def write(self, value: str) -> str:
        return value


def _number(value) -> str:
    return "" if value is None else str(value)


def tiles(filters: DashboardFilter) -> Iterator[list]:
    yield [
        _("Flow"), _("Site"), _("Backlog"), _("At risk"), _("Breached"),
        _("Oldest open since"), _("Closed in range"), _("Closed within SLA"),
        _("Within SLA (%)"),
    ]  # fmt: skip
    for tile in dashboards.flow_tiles(filters):
        yield [
            tile.flow_label, tile.site, tile.backlog, tile.at_risk, tile.breached,
            local_text(tile.oldest), tile.closed, tile.closed_within_sla,
            _number(tile.within_sla_percent),
        ]  # fmt: skip


def ageing(filters: DashboardFilter) -> Iterator[list]:
    yield [_("Age since arrival"), _("Open tickets")]
    counts = dashboards.ageing(filters)
    for key, _upper in dashboards.AGEING_BUCKETS:
        yield [str(AGEING_LABELS[key]), counts[key] or 0]


def agents(filters: DashboardFilter) -> Iterator[list]:
    yield [
        _("Agent"), _("Handled (closed)"), _("Average handling time (minutes)"),
        _("First-contact resolution (%)"), _("Escalation rate (%)"), _("Closed per hour"),
    ]  # fmt: skip
    for row in dashboards.agent_table(filters):
        yield [
            row.username, row.closed, row.average_handling_minutes, row.first_contact_percent,
            row.escalation_percent, row.closed_per_hour,
        ]  # fmt: skip


def _trend(filters: DashboardFilter) -> Iterator[list]:
    yield [_("Day"), _("Arrived"), _("Closed"), _("Closed within SLA"), _("Within SLA (%)"),
           _("Breached")]  # fmt: skip
    for point in dashboards.trend(filters).points:
        yield [
            point.day.isoformat(), point.created, point.closed, point.closed_within_sla,
            _number(point.within_sla_percent), point.breached,
        ]  # fmt: skip


def trend(filters: DashboardFilter) -> Iterator[list]:
    """One row per day of the chosen range."""
    return _trend(filters)


def trend_7(filters: DashboardFilter) -> Iterator[list]:
    return _trend(trailing(filters, 7))


def trend_30(filters: DashboardFilter) -> Iterator[list]:
    return _trend(trailing(filters, 30))


def at_risk(filters: DashboardFilter) -> Iterator[list]:
    yield [
        _("Ticket"), _("Flow"), _("Site"), _("State"), _("Priority"),
        pgettext("CSV column", "SLA status"), _("Deadline"), _("Agent"), _("Customer"),
        _("Service no."),
    ]  # fmt: skip
    for ticket in tickets_at_risk(filters):
        yield [
            ticket.number, flow_label(ticket.flow), ticket.site.code,
            state_label(ticket.flow, ticket.state), ticket.get_priority_display(),
            ticket.get_sla_status_display(), local_text(deadline_of(ticket)),
            ticket.assignee.get_username() if ticket.assignee else "",
            ticket.service.customer.name, ticket.service.service_number,
        ]  # fmt: skip


def slg(filters: DashboardFilter) -> Iterator[list]:
    """The compensation list: every breach of the restoration guarantee in the range."""
    yield [
        _("Ticket"), pgettext("CSV column", "NOSSA number"), _("Service no."), _("Customer"),
        _("Flow"), _("Site"), _("State"), _("First reported"), _("Restoration due (SLG)"),
        _("Restored"), _("Late by (hours)"),
    ]  # fmt: skip
    now = timezone.now()
    for ticket in dashboards.slg_breaches(filters, now=now).iterator(chunk_size=STREAM_CHUNK):
        row = slg_row(ticket, now)
        yield [
            ticket.number, ticket.nossa_number, ticket.service.service_number,
            ticket.service.customer.name, row["flow_label"], ticket.site.code,
            row["state_label"], local_text(row["first_report"]), local_text(ticket.slg_due),
            local_text(row["restored"]) or _("not yet"), row["late_hours"],
        ]  # fmt: skip


def arrived_tickets(filters: DashboardFilter) -> Iterator[list]:
    """Every ticket that arrived in the range, one row each, oldest first (a month's report)."""
    yield [
        _("Ticket"), _("Arrived"), _("Flow"), _("Site"), _("State"), _("Priority"),
        pgettext("CSV column", "SLA status"), _("Agent"), pgettext("CSV column", "NOSSA number"),
        _("Claimed"), _("Claim by"), _("Resolve by"), _("Closed"), _("Closing code"),
    ]  # fmt: skip
    flows = {code: flow_label(code) for code, _label in Flow.choices}
    states = {}  # (flow, state) -> label, filled as met: a few dozen pairs in all
    priorities = {code: str(label) for code, label in Priority.choices}
    sla = {code: str(label) for code, label in SlaStatus.choices}
    for (
        pk, created, flow, site, state, priority, sla_status, agent, nossa, claimed, claim_by,
        resolve_by, closed, closing_code,
    ) in dashboards.arrivals(filters):  # fmt: skip
        label = states.get((flow, state))
        if label is None:
            label = states[flow, state] = state_label(flow, state)
        yield [
            Ticket.number_of(pk), created, flows.get(flow, flow), site, label,
            priorities.get(priority, priority), sla.get(sla_status, sla_status), agent or "",
            nossa, claimed, claim_by, resolve_by, closed, closing_code,
        ]  # fmt: skip


TABLES: dict[str, Callable[[DashboardFilter], Iterable[list]]] = {
    "tiles": tiles,
    "ageing": ageing,
    "agents": agents,
    "trend": trend,
    "trend-7": trend_7,
    "trend-30": trend_30,
    "at-risk": at_risk,
    "slg": slg,
    "tickets": arrived_tickets,
}


# Tables that name customers (their exports are personal data: UU PDP, docs/data-protection.md).
CUSTOMER_DATA_TABLES = frozenset({"at-risk", "slg"})

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """Text a spreadsheet would run as a formula (a customer name from an external system
    starting with "=", say) is written with a leading apostrophe; numbers are left alone."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# Lines are sent in blocks of about this many characters: one write to the socket per line
# cost more than making the line, on a month's export of 900,000 rows.
BLOCK_CHARS = 64 * 1024


def csv_lines(rows: Iterable[list], language: str | None = None) -> Iterator[str]:
    """The file in blocks of whole lines; rows are read while streaming, in the request's
    language."""
    writer = csv.writer(Echo())
    block, size = [BOM], 0
    with translation.override(language):
        for row in rows:
            line = writer.writerow([cell(value) for value in row])
            block.append(line)
            size += len(line)
            if size >= BLOCK_CHARS:
                yield "".join(block)
                block, size = [], 0
    if block:
        yield "".join(block)


def file_name(table: str, filters: DashboardFilter) -> str:
    if table in ("tiles", "ageing", "at-risk"):  # live numbers: the date they were taken
        stamp = timezone.localdate().isoformat()
    elif table in ("trend-7", "trend-30"):
        days = int(table.split("-")[1])
        span = trailing(filters, days)
        stamp = f"{span.date_from.isoformat()}_{span.date_to.isoformat()}"
    else:
        stamp = f"{filters.date_from.isoformat()}_{filters.date_to.isoformat()}"
    parts = [part for part in (filters.site, filters.flow) if part]
    return "tier2-" + "-".join([table, *parts]) + f"_{stamp}.csv"


@supervisor_required
@replica_reads
def export(request, table: str):
    """`table` is one of `TABLES`; the filter is the page's query string."""
    if table not in TABLES:
        raise Http404(_("No such table."))
    filters = filter_form(request).filters()
    # The security log records who exported which table, with how many rows, once streamed.
    rows = security.logged_export(
        TABLES[table](filters),
        actor=request.user,
        what=f"dashboard:{table}",
        request=request,
        customer_data=table in CUSTOMER_DATA_TABLES,
        filters={key: str(value) for key, value in vars(filters).items() if value},
    )
    response = StreamingHttpResponse(
        csv_lines(rows, translation.get_language()),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{file_name(table, filters)}"'
    response["Cache-Control"] = "no-store"
    return response

"""CSV exports of the dashboard tables and the SLG list; the SLG compensation page."""

import csv
import io
from datetime import datetime, timedelta

import pytest
import time_machine
from django.http import StreamingHttpResponse
from django.urls import reverse

from tests import factories
from tests.supervisor.conftest import MONDAY_9AM, page
from tests.tickets.test_dashboards import JAKARTA, work_to_close
from tickets import dashboards
from tickets.models import Customer, SecurityEvent
from tickets.views import dashboard, exports

pytestmark = pytest.mark.django_db
RANGE = {"date_from": "2026-11-23", "date_to": "2026-11-26"}
TABLES = ("tiles", "ageing", "agents", "trend", "trend-7", "trend-30", "at-risk", "slg", "tickets")


def export(client, table, *, at=MONDAY_9AM + timedelta(days=2), **params):
    with time_machine.travel(at, tick=False):
        response = client.get(reverse("dashboard_export", args=[table]), {**RANGE, **params})
        assert response.status_code == 200, response.status_code
        body = b"".join(response.streaming_content)
    return response, body


def rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf"), "UTF-8 byte order mark for Excel"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


@pytest.mark.parametrize("table", TABLES)
def test_every_table_streams_a_utf8_csv_with_bom_and_a_dated_name(supervisor_client, table):
    response, body = export(supervisor_client, table)
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="tier2-' + table)
    assert "2026-11-" in disposition and disposition.endswith('.csv"')
    assert rows(body)[0]  # a header row at least


def test_file_names_say_the_range_or_the_day_and_the_filter(supervisor_client):
    response, _body = export(supervisor_client, "agents", site="PST", flow="nossa")
    expected = 'attachment; filename="tier2-agents-PST-nossa_2026-11-23_2026-11-26.csv"'
    assert response["Content-Disposition"] == expected
    response, _body = export(supervisor_client, "tiles")
    assert response["Content-Disposition"].endswith('tier2-tiles_2026-11-25.csv"')  # taken today
    response, _body = export(supervisor_client, "trend-7")
    assert response["Content-Disposition"].endswith('tier2-trend-7_2026-11-20_2026-11-26.csv"')


def test_tiles_csv_holds_the_hand_count(supervisor_client, floor):
    _response, body = export(supervisor_client, "tiles")
    header, *data = rows(body)
    assert header[:5] == ["Flow", "Site", "Backlog", "At risk", "Breached"]
    [nossa] = data
    assert nossa[:5] == ["NOSSA", "PST", "2", "0", "2"]
    assert nossa[5] == "2026-11-23 09:00:00"  # oldest open, local time
    assert nossa[6:] == ["3", "2", "66.7"]


def test_agents_csv_holds_the_hand_count(supervisor_client, floor):
    _response, body = export(supervisor_client, "agents")
    by_agent = {row[0]: row for row in rows(body)[1:]}
    assert by_agent["ani"][1:] == ["2", "0.0", "50.0", "50.0", "0.0"]
    assert by_agent["budi"][1] == "1"


def test_ageing_and_trend_csv(supervisor_client, supervisor, floor):
    _response, body = export(supervisor_client, "ageing", at=MONDAY_9AM + timedelta(hours=30))
    assert [row[1] for row in rows(body)[1:]] == ["0", "0", "0", "2", "0"]
    # 18 hours later than that request: the session has idled out (8 h), so sign in again.
    supervisor_client.force_login(supervisor)
    _response, body = export(supervisor_client, "trend")
    data = rows(body)[1:]
    assert [row[0] for row in data] == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26"]
    assert data[0][1:3] == ["5", "2"]  # Monday: five arrived, two closed
    assert sum(int(row[5]) for row in data) == 3  # breaches


def test_at_risk_csv_lists_the_dashboard_table(supervisor_client, floor):
    _response, body = export(supervisor_client, "at-risk")
    numbers = [row[0] for row in rows(body)[1:]]
    tickets = floor["tickets"]
    assert numbers == [tickets[4].number, tickets[3].number]


def test_a_site_filter_narrows_the_export(supervisor_client, floor):
    _response, body = export(supervisor_client, "tiles", site="MLG")
    assert rows(body)[1:] == []


def test_slg_csv_lists_late_and_overdue_restorations(supervisor_client, floor):
    tickets = floor["tickets"]
    late = tickets[0].slg_due + timedelta(hours=1)
    _response, body = export(supervisor_client, "slg", at=late)
    header, *data = rows(body)
    assert header[0] == "Ticket" and header[-1] == "Late by (hours)"
    assert sorted(row[0] for row in data) == sorted([tickets[3].number, tickets[4].number])
    assert {row[9] for row in data} == {"not yet"}
    assert {row[10] for row in data} == {"1.0"}
    assert {row[7] for row in data} == {"2026-11-23 09:00:00"}  # first report


def test_customer_names_survive_the_round_trip(supervisor_client, floor):
    tickets = floor["tickets"]
    Customer.objects.filter(services__tickets=tickets[4]).update(name='Siti "Ani" Rahayu, S.Kom')
    _response, body = export(supervisor_client, "at-risk")
    assert rows(body)[1][8] == 'Siti "Ani" Rahayu, S.Kom'


def test_text_a_spreadsheet_would_run_as_a_formula_is_defused(supervisor_client, floor):
    tickets = floor["tickets"]
    Customer.objects.filter(services__tickets=tickets[4]).update(name='=HYPERLINK("x")')
    _response, body = export(supervisor_client, "at-risk")
    assert rows(body)[1][8] == '\'=HYPERLINK("x")'


def test_unknown_table_is_404(supervisor_client):
    assert supervisor_client.get("/supervisor/export/secrets.csv").status_code == 404


@pytest.mark.parametrize("role", ["Agent", "Support"])
def test_exports_are_for_supervisors_only(client, role):
    client.force_login(factories.user(role, site_code="PST"))
    assert client.get(reverse("dashboard_export", args=["slg"])).status_code == 403


def test_export_streams_the_slg_list_in_chunks(supervisor_client, floor, monkeypatch):
    monkeypatch.setattr(exports, "STREAM_CHUNK", 1)
    late = floor["tickets"][0].slg_due + timedelta(hours=1)
    _response, body = export(supervisor_client, "slg", at=late)
    assert len(rows(body)) == 3


# --- The SLG page ------------------------------------------------------------------------------
def test_slg_page_lists_the_breaches_with_first_report_and_lateness(supervisor_client, floor):
    tickets = floor["tickets"]
    with time_machine.travel(tickets[0].slg_due + timedelta(hours=2), tick=False):
        response = supervisor_client.get(reverse("slg_breaches"), RANGE)
    html = page(response)
    assert "2 breaches" in html
    for ticket in (tickets[3], tickets[4]):
        assert f'data-ticket="{ticket.number}"' in html
    assert tickets[0].number not in html
    row = response.context["rows"][0]
    assert row["late_hours"] == 2.0
    assert row["first_report"] == MONDAY_9AM
    assert reverse("dashboard_export", args=["slg"]) + "?date_from=2026-11-23" in html


def test_slg_counts_from_the_first_report_across_a_re_report(supervisor_client, supervisor):
    """A lapul (re-report within the window) keeps the first report's SLG deadline."""
    agent = factories.agent(username="lapul.agent", flows=("nossa", "fresh_lapul"))
    service = factories.ServiceFactory()
    with time_machine.travel(MONDAY_9AM, tick=False):
        first = factories.arrive("nossa", service=service)
    with time_machine.travel(MONDAY_9AM + timedelta(hours=1), tick=False):
        work_to_close(first, agent)
    with time_machine.travel(MONDAY_9AM + timedelta(days=1), tick=False):
        again = factories.arrive("nossa", service=service)
    assert again.flow == "fresh_lapul" and again.slg_due == first.slg_due
    with time_machine.travel(MONDAY_9AM + timedelta(days=3, hours=5), tick=False):
        response = supervisor_client.get(reverse("slg_breaches"), RANGE)
    assert [row["ticket"].pk for row in response.context["rows"]] == [again.pk]
    assert response.context["rows"][0]["first_report"] == MONDAY_9AM
    assert response.context["rows"][0]["late_hours"] == 5.0


def test_slg_page_is_for_supervisors(client, support_user):
    client.force_login(support_user)
    assert client.get(reverse("slg_breaches")).status_code == 403


def test_slg_page_pages_through_long_lists(supervisor_client, floor, monkeypatch):
    monkeypatch.setattr(dashboard, "SLG_PAGE_SIZE", 1)
    with time_machine.travel(floor["tickets"][0].slg_due + timedelta(hours=2), tick=False):
        response = supervisor_client.get(reverse("slg_breaches"), {**RANGE, "page": 2})
    html = page(response)
    assert "Page 2 of 2" in html
    assert len(response.context["rows"]) == 1


# --- The tickets that arrived in a range ----------------------------------------------------
def _arrive_at(moment, **fields):
    with time_machine.travel(moment, tick=False):
        return factories.arrive("nossa", **fields)


def test_ticket_export_lists_the_ranges_arrivals_oldest_first_in_local_time(supervisor_client):
    """Console days (Asia/Jakarta): 00:10 on the 1st and 23:50 on the 30th are November, the
    minutes on either side are not. Hand-written rows: a NOSSA ticket at Pusat as it arrives."""
    _arrive_at(datetime(2026, 10, 31, 23, 59, tzinfo=JAKARTA))
    last = _arrive_at(datetime(2026, 11, 30, 23, 50, tzinfo=JAKARTA), nossa_number="IN10000002")
    first = _arrive_at(datetime(2026, 11, 1, 0, 10, tzinfo=JAKARTA), nossa_number="IN10000001")
    _arrive_at(datetime(2026, 12, 1, 0, 0, tzinfo=JAKARTA))

    response, body = export(
        supervisor_client, "tickets", at=datetime(2026, 12, 1, 9, 0, tzinfo=JAKARTA),
        date_from="2026-11-01", date_to="2026-11-30",
    )  # fmt: skip

    assert response["Content-Disposition"] == (
        'attachment; filename="tier2-tickets_2026-11-01_2026-11-30.csv"'
    )
    header, *data = rows(body)
    assert header == [
        "Ticket", "Arrived", "Flow", "Site", "State", "Priority", "SLA status", "Agent",
        "NOSSA number", "Claimed", "Claim by", "Resolve by", "Closed", "Closing code",
    ]  # fmt: skip
    assert [row[:9] for row in data] == [
        [f"T2-{first.pk:07d}", "2026-11-01 00:10:00", "NOSSA", "PST", "New", "Normal",
         "Within SLA", "", "IN10000001"],
        [f"T2-{last.pk:07d}", "2026-11-30 23:50:00", "NOSSA", "PST", "New", "Normal",
         "Within SLA", "", "IN10000002"],
    ]  # fmt: skip
    assert [row[9] for row in data] == ["", ""] and [row[12:] for row in data] == [["", ""]] * 2


def test_ticket_export_read_in_small_chunks_sends_every_row_and_logs_the_count(
    supervisor_client, monkeypatch
):
    monkeypatch.setattr(dashboards, "ARRIVALS_CHUNK", 2)
    for _ in range(5):
        _arrive_at(MONDAY_9AM + timedelta(days=1))
    _response, body = export(supervisor_client, "tickets")
    assert len(rows(body)) == 1 + 5
    event = SecurityEvent.objects.filter(kind="export").latest("pk")
    assert event.detail["what"] == "dashboard:tickets" and event.detail["rows"] == 5


def test_exports_are_sent_in_blocks_of_whole_lines(supervisor_client, monkeypatch):
    """With blocks of 100 characters, five tickets' rows (over 100 characters each with the
    header) come in several blocks, each ending at the end of a line, the first with the BOM."""
    monkeypatch.setattr(exports, "BLOCK_CHARS", 100)
    for _ in range(5):
        _arrive_at(MONDAY_9AM + timedelta(days=1))
    with time_machine.travel(MONDAY_9AM + timedelta(days=2), tick=False):
        response = supervisor_client.get(reverse("dashboard_export", args=["tickets"]), RANGE)
        blocks = [bytes(block) for block in response.streaming_content]
    assert len(blocks) >= 3
    assert blocks[0].startswith(b"\xef\xbb\xbf")
    assert all(block.endswith(b"\r\n") for block in blocks)
    assert len(rows(b"".join(blocks))) == 1 + 5

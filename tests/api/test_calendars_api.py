"""/api/calendars/: the business calendars, read only, with the dates each closes on in a year.

The expected dates are written out by hand from the SKB 3 Menteri for 2026 (No. 1497/2025,
2/2025, 5/2025), checked against the pinned `holidays` library's Indonesia data: Idul Fitri
1447 H is Saturday 21 and Sunday 22 March, with collective leave on Friday 20, Monday 23 and
Tuesday 24 March; Nyepi is Thursday 19 March, with collective leave on Wednesday 18 March.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests import factories
from tickets.models import CalendarDay, Site

pytestmark = pytest.mark.django_db

BAD_YEAR = "Give a year from 2000 to 2100, e.g. 2026."

# 2026 in Indonesia: the public holidays (hari libur nasional) and the collective leave days
# (cuti bersama), with the English names of the holidays library.
PUBLIC_2026 = [
    ("2026-01-01", "New Year's Day"),
    ("2026-01-16", "Isra' and Mi'raj"),
    ("2026-02-17", "Lunar New Year"),
    ("2026-03-19", "Day of Silence"),
    ("2026-03-21", "Eid al-Fitr"),
    ("2026-03-22", "Eid al-Fitr Second Day"),
    ("2026-04-03", "Good Friday"),
    ("2026-04-05", "Easter Sunday"),
    ("2026-05-01", "International Labor Day"),
    ("2026-05-14", "Ascension Day"),
    ("2026-05-27", "Eid al-Adha"),
    ("2026-05-31", "Vesak Day"),
    ("2026-06-01", "Pancasila Day"),
    ("2026-06-16", "Islamic New Year"),
    ("2026-08-17", "Independence Day"),
    ("2026-08-25", "Prophet's Birthday"),
    ("2026-12-25", "Christmas Day"),
]
COLLECTIVE_2026 = [
    ("2026-02-16", "Lunar New Year Joint Holiday"),
    ("2026-03-18", "Day of Silence Joint Holiday"),
    ("2026-03-20", "Eid al-Fitr Joint Holiday"),
    ("2026-03-23", "Eid al-Fitr Joint Holiday"),
    ("2026-03-24", "Eid al-Fitr Joint Holiday"),
    ("2026-05-15", "Ascension Joint Holiday"),
    ("2026-05-28", "Eid al-Adha Joint Holiday"),
    ("2026-12-24", "Christmas Joint Holiday"),
]


def national(name):
    return {"type": "national_holiday", "name": name}


def collective(name):
    return {"type": "collective_leave", "name": name}


def local(name):
    return {"type": "local", "name": name}


def closed(body) -> dict[str, list[dict]]:
    return {row["date"]: row["reasons"] for row in body["closed_days"]}


def detail(client, calendar, query=""):
    response = client.get(f"/api/calendars/{calendar.pk}/{query}")
    assert response.status_code == 200, response.json()
    return response.json()


# --- The closed days of a year ------------------------------------------------------------------
def test_lebaran_2026_closes_a_calendar_on_holidays_and_collective_leave(api, supervisor_user):
    office = factories.calendar("Kantor Pusat")  # national holidays and collective leave

    body = detail(api(supervisor_user), office, "?year=2026")

    assert body["year"] == 2026
    days = closed(body)
    lebaran = {day: days[day] for day in sorted(days) if "2026-03-18" <= day <= "2026-03-24"}
    assert lebaran == {
        "2026-03-18": [collective("Day of Silence Joint Holiday")],  # Wednesday
        "2026-03-19": [national("Day of Silence")],  # Thursday, Nyepi
        "2026-03-20": [collective("Eid al-Fitr Joint Holiday")],  # Friday
        "2026-03-21": [national("Eid al-Fitr")],  # Saturday, Idul Fitri 1447 H
        "2026-03-22": [national("Eid al-Fitr Second Day")],  # Sunday
        "2026-03-23": [collective("Eid al-Fitr Joint Holiday")],  # Monday
        "2026-03-24": [collective("Eid al-Fitr Joint Holiday")],  # Tuesday
    }
    # The whole year: 17 public holidays and 8 collective leave days, on 25 dates, in order.
    expected = sorted(
        [(day, [national(name)]) for day, name in PUBLIC_2026]
        + [(day, [collective(name)]) for day, name in COLLECTIVE_2026]
    )
    assert [(row["date"], row["reasons"]) for row in body["closed_days"]] == expected
    assert body["open_days"] == []


def test_the_names_follow_the_request_language(api, supervisor_user):
    office = factories.calendar("Kantor Pusat")
    client = api(supervisor_user)
    client.cookies["django_language"] = "id"

    days = closed(detail(client, office, "?year=2026"))

    assert days["2026-03-20"] == [collective("Cuti Bersama Hari Raya Idul Fitri")]
    assert days["2026-03-21"] == [national("Hari Raya Idul Fitri")]
    assert days["2026-03-22"] == [national("Hari kedua dari Hari Raya Idul Fitri")]


def test_a_calendar_without_collective_leave_works_on_the_cuti_bersama(api, supervisor_user):
    office = factories.calendar("Tanpa cuti bersama", collective_leave=False)

    days = closed(detail(api(supervisor_user), office, "?year=2026"))

    assert "2026-03-20" not in days and "2026-03-23" not in days
    assert days["2026-03-21"] == [national("Eid al-Fitr")]
    assert len(days) == 17


def test_a_calendar_without_national_holidays_lists_none(api, supervisor_user):
    plant = factories.calendar("Pabrik", national_holidays=False, collective_leave=False)

    body = detail(api(supervisor_user), plant, "?year=2026")

    assert (body["closed_days"], body["open_days"]) == ([], [])


def test_local_closed_and_open_days_appear_with_their_reasons(api, supervisor_user):
    malang = factories.calendar("Jam kerja Malang")
    for day, name, kind in [
        (date(2026, 4, 1), "Hari Jadi Kota Malang", "closed"),  # a Wednesday
        (date(2026, 8, 17), "Upacara di kantor", "closed"),  # also Independence Day
        (date(2026, 3, 23), "Piket Lebaran", "open"),  # a collective leave day, worked
        (date(2026, 3, 28), "Lembur akhir bulan", "open"),  # a Saturday, worked
        (date(2025, 4, 1), "Hari Jadi Kota Malang", "closed"),  # another year
    ]:
        CalendarDay.objects.create(calendar=malang, date=day, name=name, kind=kind)

    body = detail(api(supervisor_user), malang, "?year=2026")

    days = closed(body)
    assert days["2026-04-01"] == [local("Hari Jadi Kota Malang")]
    assert days["2026-08-17"] == [national("Independence Day"), local("Upacara di kantor")]
    assert "2026-03-23" not in days  # the open day undoes the collective leave
    assert days["2026-03-24"] == [collective("Eid al-Fitr Joint Holiday")]
    assert "2025-04-01" not in days
    assert len(days) == 25 - 1 + 1  # the national dates, less the open day, plus 1 April
    assert body["open_days"] == [
        {"date": "2026-03-23", "name": "Piket Lebaran"},
        {"date": "2026-03-28", "name": "Lembur akhir bulan"},
    ]
    # The calendar's own days of every year, as on the SLA policies.
    assert [day["date"] for day in body["days"]] == [
        "2025-04-01", "2026-03-23", "2026-03-28", "2026-04-01", "2026-08-17",
    ]  # fmt: skip


def test_a_local_closed_day_on_a_weekend_is_listed_but_weekends_are_not(api, supervisor_user):
    plant = factories.calendar("Pabrik", national_holidays=False, collective_leave=False)
    CalendarDay.objects.create(calendar=plant, date=date(2026, 6, 6), name="Bersih desa")

    body = detail(api(supervisor_user), plant, "?year=2026")

    assert body["closed_days"] == [{"date": "2026-06-06", "reasons": [local("Bersih desa")]}]


# --- The calendar itself ------------------------------------------------------------------------
def test_a_makassar_calendar_is_wita_and_lists_its_sites(api, admin_user):
    wita = factories.calendar(
        "Jam kerja WITA", time_zone="Asia/Makassar", weekdays=[0, 1, 2, 3, 4, 5]
    )
    Site.objects.create(code="MKS", name="Makassar", calendar=wita)
    Site.objects.create(code="BPN", name="Balikpapan", calendar=wita)

    body = detail(api(admin_user), wita, "?year=2026")

    assert {key: body[key] for key in body if key not in {"closed_days", "open_days"}} == {
        "id": wita.pk, "name": "Jam kerja WITA", "time_zone": "Asia/Makassar",
        "time_zone_name": "WITA", "day_starts": "08:00", "day_ends": "17:00",
        "weekdays": [0, 1, 2, 3, 4, 5], "national_holidays": True, "collective_leave": True,
        "sites": ["BPN", "MKS"], "days": [], "year": 2026,
    }  # fmt: skip


def test_the_list_shows_every_calendar_with_its_sites(api, supervisor_user):
    factories.calendar("Jam kerja WIT", time_zone="Asia/Jayapura")

    response = api(supervisor_user).get("/api/calendars/?year=2026")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    rows = {row["name"]: row for row in body["results"]}
    # The two sites start on "Jam kerja WIB" (tickets.roles.ensure_reference_data).
    assert rows["Jam kerja WIB"]["sites"] == ["MLG", "PST"]
    assert rows["Jam kerja WIB"]["time_zone_name"] == "WIB"
    assert rows["Jam kerja WIT"]["sites"] == []
    assert rows["Jam kerja WIT"]["time_zone_name"] == "WIT"
    assert closed(rows["Jam kerja WIT"])["2026-03-21"] == [national("Eid al-Fitr")]


def test_the_year_is_by_default_the_current_one_in_the_calendars_zone(api, supervisor_user):
    factories.calendar("Jam kerja WITA", time_zone="Asia/Makassar")
    # 23:30 on New Year's Eve in Jakarta is already 00:30 on 1 January 2027 in Makassar.
    now = datetime(2026, 12, 31, 23, 30, tzinfo=ZoneInfo("Asia/Jakarta"))

    with time_machine.travel(now, tick=False):
        rows = api(supervisor_user).get("/api/calendars/").json()["results"]

    years = {row["name"]: row["year"] for row in rows}
    assert years == {"Jam kerja WIB": 2026, "Jam kerja WITA": 2027}
    wita = next(row for row in rows if row["name"] == "Jam kerja WITA")
    assert closed(wita)["2027-01-01"] == [national("New Year's Day")]


def test_the_list_reads_a_fixed_number_of_queries(api, supervisor_user):
    client = api(supervisor_user)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/calendars/?year=2026").status_code == 200
        return len(captured)

    queries()  # the first request also reads the user's roles once
    few = queries()
    for number in range(5):
        office = factories.calendar(f"Kantor {number}")
        CalendarDay.objects.create(calendar=office, date=date(2026, 4, 1), name="Rapat")
    assert queries() == few


# --- Bad years, unknown ids, who may read ---------------------------------------------------------
@pytest.mark.parametrize("year", ["abc", "1999", "2101", "20261", "2026.5", "-2026"])
@pytest.mark.parametrize("path", ["list", "detail"])
def test_a_bad_year_is_400_naming_the_field(api, supervisor_user, year, path):
    office = factories.calendar("Kantor Pusat")
    url = "/api/calendars/" if path == "list" else f"/api/calendars/{office.pk}/"

    response = api(supervisor_user).get(url, {"year": year})

    assert response.status_code == 400
    assert response.json()["code"] == "ValidationError"
    assert response.json()["errors"] == {"year": [BAD_YEAR]}


@pytest.mark.parametrize("year", ["2000", "2100"])
def test_the_first_and_last_years_are_answered(api, supervisor_user, year):
    office = factories.calendar("Kantor Pusat")

    body = detail(api(supervisor_user), office, f"?year={year}")

    assert body["year"] == int(year)
    assert all(row["date"].startswith(year) for row in body["closed_days"])
    assert closed(body)[f"{year}-08-17"] == [national("Independence Day")]


def test_an_unknown_calendar_is_404(api, supervisor_user):
    response = api(supervisor_user).get("/api/calendars/999999/")
    assert (response.status_code, response.json()["code"]) == (404, "NotFound")


@pytest.mark.parametrize("role", ["Supervisor", "Admin"])
def test_who_reads_sla_policies_reads_calendars(api, role):
    client = api(factories.role_user(role))
    assert client.get("/api/sla-policies/").status_code == 200
    assert client.get("/api/calendars/").status_code == 200


@pytest.mark.parametrize("role", ["Agent", "Support", "nobody"])
def test_other_roles_may_not_read_calendars(api, role):
    if role == "Agent":
        user = factories.agent_for("nossa")
    elif role == "Support":
        user = factories.role_user("Support")
    else:
        user = factories.User.objects.create_user(username="no-role", password="x-pass-123")
    office = factories.calendar("Kantor Pusat")
    client = api(user)

    assert client.get("/api/sla-policies/").status_code == 403  # the same rule
    for path in ("/api/calendars/", f"/api/calendars/{office.pk}/"):
        response = client.get(path)
        assert response.status_code == 403
        assert response.json() == {
            "detail": "Only supervisors and admins may read business calendars.",
            "code": "PermissionDenied",
        }


def test_without_credentials_calendars_are_401(api):
    office = factories.calendar("Kantor Pusat")
    for path in ("/api/calendars/", f"/api/calendars/{office.pk}/"):
        response = api(None).get(path)
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == "Token"


def test_calendars_are_read_only(api, admin_user):
    office = factories.calendar("Kantor Pusat")
    client = api(admin_user)

    assert client.post("/api/calendars/", {"name": "Baru"}).status_code == 405
    assert client.patch(f"/api/calendars/{office.pk}/", {"name": "X"}).status_code == 405
    assert client.delete(f"/api/calendars/{office.pk}/").status_code == 405
    office.refresh_from_db()
    assert office.name == "Kantor Pusat"

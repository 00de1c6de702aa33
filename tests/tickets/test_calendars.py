"""Business calendars: SLA deadlines across Lebaran 2026, per site and time zone.

Every expected instant below was worked out by hand, never with the code under test; the
working is in the comments. The dates come from the SKB 3 Menteri on the national holidays and
collective leave days of 2026 (Menteri Agama, Menteri Ketenagakerjaan and Menteri PANRB,
No. 1497/2025, 2/2025 and 5/2025, signed 19 September 2025):

    Wed 18 March  cuti bersama, Hari Suci Nyepi          (collective leave)
    Thu 19 March  Hari Suci Nyepi (Tahun Baru Saka 1948)  (national holiday)
    Fri 20 March  cuti bersama, Idul Fitri 1447 H         (collective leave)
    Sat 21 March  Idul Fitri 1447 H, 1 Syawal             (national holiday)
    Sun 22 March  Idul Fitri 1447 H, 2 Syawal             (national holiday)
    Mon 23 March  cuti bersama, Idul Fitri 1447 H         (collective leave)
    Tue 24 March  cuti bersama, Idul Fitri 1447 H         (collective leave)

Idul Fitri is Saturday and Sunday 21-22 March there, and the `holidays` library (0.109) says the
same (`test_the_holidays_library_has_lebaran_2026_as_the_skb_sets_it`). The issue spoke of
"20-21 March"; 20 March is the first collective leave day, not Idul Fitri, so these tests follow
the SKB. March 1st 2026 is a Sunday, so the 16th is a Monday and the 25th a Wednesday.

Unless a test says otherwise: the NOSSA policy at normal priority claims within 30 minutes,
resolves within 120 and Support answers within 120, on the calendar of the ticket's site; both
sites have "Jam kerja WIB" (Monday to Friday, 08:00-17:00 Asia/Jakarta, closed on national
holidays and collective leave days); the at-risk share is 0.8.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from tests import factories
from tickets import dashboards, services, sla
from tickets.forms_supervisor import BusinessCalendarForm
from tickets.models import (
    BusinessCalendar,
    CalendarDay,
    Escalation,
    Site,
    SlaPolicy,
    SlaStatus,
    Ticket,
)
from tickets.services.deadlines import AT_RISK, OK, running_deadline_of

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("at_risk_share")]
WIB, WITA, UTC = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("UTC")


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def at_risk_share(settings):
    settings.TIER2_SLA_AT_RISK_SHARE = 0.8


@pytest.fixture
def nossa_on_site_calendars(db):
    return factories.policy("nossa", 3, claim=30, resolve=120, answer=120, hours="site")


def arrive_at(when: datetime, service=None):
    with time_machine.travel(when, tick=False):
        return factories.arrive("nossa", service=service or factories.service_at("PST"))


# --- The library and the SKB ------------------------------------------------------------------
def test_the_holidays_library_has_lebaran_2026_as_the_skb_sets_it():
    public = sla.national_closed_days(2026, public=True, collective=False)
    collective = sla.national_closed_days(2026, public=False, collective=True)
    march = {day: date(2026, 3, day) for day in range(16, 27)}
    assert {march[19], march[21], march[22]} <= public  # Nyepi; Idul Fitri 1 and 2 Syawal
    assert {march[18], march[20], march[23], march[24]} <= collective  # cuti bersama
    assert not {march[18], march[20], march[23], march[24]} & public
    for working in (16, 17, 25, 26):  # the days around it are ordinary working days
        assert march[working] not in public | collective
    # The SKB's totals for 2026: 17 national holidays and 8 collective leave days.
    assert (len(public), len(collective)) == (17, 8)


def test_the_sites_come_with_the_wib_calendar():
    for code in ("PST", "MLG"):
        calendar = factories.site(code).calendar
        assert calendar.name == "Jam kerja WIB"
        assert (calendar.time_zone, calendar.day_starts, calendar.day_ends) == (
            "Asia/Jakarta", time(8), time(17),
        )  # fmt: skip
        assert calendar.weekdays == [0, 1, 2, 3, 4]
        assert calendar.national_holidays and calendar.collective_leave


# --- Deadlines across Lebaran -----------------------------------------------------------------
def test_a_nossa_ticket_the_day_before_idul_fitri_is_due_after_the_holidays(
    nossa_on_site_calendars,
):
    # Friday 20 March, 10:00 WIB (03:00 UTC), the day before Idul Fitri, at Pusat. Closed:
    # Fri 20 (cuti bersama), Sat 21 and Sun 22 (Idul Fitri, and the weekend), Mon 23 and
    # Tue 24 (cuti bersama). Counting starts Wednesday 25 March at 08:00 WIB:
    #   claim-by   08:00 + 30 min            = Wed 25, 08:30 WIB
    #   resolve-by 08:00 + 120 min           = Wed 25, 10:00 WIB (03:00 UTC)
    #   at risk    08:00 + 0.8 x 120 = 96 min = Wed 25, 09:36 WIB
    #   SLG        arrival + 72 h, 24x7      = Mon 23, 10:00 WIB (the guarantee ignores calendars)
    ticket = arrive_at(wib(3, 20, 10))
    assert ticket.site.code == "PST"
    assert ticket.claim_by == wib(3, 25, 8, 30)
    assert ticket.resolve_by == wib(3, 25, 10) == utc(3, 25, 3)
    assert ticket.warn_at == wib(3, 25, 9, 36)
    assert ticket.slg_due == wib(3, 23, 10)


def test_the_last_working_afternoon_before_lebaran_carries_over_to_the_25th(
    nossa_on_site_calendars,
):
    # Tuesday 17 March, 16:00 WIB: 60 working minutes are left that day (16:00-17:00). Then
    # Wed 18 (cuti bersama Nyepi), Thu 19 (Nyepi), Fri 20 to Tue 24 (above) are closed.
    #   claim-by   16:00 + 30                  = Tue 17, 16:30 WIB
    #   resolve-by 60 on Tue + 60 from Wed 25 08:00 = Wed 25, 09:00 WIB (02:00 UTC)
    #   at risk    96 = 60 on Tue + 36 on Wed 25  = Wed 25, 08:36 WIB
    ticket = arrive_at(wib(3, 17, 16))
    assert ticket.claim_by == wib(3, 17, 16, 30)
    assert ticket.resolve_by == wib(3, 25, 9) == utc(3, 25, 2)
    assert ticket.warn_at == wib(3, 25, 8, 36)


def test_a_calendar_that_works_holidays_counts_them(nossa_on_site_calendars):
    # The same arrival on hours that close only at weekends (what the old business hours did):
    # 60 on Tue 17 + 60 from Wed 18 08:00 = Wed 18, 09:00 WIB.
    Site.objects.filter(code="PST").update(
        calendar=factories.calendar("No holidays", national_holidays=False, collective_leave=False)
    )
    assert arrive_at(wib(3, 17, 16)).resolve_by == wib(3, 18, 9)


def test_the_same_policy_at_a_wita_site_is_due_an_hour_earlier_in_utc(nossa_on_site_calendars):
    # A Makassar site runs on WITA (UTC+8) with the same hours and holidays. Arrival Friday
    # 20 March, 10:00 WIB = 11:00 WITA = 03:00 UTC: closed until Wednesday 25 March.
    #   Pusat    (WIB):  Wed 25 08:00 WIB  + 120 = 10:00 WIB  = 03:00 UTC
    #   Makassar (WITA): Wed 25 08:00 WITA + 120 = 10:00 WITA = 02:00 UTC, an hour earlier
    #   claim-by at Makassar: 08:30 WITA = 00:30 UTC
    wita = factories.calendar("Jam kerja WITA", time_zone="Asia/Makassar")
    Site.objects.create(code="MKS", name="Makassar", calendar=wita)
    # Three sites now, by code MKS, MLG, PST: a number's last digit modulo 3 picks one.
    pusat = arrive_at(wib(3, 20, 10), factories.ServiceFactory(service_number="131199990002"))
    makassar = arrive_at(wib(3, 20, 10), factories.ServiceFactory(service_number="131199990003"))
    assert (pusat.site.code, makassar.site.code) == ("PST", "MKS")
    assert pusat.resolve_by == utc(3, 25, 3)
    assert makassar.resolve_by == datetime(2026, 3, 25, 10, tzinfo=WITA) == utc(3, 25, 2)
    assert pusat.resolve_by - makassar.resolve_by == timedelta(hours=1)
    assert makassar.claim_by == utc(3, 25, 0, 30)


def test_a_local_holiday_closes_only_its_site(nossa_on_site_calendars):
    # Malang gets its own calendar with Hari Jadi Kota Malang, Wednesday 1 April 2026, closed.
    # Arrival Tuesday 31 March, 16:00 WIB (no national day near: Good Friday is 3 April).
    #   Pusat:  60 on Tue 31 + 60 from Wed 1 April 08:00 = Wed 1 April, 09:00 WIB
    #   Malang: 60 on Tue 31, Wed 1 closed, 60 from Thu 2 08:00 = Thu 2 April, 09:00 WIB
    malang_hours = factories.calendar("Jam kerja Malang")
    CalendarDay.objects.create(
        calendar=malang_hours, date=date(2026, 4, 1), name="Hari Jadi Kota Malang"
    )
    Site.objects.filter(code="MLG").update(calendar=malang_hours)
    pusat = arrive_at(wib(3, 31, 16), factories.service_at("PST"))
    malang = arrive_at(wib(3, 31, 16), factories.service_at("MLG"))
    assert (pusat.site.code, malang.site.code) == ("PST", "MLG")
    assert pusat.resolve_by == wib(4, 1, 9)
    assert malang.resolve_by == wib(4, 2, 9)


def test_a_working_day_added_to_a_calendar_counts_at_once(nossa_on_site_calendars):
    # Pusat works the collective leave Monday 23 March (a skeleton shift). Arrival Tue 17
    # 16:00: before, resolve-by Wed 25 09:00 (above); after adding the day, 60 on Tue 17 +
    # 60 from Mon 23 08:00 = Mon 23, 09:00 WIB. The calendar's new version is read at once.
    calendar = factories.site("PST").calendar
    assert arrive_at(wib(3, 17, 16)).resolve_by == wib(3, 25, 9)
    CalendarDay.objects.create(
        calendar=calendar, date=date(2026, 3, 23), name="Piket Lebaran", kind="open"
    )
    assert arrive_at(wib(3, 17, 16)).resolve_by == wib(3, 23, 9)


def test_new_hours_on_a_calendar_count_at_once(nossa_on_site_calendars):
    # Pusat's calendar closes at 16:00 from now on. Arrival Tue 17 March 15:00: 60 on Tue
    # (15:00-16:00) + 60 from Wed 25 08:00 = Wed 25, 09:00 WIB (at 17:00 it was Tue 17 17:00).
    assert arrive_at(wib(3, 17, 15)).resolve_by == wib(3, 17, 17)
    calendar = factories.site("PST").calendar
    calendar.day_ends = time(16)
    calendar.save()
    assert arrive_at(wib(3, 17, 15)).resolve_by == wib(3, 25, 9)


def test_a_policy_on_a_named_calendar_counts_it_at_every_site():
    # The policy names a WITA calendar: a Pusat ticket counts WITA hours too. Arrival Tue 17
    # 16:00 WIB = 17:00 WITA, closing time: nothing left that day; Wed 25 08:00 WITA + 120 =
    # 10:00 WITA = Wed 25, 09:00 WIB.
    wita = factories.calendar("Jam kerja WITA", time_zone="Asia/Makassar")
    factories.policy("nossa", 3, claim=30, resolve=120, on=wita)
    ticket = arrive_at(wib(3, 17, 16))
    assert ticket.site.code == "PST"
    assert ticket.resolve_by == datetime(2026, 3, 25, 10, tzinfo=WITA) == wib(3, 25, 9)


# --- Pauses with Support ----------------------------------------------------------------------
def escalate(ticket, agent, when):
    with time_machine.travel(when, tick=False):
        services.transition_ticket(
            ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "Cek ONT"}
        )


def answer(ticket, support_user, when):
    with time_machine.travel(when, tick=False):
        services.transition_ticket(
            ticket_id=ticket.pk, name="answer_escalation", actor=support_user,
            inputs={"answer": "Sudah dicek"},
        )  # fmt: skip
    return Ticket.objects.get(pk=ticket.pk)


def claimed(arrival):
    ticket = arrive_at(arrival)
    agent = factories.agent()
    with time_machine.travel(arrival + timedelta(minutes=5), tick=False):
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    return ticket, agent


def test_a_pause_across_the_holidays_costs_only_its_working_minutes(
    nossa_on_site_calendars, support_user
):
    # Arrival Tue 17 16:00 (resolve-by Wed 25 09:00). Escalated Tue 17 16:50, answered Wed 25
    # 08:10: 7 days and 20 minutes on the wall clock, but only 20 working minutes
    # (Tue 16:50-17:00 and Wed 25 08:00-08:10).
    #   Support's answer due: 16:50 + 120 = 10 on Tue + 110 from Wed 25 08:00 = 09:50 WIB
    #   resolve-by: 120 + 20 = 140 = 60 on Tue + 80 from Wed 25 08:00 = 09:20 WIB
    #   at risk:    0.8 x 140 = 112 = 60 on Tue + 52 on Wed 25 = 08:52 WIB
    ticket, agent = claimed(wib(3, 17, 16))
    escalate(ticket, agent, wib(3, 17, 16, 50))
    assert Escalation.objects.get(ticket=ticket).due_at == wib(3, 25, 9, 50)
    answered = answer(ticket, support_user, wib(3, 25, 8, 10))
    assert answered.sla_paused_seconds == 20 * 60
    assert answered.resolve_by == wib(3, 25, 9, 20)
    assert answered.warn_at == wib(3, 25, 8, 52)


def test_a_pause_inside_the_holidays_costs_nothing(nossa_on_site_calendars, support_user):
    # Escalated Tue 17 17:30, after closing; answered Wed 25 07:30, before opening: no working
    # minute in between, so resolve-by stays Wed 25 09:00.
    ticket, agent = claimed(wib(3, 17, 16))
    escalate(ticket, agent, wib(3, 17, 17, 30))
    answered = answer(ticket, support_user, wib(3, 25, 7, 30))
    assert (answered.sla_paused_seconds, answered.resolve_by) == (0, wib(3, 25, 9))


# --- The sweep and the dashboard --------------------------------------------------------------
def test_the_sweep_and_the_dashboard_see_at_risk_in_working_time(nossa_on_site_calendars):
    # Arrival Tue 17 16:00, resolve-by Wed 25 09:00, at risk Wed 25 08:36 (above). On the
    # wall clock 0.8 of the 185 hours between would be 148 hours in: Mon 23, 20:00, in the
    # middle of the holidays, when only 60 of the 120 working minutes are used.
    ticket, _agent = claimed(wib(3, 17, 16))
    assert services.sweep_sla(now=wib(3, 23, 20)).at_risk == 0
    ticket.refresh_from_db()
    assert running_deadline_of(ticket, wib(3, 23, 20)).status == OK
    assert services.sweep_sla(now=wib(3, 25, 8, 35)).at_risk == 0
    assert services.sweep_sla(now=wib(3, 25, 8, 36)).at_risk == 1
    ticket.refresh_from_db()
    assert ticket.sla_status == SlaStatus.AT_RISK
    assert running_deadline_of(ticket, wib(3, 25, 8, 36)).status == AT_RISK
    tiles = dashboards.flow_tiles(dashboards.DashboardFilter.last_days(7))
    (tile,) = [tile for tile in tiles if (tile.flow, tile.site) == ("nossa", "PST")]
    assert (tile.backlog, tile.at_risk, tile.breached) == (1, 1, 0)


# --- Calendars without working time, and speed ------------------------------------------------
def test_a_calendar_without_working_time_is_refused():
    def errors(**changes):
        data = {
            "name": "Kosong", "time_zone": "Asia/Jakarta", "day_starts": "08:00",
            "day_ends": "17:00", "weekdays": ["0"], **changes,
        }  # fmt: skip
        form = BusinessCalendarForm(data)
        assert not form.is_valid()
        return form.errors

    assert errors(weekdays=[])["weekdays"] == ["Choose at least one working day."]
    assert errors(day_ends="08:00")["day_ends"] == ["The working day must end after it starts."]
    assert errors(day_ends="07:00")["day_ends"] == ["The working day must end after it starts."]
    assert not BusinessCalendar.objects.filter(name="Kosong").exists()
    # The database refuses such a day too, and the arithmetic stops instead of walking forever.
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.calendar("Kosong", day_starts=time(17), day_ends=time(8))
    closed = sla.WorkingCalendar(
        name="Kosong", zone=WIB, starts=time(8), ends=time(17), weekdays=frozenset()
    )
    with pytest.raises(sla.NoWorkingTime):
        sla.add_working_minutes(wib(3, 17, 16), 1, closed)
    assert not sla.fits(closed, 1)


def test_walking_a_compiled_calendar_reads_nothing(django_assert_num_queries):
    # 540 hours from Friday 2 January 08:00 are 60 whole working days of nine hours:
    #   January:  21 weekdays from Fri 2 to Fri 30, less Fri 16 (Isra Mikraj)           = 20
    #   February: 20 weekdays, less Mon 16 (cuti bersama) and Tue 17 (Imlek)              = 18
    #   March 2-17: 12 weekdays (18-24 closed, Lebaran)                                 -> 50
    #   Mar 25, 26, 27, 30, 31, Apr 1, 2 (Fri 3 is Good Friday), Apr 6, 7, 8              -> 60
    # so the 540th hour ends on Wednesday 8 April at 17:00 WIB.
    calendar = sla.compiled(factories.site("PST").calendar)
    with django_assert_num_queries(0):
        due = sla.add_working_time(wib(1, 2, 8), timedelta(hours=540), calendar)
        between = sla.working_time_between(wib(1, 2, 8), due, calendar)
    assert (due, between) == (wib(4, 8, 17), timedelta(hours=540))


def test_deadlines_read_the_policy_and_the_site_calendar_once(
    nossa_on_site_calendars, django_assert_num_queries
):
    sla.compiled(factories.site("PST").calendar)  # compiled once per process and version
    ticket = Ticket(flow="nossa", priority=3, site=factories.site("PST"), created_at=wib(3, 17, 16))
    with django_assert_num_queries(2):  # the policy (with its calendar), the site's calendar
        sla.apply_deadlines(ticket)
    assert ticket.resolve_by == wib(3, 25, 9)


# --- Existing policies: the data migration ----------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_business_hours_policies_into_calendars_keeping_deadlines():
    before = ("tickets", "0016_business_calendars")
    after = ("tickets", "0018_policy_hours_fields_removed")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    old = executor.loader.project_state([before]).apps.get_model("tickets", "SlaPolicy")
    targets = {"claim_minutes": 30, "resolve_minutes": 120, "escalation_answer_minutes": 120}
    business = {"business_hours_only": True, "day_starts": time(8), "day_ends": time(17)}
    old.objects.create(flow="nossa", priority=3, **targets, **business,
                       business_weekdays=[0, 1, 2, 3, 4])  # fmt: skip
    old.objects.create(flow="callback", priority=3, **targets, **business,
                       business_weekdays=[])  # empty meant Monday to Friday  # fmt: skip
    old.objects.create(flow="ideas", priority=3, **targets)  # 24x7
    old.objects.create(flow="gamas", priority=3, **targets, business_hours_only=True,
                       day_starts=time(17), day_ends=time(8), business_weekdays=[0])  # fmt: skip
    try:
        MigrationExecutor(connection).migrate([after])
        policies = {row.flow: row for row in SlaPolicy.objects.select_related("calendar")}
        nossa, callback = policies["nossa"], policies["callback"]
        assert (nossa.hours, callback.hours) == ("calendar", "calendar")
        assert nossa.calendar == callback.calendar
        calendar = nossa.calendar
        assert calendar.name == "Mon, Tue, Wed, Thu, Fri 08:00–17:00 WIB"
        assert (calendar.time_zone, calendar.weekdays) == ("Asia/Jakarta", [0, 1, 2, 3, 4])
        assert not (calendar.national_holidays or calendar.collective_leave)
        # A day that never ended after it started could not be worked: 24x7 now.
        assert (policies["ideas"].hours, policies["gamas"].hours) == ("24x7", "24x7")
        # The same deadline as before the migration, which knew no holidays: Tue 17 March
        # 16:00 + 120 = 60 on Tue + 60 from Wed 18 08:00 = Wed 18, 09:00 WIB.
        assert sla.add_working_minutes(wib(3, 17, 16), 120, sla.calendar_for(nossa)) == wib(
            3, 18, 9
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

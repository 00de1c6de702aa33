"""Business calendars, the leftovers of issue #14 part 3: the time a paused ticket has left and
the claim clock's at-risk badge count working time, and writes that skip `save()` still give
the calendars they touch a new version.

Every expected value below was worked out by hand from the calendar, never with the code under
test; the working is in the comments. Unless a test says otherwise: the NOSSA policy at normal
priority claims within 30 minutes and resolves within 120, on the calendar of the ticket's
site; Pusat has "Jam kerja WIB" (Monday to Friday, 08:00-17:00 Asia/Jakarta, closed on national
holidays and collective leave days); the at-risk share is 0.8.

Dates (2026): Friday 12 June and Monday 15 June are ordinary working days (Pancasila Day is
Monday 1 June, Islamic New Year Tuesday 16 June). Lebaran, as the SKB 3 Menteri sets it and
tests/tickets/test_calendars.py checks against the `holidays` library: Wed 18 March cuti
bersama Nyepi, Thu 19 Nyepi, Fri 20 cuti bersama Idul Fitri, Sat 21 and Sun 22 Idul Fitri
1447 H, Mon 23 and Tue 24 cuti bersama; Wednesday 25 March is the first working day after.
"""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import IntegrityError, transaction
from django.urls import reverse

from tests import factories
from tickets import services, sla
from tickets.models import BusinessCalendar, CalendarDay, Site, Ticket
from tickets.services.deadlines import AT_RISK, OK, OVERDUE, PAUSED, running_deadline_of
from tickets.views.presenters import sla_view

pytestmark = pytest.mark.django_db
WIB, WITA, UTC = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("UTC")


def wib(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WIB)


def wita(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=WITA)


@pytest.fixture(autouse=True)
def at_risk_share(settings):
    settings.TIER2_SLA_AT_RISK_SHARE = 0.8
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def on_site_calendars(db):
    return factories.policy("nossa", 3, claim=30, resolve=120, answer=120, hours="site")


@pytest.fixture
def makassar(db):
    """A Makassar site on WITA (UTC+8), with the same hours and holidays as Pusat's."""
    hours = factories.calendar("Jam kerja WITA", time_zone="Asia/Makassar")
    return Site.objects.create(code="MKS", name="Makassar", calendar=hours)


def arrive_at(when: datetime, service=None) -> Ticket:
    with time_machine.travel(when, tick=False):
        return factories.arrive("nossa", service=service or factories.service_at("PST"))


def paused(*, resolve_by: datetime, paused_at: datetime, site: Site | None = None) -> Ticket:
    """A NOSSA ticket with Support since `paused_at` (set-up only: bypasses the machine)."""
    ticket = factories.arrive("nossa", service=factories.service_at("PST"))
    changes = {"resolve_by": resolve_by, "sla_paused_at": paused_at, "state": "escalated"}
    if site is not None:
        changes["site"] = site
    Ticket.objects.filter(pk=ticket.pk).update(awaiting_agent=False, **changes)
    return Ticket.objects.get(pk=ticket.pk)


# --- The time a paused ticket has left ---------------------------------------------------------
def test_a_ticket_paused_on_friday_afternoon_has_its_working_time_left(on_site_calendars):
    # Paused Fri 12 June 16:00 WIB, resolve-by Mon 15 June 10:00 WIB. Working time between:
    # Fri 16:00-17:00 (1 h) + Mon 08:00-10:00 (2 h) = 3 h. The wall clock says 66 h.
    ticket = paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10))

    running = running_deadline_of(ticket, wib(6, 13, 9))

    assert (running.kind, running.at, running.status) == (PAUSED, None, PAUSED)
    assert running.left == timedelta(hours=3)


def test_on_24x7_a_paused_ticket_keeps_its_wall_clock_time_left(db):
    # No policy saved: the NOSSA default counts 24x7. Fri 16:00 -> Mon 10:00 = 2 days 18 h.
    ticket = paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10))

    assert running_deadline_of(ticket, wib(6, 13, 9)).left == timedelta(hours=66)


def test_a_ticket_paused_past_its_deadline_shows_the_working_time_it_was_late(on_site_calendars):
    # Resolve-by Fri 12 June 16:30, paused Mon 15 June 08:45: late by Fri 16:30-17:00 (30 min)
    # + Mon 08:00-08:45 (45 min) = 1:15 of working time; shown as -1:15:00.
    ticket = paused(paused_at=wib(6, 15, 8, 45), resolve_by=wib(6, 12, 16, 30))

    running = running_deadline_of(ticket, wib(6, 15, 9))

    assert running.left == -timedelta(minutes=75)
    assert ">-1:15:00</span>" in sla_view(ticket, wib(6, 15, 9))["countdown"]


def test_a_pause_across_lebaran_leaves_only_working_time(on_site_calendars):
    # Arrival Tue 17 March 16:00 WIB: resolve-by 60 min on Tue + 60 from Wed 25 08:00 = Wed 25,
    # 09:00 WIB. Taken 16:05, escalated 16:30: left Tue 16:30-17:00 (30 min), then Wed 18 to
    # Tue 24 closed (Nyepi, Lebaran, the weekend, cuti bersama), Wed 25 08:00-09:00 (60 min):
    # 1:30:00, where the wall clock says 7 days 16 h 30 min.
    ticket = arrive_at(wib(3, 17, 16))
    agent = factories.agent()
    with time_machine.travel(wib(3, 17, 16, 5), tick=False):
        services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    with time_machine.travel(wib(3, 17, 16, 30), tick=False):
        services.transition_ticket(
            ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "Cek ONT"}
        )
    ticket = Ticket.objects.get(pk=ticket.pk)
    assert (ticket.resolve_by, ticket.sla_paused_at) == (wib(3, 25, 9), wib(3, 17, 16, 30))

    assert running_deadline_of(ticket, wib(3, 21, 12)).left == timedelta(minutes=90)
    shown = sla_view(ticket, wib(3, 21, 12))
    assert ">1:30:00</span>" in shown["countdown"]
    assert "7d 16h" not in shown["countdown"]


def test_at_a_wita_site_the_time_left_counts_on_wita_hours(on_site_calendars, makassar):
    # Makassar, paused Fri 12 June 16:30 WITA, resolve-by Mon 15 June 08:30 WITA:
    #   WITA hours: Fri 16:30-17:00 (30 min) + Mon 08:00-08:30 (30 min) = 1:00:00
    # (On Pusat's WIB hours the same instants, Fri 15:30 WIB to Mon 07:30 WIB, would hold
    # Fri 15:30-17:00, 90 min, and nothing on Monday: 1:30:00.)
    ticket = paused(paused_at=wita(6, 12, 16, 30), resolve_by=wita(6, 15, 8, 30), site=makassar)

    assert running_deadline_of(ticket, wita(6, 13, 9)).left == timedelta(hours=1)


def test_the_queue_workspace_and_panel_show_the_working_time_left(on_site_calendars, client):
    # The Friday ticket above: 3:00:00 left, not 66 h ("2d 18h").
    ticket = paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10))
    client.force_login(factories.role_user("Supervisor"))

    with time_machine.travel(wib(6, 13, 9), tick=False):
        queue = client.get(reverse("queue", args=["all"])).content.decode()
        workspace = client.get(reverse("ticket", args=[ticket.pk])).content.decode()
        panel = client.get(
            reverse("ticket_panel", args=[ticket.pk]), headers={"HX-Request": "true"}
        ).content.decode()

    row = queue[queue.index(f'data-ticket-row="{ticket.pk}"') :].split("</tr>")[0]
    head = workspace[workspace.index('id="ws-head"') :].split("</section>")[0]
    for shown in (row, head, panel):
        assert '<span class="countdown paused">3:00:00</span>' in shown
        assert "2d 18h" not in shown


# --- The claim clock's at-risk badge -----------------------------------------------------------
def test_the_claim_clock_is_at_risk_after_its_share_of_the_working_time(on_site_calendars):
    # Arrival Fri 12 June 16:50 WIB, claim within 30 working minutes: 10 on Friday (16:50-17:00)
    # and 20 from Monday 08:00, so claim-by Mon 15 June 08:20. At risk after 0.8 x 30 = 24
    # working minutes: 10 on Friday + 14 on Monday = Mon 08:14. The wall-clock share would be
    # Fri 16:50 + 0.8 x 63 h 30 min (= 50 h 48 min) = Sun 14 June 19:38.
    ticket = arrive_at(wib(6, 12, 16, 50))
    assert ticket.claim_by == wib(6, 15, 8, 20)

    assert running_deadline_of(ticket, wib(6, 14, 20)).status == OK
    assert running_deadline_of(ticket, wib(6, 15, 8, 13)).status == OK
    assert running_deadline_of(ticket, wib(6, 15, 8, 14)).status == AT_RISK
    assert running_deadline_of(ticket, wib(6, 15, 8, 20)).status == OVERDUE


def test_a_ticket_waiting_over_lebaran_is_not_at_risk_during_the_holidays(on_site_calendars):
    # Arrival Tue 17 March 16:50 WIB: 10 working minutes on Tuesday, closed from Wed 18 to
    # Tue 24, 20 from Wed 25 08:00: claim-by Wed 25 08:20. At risk after 24 working minutes:
    # Wed 25 08:14. The wall-clock share, 0.8 x 183 h 30 min = 146 h 48 min after arrival,
    # would be Mon 23 March 19:38, in the middle of the holidays.
    ticket = arrive_at(wib(3, 17, 16, 50))
    assert ticket.claim_by == wib(3, 25, 8, 20)

    assert running_deadline_of(ticket, wib(3, 23, 20)).status == OK
    assert running_deadline_of(ticket, wib(3, 25, 8, 13)).status == OK
    assert running_deadline_of(ticket, wib(3, 25, 8, 14)).status == AT_RISK
    assert sla_view(ticket, wib(3, 25, 8, 14))["badge"] == "At risk"


def test_at_a_wita_site_the_claim_clock_counts_on_wita_hours(on_site_calendars, makassar):
    # Three sites by code, MKS, MLG, PST: a number whose last digit is 3 goes to Makassar.
    # Arrival Fri 12 June 16:50 WITA (15:50 WIB): 10 minutes on Friday, claim-by Mon 15 June
    # 08:20 WITA (00:20 UTC); at risk after 24 working minutes: Mon 08:14 WITA (00:14 UTC).
    # (On WIB hours the 30 minutes would fit on Friday: claim-by 16:20 WIB.)
    service = factories.ServiceFactory(service_number="131199990003")
    ticket = arrive_at(wita(6, 12, 16, 50), service)
    assert ticket.site == makassar
    assert ticket.claim_by == datetime(2026, 6, 15, 0, 20, tzinfo=UTC)

    assert running_deadline_of(ticket, wita(6, 15, 8, 13)).status == OK
    assert running_deadline_of(ticket, datetime(2026, 6, 15, 0, 14, tzinfo=UTC)).status == AT_RISK


def test_on_24x7_the_claim_clock_keeps_the_wall_clock_share(db):
    # The NOSSA default at normal priority claims within 15 minutes, 24x7. Arrival Sat 13 June
    # 12:00: claim-by 12:15; at risk after 0.8 x 15 = 12 minutes, 12:12, weekend or not.
    ticket = arrive_at(wib(6, 13, 12))
    assert ticket.claim_by == wib(6, 13, 12, 15)

    assert running_deadline_of(ticket, wib(6, 13, 12, 11)).status == OK
    assert running_deadline_of(ticket, wib(6, 13, 12, 12)).status == AT_RISK


# --- Cheap: what the pages read -----------------------------------------------------------------
def test_the_deadline_alone_reads_no_calendar(on_site_calendars, django_assert_num_queries):
    # The dashboard's list shows only the running deadline: no policy, no calendar is read.
    waiting = arrive_at(wib(6, 12, 16, 50))
    with_support = paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10))
    with django_assert_num_queries(0):
        assert running_deadline_of(waiting, wib(6, 13, 9)).at == wib(6, 15, 8, 20)
        assert running_deadline_of(with_support, wib(6, 13, 9)).at is None


def test_a_page_of_rows_reads_the_hours_once(on_site_calendars, django_assert_num_queries):
    tickets = [arrive_at(wib(6, 12, 16, 50)) for _ in range(6)]
    tickets += [paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10)) for _ in range(6)]
    sla.compiled(factories.site("PST").calendar)  # compiled once per process and version
    now = wib(6, 15, 8, 14)
    with django_assert_num_queries(2):  # every policy (with its calendar), the sites' calendars
        shown = [sla_view(ticket, now) for ticket in tickets]
    assert [row["badge"] for row in shown] == ["At risk"] * 6 + ["Paused"] * 6


def test_the_queue_page_reads_as_much_for_many_rows_as_for_few(
    on_site_calendars, client, django_assert_max_num_queries
):
    client.force_login(factories.role_user("Supervisor"))

    def queries_for_the_page() -> int:
        with (
            time_machine.travel(wib(6, 15, 8, 14), tick=False),
            django_assert_max_num_queries(12) as counted,
        ):
            client.get(reverse("queue", args=["all"]))
        return len(counted.captured_queries)

    arrive_at(wib(6, 12, 16, 50))
    paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10))
    few = queries_for_the_page()
    for _ in range(12):
        arrive_at(wib(6, 12, 16, 50))
        paused(paused_at=wib(6, 12, 16), resolve_by=wib(6, 15, 10))
    assert queries_for_the_page() == few


# --- Calendar versions: writes that skip save() ------------------------------------------------
def version_of(calendar: BusinessCalendar):
    return BusinessCalendar.objects.values_list("version", flat=True).get(pk=calendar.pk)


@pytest.fixture
def pusat_hours(on_site_calendars):
    return factories.site("PST").calendar


def piket(calendar, kind="closed", day=date(2026, 3, 23)):
    """The collective leave Monday 23 March as a day of the calendar (saved one by one)."""
    return CalendarDay.objects.create(calendar=calendar, date=day, name="Piket Lebaran", kind=kind)


def resolve_by_of_an_arrival_on_tuesday_17_march() -> datetime:
    # Arrival Tue 17 March 16:00: 60 working minutes that day, then:
    #   Lebaran closed until Tue 24:       60 from Wed 25 08:00 = Wed 25 09:00
    #   Mon 23 open (a piket shift):       60 from Mon 23 08:00 = Mon 23 09:00
    return arrive_at(wib(3, 17, 16)).resolve_by


def reopen_by_update(calendar):
    CalendarDay.objects.filter(calendar=calendar, date=date(2026, 3, 23)).update(kind="open")


def reopen_by_related_update(calendar):
    calendar.days.filter(date=date(2026, 3, 23)).update(kind="open")


def reopen_by_bulk_update(calendar):
    day = CalendarDay.objects.get(calendar=calendar, date=date(2026, 3, 23))
    day.kind = "open"
    CalendarDay.objects.bulk_update([day], ["kind"])


def open_by_bulk_create(calendar):
    CalendarDay.objects.bulk_create(
        [CalendarDay(calendar=calendar, date=date(2026, 3, 23), name="Piket", kind="open")]
    )


@pytest.mark.parametrize(
    "write",
    [reopen_by_update, reopen_by_related_update, reopen_by_bulk_update, open_by_bulk_create],
    ids=lambda write: write.__name__,
)
def test_a_day_written_past_save_gives_the_calendar_a_new_version(pusat_hours, write):
    if write is not open_by_bulk_create:
        piket(pusat_hours)  # closed, saved one by one: changes nothing on a cuti bersama day
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 25, 9)  # compiled, cached
    cached = sla.compiled(BusinessCalendar.objects.get(pk=pusat_hours.pk))
    before = version_of(pusat_hours)
    other = factories.calendar("Jam kerja lain")
    other_before = version_of(other)

    write(pusat_hours)

    assert version_of(pusat_hours) != before
    assert version_of(other) == other_before  # only the calendars the write touched
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 23, 9)  # the new day counts
    fresh = sla.compiled(BusinessCalendar.objects.get(pk=pusat_hours.pk))
    assert fresh is not cached
    assert fresh.is_working_day(date(2026, 3, 23)) and not cached.is_working_day(date(2026, 3, 23))


def test_a_queryset_delete_gives_the_calendar_a_new_version(pusat_hours):
    # A closed Wed 25 March on top of Lebaran: 60 on Tue 17 + 60 from Thu 26 08:00 = Thu 26
    # 09:00. Deleted with a queryset: back to Wed 25 09:00.
    piket(pusat_hours, day=date(2026, 3, 25))
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 26, 9)
    before = version_of(pusat_hours)

    CalendarDay.objects.filter(calendar=pusat_hours).delete()

    assert version_of(pusat_hours) != before
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 25, 9)


def test_days_moved_to_another_calendar_renew_both(pusat_hours):
    other = factories.calendar("Jam kerja lain")
    day = piket(other, kind="open")
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 25, 9)
    before = (version_of(pusat_hours), version_of(other))

    CalendarDay.objects.filter(pk=day.pk).update(calendar=pusat_hours)

    assert version_of(pusat_hours) != before[0] and version_of(other) != before[1]
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 23, 9)
    assert not sla.compiled(BusinessCalendar.objects.get(pk=other.pk)).open_days

    day.refresh_from_db()
    day.calendar = other
    before = (version_of(pusat_hours), version_of(other))
    CalendarDay.objects.bulk_update([day], ["calendar"])
    assert version_of(pusat_hours) != before[0] and version_of(other) != before[1]
    assert resolve_by_of_an_arrival_on_tuesday_17_march() == wib(3, 25, 9)


def test_a_failed_bulk_write_leaves_the_version_alone(pusat_hours):
    piket(pusat_hours)
    before = version_of(pusat_hours)

    with pytest.raises(IntegrityError), transaction.atomic():
        CalendarDay.objects.bulk_create(
            [CalendarDay(calendar=pusat_hours, date=date(2026, 3, 23), name="Twice")]
        )

    assert version_of(pusat_hours) == before


def test_a_calendar_updated_past_save_gets_a_new_version(pusat_hours):
    # Pusat closes at 16:00 from now on. Arrival Tue 17 March 15:00: 60 on Tue 15:00-16:00 +
    # 60 from Wed 25 08:00 = Wed 25 09:00 (at 17:00 closing it was Tue 17 17:00).
    assert arrive_at(wib(3, 17, 15)).resolve_by == wib(3, 17, 17)
    before = version_of(pusat_hours)

    BusinessCalendar.objects.filter(pk=pusat_hours.pk).update(day_ends=time(16))

    assert version_of(pusat_hours) != before
    assert arrive_at(wib(3, 17, 15)).resolve_by == wib(3, 25, 9)

    pusat_hours.refresh_from_db()
    pusat_hours.day_ends = time(17)
    before = version_of(pusat_hours)
    BusinessCalendar.objects.bulk_update([pusat_hours], ["day_ends"])
    assert version_of(pusat_hours) != before
    assert arrive_at(wib(3, 17, 15)).resolve_by == wib(3, 17, 17)

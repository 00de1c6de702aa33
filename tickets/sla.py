"""SLA arithmetic: policies per flow and priority, their hours, and deadlines counted on them.

Pure reads and arithmetic: deadlines are computed when a ticket arrives, changes priority or
comes back from Support, and stored on the ticket by the services (`services.deadlines`, which
also runs the sweep), so queues and the sweep read indexed columns instead of recomputing.

Which hours count (`calendar_for`), by the policy's `hours`:

- `24x7`: every minute counts (also the built-in defaults, where no policy row is saved);
- `calendar`: the business calendar the policy names, for every ticket of its flow and priority;
- `site`: the business calendar of the ticket's site, so one policy counts Pusat's hours in WIB
  and a Makassar site's in WITA. A site with no calendar counts 24x7.

A business calendar (`models.BusinessCalendar`) is worked from `day_starts` to `day_ends`, in
its own time zone, on its weekdays, except the dates it closes: the national public holidays
and the collective leave days (cuti bersama) of the `holidays` library when it says so, and its
own closed days (`CalendarDay`, kind closed). Its own open days are worked with the same hours
whatever the weekday or holiday. The arithmetic runs on a `WorkingCalendar`, the calendar
compiled in memory: the national dates come from the library once per year and process, the
calendar's own days are read once per version of the calendar (every save of the calendar or
of a day, and every queryset write of them, gives it a new version), so walking the days costs
no query.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from time import monotonic
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    BusinessCalendar,
    CalendarDayKind,
    Flow,
    Priority,
    Site,
    SlaHours,
    SlaPolicy,
)

# Targets at normal priority when no policy row exists: (claim within, resolve within) minutes.
DEFAULT_TARGETS = {
    Flow.CALLBACK: (30, 8 * 60),
    Flow.NOSSA: (15, 24 * 60),
    Flow.GAMAS: (30, 24 * 60),
    Flow.C4_CARING: (4 * 60, 3 * 24 * 60),
    Flow.FORCE_CLOSE: (60, 24 * 60),
    Flow.FRESH_LAPUL: (10, 12 * 60),  # the tighter SLA for repeat reports
    Flow.IDEAS: (8 * 60, 7 * 24 * 60),
}
PRIORITY_FACTOR = {Priority.CRITICAL: 0.25, Priority.HIGH: 0.5, Priority.NORMAL: 1, Priority.LOW: 2}
DEFAULT_ESCALATION_ANSWER_MINUTES = 120
# How far a deadline may lie from its start, in days of the calendar: a calendar whose working
# time cannot hold a target within it is refused (the policy form and the calendar admin check
# with `fits`), so ticket arrival never meets it.
MAX_WALK_DAYS = 3 * 366


def default_policy(flow: str, priority: int) -> SlaPolicy:
    """The built-in targets of a flow and priority, counted 24x7."""
    claim, resolve = DEFAULT_TARGETS[flow]
    factor = PRIORITY_FACTOR[priority]
    return SlaPolicy(
        flow=flow,
        priority=priority,
        claim_minutes=max(1, round(claim * factor)),
        resolve_minutes=max(1, round(resolve * factor)),
        escalation_answer_minutes=DEFAULT_ESCALATION_ANSWER_MINUTES,
        hours=SlaHours.ROUND_THE_CLOCK,
    )


_held = threading.local()


@contextmanager
def policies_held():
    """Within one bulk operation (an import's single transaction), read each policy and each
    site's calendar once instead of once per ticket. Outside such a block every call reads."""
    outer = getattr(_held, "policies", None)
    if outer is None:
        _held.policies, _held.site_calendars = {}, {}
    try:
        yield
    finally:
        if outer is None:
            _held.policies = _held.site_calendars = None


def policy_for(flow: str, priority: int) -> SlaPolicy:
    """The saved policy of a flow and priority (with its calendar row), or the default."""
    memo = getattr(_held, "policies", None)
    if memo is not None and (flow, priority) in memo:
        return memo[flow, priority]
    policy = (
        SlaPolicy.objects.select_related("calendar").filter(flow=flow, priority=priority).first()
    )
    policy = policy or default_policy(flow, priority)
    if memo is not None:
        memo[flow, priority] = policy
    return policy


# --- Calendars in memory ----------------------------------------------------------------------
class NoWorkingTime(ValueError):
    """A calendar without working time to hold a duration (raised instead of walking forever)."""


@lru_cache(maxsize=256)
def national_closed_days(year: int, *, public: bool, collective: bool) -> frozenset[date]:
    """Indonesia's national public holidays and/or collective leave days of one year, from the
    `holidays` library: its PUBLIC category holds the public holidays (hari libur nasional),
    its GOVERNMENT category the collective leave days (cuti bersama, SKB 3 Menteri). Islamic
    holidays of years the library has not confirmed are its estimates."""
    categories = [
        category
        for category, wanted in ((holidays.PUBLIC, public), (holidays.GOVERNMENT, collective))
        if wanted
    ]
    if not categories:
        return frozenset()
    return frozenset(holidays.country_holidays("ID", years=year, categories=categories))


@dataclass(eq=False)
class WorkingCalendar:
    """A business calendar compiled for arithmetic: no database, national dates per year."""

    name: str
    zone: ZoneInfo
    starts: time
    ends: time
    weekdays: frozenset[int]
    national_holidays: bool = True
    collective_leave: bool = True
    closed_days: frozenset[date] = frozenset()
    open_days: frozenset[date] = frozenset()
    version: object = None
    _national: dict[int, frozenset[date]] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, calendar: BusinessCalendar, days=None) -> WorkingCalendar:
        """Compile a calendar row; `days`: its (date, kind) pairs, read from the row if None."""
        if days is None:
            days = calendar.days.values_list("date", "kind") if calendar.pk else ()
        days = list(days)
        return cls(
            name=calendar.name,
            zone=ZoneInfo(calendar.time_zone),
            starts=calendar.day_starts,
            ends=calendar.day_ends,
            weekdays=frozenset(int(day) for day in calendar.weekdays or ()),
            national_holidays=calendar.national_holidays,
            collective_leave=calendar.collective_leave,
            closed_days=frozenset(day for day, kind in days if kind == CalendarDayKind.CLOSED),
            open_days=frozenset(day for day, kind in days if kind == CalendarDayKind.OPEN),
            version=calendar.version,
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.open_days:
            return True
        if day.weekday() not in self.weekdays or day in self.closed_days:
            return False
        national = self._national.get(day.year)
        if national is None:
            national = national_closed_days(
                day.year, public=self.national_holidays, collective=self.collective_leave
            )
            self._national[day.year] = national
        return day not in national

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The working hours of a day, in the calendar's zone (Indonesia has no DST)."""
        return (
            datetime.combine(day, self.starts, tzinfo=self.zone),
            datetime.combine(day, self.ends, tzinfo=self.zone),
        )


_compiled: dict[int, WorkingCalendar] = {}


def compiled(calendar: BusinessCalendar | None) -> WorkingCalendar | None:
    """The calendar ready for arithmetic, kept per process while its version stays the same."""
    if calendar is None:
        return None
    known = _compiled.get(calendar.pk)
    if known is not None and known.version == calendar.version:
        return known
    built = WorkingCalendar.of(calendar)
    if calendar.pk:
        _compiled[calendar.pk] = built
    return built


def site_calendar(site_id: int | None) -> BusinessCalendar | None:
    if site_id is None:
        return None
    memo = getattr(_held, "site_calendars", None)
    if memo is not None and site_id in memo:
        return memo[site_id]
    calendar = BusinessCalendar.objects.filter(sites__pk=site_id).first()
    if memo is not None:
        memo[site_id] = calendar
    return calendar


def calendar_for(
    policy: SlaPolicy, site_id: int | None = None, site_calendars=None
) -> WorkingCalendar | None:
    """The hours a policy's minutes count on for a ticket of `site_id`; None means 24x7.
    `site_calendars`: the sites' calendars already read (site id -> row), if any."""
    if policy.hours == SlaHours.CALENDAR and policy.calendar_id:
        return compiled(policy.calendar)
    if policy.hours == SlaHours.SITE:
        if site_calendars is not None:
            return compiled(site_calendars.get(site_id))
        return compiled(site_calendar(site_id))
    return None


def ticket_calendar(ticket, *, read_for: datetime | None = None) -> WorkingCalendar | None:
    """The hours the ticket's SLA counts on: its policy's, at its site.

    `read_for`: the moment a page of tickets is shown at (the `now` it passes for every row).
    The policies and the sites' calendars are then read once for all the calls that pass that
    same object, two queries for the page however many tickets it shows; the calendars
    themselves stay compiled per version (`compiled`).
    """
    if read_for is None:
        return calendar_for(policy_for(ticket.flow, ticket.priority), ticket.site_id)
    hours = _hours_read_for(read_for)
    policy = hours.policies.get((ticket.flow, ticket.priority))
    policy = policy or default_policy(ticket.flow, ticket.priority)
    if policy.hours == SlaHours.SITE and hours.site_calendars is None:
        hours.site_calendars = {
            site.pk: site.calendar for site in Site.objects.select_related("calendar")
        }
    return calendar_for(policy, ticket.site_id, hours.site_calendars)


@dataclass(eq=False)
class _HoursRead:
    """The policies (and, once a policy counts on them, the sites' calendars) as read for one
    `now`; kept per thread for a few seconds at most, and only while that same object comes."""

    now: datetime
    read_at: float
    policies: dict[tuple[str, int], SlaPolicy]
    site_calendars: dict[int, BusinessCalendar | None] | None = None


_hours = threading.local()
HOURS_READ_SECONDS = 5.0


def _hours_read_for(now: datetime) -> _HoursRead:
    known = getattr(_hours, "read", None)
    clock = monotonic()
    if known is not None and known.now is now and clock - known.read_at < HOURS_READ_SECONDS:
        return known
    policies = {
        (policy.flow, policy.priority): policy
        for policy in SlaPolicy.objects.select_related("calendar")
    }
    _hours.read = _HoursRead(now=now, read_at=clock, policies=policies)
    return _hours.read


# --- The arithmetic ---------------------------------------------------------------------------
def add_working_time(
    start: datetime, duration: timedelta, calendar: WorkingCalendar | None
) -> datetime:
    """`start` plus `duration` counted on `calendar` (None: 24x7), in the calendar's own zone.

    Counting starts at `start` if it falls in working hours, else at the next opening; a
    deadline may end exactly at closing time. Raises `NoWorkingTime` when the calendar has not
    enough working time within `MAX_WALK_DAYS`.
    """
    if calendar is None:
        return start + duration
    remaining = duration
    cursor = start.astimezone(calendar.zone)
    day = cursor.date()
    for _day in range(MAX_WALK_DAYS):
        if calendar.is_working_day(day):
            opens, closes = calendar.window(day)
            if cursor < closes:
                begin = max(cursor, opens)
                if remaining <= closes - begin:
                    return begin + remaining
                remaining -= closes - begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min, tzinfo=calendar.zone)
    raise NoWorkingTime(_("The calendar has no working time to hold this target."))


def add_working_minutes(start: datetime, minutes: int, calendar: WorkingCalendar | None):
    """`start` plus `minutes` counted on `calendar` (None: 24x7)."""
    return add_working_time(start, timedelta(minutes=minutes), calendar)


def working_time_between(
    start: datetime, end: datetime, calendar: WorkingCalendar | None
) -> timedelta:
    """How much of the calendar's working time lies between two instants (zero if end <= start).

    A pause measured with it and added back with `add_working_time` moves a deadline by exactly
    the working time the pause took: a night, a weekend or a holiday with Support costs nothing.
    """
    if end <= start:
        return timedelta(0)
    if calendar is None:
        return end - start
    total = timedelta(0)
    cursor = start.astimezone(calendar.zone)
    end = end.astimezone(calendar.zone)
    day = cursor.date()
    while cursor < end:
        if calendar.is_working_day(day):
            opens, closes = calendar.window(day)
            begin, finish = max(cursor, opens), min(end, closes)
            if finish > begin:
                total += finish - begin
        day += timedelta(days=1)
        cursor = datetime.combine(day, time.min, tzinfo=calendar.zone)
    return total


def fits(calendar: WorkingCalendar | None, minutes: int, start: datetime | None = None) -> bool:
    """Whether a target of `minutes` can be placed on the calendar (from `start`, now)."""
    try:
        add_working_minutes(start or timezone.now(), minutes, calendar)
    except NoWorkingTime:
        return False
    return True


def calendars_counted(hours: str, calendar: BusinessCalendar | None) -> list[WorkingCalendar]:
    """Every calendar a policy with these hours may count on: the named one, or each site's."""
    if hours == SlaHours.CALENDAR:
        return [compiled(calendar)] if calendar is not None else []
    if hours == SlaHours.SITE:
        rows = BusinessCalendar.objects.filter(sites__isnull=False).distinct()
        return [compiled(row) for row in rows]
    return []


def targets_that_do_not_fit(
    targets: dict[str, int], calendars: list[WorkingCalendar]
) -> dict[str, WorkingCalendar]:
    """Of `targets` (name -> minutes), those some calendar cannot hold from now: name ->
    the first such calendar. An SLA policy is saved only when this is empty, and a calendar
    only when every policy counting on it still fits, so ticket arrival never meets one."""
    now = timezone.now()
    misfits = {}
    for name, minutes in targets.items():
        for calendar in calendars:
            if minutes and not fits(calendar, minutes, now):
                misfits[name] = calendar
                break
    return misfits


def apply_deadlines(ticket, start: datetime | None = None) -> None:
    """Set claim-by, resolve-by and the at-risk time from the ticket's flow, priority and site.

    Counting starts at the ticket's arrival, on the hours of its policy (`calendar_for`). The
    working time it spent with Support (`sla_paused_seconds`, measured on the same calendar)
    does not count against the Tier-2 resolve target, so the resolve deadline moves by exactly
    that much working time. The at-risk time is where the at-risk share of that working time is
    used up (on 24x7: the share of the time between arrival and resolve-by).
    """
    start = start or ticket.created_at or timezone.now()
    policy = policy_for(ticket.flow, ticket.priority)
    calendar = calendar_for(policy, ticket.site_id)
    resolve = timedelta(minutes=policy.resolve_minutes, seconds=ticket.sla_paused_seconds or 0)
    ticket.claim_by = add_working_minutes(start, policy.claim_minutes, calendar)
    ticket.resolve_by = add_working_time(start, resolve, calendar)
    if calendar is None:
        ticket.warn_at = at_risk_from(start, ticket.resolve_by)
    else:
        share = resolve * settings.TIER2_SLA_AT_RISK_SHARE
        ticket.warn_at = add_working_time(start, share, calendar)


def at_risk_from(
    start: datetime, deadline: datetime, calendar: WorkingCalendar | None = None
) -> datetime:
    """The moment the at-risk share (`TIER2_SLA_AT_RISK_SHARE`) of the time from start to
    deadline is used up: of its working time on `calendar`, as `warn_at` is for the resolve
    target; on 24x7 (None), of the wall-clock time."""
    share = settings.TIER2_SLA_AT_RISK_SHARE
    if calendar is None:
        return start + (deadline - start) * share
    working = working_time_between(start, deadline, calendar)
    return add_working_time(start, working * share, calendar)


def escalation_due(flow: str, priority: int, start: datetime, *, site_id=None) -> datetime:
    """When Support's answer is due: the policy's answer target on its hours at the site."""
    policy = policy_for(flow, priority)
    return add_working_minutes(
        start, policy.escalation_answer_minutes, calendar_for(policy, site_id)
    )


def slg_due(first_report_at: datetime) -> datetime:
    """SLG: restoration guaranteed within TIER2_SLG_HOURS of the first report (24x7)."""
    return first_report_at + timedelta(hours=settings.TIER2_SLG_HOURS)

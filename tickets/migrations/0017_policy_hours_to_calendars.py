"""Each business-hours SLA policy's own fields become a business calendar it names.

Before calendars, a policy held its hours itself (`business_hours_only`, `day_starts`,
`day_ends`, `business_weekdays`), counted in Asia/Jakarta, with no holidays. Each such policy now
names a calendar with the same hours in WIB; policies with the same hours share one. Those
calendars count no national holiday and no collective leave day, so every deadline stays what
it was; an admin turns the holidays on in the admin. A policy whose hours could never be worked
(no valid weekday, or a day that does not end after it starts: ticket arrival failed on it)
counts 24x7 instead. Every other policy counts 24x7, as before.

The sites get the calendar "Jam kerja WIB" (Monday to Friday, 08:00-17:00 WIB, closed on
national holidays and collective leave days), for policies that count on the site's calendar;
no policy does yet, so no deadline changes. On a new database the sites do not exist yet:
`roles.ensure_reference_data` creates them with that calendar.
"""

import datetime

from django.db import migrations

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SITE_CALENDAR = "Jam kerja WIB"


def policy_calendars(apps, schema_editor):
    SlaPolicy = apps.get_model("tickets", "SlaPolicy")
    BusinessCalendar = apps.get_model("tickets", "BusinessCalendar")
    Site = apps.get_model("tickets", "Site")
    for policy in SlaPolicy.objects.all():
        policy.hours, policy.calendar = "24x7", None
        weekdays = sorted({day for day in (policy.business_weekdays or range(5)) if 0 <= day <= 6})
        starts, ends = policy.day_starts, policy.day_ends
        if policy.business_hours_only and starts and ends and starts < ends and weekdays:
            days = ", ".join(DAY_NAMES[day] for day in weekdays)
            policy.calendar, _created = BusinessCalendar.objects.get_or_create(
                name=f"{days} {starts:%H:%M}–{ends:%H:%M} WIB",
                defaults={
                    "time_zone": "Asia/Jakarta",
                    "day_starts": starts,
                    "day_ends": ends,
                    "weekdays": weekdays,
                    "national_holidays": False,
                    "collective_leave": False,
                },
            )
            policy.hours = "calendar"
        policy.save(update_fields=["hours", "calendar"])
    if Site.objects.filter(calendar__isnull=True).exists():
        calendar, _created = BusinessCalendar.objects.get_or_create(
            name=SITE_CALENDAR,
            defaults={
                "time_zone": "Asia/Jakarta",
                "day_starts": datetime.time(8),
                "day_ends": datetime.time(17),
                "weekdays": [0, 1, 2, 3, 4],
                "national_holidays": True,
                "collective_leave": True,
            },
        )
        Site.objects.filter(calendar__isnull=True).update(calendar=calendar)


def policy_fields(apps, schema_editor):
    """Back to the policy's own fields: a named calendar's hours (its holidays are lost); a
    policy on its site's calendar goes back to 24x7."""
    SlaPolicy = apps.get_model("tickets", "SlaPolicy")
    for policy in SlaPolicy.objects.select_related("calendar"):
        calendar = policy.calendar if policy.hours == "calendar" else None
        policy.business_hours_only = calendar is not None
        policy.day_starts = calendar.day_starts if calendar else None
        policy.day_ends = calendar.day_ends if calendar else None
        policy.business_weekdays = list(calendar.weekdays) if calendar else []
        policy.save(
            update_fields=["business_hours_only", "day_starts", "day_ends", "business_weekdays"]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("tickets", "0016_business_calendars"),
    ]

    operations = [
        migrations.RunPython(policy_calendars, policy_fields),
    ]

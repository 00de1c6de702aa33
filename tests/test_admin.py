from datetime import time

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    User.objects.create_superuser("root", "root@example.com", "secret-pass-123")
    client.login(username="root", password="secret-pass-123")
    return client


def test_every_admin_page_renders_with_a_ticket_in_the_database(admin_client):
    ticket = factories.arrive("nossa")
    for model in admin.site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
    change = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert b"arrive" in page.content  # the transition log is shown inline


def test_ticket_state_cannot_be_edited_in_the_admin(admin_client):
    ticket = factories.arrive("nossa")
    page = admin_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert b'name="state"' not in page.content


def test_admin_refuses_an_sla_policy_on_a_business_calendar_without_the_calendar(admin_client):
    from tickets.models import SlaPolicy

    response = admin_client.post(
        reverse("admin:tickets_slapolicy_add"),
        {
            "flow": "nossa",
            "priority": 3,
            "claim_minutes": 30,
            "resolve_minutes": 600,
            "escalation_answer_minutes": 120,
            "hours": "calendar",
            "calendar": "",
        },
    )
    assert response.status_code == 200
    assert b"Choose the business calendar." in response.content
    assert not SlaPolicy.objects.exists()


# --- Business calendars and their days (docs/calendars.md) -------------------------------------
def calendar_form(**changes) -> dict:
    """The admin's add form of a calendar, with the inline of its days (`days-0-…`)."""
    days = changes.pop("days", [])
    body = {
        "name": "Jam kerja WITA",
        "time_zone": "Asia/Makassar",
        "day_starts": "08:00",
        "day_ends": "17:00",
        "weekdays": ["0", "1", "2", "3", "4"],
        "national_holidays": "on",
        "collective_leave": "on",
        "days-TOTAL_FORMS": str(len(days)),
        "days-INITIAL_FORMS": "0",
        "days-MIN_NUM_FORMS": "0",
        "days-MAX_NUM_FORMS": "1000",
        **changes,
    }
    for index, (day, name, kind) in enumerate(days):
        body.update({f"days-{index}-date": day, f"days-{index}-name": name,
                     f"days-{index}-kind": kind})  # fmt: skip
    return body


def test_admin_adds_a_calendar_with_a_local_holiday(admin_client):
    from tickets.models import BusinessCalendar

    day = ("2026-04-01", "Hari Jadi Kota Malang", "closed")
    response = admin_client.post(
        reverse("admin:tickets_businesscalendar_add"), calendar_form(days=[day])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    calendar = BusinessCalendar.objects.get(name="Jam kerja WITA")
    assert (calendar.time_zone, calendar.weekdays) == ("Asia/Makassar", [0, 1, 2, 3, 4])
    assert [(str(d.date), d.name, d.kind) for d in calendar.days.all()] == [day]
    page = admin_client.get(reverse("admin:tickets_businesscalendar_change", args=[calendar.pk]))
    assert page.status_code == 200
    html = page.content.decode()  # the library's days are shown beside, in either language
    assert "Eid al-Fitr Joint Holiday" in html or "Cuti Bersama Hari Raya Idul Fitri" in html


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"day_starts": "17:00", "day_ends": "08:00"}, "The working day must end after it starts."),
        ({"day_starts": "09:00", "day_ends": "09:00"}, "The working day must end after it starts."),
        ({"weekdays": []}, "Choose at least one working day."),
        ({"weekdays": ["7"]}, "Select a valid choice."),
        ({"time_zone": "Europe/Amsterdam"}, "Select a valid choice."),
        (
            {"days": [("2026-04-01", "Hari Jadi", "closed"), ("2026-04-01", "Again", "open")]},
            "Please correct the duplicate data for date.",
        ),
    ],
)  # fmt: skip
def test_admin_refuses_a_calendar_without_working_time_or_with_a_date_twice(
    admin_client, changes, message
):
    from tickets.models import BusinessCalendar, CalendarDay

    response = admin_client.post(
        reverse("admin:tickets_businesscalendar_add"), calendar_form(**changes)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not BusinessCalendar.objects.filter(name="Jam kerja WITA").exists()
    assert not CalendarDay.objects.exists()


def test_admin_refuses_to_shrink_a_calendar_below_the_targets_of_its_policies(admin_client):
    office = factories.calendar("Kantor")
    factories.policy(resolve=20000, on=office)  # 20,000 minutes: 37 weeks of 08:00-17:00
    url = reverse("admin:tickets_businesscalendar_change", args=[office.pk])
    # Sundays 08:00-08:01: about 157 minutes in three years, far less than 20,000.
    tiny = calendar_form(name="Kantor", day_ends="08:01", weekdays=["6"])
    response = admin_client.post(url, tiny)
    assert response.status_code == 200
    assert "NOSSA / Normal counts on this calendar" in response.content.decode()
    office.refresh_from_db()
    assert (office.day_ends.hour, office.weekdays) == (17, [0, 1, 2, 3, 4])


def test_admin_refuses_a_site_calendar_too_small_for_the_site_policies(admin_client, malang):
    factories.policy(resolve=20000, hours="site")
    tiny = factories.calendar("Tiny", day_ends=time(8, 1), weekdays=[6])
    response = admin_client.post(
        reverse("admin:tickets_site_change", args=[malang.pk]),
        {
            "code": "MLG",
            "name": "Malang",
            "calendar": str(tiny.pk),
            "dispatch_mode": "pull",
            "offer_seconds": "60",
        },
    )
    assert response.status_code == 200
    assert "counts on the site&#x27;s calendar" in response.content.decode()
    malang.refresh_from_db()
    assert malang.calendar.name == "Jam kerja WIB"


@pytest.mark.parametrize(
    ("mode", "seconds", "saved"),
    [("push", "45", ("push", 45)), ("both", "5", ("pull", 60)), ("shove", "60", ("pull", 60))],
)
def test_admins_set_a_sites_dispatch_mode_and_answer_time(
    admin_client, malang, mode, seconds, saved
):
    response = admin_client.post(
        reverse("admin:tickets_site_change", args=[malang.pk]),
        {
            "code": "MLG",
            "name": "Malang",
            "calendar": str(malang.calendar_id),
            "dispatch_mode": mode,
            "offer_seconds": seconds,
        },
    )
    assert response.status_code in (200, 302)
    malang.refresh_from_db()
    assert (malang.dispatch_mode, malang.offer_seconds) == saved


def test_the_admin_cannot_change_a_ticket_and_the_ticket_stays_as_it_was(admin_client):
    """Writes to tickets go through the services: the admin's change form is view-only, and a
    forged POST changes nothing (no flow, assignee, deadline or attempt edited without a log)."""
    from tickets.models import Ticket, TransitionLog

    ticket = factories.arrive("nossa")
    someone = factories.agent(flows=("nossa",))
    before = Ticket.objects.values().get(pk=ticket.pk)
    logs_before = TransitionLog.objects.count()
    url = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    for field in ("flow", "assignee", "resolve_by", "failed_attempts", "claim_by"):
        assert f'name="{field}"'.encode() not in page.content, field
    forged = admin_client.post(
        url, {"flow": "ideas", "assignee": someone.pk, "failed_attempts": 9, "priority": 1}
    )
    assert forged.status_code == 403
    assert Ticket.objects.values().get(pk=ticket.pk) == before
    assert TransitionLog.objects.count() == logs_before


@pytest.mark.parametrize(
    "model", ["ticket", "gamasincident", "escalation", "transitionlog"], ids=str
)
def test_service_owned_rows_cannot_be_added_or_deleted_in_the_admin(admin_client, model):
    assert admin_client.get(reverse(f"admin:tickets_{model}_add")).status_code == 403

"""The security log: sign-ins, failures, lockouts, 2FA, role changes and exports each leave one
append-only row; admins alone read it (view-only, filtered) and export it, and the export is
itself logged."""

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse

from tests import factories
from tests.supervisor.conftest import MONDAY_9AM
from tickets import services
from tickets.models import SecurityEvent, SecurityEventKind
from tickets.services import security

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-123"  # tests.factories' password for every user
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Tier2Test/1.0"

axes_installed = pytest.mark.skipif(
    not apps.is_installed("axes"), reason="django-axes is not installed (INSTALLED_APPS)"
)
otp_installed = pytest.mark.skipif(
    not apps.is_installed("django_otp.plugins.otp_static")
    or not apps.is_installed("django_otp.plugins.otp_totp"),
    reason="django-otp and its TOTP and static plugins are not installed (INSTALLED_APPS)",
)


def events(kind):
    return list(SecurityEvent.objects.filter(kind=kind).order_by("pk"))


def login(username, password, address="10.1.2.3"):
    client = Client(HTTP_USER_AGENT=BROWSER)
    response = client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return client, response


@pytest.fixture
def dewi(db):
    return factories.agent(username="dewi")


@pytest.fixture
def admin_person(db):
    person = factories.user("Admin", username="rina.admin")
    User.objects.filter(pk=person.pk).update(is_staff=True)
    return User.objects.get(pk=person.pk)


# --- Sign-in -------------------------------------------------------------------------------
def test_a_login_is_logged_with_its_user_address_and_browser(dewi):
    client, _response = login("dewi", PASSWORD)
    assert "_auth_user_id" in client.session
    [event] = events(SecurityEventKind.LOGIN)
    assert event.actor == dewi and event.target_user == dewi
    assert event.actor_username == event.target_username == "dewi"
    assert event.ip_address == "10.1.2.3"
    assert event.user_agent == BROWSER


def test_a_failed_login_keeps_the_name_typed_and_never_the_password(dewi):
    login("dewi", "wrong-password-xyz")
    login("nobody-here", "another-wrong-one")
    known, unknown = events(SecurityEventKind.LOGIN_FAILED)
    assert (known.target_user, known.target_username, known.actor) == (dewi, "dewi", None)
    assert (unknown.target_user, unknown.target_username) == (None, "nobody-here")
    for event in (known, unknown):
        assert event.ip_address == "10.1.2.3"
        assert "wrong" not in str(event.detail) and "wrong" not in event.user_agent
    assert not events(SecurityEventKind.LOGIN)


def test_a_logout_is_logged(dewi):
    client, _response = login("dewi", PASSWORD)
    client.post("/logout/")
    [event] = events(SecurityEventKind.LOGOUT)
    assert event.actor == dewi


@axes_installed
def test_a_lockout_is_logged_once_the_failures_lock_the_user(dewi, settings):
    """django-axes locks after TIER2_LOCKOUT_FAILURES failures (5): the fifth failure sends
    `user_locked_out`, which becomes one lockout event for the user name and the address."""
    for _attempt in range(4):
        login("dewi", "wrong-password", address="10.9.9.9")
    assert not events(SecurityEventKind.LOCKOUT)
    login("dewi", "wrong-password", address="10.9.9.9")
    [event] = events(SecurityEventKind.LOCKOUT)
    assert (event.target_user, event.target_username) == (dewi, "dewi")
    assert event.ip_address == "10.9.9.9"
    assert event.actor is None
    # The sixth, with the right password, is refused and logged as a failure.
    client, _response = login("dewi", PASSWORD, address="10.9.9.9")
    assert "_auth_user_id" not in client.session
    assert len(events(SecurityEventKind.LOGIN_FAILED)) == 6
    assert not events(SecurityEventKind.LOGIN)


# --- Roles and privileges ----------------------------------------------------------------------
def test_role_changes_are_logged_per_user_with_the_roles(dewi, admin_person):
    supervisor, support = Group.objects.get(name="Supervisor"), Group.objects.get(name="Support")
    dewi.groups.add(supervisor, support)
    dewi.groups.add(supervisor)  # already there: no change, no event
    dewi.groups.remove(support, Group.objects.get(name="Admin"))  # Admin: never had it
    supervisor.user_set.add(admin_person)  # from the group's side
    dewi.groups.clear()  # Agent and Supervisor left

    rows = [
        (event.kind, event.target_username, event.detail["roles"])
        for event in SecurityEvent.objects.filter(
            kind__in=[SecurityEventKind.ROLE_ADDED, SecurityEventKind.ROLE_REMOVED]
        ).order_by("pk")
    ]
    # The fixtures' own additions come first: dewi's Agent role, rina's Admin role.
    assert rows[:2] == [("role_added", "dewi", ["Agent"]), ("role_added", "rina.admin", ["Admin"])]
    assert rows[2:] == [
        ("role_added", "dewi", ["Supervisor", "Support"]),
        ("role_removed", "dewi", ["Support"]),
        ("role_added", "rina.admin", ["Supervisor"]),
        ("role_removed", "dewi", ["Agent", "Supervisor"]),
    ]


def test_a_role_change_in_the_admin_names_the_admin_who_made_it(dewi, client):
    root = User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client.force_login(root)
    user_page = reverse("admin:auth_user_change", args=[dewi.pk])
    form = client.get(user_page).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if name not in ("password", "groups", "user_permissions", "last_login", "date_joined")
        and value is not None
    }
    data.update(
        {
            "groups": [Group.objects.get(name="Supervisor").pk],
            "is_active": "on",
            "date_joined_0": "2026-01-05",
            "date_joined_1": "09:00:00",
        }
    )
    response = client.post(user_page, data, REMOTE_ADDR="10.7.7.7", HTTP_USER_AGENT=BROWSER)
    assert response.status_code == 302, response.context["adminform"].form.errors
    added = events(SecurityEventKind.ROLE_ADDED)[-1]
    removed = events(SecurityEventKind.ROLE_REMOVED)[-1]
    assert (added.actor, added.target_user, added.detail["roles"]) == (root, dewi, ["Supervisor"])
    assert (removed.actor, removed.target_user, removed.detail["roles"]) == (root, dewi, ["Agent"])
    assert added.ip_address == "10.7.7.7" and added.user_agent == BROWSER


def test_staff_and_superuser_changes_are_logged_other_saves_are_not(dewi):
    dewi.first_name = "Dewi"
    dewi.save()
    dewi.is_staff = True
    dewi.save()
    dewi.is_staff, dewi.is_superuser = False, True
    dewi.save()
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    changes = [
        (event.target_username, event.detail["changes"], event.detail["new_user"])
        for event in events(SecurityEventKind.PRIVILEGE_CHANGED)
    ]
    assert changes == [
        ("dewi", {"is_staff": {"from": False, "to": True}}, False),
        (
            "dewi",
            {"is_staff": {"from": True, "to": False}, "is_superuser": {"from": False, "to": True}},
            False,
        ),
        (
            "root",
            {"is_staff": {"from": False, "to": True}, "is_superuser": {"from": False, "to": True}},
            True,
        ),
    ]


# --- Two-factor sign-in (django-otp) -----------------------------------------------------------
@otp_installed
def test_2fa_devices_added_confirmed_removed_and_backup_codes_used_are_logged(dewi):
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    totp = TOTPDevice.objects.create(user=dewi, name="HP Dewi", confirmed=False)
    totp = TOTPDevice.objects.get(pk=totp.pk)  # loaded again, as a later request would
    totp.confirmed = True
    totp.save()
    totp.save()  # saved again (a verification does): not a second confirmation
    codes = StaticDevice.objects.create(user=dewi, name="Kode cadangan", confirmed=True)
    codes.token_set.create(token="abcd2345")
    codes.token_set.create(token="efgh6789")
    assert codes.verify_token("abcd2345")
    assert not codes.verify_token("abcd2345")  # used up
    codes.delete()  # its last code goes with it: removed, not used
    totp.delete()

    kinds = [
        (event.kind, event.detail.get("name"))
        for event in SecurityEvent.objects.filter(kind__startswith="otp_").order_by("pk")
    ]
    assert kinds == [
        ("otp_device_added", "HP Dewi"),
        ("otp_device_confirmed", "HP Dewi"),
        ("otp_device_added", "Kode cadangan"),
        ("otp_static_token_used", "Kode cadangan"),
        ("otp_device_removed", "Kode cadangan"),
        ("otp_device_removed", "HP Dewi"),
    ]
    assert all(
        event.target_user == dewi for event in SecurityEvent.objects.filter(kind__startswith="otp_")
    )


# --- Exports of customer data ----------------------------------------------------------------
def test_a_dashboard_export_is_logged_with_its_table_rows_and_who(supervisor, client):
    """One ticket breached and at risk: the at-risk table (which names customers) has one data
    row; the ageing table always has five (its buckets)."""
    ticket = factories.arrive("nossa")
    services.sweep_sla(now=ticket.resolve_by + timedelta(minutes=1))
    client.force_login(supervisor)
    for table in ("at-risk", "ageing"):
        response = client.get(reverse("dashboard_export", args=[table]), REMOTE_ADDR="10.4.4.4")
        assert response.status_code == 200
        b"".join(response.streaming_content)
    at_risk, ageing = events(SecurityEventKind.EXPORT)
    assert at_risk.actor == supervisor and at_risk.ip_address == "10.4.4.4"
    assert at_risk.detail["what"] == "dashboard:at-risk"
    assert (at_risk.detail["rows"], at_risk.detail["customer_data"]) == (1, True)
    assert at_risk.detail["complete"] is True
    assert (ageing.detail["what"], ageing.detail["rows"]) == ("dashboard:ageing", 5)
    assert ageing.detail["customer_data"] is False


def test_an_abandoned_download_is_logged_as_incomplete(supervisor):
    rows = security.logged_export(
        iter([["header"], ["a"], ["b"], ["c"]]), actor=supervisor, what="test"
    )
    next(rows), next(rows)  # header and one row sent, then the client goes away
    rows.close()
    [event] = events(SecurityEventKind.EXPORT)
    assert (event.detail["rows"], event.detail["complete"]) == (1, False)


# --- The log itself --------------------------------------------------------------------------
def test_the_log_is_append_only(dewi):
    event = security.record_event(kind=SecurityEventKind.LOGIN, actor=dewi, target_user=dewi)
    event.kind = SecurityEventKind.LOGOUT
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    assert SecurityEvent.objects.get(pk=event.pk).kind == "login"


def test_user_agent_and_detail_are_kept_small(dewi):
    request = Client().get("/login/", HTTP_USER_AGENT="x" * 1000).wsgi_request
    event = security.record_event(
        kind=SecurityEventKind.EXPORT,
        actor=dewi,
        request=request,
        detail={"what": "y" * 500, "many": list(range(2000))},
    )
    assert len(event.user_agent) == 256
    assert event.detail == {"truncated": True, "keys": ["many", "what"]}
    event = security.record_event(kind=SecurityEventKind.EXPORT, detail={"what": "y" * 500})
    assert len(event.detail["what"]) == 201  # 200 characters and an ellipsis


def test_deleting_a_user_keeps_their_history(dewi):
    login("dewi", PASSWORD)
    dewi.groups.clear()
    dewi.profile.delete()
    dewi.delete()
    [event] = events(SecurityEventKind.LOGIN)
    assert event.actor_username == "dewi" and event.actor_id is not None


# --- Admins read and export it ---------------------------------------------------------------
def test_only_admins_see_the_log_and_nobody_adds_changes_or_deletes(admin_person, supervisor):
    changelist = reverse("admin:tickets_securityevent_changelist")
    User.objects.filter(pk=supervisor.pk).update(is_staff=True)
    client = Client()
    client.force_login(User.objects.get(pk=supervisor.pk))
    assert client.get(changelist).status_code == 403
    client.force_login(admin_person)
    page = client.get(changelist)
    assert page.status_code == 200
    event = SecurityEvent.objects.first()
    assert client.get(reverse("admin:tickets_securityevent_add")).status_code == 403
    detail = client.get(reverse("admin:tickets_securityevent_change", args=[event.pk]))
    assert detail.status_code == 200 and b'name="kind"' not in detail.content
    delete = reverse("admin:tickets_securityevent_delete", args=[event.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert SecurityEvent.objects.filter(pk=event.pk).exists()


def test_admins_filter_by_kind_user_and_date(admin_person, dewi):
    with time_machine.travel(MONDAY_9AM, tick=False):
        login("dewi", PASSWORD)
    with time_machine.travel(MONDAY_9AM + timedelta(days=1), tick=False):
        login("dewi", "wrong-password")
    client = Client()
    client.force_login(admin_person)
    changelist = reverse("admin:tickets_securityevent_changelist")

    def shown(**query):
        page = client.get(changelist, query)
        assert page.status_code == 200
        return sorted(event.kind for event in page.context["cl"].result_list)

    assert shown(kind="login_failed") == ["login_failed"]
    assert shown(target_user__id__exact=dewi.pk) == ["login", "login_failed", "role_added"]
    tuesday = MONDAY_9AM + timedelta(days=1)
    by_day = {"at__year": tuesday.year, "at__month": tuesday.month, "at__day": tuesday.day}
    assert shown(**by_day) == ["login_failed"]


def test_the_csv_export_of_the_log_is_itself_logged(admin_person, dewi):
    login("dewi", PASSWORD)
    login("dewi", "wrong-password")
    chosen = list(
        SecurityEvent.objects.filter(
            kind__in=[SecurityEventKind.LOGIN, SecurityEventKind.LOGIN_FAILED]
        ).values_list("pk", flat=True)
    )
    client = Client()
    client.force_login(admin_person)
    response = client.post(
        reverse("admin:tickets_securityevent_changelist"),
        {"action": "export_csv", "_selected_action": chosen},
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="tier2-security-log_')
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(body)))
    assert header[:4] == ["At", "Kind", "Actor", "Target user"]
    assert [(row[1], row[3], row[4]) for row in rows] == [
        ("login", "dewi", "10.1.2.3"),
        ("login_failed", "dewi", "10.1.2.3"),
    ]
    export = events(SecurityEventKind.EXPORT)[-1]
    assert export.actor == admin_person
    assert (export.detail["what"], export.detail["rows"]) == ("security_log", 2)

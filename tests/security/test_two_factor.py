"""Two-factor sign-in: enrolment with an authenticator app (checked with codes computed by
pyotp, a TOTP library the console does not use, and RFC 6238's test vectors), the verify step
after the password, recovery codes, who must use it (production mode: Supervisor, Support and
Admin; agents optional), and API tokens, which it does not affect."""

import re
import runpy
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests import factories
from tickets.services import accounts

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "secret-pass-123"  # tests.factories' password for every user
PRODUCTION_ROLES = ["Supervisor", "Support", "Admin"]  # the requirement's production default
NOW = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
SECRET_IN_PAGE = re.compile(r'id="totp-secret">([A-Z2-7 ]+)</code>')
CODES_IN_PAGE = re.compile(r"<li><code>([a-z2-7]+)</code></li>")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def production_roles(settings):
    settings.TIER2_2FA_REQUIRED_ROLES = PRODUCTION_ROLES


def password_login(username: str) -> Client:
    """A client signed in with the password only, through the login form."""
    client = Client()
    response = client.post("/login/", {"username": username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    return client


def enrol_through_the_pages(client) -> tuple[str, list[str]]:
    """Scan (read the secret off the page), confirm with pyotp's code; the secret and the
    recovery codes shown."""
    page = client.get("/account/two-factor/enrol/")
    assert page.status_code == 200
    secret = SECRET_IN_PAGE.search(page.content.decode()).group(1).replace(" ", "")
    response = client.post("/account/two-factor/enrol/", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 302
    codes_page = client.get(response["Location"])
    return secret, CODES_IN_PAGE.findall(codes_page.content.decode())


def with_app(user, secret: str | None = None) -> str:
    """Give `user` an app (through the enrolment service) and return its base32 secret."""
    secret = secret or pyotp.random_base32(32)
    key = pyotp.TOTP(secret).byte_secret().hex()
    accounts.confirm_enrolment(user=user, key=key, code=pyotp.TOTP(secret).now())
    return secret


# --- Enrolment ------------------------------------------------------------------------------
def test_enrolment_shows_a_qr_code_inline_and_accepts_the_app_code(frozen):
    agent = factories.agent(username="sari")
    client = Client()
    client.force_login(agent)

    page = client.get("/account/two-factor/enrol/")
    html = page.content.decode()
    assert "<svg" in html  # the QR code is drawn in the page, nothing is fetched
    assert not re.search(r"<img[^>]+src=\"https?://", html)
    assert not TOTPDevice.objects.filter(user=agent).exists()  # nothing written before proof

    secret, codes = enrol_through_the_pages(client)

    device = TOTPDevice.objects.get(user=agent)
    assert device.confirmed
    assert device.key == pyotp.TOTP(secret).byte_secret().hex()  # the secret the page showed
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/").status_code == 200  # this session passed its second factor
    again = client.get("/account/two-factor/recovery-codes/")
    assert again.status_code == 302  # the codes are shown once
    assert not CODES_IN_PAGE.findall(client.get(again["Location"]).content.decode())


def test_a_wrong_code_is_refused_at_enrolment(frozen):
    client = Client()
    client.force_login(factories.agent(username="sari"))
    page = client.get("/account/two-factor/enrol/").content.decode()
    secret = SECRET_IN_PAGE.search(page).group(1).replace(" ", "")
    right = pyotp.TOTP(secret).now()
    wrong = pyotp.TOTP(secret).at(NOW - timedelta(minutes=10))
    assert wrong != right

    response = client.post("/account/two-factor/enrol/", {"code": wrong})

    assert response.status_code == 200
    assert b"This code does not match" in response.content
    assert not TOTPDevice.objects.exists()
    # the same secret is still offered, so the app the user set up keeps working
    assert secret in SECRET_IN_PAGE.search(response.content.decode()).group(1).replace(" ", "")


def test_rfc_6238_test_vectors_are_accepted():
    """RFC 6238 appendix B (SHA-1, secret "12345678901234567890"): a 6-digit code is the last
    six digits of the 8-digit value the RFC lists."""
    user = factories.agent(username="rfc")
    key = b"12345678901234567890".hex()
    with time_machine.travel(datetime.fromtimestamp(1111111109, tz=UTC), tick=False):
        accounts.confirm_enrolment(user=user, key=key, code="081804")  # 07081804
    with time_machine.travel(datetime.fromtimestamp(1234567890, tz=UTC), tick=False):
        device = accounts.verify_second_factor(user=user, code="005924")  # 89005924
    assert isinstance(device, TOTPDevice)
    with time_machine.travel(datetime.fromtimestamp(2000000000, tz=UTC), tick=False):
        assert accounts.verify_second_factor(user=user, code="279 037")  # 69279037


# --- The verify step ------------------------------------------------------------------------
def test_after_the_password_a_user_with_an_app_must_enter_a_code(frozen):
    agent = factories.agent(username="sari")
    secret = with_app(agent)
    frozen.shift(30)  # the enrolment's code is spent; the app shows the next one
    client = password_login("sari")

    page = client.get("/queues/")
    assert page.status_code == 302
    assert page["Location"] == "/account/two-factor/verify/?next=%2Fqueues%2F"

    wrong = client.post(page["Location"], {"code": pyotp.TOTP(secret).at(NOW - timedelta(hours=1))})
    assert wrong.status_code == 200
    assert b"This code is not valid" in wrong.content
    assert client.get("/").status_code == 302

    frozen.shift(2)  # django-otp holds a device back a second after a wrong code
    right = client.post(page["Location"], {"code": pyotp.TOTP(secret).now()})
    assert right.status_code == 302
    assert right["Location"] == "/queues/"
    assert client.get("/").status_code == 200


def test_the_same_app_code_does_not_pass_twice(frozen):
    agent = factories.agent(username="sari")
    secret = with_app(agent)
    frozen.shift(30)
    code = pyotp.TOTP(secret).now()
    first = password_login("sari")
    assert first.post("/account/two-factor/verify/", {"code": code}).status_code == 302

    second = password_login("sari")
    replay = second.post("/account/two-factor/verify/", {"code": code})

    assert replay.status_code == 200
    assert b"This code is not valid" in replay.content


def test_htmx_requests_are_sent_to_the_code_page_as_a_full_page_load(frozen):
    with_app(factories.agent(username="sari"))
    client = password_login("sari")

    response = client.get("/queues/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert response["HX-Redirect"].startswith("/account/two-factor/verify/")


# --- Recovery codes -------------------------------------------------------------------------
def test_a_recovery_code_signs_in_once(frozen):
    client = Client()
    client.force_login(factories.agent(username="sari"))
    _secret, codes = enrol_through_the_pages(client)

    first = password_login("sari")
    used = first.post("/account/two-factor/verify/", {"code": codes[0].upper()})
    assert used.status_code == 302
    assert first.get("/").status_code == 200

    second = password_login("sari")
    again = second.post("/account/two-factor/verify/", {"code": codes[0]})
    assert again.status_code == 200
    assert b"This code is not valid" in again.content
    frozen.shift(2)
    assert second.post("/account/two-factor/verify/", {"code": codes[1]}).status_code == 302


def test_new_recovery_codes_replace_the_old_ones(frozen):
    client = Client()
    client.force_login(factories.agent(username="sari"))
    _secret, old = enrol_through_the_pages(client)

    made = client.post("/account/two-factor/recovery-codes/")
    new = CODES_IN_PAGE.findall(client.get(made["Location"]).content.decode())

    assert len(new) == 10 and not set(new) & set(old)
    later = password_login("sari")
    assert later.post("/account/two-factor/verify/", {"code": old[0]}).status_code == 200
    frozen.shift(2)
    assert later.post("/account/two-factor/verify/", {"code": new[0]}).status_code == 302


def test_removing_two_factor_needs_a_code_and_then_a_required_role_must_enrol_again(
    frozen, production_roles
):
    supervisor = factories.user("Supervisor", username="lead")
    client = Client()
    client.force_login(supervisor)
    secret, _codes = enrol_through_the_pages(client)

    refused = client.post("/account/two-factor/remove/", {"code": "000000x"})
    assert refused.status_code == 302
    assert TOTPDevice.objects.filter(user=supervisor).exists()

    frozen.shift(31)
    client.post("/account/two-factor/remove/", {"code": pyotp.TOTP(secret).now()})

    assert not TOTPDevice.objects.filter(user=supervisor).exists()
    assert not StaticDevice.objects.filter(user=supervisor).exists()
    assert client.get("/")["Location"].startswith("/account/two-factor/enrol/")


# --- Who must -------------------------------------------------------------------------------
def _settings_module(monkeypatch, **environment) -> dict:
    for name in ("TIER2_2FA_REQUIRED_ROLES", "TIER2_2FA_AGENTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(ROOT / "tier2" / "settings.py"))


def test_production_mode_requires_two_factor_of_supervisors_support_and_admins(monkeypatch):
    production = _settings_module(
        monkeypatch,
        TIER2_MODE="production",
        SECRET_KEY=secrets.token_urlsafe(50),
        DEBUG="0",
        ALLOWED_HOSTS="tier2.example.co.id",
        DATABASE_URL="postgres://tier2:pw@db:5432/tier2",
        REDIS_URL="redis://redis:6379/0",
    )
    development = _settings_module(monkeypatch, TIER2_MODE="development")

    assert sorted(production["TIER2_2FA_REQUIRED_ROLES"]) == sorted(PRODUCTION_ROLES)
    assert production["TIER2_2FA_AGENTS"] == "optional"
    assert development["TIER2_2FA_REQUIRED_ROLES"] == []


@pytest.mark.parametrize("role", PRODUCTION_ROLES)
def test_in_production_mode_a_required_role_is_sent_to_enrol_before_any_page(
    role, production_roles
):
    client = password_login(factories.user(role, username="boss").username)

    for path in ("/", "/queues/", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/account/two-factor/enrol/?next="), path
    assert client.get("/account/two-factor/enrol/").status_code == 200


@pytest.mark.parametrize("role", PRODUCTION_ROLES)
def test_in_development_no_role_is_sent_to_enrol(role, settings):
    settings.TIER2_2FA_REQUIRED_ROLES = []
    client = password_login(factories.user(role, username="boss").username)

    assert client.get("/").status_code == 200


def test_a_superuser_counts_as_an_admin(production_roles):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = password_login("root")

    assert client.get("/admin/")["Location"].startswith("/account/two-factor/enrol/")


def test_agents_may_enrol_but_need_not_by_default(production_roles, settings):
    agent = factories.agent(username="sari")
    client = password_login(agent.username)

    assert client.get("/").status_code == 200
    status = client.get("/account/two-factor/")
    assert b"/account/two-factor/enrol/" in status.content
    assert client.get("/account/two-factor/enrol/").status_code == 200


def test_agents_must_enrol_when_the_setting_requires_it(settings):
    settings.TIER2_2FA_AGENTS = "required"
    client = password_login(factories.agent(username="sari").username)

    assert client.get("/")["Location"].startswith("/account/two-factor/enrol/")


def test_agents_are_not_offered_two_factor_when_it_is_off(settings):
    settings.TIER2_2FA_AGENTS = "off"
    client = password_login(factories.agent(username="sari").username)

    assert client.get("/").status_code == 200
    assert client.get("/account/two-factor/enrol/")["Location"] == "/account/two-factor/"
    assert b"not offered to agents" in client.get("/account/two-factor/").content


# --- The API --------------------------------------------------------------------------------
def test_api_tokens_still_work_for_a_user_with_two_factor(frozen, production_roles):
    supervisor = factories.user("Supervisor", username="lead")
    with_app(supervisor)

    response = APIClient().post(
        "/api/auth/token/", {"username": "lead", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")

    assert client.get("/api/tickets/").status_code == 200


def test_a_session_without_its_second_factor_does_not_open_the_api(frozen, production_roles):
    supervisor = factories.user("Supervisor", username="lead")
    secret = with_app(supervisor)
    frozen.shift(30)
    client = password_login("lead")

    refused = client.get("/api/tickets/")
    assert refused.status_code in (401, 403)
    assert refused.json()["code"] == "NotAuthenticated"

    client.post("/account/two-factor/verify/", {"code": pyotp.TOTP(secret).now()})
    assert client.get("/api/tickets/").status_code == 200

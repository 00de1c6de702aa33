"""Single sign-on (OpenID Connect): a full login against a local provider started by the test.

The browser's way is walked step by step: the console's SSO start, the provider's authorize
(which answers at once with a code and the state), and the console's callback, which fetches
the tokens, checks the id token and maps the provider's groups to the console's roles.
"""

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import clear_url_caches, reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tests.security.oidc_provider import OidcProvider, new_key
from tickets.auth_backends import forget_provider_configuration
from tickets.models import AgentProfile
from tickets.services import sso
from tier2.settings import oidc_role_map

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "tier2-console"
CLIENT_SECRET = "provider-issued-secret"
ROLE_MAP = {
    "t2-agents": ["Agent"],
    "t2-leads": ["Supervisor"],
    "t2-support": ["Support"],
    "it-admins": ["Admin"],
}
SSO_BUTTON = "Sign in with single sign-on"
SSO_BACKEND = "tickets.auth_backends.SsoBackend"


def reload_urls() -> None:
    clear_url_caches()
    importlib.reload(importlib.import_module(django_settings.ROOT_URLCONF))


@pytest.fixture
def provider():
    started = OidcProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET).start()
    yield started
    started.stop()


@pytest.fixture
def sso_on(settings, provider, monkeypatch):
    """SSO configured as an operator would (issuer, client, role map), routes included."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the provider is on this machine
    settings.TIER2_OIDC_ENABLED = True
    settings.TIER2_OIDC_ISSUER = provider.issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.TIER2_OIDC_ROLE_MAP = ROLE_MAP
    settings.AUTHENTICATION_BACKENDS = [*settings.AUTHENTICATION_BACKENDS, SSO_BACKEND]
    forget_provider_configuration()  # an earlier test's provider may have had this port
    reload_urls()
    yield provider
    settings.TIER2_OIDC_ENABLED = False
    reload_urls()


def sso_login(client, provider, *, next_url: str | None = None):
    """Press "Sign in with single sign-on", log in at the provider, come back; the callback's
    response."""
    start = client.get(reverse("oidc_authentication_init"), {"next": next_url} if next_url else {})
    assert start.status_code == 302
    assert start["Location"].startswith(f"{provider.issuer}/authorize?")
    asked = parse_qs(urlsplit(start["Location"]).query)
    assert asked["client_id"] == [CLIENT_ID] and "openid" in asked["scope"][0].split()
    at_provider = requests.get(start["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert back.netloc == "testserver" and back.path == reverse("oidc_authentication_callback")
    return client.get(f"{back.path}?{back.query}")


def logged_in_user(client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def roles_of(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def refusal_shown(client, response) -> str:
    """The login page the refused person lands on, as text."""
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    return client.get(response["Location"]).content.decode()


# --- Off unless configured ------------------------------------------------------------------------
def test_without_sso_settings_the_login_page_has_no_button_and_the_routes_are_404(client):
    assert not django_settings.TIER2_OIDC_ENABLED
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert SSO_BUTTON not in page.content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404


def test_with_sso_settings_the_login_page_offers_single_sign_on(client, sso_on):
    page = client.get(reverse("login"), {"next": "/queue/mine/"}).content.decode()
    assert SSO_BUTTON in page
    assert 'href="/oidc/authenticate/?next=/queue/mine/"' in page


# --- Groups become roles --------------------------------------------------------------------------
def test_a_provider_group_gives_its_mapped_role_and_a_session_like_a_password_login(client, sso_on):
    sso_on.log_in_as(
        "sub-0001",
        preferred_username="hendra.w",
        email="hendra.w@example.co.id",
        given_name="Hendra",
        family_name="Wijaya",
        groups=["t2-leads", "all-staff"],
    )
    response = sso_login(client, sso_on)

    assert response.status_code == 302
    assert response["Location"] == reverse(django_settings.LOGIN_REDIRECT_URL)
    user = logged_in_user(client)
    assert user.username == "hendra.w"
    assert (user.email, user.first_name, user.last_name) == (
        "hendra.w@example.co.id",
        "Hendra",
        "Wijaya",
    )
    assert roles_of(user) == {"Supervisor"}
    assert not user.has_usable_password()
    assert client.session["_auth_user_backend"] == SSO_BACKEND
    # The session works wherever a password login's does, the API included.
    assert client.get("/api/tickets/").status_code == 200


def test_endpoints_set_one_by_one_need_no_discovery(client, sso_on, settings):
    settings.TIER2_OIDC_ISSUER = ""
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{sso_on.issuer}/authorize"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{sso_on.issuer}/token"
    settings.OIDC_OP_USER_ENDPOINT = f"{sso_on.issuer}/userinfo"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{sso_on.issuer}/jwks"
    sso_on.log_in_as("sub-0015", preferred_username="arif.n", groups=["it-admins"])

    sso_login(client, sso_on)

    assert roles_of(logged_in_user(client)) == {"Admin"}
    assert "GET /.well-known/openid-configuration" not in sso_on.requests


def test_the_session_keeps_the_page_asked_for_before_the_login(client, sso_on):
    sso_on.log_in_as("sub-0016", preferred_username="sari", groups=["t2-agents"])
    response = sso_login(client, sso_on, next_url="/queue/mine/?flow=nossa")
    assert response["Location"] == "/queue/mine/?flow=nossa"


def test_the_next_login_with_other_groups_changes_the_roles(client, sso_on):
    sso_on.log_in_as("sub-0002", preferred_username="maya.k", groups=["t2-agents"])
    sso_login(client, sso_on)
    user = logged_in_user(client)
    assert roles_of(user) == {"Agent"}
    user.groups.add(Group.objects.create(name="Night shift"))  # not a role: the console's own

    client.logout()
    sso_on.log_in_as("sub-0002", preferred_username="maya.k", groups=["t2-support", "it-admins"])
    sso_login(client, sso_on)

    assert logged_in_user(client) == user
    assert roles_of(user) == {"Support", "Admin", "Night shift"}
    assert User.objects.filter(username="maya.k").count() == 1


def test_the_email_is_the_user_name_when_the_provider_sends_no_preferred_username(client, sso_on):
    sso_on.log_in_as("sub-0003", email="bayu@example.co.id", groups=["t2-agents"])
    sso_login(client, sso_on)
    assert logged_in_user(client).username == "bayu@example.co.id"


def test_an_existing_password_user_of_that_name_is_the_one_logged_in(client, sso_on):
    existing = factories.user("Support", username="rina")
    sso_on.log_in_as("sub-0004", preferred_username="rina", groups=["t2-leads"])
    sso_login(client, sso_on)
    assert logged_in_user(client) == existing
    assert roles_of(existing) == {"Supervisor"}
    assert existing.check_password("secret-pass-123")  # SSO leaves a password alone


# --- Refused --------------------------------------------------------------------------------------
def test_a_person_whose_groups_map_to_no_role_is_refused_with_a_message(client, sso_on):
    sso_on.log_in_as("sub-0005", preferred_username="outsider", groups=["marketing"])
    response = sso_login(client, sso_on)

    page = refusal_shown(client, response)
    assert "no role in this console" in page
    assert logged_in_user(client) is None
    assert not User.objects.filter(username="outsider").exists()


def test_a_user_whose_groups_were_taken_away_loses_the_roles_and_is_refused(client, sso_on):
    sso_on.log_in_as("sub-0006", preferred_username="former", groups=["t2-leads"])
    sso_login(client, sso_on)
    client.logout()

    sso_on.log_in_as("sub-0006", preferred_username="former", groups=[])
    response = sso_login(client, sso_on)

    assert "no role in this console" in refusal_shown(client, response)
    assert logged_in_user(client) is None
    assert roles_of(User.objects.get(username="former")) == set()


def test_a_refusal_counts_as_a_failed_sign_in_of_the_user_the_provider_named(client, sso_on):
    failures = []

    def record(sender, credentials, request=None, **kwargs):
        failures.append(credentials)

    user_login_failed.connect(record)
    try:
        sso_on.log_in_as("sub-0013", preferred_username="outsider", groups=["marketing"])
        sso_login(client, sso_on)
    finally:
        user_login_failed.disconnect(record)
    assert failures == [{"username": "outsider"}]


def test_refusals_of_some_people_never_lock_single_sign_on_for_others(client, sso_on, settings):
    for attempt in range(getattr(settings, "TIER2_LOCKOUT_FAILURES", 5) + 2):
        sso_on.log_in_as(f"sub-1{attempt:03d}", preferred_username="outsider", groups=[])
        sso_login(client, sso_on)

    colleague = Client(REMOTE_ADDR="10.20.30.40")
    sso_on.log_in_as("sub-0014", preferred_username="colleague", groups=["t2-agents"])
    response = sso_login(colleague, sso_on)

    assert response.status_code == 302
    assert logged_in_user(colleague).username == "colleague"


def test_an_account_disabled_in_the_console_is_refused(client, sso_on):
    disabled = factories.user("Agent", username="left.company")
    User.objects.filter(pk=disabled.pk).update(is_active=False)
    sso_on.log_in_as("sub-0007", preferred_username="left.company", groups=["t2-agents"])

    response = sso_login(client, sso_on)

    assert "disabled in this console" in refusal_shown(client, response)
    assert logged_in_user(client) is None


def test_an_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused(client, sso_on):
    sso_on.signing_key = new_key()
    sso_on.log_in_as("sub-0008", preferred_username="forged", groups=["it-admins"])

    response = sso_login(client, sso_on)

    assert "could not be verified" in refusal_shown(client, response)
    assert logged_in_user(client) is None
    assert not User.objects.filter(username="forged").exists()


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-application"},
        {"iss": "https://idp.example.net"},
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
    ],
    ids=["wrong-audience", "wrong-issuer", "expired"],
)
def test_an_id_token_not_meant_for_this_console_now_is_refused(client, sso_on, changes):
    sso_on.id_token_changes = changes
    sso_on.log_in_as("sub-0009", preferred_username="replayed", groups=["it-admins"])

    response = sso_login(client, sso_on)

    assert "could not be verified" in refusal_shown(client, response)
    assert logged_in_user(client) is None
    assert not User.objects.filter(username="replayed").exists()


def test_an_unreachable_provider_is_a_message_not_an_error_page(client, sso_on):
    sso_on.stop()
    response = client.get(reverse("oidc_authentication_init"))
    assert "cannot be reached" in refusal_shown(client, response)


# --- Agents' site and flows -----------------------------------------------------------------------
def test_an_agents_site_and_flows_follow_the_provider_when_it_sends_them(client, sso_on, settings):
    settings.TIER2_OIDC_SITE_CLAIM = "site"
    settings.TIER2_OIDC_FLOWS_CLAIM = "tier2.flows"  # a claim inside an object
    sso_on.log_in_as(
        "sub-0010",
        preferred_username="wulan.s",
        groups=["t2-agents"],
        site="mlg",
        tier2={"flows": ["nossa", "callback", "no-such-flow"]},
    )
    sso_login(client, sso_on)

    profile = AgentProfile.objects.get(user__username="wulan.s")
    assert profile.site.code == "MLG"
    assert set(profile.flows) == {"nossa", "callback"}


def test_without_site_and_flows_claims_the_profile_stays_as_the_supervisor_set_it(
    client, sso_on, settings
):
    settings.TIER2_OIDC_SITE_CLAIM = "site"
    settings.TIER2_OIDC_FLOWS_CLAIM = "flows"
    agent = factories.agent(site_code="PST", flows=("gamas",), username="dewi")
    newcomer = "sub-0012"
    sso_on.log_in_as("sub-0011", preferred_username="dewi", groups=["t2-agents"])
    sso_login(client, sso_on)
    client.logout()
    sso_on.log_in_as(newcomer, preferred_username="newcomer", groups=["t2-agents"])
    sso_login(client, sso_on)

    profile = AgentProfile.objects.get(user=agent)
    assert (profile.site.code, profile.flows) == ("PST", ["gamas"])
    assert not AgentProfile.objects.filter(user__username="newcomer").exists()


# --- Other ways in are unchanged ------------------------------------------------------------------
def test_password_logins_and_api_tokens_work_as_before_without_asking_the_provider(sso_on):
    supervisor = factories.user("Supervisor", username="pw.user")
    browser = APIClient()
    response = browser.post(
        reverse("login"), {"username": "pw.user", "password": "secret-pass-123"}
    )
    assert response.status_code == 302
    assert browser.session["_auth_user_id"] == str(supervisor.pk)

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=supervisor).key}")
    assert api.get("/api/tickets/").status_code == 200
    assert sso_on.requests == []  # no password login waited on the provider


# --- Configuration --------------------------------------------------------------------------------
def test_the_role_map_reads_json_and_pairs():
    assert oidc_role_map('{"t2-leads": ["Agent", "Supervisor"], "t2-desk": "Support"}') == {
        "t2-leads": ["Agent", "Supervisor"],
        "t2-desk": ["Support"],
    }
    assert oidc_role_map("t2-leads=Agent, t2-leads=Supervisor,cn=desk=Support") == {
        "t2-leads": ["Agent", "Supervisor"],
        "cn=desk": ["Support"],
    }
    assert oidc_role_map("") == {}
    with pytest.raises(ImproperlyConfigured):
        oidc_role_map("t2-leads")
    with pytest.raises(ImproperlyConfigured):
        oidc_role_map('{"t2-leads": ')


def test_a_role_map_naming_a_role_the_console_lacks_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured, match="Superuser"):
        sso.roles_for_groups(["t2-leads"], role_map={"t2-leads": ["Superuser"]})


def load_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TIER2_", "DJANGO_"))}
    clean.update({"DJANGO_SETTINGS_MODULE": "tier2.settings", **env})
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.TIER2_OIDC_ENABLED, ' '.join(s.AUTHENTICATION_BACKENDS))"
    )
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True
    )


SSO_ENV = {
    "TIER2_OIDC_ISSUER": "https://idp.example.co.id/realms/cc",
    "TIER2_OIDC_CLIENT_ID": CLIENT_ID,
    "TIER2_OIDC_CLIENT_SECRET": CLIENT_SECRET,
    "TIER2_OIDC_ROLE_MAP": "t2-agents=Agent",
}


def test_settings_turn_sso_on_with_issuer_and_client_and_add_the_backend_last():
    result = load_settings(**SSO_ENV)
    assert result.returncode == 0, result.stderr
    enabled, *backends = result.stdout.split()
    assert enabled == "True"
    assert backends[-1] == SSO_BACKEND
    assert backends[:-1] == [b for b in django_settings.AUTHENTICATION_BACKENDS if b != SSO_BACKEND]

    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"
    assert SSO_BACKEND not in result.stdout


@pytest.mark.parametrize(
    "missing",
    ["TIER2_OIDC_CLIENT_SECRET", "TIER2_OIDC_ISSUER", "TIER2_OIDC_ROLE_MAP"],
)
def test_settings_refuse_a_half_configured_sso(missing):
    env = {name: value for name, value in SSO_ENV.items() if name != missing}
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr

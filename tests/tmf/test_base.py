"""What every TMF621 endpoint shares: who may call, each client's own rate, the Error shape."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from tests.tmf.spec import assert_tmf_error

ROOT = Path(__file__).resolve().parents[2]
TICKETS = "/tmf-api/troubleTicket/v5/troubleTicket"

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_a_request_without_credentials_is_401_in_the_error_shape():
    response = APIClient().get(TICKETS)
    assert assert_tmf_error(response, 401)["reason"] == "Unauthorized"
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_user_without_a_role_is_403_in_the_error_shape(django_user_model):
    nobody = django_user_model.objects.create_user(username="no-role", password="x-pass-123")
    assert assert_tmf_error(token_client(nobody).get(TICKETS), 403)["reason"] == "Forbidden"


@pytest.mark.parametrize("role", ["System", "Supervisor", "Support", "Admin"])
def test_system_clients_and_staff_roles_may_call(role):
    assert token_client(factories.role_user(role)).get(TICKETS).status_code == 200


def test_an_unknown_path_under_the_tmf_root_is_404_in_the_error_shape():
    response = token_client(factories.role_user("System")).get(
        "/tmf-api/troubleTicket/v5/noSuchResource"
    )
    assert assert_tmf_error(response, 404)["reason"] == "Not Found"


def test_each_client_has_its_own_budget_and_a_named_client_its_own_rate(settings, monkeypatch):
    """`crm` is limited to 3 requests a minute by TIER2_TMF_CLIENT_RATES; `oss` keeps the
    default rate (the suite's generous one), and `crm` spending its budget does not touch it."""
    cache.clear()
    settings.TIER2_TMF_CLIENT_RATES = {"crm": "3/min"}
    crm = token_client(factories.user("System", username="crm"))
    oss = token_client(factories.user("System", username="oss"))
    assert [crm.get(TICKETS).status_code for _ in range(3)] == [200, 200, 200]
    refused = crm.get(TICKETS)
    assert assert_tmf_error(refused, 429)["reason"] == "Too Many Requests"
    assert int(refused["Retry-After"]) > 0
    assert [oss.get(TICKETS).status_code for _ in range(5)] == [200] * 5


def _load_rates(value: str):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(sorted(s.TIER2_TMF_CLIENT_RATES.items()))"
    )
    env = {"PATH": "/usr/bin:/bin", "TIER2_TMF_CLIENT_RATES": value}
    env["DJANGO_SETTINGS_MODULE"] = "tier2.settings"
    return subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_client_rates_are_read_from_the_environment():
    result = _load_rates("crm=3000/min, partner-jatim=300/hour")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[('crm', '3000/min'), ('partner-jatim', '300/hour')]"


@pytest.mark.parametrize("value", ["crm", "crm=fast", "=10/min", "crm=10/fortnight"])
def test_a_malformed_client_rate_stops_the_start(value):
    result = _load_rates(value)
    assert result.returncode != 0
    assert "TIER2_TMF_CLIENT_RATES must look like" in result.stderr

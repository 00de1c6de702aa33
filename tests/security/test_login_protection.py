"""Sign-in protection: after five failed sign-ins in a row for a user name or from an address,
the sixth is refused even with the right password, on the console login, the admin login and
the API's token endpoint; the lock ends after the cool-off (15 minutes by default) or when an
admin unlocks it. The API's throttles answer 429 in the API's error shape."""

import itertools
import uuid
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests import factories

pytestmark = pytest.mark.django_db

PASSWORD = "secret-pass-123"  # tests.factories' password for every user
FAILURES_BEFORE_LOCK = 5  # the requirement: the 6th attempt in a row is refused
COOL_OFF = timedelta(minutes=15)  # the requirement's default cool-off
_addresses = itertools.count(1)


def new_address() -> str:
    """A client address no other test used (throttle counters may outlive a test in Redis)."""
    n = next(_addresses)
    return f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"


def console_login(username, password, address="127.0.0.1", client=None):
    client = client or Client()
    response = client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=address
    )
    return client, response


def token_request(username, password, address="127.0.0.1"):
    return APIClient().post(
        "/api/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def person(db):
    return factories.agent(username="dewi")


# --- Console login --------------------------------------------------------------------------
def test_the_sixth_console_login_in_a_row_is_refused_even_with_the_right_password(person):
    for _attempt in range(FAILURES_BEFORE_LOCK - 1):
        client, response = console_login("dewi", "wrong-password")
        assert response.status_code == 200
        assert not signed_in(client)
    console_login("dewi", "wrong-password")  # the fifth failure

    client, response = console_login("dewi", PASSWORD)

    assert response.status_code == 429
    assert not signed_in(client)
    assert b"Too many failed sign-ins" in response.content
    assert b"locked for 15 minutes" in response.content
    assert b'name="password"' in response.content  # the login form, with the message


def test_four_failures_and_then_the_right_password_sign_in(person):
    for _attempt in range(FAILURES_BEFORE_LOCK - 1):
        console_login("dewi", "wrong-password")

    client, response = console_login("dewi", PASSWORD)

    assert response.status_code == 302
    assert signed_in(client)


def test_the_locked_message_is_in_bahasa_indonesia_for_indonesian_users(person, settings):
    settings.LANGUAGE_CODE = "id"  # the console's default language for users
    for _attempt in range(FAILURES_BEFORE_LOCK):
        console_login("dewi", "wrong-password")

    with translation.override("id"):
        _client, response = console_login("dewi", PASSWORD)

    text = response.content.decode()
    assert response.status_code == 429
    assert "Terlalu banyak percobaan masuk yang gagal" in text
    assert "dikunci selama 15 menit" in text


def test_the_admin_login_locks_too(person):
    User.objects.create_superuser("root", "root@example.com", PASSWORD)
    client = Client()
    for _attempt in range(FAILURES_BEFORE_LOCK):
        client.post("/admin/login/", {"username": "root", "password": "wrong-password"})

    response = client.post(
        "/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD, "next": "/admin/"}
    )

    assert response.status_code == 429
    assert not signed_in(client)
    assert b"Too many failed sign-ins" in response.content


# --- Per user, per address ------------------------------------------------------------------
def test_an_address_is_locked_after_five_failures_whatever_the_user_names(person):
    attacker = new_address()
    for name in ("ani", "budi", "citra", "dodi", "eka"):
        console_login(name, "guess", address=attacker)

    client, refused = console_login("dewi", PASSWORD, address=attacker)
    assert refused.status_code == 429
    assert not signed_in(client)

    client, elsewhere = console_login("dewi", PASSWORD, address=new_address())
    assert elsewhere.status_code == 302
    assert signed_in(client)


def test_a_user_name_is_locked_after_five_failures_from_different_addresses(person):
    for _attempt in range(FAILURES_BEFORE_LOCK):
        console_login("dewi", "wrong-password", address=new_address())

    client, response = console_login("dewi", PASSWORD, address=new_address())

    assert response.status_code == 429
    assert not signed_in(client)


def test_behind_a_proxy_the_lock_follows_the_address_the_proxy_saw(person, settings):
    settings.TIER2_PROXY_COUNT = 1
    real = new_address()
    for n in range(FAILURES_BEFORE_LOCK):
        Client().post(
            "/login/",
            {"username": f"guess{n}", "password": "x"},
            REMOTE_ADDR="127.0.0.1",  # the proxy
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {real}",  # the client forges the left part
        )

    client = Client()
    refused = client.post(
        "/login/",
        {"username": "dewi", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=f"198.51.100.7, {real}",
    )
    assert refused.status_code == 429
    other = Client().post(
        "/login/",
        {"username": "dewi", "password": PASSWORD},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR=new_address(),
    )
    assert other.status_code == 302  # the proxy's own address is not what got locked


# --- Cool-off and unlock --------------------------------------------------------------------
def test_the_lock_ends_after_the_cool_off(person):
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        for _attempt in range(FAILURES_BEFORE_LOCK):
            console_login("dewi", "wrong-password")

        traveller.shift(COOL_OFF - timedelta(minutes=1))
        _client, still_locked = console_login("dewi", PASSWORD)
        assert still_locked.status_code == 429  # and this attempt starts the wait again

        traveller.shift(COOL_OFF - timedelta(seconds=30))
        _client, locked_again = console_login("dewi", PASSWORD)
        assert locked_again.status_code == 429

        traveller.shift(COOL_OFF + timedelta(seconds=1))
        client, response = console_login("dewi", PASSWORD)
        assert response.status_code == 302
        assert signed_in(client)


def test_an_admin_unlocks_a_user_with_the_management_command(person):
    for _attempt in range(FAILURES_BEFORE_LOCK):
        console_login("dewi", "wrong-password", address=new_address())
    assert console_login("dewi", PASSWORD)[1].status_code == 429

    call_command("axes_reset_username", "dewi")

    client, response = console_login("dewi", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_an_admin_unlocks_a_user_in_the_admin(person):
    for _attempt in range(FAILURES_BEFORE_LOCK):
        console_login("dewi", "wrong-password", address=new_address())
    assert console_login("dewi", PASSWORD)[1].status_code == 429
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", PASSWORD))

    listing = admin.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert b"dewi" in listing.content
    attempts = list(AccessAttempt.objects.filter(username="dewi").values_list("pk", flat=True))
    response = admin.post(
        "/admin/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": attempts, "post": "yes"},
    )
    assert response.status_code == 302

    client, signed = console_login("dewi", PASSWORD)
    assert signed.status_code == 302
    assert signed_in(client)


# --- The API's token endpoint ---------------------------------------------------------------
def test_the_sixth_token_request_in_a_row_is_refused_even_with_the_right_password(person):
    for _attempt in range(FAILURES_BEFORE_LOCK - 1):
        response = token_request("dewi", "wrong-password")
        assert response.status_code == 400
    token_request("dewi", "wrong-password")

    response = token_request("dewi", PASSWORD)

    assert response.status_code == 429
    body = response.json()
    assert body["code"] == "LockedOut"
    assert "Too many failed sign-ins" in body["detail"]
    assert int(response.headers["Retry-After"]) == 15 * 60
    assert not Token.objects.filter(user=person).exists()


def test_failures_on_the_console_and_the_api_count_together(person):
    for _attempt in range(3):
        console_login("dewi", "wrong-password")
    for _attempt in range(2):
        token_request("dewi", "wrong-password")

    assert token_request("dewi", PASSWORD).status_code == 429
    assert console_login("dewi", PASSWORD)[1].status_code == 429


# --- API throttles --------------------------------------------------------------------------
@pytest.fixture(
    params=["locmem", pytest.param("redis", marks=pytest.mark.redis)],
)
def throttle_cache(request, settings):
    """The throttles count in the default cache: the embedded LocMem one, and Redis as the
    settings configure it with REDIS_URL. A prefix of its own keeps the counts of earlier
    tests and runs (user ids repeat once rows are rolled back) out of this one."""
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    if request.param == "locmem":
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                "LOCATION": prefix,
            }
        }
    else:
        settings.CACHES = {
            "default": {
                "BACKEND": "django_redis.cache.RedisCache",
                "LOCATION": settings.REDIS_URL,
                "KEY_PREFIX": prefix,
                "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 1},
            }
        }
    return request.param


@pytest.fixture
def production_rates(monkeypatch):
    """The rates the requirement names for the token endpoint (10 a minute), a small user rate."""
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"token": "10/min", "user": "3/min", "anon": "5/min"},
    )


def test_the_token_endpoint_answers_429_after_ten_requests_a_minute(
    person, throttle_cache, production_rates
):
    address = new_address()
    for _attempt in range(10):
        assert token_request("dewi", PASSWORD, address=address).status_code == 200

    response = token_request("dewi", PASSWORD, address=address)

    assert response.status_code == 429
    assert response.json()["code"] == "Throttled"
    assert "Retry-After" in response.headers
    assert token_request("dewi", PASSWORD, address=new_address()).status_code == 200


def test_a_user_over_the_api_rate_gets_429_in_the_api_error_shape(
    person, throttle_cache, production_rates
):
    user = factories.role_user("Supervisor")
    client = APIClient()
    client.force_authenticate(user)
    for _attempt in range(3):
        assert client.get("/api/tickets/", REMOTE_ADDR=new_address()).status_code == 200

    response = client.get("/api/tickets/", REMOTE_ADDR=new_address())

    assert response.status_code == 429
    assert set(response.json()) == {"detail", "code"}
    assert response.json()["code"] == "Throttled"

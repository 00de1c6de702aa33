"""Sessions end after a shift without a request (8 h by default), stay alive while used, and
ordinary requests do not write the session row every time."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.sessions.models import Session

from tests import factories

pytestmark = pytest.mark.django_db
START = datetime(2026, 11, 30, 8, 0, tzinfo=ZoneInfo("Asia/Jakarta"))


def signed_in(client):
    user = factories.agent()
    with time_machine.travel(START, tick=False):
        client.force_login(user)
    return client


def home(client, at):
    with time_machine.travel(at, tick=False):
        return client.get("/")


def test_a_session_used_within_the_shift_stays_alive_across_the_day(client):
    signed_in(client)
    # 7 h 59 min of idleness at a time, three times over: each request moves the end on.
    for hours in (0, 1, 2):
        at = START + timedelta(hours=7 * hours, minutes=59 * (hours + 1))
        assert home(client, at).status_code == 200, at


def test_a_session_idle_for_longer_than_the_shift_ends(client):
    signed_in(client)
    assert home(client, START + timedelta(hours=1)).status_code == 200
    response = home(client, START + timedelta(hours=9, minutes=1))  # 8 h 01 min idle
    assert response.status_code == 302
    assert response.url.startswith("/login/")


def test_requests_within_a_minute_do_not_save_the_session_again(client):
    signed_in(client)
    home(client, START + timedelta(minutes=5))  # refreshes: more than a minute since sign-in
    expiry = Session.objects.get().expire_date
    home(client, START + timedelta(minutes=5, seconds=30))
    assert Session.objects.get().expire_date == expiry  # not written again
    home(client, START + timedelta(minutes=6, seconds=1))
    assert Session.objects.get().expire_date == expiry + timedelta(minutes=1, seconds=1)

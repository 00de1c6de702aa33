"""Helpers for the API tests: a client per role, Celery run in the test process."""

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def english(settings):
    """Messages in English (the console defaults to Bahasa Indonesia): the tests read them."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def eager_celery():
    """Run Celery tasks in the test process even when REDIS_URL is set (CI)."""
    from tier2.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def client_for(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    """`api(user)`: an API client authenticated as `user` (None: anonymous)."""
    return client_for


@pytest.fixture
def supervisor_user(db):
    return factories.role_user("Supervisor")


@pytest.fixture
def admin_user(db):
    return factories.role_user("Admin")


@pytest.fixture
def support(db):
    return factories.role_user("Support")


@pytest.fixture
def nossa_agent(db):
    return factories.agent_for("nossa")

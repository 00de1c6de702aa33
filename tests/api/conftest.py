"""Helpers for the API tests: a client per role (English messages and eager Celery come from
tests/conftest.py)."""

import pytest
from rest_framework.test import APIClient

from tests import factories


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

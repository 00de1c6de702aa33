"""/healthz (the process answers, no database) and /readyz (database, Redis, migrations).

The container's healthcheck calls them as http://127.0.0.1:8000/...: plain HTTP, a Host that
is not one of ALLOWED_HOSTS, no session. They must answer it all the same, and only them.
"""

from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.db.migrations.recorder import MigrationRecorder

PROBE_HOST = "127.0.0.1:8000"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


def test_healthz_answers_without_the_database(client):
    # No django_db mark: any query would fail this test.
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["Cache-Control"] == "no-store"


@pytest.mark.django_db
def test_readyz_is_ready_when_database_redis_and_migrations_are(client, settings):
    settings.REDIS_URL = ""  # the embedded mode: no Redis to ask

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not used", "migrations": "ok"},
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.redis
@pytest.mark.django_db
def test_readyz_asks_the_real_redis(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


@pytest.mark.django_db
def test_readyz_names_an_unreachable_redis(client, settings):
    settings.REDIS_URL = DEAD_REDIS

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["not_ready"] == ["redis"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("error")


@pytest.mark.django_db
def test_readyz_names_an_unreachable_database(client, settings):
    settings.REDIS_URL = ""
    with mock.patch.object(connection, "cursor", side_effect=OperationalError("refused")):
        response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["not_ready"] == ["database", "migrations"]
    assert body["checks"]["database"].startswith("error")


@pytest.mark.django_db
def test_readyz_names_unapplied_migrations(client, settings):
    settings.REDIS_URL = ""
    latest = MigrationRecorder(connection).migration_qs.filter(app="tickets").latest("id")
    MigrationRecorder(connection).record_unapplied("tickets", latest.name)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["not_ready"] == ["migrations"]
    assert body["checks"]["migrations"] == "1 unapplied"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_container_probe_is_answered_over_plain_http_with_its_own_host(client, settings, path):
    settings.REDIS_URL = ""
    settings.ALLOWED_HOSTS = ["tier2.example.co.id"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

    response = client.get(path, HTTP_HOST=PROBE_HOST)

    assert response.status_code == 200


def test_other_paths_keep_the_host_check_and_the_https_redirect(client, settings):
    settings.ALLOWED_HOSTS = ["tier2.example.co.id"]
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/login/", HTTP_HOST=PROBE_HOST).status_code == 400
    redirected = client.get("/login/", HTTP_HOST="tier2.example.co.id")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://tier2.example.co.id/login/"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_paths_answer_only_get_and_head(client, path):
    assert client.post(path).status_code == 405

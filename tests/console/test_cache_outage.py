"""With Redis down, every page still answers: the cache degrades to misses instead of 500s.

The cache settings are the project's own for a Redis deployment (tier2/settings.py loaded with
REDIS_URL set), pointed at a closed port. Covered: every console page the demo roles open, the
My Kiss articles panel (cached look-ups), and the API's CSV imports (progress lives in the cache;
a cancel request is a column of the job, so it holds with the cache down).
"""

import logging
import re
import runpy
from pathlib import Path

import pytest
import redis
from django.core.cache import caches
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern
from rest_framework.test import APIClient

from tests import factories
from tickets import services, urls_supervisor
from tickets import urls as console_urls
from tickets.models import Campaign, ImportJob, ImportStatus, Priority
from tickets.views.exports import TABLES
from tickets.views.queues import queues_of

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_down(settings, monkeypatch):
    """The project's Redis cache settings, with Redis unreachable."""
    monkeypatch.setenv("REDIS_URL", CLOSED_PORT_REDIS)
    project = runpy.run_path(str(ROOT / "tier2" / "settings.py"))
    for name in ("CACHES", "DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS"):
        if name in project:
            setattr(settings, name, project[name])
    assert settings.CACHES["default"]["LOCATION"] == CLOSED_PORT_REDIS
    with pytest.raises(redis.exceptions.ConnectionError):
        caches["default"].client.get_client().ping()  # the outage is real
    return caches["default"]


def test_the_cache_answers_misses_and_drops_writes_while_redis_is_down(redis_down, caplog):
    with caplog.at_level(logging.ERROR):
        assert redis_down.get("some-key") is None
        assert redis_down.get("some-key", "fallback") == "fallback"
        redis_down.set("some-key", 1, 60)
        redis_down.delete("some-key")
    assert any(record.name.startswith("django_redis") for record in caplog.records)


# --- Every console page, for each demo role ----------------------------------------------------
@pytest.fixture
def scene(agent, supervisor, support_user):
    """A NOSSA ticket the agent took and escalated, a gamas incident, and the users."""
    ticket = factories.arrive(
        "nossa", nossa_number="IN16672489", summary="Internet mati total", category="INTERNET"
    )
    services.claim_ticket(ticket_id=ticket.pk, agent=agent)
    services.transition_ticket(ticket_id=ticket.pk, name="start_diagnosis", actor=agent)
    services.transition_ticket(
        ticket_id=ticket.pk, name="escalate", actor=agent, inputs={"reason": "ONT LOS merah"}
    )
    return {
        "ticket": ticket.pk,
        "incident": factories.open_gamas(actor=supervisor).pk,
        "escalation": ticket.escalations.get().pk,
        "users": {
            "agent": agent,
            "supervisor": supervisor,
            "support": support_user,
            "admin": factories.user("Admin", username="admin1"),
        },
    }


def console_routes() -> list[str]:
    routes = [*console_urls.urlpatterns, *urls_supervisor.urlpatterns]
    return ["/" + str(entry.pattern) for entry in routes if isinstance(entry, URLPattern)]


def pages(route: str, scene: dict, user) -> list[str]:
    """The route with its parameters filled from the scene (every queue, every export)."""
    if route.startswith("/incidents/"):
        pk = scene["incident"]
    elif route.startswith("/desk/"):
        pk = scene["escalation"]
    else:
        pk = scene["ticket"]
    choices = {
        "pk": [pk],
        "call_id": [1],
        "name": ["start_diagnosis"],
        "slug": [slug for slug, _label in queues_of(user)],
        "table": list(TABLES),
        "flow": ["nossa"],
        "priority": [int(Priority.NORMAL)],
        "user_id": [scene["users"]["agent"].pk],
    }
    filled = [route]
    for name in re.findall(r"<(?:\w+:)?(\w+)>", route):
        filled = [
            re.sub(rf"<(?:\w+:)?{name}>", str(value), path, count=1)
            for path in filled
            for value in choices[name]
        ]
    return filled


def test_the_walk_covers_the_console_and_supervisor_pages():
    routes = console_routes()
    for expected in ("/tickets/<int:pk>/articles/", "/queues/", "/supervisor/", "/desk/"):
        assert expected in routes


@pytest.mark.parametrize("role", ["agent", "supervisor", "support", "admin"])
def test_every_console_page_answers_below_500_with_redis_down(client, redis_down, scene, role):
    user = scene["users"][role]
    client.force_login(user)
    answered = {}
    for route in console_routes():
        for path in pages(route, scene, user):
            answered[path] = client.get(path).status_code
            answered[path + " (htmx)"] = client.get(path, HTTP_HX_REQUEST="true").status_code
    assert {path: code for path, code in answered.items() if code >= 500} == {}
    assert answered["/"] == 200  # the pages really were served, not refused wholesale


@pytest.mark.parametrize("query", ["", "?q=lampu LOS merah"])
def test_the_articles_panel_answers_200_with_redis_down(
    client, redis_down, scene, agent, query, caplog
):
    client.force_login(agent)
    with caplog.at_level(logging.ERROR):
        response = client.get(
            f"/tickets/{scene['ticket']}/articles/{query}", HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200
    # The panel did ask the cache, and the outage was logged rather than raised.
    assert any(record.name.startswith("django_redis") for record in caplog.records)


# --- The API's imports keep their progress and cancel flags in the cache ----------------------
CSV = (
    "service_number,customer_name,phone,sto,olt,odp,priority,summary\n"
    "131100090001,Pelanggan 1,081200000001,STO-KBL,OLT-KBL-01,ODP-KBL-015,,Tawaran 50 Mbps\n"
)


@pytest.fixture
def supervisor_api(supervisor):
    client = APIClient()
    client.force_authenticate(supervisor)
    return client


def test_an_import_uploads_and_runs_with_redis_down(
    redis_down, supervisor_api, django_capture_on_commit_callbacks
):
    Campaign.objects.create(code="ideas-juni", name="Ideas Juni", flow="ideas")
    upload = SimpleUploadedFile("list.csv", CSV.encode(), "text/csv")
    with django_capture_on_commit_callbacks(execute=True):  # the task runs (eagerly)
        response = supervisor_api.post(
            "/api/imports/",
            {"file": upload, "kind": "ideas", "campaign": "ideas-juni"},
            format="multipart",
        )
    assert response.status_code == 202
    job = supervisor_api.get(f"/api/imports/{response.json()['id']}/")
    assert job.status_code == 200
    assert job.json()["status"] == ImportStatus.DONE


def test_a_running_import_shows_its_progress_and_can_be_cancelled_with_redis_down(
    redis_down, supervisor_api, supervisor
):
    job = ImportJob.objects.create(
        kind="ideas",
        file_name="list.csv",
        content=CSV,
        uploaded_by=supervisor,
        status=ImportStatus.RUNNING,
        total_rows=1,
    )
    shown = supervisor_api.get(f"/api/imports/{job.pk}/")
    assert shown.status_code == 200
    assert shown.json()["status"] == ImportStatus.RUNNING
    assert supervisor_api.get("/api/imports/").status_code == 200
    assert supervisor_api.post(f"/api/imports/{job.pk}/cancel/").status_code == 202

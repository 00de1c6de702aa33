"""Health endpoints for container healthchecks, load balancers and monitoring.

- ``/healthz``: the process answers (liveness). Touches neither the database nor Redis.
- ``/readyz``: the process can serve (readiness): the database answers, Redis answers (when
  ``REDIS_URL`` is set; the embedded mode has none) and no migration is left to apply. 200 when
  all are ready, 503 otherwise; the JSON body names each check and what is not ready.

Both answer from ``HealthCheckMiddleware``, placed before the host check (CommonMiddleware), the
session, the locale and the login, because the probe inside the container calls
``http://127.0.0.1:8000/readyz``: its Host is not one of ``ALLOWED_HOSTS``, it has no session and
speaks plain HTTP (``SECURE_REDIRECT_EXEMPT`` spares it the HTTPS redirect). The routes in
``tier2/urls.py`` serve the same views to a stack without the middleware.
"""

import logging

import redis
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpResponseNotAllowed, JsonResponse

logger = logging.getLogger(__name__)

# Seconds a probe waits for Redis: a probe must answer well within the healthcheck's timeout.
REDIS_TIMEOUT_SECONDS = 2.0


def _no_store(response: JsonResponse) -> JsonResponse:
    response["Cache-Control"] = "no-store"
    return response


def _check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def _check_redis() -> str:
    if not settings.REDIS_URL:
        return "not used"  # embedded mode: eager Celery and a local-memory cache
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _check_migrations() -> str:
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        return f"{len(plan)} unapplied"
    return "ok"


@login_not_required
def healthz(request):
    """Liveness: the web process answers. No database, no Redis."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return _no_store(JsonResponse({"status": "ok"}))


@login_not_required
def readyz(request):
    """Readiness: database reachable, Redis reachable, migrations applied. 503 names the rest."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    checks: dict[str, str] = {}
    for name, check in (("database", _check_database), ("redis", _check_redis)):
        try:
            checks[name] = check()
        except (DatabaseError, redis.RedisError, OSError) as error:
            logger.warning("readyz: %s is not ready: %s", name, error)
            checks[name] = f"error: {type(error).__name__}"
    if checks["database"] == "ok":
        try:
            checks["migrations"] = _check_migrations()
        except DatabaseError as error:
            logger.warning("readyz: cannot read the applied migrations: %s", error)
            checks["migrations"] = f"error: {type(error).__name__}"
    else:
        checks["migrations"] = "unknown: no database"
    not_ready = [name for name, state in checks.items() if state not in ("ok", "not used")]
    body = {"status": "not ready" if not_ready else "ready", "checks": checks}
    if not_ready:
        body["not_ready"] = not_ready
    return _no_store(JsonResponse(body, status=503 if not_ready else 200))


class HealthCheckMiddleware:
    """Answers /healthz and /readyz before the host check, sessions, locale and login."""

    VIEWS = {"/healthz": healthz, "/readyz": readyz}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        view = self.VIEWS.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)

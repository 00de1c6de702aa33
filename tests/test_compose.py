"""The deployment files agree with the code: docker-compose.yml runs the right processes in the
right order, and .env.example and docs/configuration.md name exactly what the settings read.

Docker cannot run in CI, so these tests read the files instead of starting the services.
"""

import ast
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "tier2" / "settings.py"
ENV_EXAMPLE = ROOT / ".env.example"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
APP_SERVICES = ("web", "asgi", "worker", "beat")
# Read by docker compose itself (interpolated into docker-compose.yml), not by the settings.
COMPOSE_ONLY = {
    "POSTGRES_PASSWORD",
    "WEB_CONCURRENCY",
    "ASGI_CONCURRENCY",
    "CELERY_WORKER_CONCURRENCY",
}
ENV_LINE = re.compile(r"^\s*(?:#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


# --- docker-compose.yml ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def services() -> dict:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return compose["services"]


def command_of(service: dict) -> str:
    command = service.get("command", "")
    if isinstance(command, list):
        command = " ".join(str(part) for part in command)
    return " ".join(command.split())


def test_compose_has_the_six_services(services):
    assert {"web", "asgi", "worker", "beat", "db", "redis"} <= set(services)


def test_web_serves_the_wsgi_app_with_gunicorn_on_localhost_only(services):
    assert "gunicorn tier2.wsgi" in command_of(services["web"])
    assert any(str(port).startswith("127.0.0.1:8000:") for port in services["web"]["ports"])


def test_asgi_serves_the_asgi_app_with_uvicorn_processes_on_localhost_only(services):
    command = command_of(services["asgi"])
    assert command.startswith("uvicorn tier2.asgi:application ")
    assert "--workers ${ASGI_CONCURRENCY" in command
    assert "--host 0.0.0.0 --port 8001" in command
    assert services["asgi"]["ports"] == ["127.0.0.1:8001:8001"]


def test_asgi_may_hold_tens_of_thousands_of_sockets(services):
    """Each open websocket is a file descriptor; Docker's default soft limit can be 1024."""
    nofile = services["asgi"]["ulimits"]["nofile"]
    assert nofile["soft"] >= 65536
    assert nofile["hard"] >= nofile["soft"]


def test_asgi_healthcheck_asks_the_readiness_endpoint_on_its_own_port(services):
    check = services["asgi"]["healthcheck"]
    assert check["test"][:2] == ["CMD", "python"]
    assert "http://127.0.0.1:8001/readyz" in command_of({"command": check["test"][1:]})


def test_asgi_command_names_an_application_that_exists():
    from tier2 import asgi

    assert callable(asgi.application)


def test_worker_and_beat_run_celery_of_the_tier2_app(services):
    assert "celery -A tier2 worker" in command_of(services["worker"])
    assert "--concurrency" in command_of(services["worker"])
    assert "celery -A tier2 beat" in command_of(services["beat"])


def test_db_and_redis_report_their_health(services):
    db_check = command_of({"command": services["db"]["healthcheck"]["test"]})
    assert "pg_isready" in db_check
    # Over TCP: during the image's first-boot init only the Unix socket answers, which a
    # socket check would already call healthy.
    assert re.search(r"-h\s*127\.0\.0\.1\b", db_check), db_check
    assert "-p 5432" in db_check
    assert "redis-cli ping" in command_of({"command": services["redis"]["healthcheck"]["test"]})
    assert services["db"]["image"].startswith("postgres:15")
    assert services["redis"]["image"].startswith("redis:7")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_healthy_db_and_redis(services, name):
    depends_on = services[name]["depends_on"]
    assert depends_on["db"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_start_after_migrations(services, name):
    if "migrate" in command_of(services["web"]):
        return  # the web command migrates first
    assert "manage.py migrate" in command_of(services["migrate"])
    assert services[name]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_migrate_waits_for_healthy_db_and_redis(services):
    depends_on = services["migrate"]["depends_on"]
    assert depends_on["db"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_one_image_is_built_once_for_every_app_service(services):
    app_services = (*APP_SERVICES, "migrate")
    builders = [name for name, service in services.items() if "build" in service]
    assert len(builders) == 1, f"exactly one service builds the image, not {builders}"
    assert builders[0] in app_services
    build = services[builders[0]]["build"]
    context = build if isinstance(build, str) else build.get("context", ".")
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (ROOT / context / dockerfile).is_file()
    images = {services[name]["image"] for name in app_services}
    assert len(images) == 1, f"web, worker, beat and migrate run one image, not {images}"
    for name in app_services:
        if name not in builders:
            # Never pulled: the tag exists only where the builder built it.
            assert services[name]["pull_policy"] == "never", name
            assert services[name]["depends_on"][builders[0]]["condition"] == (
                "service_completed_successfully"
            )


def test_web_healthcheck_asks_the_readiness_endpoint_over_the_loopback(services):
    check = services["web"]["healthcheck"]
    test = check["test"]
    assert test[0] in {"CMD", "CMD-SHELL"}
    command = command_of({"command": test[1:]})
    url = re.search(r"http://(127\.0\.0\.1|localhost):(\d+)(/[a-z]+)", command)
    assert url, command
    assert url.group(3) in {"/readyz", "/healthz"}
    assert f"--bind 0.0.0.0:{url.group(2)}" in command_of(services["web"])
    assert "curl" not in command and "wget" not in command  # python:3.11-slim has neither
    assert test[1] == "python"
    for key in ("interval", "timeout", "retries", "start_period"):
        assert key in check, key


def test_health_paths_of_the_healthcheck_are_routed():
    from django.urls import resolve

    from tickets.views import health

    assert resolve("/readyz").func is health.readyz
    assert resolve("/healthz").func is health.healthz


def test_app_services_read_the_env_file(services):
    for name in (*APP_SERVICES, "migrate"):
        if name not in services:
            continue  # no migrate service: the web command migrates
        env_file = services[name]["env_file"]
        assert ".env" in ([env_file] if isinstance(env_file, str) else env_file), name


def test_compose_only_variables_are_used_by_compose():
    compose = (ROOT / "docker-compose.yml").read_text()
    for name in COMPOSE_ONLY:
        assert "${" + name in compose, f"{name} is documented as compose-only but unused"


# --- What the settings read from the environment -------------------------------------------
ENV_READERS = {"env_bool", "env_int", "env_float", "env_list", "getenv"}


def _is_env_read(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id in ENV_READERS
    if isinstance(func, ast.Attribute):
        if func.attr == "getenv":
            return True
        value = func.value
        return func.attr == "get" and isinstance(value, ast.Attribute) and value.attr == "environ"
    return False


def _expand(template: ast.JoinedStr) -> tuple[str, list[str]]:
    """An f-string name: its documented form (<APP>) and its names, one per adapter app."""
    parts = []
    for piece in template.values:
        if isinstance(piece, ast.Constant):
            parts.append(str(piece.value))
        elif ast.unparse(piece.value) == "app.upper()":
            parts.append("{app}")
        else:
            raise AssertionError(f"unexpected dynamic env name: {ast.unparse(template)}")
    pattern = "".join(parts)
    names = [pattern.format(app=app.upper()) for app in settings.TIER2_ADAPTER_APPS]
    return pattern.format(app="<APP>"), names


def settings_env_names() -> tuple[set[str], dict[str, list[str]]]:
    """(literal names, {documented pattern: names}) that tier2/settings.py reads."""
    literal, patterns = set(), {}
    for node in ast.walk(ast.parse(SETTINGS_FILE.read_text())):
        first = None
        if isinstance(node, ast.Call) and _is_env_read(node) and node.args:
            first = node.args[0]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "environ"
        ):
            first = node.slice
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            literal.add(first.value)
        elif isinstance(first, ast.JoinedStr):
            documented, names = _expand(first)
            patterns[documented] = names
    return literal, patterns


def env_example_names() -> dict[str, str]:
    """Names in .env.example, set or shown commented out, with their example values."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_LINE.match(line)
        if match:
            found[match.group(1)] = match.group(2).strip()
    return found


def test_settings_reads_the_variables_this_test_knows_about():
    literal, patterns = settings_env_names()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "TIER2_MODE"} <= literal
    assert "TIER2_ADAPTER_<APP>_FAILURE_RATE" in patterns


def test_every_variable_in_env_example_is_read_by_the_settings():
    literal, patterns = settings_env_names()
    known = literal | COMPOSE_ONLY | {name for names in patterns.values() for name in names}
    unknown = sorted(set(env_example_names()) - known)
    assert not unknown, f".env.example names variables nothing reads: {unknown}"


def test_env_example_documents_every_variable_the_settings_read():
    literal, patterns = settings_env_names()
    text = ENV_EXAMPLE.read_text()
    missing = sorted(literal - set(env_example_names()))
    missing += [pattern for pattern in patterns if pattern not in text]
    assert not missing, f"add to .env.example (a commented default is enough): {missing}"


def test_configuration_doc_describes_every_variable():
    literal, patterns = settings_env_names()
    text = CONFIGURATION_DOC.read_text()
    missing = sorted(name for name in literal | COMPOSE_ONLY | set(patterns) if name not in text)
    assert not missing, f"add to docs/configuration.md: {missing}"


def env_example_active() -> dict[str, str]:
    """The variables .env.example sets (not commented out), less compose's own."""
    active = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = ENV_LINE.match(line)
        if match and not line.lstrip().startswith("#") and match.group(1) not in COMPOSE_ONLY:
            active[match.group(1)] = match.group(2).strip()
    return active


def start_settings(environment: dict[str, str], probe: str) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_env_example_secret_key_is_refused_until_replaced():
    """Copied as it is, the example must not start: its key is public."""
    active = env_example_active()
    assert "change-me" in active["SECRET_KEY"]
    completed = start_settings(active, "import tier2.settings")
    assert completed.returncode != 0
    assert "ImproperlyConfigured" in completed.stderr
    assert "SECRET_KEY" in completed.stderr


def test_env_example_configures_a_production_that_starts():
    """The example's values, with a generated key as it says, pass production mode's checks."""
    active = env_example_active()
    assert active["TIER2_MODE"] == "production"
    assert active["DEBUG"] == "0"
    active["SECRET_KEY"] = secrets.token_urlsafe(50)  # what the example tells you to run
    probe = (
        "import tier2.settings as s; "
        "assert s.PRODUCTION and not s.DEBUG and s.ALLOWED_HOSTS; "
        "assert s.DATABASES['default']['ENGINE'].endswith('postgresql'); "
        "assert not s.CELERY_TASK_ALWAYS_EAGER"
    )
    completed = start_settings(active, probe)
    assert completed.returncode == 0, completed.stderr

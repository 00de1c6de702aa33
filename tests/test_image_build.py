"""The Dockerfile builds: its steps replayed without Docker, which CI does not have.

The test reads the Dockerfile and replays it in a temporary folder: WORKDIR becomes a folder
there, COPY copies the build context (less what .dockerignore excludes), ENV sets the same
variables, and each RUN runs with /bin/sh in that environment, in a fresh virtual environment
(no system site packages) that stands for the base image's Python, with `pip install -r
requirements.txt` from PyPI. So the pinned requirements must install, and `collectstatic` and
`compilemessages` must run in production mode with only what the Dockerfile gives them, as they
do in `docker compose up --build`. Afterwards the built folder passes `check --deploy` with the
runtime environment of .env, and the programs docker-compose.yml runs are installed.

What is not replayed, because it belongs to the base image or would change this machine:
`apt-get` (Debian packages: gettext must be on this machine instead, as in CI), `useradd`,
`chown` and `rm` of anything outside the build folder; USER. pip reaches PyPI as this machine
does (its pip settings, CA certificates and proxies pass through; nothing of the project's own
environment does), and its wheel cache is kept across runs (the image sets PIP_NO_CACHE_DIR only
to stay small), which keeps this test near a minute.

It needs PyPI, as CI has: without it, it fails (it never skips).
"""

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
IMAGE_ROOT = "/app"  # where the Dockerfile's WORKDIR puts the project
# Replaced by a logging no-op: they change the machine, not the build folder.
SYSTEM_COMMANDS = ("apt-get", "useradd", "chown")
SHIM = """#!{python}
import os, sys
with open(os.environ["REPLAY_LOG"], "a") as log:
    log.write(" ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]]) + "\\n")
"""
# rm: only inside the build folder (the Dockerfile cleans /var/lib/apt/lists of the image).
RM_SHIM = """#!{python}
import os, sys
root = os.environ["REPLAY_ROOT"]
args = [a for a in sys.argv[1:] if not a.startswith("/") or a.startswith(root + "/")]
with open(os.environ["REPLAY_LOG"], "a") as log:
    log.write("rm " + " ".join(sys.argv[1:]) + "\\n")
if any(not a.startswith("-") for a in args):
    os.execv("/bin/rm", ["rm", *args])
"""


# --- Reading the Dockerfile and .dockerignore ----------------------------------------------
def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    steps, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        steps.append((keyword.upper(), arguments.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return steps


def env_pairs(arguments: str) -> dict[str, str]:
    pairs = {}
    for item in shlex.split(arguments):
        name, sep, value = item.partition("=")
        assert sep, f"ENV {arguments!r}: use the NAME=value form"
        pairs[name] = value
    return pairs


def ignore_rules() -> list[tuple[bool, re.Pattern]]:
    """(re-include?, pattern) from .dockerignore, in order (the last match wins)."""
    rules = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negate, re.compile(regex + r"\Z")))
    return rules


def excluded(relative: str, rules) -> bool:
    """Docker's rule: a pattern that matches a path or one of its parents excludes it."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    verdict = False
    for negate, pattern in rules:
        if any(pattern.match(candidate) for candidate in candidates):
            verdict = not negate
    return verdict


def copy_context(destination: Path) -> None:
    """COPY . . : the build context, less what .dockerignore excludes."""
    rules = ignore_rules()
    for folder, dirs, files in os.walk(ROOT):
        relative_folder = Path(folder).relative_to(ROOT).as_posix()
        prefix = "" if relative_folder == "." else relative_folder + "/"
        dirs[:] = [d for d in dirs if not excluded(prefix + d, rules)]
        for name in files:
            relative = prefix + name
            if excluded(relative, rules):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(folder) / name, target)


def test_dockerignore_rules_follow_docker():
    rules = ignore_rules()
    assert excluded(".git/config", rules)
    assert excluded("tickets/__pycache__/models.cpython-311.pyc", rules)
    assert excluded(".env", rules)
    assert not excluded(".env.example", rules)
    assert excluded("tests/test_compose.py", rules)
    assert not excluded("tickets/models.py", rules)
    assert not excluded("requirements.txt", rules)


def test_the_image_runs_the_python_this_replay_uses():
    base = next(
        arguments
        for keyword, arguments in instructions(DOCKERFILE.read_text())
        if keyword == "FROM"
    )
    version = re.match(r"python:(\d+)\.(\d+)", base)
    assert version, f"FROM {base}: the replay expects an official python image"
    assert (int(version.group(1)), int(version.group(2))) == sys.version_info[:2], (
        f"the image runs Python {version.group(1)}.{version.group(2)}: run the tests with it"
    )


# --- The replay ----------------------------------------------------------------------------
def network_environment() -> dict[str, str]:
    """How this machine reaches PyPI (pip's settings, CA certificates, proxies), as a docker
    build would get it from the daemon; nothing of the project's own configuration."""
    passed = {}
    for name, value in os.environ.items():
        upper = name.upper()
        if (
            name in {"HOME", "TMPDIR"}
            or upper.startswith("PIP_")
            or "CERT" in upper
            or "CA_BUNDLE" in upper
            or upper.endswith("_PROXY")
        ):
            passed[name] = value
    passed.setdefault("HOME", "/root")
    return passed


def runtime_environment(venv: Path) -> dict[str, str]:
    """A container's environment at run time: the image's ENV and what .env gives it."""
    return {
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "TIER2_MODE": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "tier2.example.co.id",
        "CSRF_TRUSTED_ORIGINS": "https://tier2.example.co.id",
        "DATABASE_URL": "postgres://tier2:unused@db.invalid:5432/tier2",
        "REDIS_URL": "redis://redis.invalid:6379/0",
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Replays the Dockerfile; returns (app folder, venv, log of skipped system commands)."""
    base = tmp_path_factory.mktemp("image")
    app, venv, shims = base / "app", base / "venv", base / "shims"
    shims.mkdir()
    log = base / "system-commands.log"
    log.touch()
    for name in SYSTEM_COMMANDS:
        (shims / name).write_text(SHIM.format(python=sys.executable))
    (shims / "rm").write_text(RM_SHIM.format(python=sys.executable))
    for shim in shims.iterdir():
        shim.chmod(0o755)
    created = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    assert created.returncode == 0, created.stderr

    env = {
        **network_environment(),
        "PATH": os.pathsep.join([str(venv / "bin"), str(shims), os.environ.get("PATH", "")]),
        "LANG": "C.UTF-8",
        "REPLAY_LOG": str(log),
        "REPLAY_ROOT": str(base),
    }
    workdir = None
    for keyword, arguments in instructions(DOCKERFILE.read_text()):
        if keyword in {"FROM", "EXPOSE", "CMD", "LABEL", "USER", "ENTRYPOINT", "HEALTHCHECK"}:
            continue
        if keyword == "ENV":
            env.update(env_pairs(arguments))
            env.pop("PIP_NO_CACHE_DIR", None)  # keep the wheel cache between replays
        elif keyword == "WORKDIR":
            assert arguments == IMAGE_ROOT, f"WORKDIR {arguments}: the replay expects /app"
            workdir = app
            workdir.mkdir()
        elif keyword == "COPY":
            source, destination = shlex.split(arguments)
            assert workdir and destination in {".", "./"}, f"COPY {arguments}"
            if source == ".":
                copy_context(workdir)
            else:
                shutil.copy2(ROOT / source, workdir / Path(source).name)
        elif keyword == "RUN":
            assert workdir, "RUN before WORKDIR"
            command = re.sub(r"(?<![\w/])/app(?=/|\s|$)", str(app), arguments)
            completed = subprocess.run(  # noqa: S603 - the Dockerfile's own build step
                ["/bin/sh", "-c", command],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert completed.returncode == 0, (
                f"RUN {arguments}\nfailed ({completed.returncode}):\n"
                f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
            )
        else:
            pytest.fail(f"the replay does not know the Dockerfile instruction {keyword}")
    return app, venv, log.read_text()


def test_the_image_build_collects_hashed_compressed_static_files(built):
    app, _venv, _log = built
    manifest = json.loads((app / "staticfiles" / "staticfiles.json").read_text())["paths"]
    for name in (
        "js/htmx.min.js",
        "js/console.js",
        "css/console.css",
        "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "admin/css/base.css",
    ):
        hashed = manifest[name]
        assert hashed != name  # a content hash in the name: cacheable for ever
        assert (app / "staticfiles" / hashed).is_file()
        assert (app / "staticfiles" / (hashed + ".gz")).is_file()  # WhiteNoise serves it


def test_the_image_build_compiles_the_translations(built):
    app, _venv, log = built
    assert "apt-get install -y --no-install-recommends gettext" in log
    assert (app / "locale" / "id" / "LC_MESSAGES" / "django.mo").is_file()


def test_the_image_build_leaves_out_what_dockerignore_excludes(built):
    app, _venv, _log = built
    assert (app / "manage.py").is_file()
    assert (app / ".env.example").is_file()
    for name in (".git", ".venv", "tests", "bench", ".env"):
        assert not (app / name).exists(), name


def test_the_built_image_has_the_programs_compose_runs(built):
    _app, venv, _log = built
    for program in ("gunicorn", "celery", "python"):
        assert (venv / "bin" / program).is_file(), program


def test_the_built_image_passes_check_deploy_with_the_runtime_environment(built):
    app, venv, _log = built
    completed = subprocess.run(  # noqa: S603 - the built environment's interpreter
        [str(venv / "bin" / "python"), "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=app,
        env=runtime_environment(venv),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "System check identified no issues" in completed.stdout


def test_the_built_image_loads_the_wsgi_app_and_the_celery_app(built):
    app, venv, _log = built
    probe = (
        "import tier2.wsgi, tier2.celery; "
        "from django.conf import settings; "
        "assert settings.STORAGES['staticfiles']['BACKEND'].startswith('whitenoise'); "
        "print('loaded')"
    )
    completed = subprocess.run(  # noqa: S603 - the built environment's interpreter
        [str(venv / "bin" / "python"), "-c", probe],
        cwd=app,
        env={**runtime_environment(venv), "DJANGO_SETTINGS_MODULE": "tier2.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "loaded" in completed.stdout


# Run in the built environment: every module of the project, and every dotted path the settings
# name, imported as the running services would (production mode, Redis and PostgreSQL named).
# Prints each failure as "path: error" and exits 1 if there is one.
IMPORT_PROBE = r"""
import importlib, pathlib, sys
import django
django.setup()
from django.conf import settings
from django.utils.module_loading import import_string

failures, tried = [], 0

def load(path, *, module=False):
    global tried
    tried += 1
    try:
        importlib.import_module(path) if module else import_string(path)
    except Exception as error:  # each failure is reported, none stops the probe
        failures.append(f"{path}: {type(error).__name__}: {error}")

def load_module_or_attribute(path):
    try:
        importlib.import_module(path)
    except ModuleNotFoundError:
        load(path)

root = pathlib.Path.cwd()
for file in sorted(root.rglob("*.py")):
    relative = file.relative_to(root)
    if len(relative.parts) == 1 or relative.parts[0] == "staticfiles":
        continue  # manage.py and gunicorn.conf.py are scripts, run below
    if not all((root / part).joinpath("__init__.py").exists() for part in
               [pathlib.Path(*relative.parts[:n]) for n in range(1, len(relative.parts))]):
        continue
    name = ".".join(relative.with_suffix("").parts)
    load(name.removesuffix(".__init__"), module=True)

for app in settings.INSTALLED_APPS:
    load_module_or_attribute(app)
for group in ("MIDDLEWARE", "AUTHENTICATION_BACKENDS", "PASSWORD_HASHERS"):
    for path in getattr(settings, group):
        load(path)
for validator in settings.AUTH_PASSWORD_VALIDATORS:
    load(validator["NAME"])
for template in settings.TEMPLATES:
    load(template["BACKEND"])
    for path in template.get("OPTIONS", {}).get("context_processors", []):
        load(path)
for group in ("CACHES", "CHANNEL_LAYERS", "STORAGES"):
    for backend in getattr(settings, group).values():
        load(backend["BACKEND"])
for database in settings.DATABASES.values():
    load(database["ENGINE"] + ".base", module=True)
for name in ("ROOT_URLCONF",):
    load(getattr(settings, name), module=True)
for name in ("WSGI_APPLICATION", "ASGI_APPLICATION", "SESSION_ENGINE", "AXES_CLIENT_IP_CALLABLE",
             "AXES_LOCKOUT_CALLABLE", "DEFAULT_AUTO_FIELD"):
    value = getattr(settings, name, None)
    if value:
        load_module_or_attribute(value)
for key, value in settings.REST_FRAMEWORK.items():
    if key.endswith(("_CLASS", "_CLASSES", "_BACKENDS", "_HANDLER")):
        for path in [value] if isinstance(value, str) else value:
            load(path)
for section in ("filters", "formatters", "handlers"):
    for entry in settings.LOGGING.get(section, {}).values():
        for key in ("()", "class"):
            if isinstance(entry.get(key), str):
                load(entry[key])

# Celery as the worker and beat start it: the broker's and result backend's transports (the
# Redis transport imports packaging) and every task the beat schedule names.
from kombu import Connection
from tier2.celery import app as celery_app
for url in (settings.CELERY_BROKER_URL,):
    tried += 1
    try:
        Connection(url).transport  # loads the transport module; no connection is made
    except Exception as error:
        failures.append(f"broker transport of {url}: {type(error).__name__}: {error}")
tried += 1
try:
    celery_app.backend  # the result backend's module (Redis)
except Exception as error:
    failures.append(f"result backend: {type(error).__name__}: {error}")
celery_app.loader.import_default_modules()
for entry in settings.CELERY_BEAT_SCHEDULE.values():
    tried += 1
    if entry["task"] not in celery_app.tasks:
        failures.append(f"beat task {entry['task']}: not registered")

import runpy
for script in ("gunicorn.conf.py",):
    tried += 1
    try:
        runpy.run_path(str(root / script))
    except Exception as error:
        failures.append(f"{script}: {type(error).__name__}: {error}")

print(f"tried {tried}")
print("\n".join(failures))
sys.exit(1 if failures else 0)
"""


def test_the_built_image_imports_every_module_and_setting_path_the_code_uses(built, tmp_path):
    """requirements.txt alone holds every runtime import: in the environment built from it, every
    module of the project imports, every dotted path in the settings resolves, Celery finds its
    Redis transport and result backend and every task the beat schedule names, and gunicorn's
    configuration loads (kombu's Redis transport once lacked `packaging`, issue 16)."""
    app, venv, _log = built
    probe = tmp_path / "import_probe.py"
    probe.write_text(IMPORT_PROBE)
    completed = subprocess.run(  # noqa: S603 - the built environment's interpreter
        [str(venv / "bin" / "python"), str(probe)],
        cwd=app,
        env={
            **runtime_environment(venv),
            "DJANGO_SETTINGS_MODULE": "tier2.settings",
            "PYTHONPATH": str(app),
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    tried = int(re.search(r"tried (\d+)", completed.stdout).group(1))
    assert tried > 150, completed.stdout  # the project's modules and the settings' paths

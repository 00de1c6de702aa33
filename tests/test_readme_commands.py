"""The shell commands README.md shows work as written.

Every command of the README's ```sh blocks is either run here or named in NOT_RUN with the
reason (a server that keeps running, the whole suite, Docker). A command added to the README
without either fails `test_every_readme_command_is_run_or_has_a_reason`.

Each command runs in a copy of the working tree under tmp_path, so nothing tracked changes
(`make format` and `make clean` included). The copy's `.venv` is a folder of links to the
project's (its interpreter, its packages) with an install stamp of its own, newer than the
copied requirements, so make never reinstalls: no test installs packages, and `make clean`
removes the links, not what they point to.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
VENV = ROOT / ".venv"
STAMP = ".requirements-installed"  # the Makefile's STAMP, inside .venv

# Commands shown but not run here, each with its reason (matched against the whole command).
NOT_RUN = {
    r"^(\w+=\S+ )*make run$": "serves the console until it is stopped",
    r"^\.venv/bin/celery -A tier2 worker\b": "a Celery worker runs until it is stopped",
    r"^(\w+=\S+ )*make test$": "runs the whole suite, this test included (CI runs it)",
    r"^make screenshots$": (
        "drives Chromium through every browser test; test_make_screenshots_writes_into_the_docs "
        "checks what it runs"
    ),
    r"^(\w+=\S+ )*docker compose\b": "needs Docker and builds the images",
}
# What the copy leaves out: the repository's history, local state and caches.
NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", "var", "staticfiles", "__pycache__", ".pytest_cache", ".ruff_cache",
    ".hypothesis", "node_modules",
)  # fmt: skip


def readme_commands() -> list[str]:
    """The commands of the ```sh blocks: one per line (a trailing backslash continues it),
    without the comment after it."""
    commands, block, pending = [], False, ""
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            block = line.strip() == "```sh"
            continue
        if not block:
            continue
        line = pending + line.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        command = re.sub(r"\s+#.*$", "", line).strip()
        if command and not command.startswith("#"):
            commands.append(command)
    return commands


def reason_not_run(command: str) -> str | None:
    for pattern, reason in NOT_RUN.items():
        if re.search(pattern, command):
            return reason
    return None


RUN = [command for command in readme_commands() if reason_not_run(command) is None]


def test_the_readme_shows_commands():
    commands = readme_commands()
    assert "make run" in commands
    assert "make help" in commands


def test_every_readme_command_is_run_or_has_a_reason():
    commands = readme_commands()
    assert RUN, "no README command is run"
    # Every reason still matches a command the README shows: none is kept for a gone command.
    stale = [p for p in NOT_RUN if not any(re.search(p, command) for command in commands)]
    assert not stale, f"NOT_RUN names commands the README no longer shows: {stale}"


@pytest.fixture
def copy(tmp_path) -> Path:
    """The working tree, copied, with a .venv of links to the project's."""
    if not (VENV / "bin" / "python").exists():
        pytest.skip("the commands run with the project's .venv: run `make setup` first")
    target = tmp_path / "repo"
    shutil.copytree(ROOT, target, ignore=NOT_COPIED, symlinks=True)
    venv = target / ".venv"
    venv.mkdir()
    for entry in VENV.iterdir():
        if entry.name != STAMP:
            (venv / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    (venv / STAMP).touch()  # after the copy: newer than its requirements files
    return target


def run(command: str, where: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TIER2_", "DJANGO_", "MAKE"))
        and key not in {"REDIS_URL", "READ_REPLICA_URL"}
    }
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.sqlite3'}",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus"),
        }
    )
    return subprocess.run(  # noqa: S603 - the README's own commands, in a copy
        ["/bin/bash", "-c", command],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", RUN)
def test_a_readme_command_works_as_written(command, copy, tmp_path):
    result = run(command, copy, tmp_path)

    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    assert "pip install" not in result.stdout
    assert (VENV / "bin" / "python").exists()  # `make clean` removed links, not the .venv


def test_make_help_names_the_targets_and_host_port(copy, tmp_path):
    result = run("make help", copy, tmp_path)

    targets = re.findall(r"^make (\w+)", result.stdout, re.MULTILINE)
    assert targets == ["run", "test", "lint", "format", "bench", "screenshots", "clean"]
    assert "http://127.0.0.1:8000" in result.stdout
    assert "HOST_PORT=" in result.stdout
    chosen = run("HOST_PORT=0.0.0.0:8080 make help", copy, tmp_path)
    assert "serve http://0.0.0.0:8080" in chosen.stdout


def test_make_run_serves_on_host_port(copy, tmp_path):
    result = run("HOST_PORT=0.0.0.0:8080 make -n run", copy, tmp_path)

    assert result.returncode == 0, result.stderr
    assert ".venv/bin/python manage.py runserver 0.0.0.0:8080" in result.stdout


def test_make_screenshots_writes_into_the_docs(copy, tmp_path):
    """What `make screenshots` runs: the browser tests, told to save into docs/screenshots/."""
    result = run("make -n screenshots", copy, tmp_path)

    assert result.returncode == 0, result.stderr
    command = " ".join(result.stdout.replace("\\\n", " ").split())
    assert f"TIER2_SCREENSHOTS_DIR={copy}/docs/screenshots" in command
    assert ".venv/bin/pytest tests/e2e -m browser" in command

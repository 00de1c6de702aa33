"""What README.md and docs/*.md point at exists: files and folders of the repository, links
between the pages, and the code they name (`tickets.views.language.ConsoleLocaleMiddleware`).
A rename that forgets the docs fails here. The pages also speak to readers of the repository,
not to its tracker: no "issue #12"."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOP_LEVEL = sorted(
    entry.name for entry in ROOT.iterdir() if entry.name not in {".git", ".venv"} and not
    entry.name.endswith(("_cache", ".egg-info")) and entry.name not in {"var", "staticfiles"}
)  # fmt: skip

# A path of the repository: a top-level entry (tickets, docs, .ci, Makefile, ...) followed by
# more of a path, in running text or in code. A path that goes on with a placeholder
# (`bench/<script>.py`, `docs/screenshots/*.png`) names a pattern, not a file.
PATH = re.compile(
    r"(?<![\w/.:@-])((?:" + "|".join(map(re.escape, TOP_LEVEL)) + r")(?:/[\w.-]*)*)(?![\w/<*{])"
)
# A Markdown link to a page or file of the repository: [text](../README.md#anchor).
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Code the pages name in backticks: a module, or an attribute of one.
DOTTED = re.compile(r"`((?:tickets|tier2|integrations)(?:\.\w+)+)(?:\([^`]*\))?`")
COMMAND = re.compile(r"manage\.py (\w+)")
TRACKER = re.compile(r"\b(?:issue|PR|pull request)\s*#?\d+", re.IGNORECASE)


def mentions(pattern: re.Pattern, page: Path):
    """(line number, match) of every mention outside URLs (http://host/docs/... is no path)."""
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        for match in pattern.finditer(re.sub(r"[a-z]+://\S+", "", line)):
            yield number, match


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_the_pages_are_found():
    names = {page_id(page) for page in PAGES}
    assert {"README.md", "docs/configuration.md", "docs/architecture.md"} <= names


def path_in(match: re.Match) -> str:
    return match.group(1).rstrip(".")  # the full stop of a sentence is not part of it


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_repository_path_a_page_names_exists(page):
    missing = [
        f"{page_id(page)}:{number}: {path}"
        for number, match in mentions(PATH, page)
        if not (ROOT / (path := path_in(match))).exists()
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_link_to_the_repository_resolves(page):
    missing = []
    for number, match in mentions(LINK, page):
        target = match.group(1)
        if target.startswith("#") or re.match(r"[a-z]+:", target):
            continue  # an anchor of the same page, or a web address
        if not (page.parent / target.split("#")[0]).exists():
            missing.append(f"{page_id(page)}:{number}: {target}")
    assert not missing, "\n".join(missing)


def permissions() -> set[str]:
    """`app_label.codename` of the permissions the models declare (`tickets.integrate`)."""
    names = set()
    for model in apps.get_models():
        meta = model._meta
        names |= {f"{meta.app_label}.{codename}" for codename, _label in meta.permissions}
        names |= {
            f"{meta.app_label}.{action}_{meta.model_name}" for action in meta.default_permissions
        }
    return names


def resolves(name: str) -> bool:
    """A module, or an attribute (of an attribute...) of the longest importable module."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_piece_of_code_a_page_names_exists(page):
    known_permissions = permissions()
    missing = [
        f"{page_id(page)}:{number}: {match.group(1)}"
        for number, match in mentions(DOTTED, page)
        if match.group(1) not in known_permissions and not resolves(match.group(1))
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_every_management_command_a_page_names_exists(page):
    from django.core.management import get_commands

    commands = get_commands()
    missing = [
        f"{page_id(page)}:{number}: manage.py {match.group(1)}"
        for number, match in mentions(COMMAND, page)
        if match.group(1) not in commands
    ]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_page_refers_to_the_tracker(page):
    found = [
        f"{page_id(page)}:{number}: {match.group(0)}" for number, match in mentions(TRACKER, page)
    ]
    assert not found, "\n".join(found)


# --- The checks themselves, on text written for them -------------------------------------------
def test_the_path_pattern_finds_paths_and_skips_urls_and_placeholders():
    line = (
        "See `tickets/views/queues.py`, docs/api.md and .ci/run; run bench/<script>.py; "
        "pictures in docs/screenshots/*.png; http://127.0.0.1:8000/docs/nope; `/api/docs/`."
    )
    found = [path_in(match) for match in PATH.finditer(re.sub(r"[a-z]+://\S+", "", line))]
    assert found == ["tickets/views/queues.py", "docs/api.md", ".ci/run"]


def test_the_code_check_tells_real_names_from_made_up_ones():
    assert resolves("tickets.views.language.ConsoleLocaleMiddleware")
    assert resolves("tickets.services")
    assert not resolves("tickets.views.language.NoSuchMiddleware")
    assert not resolves("tickets.no_such_module")


def test_the_tracker_pattern():
    assert TRACKER.search("the console side of issue 6")
    assert TRACKER.search("websockets, issue #12")
    assert not TRACKER.search('"Customer #42 still has 1 open ticket"')
    assert not TRACKER.search("SOP 8.4 and section 10")

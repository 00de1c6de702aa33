"""A test run changes no tracked file: the browser tests' screenshots go into each test's
temporary folder. Only `make screenshots` (TIER2_SCREENSHOTS_DIR=docs/screenshots) writes the
committed pictures. No browser here: the page is a stand-in that writes what it is asked to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e import conftest

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PNG = b"\x89PNG\r\n\x1a\n"


class StandInPage:
    """What the `screenshot` fixture uses of a Playwright page."""

    def __init__(self) -> None:
        self.scripts: list[str] = []

    def evaluate(self, script: str) -> None:
        self.scripts.append(script)

    def screenshot(self, *, path: str, full_page: bool, animations: str) -> None:
        Path(path).write_bytes(PNG)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        entry.name: (entry.stat().st_mtime_ns, entry.stat().st_size) for entry in folder.iterdir()
    }


@pytest.fixture
def unset():
    if conftest.SCREENSHOTS_DIR:
        pytest.skip("TIER2_SCREENSHOTS_DIR is set: this run refreshes the screenshots on purpose")


def test_a_screenshot_goes_into_the_tests_temporary_folder(unset, screenshot, tmp_path):
    before = snapshot(DOCS_SCREENSHOTS)

    saved = screenshot(StandInPage(), "queue", full_page=True)

    assert saved == tmp_path / "queue.png"
    assert saved.read_bytes() == PNG
    assert snapshot(DOCS_SCREENSHOTS) == before


def test_the_committed_pictures_are_named_by_the_docs():
    """Each picture in docs/screenshots/ is one a browser test takes (by the same name)."""
    taken = set()
    for test_file in Path(__file__).parent.glob("test_*.py"):
        text = test_file.read_text(encoding="utf-8")
        taken |= set(re.findall(r'screenshot\(\s*\w+,\s*"([\w-]+)"', text))
    committed = {picture.stem for picture in DOCS_SCREENSHOTS.glob("*.png")}

    assert committed <= taken, f"no test takes: {sorted(committed - taken)}"


def test_make_screenshots_writes_only_the_docs_pictures(monkeypatch, tmp_path_factory, request):
    """With TIER2_SCREENSHOTS_DIR set (here a stand-in folder), the docs' pictures go there and
    the layout checks' pictures at every width still go to the test's temporary folder."""
    docs = tmp_path_factory.mktemp("docs-screenshots")
    monkeypatch.setattr(conftest, "SCREENSHOTS_DIR", str(docs))
    screenshot = request.getfixturevalue("screenshot")
    tmp_path = request.getfixturevalue("tmp_path")

    assert screenshot(StandInPage(), "queue") == docs / "queue.png"
    layout = screenshot(StandInPage(), "agent_pusat-queues-390", for_docs=False)

    assert layout == tmp_path / "agent_pusat-queues-390.png"
    assert sorted(picture.name for picture in docs.iterdir()) == ["queue.png"]

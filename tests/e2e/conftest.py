"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server.

Playwright's own browser download is not used (`playwright install` is never needed): the
system chromium is launched by path, `CHROMIUM_PATH` or /usr/bin/chromium. Playwright's sync
API runs an event loop in the test thread, so Django's guard against ORM calls from async
code is lifted for these tests only.
"""

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
# The committed pictures in docs/screenshots/ are refreshed only on request
# (TIER2_SCREENSHOTS_DIR=docs/screenshots); a test run never writes into tracked files.
SCREENSHOTS_DIR = os.environ.get("TIER2_SCREENSHOTS_DIR", "")
PASSWORD = "secret-pass-123"


def chromium_path() -> str:
    wanted = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    return shutil.which(wanted) or wanted


@pytest.fixture(scope="session")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def logged_in(browser, live_server):
    """`logged_in("agent.pusat")`: a page of a fresh browser (1366x768, an Indonesian agent's
    browser) where that user has logged in through the login form."""
    contexts = []

    def open_page(username: str, password: str = PASSWORD):
        context = browser.new_context(viewport=VIEWPORT, locale="id-ID", base_url=live_server.url)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto("/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.locator("main button[type=submit]").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(tmp_path):
    """`screenshot(page, "queue")` saves queue.png in the test's temporary folder, or in
    TIER2_SCREENSHOTS_DIR when set (to refresh the committed docs/screenshots/)."""
    folder = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else tmp_path
    folder.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, *, full_page: bool = False) -> Path:
        path = folder / f"{name}.png"
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return save

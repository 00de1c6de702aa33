"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server,
or, for the live console's websockets, against the ASGI application (`asgi_console`).

Playwright's own browser download is not used (`playwright install` is never needed): the
system chromium is launched by path, `CHROMIUM_PATH` or /usr/bin/chromium. Playwright's sync
API runs an event loop in the test thread, so Django's guard against ORM calls from async
code is lifted for these tests only.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
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


def log_in(browser, base_url: str, contexts: list, username: str, password: str = PASSWORD):
    """A page of a fresh browser context (1366x768, an Indonesian agent's browser) where that
    user has logged in through the login form."""
    context = browser.new_context(viewport=VIEWPORT, locale="id-ID", base_url=base_url)
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("main button[type=submit]").click()
    page.wait_for_url(f"{base_url}/")
    return page


@pytest.fixture
def logged_in(browser, live_server):
    """`logged_in("agent.pusat")`: a page of a fresh browser where that user has logged in."""
    contexts = []
    yield lambda username, password=PASSWORD: log_in(
        browser, live_server.url, contexts, username, password
    )
    for context in contexts:
        context.close()


class AsgiConsole:
    """The console as the ASGI application (`tier2.asgi`: pages and the /ws/live/ websocket)
    served by uvicorn in a thread of this process, on a free port of the loopback.

    pytest-django's `live_server` speaks WSGI only. Running the server in this process keeps
    the test's settings, database and (without REDIS_URL) the in-memory channel layer; `run`
    calls a function where the server's own requests run, so what it sends reaches the
    sockets the same way a request's changes do."""

    def __init__(self) -> None:
        import uvicorn
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from tier2.asgi import application

        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            ASGIStaticFilesHandler(application),  # /static/ as the live server serves it
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
            ws_per_message_deflate=False,
        )
        self.server = uvicorn.Server(config)
        self.loop = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve(sockets=[self._socket])

    def start(self) -> AsgiConsole:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the ASGI console did not start")
            time.sleep(0.05)
        return self

    def run(self, function, *args, **kwargs):
        """`function(*args, **kwargs)` run as the server runs a request's code; its result."""
        from asgiref.sync import sync_to_async
        from django.db import connections

        def call():
            try:
                return function(*args, **kwargs)
            finally:
                connections.close_all()

        running = sync_to_async(call, thread_sensitive=False)()
        return asyncio.run_coroutine_threadsafe(running, self.loop).result(timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=20)
        self._socket.close()


@pytest.fixture
def asgi_console(transactional_db):
    """The console served over ASGI with its websockets (`AsgiConsole`), for one test.

    Each request runs in a thread of its own under ASGI: its database connection is closed when
    it ends (no persistent connections), or they would outlive the test database."""
    from django.db import connection

    pytest.importorskip("uvicorn")
    kept = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 0
    console = AsgiConsole().start()
    yield console
    console.stop()
    connection.settings_dict["CONN_MAX_AGE"] = kept


@pytest.fixture
def live_logged_in(browser, asgi_console):
    """`live_logged_in("agent.pusat")`: like `logged_in`, on the ASGI console (websockets)."""
    contexts = []
    yield lambda username, password=PASSWORD: log_in(
        browser, asgi_console.url, contexts, username, password
    )
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(tmp_path):
    """`screenshot(page, "queue")` saves queue.png in the test's temporary folder, or in
    TIER2_SCREENSHOTS_DIR when set (to refresh the committed docs/screenshots/). A picture that
    is not one of the docs' (`for_docs=False`: the layout checks' many widths) always goes to
    the temporary folder."""
    docs_folder = Path(SCREENSHOTS_DIR) if SCREENSHOTS_DIR else tmp_path
    docs_folder.mkdir(parents=True, exist_ok=True)

    def save(page, name: str, *, full_page: bool = False, for_docs: bool = True) -> Path:
        path = (docs_folder if for_docs else tmp_path) / f"{name}.png"
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path

    return save

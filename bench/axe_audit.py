"""axe-core's WCAG 2.0/2.1 A and AA findings on every console page a demo user reaches, for any
commit: the before-and-after figures of the accessibility work.

    .venv/bin/python bench/axe_audit.py [--ref HEAD] [--languages en id]
        [--widths 390 1366 1920] [--port 8765] [--per-role 40] [--tsv FILE]

The commit is checked out into a temporary git worktree (the working tree is never touched:
uncommitted changes are not measured), migrated into its own SQLite file there, given the demo
data (`manage.py load_demo`) and served by its own `runserver` on --port. Debian's chromium
(CHROMIUM_PATH or /usr/bin/chromium), driven by Playwright, then signs in as each demo role and
walks the console from the home page: every same-site link it finds is followed once per kind
of page (a path segment of digits stands for any id, so one ticket workspace, one escalation and
one incident are checked, not all of them), plus a page that does not exist. On each page the
same vendored axe-core as the browser tests (tests/e2e/vendor/axe.min.js) runs at each width.

Prints one line per page, language and width (violated rules, affected elements), then the
totals and the rules by element count. The walk follows links only: pages behind a form (a
failed login, the two-factor verify page) are not reached; tests/e2e/test_accessibility.py
checks those too.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "tests" / "e2e" / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
HEIGHT = 800

# The demo logins of manage.py load_demo (its printed table); None: signed out.
ROLES = {
    "anonymous": None,
    "agent_pusat": ("agent.pusat", "demo-agent-123"),
    "agent_malang": ("agent.malang", "demo-agent-123"),
    "supervisor": ("supervisor", "demo-supervisor-123"),
    "support": ("support", "demo-support-123"),
    "admin": ("admin", "demo-admin-123"),
}
# Not console pages, or not pages at all.
SKIPPED = re.compile(
    r"^/(admin|api|static|media|ws|metrics|logout|accounts/logout|i18n|health|ready)(/|$)"
    r"|\.(csv|json|xlsx|png|svg|txt)$|/(export|download)(/|$)"
)
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations"]});
  return result.violations.map((v) => ({id: v.id, nodes: v.nodes.length}));
}"""


def kind_of(path: str) -> str:
    """The kind of page an address is: a segment of digits stands for any id."""
    return re.sub(r"(?<=/)\d+(?=/|$)", "<id>", path)


def git(*args: str, **options) -> subprocess.CompletedProcess:
    """git on this project's repository (git from PATH, the arguments ours)."""
    return subprocess.run(["git", "-C", str(ROOT), *args], **options)  # noqa: S603, S607


@contextlib.contextmanager
def worktree(ref: str):
    folder = Path(tempfile.mkdtemp(prefix="axe-audit-"))
    source = folder / "src"
    git("worktree", "add", "--detach", "--quiet", str(source), ref, check=True)
    try:
        yield source
    finally:
        git("worktree", "remove", "--force", str(source), check=False)
        shutil.rmtree(folder, ignore_errors=True)


def manage(source: Path, env: dict, *args: str) -> None:
    subprocess.run(  # noqa: S603 - this venv's python, the commit's manage.py
        [sys.executable, "manage.py", *args],
        cwd=source,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def wait_for_port(port: int, seconds: int = 60) -> None:
    for _ in range(seconds * 4):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.25):
            return
        time.sleep(0.25)
    raise SystemExit(f"the console did not answer on port {port} within {seconds}s")


@contextlib.contextmanager
def serving(source: Path, port: int):
    """The commit's console, embedded mode (SQLite under its var/, eager Celery), demo data."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="tier2.settings", PYTHONDONTWRITEBYTECODE="1")
    manage(source, env, "migrate", "--noinput")
    if shutil.which("msgfmt") and any((source / "locale").glob("*/LC_MESSAGES/*.po")):
        manage(source, env, "compilemessages", "--ignore=.venv", "--verbosity=0")
    manage(source, env, "load_demo")
    server = subprocess.Popen(  # noqa: S603 - this venv's python, fixed arguments
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=source,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def same_site_paths(page, base: str) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map((a) => a.href)")
    found = []
    for href in hrefs:
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != base or SKIPPED.search(parts.path):
            continue
        found.append(parts.path)
    return found


def log_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.locator("form:has(#id_username) button[type=submit]").first.click()
    page.wait_for_load_state()


def settle(page) -> None:
    with contextlib.suppress(Exception):
        page.wait_for_load_state("networkidle", timeout=5_000)
    with contextlib.suppress(Exception):
        page.wait_for_function("() => !document.querySelector('.htmx-request')", timeout=5_000)


def audit_role(browser, base, language, role, login, widths, per_role, rows) -> None:
    context = browser.new_context(
        viewport={"width": widths[0], "height": HEIGHT},
        base_url=base,
        bypass_csp=True,  # the console's CSP allows no injected script; axe is one
        locale="id-ID" if language == "id" else "en-GB",
    )
    context.add_cookies([{"name": "django_language", "value": language, "url": base}])
    page = context.new_page()
    page.set_default_timeout(30_000)
    if login:
        log_in(page, *login)
    queue, seen = ["/", "/no-such-page/"], set()
    while queue and len(seen) < per_role:
        path = queue.pop(0)
        if kind_of(path) in seen:
            continue
        seen.add(kind_of(path))
        response = page.goto(path)
        settle(page)
        landed = urlsplit(page.url).path
        if landed != path and kind_of(landed) in seen:
            continue  # a redirect to a page already checked (the login page, say)
        seen.add(kind_of(landed))
        status = response.status if response else 0
        page.add_script_tag(path=str(AXE))
        for width in widths:
            page.set_viewport_size({"width": width, "height": HEIGHT})
            violations = page.evaluate(RUN_AXE, WCAG_TAGS)
            rows.append((role, language, kind_of(landed), status, width, violations))
        queue.extend(p for p in same_site_paths(page, base) if kind_of(p) not in seen)
    context.close()


def per_page(tsv: Path) -> dict[str, tuple[int, int, int]]:
    """page -> (checks, checks with violations, element-violations), from a --tsv file."""
    totals: dict[str, list[int]] = {}
    lines = tsv.read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        _role, _language, page, _status, _width, rules, elements, *_ = line.split("\t")
        total = totals.setdefault(page, [0, 0, 0])
        total[0] += 1
        total[1] += int(rules) > 0
        total[2] += int(elements)
    return {
        page: (checks, failing, elements) for page, (checks, failing, elements) in totals.items()
    }


def compare(before: Path, after: Path) -> None:
    """A Markdown table of two --tsv files side by side, one row per page (all roles, both
    languages and every width summed)."""
    old, new = per_page(before), per_page(after)
    columns = "checks | with violations | elements"
    print(f"| page | before: {columns} | after: {columns} |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for page in sorted(old.keys() | new.keys()):
        cells = [
            " | ".join(str(n) for n in figures) if figures else "– | – | –"
            for figures in (old.get(page), new.get(page))
        ]
        print(f"| `{page}` | {cells[0]} | {cells[1]} |")
    for name, figures in (("before", old), ("after", new)):
        checks, failing, elements = (sum(f[i] for f in figures.values()) for i in range(3))
        print(f"{name}: {checks} checks, {failing} with violations, {elements} element-violations")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to audit (default HEAD)")
    parser.add_argument("--languages", nargs="+", default=["en", "id"])
    parser.add_argument("--widths", nargs="+", type=int, default=[390, 1366, 1920])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--per-role", type=int, default=40, help="at most this many pages")
    parser.add_argument("--tsv", help="also write the per-page lines to this file")
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("BEFORE_TSV", "AFTER_TSV"),
        help="only print two earlier --tsv files side by side, per page (runs nothing)",
    )
    args = parser.parse_args()
    if args.compare:
        compare(Path(args.compare[0]), Path(args.compare[1]))
        return

    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    named = git("rev-parse", "--short", args.ref, check=True, capture_output=True, text=True)
    commit = named.stdout.strip()
    load_before = os.getloadavg()
    rows: list = []
    started = time.monotonic()
    with (
        worktree(args.ref) as source,
        serving(source, args.port) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        for language in args.languages:
            for role, login in ROLES.items():
                audit_role(browser, base, language, role, login, args.widths, args.per_role, rows)
        browser.close()
    elapsed = time.monotonic() - started

    lines = ["role\tlanguage\tpage\tstatus\twidth\trules\telements\tviolated rules"]
    for role, language, kind, status, width, violations in rows:
        elements = sum(v["nodes"] for v in violations)
        names = ",".join(f"{v['id']}:{v['nodes']}" for v in violations)
        lines.append(
            f"{role}\t{language}\t{kind}\t{status}\t{width}\t{len(violations)}\t{elements}\t{names}"
        )
    print("\n".join(lines))
    if args.tsv:
        Path(args.tsv).write_text("\n".join(lines) + "\n", encoding="utf-8")

    by_rule: Counter = Counter()
    for *_, violations in rows:
        for violation in violations:
            by_rule[violation["id"]] += violation["nodes"]
    violating = sum(1 for *_, violations in rows if violations)
    pages = len({(role, language, kind) for role, language, kind, *_ in rows})
    print(
        f"\ncommit {commit}: {pages} pages (role x language), {len(rows)} checks at widths "
        f"{args.widths}; {violating} checks with violations, "
        f"{sum(by_rule.values())} element-violations"
    )
    for rule, count in by_rule.most_common():
        print(f"  {rule}: {count}")
    load_after = os.getloadavg()
    print(
        f"over HTTP, chromium against runserver (SQLite, demo data), {elapsed:.0f} s; load "
        f"average {load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end"
    )


if __name__ == "__main__":
    main()

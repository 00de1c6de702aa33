"""Accessibility: axe-core finds no WCAG 2.0 / 2.1 level A or AA violation on any console page.

axe-core (tests/e2e/vendor/axe.min.js, vendored from npm for these tests only) is injected into
each page and run with the tags wcag2a, wcag2aa, wcag21a and wcag21aa. Every page of every role
(tests/e2e/console_pages.py) is checked in English and in Bahasa Indonesia, at 390, 1366 and
1920 px wide: one browser context per role and language, the widths set on the open page.
A failure lists each violation's rule, impact and the elements it found.

docs/accessibility.md says what is checked and what axe cannot check; bench/axe_audit.py counts
the findings per page of any commit (the before-and-after figures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import console_pages
from tests.e2e.console_pages import log_in, settle, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
WIDTHS = (390, 1366, 1920)
LANGUAGES = ("en", "id")
HEIGHT = 800

RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags},
                                          resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact,
    targets: v.nodes.map((n) => n.target.join(" ")).slice(0, 8),
    nodes: v.nodes.length,
  }));
}"""


def violations_at_widths(page, where: str, found: dict) -> None:
    """Run axe on the open page at each width; record what it finds under `where@width`."""
    page.add_script_tag(path=str(AXE))
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        found[f"{where}@{width}"] = page.evaluate(RUN_AXE, WCAG_TAGS)


def check_pages(page, language: str, role: str, addresses, found: dict) -> None:
    for name, address in addresses:
        page.goto(address)
        settle(page)
        violations_at_widths(page, f"{role} {language} {name}", found)


def report(found: dict) -> str:
    """One line per page and width with violations, then each violation's details."""
    lines = []
    for where, violations in found.items():
        for violation in violations:
            lines.append(
                f"{where}: {violation['id']} ({violation['impact']}, {violation['nodes']} "
                f"elements) {violation['targets']}"
            )
    return "\n".join(lines)


def finish(found: dict) -> None:
    assert found, "no page was checked"
    failing = {where: v for where, v in found.items() if v}
    assert not failing, "axe found WCAG A/AA violations:\n" + report(failing)


def test_every_page_of_every_role_has_no_wcag_a_or_aa_violation(browser, live_server):
    """One floor for all: each role's pages in its own browser context per language; then,
    signed out, the login page (also with a wrong password), the flows and a 404; and the
    second-factor page of a user with an app, a recovery code used there, and the page of new
    recovery codes."""
    floor = console_pages.build()
    codes = list(floor.recovery_codes)
    found: dict = {}
    for language in LANGUAGES:
        for role, username in console_pages.USERS.items():
            with signed_in(browser, live_server.url, language, username) as page:
                addresses = console_pages.pages(role, floor)
                check_pages(page, language, role, addresses, found)
                if username is None:
                    codes = signing_in(page, language, codes, found)
    finish(found)


def signing_in(page, language: str, codes: list[str], found: dict) -> list[str]:
    """The pages around signing in, checked on a signed-out page; the recovery codes left."""
    page.goto("/login/")
    page.fill("#id_username", "agent.pusat")
    page.fill("#id_password", "wrong-password")
    page.locator("main button[type=submit]").click()
    page.wait_for_load_state()
    violations_at_widths(page, f"anonymous {language} login-error", found)

    log_in(page, console_pages.TWO_FACTOR_USER)
    assert "/account/two-factor/verify/" in page.url
    violations_at_widths(page, f"2fa-user {language} two-factor-verify", found)
    page.fill("#id_code", codes[0])
    page.locator("main button.primary[type=submit]").click()
    page.wait_for_load_state()
    check_pages(page, language, "2fa-user", [("two-factor-on", "/account/two-factor/")], found)
    page.locator("form[action$='/recovery-codes/'] button[type=submit]").click()
    page.wait_for_url("**/account/two-factor/recovery-codes/")
    violations_at_widths(page, f"2fa-user {language} recovery-codes", found)
    return page.locator("#recovery-codes code").all_inner_texts()  # the old ones no longer work

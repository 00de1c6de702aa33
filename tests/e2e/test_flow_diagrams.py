"""The flow diagrams (/flows/) and the dashboard's charts in the browser, as people see them.

/flows/ is opened in English and in Bahasa Indonesia (switched with the language selector, the
language view's form). For the seven flows and the gamas incident, once ELK has laid them out
(static/js/flows.js), the test measures what the browser drew:
- every state's and every transition's label is there in full (its lines joined give the
  label the server sent) and inside its box; no "…";
- no two labels overlap, no label overlaps a box, no two boxes overlap;
- everything drawn is inside the <svg>, and the <svg> is not cut off by its container: the
  container scrolls it when it is wider than the page (it is never scaled down).
The geometry does not depend on the wording, so the test passes with whatever the Indonesian
catalogue says.

Every diagram and every chart has a <title> and a <desc> (role="img", aria-labelledby and
aria-describedby), and the next thing the keyboard reaches after it is the link to its table:
one Enter opens the table and puts the focus on it.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.e2e import demo_data
from tests.e2e.conftest import VIEWPORT
from tickets.flows import FLOWS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CODES = [*FLOWS, "gamas_incident"]

# Measures the drawn diagrams; a list of problems (empty when all is well).
GEOMETRY = (Path(__file__).parent / "flow_geometry.js").read_text()

# The accessible name, description and table link of every figure on the page.
FIGURES = """
(selector) => Array.from(document.querySelectorAll(selector)).map((svg) => {
  const byIds = (attr) => (svg.getAttribute(attr) || "").split(/\\s+/).filter(Boolean)
    .map((id) => document.getElementById(id));
  const titles = byIds("aria-labelledby"), descs = byIds("aria-describedby");
  // The first thing after the drawing that the Tab key reaches.
  const focusable = 'a[href], button, input, select, textarea, summary, '
    + '[tabindex]:not([tabindex="-1"])';
  const all = Array.from(document.querySelectorAll(focusable));
  const next = all.find((el) => svg.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING
    && !svg.contains(el) && el.offsetParent !== null);
  return {
    role: svg.getAttribute("role"),
    title: titles.length && titles[0] && titles[0].tagName.toLowerCase() === "title"
      && titles[0].parentNode === svg ? titles[0].textContent.trim() : "",
    desc: descs.length && descs[0] && descs[0].tagName.toLowerCase() === "desc"
      && descs[0].parentNode === svg ? descs[0].textContent.trim() : "",
    next: !next ? null
      : next.hasAttribute("data-table-link") ? next.getAttribute("href")
      : next.outerHTML.slice(0, 80),
  };
})
"""


def open_flows(browser, base_url: str, language: str):
    context = browser.new_context(viewport=VIEWPORT, locale="id-ID", base_url=base_url)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/flows/")
    if page.locator("html").get_attribute("lang") != language:
        with page.expect_navigation():
            page.locator("#lang-select").select_option(language)
    expect(page.locator("html")).to_have_attribute("lang", language)
    page.wait_for_function("() => Number(document.documentElement.dataset.flowsDrawn) >= 1")
    return context, page


def check_tables_are_one_keystroke_away(page, selector: str) -> None:
    figures = page.evaluate(FIGURES, selector)
    assert figures, selector
    for index, figure in enumerate(figures):
        assert figure["role"] == "img", figure
        assert figure["title"] and figure["desc"], figure
        href = figure["next"]
        assert href and href.startswith("#"), f"after figure {index}: {href}"
        link = page.locator(selector).nth(index).locator("xpath=following::a[@data-table-link][1]")
        assert link.get_attribute("href") == href
        link.focus()
        page.keyboard.press("Enter")
        table = page.locator(href)
        expect(table).to_be_visible()
        expect(table).to_be_focused()
        assert table.evaluate("el => el.tagName") == "TABLE"


@pytest.mark.parametrize("language", ["en", "id"])
def test_flow_diagrams_show_every_label_whole_and_apart(browser, live_server, language, screenshot):
    context, page = open_flows(browser, live_server.url, language)
    try:
        for code in CODES:
            expect(page.locator(f'[data-flow-diagram="graph-{code}"][data-drawn]')).to_have_count(1)
        problems = page.evaluate(GEOMETRY)
        assert problems == []
        screenshot(page, f"flows-{language}", full_page=True)

        # A narrow window: drawn again (top to bottom where left to right does not fit), and
        # what is still wider than the window scrolls in its container.
        rounds = int(page.locator("html").get_attribute("data-flows-drawn"))
        page.set_viewport_size({"width": 700, "height": 900})
        page.wait_for_function(
            "(rounds) => Number(document.documentElement.dataset.flowsDrawn) > rounds", arg=rounds
        )
        assert page.evaluate(GEOMETRY) == []
        screenshot(page, f"flows-{language}-narrow", full_page=True)
    finally:
        context.close()


def test_flow_diagrams_have_title_desc_and_a_table_one_keystroke_away(browser, live_server):
    context, page = open_flows(browser, live_server.url, "en")
    try:
        check_tables_are_one_keystroke_away(page, "svg.flow-svg")
        assert page.locator("svg.flow-svg").count() == len(CODES)
    finally:
        context.close()


def test_dashboard_charts_have_title_desc_and_a_table_one_keystroke_away(logged_in):
    demo_data.populate()
    page = logged_in("supervisor.pusat")
    page.goto("/supervisor/")
    expect(page.locator(".chart[data-drawn] svg").first).to_be_visible()
    charts = page.locator(".chart[data-drawn] svg.chart-svg")
    assert charts.count() == 5  # ageing, and per trend (7 and 30 days) its lines and its SLA %
    check_tables_are_one_keystroke_away(page, ".chart[data-drawn] svg.chart-svg")
    # No image role on the chart's container around the image: one name, on the <svg>.
    assert page.locator(".chart[role=img]").count() == 0

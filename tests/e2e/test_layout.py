"""Layout on small and large screens, at 200 % zoom, and with reduced motion.

- No page scrolls sideways at 390 px (a phone), 683 px (1366 px at 200 % zoom), 1366 and
  1920 px; the supervisor dashboard also at 768 px (a tablet). A wide table scrolls inside its
  own labelled region instead. The figures of the dashboard's tiles ("98,5 %") never break.
- The top bar is one line at 1366 px for every role, in both languages; at 683 px every control
  of the top bar is on screen.
- With `prefers-reduced-motion: reduce`, nothing animates: spinners, toasts, htmx's swap and
  settle classes have no animation and no transition.
- A countdown near its deadline is marked (⚠), not only coloured.

Pages are those of tests/e2e/console_pages.py, in Bahasa Indonesia (the console's language,
with the longer words). Screenshots go to the test's temporary folder (`screenshot`).
"""

from __future__ import annotations

import pytest

from tests.e2e import console_pages
from tests.e2e.console_pages import log_in, settle, signed_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (390, 683, 1366, 1920)
TABLET = 768
HEIGHT = 800

# How far the page scrolls sideways, and the widest element that sticks out (to say which).
OVERFLOW = """() => {
  const root = document.scrollingElement;
  const width = window.innerWidth;
  let widest = null;
  if (root.scrollWidth > width) {
    for (const el of document.body.querySelectorAll("*")) {
      if (el.parentElement.closest(".table-scroll, .diagram-scroll, pre")) continue;
      const box = el.getBoundingClientRect();
      if (box.right > width + 1 && (!widest || box.right > widest.right)) {
        widest = {tag: el.tagName.toLowerCase(), id: el.id,
                  cls: el.className && String(el.className), right: Math.round(box.right)};
      }
    }
  }
  return {scrollWidth: root.scrollWidth, innerWidth: width, widest};
}"""

# The top bar's visible controls: their boxes, and the bar's height.
TOPBAR = """() => {
  const bar = document.querySelector("header.topbar");
  const controls = [...bar.querySelectorAll("a, button, select, summary")].filter((el) => {
    const box = el.getBoundingClientRect();
    const shown = box.width > 0 && box.height > 0;
    return shown && !el.closest("[hidden], .skip-link, details:not([open]) > :not(summary)");
  });
  return {
    height: bar.getBoundingClientRect().height,
    boxes: controls.map((el) => {
      const box = el.getBoundingClientRect();
      return {text: el.textContent.trim().slice(0, 30), top: box.top, bottom: box.bottom,
              left: box.left, right: box.right};
    }),
  };
}"""


# The figures of the dashboard's tiles and totals whose text runs over more than one line.
BROKEN_FIGURES = """() => {
  const figures = [...document.querySelectorAll(".tile dd, .totals td[data-k]")];
  return figures.filter((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    const tops = new Set([...range.getClientRects()].map((box) => Math.round(box.top)));
    return tops.size > 1;
  }).map((el) => el.textContent.trim());
}"""


def sideways(page) -> dict | None:
    found = page.evaluate(OVERFLOW)
    return None if found["scrollWidth"] <= found["innerWidth"] else found


FULL_PAGE_SHOTS = {"queues", "workspace-diagnosing", "notifications", "desk", "dashboard"}


def test_no_page_scrolls_sideways_on_a_phone_at_200_percent_or_on_wide_screens(
    browser, live_server, screenshot
):
    floor = console_pages.build()
    problems = []
    for role, username in console_pages.USERS.items():
        with signed_in(browser, live_server.url, "id", username) as page:
            for name, address in console_pages.pages(role, floor):
                page.set_viewport_size({"width": WIDTHS[-1], "height": HEIGHT})
                page.goto(address)
                settle(page)
                widths = WIDTHS + ((TABLET,) if name == "dashboard" else ())
                for width in widths:
                    page.set_viewport_size({"width": width, "height": HEIGHT})
                    found = sideways(page)
                    if found:
                        problems.append(f"{role} {name}@{width}: {found}")
                    if name == "dashboard" and (broken := page.evaluate(BROKEN_FIGURES)):
                        problems.append(f"{role} {name}@{width}: figures broken {broken}")
                    if width != 683:  # 390, 1366 and 1920 (and the tablet): the pictures
                        full = name in FULL_PAGE_SHOTS
                        screenshot(page, f"{role}-{name}-{width}", full_page=full, for_docs=False)
    assert not problems, "pages that scroll sideways:\n" + "\n".join(problems)


def test_the_top_bar_is_one_line_at_1366_and_usable_at_200_percent(
    browser, live_server, screenshot
):
    console_pages.build()
    problems = []
    for language in ("id", "en"):
        for role, username in console_pages.USERS.items():
            with signed_in(browser, live_server.url, language, username) as page:
                page.goto("/")
                problems += top_bar_problems(page, f"{role} {language}")
                screenshot(page, f"topbar-{role}-{language}-683", for_docs=False)
    assert not problems, "top bar problems:\n" + "\n".join(problems)


def top_bar_problems(page, who: str) -> list[str]:
    problems = []
    page.set_viewport_size({"width": 1366, "height": HEIGHT})
    bar = page.evaluate(TOPBAR)
    tops = [box["top"] for box in bar["boxes"]]
    # One line: every control starts on the same row, and the bar is one row high.
    if max(tops) - min(tops) > 12 or bar["height"] > 60:
        problems.append(f"{who}@1366: {bar}")
    page.set_viewport_size({"width": 683, "height": HEIGHT})
    bar = page.evaluate(TOPBAR)
    off = [box for box in bar["boxes"] if box["right"] > 683 or box["left"] < 0]
    if off:
        problems.append(f"{who}@683: controls off screen {off}")
    return problems


# The motion a page can have: a spinner, a toast, htmx's indicator and its swap/settle classes.
MOTION = """() => {
  const made = [];
  for (const cls of ["spinner", "toast", "htmx-indicator htmx-request", "htmx-swapping",
                     "htmx-settling", "htmx-added"]) {
    const el = document.createElement("div");
    el.className = cls;
    document.querySelector("main").append(el);
    made.push(el);
  }
  return made.map((el) => {
    const style = getComputedStyle(el);
    const moving = (style.animationName !== "none" && parseFloat(style.animationDuration) > 0)
      || style.transitionDuration.split(",").some((d) => parseFloat(d) > 0);
    return {cls: el.className, moving, animation: style.animationName,
            animationDuration: style.animationDuration, transition: style.transitionDuration};
  });
}"""


def test_nothing_moves_when_the_user_asks_for_reduced_motion(browser, live_server):
    floor = console_pages.build()
    context = browser.new_context(
        viewport={"width": 1366, "height": HEIGHT},
        base_url=live_server.url,
        reduced_motion="reduce",
    )
    try:
        page = context.new_page()
        page.set_default_timeout(20_000)
        log_in(page, "agent.pusat")
        page.goto(f"/tickets/{floor.tickets['diagnosing']}/")
        settle(page)
        found = page.evaluate(MOTION)
        assert [item["cls"] for item in found if item["moving"]] == [], found
    finally:
        context.close()

    # Without the preference, the spinner turns and the toast slides in: the check above can
    # see motion when there is some.
    context = browser.new_context(
        viewport={"width": 1366, "height": HEIGHT},
        base_url=live_server.url,
        reduced_motion="no-preference",
    )
    try:
        page = context.new_page()
        log_in(page, "agent.pusat")
        found = {item["cls"]: item["moving"] for item in page.evaluate(MOTION)}
        assert found["spinner"] and found["toast"]
    finally:
        context.close()


def test_a_countdown_near_its_deadline_is_marked_not_only_coloured(browser, live_server):
    """Under 15 minutes left (console.js gives it the class `soon`) a countdown carries ⚠."""
    context = browser.new_context(base_url=live_server.url)
    try:
        page = context.new_page()
        page.goto("/login/")
        mark = page.evaluate("""() => {
          const marks = {};
          for (const cls of ["countdown", "countdown soon"]) {
            const el = document.createElement("span");
            el.className = cls;
            el.textContent = "0:09:00";
            document.querySelector("main").append(el);
            marks[cls] = getComputedStyle(el, "::before").content;
          }
          return marks;
        }""")
        assert "⚠" in mark["countdown soon"]
        assert "⚠" not in mark["countdown"]
    finally:
        context.close()

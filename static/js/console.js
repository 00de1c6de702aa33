/* Tier-2 console behaviour, no framework: live SLA countdowns and small helpers (the keyboard
 * shortcuts are in keys.js).
 *
 *   [data-deadline="ISO 8601"]  counts down every second (negative and red once overdue)
 *   [data-autosubmit]           a select that submits its form when changed (language switch)
 *   [data-select-all=name]      a checkbox that ticks every checkbox of that name in its form
 *   [data-bar="N"]              sets the element's CSS variable --v to N (a bar's height)
 *   [data-poll-when-idle]       its htmx polling skips while the tab is hidden or a control
 *                               inside it has the focus
 *   a[data-table-link]          "Show as a table" under a chart or a flow diagram: opens the
 *                               <details> around the table its href names and focuses it
 *
 * The Content-Security-Policy allows no inline script, event handler, style attribute or eval:
 * behaviour lives here, keyed on data attributes (docs/operations.md).
 */
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function formatLeft(ms) {
    var sign = ms < 0 ? "-" : "";
    var total = Math.floor(Math.abs(ms) / 1000);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var seconds = total % 60;
    if (hours >= 48) { return sign + Math.floor(hours / 24) + "d " + (hours % 24) + "h"; }
    return sign + hours + ":" + pad(minutes) + ":" + pad(seconds);
  }

  function tick() {
    var now = Date.now();
    var overdueLabel = document.body.getAttribute("data-overdue-label") || "overdue";
    document.querySelectorAll("[data-deadline]").forEach(function (el) {
      var at = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(at)) { return; }
      var left = at - now;
      var text = formatLeft(left);
      if (el.textContent !== text) { el.textContent = text; }
      var late = left < 0;
      el.classList.toggle("overdue", late);
      el.classList.toggle("soon", !late && left < 15 * 60 * 1000);
      el.setAttribute("aria-label", late ? overdueLabel + " " + text.slice(1) : text);
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-autosubmit]")) { target.form.submit(); }
    if (target.matches("[data-select-all]")) {
      var name = target.getAttribute("data-select-all");
      target.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) {
        box.checked = target.checked;
      });
    }
  });

  // An action's small form opens: put the cursor in its first field, unless the focus is in the
  // form already (keys.js put it there, or the user moved on before this event's turn came).
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (details.matches && details.matches("details.with-form") && details.open) {
      if (details.contains(document.activeElement) && document.activeElement.closest("form")) { return; }
      var first = details.querySelector("form input:not([type=hidden]), form select, form textarea");
      if (first) { first.focus(); }
    }
  }, true);

  // One click, one action: a form being sent cannot be sent again by a second click.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.method && form.method.toLowerCase() === "post" && !form.hasAttribute("hx-post")) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); });
    }
  });
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (f) { delete f.dataset.sent; });
  });

  // Style attributes are refused by the policy; CSS variables set from script are not.
  function bars() {
    document.querySelectorAll("[data-bar]").forEach(function (el) {
      el.style.setProperty("--v", el.getAttribute("data-bar"));
    });
  }

  // An hx-trigger filter ("every 30s [cond]") would need eval: cancel the poll here instead.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (!elt || !elt.matches || !elt.matches("[data-poll-when-idle]")) { return; }
    if (document.visibilityState !== "visible" || elt.querySelector(":focus")) {
      event.preventDefault();
    }
  });

  function openTable(event) {
    var link = event.target.closest && event.target.closest("[data-table-link]");
    if (!link) { return; }
    var target = document.getElementById(link.getAttribute("href").slice(1));
    if (!target) { return; }
    event.preventDefault();
    var details = target.closest("details");
    if (details) { details.open = true; }
    target.focus();
    if (history.replaceState) { history.replaceState(null, "", "#" + target.id); }
  }

  document.addEventListener("click", openTable);
  document.addEventListener("DOMContentLoaded", function () { tick(); bars(); });
  document.addEventListener("htmx:afterSwap", function () { tick(); bars(); });
  setInterval(tick, 1000);
})();

/* The agent's loop from the keyboard (issue 17): shortcuts, the "?" list, where the focus goes
 * after a page change, and what screen readers are told.
 *
 * Keys (templates/tickets/_shortcuts.html lists them in the user's language):
 *   ?          the list of shortcuts: a modal dialog; Tab stays inside, Esc closes it and the
 *              focus goes back where it was
 *   n          Next ticket (form[data-next-ticket])
 *   /          the page's search box ([data-search])
 *   g q        back to the queue: the last queue page this tab showed, else the default queue
 *   g h        home
 *   j k        next / previous queue row ([data-ticket-row] a.ticket-link)
 *   o Enter    open the focused row's ticket
 *   t          Take this ticket (#take-button)
 *   1 … 9      the current step's actions in the order shown ([data-key] on each button, which
 *              shows its digit): one without inputs is sent, one with inputs opens its form
 *              with the cursor in the first field, a blocked one says why
 *   c          Record a call (the call form's first field)
 *   m          Add a note (the note field)
 *   e          Escalate to Support ([data-action="escalate"])
 *   x          close the ticket (the first [data-closes] action that is open)
 *   r          refresh the customer panel (#panel-refresh)
 *   Esc        in a field: leaves it (in an action's form: closes the form, focus on its
 *              button); on an open action form: closes it
 * None fires while the focus is in an input, textarea, select or editable text, nor with Ctrl,
 * Alt or Meta held.
 *
 * Focus after a page change. The forms of the loop are ordinary POSTs answered by a redirect,
 * so the page that comes back is a new one: before a form is sent, what it was is kept in
 * sessionStorage, and the next page puts the focus where the work goes on:
 *   a field with an error                     -> that field (whatever was sent)
 *   after Next ticket, or opening a ticket    -> the workspace heading
 *   after an action, a call, a note, Take     -> the new step's first open action; with none
 *                                                (or an error message) -> the messages
 * The same placement follows an htmx swap of a form sent with hx-post (htmx:afterSettle).
 * Pages loaded any other way keep the browser's focus.
 *
 * Announcements: the messages a page arrives with (Django's messages) are read out through
 * #announce-polite (role=status) and, for errors, #announce-assertive (role=alert), both in
 * base.html and empty when the page loads, so screen readers notice the change. So are the
 * reasons a shortcut does nothing.
 *
 * No eval, no inline script: the Content-Security-Policy forbids them (docs/operations.md).
 */
(function () {
  "use strict";

  var INTENT_KEY = "tier2.keys.intent";
  var QUEUE_KEY = "tier2.keys.queue";
  var INTENT_MAX_AGE_MS = 120000;  // a page that never came back must not steer a later one
  var SEQUENCE_MS = 1500;          // g, then the second key within this long
  var ANNOUNCE_DELAY_MS = 250;     // regions that just appeared are not watched yet

  var pendingG = null;             // timer while "g" waits for its second key
  var swapIntent = null;           // what an htmx-sent form was, until its swap settles
  var opener = null;               // what had the focus before the dialog opened
  var restoring = false;           // the dialog was opened and the focus is not back yet

  // --- Small helpers ---------------------------------------------------------------------------
  function typing(el) {
    return !!el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }

  function visible(el) {
    return !!el && !el.closest("[hidden]") && el.getClientRects().length > 0;
  }

  function focusOn(el) {
    if (!el) { return false; }
    if (!el.matches("a[href], button, input, select, textarea, summary, [tabindex]")) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus();
    if (el.scrollIntoView) { el.scrollIntoView({ block: "nearest" }); }
    return document.activeElement === el;
  }

  function store(key, value) {
    try {
      if (value === null) { sessionStorage.removeItem(key); } else { sessionStorage.setItem(key, value); }
    } catch (error) { /* storage refused (private mode): focus is then left to the browser */ }
  }

  function stored(key) {
    try { return sessionStorage.getItem(key); } catch (error) { return null; }
  }

  function dialog() { return document.getElementById("shortcuts"); }

  function say(name) {
    var d = dialog();
    return (d && d.dataset[name]) || "";
  }

  // --- Announcements -----------------------------------------------------------------------------
  function region(assertive) {
    return document.getElementById(assertive ? "announce-assertive" : "announce-polite");
  }

  function announce(text, assertive) {
    var box = region(assertive);
    text = (text || "").replace(/\s+/g, " ").trim();
    if (!box || !text) { return; }
    // Each announcement takes a turn: a later one is never overwritten by an earlier one.
    var turn = String(Number(box.getAttribute("data-turn") || 0) + 1);
    box.setAttribute("data-turn", turn);
    box.textContent = "";  // the same words twice are still a change
    setTimeout(function () { if (box.getAttribute("data-turn") === turn) { box.textContent = text; } }, 50);
  }

  function messageItems() {
    return Array.prototype.slice.call(document.querySelectorAll("#messages li"));
  }

  function isError(item) {
    // Warnings and errors (`msg-urgent`): read by the assertive region. The list itself carries
    // no live role, so a screen reader hears each message once, from the regions.
    return item.classList.contains("msg-urgent");
  }

  // onlyIfQuiet: the page's own messages, read late, must not drown what a key said since.
  function announceMessages(onlyIfQuiet) {
    var items = messageItems();
    [false, true].forEach(function (assertive) {
      var said = items.filter(function (item) { return isError(item) === assertive; });
      if (!said.length || (onlyIfQuiet && region(assertive) && region(assertive).hasAttribute("data-turn"))) { return; }
      announce(said.map(function (item) { return item.textContent; }).join(" "), assertive);
    });
  }

  // --- Where the focus goes after a page change ---------------------------------------------------
  function formKind(form) {
    if (form.matches("[data-next-ticket]")) { return "next"; }
    if (form.querySelector("#take-button")) { return "take"; }
    if (form.id === "contact-form") { return "contact"; }
    if (form.id === "note-form") { return "note"; }
    if (form.closest(".actions")) { return "action"; }
    return "";
  }

  function firstOpenAction() {
    var all = document.querySelectorAll(".actions [data-key]");
    return Array.prototype.find.call(all, function (el) { return !el.disabled && visible(el); }) || null;
  }

  function firstInvalidField() {
    var field = document.querySelector(
      ".has-error input:not([type=hidden]), .has-error select, .has-error textarea, [aria-invalid=true]"
    );
    return field && visible(field) ? field : null;
  }

  function messagesShown() {
    var box = document.getElementById("messages");
    return box && box.querySelector("li") ? box : null;
  }

  function placeFocus(kind) {
    var invalid = firstInvalidField();
    if (invalid) { return focusOn(invalid); }
    var heading = document.getElementById("ticket-title");
    var messages = messagesShown();
    var hasError = messageItems().some(isError);
    if (kind === "open" || (kind === "next" && heading && !hasError)) { return focusOn(heading); }
    if (hasError && messages) { return focusOn(messages); }
    if (kind === "action" || kind === "take" || kind === "contact" || kind === "note") {
      return focusOn(firstOpenAction()) || focusOn(messages) || focusOn(heading);
    }
    if (messages) { return focusOn(messages); }
    return false;
  }

  function intentOnLoad() {
    var raw = stored(INTENT_KEY);
    store(INTENT_KEY, null);
    if (!raw) { return ""; }
    try {
      var intent = JSON.parse(raw);
      return Date.now() - intent.at < INTENT_MAX_AGE_MS ? intent.kind : "";
    } catch (error) { return ""; }
  }

  function remember(kind) {
    store(INTENT_KEY, JSON.stringify({ kind: kind, at: Date.now() }));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var kind = formKind(form);
    if (!kind) { return; }
    remember(kind);  // kept for the next page, should the answer be one (a redirect)
    if (form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) { swapIntent = kind; }
  }, true);

  document.addEventListener("click", function (event) {
    if (event.button || event.ctrlKey || event.metaKey || event.shiftKey) { return; }  // another tab
    var link = event.target.closest && event.target.closest("a.ticket-link");
    if (link) { remember("open"); }
  }, true);

  document.addEventListener("htmx:afterSettle", function () {
    if (!swapIntent) { return; }
    var kind = swapIntent;
    swapIntent = null;
    store(INTENT_KEY, null);  // answered in place: no page follows
    placeFocus(kind);
    announceMessages();
  });

  // --- Queue rows ------------------------------------------------------------------------------------
  function rowLinks() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-ticket-row] a.ticket-link"), visible);
  }

  function moveRow(step) {
    var links = rowLinks();
    if (!links.length) { return false; }
    var row = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-ticket-row]");
    var at = row ? links.indexOf(row.querySelector("a.ticket-link")) : -1;
    var next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(Math.max(at + step, 0), links.length - 1);
    return focusOn(links[next]);
  }

  function openRow() {
    var row = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-ticket-row]");
    var link = row && row.querySelector("a.ticket-link");
    if (!link) { return false; }
    remember("open");
    window.location.assign(link.href);
    return true;
  }

  // --- The workspace's controls -------------------------------------------------------------------
  function firstField(container) {
    if (!container) { return null; }
    var radio = container.querySelector("input[type=radio]:checked");
    var fields = container.querySelectorAll("input:not([type=hidden]), select, textarea");
    var first = Array.prototype.find.call(fields, visible) || null;
    return radio && first && first.type === "radio" && first.name === radio.name ? radio : first;
  }

  function labelOf(button) {  // its words, without the <kbd> showing its key
    return Array.prototype.filter.call(button.childNodes, function (node) {
      return !(node.tagName === "KBD");
    }).map(function (node) { return node.textContent; }).join("").trim();
  }

  function blockedReason(button) {
    var id = button.getAttribute("aria-describedby");
    var reason = id && document.getElementById(id);
    return reason ? reason.textContent : "";
  }

  // Press an action the way its button would be pressed.
  function press(el) {
    if (!el) { return false; }
    if (el.disabled) {
      focusOn(el.closest(".action") && el.closest(".action").querySelector(".blocked-reason"));
      announce(labelOf(el) + ": " + blockedReason(el));
      return true;
    }
    if (el.tagName === "SUMMARY") {
      var details = el.parentElement;
      details.open = true;  // console.js leaves the focus alone: it is in the form already
      focusOn(firstField(details.querySelector("form")) || el);
      return true;
    }
    el.click();
    return true;
  }

  function pressFirst(selector) {
    var all = Array.prototype.filter.call(document.querySelectorAll(selector), visible);
    if (!all.length) { return false; }
    var open = all.filter(function (el) { return !el.disabled; });
    return press(open[0] || all[0]);
  }

  function focusFirstField(selector) {
    return focusOn(firstField(document.querySelector(selector)));
  }

  function clickIfThere(id) {
    var el = document.getElementById(id);
    if (!el || !visible(el)) { return false; }
    el.focus();  // the focus goes where the key acted, as a click's would
    el.click();
    return true;
  }

  function nextTicket() {
    var form = document.querySelector("form[data-next-ticket]");
    if (!form) { return false; }
    if (form.requestSubmit) { form.requestSubmit(); } else { remember("next"); form.submit(); }
    return true;
  }

  function search() {
    var box = Array.prototype.find.call(document.querySelectorAll("[data-search]"), visible);
    if (!box) { return false; }
    focusOn(box);
    if (box.select) { box.select(); }
    return true;
  }

  function go(where) {
    var url = where === "q" ? stored(QUEUE_KEY) || say("queueUrl") : where === "h" ? say("homeUrl") : "";
    if (!url) { return false; }
    window.location.assign(url);
    return true;
  }

  // --- The "?" dialog ---------------------------------------------------------------------------------
  function tabbables(root) {
    return Array.prototype.filter.call(
      root.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex='-1'])"),
      visible
    );
  }

  function openDialog() {
    var d = dialog();
    if (!d || d.open) { return false; }
    opener = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
    restoring = true;
    if (d.showModal) { d.showModal(); } else { d.setAttribute("open", ""); }
    focusOn(document.getElementById("shortcuts-title"));
    return true;
  }

  function closeDialog() {
    var d = dialog();
    if (d && d.open) {
      if (d.close) { d.close(); } else { d.removeAttribute("open"); }
      restoreFocus();
    }
  }

  function restoreFocus() {
    if (!restoring) { return; }  // given back already (a "close" event after closeDialog)
    restoring = false;
    var back = opener;
    opener = null;
    if (back && back.isConnected) { back.focus(); } else { focusOn(document.getElementById("main")); }
  }

  function trapTab(event) {
    var d = dialog();
    var items = tabbables(d);
    if (!items.length) { event.preventDefault(); return; }
    var first = items[0];
    var last = items[items.length - 1];
    var here = document.activeElement;
    if (event.shiftKey && (here === first || !d.contains(here) || items.indexOf(here) < 0)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (here === last || !d.contains(here) || items.indexOf(here) < 0)) {
      event.preventDefault();
      first.focus();
    }
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-shortcuts-close]")) { closeDialog(); }
  });

  // The dialog closes by Esc (its "cancel"), its button or "?": the focus goes back each time.
  // Closed by its button or "?", the focus goes back at once. The "close" event comes later, at
  // a time the browser chooses (seen after the dialog was opened and closed again): it gives the
  // focus back only for a closing nobody handled yet, the browser's own (Esc).
  document.addEventListener("close", function (event) {
    if (event.target === dialog() && !event.target.open) { restoreFocus(); }
  }, true);

  // --- The keys -------------------------------------------------------------------------------------
  var KEYS = {
    "?": openDialog,
    "n": nextTicket,
    "/": search,
    "j": function () { return moveRow(1); },
    "k": function () { return moveRow(-1); },
    "o": openRow,
    "t": function () { return clickIfThere("take-button"); },
    "c": function () { return focusFirstField("#contact-form"); },
    "m": function () { return focusFirstField("#note-form"); },
    "e": function () { return pressFirst('.actions [data-action="escalate"]'); },
    "x": function () { return pressFirst(".actions [data-closes]"); },
    "r": function () { return clickIfThere("panel-refresh"); },
  };

  function escape(target) {
    var details = target.closest && target.closest("details.with-form[open]");
    if (details && (typing(target) || details.contains(target))) {
      details.open = false;
      focusOn(details.querySelector("summary"));
      return true;
    }
    if (typing(target)) { target.blur(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var d = dialog();
    if (d && d.open) {
      if (event.key === "Tab") { trapTab(event); }
      else if (event.key === "?") { event.preventDefault(); closeDialog(); }
      return;  // Esc: the dialog's own cancel
    }
    if (event.key === "Escape") {
      if (escape(target)) { event.preventDefault(); }
      return;
    }
    if (typing(target)) { return; }
    // One printable character; Shift only where it makes the character ("?"), not Shift+N.
    var key = event.key.length === 1 ? event.key : "";
    if (!key || (event.shiftKey && /^[a-z]$/i.test(key))) { return; }
    key = key.toLowerCase();

    if (pendingG) {
      clearTimeout(pendingG);
      pendingG = null;
      if (key === "q" || key === "h") {
        event.preventDefault();
        if (!go(key)) { announce(say("unavailable")); }
        return;
      }  // any other key: a shortcut of its own
    }
    if (key === "g") {
      event.preventDefault();
      pendingG = setTimeout(function () { pendingG = null; }, SEQUENCE_MS);
      return;
    }
    var action = KEYS[key];
    var done;
    if (action) {
      done = action();
    } else if (/^[1-9]$/.test(key)) {
      var button = document.querySelector('.actions [data-key="' + key + '"]');
      done = press(button && visible(button) ? button : null);
    } else {
      return;  // not ours: the browser's
    }
    event.preventDefault();
    if (!done) { announce(say("unavailable")); }
  });

  // --- Start ---------------------------------------------------------------------------------------
  function start() {
    if (document.querySelector("[data-ticket-row]") || document.getElementById("queue-results")) {
      store(QUEUE_KEY, location.pathname + location.search);
    }
    var kind = intentOnLoad();
    if (kind || firstInvalidField()) { placeFocus(kind); }
    setTimeout(function () { announceMessages(true); }, ANNOUNCE_DELAY_MS);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

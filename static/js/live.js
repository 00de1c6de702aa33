/* The live console: pushed updates, presence and soft locks, toasts (issue 12).
 *
 * One WebSocket per tab, opened by htmx's ws extension (`hx-ext="ws" ws-connect="/ws/live/"` on
 * <body>, base.html). The server sends ids and codes only; this script decides which regions of
 * the page a message concerns and fetches them again through the normal views, so each user
 * sees only what their role may. Who may watch what is decided by the server, not here.
 *
 * What the templates declare:
 *   [data-live-topics="queue ticket:12"]  the topics this page watches (sent as `watch`)
 *   [data-live-part="queue"|"ticket:12"|"incident:5"|"incidents"|"dashboard"][id]
 *       a region fetched again when a message concerns it, from [data-live-url] (default: this
 *       page); the element with the same id in the answer replaces it, and what the user typed
 *       in its fields is kept. [data-live-skip="note sla_mark"]: change kinds it ignores.
 *       [data-live-throttle="5"]: at most one fetch of its address per 5 s.
 *       Queue regions say what they show: [data-live-flows="nossa lapul"] (blank: every flow),
 *       [data-live-site="PST"] (blank: every site), [data-live-mine] (the agent's own tickets).
 *   [data-live-poll="20"]  htmx polling (`every 20s`) that pauses while the socket is open
 *   [data-presence-ticket="12"]  the workspace's line saying who else is on the ticket
 *   [data-ticket-row="12"] [data-presence-slot]  a queue row and its presence marker
 *   [data-live-guard="12"]  its POST forms warn before sending while someone else types or acts
 *   #live-status  the "paused" note, carrying the strings of this script in the user's language
 *   #toasts, #notif-count, #notif-link  toasts, the unread badge, the notifications page
 *
 * The Content-Security-Policy allows no eval, so htmx trigger filters are not used: the polls
 * are cancelled in `htmx:beforeRequest` instead, as console.js does for [data-poll-when-idle].
 *
 * window.tier2Live: {open: the socket is open, watching: the topics the server joined (null
 * until it says so)}; <body> has the class `live-open` while the socket is open.
 */
(function () {
  "use strict";

  var COALESCE_MS = 250;        // a burst of messages: one fetch per region
  var HEARTBEAT_MS = 20000;     // presence is kept by the server for 45 s
  var TYPING_IDLE_MS = 60000;   // typing -> viewing after a minute without input
  var GONE_IDLE_MS = 300000;    // no input for 5 minutes: the tab no longer counts as present
  var PAUSED_AFTER_MS = 4000;   // not connected this long after load: say so
  var TOAST_MS = 12000;
  var TOASTS_MAX = 4;

  var live = window.tier2Live = { open: false, watching: null };
  var socket = null;            // the ws extension's socket wrapper
  var watched = null;           // the topics last sent
  var closedOnce = false;
  var loadedAt = Date.now();
  var presence = {};            // ticket id -> the other people on it
  var due = [];                 // ids of parts to fetch at the end of the burst
  var hiddenDue = [];           // ... and those waiting for the tab to be shown again
  var burst = null;
  var fetching = {};            // url -> ids asked for while its fetch runs
  var lastFetch = {};           // url -> time of its last fetch
  var mine = { ticket: null, activity: "viewing", lastInput: Date.now(), gone: false };

  function words(text) { return (text || "").trim().split(/\s+/).filter(Boolean); }

  function strings() {
    var note = document.getElementById("live-status");
    return note ? note.dataset : {};
  }

  function say(key, values) {
    var text = strings()[key] || "";
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(values[name]); });
    return text;
  }

  function send(message) {
    if (socket && live.open) { socket.send(JSON.stringify(message)); }
  }

  // --- Topics ----------------------------------------------------------------------------------
  function topics() {
    var all = [];
    document.querySelectorAll("[data-live-topics]").forEach(function (el) {
      words(el.getAttribute("data-live-topics")).forEach(function (t) { if (all.indexOf(t) < 0) { all.push(t); } });
    });
    return all.sort();
  }

  function watch(force) {
    var wanted = topics();
    if (!force && watched !== null && wanted.join(" ") === watched) { return; }
    watched = wanted.join(" ");
    live.watching = null;
    send({ type: "watch", topics: wanted });
  }

  // --- Which regions a message concerns ----------------------------------------------------------
  function parts(test) {
    return Array.prototype.filter.call(document.querySelectorAll("[data-live-part][id]"), function (el) {
      return test(el.getAttribute("data-live-part"), el);
    });
  }

  function skips(el, kind) { return kind && words(el.getAttribute("data-live-skip")).indexOf(kind) >= 0; }

  function queueConcerned(el, msg) {
    if (msg.id && el.querySelector('[data-ticket-row="' + msg.id + '"]')) { return true; }
    if (el.hasAttribute("data-live-mine")) {
      return msg.type === "queue" || msg.kind === "assignee" || msg.kind === "transition";
    }
    var flows = words(el.getAttribute("data-live-flows"));
    var site = el.getAttribute("data-live-site") || "";
    return (!flows.length || flows.indexOf(msg.flow) >= 0) && (!site || site === msg.site);
  }

  function ticketChanged(msg) {
    schedule(parts(function (part, el) {
      if (part === "queue") { return queueConcerned(el, msg); }
      return msg.type === "ticket" && part === "ticket:" + msg.id && !skips(el, msg.kind);
    }));
  }

  // --- Fetching regions again ----------------------------------------------------------------------
  function schedule(elements) {
    elements.forEach(function (el) { if (due.indexOf(el.id) < 0) { due.push(el.id); } });
    if (due.length && !burst) { burst = setTimeout(flush, COALESCE_MS); }
  }

  function flush() {
    burst = null;
    var ids = due;
    due = [];
    if (document.visibilityState === "hidden") {  // fetched when the tab is shown again
      ids.forEach(function (id) { if (hiddenDue.indexOf(id) < 0) { hiddenDue.push(id); } });
      return;
    }
    var byUrl = {};
    ids.forEach(function (id) {
      var el = document.getElementById(id);
      if (!el) { return; }
      var url = el.getAttribute("data-live-url") || location.pathname + location.search;
      (byUrl[url] = byUrl[url] || []).push(id);
    });
    Object.keys(byUrl).forEach(function (url) { fetchParts(url, byUrl[url]); });
  }

  function throttleOf(ids) {
    return ids.reduce(function (most, id) {
      var el = document.getElementById(id);
      var seconds = el ? Number(el.getAttribute("data-live-throttle") || 0) : 0;
      return Math.max(most, seconds * 1000);
    }, 0);
  }

  function fetchParts(url, ids) {
    if (fetching[url]) {  // one fetch per address at a time; the rest follow it
      ids.forEach(function (id) { if (fetching[url].indexOf(id) < 0) { fetching[url].push(id); } });
      return;
    }
    var wait = (lastFetch[url] || 0) + throttleOf(ids) - Date.now();
    fetching[url] = [];
    var headers = { "HX-Request": "true", "HX-Current-URL": location.href };
    if (ids.length === 1) { headers["HX-Target"] = ids[0]; }
    new Promise(function (resolve) { setTimeout(resolve, Math.max(wait, 0)); })
      .then(function () {
        lastFetch[url] = Date.now();
        return fetch(url, { headers: headers, credentials: "same-origin" });
      })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text().then(function (html) { swapParts(html, ids); });
      })
      .catch(function () { /* the next message or the polling catches up */ })
      .then(function () {
        var again = fetching[url];
        delete fetching[url];
        if (again.length) { fetchParts(url, again); }
      });
  }

  function swapParts(html, ids) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var swapped = 0;
    ids.forEach(function (id) {
      var old = document.getElementById(id);
      var fresh = doc.getElementById(id);
      if (!old || !fresh) { return; }
      swapped += 1;
      var before = stateShown(old);
      var focused = old.contains(document.activeElement) ? document.activeElement.id : "";
      keepTyped(old, fresh);
      htmx.swap(old, fresh.outerHTML, { swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0 });
      if (focused) { setTimeout(function () { refocus(focused); }, 0); }
      var after = document.getElementById(id);
      if (before && after && stateShown(after) && stateShown(after) !== before) {
        announce(say("changed", { state: stateShown(after) }));
      }
    });
    // Sent elsewhere (a ticket this user may no longer open): the page that answered says why.
    var told = doc.getElementById("messages");
    var here = document.getElementById("messages");
    if (!swapped && told && here && told.querySelector("li")) {
      htmx.swap(here, told.outerHTML, { swapStyle: "outerHTML", swapDelay: 0, settleDelay: 0 });
    }
    showPresence();
  }

  // htmx gave the focus back to the field with the same id; an action form reopened by the
  // swap may have taken it since (console.js focuses the first field of a form that opens).
  function refocus(id) {
    var el = document.getElementById(id);
    if (el && document.activeElement !== el) { el.focus({ preventScroll: true }); }
  }

  function stateShown(el) {
    var state = el.querySelector("[data-state]");
    return state ? state.textContent.trim() : "";
  }

  // What the user typed or ticked (and which action form they had open) goes into the new
  // region: the page's current values win over the ones rendered, which are the defaults.
  function keepTyped(old, fresh) {
    old.querySelectorAll("input[id], textarea[id], select[id], details[id]").forEach(function (el) {
      var twin = fresh.querySelector("#" + CSS.escape(el.id));
      if (!twin || twin.tagName !== el.tagName || twin.disabled) { return; }
      if (el.tagName === "DETAILS") {
        twin.toggleAttribute("open", el.open);
      } else if (el.type === "hidden" || el.type === "submit" || el.type === "button") {
        return;  // the expected state, the CSRF token: the new ones are right
      } else if (el.type === "checkbox" || el.type === "radio") {
        twin.toggleAttribute("checked", el.checked);
      } else if (el.tagName === "SELECT") {
        var value = el.value;
        if (twin.querySelector('option[value="' + CSS.escape(value) + '"]')) {
          twin.querySelectorAll("option").forEach(function (o) { o.toggleAttribute("selected", o.value === value); });
        }
      } else if (el.tagName === "TEXTAREA") {
        twin.textContent = el.value;
      } else {
        twin.setAttribute("value", el.value);
      }
    });
  }

  function announce(text) {
    var region = document.getElementById("live-announce");
    if (region && text) { region.textContent = text; }
  }

  // --- Connection ----------------------------------------------------------------------------
  function showStatus() {
    document.body.classList.toggle("live-open", live.open);
    var note = document.getElementById("live-status");
    if (!note) { return; }
    var waitedEnough = closedOnce || Date.now() - loadedAt >= PAUSED_AFTER_MS;
    var paused = !live.open && waitedEnough && document.body.hasAttribute("ws-connect") &&
      document.querySelector("[data-live-topics]");
    if (!paused) { note.hidden = true; return; }
    var poll = document.querySelector("[data-live-poll]");
    note.textContent = poll ? say("pausedPolling", { seconds: poll.getAttribute("data-live-poll") }) : say("paused");
    note.hidden = false;
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    live.open = true;
    watch(true);
    if (mine.ticket) { mine.gone = false; sendPresence(); }
    if (closedOnce) {  // what was missed while closed
      schedule(parts(function () { return true; }));
    }
    showStatus();
  });

  document.addEventListener("htmx:wsClose", function () {
    live.open = false;
    live.watching = null;
    closedOnce = true;
    showStatus();
  });

  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    event.preventDefault();  // JSON, not HTML for the extension to swap
    var msg;
    try { msg = JSON.parse(event.detail.message); } catch (error) { return; }
    if (!msg || typeof msg !== "object") { return; }
    if (msg.type === "ticket" || msg.type === "queue") {
      ticketChanged(msg);
    } else if (msg.type === "incident") {
      schedule(parts(function (part) { return part === "incident:" + msg.id || part === "incidents"; }));
    } else if (msg.type === "dashboard") {
      schedule(parts(function (part) { return part === "dashboard"; }));
    } else if (msg.type === "notification") {
      notified(msg);
    } else if (msg.type === "presence") {
      remember(msg.ticket, msg.people);
      showPresence();
    } else if (msg.type === "watching") {  // the server joined these topics' groups
      live.watching = msg.topics || [];
    }
  });

  // Polls stop while the socket is open; a poll's request has no triggering event.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail || {};
    var elt = detail.elt;
    if (!live.open || !elt || !elt.matches || !elt.matches("[data-live-poll]")) { return; }
    if (!(detail.requestConfig && detail.requestConfig.triggeringEvent)) { event.preventDefault(); }
  });

  document.addEventListener("htmx:afterSettle", function () { watch(false); showPresence(); });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && hiddenDue.length) {
      var ids = hiddenDue;
      hiddenDue = [];
      schedule(ids.map(function (id) { return document.getElementById(id); }).filter(Boolean));
    }
  });

  // --- Presence ------------------------------------------------------------------------------
  function me() { return document.body.getAttribute("data-user-id") || ""; }

  function phrase(person) {
    var key = { typing: "typing", acting: "acting" }[person.activity] || "viewing";
    return say(key, { name: person.name });
  }

  function busy(people) {
    return (people || []).filter(function (p) { return p.activity === "typing" || p.activity === "acting"; });
  }

  function remember(ticket, people) {
    var others = (people || []).filter(function (p) { return String(p.user) !== me(); });
    if (others.length) { presence[ticket] = others; } else { delete presence[ticket]; }
  }

  // A page (or a region) just rendered says who was on its tickets then ([data-people] JSON;
  // none: nobody).
  function readRendered() {
    document.querySelectorAll("[data-presence-ticket]:not([data-read]), [data-presence-slot]:not([data-read])").forEach(function (el) {
      var row = el.closest("[data-ticket-row]");
      var ticket = el.getAttribute("data-presence-ticket") || (row && row.getAttribute("data-ticket-row"));
      var people = [];
      try { people = JSON.parse(el.getAttribute("data-people") || "[]"); } catch (error) { /* nobody */ }
      if (ticket) { remember(ticket, people); }
      el.setAttribute("data-read", "");
      el.removeAttribute("data-people");
    });
  }

  function showPresence() {
    readRendered();
    document.querySelectorAll("[data-presence-ticket]").forEach(function (box) {
      var people = presence[box.getAttribute("data-presence-ticket")] || [];
      box.textContent = "";
      people.forEach(function (person) {
        var item = document.createElement("li");
        item.className = "presence-" + (person.activity || "viewing");
        item.textContent = phrase(person);
        box.appendChild(item);
      });
      box.hidden = !people.length;
    });
    document.querySelectorAll("[data-ticket-row]").forEach(function (row) {
      var slot = row.querySelector("[data-presence-slot]");
      if (!slot) { return; }
      var people = presence[row.getAttribute("data-ticket-row")] || [];
      var text = people.map(phrase).join("; ");
      if (slot.getAttribute("data-shown") === text) { return; }
      slot.setAttribute("data-shown", text);
      slot.textContent = "";
      if (!people.length) { return; }
      var mark = document.createElement("span");
      mark.className = "presence-marker" + (busy(people).length ? " busy" : "");
      mark.title = text;
      var seen = document.createElement("span");
      seen.setAttribute("aria-hidden", "true");
      seen.textContent = people[0].name + (people.length > 1 ? " +" + (people.length - 1) : "");
      var told = document.createElement("span");
      told.className = "visually-hidden";
      told.textContent = text;
      mark.appendChild(seen);
      mark.appendChild(told);
      slot.appendChild(mark);
    });
  }

  function sendPresence() {
    if (mine.ticket) { send({ type: "presence", ticket: Number(mine.ticket), activity: mine.activity }); }
  }

  function setActivity(activity) {
    if (!mine.ticket || (activity === mine.activity && !mine.gone)) { return; }
    mine.activity = activity;
    mine.gone = false;
    sendPresence();
  }

  function guardedForm(el) {
    var form = el && el.closest && el.closest("form");
    return form && form.method.toLowerCase() === "post" && form.closest("[data-live-guard]") ? form : null;
  }

  function typingIn(el) {
    return guardedForm(el) && el.matches("textarea, select, input:not([type=hidden]):not([type=submit]):not([type=button])");
  }

  function touched() {
    mine.lastInput = Date.now();
    if (mine.gone) { sendPresence(); mine.gone = false; }
  }

  ["keydown", "pointerdown", "input"].forEach(function (name) {
    document.addEventListener(name, touched, { passive: true, capture: true });
  });
  document.addEventListener("focusin", function (event) {
    touched();
    setActivity(typingIn(event.target) ? "typing" : mine.activity === "acting" ? "acting" : "viewing");
  });
  document.addEventListener("focusout", function (event) {
    if (!typingIn(event.relatedTarget) && mine.activity === "typing") { setActivity("viewing"); }
  });

  setInterval(function () {
    if (!mine.ticket || !live.open) { return; }
    var idle = Date.now() - mine.lastInput;
    if (idle >= GONE_IDLE_MS) {
      if (!mine.gone) { send({ type: "presence", ticket: Number(mine.ticket), activity: "gone" }); mine.gone = true; }
      return;
    }
    if (mine.activity === "typing" && idle >= TYPING_IDLE_MS) { mine.activity = "viewing"; }
    sendPresence();  // the heartbeat
  }, HEARTBEAT_MS);

  window.addEventListener("pagehide", function () {
    if (mine.ticket) { send({ type: "presence", ticket: Number(mine.ticket), activity: "gone" }); }
  });

  // --- Soft lock: a second user is warned before sending while someone else types or acts ------
  function warning(form, others, submitter) {
    var box = form.querySelector(".presence-warning");
    if (box) { box.remove(); }
    box = document.createElement("div");
    box.className = "presence-warning";
    box.setAttribute("role", "alert");
    var who = document.createElement("p");
    var names = document.createElement("strong");
    names.textContent = others.map(phrase).join("; ");
    who.appendChild(names);
    var text = document.createElement("p");
    text.textContent = say("warn");
    var go = document.createElement("button");
    go.type = "button";
    go.className = "primary small";
    go.setAttribute("data-live-confirm", "");
    go.textContent = say("sendAnyway");
    var wait = document.createElement("button");
    wait.type = "button";
    wait.className = "secondary small";
    wait.textContent = say("wait");
    go.addEventListener("click", function () {
      form.setAttribute("data-live-confirmed", "");
      box.remove();
      if (form.requestSubmit) { form.requestSubmit(submitter && submitter.form === form ? submitter : undefined); } else { form.submit(); }
    });
    wait.addEventListener("click", function () {
      box.remove();
      if (submitter) { submitter.focus(); }
    });
    box.appendChild(who);
    box.appendChild(text);
    box.appendChild(go);
    box.appendChild(wait);
    form.appendChild(box);
    go.focus();
  }

  // Capture on window: runs before console.js marks the form as sent.
  window.addEventListener("submit", function (event) {
    var form = event.target;
    var guard = form.closest && form.closest("[data-live-guard]");
    if (!guard || form.method.toLowerCase() !== "post") { return; }
    var others = busy(presence[guard.getAttribute("data-live-guard")]);
    if (others.length && !form.hasAttribute("data-live-confirmed")) {
      event.preventDefault();
      event.stopPropagation();
      warning(form, others, event.submitter);
      return;
    }
    form.removeAttribute("data-live-confirmed");
    setActivity("acting");
  }, true);

  // --- Notifications ---------------------------------------------------------------------------
  function setBadge(unread) {
    var count = document.getElementById("notif-count");
    if (!count || typeof unread !== "number") { return; }
    count.textContent = String(unread);
    var badge = count.closest(".badge") || count;
    badge.hidden = unread <= 0;
  }

  function notified(msg) {
    setBadge(msg.unread);
    var link = document.getElementById("notif-link");
    if (!link || !/^\d+$/.test(String(msg.id))) { return; }
    fetch(link.getAttribute("href") + msg.id + "/toast/", { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) { if (html) { toast(html); } })
      .catch(function () { /* the list page has it */ });
  }

  function toast(html) {
    var shelf = document.getElementById("toasts");
    if (!shelf) { return; }
    var doc = new DOMParser().parseFromString(html, "text/html");
    var item = doc.querySelector(".toast");
    if (!item) { return; }
    item = document.importNode(item, true);
    shelf.appendChild(item);
    while (shelf.children.length > TOASTS_MAX) { shelf.firstElementChild.remove(); }
    htmx.process(item);
    var timer = null;
    function later() { timer = setTimeout(function () { item.remove(); }, TOAST_MS); }
    function hold() { clearTimeout(timer); }
    item.addEventListener("mouseenter", hold);
    item.addEventListener("focusin", hold);
    item.addEventListener("mouseleave", later);
    item.addEventListener("focusout", function (event) { if (!item.contains(event.relatedTarget)) { later(); } });
    later();
  }

  document.addEventListener("click", function (event) {
    var close = event.target.closest && event.target.closest("[data-toast-close]");
    if (close) { close.closest(".toast").remove(); }
  });

  // --- Start (a deferred script: the page is parsed) ------------------------------------------
  var workspace = document.querySelector("[data-presence-ticket]");
  mine.ticket = workspace ? workspace.getAttribute("data-presence-ticket") : null;
  showPresence();
  setTimeout(showStatus, PAUSED_AFTER_MS);
})();

/* The message template form (templates/supervisor/message_template_form.html): beside the
 * texts, only the placeholders of the event chosen in the Event select are shown.
 *
 *   #placeholders [data-placeholders-for="event"]  one list per event, all rendered by the
 *       server; without this script (or with no event chosen) every list stays visible.
 *
 * No inline script is allowed by the Content-Security-Policy: this file is the behaviour.
 */
(function () {
  "use strict";

  function show(chosen) {
    var box = document.getElementById("placeholders");
    if (!box) { return; }
    box.setAttribute("data-chosen", chosen);
    box.querySelectorAll("[data-placeholders-for]").forEach(function (list) {
      list.hidden = Boolean(chosen) && list.getAttribute("data-placeholders-for") !== chosen;
    });
  }

  function start() {
    var select = document.getElementById("id_event");
    if (!select) { return; }
    select.setAttribute("aria-controls", "placeholders");
    select.addEventListener("change", function () { show(select.value); });
    show(select.value);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

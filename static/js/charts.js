/* Tiny SVG charts for the supervisor dashboard: no library, no CDN.
 *
 *   <div class="chart" data-chart="line|bar" data-source="ID" data-title="…" data-desc="…"></div>
 *   <a class="table-link" href="#TABLE" data-table-link>Show as a table</a>
 *   <script type="application/json" id="ID">{"labels": [...], "series": [{"name", "key", "values"}],
 *                                            "max": optional, "unit": optional}</script>
 *
 * Values may be null (no data that day: the line breaks there). Each point or bar carries a
 * <title>, so hovering (or a screen reader) gives the exact number. The <svg> is an image
 * (role="img") named by its <title> and described by its <desc>, both the page's translated
 * data-title and data-desc. The numbers are in a table that the link right after the chart
 * opens, moving the focus there ([data-table-link], handled by console.js for every page).
 * Charts are drawn again when the element is swapped in by htmx.
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var W = 560, H = 220, PAD = { top: 14, right: 26, bottom: 34, left: 40 };

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function niceMax(value) {
    if (!value || value <= 0) { return 1; }
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= value) { return steps[i] * power; }
    }
    return 10 * power;
  }

  function frame(svg, data, top) {
    var unit = data.unit || "";
    var plotH = H - PAD.top - PAD.bottom;
    for (var i = 0; i <= 4; i++) {
      var value = top * i / 4;
      var y = PAD.top + plotH - plotH * i / 4;
      svg.appendChild(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y, y2: y, "class": "grid" }));
      var label = (Math.round(value * 10) / 10) + unit;
      svg.appendChild(el("text", { x: PAD.left - 6, y: y + 4, "text-anchor": "end", "class": "axis" }, label));
    }
  }

  function xLabels(svg, labels, xOf) {
    var every = Math.max(1, Math.ceil(labels.length / 10));
    labels.forEach(function (label, i) {
      if (i % every !== 0 && i !== labels.length - 1) { return; }
      svg.appendChild(el("text", { x: xOf(i), y: H - PAD.bottom + 16, "text-anchor": "middle", "class": "axis" }, label));
    });
  }

  function legend(box, series) {
    if (series.length < 2) { return; }
    var list = document.createElement("ul");
    list.className = "chart-legend";
    series.forEach(function (s, index) {
      var item = document.createElement("li");
      item.className = "s" + index;
      item.textContent = s.name;
      list.appendChild(item);
    });
    box.appendChild(list);
  }

  function allValues(series) {
    var values = [];
    series.forEach(function (s) { s.values.forEach(function (v) { if (v !== null) { values.push(v); } }); });
    return values;
  }

  function lineChart(svg, data) {
    var top = data.max || niceMax(Math.max.apply(null, [0].concat(allValues(data.series))));
    var n = data.labels.length;
    var plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    var xOf = function (i) { return PAD.left + (n > 1 ? plotW * i / (n - 1) : plotW / 2); };
    var yOf = function (v) { return PAD.top + plotH - plotH * v / top; };
    frame(svg, data, top);
    xLabels(svg, data.labels, xOf);
    data.series.forEach(function (s, index) {
      var path = "", pen = false;
      s.values.forEach(function (v, i) {
        if (v === null) { pen = false; return; }
        path += (pen ? " L" : " M") + xOf(i).toFixed(1) + " " + yOf(v).toFixed(1);
        pen = true;
      });
      var group = el("g", { "class": "series s" + index, "data-series": s.key || index });
      if (path) { group.appendChild(el("path", { d: path.trim(), "class": "line" })); }
      s.values.forEach(function (v, i) {
        if (v === null) { return; }
        var dot = el("circle", { cx: xOf(i), cy: yOf(v), r: n > 20 ? 2.2 : 3.2, "class": "dot" });
        dot.appendChild(el("title", {}, s.name + " · " + data.labels[i] + ": " + v + (data.unit || "")));
        group.appendChild(dot);
      });
      svg.appendChild(group);
    });
  }

  function barChart(svg, data) {
    var s = data.series[0];
    var top = data.max || niceMax(Math.max.apply(null, [0].concat(allValues([s]))));
    var n = data.labels.length;
    var plotW = W - PAD.left - PAD.right, plotH = H - PAD.top - PAD.bottom;
    var slot = plotW / Math.max(1, n);
    var xOf = function (i) { return PAD.left + slot * (i + 0.5); };
    frame(svg, data, top);
    xLabels(svg, data.labels, xOf);
    var group = el("g", { "class": "series s0", "data-series": s.key || 0 });
    s.values.forEach(function (v, i) {
      var height = plotH * (v || 0) / top;
      var bar = el("rect", {
        x: xOf(i) - slot * 0.32, y: PAD.top + plotH - height, width: slot * 0.64,
        height: Math.max(height, v ? 1 : 0), "class": "bar"
      });
      bar.appendChild(el("title", {}, data.labels[i] + ": " + (v === null ? "—" : v)));
      group.appendChild(bar);
      if (v) {
        group.appendChild(el("text", { x: xOf(i), y: PAD.top + plotH - height - 4, "text-anchor": "middle", "class": "value" }, String(v)));
      }
    });
    svg.appendChild(group);
  }

  function draw(box) {
    var source = document.getElementById(box.getAttribute("data-source"));
    if (!source) { return; }
    var data;
    try { data = JSON.parse(source.textContent); } catch (error) { return; }
    box.textContent = "";
    var id = box.getAttribute("data-source");
    var svg = el("svg", {
      viewBox: "0 0 " + W + " " + H, "class": "chart-svg", role: "img", focusable: "false",
      "aria-labelledby": id + "-title", "aria-describedby": id + "-desc"
    });
    var caption = box.closest("figure") && box.closest("figure").querySelector("figcaption");
    var title = box.getAttribute("data-title") || box.getAttribute("aria-label")
      || (caption ? caption.textContent.trim() : "");
    svg.appendChild(el("title", { id: id + "-title" }, title));
    svg.appendChild(el("desc", { id: id + "-desc" }, box.getAttribute("data-desc") || title));
    if (box.getAttribute("data-chart") === "bar") { barChart(svg, data); } else { lineChart(svg, data); }
    box.appendChild(svg);
    legend(box, data.series);
    box.setAttribute("data-drawn", "true");
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  // After htmx swaps in fresh tiles (outerHTML), draw whatever is not drawn yet.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("[data-chart]:not([data-drawn])").forEach(draw);
  });
  window.Tier2Charts = { draw: draw, drawAll: drawAll };
})();

/* The SOP flow diagrams of /flows/: the server's graph, laid out by ELK, drawn as SVG.
 *
 *   <div data-flow-diagram="ID"><svg class="flow-svg"><title/><desc/></svg></div>
 *   <script type="application/json" id="ID">{"nodes": [...], "edges": [...], "escalation": {...}}</script>
 *
 * The graph comes from tickets/diagrams.py (graph_of). For each one this script
 *   1. measures every label with the page's own fonts (the classes of static/css/flows.css) and
 *      wraps a long one over several lines: a name is never cut;
 *   2. asks the Eclipse Layout Kernel (elkjs, static/js/elk.bundled.js: its `layered`
 *      algorithm, orthogonal edges, edge labels placed by the layout) where the boxes, the edges
 *      and the labels go, left to right when that fits the page's width, else top to bottom;
 *   3. draws the boxes, the edges with their arrowheads (back edges dashed), the labels, and the
 *      escalation band that every flow shares, under the graph.
 * The <svg> keeps the <title> and <desc> the server wrote; the table after the figure says the
 * same in words ([data-table-link], handled by console.js, opens it and moves the focus there).
 */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var NODE_TEXT_MAX = 170;  // px: a state's name wraps past this
  var EDGE_TEXT_MAX = 150;  // px: a transition's label wraps past this
  var NODE_PAD_X = 12, NODE_PAD_Y = 8, NODE_MIN_W = 96;
  var LABEL_PAD_X = 4, LABEL_PAD_Y = 2;
  var MARGIN = 16, BAND_GAP = 26, BAND_PAD = 10;

  function el(name, attrs, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  /* Text measured inside the diagram's own <svg>, so the CSS that draws it sizes it too. */
  function Measure(svg) {
    this.probe = el("text", { "class": "measure", x: 0, y: 0 });
    svg.appendChild(this.probe);
    this.metrics = {};
  }
  Measure.prototype.width = function (text, cls) {
    this.probe.setAttribute("class", "measure " + cls);
    this.probe.textContent = text;
    return this.probe.getComputedTextLength();
  };
  Measure.prototype.line = function (cls) {
    if (!this.metrics[cls]) {
      this.probe.setAttribute("class", "measure " + cls);
      this.probe.textContent = "Ágy";
      var box = this.probe.getBBox();
      this.metrics[cls] = { ascent: -box.y, height: Math.ceil(box.height) + 1 };
    }
    return this.metrics[cls];
  };
  /* Greedy word wrap to `max` px; a single word longer than that keeps its own line whole. */
  Measure.prototype.wrap = function (text, cls, max) {
    var self = this, lines = [], line = "";
    String(text).split(/\s+/).filter(Boolean).forEach(function (word) {
      var next = line ? line + " " + word : word;
      if (!line || self.width(next, cls) <= max) { line = next; } else { lines.push(line); line = word; }
    });
    if (line) { lines.push(line); }
    var width = 0;
    lines.forEach(function (l) { width = Math.max(width, self.width(l, cls)); });
    var metric = this.line(cls);
    return { lines: lines, width: Math.ceil(width) + 1, height: lines.length * metric.height, metric: metric };
  };
  Measure.prototype.remove = function () { this.probe.remove(); };

  /* A <text> of wrapped lines, centred on cx, its first line's box starting at `top`. */
  function textBlock(block, cls, cx, top) {
    var text = el("text", { "class": cls, "text-anchor": "middle" });
    block.lines.forEach(function (line, i) {
      var y = top + block.metric.ascent + i * block.metric.height;
      text.appendChild(el("tspan", { x: cx.toFixed(1), y: y.toFixed(1) }, line));
    });
    return text;
  }

  function sizeNodes(graph, measure) {
    graph.nodes.forEach(function (node) {
      node.text = measure.wrap(node.label, "node-label", NODE_TEXT_MAX);
      var code = node.id + (node.escalates ? "  " + graph.escalation.mark : "");
      node.code = { lines: [code], width: Math.ceil(measure.width(code, "node-code")) + 1, metric: measure.line("node-code") };
      node.code.height = node.code.metric.height;
      node.width = Math.max(NODE_MIN_W, Math.max(node.text.width, node.code.width) + 2 * NODE_PAD_X);
      node.height = node.text.height + node.code.height + 2 * NODE_PAD_Y + 2;
    });
    graph.edges.forEach(function (edge) {
      if (edge.escalation) { return; }
      edge.text = measure.wrap(edge.label, "edge-label", EDGE_TEXT_MAX);
      edge.labelWidth = edge.text.width + 2 * LABEL_PAD_X;
      edge.labelHeight = edge.text.height + 2 * LABEL_PAD_Y;
    });
  }

  function elkGraph(graph, direction) {
    return {
      id: "root",
      layoutOptions: {
        "elk.algorithm": "layered",
        "elk.direction": direction,
        "elk.edgeRouting": "ORTHOGONAL",
        "elk.padding": "[top=" + MARGIN + ",left=" + MARGIN + ",bottom=" + MARGIN + ",right=" + MARGIN + "]",
        "elk.spacing.nodeNode": "28",
        "elk.spacing.edgeNode": "16",
        "elk.spacing.edgeEdge": "12",
        "elk.spacing.edgeLabel": "4",
        "elk.spacing.labelLabel": "6",
        "elk.layered.spacing.nodeNodeBetweenLayers": "36",
        "elk.layered.spacing.edgeNodeBetweenLayers": "16",
        "elk.layered.spacing.edgeEdgeBetweenLayers": "12",
        // The server lists the nodes in the flow's forward order: only its back edges turn round.
        "elk.layered.cycleBreaking.strategy": "MODEL_ORDER",
        "elk.layered.considerModelOrder.strategy": "NODES_AND_EDGES",
        "elk.layered.nodePlacement.strategy": "NETWORK_SIMPLEX"
      },
      children: graph.nodes.map(function (node) {
        return { id: node.id, width: node.width, height: node.height };
      }),
      edges: graph.edges.filter(function (edge) { return !edge.escalation; }).map(function (edge) {
        return {
          id: edge.id, sources: [edge.source], targets: [edge.target],
          labels: [{
            id: edge.id + "-label", text: edge.label, width: edge.labelWidth, height: edge.labelHeight,
            layoutOptions: { "elk.edgeLabels.placement": "CENTER" }
          }]
        };
      })
    };
  }

  function pathOf(section) {
    var points = [section.startPoint].concat(section.bendPoints || [], [section.endPoint]);
    return points.map(function (p, i) { return (i ? "L" : "M") + p.x.toFixed(1) + " " + p.y.toFixed(1); }).join(" ");
  }

  function markers(svg, code) {
    var defs = el("defs");
    [["arrow-", "arrowhead"], ["arrow-back-", "arrowhead back"]].forEach(function (kind) {
      var marker = el("marker", {
        id: kind[0] + code, viewBox: "0 0 10 10", refX: "10", refY: "5",
        markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse"
      });
      marker.appendChild(el("path", { d: "M0,0 L10,5 L0,10 z", "class": kind[1] }));
      defs.appendChild(marker);
    });
    svg.appendChild(defs);
  }

  function drawGraph(svg, graph, laid, offsetX) {
    var byId = {};
    graph.nodes.forEach(function (node) { byId[node.id] = node; });
    var edgesById = {};
    graph.edges.forEach(function (edge) { edgesById[edge.id] = edge; });
    var layer = el("g", { transform: "translate(" + offsetX + ",0)" });

    var lines = el("g", { "class": "edges" });
    var labels = el("g", { "class": "edge-labels" });
    (laid.edges || []).forEach(function (done) {
      var edge = edgesById[done.id];
      var cls = "edge" + (edge.back ? " back" : "");
      (done.sections || []).forEach(function (section) {
        var path = el("path", {
          d: pathOf(section), "class": cls, "data-edge": edge.name, "data-edge-id": edge.id,
          "marker-end": "url(#" + (edge.back ? "arrow-back-" : "arrow-") + graph.code + ")"
        });
        path.appendChild(el("title", {}, edge.label));
        lines.appendChild(path);
      });
      (done.labels || []).forEach(function (label) {
        var group = el("g", { "class": "edge-label-group", "data-edge": edge.name, "data-edge-id": edge.id });
        group.appendChild(el("rect", {
          x: label.x, y: label.y, width: label.width, height: label.height, rx: 3,
          "class": "edge-label-box" + (edge.back ? " back" : "")
        }));
        group.appendChild(textBlock(edge.text, "edge-label", label.x + label.width / 2, label.y + LABEL_PAD_Y));
        labels.appendChild(group);
      });
    });

    var boxes = el("g", { "class": "nodes" });
    (laid.children || []).forEach(function (done) {
      var node = byId[done.id];
      var cls = "node" + (node.final ? " final" : "") + (node.start ? " start" : "");
      var group = el("g", { "class": cls, "data-state": node.id });
      var rect = el("rect", { x: done.x, y: done.y, width: done.width, height: done.height, rx: 8 });
      rect.appendChild(el("title", {}, node.step));
      group.appendChild(rect);
      var cx = done.x + done.width / 2;
      group.appendChild(textBlock(node.text, "node-label", cx, done.y + NODE_PAD_Y));
      var code = textBlock(node.code, "node-code", cx, done.y + NODE_PAD_Y + node.text.height + 2);
      if (node.escalates) { code.appendChild(el("title", {}, graph.escalation.mark_title)); }
      group.appendChild(code);
      boxes.appendChild(group);
    });

    layer.appendChild(lines);
    layer.appendChild(boxes);
    layer.appendChild(labels);
    svg.appendChild(layer);
  }

  /* The escalation round trip, once per flow: a band under the graph, as wide as the graph. */
  function escalationBand(graph, measure, width) {
    var esc = graph.escalation;
    var inner = Math.max(width - 2 * MARGIN - 2 * BAND_PAD, 260);
    var band = {
      title: measure.wrap(esc.label, "node-label", inner),
      code: measure.wrap(esc.id, "node-code", inner),
      from: measure.wrap(esc.from_text, "edge-label", inner),
      back: measure.wrap(esc.back_text, "edge-label", inner)
    };
    band.inner = Math.max(inner, band.title.width, band.code.width, band.from.width, band.back.width);
    band.width = band.inner + 2 * BAND_PAD;
    band.height = 2 * BAND_PAD + band.title.height + band.code.height + 6 + band.from.height + band.back.height;
    return band;
  }

  function drawBand(svg, graph, band, x, y) {
    var group = el("g", { "class": "node escalated", "data-state": graph.escalation.id });
    var rect = el("rect", { x: x, y: y, width: band.width, height: band.height, rx: 8 });
    rect.appendChild(el("title", {}, graph.escalation.step));
    group.appendChild(rect);
    var cx = x + band.width / 2, top = y + BAND_PAD;
    group.appendChild(textBlock(band.title, "node-label", cx, top));
    top += band.title.height;
    group.appendChild(textBlock(band.code, "node-code", cx, top));
    top += band.code.height + 6;
    var from = textBlock(band.from, "edge-label", cx, top);
    from.setAttribute("data-edge", "escalate");
    group.appendChild(from);
    top += band.from.height;
    var back = textBlock(band.back, "edge-label", cx, top);
    back.setAttribute("data-edge", "answer_escalation");
    group.appendChild(back);
    svg.appendChild(group);
  }

  function clear(svg) {
    Array.prototype.slice.call(svg.childNodes).forEach(function (child) {
      var name = child.nodeName.toLowerCase();
      if (name !== "title" && name !== "desc") { svg.removeChild(child); }
    });
  }

  function layout(elk, graph, direction) {
    return elk.layout(elkGraph(graph, direction));
  }

  /* Left to right when it fits the room there is, else top to bottom (or the narrower one). */
  function bestLayout(elk, graph, room) {
    return layout(elk, graph, "RIGHT").then(function (wide) {
      if (wide.width <= room) { return wide; }
      return layout(elk, graph, "DOWN").then(function (tall) {
        return tall.width < wide.width ? tall : wide;
      });
    });
  }

  function draw(elk, box) {
    var source = document.getElementById(box.getAttribute("data-flow-diagram"));
    var svg = box.querySelector("svg.flow-svg");
    if (!source || !svg) { return Promise.resolve(); }
    var graph = JSON.parse(source.textContent);
    var measure = new Measure(svg);
    sizeNodes(graph, measure);
    var room = Math.max(box.clientWidth, 320);
    return bestLayout(elk, graph, room).then(function (laid) {
      var width = laid.width, height = laid.height, band = null, offset = 0;
      if (graph.escalation) {
        band = escalationBand(graph, measure, width);
        width = Math.max(width, band.width + 2 * MARGIN);
        offset = (width - laid.width) / 2;
        height = laid.height - MARGIN + BAND_GAP + band.height + MARGIN;
      }
      measure.remove();
      clear(svg);
      width = Math.ceil(width);
      height = Math.ceil(height);
      svg.setAttribute("width", width);
      svg.setAttribute("height", height);
      svg.setAttribute("viewBox", "0 0 " + width + " " + height);
      markers(svg, graph.code);
      drawGraph(svg, graph, laid, offset);
      if (band) {
        drawBand(svg, graph, band, (width - band.width) / 2, laid.height - MARGIN + BAND_GAP);
      }
      box.setAttribute("data-drawn", laid.layoutOptions ? laid.layoutOptions["elk.direction"] : "true");
    }).catch(function (error) {
      measure.remove();
      box.setAttribute("data-failed", String(error));
    });
  }

  /* Draws every diagram; one round at a time (a resize during a round waits for it). The page's
   * root counts the rounds done in data-flows-drawn. */
  var rounds = 0, running = Promise.resolve();
  function drawAll() {
    if (typeof ELK === "undefined") { return running; }
    running = running.then(function () {
      var elk = new ELK();
      var boxes = Array.prototype.slice.call(document.querySelectorAll("[data-flow-diagram]"));
      return Promise.all(boxes.map(function (box) { return draw(elk, box); }));
    }).then(function () {
      rounds += 1;
      document.documentElement.setAttribute("data-flows-drawn", String(rounds));
    });
    return running;
  }

  var lastWidth = 0, pending = null;
  function redrawOnResize() {
    var width = document.documentElement.clientWidth;
    if (Math.abs(width - lastWidth) < 40) { return; }
    clearTimeout(pending);
    pending = setTimeout(function () { lastWidth = width; drawAll(); }, 200);
  }

  document.addEventListener("DOMContentLoaded", function () {
    lastWidth = document.documentElement.clientWidth;
    drawAll();
    window.addEventListener("resize", redrawOnResize);
  });
  window.Tier2Flows = { drawAll: drawAll };
})();

/* What tests/e2e/test_flow_diagrams.py measures in the drawn flow diagrams of /flows/ (run with
 * page.evaluate): a list of problems, empty when every label is whole, inside its box and the
 * drawing, apart from every other label and box, and no diagram is cut off by its container. */
() => {
  const problems = [];
  const EPS = 0.75;
  const rect = (el) => el.getBoundingClientRect();
  const inside = (a, b) => a.left >= b.left - EPS && a.right <= b.right + EPS
    && a.top >= b.top - EPS && a.bottom <= b.bottom + EPS;
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > EPS
    && Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > EPS;
  const joined = (text) => Array.from(text.querySelectorAll("tspan"))
    .map((t) => t.textContent).join(" ");
  for (const box of document.querySelectorAll("[data-flow-diagram]")) {
    const graph = JSON.parse(document.getElementById(box.dataset.flowDiagram).textContent);
    const code = graph.code;
    const svg = box.querySelector("svg.flow-svg");
    const where = (what) => problems.push(code + ": " + what);
    if (!box.dataset.drawn) { where("not drawn " + (box.dataset.failed || "")); continue; }
    const area = rect(svg);
    // Not scaled: one unit of the drawing is one pixel, so the text is the size measured.
    const width = Number(svg.getAttribute("width"));
    if (Math.abs(area.width - width) > 1) where("svg scaled to " + area.width + " of " + width);
    if (svg.viewBox.baseVal.width !== width) where("viewBox is not the width");
    // Not cut off by the container: it scrolls what it cannot show.
    const style = getComputedStyle(box);
    if (box.scrollWidth < Math.floor(area.width)) where("container narrower than its scroll");
    if (area.width > box.clientWidth + 1 && !["auto", "scroll"].includes(style.overflowX)) {
      where("wider than its container, which does not scroll");
    }
    if (box.scrollHeight > box.clientHeight + 1) where("cut off at the bottom");
    if (rect(box).right > document.documentElement.clientWidth + 1) where("container off the page");

    const nodes = Array.from(svg.querySelectorAll("g.node"));
    const expectedNodes = graph.nodes.length + (graph.escalation ? 1 : 0);
    if (nodes.length !== expectedNodes) where(nodes.length + " boxes for " + expectedNodes);
    const laidEdges = graph.edges.filter((e) => !e.escalation);
    const groups = Array.from(svg.querySelectorAll("g.edge-label-group"));
    if (groups.length !== laidEdges.length) where(groups.length + " edge labels for " + laidEdges.length);
    for (const edge of laidEdges) {
      if (!svg.querySelector('path.edge[data-edge-id="' + edge.id + '"]')) where("no line for " + edge.id);
    }

    const labelOf = {};
    graph.nodes.forEach((n) => { labelOf["node:" + n.id] = n.label; });
    laidEdges.forEach((e) => { labelOf["edge:" + e.id] = e.label; });
    const texts = Array.from(svg.querySelectorAll("text.node-label, text.node-code, text.edge-label"));
    for (const text of texts) {
      const owner = text.closest("g.node, g.edge-label-group");
      const name = (owner.dataset.state || owner.dataset.edgeId) + " " + text.getAttribute("class");
      const content = joined(text);
      if (!content.trim()) where(name + " is empty");
      if (content.includes("…") || content.includes("...")) where(name + " has an ellipsis");
      const r = rect(text);
      if (!inside(r, rect(owner.querySelector("rect")))) where(name + " sticks out of its box");
      if (!inside(r, area)) where(name + " outside the svg");
      for (const tspan of text.querySelectorAll("tspan")) {
        if (!inside(rect(tspan), rect(owner.querySelector("rect")))) where(name + " line clipped");
      }
    }
    // Whole labels: the lines of each label are the label the server sent.
    for (const node of svg.querySelectorAll("g.node[data-state]")) {
      const key = "node:" + node.dataset.state;
      if (key in labelOf && joined(node.querySelector("text.node-label")) !== labelOf[key]) {
        where("state " + node.dataset.state + " shows '" + joined(node.querySelector("text.node-label")) + "'");
      }
    }
    if (graph.escalation) {  // the band: its name and both of its sentences, whole
      const band = svg.querySelector("g.node.escalated");
      const esc = graph.escalation;
      const shown = (selector) => band && band.querySelector(selector)
        ? joined(band.querySelector(selector)) : null;
      if (shown("text.node-label") !== esc.label) where("band shows " + shown("text.node-label"));
      if (shown('text[data-edge="escalate"]') !== esc.from_text) where("band's escalate text cut");
      if (shown('text[data-edge="answer_escalation"]') !== esc.back_text) {
        where("band's answer text cut");
      }
    }
    for (const group of groups) {
      const key = "edge:" + group.dataset.edgeId;
      if (joined(group.querySelector("text.edge-label")) !== labelOf[key]) {
        where("edge " + group.dataset.edgeId + " shows '" + joined(group.querySelector("text.edge-label")) + "'");
      }
    }
    // No two labels overlap; no label box overlaps a state's box; no two boxes overlap.
    for (let i = 0; i < texts.length; i++) {
      for (let j = i + 1; j < texts.length; j++) {
        if (overlap(rect(texts[i]), rect(texts[j]))) {
          where("labels overlap: '" + joined(texts[i]) + "' and '" + joined(texts[j]) + "'");
        }
      }
    }
    const boxes = nodes.map((n) => rect(n.querySelector("rect")));
    for (const group of groups) {
      const r = rect(group.querySelector("rect"));
      if (!inside(r, area)) where("edge label box " + group.dataset.edgeId + " outside the svg");
      boxes.forEach((b, k) => { if (overlap(r, b)) where("edge label " + group.dataset.edgeId + " on box " + nodes[k].dataset.state); });
      for (const other of groups) {
        if (other !== group && overlap(r, rect(other.querySelector("rect")))) {
          where("edge labels overlap: " + group.dataset.edgeId + " and " + other.dataset.edgeId);
        }
      }
    }
    boxes.forEach((a, i) => {
      if (!inside(a, area)) where("box " + nodes[i].dataset.state + " outside the svg");
      boxes.slice(i + 1).forEach((b, k) => {
        if (overlap(a, b)) where("boxes overlap: " + nodes[i].dataset.state + ", " + nodes[i + 1 + k].dataset.state);
      });
    });
  }
  return problems;
}

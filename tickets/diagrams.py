"""Flow diagrams drawn from the machines themselves (restoring the SOP's lost section 8 pictures).

`diagram_of(machine)` reads the django-fsm transitions of a flow proxy and lays the states out
in columns by their distance from the first state, so the picture always matches the code.
The escalation round trip, shared by every flow, is drawn once as a dashed band.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from .flows.base import ESCALATED

BOX_W, BOX_H = 124, 46
COL_GAP, ROW_GAP = 92, 26
MARGIN = 20
TOP = 56  # room above the first row for arrows that step back


@dataclass
class Node:
    name: str
    label: str
    step: str
    x: int = 0
    y: int = 0
    w: int = BOX_W
    h: int = BOX_H
    final: bool = False


@dataclass
class Edge:
    source: str
    target: str
    name: str
    label: str
    path: str = ""
    label_x: float = 0
    label_y: float = 0
    dashed: bool = False


@dataclass
class Diagram:
    title: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    escalation_sources: list[str] = field(default_factory=list)


def transitions_of(machine) -> list[tuple[str, str, str, str]]:
    """(source, target, name, label) of every transition; a return-to-sender target is expanded
    into one edge per state it may return to."""
    rows = []
    for found in machine._meta.get_field("state").get_all_transitions(machine):
        targets = [found.target] if isinstance(found.target, str) else found.target.allowed_states
        label = str(found.custom.get("label", found.name))
        rows.extend((found.source, target, found.name, label) for target in targets)
    return rows


def _depths(states: list[str], edges) -> dict[str, int]:
    start = states[0]
    depth = {start: 0}
    queue = deque([start])
    forward = [(s, t) for s, t, name, _label in edges if ESCALATED not in (s, t)]
    while queue:
        current = queue.popleft()
        for source, target in forward:
            if source == current and target not in depth:
                depth[target] = depth[current] + 1
                queue.append(target)
    return depth


def diagram_of(machine, title: str) -> Diagram:
    states = list(machine.states)
    edges = transitions_of(machine)
    depth = _depths(states, edges)
    columns: dict[int, list[str]] = {}
    for state in states:
        if state != ESCALATED and state in depth:
            columns.setdefault(depth[state], []).append(state)
    diagram = Diagram(title=title)
    nodes: dict[str, Node] = {}
    tallest = max(len(column) for column in columns.values())
    for col, names in sorted(columns.items()):
        offset = (tallest - len(names)) * (BOX_H + ROW_GAP) / 2
        for row, name in enumerate(names):
            info = machine.states[name]
            nodes[name] = Node(
                name=name,
                label=str(info.label),
                step=str(info.sop_step),
                x=MARGIN + col * (BOX_W + COL_GAP),
                y=int(TOP + offset + row * (BOX_H + ROW_GAP)),
                final=not any(source == name for source, *_rest in edges),
            )
    width = MARGIN * 2 + len(columns) * (BOX_W + COL_GAP) - COL_GAP
    height = TOP + MARGIN + tallest * (BOX_H + ROW_GAP) - ROW_GAP
    if ESCALATED in machine.states:
        info = machine.states[ESCALATED]
        nodes[ESCALATED] = Node(
            name=ESCALATED,
            label=str(info.label),
            step=str(info.sop_step),
            x=MARGIN,
            y=height + ROW_GAP,
            w=width - 2 * MARGIN,
            h=BOX_H - 10,
        )
        height += ROW_GAP + BOX_H
    diagram.width, diagram.height = width, height
    diagram.nodes = list(nodes.values())
    for source, target, name, label in edges:
        if ESCALATED in (source, target):
            if target == ESCALATED:
                diagram.escalation_sources.append(source)
            continue
        diagram.edges.append(_route(nodes[source], nodes[target], name, label))
    return diagram


def _route(a: Node, b: Node, name: str, label: str) -> Edge:
    """A straight arrow forward, a curve over the boxes for a step back or within a column."""
    edge = Edge(source=a.name, target=b.name, name=name, label=label)
    if b.x > a.x:
        x1, y1 = a.x + a.w, a.y + a.h / 2
        x2, y2 = b.x, b.y + b.h / 2
        edge.path = f"M{x1},{y1} C{x1 + 30},{y1} {x2 - 30},{y2} {x2},{y2}"
        edge.label_x, edge.label_y = (x1 + x2) / 2, (y1 + y2) / 2 - 4
    else:
        x1, y1 = a.x + a.w / 2, a.y
        x2, y2 = b.x + b.w / 2, b.y
        lift = 28 + abs(x1 - x2) / 8
        top = min(y1, y2) - lift
        edge.path = f"M{x1},{y1} C{x1},{top} {x2},{top} {x2},{y2}"
        edge.label_x, edge.label_y = (x1 + x2) / 2, top + 12
        edge.dashed = True
    return edge

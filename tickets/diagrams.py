"""Flow diagrams drawn from the machines themselves (restoring the SOP's lost section 8 pictures).

`graph_of(machine, ...)` reads the django-fsm transitions of a flow proxy (or of the gamas
incident's machine) and returns the graph as plain data: every state with its translated label
and SOP step, every transition with its translated label. The page sends it as JSON; the
browser measures the text, lays the graph out with the Eclipse Layout Kernel (elkjs, vendored in
static/js/elk.bundled.js) and draws the SVG (static/js/flows.js). The same data fills the table
under each picture, so the page says everything without the drawing too.

The server decides what the drawing means, the browser only where things go:
- an edge is `back` when it returns to a state the ticket has already passed (a depth-first
  walk from the first state, in the machine's order of states); back edges are drawn dashed;
- the nodes come in a topological order of the other edges, so the layout's cycle breaking
  (ELK's `MODEL_ORDER`) turns exactly the back edges around;
- the escalation round trip that every flow shares (`escalate` to Support, Support's answer
  returning the ticket where it was) is drawn once, as a band under the flow, and the states it
  may start from carry a mark. Its transitions are in the data and the table all the same.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from .flows.base import ESCALATED

ESCALATION_MARK = "⇅"


def transitions_of(machine) -> list[tuple[str, str, str, str]]:
    """(source, target, name, label) of every transition, in the machine's order of states; a
    return-to-sender target is expanded into one edge per state it may return to."""
    order = {state: index for index, state in enumerate(machine.states)}
    rows = []
    for found in machine._meta.get_field("state").get_all_transitions(machine):
        targets = [found.target] if isinstance(found.target, str) else found.target.allowed_states
        label = str(found.custom.get("label", found.name))
        rows.extend((found.source, target, found.name, label) for target in targets)
    return sorted(rows, key=lambda row: (order[row[0]], order[row[1]], row[2]))


def _is_escalation(source: str, target: str) -> bool:
    return ESCALATED in (source, target)


def _back_edges(states: list[str], steps: list[tuple[str, str, str, str]]) -> set[tuple]:
    """The edges that go back to a state on the current path of a depth-first walk."""
    following: dict[str, list[str]] = {state: [] for state in states}
    for source, target, _name, _label in steps:
        if target not in following[source]:
            following[source].append(target)
    back, on_path, seen = set(), set(), set()

    def walk(state: str) -> None:
        seen.add(state)
        on_path.add(state)
        for target in following[state]:
            if target in on_path:
                back.add((state, target))
            elif target not in seen:
                walk(target)
        on_path.discard(state)

    for state in states:  # the first state, then any state it does not reach
        if state not in seen:
            walk(state)
    return back


def _forward_order(states: list[str], steps, back: set[tuple]) -> list[str]:
    """The states in a topological order of the forward edges, ties kept in the machine's order."""
    incoming = dict.fromkeys(states, 0)
    for source, target, *_rest in steps:
        if (source, target) not in back:
            incoming[target] += 1
    order, ready = [], [state for state in states if incoming[state] == 0]
    while ready:
        state = ready.pop(0)
        order.append(state)
        for source, target, *_rest in steps:
            if source == state and (source, target) not in back:
                incoming[target] -= 1
                if incoming[target] == 0:
                    ready.append(target)
        ready.sort(key=states.index)
    return order


def graph_of(machine, *, code: str, title: str) -> dict:
    """The machine as a graph for the page: nodes, edges, the escalation band, a description."""
    every = transitions_of(machine)
    states = [state for state in machine.states if state != ESCALATED]
    steps = [row for row in every if not _is_escalation(row[0], row[1])]
    back = _back_edges(states, steps)
    label_of = {state: str(info.label) for state, info in machine.states.items()}
    escalate_from = [source for source, target, *_rest in every if target == ESCALATED]
    leaving = {source for source, *_rest in every}

    nodes = [
        {
            "id": state,
            "label": label_of[state],
            "step": str(machine.states[state].sop_step),
            "start": state == states[0],
            "final": state not in leaving,
            "escalates": state in escalate_from,
        }
        for state in _forward_order(states, steps, back)
    ]
    edges = [
        {
            "id": f"{code}-{index}",
            "source": source,
            "target": target,
            "name": name,
            "label": label,
            "back": (source, target) in back,
            "escalation": _is_escalation(source, target),
        }
        for index, (source, target, name, label) in enumerate(every)
    ]
    finals = [node["label"] for node in nodes if node["final"]]
    description = _(
        "State machine with %(states)s states and %(transitions)s transitions. It starts at "
        "“%(start)s” and ends at “%(end)s”. The table after the diagram lists every state and "
        "every transition."
    ) % {
        "states": len(machine.states),
        "transitions": len(every),
        "start": label_of[states[0]],
        "end": ", ".join(finals),
    }
    graph = {
        "code": code,
        "title": title,
        "description": description,
        "nodes": nodes,
        "edges": edges,
        "escalation": None,
    }
    if ESCALATED in machine.states:
        answer = next(edge for edge in edges if edge["source"] == ESCALATED)
        escalate = next(edge for edge in edges if edge["target"] == ESCALATED)
        graph["escalation"] = {
            "id": ESCALATED,
            "label": label_of[ESCALATED],
            "step": str(machine.states[ESCALATED].sop_step),
            "mark": ESCALATION_MARK,
            "mark_title": _("Can be escalated to Support"),
            "from_text": _("%(mark)s %(label)s, from: %(states)s")
            % {
                "mark": ESCALATION_MARK,
                "label": escalate["label"],
                "states": ", ".join(label_of[state] for state in escalate_from),
            },
            "back_text": _("%(label)s: back to the state the ticket came from")
            % {"label": answer["label"]},
        }
    return graph


def table_rows(graph: dict, machine) -> dict:
    """The diagram's table equivalent: its states and its transitions, in words."""
    label_of = {state: str(info.label) for state, info in machine.states.items()}
    states = [
        {"id": state, "label": label_of[state], "step": str(info.sop_step)}
        for state, info in machine.states.items()
    ]
    transitions = [
        {
            "source": edge["source"],
            "source_label": label_of[edge["source"]],
            "target": edge["target"],
            "target_label": label_of[edge["target"]],
            "name": edge["name"],
            "label": edge["label"],
            "back": edge["back"],
        }
        for edge in graph["edges"]
    ]
    return {"states": states, "transitions": transitions}

"""The flow diagrams' graphs (tickets/diagrams.py) and the /flows/ page that carries them.

The expected nodes and edges of NOSSA and Fresh Lapul are written from DESIGN.md section 3
(8.2 and 8.6) and the SOP, not read from the machines; every other machine is checked against
django-fsm's own list of its transitions.
"""

import json
import re

import pytest
from django.utils import translation

from tickets.diagrams import graph_of, table_rows
from tickets.flows import FLOWS, GamasIncidentMachine

MACHINES = [*FLOWS.items(), ("gamas_incident", GamasIncidentMachine)]
IDS = [code for code, _m in MACHINES]


def fsm_transitions(machine):
    """(source, target, name) of every transition, straight from django-fsm."""
    found = set()
    for transition in machine._meta.get_field("state").get_all_transitions(machine):
        target = transition.target
        targets = [target] if isinstance(target, str) else target.allowed_states
        found.update((transition.source, each, transition.name) for each in targets)
    return found


def drawn(graph, *, escalation=False):
    return {
        (edge["source"], edge["target"], edge["name"])
        for edge in graph["edges"]
        if edge["escalation"] == escalation
    }


def test_nossa_graph_has_the_states_and_steps_of_sop_8_2():
    with translation.override("en"):
        graph = graph_of(FLOWS["nossa"], code="nossa", title="NOSSA")

    assert [node["id"] for node in graph["nodes"]][:3] == ["new", "claimed", "diagnosing"]
    assert {node["id"] for node in graph["nodes"]} == {
        "new", "claimed", "diagnosing", "remote_fix", "escalated_field", "waiting_field",
        "linked_to_gamas", "verifying", "closed",
    }  # fmt: skip
    assert drawn(graph) == {
        ("new", "claimed", "claim"),
        ("claimed", "diagnosing", "start_diagnosis"),
        ("diagnosing", "remote_fix", "apply_remote_fix"),
        ("diagnosing", "escalated_field", "escalate_to_field"),
        ("diagnosing", "linked_to_gamas", "link_to_gamas"),
        ("remote_fix", "verifying", "remote_fix_done"),
        ("escalated_field", "waiting_field", "await_field"),
        ("waiting_field", "verifying", "field_done"),
        ("linked_to_gamas", "verifying", "gamas_recovered"),
        ("verifying", "closed", "close"),
        ("verifying", "closed", "close_unreachable"),
        ("verifying", "diagnosing", "not_restored"),
    }
    back = {(e["source"], e["target"]) for e in graph["edges"] if e["back"]}
    assert back == {("verifying", "diagnosing")}  # "or back to diagnosing when not"
    finals = [node["id"] for node in graph["nodes"] if node["final"]]
    starts = [node["id"] for node in graph["nodes"] if node["start"]]
    assert (starts, finals) == (["new"], ["closed"])
    labels = {node["id"]: node["label"] for node in graph["nodes"]}
    assert labels["diagnosing"] == "Diagnosing"
    edge_labels = {e["name"]: e["label"] for e in graph["edges"]}
    assert edge_labels["close_unreachable"] == "Unreachable, service online: close"


def test_nossa_escalation_round_trip_is_in_the_graph_once_per_working_state():
    with translation.override("en"):
        graph = graph_of(FLOWS["nossa"], code="nossa", title="NOSSA")

    working = [
        "claimed",
        "diagnosing",
        "remote_fix",
        "escalated_field",
        "waiting_field",
        "verifying",
    ]
    assert drawn(graph, escalation=True) == {
        *((state, "escalated", "escalate") for state in working),
        *(("escalated", state, "answer_escalation") for state in working),
    }
    marked = {node["id"] for node in graph["nodes"] if node["escalates"]}
    assert marked == set(working)
    band = graph["escalation"]
    assert band["label"] == "Escalated to Support"
    assert band["from_text"] == (
        "⇅ Escalate to Support, from: Claimed, Diagnosing, Remote fix, Escalated to the field, "
        "Waiting for the field team, Verifying"
    )
    assert (
        band["back_text"]
        == "Answer and return to the agent: back to the state the ticket came from"
    )


def test_fresh_lapul_graph_is_the_chain_of_sop_8_6_with_one_step_back():
    with translation.override("en"):
        graph = graph_of(FLOWS["fresh_lapul"], code="fresh_lapul", title="Fresh Lapul")

    chain = [
        "new",
        "claimed",
        "analysing",
        "escalated_priority",
        "monitoring",
        "verifying",
        "closed",
    ]
    assert [node["id"] for node in graph["nodes"]] == chain  # the forward order
    assert drawn(graph) == {
        ("new", "claimed", "claim"),
        ("claimed", "analysing", "start_analysis"),
        ("analysing", "escalated_priority", "escalate_priority"),
        ("escalated_priority", "monitoring", "start_monitoring"),
        ("monitoring", "verifying", "verify"),
        ("verifying", "monitoring", "not_fixed"),
        ("verifying", "closed", "close"),
        ("verifying", "closed", "close_unreachable"),
    }
    assert [e["name"] for e in graph["edges"] if e["back"]] == ["not_fixed"]


def test_gamas_incident_graph_is_open_recovered_closed_without_escalation():
    with translation.override("en"):
        graph = graph_of(GamasIncidentMachine, code="gamas_incident", title="Incident")

    assert [node["id"] for node in graph["nodes"]] == ["open", "recovered", "closed"]
    assert drawn(graph) == {("open", "recovered", "recover"), ("recovered", "closed", "close")}
    assert graph["escalation"] is None
    assert graph["description"] == (
        "State machine with 3 states and 2 transitions. It starts at “Open” and ends at "
        "“Closed”. The table after the diagram lists every state and every transition."
    )


@pytest.mark.parametrize(("code", "machine"), MACHINES, ids=IDS)
def test_graph_has_every_state_and_every_transition_of_the_machine(code, machine):
    graph = graph_of(machine, code=code, title=code)

    ids = {node["id"] for node in graph["nodes"]}
    if graph["escalation"]:
        ids.add(graph["escalation"]["id"])
    assert ids == set(machine.states)
    every = {(e["source"], e["target"], e["name"]) for e in graph["edges"]}
    assert every == fsm_transitions(machine)
    assert len(graph["edges"]) == len(every)  # no transition twice
    assert len({edge["id"] for edge in graph["edges"]}) == len(graph["edges"])
    # Escalation edges, and only they, touch the escalated state; they are not laid out.
    for edge in graph["edges"]:
        assert edge["escalation"] == ("escalated" in (edge["source"], edge["target"]))
        if not edge["escalation"]:
            assert {edge["source"], edge["target"]} <= {node["id"] for node in graph["nodes"]}


@pytest.mark.parametrize(("code", "machine"), MACHINES, ids=IDS)
def test_every_label_is_whole_and_translated(code, machine):
    with translation.override("id"):
        graph = graph_of(machine, code=code, title=code)
    with translation.override("id"):
        expected_states = {state: str(info.label) for state, info in machine.states.items()}
    for node in graph["nodes"]:
        assert node["label"] == expected_states[node["id"]]
        assert "…" not in node["label"] and "..." not in node["label"]
    for edge in graph["edges"]:
        assert edge["label"] and "…" not in edge["label"]


@pytest.mark.parametrize(("code", "machine"), MACHINES, ids=IDS)
def test_back_edges_are_the_only_edges_against_the_node_order(code, machine):
    """The layout turns an edge round when it goes against the order of the nodes: that must be
    exactly the edges drawn dashed."""
    graph = graph_of(machine, code=code, title=code)
    position = {node["id"]: index for index, node in enumerate(graph["nodes"])}
    for edge in graph["edges"]:
        if edge["escalation"]:
            continue
        against = position[edge["target"]] <= position[edge["source"]]
        assert against == edge["back"], edge["name"]


def test_table_lists_every_state_and_transition_in_words():
    with translation.override("en"):
        graph = graph_of(FLOWS["fresh_lapul"], code="fresh_lapul", title="Fresh Lapul")
        table = table_rows(graph, FLOWS["fresh_lapul"])

    assert len(table["states"]) == 8  # seven steps and the escalation
    assert len(table["transitions"]) == len(graph["edges"])
    row = next(t for t in table["transitions"] if t["name"] == "not_fixed")
    assert (row["source_label"], row["label"], row["target_label"], row["back"]) == (
        "Verifying",
        "Not fixed: monitor again",
        "Monitoring",
        True,
    )


def test_flows_page_shows_every_flow_without_login(client, db):
    response = client.get("/flows/")

    assert response.status_code == 200
    page = response.content.decode()
    for code in [*FLOWS, "gamas_incident"]:
        assert f'id="flow-{code}"' in page
    assert page.count("<svg") == len(MACHINES)
    assert "/static/js/elk.bundled.js" in page and "/static/js/flows.js" in page
    assert "/static/css/flows.css" in page
    assert "truncatechars" not in page and "…</text>" not in page


@pytest.mark.parametrize("code", IDS)
def test_each_diagram_has_title_desc_graph_and_a_table_linked_after_it(client, db, code):
    page = client.get("/flows/").content.decode()

    section = page[page.index(f'id="flow-{code}"') :]
    section = section[: section.index("</section>")]
    svg = re.search(r"<svg [^>]*>", section).group(0)
    assert 'role="img"' in svg
    assert f'aria-labelledby="flow-{code}-title"' in svg
    assert f'aria-describedby="flow-{code}-desc"' in svg
    assert re.search(rf'<title id="flow-{code}-title">\S', section)
    assert re.search(rf'<desc id="flow-{code}-desc">\S', section)
    # The link right after the drawing goes to the table, which exists in the section.
    after = section[section.index("</svg>") :]
    link = re.search(r"<a [^>]*data-table-link[^>]*>", after).group(0)
    assert f'href="#flow-{code}-table"' in link
    assert f'id="flow-{code}-table"' in section
    assert re.search(r"<(a|button)\b", after[: after.index(link)]) is None
    graph = json.loads(re.search(rf'id="graph-{code}"[^>]*>(.*?)</script>', section, re.S).group(1))
    assert graph["code"] == code


def test_vendored_elk_is_the_file_recorded_in_vendored_md():
    """The layout engine is served from static/ (no CDN), byte for byte the npm package's file."""
    import hashlib
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.BASE_DIR) / "static" / "js"
    recorded = re.search(
        r"sha256 of `elk\.bundled\.js`: `([0-9a-f]{64})`", (folder / "VENDORED.md").read_text()
    )
    digest = hashlib.sha256((folder / "elk.bundled.js").read_bytes()).hexdigest()
    assert recorded and recorded.group(1) == digest


def test_flows_page_loads_scripts_from_its_own_static_files_only(client, db):
    page = client.get("/flows/").content.decode()

    sources = re.findall(r'<script[^>]* src="([^"]+)"', page)
    assert "/static/js/elk.bundled.js" in sources
    assert all(source.startswith("/static/") for source in sources)

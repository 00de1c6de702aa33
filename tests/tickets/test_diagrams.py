import pytest

from tickets.diagrams import diagram_of, transitions_of
from tickets.flows import FLOWS, GamasIncidentMachine

MACHINES = [*FLOWS.items(), ("gamas_incident", GamasIncidentMachine)]


@pytest.mark.parametrize(("code", "machine"), MACHINES, ids=[code for code, _m in MACHINES])
def test_diagram_draws_every_state_and_transition_of_the_machine(code, machine):
    diagram = diagram_of(machine, code)

    assert {node.name for node in diagram.nodes} == set(machine.states)
    drawn = {(edge.source, edge.target, edge.name) for edge in diagram.edges}
    for source, target, name, _label in transitions_of(machine):
        if "escalated" in (source, target):
            assert source in diagram.escalation_sources or target != "escalated"
        else:
            assert (source, target, name) in drawn


def test_diagram_boxes_do_not_overlap():
    for code, machine in MACHINES:
        nodes = diagram_of(machine, code).nodes
        for i, a in enumerate(nodes):
            for b in nodes[i + 1 :]:
                apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
                assert apart, f"{code}: {a.name} overlaps {b.name}"


def test_flows_page_shows_every_flow_without_login(client, db):
    response = client.get("/flows/")

    assert response.status_code == 200
    page = response.content.decode()
    for code in [*FLOWS, "gamas_incident"]:
        assert f'id="flow-{code}"' in page
    assert page.count("<svg") == len(MACHINES)

"""Factories and scenario helpers, so a test reads like the situation it checks."""

import factory
from django.contrib.auth.models import Group, User
from django.db.models import F

from tickets import services
from tickets.flows import as_flow
from tickets.models import AgentProfile, Customer, Service, Site, Ticket


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name", locale="id_ID")
    phone = factory.Sequence(lambda n: f"08123{n:07d}")
    address = factory.Faker("address", locale="id_ID")


class ServiceFactory(factory.django.DjangoModelFactory):
    """A service; by default its number ends in 1 so arrival routing sends it to Pusat."""

    class Meta:
        model = Service

    service_number = factory.Sequence(lambda n: f"1311{n:07d}1")
    customer = factory.SubFactory(CustomerFactory)
    package = "IndiHome 50 Mbps"
    sto = "STO-KBL"
    olt = factory.Sequence(lambda n: f"OLT-KBL-{n % 5:02d}")
    odp = factory.Sequence(lambda n: f"ODP-KBL-{n % 50:03d}")


def site(code: str) -> Site:
    return Site.objects.get(code=code)


def user(role: str, *, username: str | None = None, site_code: str | None = None, flows=()):
    """A user in a role group; agents get a profile with their site and flows."""
    username = username or f"{role.lower()}-{User.objects.count() + 1}"
    person = User.objects.create_user(username=username, password="secret-pass-123")
    person.groups.add(Group.objects.get(name=role))
    if site_code or flows:
        AgentProfile.objects.create(
            user=person, site=site(site_code or "PST"), flows=list(flows), agent_code=username
        )
    return User.objects.get(pk=person.pk)  # fresh object: no stale permission cache


def agent(*, site_code: str = "PST", flows=("nossa",), username: str | None = None):
    return user("Agent", username=username, site_code=site_code, flows=flows)


def arrive(flow: str = "nossa", *, service: Service | None = None, **fields):
    """A ticket arrives through the service layer (arrival rules applied)."""
    ticket, _created = services.create_ticket(
        flow=flow, service=service or ServiceFactory(), **fields
    )
    return ticket


def put_in_state(ticket: Ticket, state: str, **fields) -> Ticket:
    """Place a ticket in a state directly (test set-up only: bypasses the machine)."""
    Ticket.objects.filter(pk=ticket.pk).update(state=state, **fields)
    return as_flow(Ticket.objects.get(pk=ticket.pk))


def reload(ticket: Ticket) -> Ticket:
    return as_flow(Ticket.objects.get(pk=ticket.pk))


def fail_calls(ticket: Ticket, count: int) -> Ticket:
    Ticket.objects.filter(pk=ticket.pk).update(failed_attempts=F("failed_attempts") + count)
    return reload(ticket)


# --- Scenario helpers for the flow tables, property and service tests ------------------------
# (appended: walk a ticket through its machine with the right people, inputs and conditions)
import itertools  # noqa: E402
from collections import deque  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

from django.conf import settings as django_settings  # noqa: E402

from tickets.flows import FLOWS, GamasIncidentMachine  # noqa: E402
from tickets.models import (  # noqa: E402
    ContactOutcome,
    Escalation,
    EscalationStatus,
    GamasIncident,
    TransitionLog,
)

_service_numbers = itertools.count(1)
_area_codes = itertools.count(1)
_usernames = itertools.count(1)
NOSSA_NUMBER = "IN16672489"
SITE_DIGIT = {"PST": "1", "MLG": "0"}  # route_site: sites by code, last digit modulo their count


def home_site(flow: str) -> str:
    """Where a flow's tickets arrive: C4 Caring at Malang (SOP 8.4), the rest at Pusat here."""
    return "MLG" if flow == "c4_caring" else "PST"


def service_at(site_code: str = "PST", **fields) -> Service:
    """A service whose number routes its arrivals to `site_code`."""
    number = f"1399{next(_service_numbers):07d}{SITE_DIGIT[site_code]}"
    return ServiceFactory(service_number=number, **fields)


def flow_ticket(flow: str, *, site_code: str | None = None, **fields):
    """A ticket of `flow` arrives for a new service at the flow's home site (or `site_code`)."""
    return arrive(flow, service=service_at(site_code or home_site(flow)), **fields)


def unique_username(prefix: str) -> str:
    return f"{prefix}-{next(_usernames)}"


def agent_for(flow: str, *, site_code: str | None = None, prefix: str = "agent"):
    """An agent working `flow` at its home site (or `site_code`)."""
    return agent(
        site_code=site_code or home_site(flow), flows=[flow], username=unique_username(prefix)
    )


def role_user(role: str):
    return user(role, username=unique_username(role.lower()))


def set_facts(ticket, **facts):
    """Merge results of external checks into the ticket's facts (what the adapters write)."""
    current = Ticket.objects.get(pk=ticket.pk).facts
    Ticket.objects.filter(pk=ticket.pk).update(facts={**current, **facts})
    return reload(ticket)


def record_calls(ticket, agent_user, *outcomes: str):
    for outcome in outcomes:
        services.record_contact_attempt(ticket_id=ticket.pk, agent=agent_user, outcome=outcome)
    return reload(ticket)


def open_gamas(*, actor=None, area_level: str = "odp", area_code: str | None = None):
    """An open gamas incident; by default over an ODP no factory service is in."""
    return services.open_incident(
        title="Fibre cut",
        area_level=area_level,
        area_code=area_code or f"ODP-TEST-{next(_area_codes):04d}",
        actor=actor or role_user("Supervisor"),
    )


def log_count(ticket=None, incident=None) -> int:
    if incident is not None:
        return TransitionLog.objects.filter(incident_id=incident.pk).count()
    return TransitionLog.objects.filter(ticket_id=ticket.pk).count()


def ticket_snapshot(ticket) -> dict:
    """What a refused action must leave as it was: the row's working fields and its records."""
    row = Ticket.objects.filter(pk=ticket.pk).values(
        "state", "assignee_id", "facts", "failed_attempts", "last_contact_outcome",
        "escalated_from", "closed_at", "closing_code", "awaiting_agent", "gamas_incident_id",
        "nossa_number", "claimed_at",
    ).get()  # fmt: skip
    row["log_rows"] = log_count(ticket)
    row["escalations"] = Escalation.objects.filter(ticket_id=ticket.pk).count()
    return row


def incident_snapshot(incident) -> dict:
    row = (
        GamasIncident.objects.filter(pk=incident.pk)
        .values("state", "closed_at", "closing_code", "recovered_at")
        .get()
    )
    row["log_rows"] = log_count(incident=incident)
    return row


def replay_log(ticket) -> list[str]:
    """The states the log walks through, checking each row starts where the previous ended."""
    rows = list(
        TransitionLog.objects.filter(ticket_id=ticket.pk)
        .order_by("pk")
        .values_list("transition", "from_state", "to_state")
    )
    assert rows, "a ticket has at least its arrival row"
    assert rows[0][:2] == ("arrive", ""), rows[0]
    states = [rows[0][2]]
    for name, from_state, to_state in rows[1:]:
        assert from_state == states[-1], f"{name}: {from_state} after {states[-1]}"
        states.append(to_state)
    return states


# --- The machines' metadata -------------------------------------------------------------------
def transitions_of(machine) -> list:
    return list(machine._meta.get_field("state").get_all_transitions(machine))


def targets_of(found) -> list[str]:
    """A transition's possible targets (Support's answer may return to any working state)."""
    if isinstance(found.target, str):
        return [found.target]
    return list(found.target.allowed_states)


def machine_graph(machine) -> dict[str, set[str]]:
    graph = {state: set() for state in machine.states}
    for found in transitions_of(machine):
        graph.setdefault(found.source, set()).update(targets_of(found))
    return graph


def reachable_from(machine, start: str) -> set[str]:
    graph, seen, todo = machine_graph(machine), {start}, deque([start])
    while todo:
        for nxt in graph.get(todo.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def path_to(machine, state: str, start: str = "new") -> list:
    """The shortest list of transitions from `start` to `state` (answers to Support excluded)."""
    paths, todo = {start: []}, deque([start])
    while todo:
        here = todo.popleft()
        if here == state:
            return paths[here]
        for found in transitions_of(machine):
            if found.source != here or not isinstance(found.target, str):
                continue
            if found.target not in paths:
                paths[found.target] = [*paths[here], found]
                todo.append(found.target)
    raise AssertionError(f"{state} cannot be reached from {start} in {machine.__name__}")


def permission_name(found) -> str:
    return found.permission.__name__


AGENT_PERMISSIONS = frozenset({"may_claim", "assigned_agent", "agent_or_system"})
# Conditions that only bite in some states (elsewhere they hold by definition).
CONDITION_STATES = {
    "nossa_number_received": frozenset({"nossa_ticket_created", "converted"}),
    "issue_handled": frozenset({"issue_found"}),
}


def condition_can_fail(condition, state: str) -> bool:
    states = CONDITION_STATES.get(condition.__name__)
    return states is None or state in states


@dataclass
class FlowScene:
    """One ticket of a flow with its people: its agent, another agent, Support, a supervisor.

    `walk_to` drives the ticket through the services to a state, doing what each step needs
    (the right actor, valid inputs, its conditions made true), the way the floor would.
    """

    flow: str
    ticket: Ticket
    agent: User
    other_agent: User
    support: User
    supervisor: User
    incidents: list = field(default_factory=list)

    @property
    def machine(self):
        return FLOWS[self.flow]

    def reload(self):
        self.ticket = reload(self.ticket)
        return self.ticket

    # -- people and inputs --
    def hold(self):
        """Make sure the scene's agent holds the ticket (claiming it when it waits)."""
        ticket = self.reload()
        if ticket.assignee_id != self.agent.pk and ticket.awaiting_agent:
            services.claim_ticket(ticket_id=ticket.pk, agent=self.agent)
        return self.reload()

    def actor_for(self, found):
        name = permission_name(found)
        if name in AGENT_PERMISSIONS:
            return self.agent
        if name == "support_desk":
            return self.support
        if name == "system":
            return None
        raise AssertionError(f"no actor for permission {name}")

    def open_incident(self):
        incident = open_gamas(actor=self.supervisor)
        self.incidents.append(incident)
        return incident

    def inputs_for(self, found) -> dict:
        inputs = {}
        for spec in found.custom["inputs"]:
            if spec.kind == "closing_code":  # the step's own codes (SOP: one per way it closes)
                inputs[spec.name] = (spec.choices or self.machine.closing_codes)[0][0]
            elif spec.kind == "choice":
                inputs[spec.name] = spec.choices[0][0]
            elif spec.kind == "incident":
                inputs[spec.name] = self.open_incident().pk
            elif spec.kind == "offer":
                inputs[spec.name] = "OFFER-50M"
            else:
                inputs[spec.name] = f"{spec.name} written by the test"
        return inputs

    # -- conditions --
    def satisfy(self, condition) -> None:
        name = condition.__name__
        limit = django_settings.TIER2_MAX_CONTACT_ATTEMPTS
        if name == "customer_reached":
            record_calls(self.hold(), self.agent, ContactOutcome.ANSWERED)
        elif name == "attempts_exhausted":
            missing = max(0, limit - self.reload().failed_attempts)
            record_calls(self.hold(), self.agent, *[ContactOutcome.NO_ANSWER] * missing)
        elif name == "service_online":
            set_facts(self.ticket, ibooster={"status": "online", "rx_power": -19.5})
        elif name == "nossa_number_received":
            Ticket.objects.filter(pk=self.ticket.pk, nossa_number="").update(
                nossa_number=NOSSA_NUMBER
            )
        elif name == "issue_handled":
            ticket = self.hold()
            answered = ticket.escalations.filter(status=EscalationStatus.ANSWERED).exists()
            if ticket.state == "issue_found" and not answered:
                self.run("escalate", actor=self.agent, inputs={"reason": "Issue for Support"})
                self.run("answer_escalation", actor=self.support, inputs={"answer": "Handled"})
        elif name == "offer_checked":
            arrears = (self.reload().facts.get("epayment") or {}).get("arrears_total", 0)
            set_facts(self.ticket, webcare={"offers": ["OFFER-50M"]},
                      epayment={"arrears_total": arrears})  # fmt: skip
        elif name == "no_arrears":
            set_facts(self.ticket, epayment={"arrears_total": 0})
        elif name == "has_arrears":
            set_facts(self.ticket, epayment={"arrears_total": 250000})
        else:
            raise AssertionError(f"no way to satisfy {name}")
        self.reload()

    def break_(self, condition) -> None:
        """Make `condition` false (the others of the transition are left as they are)."""
        name = condition.__name__
        limit = django_settings.TIER2_MAX_CONTACT_ATTEMPTS
        if name == "customer_reached":
            record_calls(self.hold(), self.agent, ContactOutcome.NO_ANSWER)
        elif name == "attempts_exhausted":
            ticket = self.hold()
            if ticket.failed_attempts >= limit:  # calls cannot be undone: set-up shortcut
                Ticket.objects.filter(pk=ticket.pk).update(failed_attempts=limit - 1)
            missing = max(0, limit - 1 - self.reload().failed_attempts)
            record_calls(self.ticket, self.agent, *[ContactOutcome.BUSY] * missing)
        elif name == "service_online":
            set_facts(self.ticket, ibooster={"status": "los", "rx_power": -40.0})
        elif name == "nossa_number_received":
            Ticket.objects.filter(pk=self.ticket.pk).update(nossa_number="")
        elif name == "issue_handled":
            assert not self.ticket.escalations.filter(status=EscalationStatus.ANSWERED).exists()
        elif name == "offer_checked":
            facts = dict(self.reload().facts)
            facts.pop("webcare", None)
            facts.pop("epayment", None)
            Ticket.objects.filter(pk=self.ticket.pk).update(facts=facts)
        elif name == "no_arrears":
            set_facts(self.ticket, webcare={"offers": ["OFFER-50M"]},
                      epayment={"arrears_total": 250000})  # fmt: skip
        elif name == "has_arrears":
            set_facts(self.ticket, webcare={"offers": ["OFFER-50M"]},
                      epayment={"arrears_total": 0})  # fmt: skip
        else:
            raise AssertionError(f"no way to break {name}")
        self.reload()

    # -- moving --
    def run(self, name: str, *, actor, inputs: dict | None = None, **extra):
        if name == "claim":
            services.claim_ticket(ticket_id=self.ticket.pk, agent=actor, **extra)
        else:
            services.transition_ticket(
                ticket_id=self.ticket.pk, name=name, actor=actor, inputs=inputs, **extra
            )
        return self.reload()

    def prepare(self, found, *, leave=None):
        """Get ready to take `found`: hold the ticket if an agent acts, make its conditions true
        (all but `leave`)."""
        if permission_name(found) in ("assigned_agent", "agent_or_system"):
            self.hold()
        for condition in found.conditions:
            if condition is not leave:
                self.satisfy(condition)
        return self.actor_for(found), self.inputs_for(found)

    def step(self, found):
        actor, inputs = self.prepare(found)
        return self.run(found.name, actor=actor, inputs=inputs)

    def walk_to(self, state: str):
        """Drive the ticket from where it is now to `state` through the services."""
        self.reload()
        for found in path_to(self.machine, state, start=self.ticket.state):
            self.step(found)
        assert self.ticket.state == state, (self.ticket.state, state)
        return self.ticket

    def escalate_from(self, state: str):
        """Walk to `state`, then escalate to Support from there."""
        self.walk_to(state)
        self.hold()
        return self.run("escalate", actor=self.agent, inputs={"reason": "Needs Support"})


def flow_scene(flow: str) -> FlowScene:
    """A fresh ticket of `flow` at its home site and the people who work it."""
    return FlowScene(
        flow=flow,
        ticket=flow_ticket(flow),
        agent=agent_for(flow),
        other_agent=agent_for(flow, prefix="other-agent"),
        support=role_user("Support"),
        supervisor=role_user("Supervisor"),
    )


def incident_in_state(state: str, *, supervisor=None):
    """A gamas incident with no children, taken to `state` by a supervisor."""
    supervisor = supervisor or role_user("Supervisor")
    incident = open_gamas(actor=supervisor)
    if state in ("recovered", "closed"):
        services.transition_incident(incident_id=incident.pk, name="recover", actor=supervisor)
    if state == "closed":
        services.transition_incident(
            incident_id=incident.pk, name="close", actor=supervisor,
            inputs={"closing_code": GamasIncidentMachine.closing_codes[0][0]},
        )  # fmt: skip
    return GamasIncidentMachine.objects.get(pk=incident.pk)


# --- Business calendars and the SLA policies that count on them --------------------------------
from datetime import time as clock_time  # noqa: E402

from tickets.models import BusinessCalendar, SlaHours, SlaPolicy  # noqa: E402


def calendar(name: str = "Office hours", **fields) -> BusinessCalendar:
    """A business calendar: Monday to Friday, 08:00-17:00 WIB, closed on national holidays and
    collective leave days unless `fields` say otherwise."""
    values = {
        "time_zone": "Asia/Jakarta",
        "day_starts": clock_time(8),
        "day_ends": clock_time(17),
        "weekdays": [0, 1, 2, 3, 4],
        "national_holidays": True,
        "collective_leave": True,
        **fields,
    }
    return BusinessCalendar.objects.create(name=name, **values)


def policy(
    flow: str = "nossa", priority: int = 3, *, claim=30, resolve=120, answer=120,
    hours=SlaHours.ROUND_THE_CLOCK, on=None,
) -> SlaPolicy:  # fmt: skip
    """An SLA policy; `on`: the business calendar it names (hours `calendar`)."""
    return SlaPolicy.objects.create(
        flow=flow, priority=priority, claim_minutes=claim, resolve_minutes=resolve,
        escalation_answer_minutes=answer, hours=SlaHours.CALENDAR if on else hours, calendar=on,
    )  # fmt: skip


# --- Dispatch ------------------------------------------------------------------------------------
from tickets.services import dispatch as dispatch_service  # noqa: E402


def dispatch_at(code: str, mode: str, **fields) -> None:
    """Set a site's dispatch mode (and e.g. `offer_seconds`); the process's cache of push sites
    reads it again at once."""
    Site.objects.filter(code=code).update(dispatch_mode=mode, **fields)
    dispatch_service.push_sites.forget()

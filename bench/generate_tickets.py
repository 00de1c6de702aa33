"""Bulk ticket generator: N tickets over every flow, state, site, priority and age, fast.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tier2_bench \\
        .venv/bin/python bench/generate_tickets.py --tickets 1000000

Creates lines and their customers (one each, as the line directory
`integrations/adapters/lines.py` has them, so the stubs agree), a few gamas incidents on their
OLTs, bench agents (`bench-agent-PST-01`, the names `bench/claim_rate.py` uses) plus the demo
users of `manage.py load_demo`, then N
tickets: created over the last --days, most closed (with closing code, agent and close time),
the rest open in every state of their flow's machine, with SLA deadlines and marks, NOSSA
numbers, Fresh Lapul links to an earlier close on the same line, and gamas children in their
incident's area. --log also writes each ticket's transition log (the cheapest path of its
machine to its state, as `load_demo` walks it).

On PostgreSQL the rows go in with COPY (one transaction per --batch), from --jobs processes at
once (default: one per core); on SQLite with bulk_create, in this process. Nothing about the
database is changed for the load beyond the session setting `synchronous_commit = off`, unless
--rebuild-indexes sets the secondary indexes of the tickets, the log and the escalations aside
for the load and builds them after it (noted in the database until built, so an interrupted run
is mended by --restore-indexes or by the next run). The dashboards' daily roll-ups are rebuilt
and the tables analysed at the end. Rows are added to what is there: run it twice for twice the
tickets.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import queue
import random
import sys
import threading
import time
from bisect import bisect
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tier2.settings")

# Share of each flow in the generated tickets.
FLOW_SHARES = {
    "nossa": 34,
    "callback": 14,
    "gamas": 12,
    "c4_caring": 6,
    "force_close": 10,
    "fresh_lapul": 8,
    "ideas": 16,
}
PRIORITY_SHARES = {1: 5, 2: 15, 3: 70, 4: 10}  # critical, high, normal, low
OPEN_SHARE = 0.10  # tickets still open (default of --open-share); the rest are closed
NEW_SHARE_OF_OPEN = 0.30  # of the open ones, still waiting in the queue
DEMO_AGENT_SHARE = 0.01  # worked tickets that went to the demo agents (the rest: bench agents)
# States in which an agent no longer holds the ticket although it is open.
UNHELD_STATES = frozenset({"new", "waiting_recovery"})
OPEN_INCIDENT_STATES = frozenset({"linked", "waiting_recovery", "linked_to_gamas"})
RECOVERED_INCIDENT_STATES = frozenset({"verifying", "not_recovered", "converted"})
REACHED_STATES = frozenset(
    {"resolved_on_call", "nossa_ticket_created", "cared", "issue_found", "confirmed_ok"}
    | {"not_ok", "reopened", "accepted", "order_entered", "declined"}
)
UNREACHABLE_STATES = frozenset({"unreachable"})


def setup_django() -> None:
    import django

    django.setup()


@dataclass
class Result:
    tickets: int = 0
    customers: int = 0
    services: int = 0
    incidents: int = 0
    log_rows: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.tickets / self.seconds if self.seconds else 0.0


# --- Writing rows: COPY on PostgreSQL, bulk_create elsewhere ------------------------------------
def _escape(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
        text = text.replace("\r", "\\r")
    return text


def _encoder(model_field):
    """A function turning a Python value into COPY text format for this field."""
    from django.db import models

    if isinstance(model_field, models.DateTimeField):
        return lambda value: "\\N" if value is None else value.isoformat()
    if isinstance(model_field, models.BooleanField):
        return lambda value: "\\N" if value is None else ("t" if value else "f")
    if isinstance(model_field, models.JSONField):
        return lambda value: "\\N" if value is None else _escape(json.dumps(value))
    if isinstance(model_field, models.DateField):
        return lambda value: "\\N" if value is None else value.isoformat()
    if isinstance(model_field, models.CharField | models.TextField):
        return lambda value: "\\N" if value is None else _escape(value)
    return lambda value: "\\N" if value is None else str(value)


class Table:
    """How to write dict rows of one model: every concrete column, in order.

    A column the generator does not fill takes the field's default, so a new field with a
    default does not break the generator; one without a default stops it with its name.
    """

    def __init__(self, model, *, with_id: bool = True):
        self.model = model
        self.fields = [
            item for item in model._meta.concrete_fields if with_id or not item.primary_key
        ]
        self.columns = [item.column for item in self.fields]
        self.names = [item.attname for item in self.fields]
        self.encoders = [_encoder(item) for item in self.fields]
        # Columns the generator leaves out take the field's default ("" for text, None when
        # nullable); a field with none must be filled by the generator (`check` says which).
        self.defaults = {
            item.attname: item.get_default()
            for item in self.fields
            if item.has_default() or item.null or item.primary_key or item.empty_strings_allowed
        }
        self.required = [item.attname for item in self.fields if item.attname not in self.defaults]

    def check(self, row: dict) -> None:
        unknown = [name for name in self.required if name not in row]
        if unknown:
            raise SystemExit(
                f"{self.model.__name__} has fields the generator does not fill and that have "
                f"no default: {unknown}. Teach bench/generate_tickets.py about them."
            )

    def tsv(self, rows: list[dict]) -> io.StringIO:
        buffer = io.StringIO()
        defaults, names, encoders = self.defaults, self.names, self.encoders
        write = buffer.write
        for row in rows:
            write(
                "\t".join(
                    [
                        encode(row[name] if name in row else defaults[name])
                        for name, encode in zip(names, encoders, strict=True)
                    ]
                )
            )
            write("\n")
        buffer.seek(0)
        return buffer

    def prepare(self, connection, rows: list[dict]):
        """What `write` sends: COPY text on PostgreSQL (made here, in the generating thread),
        model instances elsewhere."""
        if rows:
            self.check(rows[0])
        if connection.vendor == "postgresql":
            return self.tsv(rows)
        known = set(self.names)
        return [
            self.model(**{key: value for key, value in row.items() if key in known}) for row in rows
        ]

    def insert(self, connection, rows: list[dict]) -> None:
        self.write(connection, self.prepare(connection, rows))

    def write(self, connection, prepared) -> None:
        if connection.vendor != "postgresql":
            self.model.objects.bulk_create(prepared, batch_size=2000)
            return
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(column) for column in self.columns)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", prepared)


class BatchWriter:
    """Inserts batches in one transaction each; on PostgreSQL from a second thread with its own
    connection, so Python builds the next batch while the database takes this one (COPY waits
    on the server without holding the GIL). Bounded: at most two batches wait in memory."""

    def __init__(self, connection, *, progress):
        self.threaded = connection.vendor == "postgresql"
        self.progress = progress
        self.error: BaseException | None = None
        self.queue: queue.Queue = queue.Queue(maxsize=2)
        self.thread = threading.Thread(target=self._run, name="copy-writer", daemon=True)
        if self.threaded:
            self.thread.start()

    def put(self, batch: list[tuple]) -> None:
        """`batch`: (table, prepared rows, count) in insertion order."""
        if self.error is not None:
            raise self.error
        if self.threaded:
            self.queue.put(batch)
        else:
            self._write(batch)

    def close(self) -> None:
        if self.threaded:
            self.queue.put(None)
            self.thread.join()
        if self.error is not None:
            raise self.error

    def _write(self, batch) -> None:
        from django.db import connection, transaction

        with transaction.atomic():
            _session_settings(connection)
            for table, prepared, _count in batch:
                table.write(connection, prepared)
        self.progress(batch)

    def _run(self) -> None:
        from django.db import connection

        try:
            while (batch := self.queue.get()) is not None:
                if self.error is None:
                    try:
                        self._write(batch)
                    except Exception as problem:  # noqa: BLE001 - handed to the main thread
                        self.error = problem
        finally:
            connection.close()


def reserve_ids(connection, model, count: int) -> list[int]:
    """Primary keys for `count` new rows, so rows can point at each other before insertion."""
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [row[0] for row in cursor.fetchall()]
    from django.db.models import Max

    start = (model.objects.aggregate(top=Max("pk"))["top"] or 0) + 1
    return list(range(start, start + count))


# --- Indexes set aside for a load (--rebuild-indexes) -------------------------------------------
# The definitions of the indexes set aside, kept in the database itself until each is rebuilt,
# so a run that dies in between leaves them to the next run (or to --restore-indexes).
SET_ASIDE_TABLE = "bench_set_aside_index"


def load_tables() -> list[str]:
    """The tables `Job.load` writes its rows into (tickets, their log, their escalations)."""
    from tickets.models import Escalation, Ticket, TransitionLog

    return [model._meta.db_table for model in (Ticket, TransitionLog, Escalation)]


def set_aside_indexes(connection, tables=None) -> list[str]:
    """Drop the secondary indexes (not those behind a primary key or a unique or exclusion
    constraint) of `tables` (default: `load_tables`) on PostgreSQL, each noted in
    SET_ASIDE_TABLE in the same transaction as its drop; returns their names. Built afterwards,
    each is one sort instead of one probe per row written."""
    from django.db import transaction

    tables = load_tables() if tables is None else tables

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {SET_ASIDE_TABLE} "
            "(name text PRIMARY KEY, table_name text NOT NULL, definition text NOT NULL)"
        )
        cursor.execute(
            """
            SELECT i.relname, t.relname, pg_get_indexdef(x.indexrelid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            JOIN pg_class t ON t.oid = x.indrelid
            WHERE t.relname = ANY(%s) AND t.relnamespace = current_schema()::regnamespace
              AND NOT x.indisprimary
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            ORDER BY i.relname
            """,
            [list(tables)],
        )
        found = cursor.fetchall()
        for name, table, definition in found:
            cursor.execute(
                f"INSERT INTO {SET_ASIDE_TABLE} (name, table_name, definition) "  # noqa: S608
                "VALUES (%s, %s, %s) ON CONFLICT (name) DO NOTHING",
                [name, table, definition],
            )
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    return [name for name, _table, _definition in found]


def rebuild_indexes(connection, *, jobs: int = 1, log=print) -> list[str]:
    """Build every index noted in SET_ASIDE_TABLE, `jobs` at a time, each on its own connection
    and in one transaction with the removal of its note; returns their names (none: nothing was
    set aside)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [SET_ASIDE_TABLE])
        if cursor.fetchone()[0] is None:
            return []
        cursor.execute(
            f"SELECT s.name, s.definition FROM {SET_ASIDE_TABLE} s "  # noqa: S608 - a constant
            # biggest first; a partitioned table's size is its partitions'
            "ORDER BY (SELECT sum(pg_relation_size(tree.relid)) "
            "FROM pg_partition_tree(quote_ident(s.table_name)) tree) DESC, s.name"
        )
        pending = cursor.fetchall()
    if not pending:
        return []
    log(f"  building {len(pending)} indexes set aside, {jobs} at a time")
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in pending:
        work.put(item)
    failures: list[str] = []

    def build() -> None:
        from django.db import connection as own
        from django.db import transaction

        try:
            while failures == []:
                try:
                    name, definition = work.get_nowait()
                except queue.Empty:
                    return
                started = time.perf_counter()
                with transaction.atomic(), own.cursor() as cursor:
                    # several builds at once already share the cores: no parallel workers each
                    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
                    cursor.execute("SET LOCAL max_parallel_maintenance_workers = 0")
                    # a partitioned table's index reads "ON ONLY" (its partitions' indexes
                    # apart): built without it, the statement builds and attaches them all
                    cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
                    done = f"DELETE FROM {SET_ASIDE_TABLE} WHERE name = %s"  # noqa: S608
                    cursor.execute(done, [name])
                log(f"    {name}: {time.perf_counter() - started:.1f} s")
        except Exception as problem:  # noqa: BLE001 - reported by the caller
            failures.append(f"{type(problem).__name__}: {problem}")
        finally:
            own.close()

    builders = [threading.Thread(target=build, name=f"index-{n}") for n in range(max(1, jobs))]
    for builder in builders:
        builder.start()
    for builder in builders:
        builder.join()
    if failures:
        raise SystemExit(f"rebuilding the indexes set aside failed: {failures[0]}")
    return [name for name, _definition in pending]


# --- The world the tickets live in ----------------------------------------------------------------
@dataclass
class World:
    service_ids: list[int]
    by_olt: dict[str, list[int]]
    site_ids: list[int]  # by the routing rule: sites ordered by code, picked by last digit
    malang_id: int
    agents: dict[tuple[int, str], list[int]]  # (site id, flow) -> bench and demo agent ids
    demo_agents: dict[tuple[int, str], list[int]]
    campaigns: dict[str, list[int]]
    open_incidents: list[tuple[int, str]]
    recovered_incidents: list[tuple[int, str]]
    closed_incidents: list[tuple[int, str]]


def ensure_agents(per_site: int) -> tuple[dict, dict]:
    """Bench agents (`bench-agent-<site>-NN`, as claim_rate.py names them) and the demo users."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from tickets.management.commands.load_demo import DEMO_USERS, ensure_demo_users
    from tickets.models import AgentProfile, Flow, Site

    user_model = get_user_model()
    demo = ensure_demo_users(set_passwords=False)
    group = Group.objects.get(name="Agent")
    agents: dict[tuple[int, str], list[int]] = defaultdict(list)
    demo_agents: dict[tuple[int, str], list[int]] = defaultdict(list)
    for site in Site.objects.all():
        flows = [flow for flow in Flow.values if flow != Flow.C4_CARING or site.code == "MLG"]
        for number in range(1, per_site + 1):
            user, created = user_model.objects.get_or_create(
                username=f"bench-agent-{site.code}-{number:02d}"
            )
            if created:
                user.set_unusable_password()
                user.save()
                user.groups.add(group)
            AgentProfile.objects.update_or_create(
                user=user,
                defaults={"site": site, "flows": flows, "agent_code": user.username[-12:]},
            )
            for flow in flows:
                agents[(site.pk, flow)].append(user.pk)
    for spec in DEMO_USERS:
        if spec.site:
            site_id = Site.objects.get(code=spec.site).pk
            for flow in spec.flows:
                demo_agents[(site_id, flow)].append(demo[spec.username].pk)
    return dict(agents), dict(demo_agents)


def make_world(connection, *, services: int, rng: random.Random, agents_per_site: int, log):
    from django.contrib.auth import get_user_model

    from integrations.adapters.lines import SERVICE_NUMBER_PREFIXES
    from integrations.adapters.lines import line as directory_line
    from tickets.management.commands.load_demo import ensure_demo_campaigns
    from tickets.models import Customer, GamasIncident, Service, Site

    agents, demo_agents = ensure_agents(agents_per_site)
    campaigns = {
        flow: [campaign.pk for campaign in items] for flow, items in ensure_demo_campaigns().items()
    }
    # One customer per line, and both as the line directory (which the stubs answer from) has
    # them, so a generated ticket, I-SISKA and a gamas incident on its OLT agree.
    customer_ids = reserve_ids(connection, Customer, services)
    service_ids = reserve_ids(connection, Service, services)
    customers, lines = [], []
    by_olt: dict[str, list[int]] = defaultdict(list)
    for customer_id, pk in zip(customer_ids, service_ids, strict=True):
        # prefix + 8 digits from 10000000: never the demo numbers (prefix + "00" + 6 digits).
        found = directory_line(f"{rng.choice(SERVICE_NUMBER_PREFIXES)}{10_000_000 + pk:08d}")
        customers.append(
            {
                "id": customer_id,
                "name": found.customer_name,
                "phone": found.phone,
                "email": found.email,
                "address": found.address,
            }
        )
        lines.append(
            {
                "id": pk,
                "service_number": found.service_number,
                "customer_id": customer_id,
                "package": found.package.name,
                "address": found.address,
                "sto": found.sto,
                "olt": found.olt,
                "odp": found.odp,
            }
        )
        by_olt[found.olt].append(pk)
    from django.db import transaction

    with transaction.atomic():
        _session_settings(connection)
        for start in range(0, len(customers), 50_000):
            Table(Customer).insert(connection, customers[start : start + 50_000])
        for start in range(0, len(lines), 50_000):
            Table(Service).insert(connection, lines[start : start + 50_000])
    log(f"  {len(customers):,} customers, {len(lines):,} lines")

    supervisor = get_user_model().objects.get(username="supervisor")
    now_ = _now()
    incidents = {"open": [], "recovered": [], "closed": []}
    olt_codes = rng.sample(sorted(by_olt), k=min(24, len(by_olt)))
    for number, olt in enumerate(olt_codes):
        kind = ("open", "recovered", "closed")[number % 3]
        opened = now_ - timedelta(hours=rng.uniform(2, 48))
        incident = GamasIncident.objects.create(
            title=f"Gangguan massal {olt}",
            area_level="olt",
            area_code=olt,
            state=kind,
            opened_at=opened,
            recovered_at=None if kind == "open" else opened + timedelta(hours=rng.uniform(1, 2)),
            closed_at=opened + timedelta(hours=3) if kind == "closed" else None,
            closing_code="RECOVERED" if kind == "closed" else "",
            opened_by=supervisor,
        )
        incidents[kind].append((incident.pk, olt))
    sites = list(Site.objects.order_by("code"))
    return World(
        service_ids=service_ids,
        by_olt=dict(by_olt),
        site_ids=[site.pk for site in sites],
        malang_id=next(site.pk for site in sites if site.code == "MLG"),
        agents=agents,
        demo_agents=demo_agents,
        campaigns=campaigns,
        open_incidents=incidents["open"],
        recovered_incidents=incidents["recovered"],
        closed_incidents=incidents["closed"],
    ), len(customers)


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _session_settings(connection) -> None:
    """Per-transaction only: do not wait for the WAL flush at each batch's commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


# --- What each flow's tickets can look like -----------------------------------------------------
@dataclass
class FlowShape:
    code: str
    states: list[str]
    open_states: list[str]
    closing_codes: list[str]
    unqueued: frozenset[str]
    escalation_returns: list[str]
    paths: dict[str, list]  # state -> [(name, source, target, by_system)]
    policies: dict[int, tuple]  # priority -> (claim within, resolve within, the policy)
    answer_minutes: int  # Support's answer target (normal priority)


def flow_shapes() -> dict[str, FlowShape]:
    from tickets import sla
    from tickets.flows import FLOWS
    from tickets.flows.base import CLOSED, ESCALATED, system
    from tickets.management.commands.load_demo import cheapest_paths, machine_steps

    shapes = {}
    for code, machine in FLOWS.items():
        best = cheapest_paths(machine)
        permission = {step.name: found.permission for step, found in machine_steps(machine)}
        answer = getattr(machine, "answer_escalation", None)
        returns = []
        if answer is not None:
            for found in answer._django_fsm.transitions.values():
                returns = list(getattr(found.target, "allowed_states", []) or [])
        paths = {}
        for state, path in best.items():
            paths[state] = [
                (step.name, step.source, step.target, permission[step.name] is system)
                for step in path
            ]
        escalate = next(
            (
                (step.name, step.source, step.target)
                for step, _found in machine_steps(machine)
                if step.target == ESCALATED
            ),
            None,
        )
        for source in returns:
            if escalate and source in best:
                paths[f"{ESCALATED}:{source}"] = [
                    *paths[source],
                    (escalate[0], source, ESCALATED, False),
                ]
        policies = {}
        for priority in PRIORITY_SHARES:
            policy = sla.policy_for(code, priority)
            policies[priority] = (
                timedelta(minutes=policy.claim_minutes),
                timedelta(minutes=policy.resolve_minutes),
                policy,
            )
        shapes[code] = FlowShape(
            code=code,
            states=list(machine.states),
            open_states=[state for state in machine.states if state != CLOSED],
            closing_codes=[item for item, _label in machine.closing_codes],
            unqueued=frozenset(machine.unqueued_states),
            escalation_returns=[state for state in returns if state in best],
            paths=paths,
            policies=policies,
            answer_minutes=sla.policy_for(code, 3).escalation_answer_minutes,
        )
    return shapes


# --- The tickets ----------------------------------------------------------------------------------
class TicketMaker:
    def __init__(
        self,
        *,
        world: World,
        shapes: dict[str, FlowShape],
        rng,
        days: int,
        now,
        open_share: float = OPEN_SHARE,
    ):
        from django.conf import settings

        from tickets.services import FAULT_FLOWS

        self.world, self.shapes, self.rng, self.now = world, shapes, rng, now
        from tier2.partitions import month_start

        self.month_of = month_start
        self.open_share = open_share
        self.span = timedelta(days=days).total_seconds()
        self.risk_share = settings.TIER2_SLA_AT_RISK_SHARE
        self.calendars: dict[tuple, object] = {}
        self.slg = timedelta(hours=settings.TIER2_SLG_HOURS)
        self.max_attempts = settings.TIER2_MAX_CONTACT_ATTEMPTS
        self.fault_flows = frozenset(FAULT_FLOWS)
        self.flows = list(FLOW_SHARES)
        self.flow_weights = list(accumulate(FLOW_SHARES.values()))
        self.priorities = list(PRIORITY_SHARES)
        self.priority_weights = list(accumulate(PRIORITY_SHARES.values()))
        self.recent_closed: list[tuple[int, int, datetime]] = []
        from tickets.management.commands.load_demo import SUMMARIES

        self.summaries = {flow: SUMMARIES.get(flow) or SUMMARIES["fault"] for flow in FLOW_SHARES}
        self.escalation_answer = {
            flow: timedelta(minutes=shape.answer_minutes) for flow, shape in shapes.items()
        }

    def _pick(self, items, cumulative):
        return items[bisect(cumulative, self.rng.random() * cumulative[-1])]

    def _agent(self, site_id: int, flow: str) -> int | None:
        world, rng = self.world, self.rng
        pool = world.demo_agents if rng.random() < DEMO_AGENT_SHARE else world.agents
        choices = pool.get((site_id, flow)) or world.agents.get((site_id, flow))
        return rng.choice(choices) if choices else None

    def _calendar(self, policy, site_id: int):
        """The calendar the policy counts on at the site (None: 24x7), compiled once per run:
        the walk over its days is in memory, so a million deadlines cost no query."""
        key = (policy.flow, policy.priority, site_id)
        if key not in self.calendars:
            from tickets.sla import calendar_for

            self.calendars[key] = calendar_for(policy, site_id)
        return self.calendars[key]

    def _deadline(self, start: datetime, within: timedelta, calendar) -> datetime:
        if calendar is None:
            return start + within
        from tickets.sla import add_working_time

        return add_working_time(start, within, calendar)

    def ticket(self, pk: int) -> dict:
        rng, now, world = self.rng, self.now, self.world
        flow = self._pick(self.flows, self.flow_weights)
        shape = self.shapes[flow]
        priority = self._pick(self.priorities, self.priority_weights)
        if flow == "fresh_lapul":
            priority = max(1, priority - 1)
        claim_within, resolve_within, policy = shape.policies[priority]
        is_open = rng.random() < self.open_share
        if is_open:
            if rng.random() < NEW_SHARE_OF_OPEN:
                state = "new"
            else:
                state = rng.choice(shape.open_states[1:] or shape.open_states)
            age = min(resolve_within * rng.uniform(0.02, 1.4), timedelta(seconds=self.span))
            if state == "new":
                age = claim_within * rng.uniform(0.05, 1.3)
            created = now - age
        else:
            state = "closed"
            created = now - timedelta(seconds=rng.random() * self.span)

        incident_id, service_id = None, None
        if state in OPEN_INCIDENT_STATES and world.open_incidents:
            incident_id, olt = rng.choice(world.open_incidents)
        elif flow == "gamas" and state in RECOVERED_INCIDENT_STATES and world.recovered_incidents:
            incident_id, olt = rng.choice(world.recovered_incidents)
        elif flow == "gamas" and state == "closed" and world.closed_incidents:
            incident_id, olt = rng.choice(world.closed_incidents + world.recovered_incidents)
        if incident_id is not None:
            service_id = rng.choice(world.by_olt[olt])
        previous_id = None
        if flow == "fresh_lapul" and self.recent_closed:
            prior_id, prior_service, prior_closed = rng.choice(self.recent_closed)
            if prior_closed < created:
                previous_id, service_id = prior_id, prior_service
        if service_id is None:
            service_id = rng.choice(world.service_ids)
        if flow == "c4_caring":
            site_id = world.malang_id
        else:
            site_id = world.site_ids[(service_id % 10) % len(world.site_ids)]

        calendar = self._calendar(policy, site_id)
        claim_by = self._deadline(created, claim_within, calendar)
        resolve_by = self._deadline(created, resolve_within, calendar)
        if calendar is None:
            warn_at = created + (resolve_by - created) * self.risk_share
        else:  # as sla.apply_deadlines: the at-risk share of the working time
            warn_at = self._deadline(created, resolve_within * self.risk_share, calendar)
        escalated_from = ""
        if state == "escalated" and shape.escalation_returns:
            escalated_from = rng.choice(shape.escalation_returns)

        held = state not in UNHELD_STATES and not (
            flow == "gamas" and state in RECOVERED_INCIDENT_STATES and rng.random() < 0.5
        )
        assignee = self._agent(site_id, flow) if held else None
        claimed_at = None
        if assignee is not None:
            claimed_at = created + claim_within * rng.uniform(0.1, 1.05)
        closed_at, closing_code = None, ""
        if state == "closed":
            closed_at = min(created + resolve_within * rng.uniform(0.05, 1.1), now)
            if claimed_at is not None and claimed_at > closed_at:
                claimed_at = created + (closed_at - created) / 2
            closing_code = rng.choice(shape.closing_codes) if shape.closing_codes else ""
        elif claimed_at is not None and claimed_at > now:
            claimed_at = created + (now - created) / 2
        last = closed_at or (claimed_at or created) + (now - (claimed_at or created)) * 0.5

        failed, outcome = 0, ""
        if state in UNREACHABLE_STATES or "UNREACHABLE" in closing_code:
            failed, outcome = self.max_attempts, "no_answer"
        elif state in REACHED_STATES or state == "closed":
            outcome = "answered"
        elif state == "contacting":
            failed = rng.randint(0, self.max_attempts - 1)
            outcome = "no_answer" if failed else ""

        # SLA marks, as the sweep would have set them while the ticket was open.
        end = closed_at or now
        breach = resolve_by if resolve_by < end else None
        waited_until = claimed_at or (None if state == "new" else created)
        if claim_by < end and (waited_until is None or waited_until > claim_by):
            breach = min(breach or claim_by, claim_by)
        risk = warn_at if warn_at < end else None
        if breach is not None and (risk is None or breach < risk):
            risk = breach
        status = "ok" if risk is None else ("breached" if breach is not None else "at_risk")

        source_system = source_ref = nossa = ""
        if flow in ("nossa", "force_close") or (flow == "fresh_lapul" and pk % 2):
            nossa = f"IN{20_000_000 + pk:08d}"
            source_system, source_ref = ("nossa-fc" if flow == "force_close" else "nossa"), nossa
        elif flow == "callback" or flow == "fresh_lapul":
            source_system, source_ref = "callback", f"CB{3_000_000_000 + pk}"
        elif flow == "gamas":
            source_system = "ivr"
        category, summary = rng.choice(self.summaries[flow])
        campaign_ids = world.campaigns.get(flow)
        campaign_id = rng.choice(campaign_ids) if campaign_ids else None

        row = {
            "id": pk,
            "flow": flow,
            "state": state,
            "priority": priority,
            "service_id": service_id,
            "site_id": site_id,
            "category": category,
            "summary": summary,
            "source_system": source_system,
            "source_ref": source_ref,
            "nossa_number": nossa,
            "gamas_incident_id": incident_id,
            "previous_ticket_id": previous_id,
            "campaign_id": campaign_id,
            "assignee_id": assignee,
            "claimed_at": claimed_at,
            "awaiting_agent": assignee is None and state not in shape.unqueued,
            "claim_by": claim_by,
            "resolve_by": resolve_by,
            "slg_due": created + self.slg if flow in self.fault_flows else None,
            "sla_status": status,
            "warn_at": warn_at,
            "sla_paused_seconds": 0,
            "at_risk_at": risk,
            "breached_at": breach,
            "escalated_from": escalated_from,
            "failed_attempts": failed,
            "last_contact_outcome": outcome,
            "closing_code": closing_code,
            "facts": {},
            "created_at": created,
            "updated_at": last,
            "closed_at": closed_at,
        }
        if state == "closed" and flow in ("nossa", "callback"):
            self.recent_closed.append((pk, service_id, closed_at))
            if len(self.recent_closed) > 50_000:
                del self.recent_closed[:10_000]
        return row

    def escalation(self, row: dict) -> dict | None:
        """The open escalation of a ticket waiting for Support, as the Support desk lists it."""
        if row["state"] != "escalated" or row["assignee_id"] is None:
            return None
        start = row["claimed_at"] or row["created_at"]
        raised = start + (self.now - start) * self.rng.uniform(0.3, 0.9)
        due = raised + self.escalation_answer[row["flow"]]
        return {
            "ticket_id": row["id"],
            "raised_by_id": row["assignee_id"],
            "raised_at": raised,
            "reason": "Mohon bantuan Support: data pelanggan tidak sesuai.",
            "from_state": row["escalated_from"],
            "status": "open",
            "due_at": due,
            "breached_at": due if due < self.now else None,
        }

    def log_rows(self, row: dict) -> list[dict]:
        """The ticket's transition log: arrival, then the cheapest path to its state."""
        shape = self.shapes[row["flow"]]
        state = row["state"]
        key = f"escalated:{row['escalated_from']}" if row["escalated_from"] else state
        path = shape.paths.get(key) or shape.paths.get(state) or []
        start, end = row["created_at"], row["updated_at"]
        claimed = row["claimed_at"]
        month = self.month_of(start)  # the partition key: every entry of a ticket has its month
        rows = [
            {
                "month": month,
                "ticket_id": row["id"],
                "actor_id": None,
                "at": start,
                "transition": "arrive",
                "from_state": "",
                "to_state": "new",
                "data": {},
            }
        ]
        moment, second = start, timedelta(seconds=1)
        for index, (name, source, target, by_system) in enumerate(path):
            if name == "claim" and claimed is not None:
                step_at = claimed
            else:  # each step takes an equal share of the time left until the last one
                step_at = moment + (end - moment) / (len(path) - index)
            moment = max(step_at, moment + second)
            rows.append(
                {
                    "month": month,
                    "ticket_id": row["id"],
                    "actor_id": None if by_system else row["assignee_id"],
                    "at": moment,
                    "transition": name,
                    "from_state": source,
                    "to_state": target,
                    "data": {},
                }
            )
        return rows


@dataclass
class Job:
    """Loading tickets into the default database: in this process, or in each of several."""

    world: World
    days: int
    now: datetime
    open_share: float
    batch: int
    transition_log: bool

    def load(self, rng, tickets: int, progress) -> None:
        """Insert `tickets` tickets, batch by batch; `progress(tickets, log rows)` after each."""
        from django.db import connection

        from tickets.models import Escalation, Ticket, TransitionLog

        maker = TicketMaker(
            world=self.world, shapes=flow_shapes(), rng=rng, days=self.days, now=self.now,
            open_share=self.open_share,
        )  # fmt: skip
        tickets_table = Table(Ticket)
        log_table = Table(TransitionLog, with_id=False)
        escalation_table = Table(Escalation, with_id=False)
        writer = BatchWriter(connection, progress=lambda batch: progress(batch[0][2], batch[1][2]))
        done = 0
        try:
            while done < tickets:
                size = min(self.batch, tickets - done)
                rows = [maker.ticket(pk) for pk in reserve_ids(connection, Ticket, size)]
                history = (
                    [entry for row in rows for entry in maker.log_rows(row)]
                    if self.transition_log
                    else []
                )
                waiting = [item for item in map(maker.escalation, rows) if item is not None]
                writer.put(
                    [
                        (tickets_table, tickets_table.prepare(connection, rows), len(rows)),
                        (log_table, log_table.prepare(connection, history), len(history)),
                        (escalation_table, escalation_table.prepare(connection, waiting),
                         len(waiting)),
                    ]
                )  # fmt: skip
                done += size
        finally:
            writer.close()


def _load_in_processes(job: Job, *, jobs: int, tickets: int, seed: int, progress) -> None:
    """`job` split over `jobs` forked processes (PostgreSQL), each with its own connection and
    random stream (seed, process number); their batches are reported here as they commit."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # a child must never share the parent's socket
    context = multiprocessing.get_context("fork")
    reports = context.Queue()
    shares = [tickets // jobs + (1 if number < tickets % jobs else 0) for number in range(jobs)]

    def run(number: int, share: int) -> None:
        try:
            job.load(
                random.Random(f"{seed}/{number}"),
                share,
                lambda count, log_rows: reports.put(("batch", count, log_rows)),
            )
            reports.put(("done", number, None))
        except BaseException as problem:  # noqa: BLE001 - reported to the parent, which stops
            reports.put(("failed", number, f"{type(problem).__name__}: {problem}"))
        finally:
            connections.close_all()

    children = [
        context.Process(target=run, args=(number, share), name=f"generate-{number}")
        for number, share in enumerate(shares)
    ]
    for child in children:
        child.start()
    finished, failure = set(), None
    while len(finished) < len(children) and failure is None:
        try:
            kind, first, second = reports.get(timeout=5)
        except queue.Empty:  # a process killed outright (out of memory) reports nothing
            dead = [n for n, child in enumerate(children) if child.exitcode and n not in finished]
            if dead:
                failure = f"process {dead[0]} exited with {children[dead[0]].exitcode}"
            continue
        if kind == "batch":
            progress(first, second)
        elif kind == "done":
            finished.add(first)
        else:
            failure = f"process {first}: {second}"
    for child in children:
        if failure is not None:
            child.terminate()
        child.join()
    if failure is not None:
        raise SystemExit(f"the generator stopped: {failure}")


def generate(
    *,
    tickets: int,
    services: int | None = None,
    batch: int = 20_000,
    seed: int = 2024,
    days: int = 60,
    transition_log: bool = False,
    agents_per_site: int = 20,
    open_share: float = OPEN_SHARE,
    jobs: int = 1,
    set_aside: bool = False,
    log=print,
) -> Result:
    """Insert `tickets` tickets (and their world) into the default database; see the module doc."""
    from django.db import connection

    from tickets.models import Customer, Service, Ticket, TransitionLog
    from tier2 import partitions

    began = time.perf_counter()
    result = Result()
    rng = random.Random(seed)
    services = services or max(50, min(200_000, tickets // 5))
    log(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    world, result.customers = make_world(
        connection, services=services, rng=rng, agents_per_site=agents_per_site, log=log
    )
    result.services = services
    result.incidents = (
        len(world.open_incidents) + len(world.recovered_incidents) + len(world.closed_incidents)
    )
    result.phases["world"] = time.perf_counter() - began

    now = _now()
    if transition_log and partitions.is_partitioned(connection, TransitionLog._meta.db_table):
        # every month of the history gets its partition first, or its rows would go through
        # the DEFAULT partition (docs/partitions.md)
        first = partitions.month_start(now - timedelta(days=days + 1))
        months = [partitions.add_months(first, step) for step in range(days // 28 + 3)]
        made = partitions.ensure_months(connection, TransitionLog._meta.db_table, months)
        if made:
            log(f"log partitions created: {made[0]:%Y-%m} to {made[-1]:%Y-%m}")
    if set_aside and connection.vendor == "postgresql":
        dropped = set_aside_indexes(connection)
        log(f"  {len(dropped)} secondary indexes set aside for the load")
    loading = time.perf_counter()
    written = {"tickets": 0, "log": 0}

    def progress(count: int, log_rows: int) -> None:
        written["tickets"] += count
        written["log"] += log_rows
        elapsed = time.perf_counter() - loading
        rate = written["tickets"] / elapsed
        log(f"  {written['tickets']:>10,} / {tickets:,} tickets  {rate:>9,.0f} tickets/s")

    job = Job(
        world=world, days=days, now=now, open_share=open_share, batch=batch,
        transition_log=transition_log,
    )  # fmt: skip
    jobs = max(1, min(jobs, tickets // batch or 1)) if connection.vendor == "postgresql" else 1
    try:
        if jobs == 1:
            job.load(rng, tickets, progress)
        else:
            log(f"  {jobs} processes, each with its own connection")
            _load_in_processes(job, jobs=jobs, tickets=tickets, seed=seed, progress=progress)
    except BaseException:
        if connection.vendor == "postgresql":
            log(f"the load stopped; indexes set aside stay noted in {SET_ASIDE_TABLE}: "
                "run with --restore-indexes to build them")  # fmt: skip
        raise
    done, result.log_rows = written["tickets"], written["log"]
    result.tickets = done
    result.phases["tickets"] = time.perf_counter() - loading

    if connection.vendor == "postgresql":
        # this run's and any that an earlier, interrupted run left behind
        building = time.perf_counter()
        if rebuild_indexes(connection, jobs=max(jobs, 1), log=log):
            result.phases["indexes"] = time.perf_counter() - building

    finishing = time.perf_counter()
    from tickets import stats

    stats.rebuild()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for model in (Customer, Service, Ticket, TransitionLog):
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    result.phases["roll-ups and analyse"] = time.perf_counter() - finishing
    result.seconds = time.perf_counter() - began
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets to add")
    parser.add_argument("--services", type=int, help="lines (default tickets/5, at most 200k)")
    parser.add_argument("--batch", type=int, default=20_000, help="tickets per transaction")
    parser.add_argument("--days", type=int, default=60, help="spread creation over N days")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processes generating and copying at once on PostgreSQL (default: one per core)",
    )
    parser.add_argument("--agents", type=int, default=20, help="bench agents per site")
    parser.add_argument(
        "--open-share",
        type=float,
        default=OPEN_SHARE,
        help=f"share of tickets still open (default {OPEN_SHARE}); a third of them in the queue",
    )
    parser.add_argument(
        "--log", action="store_true", help="also write each ticket's transition log"
    )
    parser.add_argument(
        "--rebuild-indexes",
        action="store_true",
        help="PostgreSQL: drop the secondary indexes of the tickets, log and escalations for the "
        "load and build them after it (faster for a big load into a table in use by nobody)",
    )
    parser.add_argument(
        "--restore-indexes",
        action="store_true",
        help="only build the indexes an interrupted --rebuild-indexes run left set aside",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="allow more than 50,000 tickets into SQLite (meant for PostgreSQL)",
    )
    args = parser.parse_args(argv)
    setup_django()
    from django.db import connection

    if args.restore_indexes:
        postgresql = connection.vendor == "postgresql"
        built = rebuild_indexes(connection, jobs=args.jobs) if postgresql else []
        print(f"{len(built)} indexes built")
        return
    if connection.vendor == "sqlite" and args.tickets > 50_000 and not args.force:
        # Most likely DATABASE_URL was forgotten and this is someone's development database.
        where = connection.settings_dict["NAME"]
        parser.exit(
            2,
            f"Refusing to add {args.tickets:,} tickets to SQLite {where}: "
            "set DATABASE_URL=postgres://... (or pass --force).\n",
        )
    result = generate(
        tickets=args.tickets,
        services=args.services,
        batch=args.batch,
        seed=args.seed,
        days=args.days,
        transition_log=args.log,
        agents_per_site=args.agents,
        open_share=args.open_share,
        jobs=args.jobs,
        set_aside=args.rebuild_indexes,
    )
    for phase, seconds in result.phases.items():
        print(f"  {phase}: {seconds:.1f} s")
    print(
        f"generated {result.tickets:,} tickets ({result.log_rows:,} log rows, "
        f"{result.services:,} lines, {result.customers:,} customers, "
        f"{result.incidents} gamas incidents) in {result.seconds:.1f} s: "
        f"{result.rate:,.0f} tickets/s"
    )


if __name__ == "__main__":
    main()

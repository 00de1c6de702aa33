"""Dispatch (push): waiting tickets are offered to agents, beside "next ticket" (pull).

A site's `dispatch_mode` says how its tickets reach agents: `pull` (agents take the next
ticket), `push` (dispatch offers them) or `both`. In push and both, each waiting ticket, most
urgent first (the order of "next ticket"), is offered to one agent:

- the ticket's pinned agent, if a supervisor pinned it (and nobody else);
- otherwise an agent of the ticket's site who works its flow, is available, has free capacity
  (tickets held plus offers waiting, against `capacity` and the flow's `flow_capacity`) and has
  not declined or let this ticket's offer run out before, the one dispatch gave a ticket least
  recently (then the lowest user id).

An offer reserves the ticket (`offered_to`: it leaves the pull queue) until the agent accepts
(the ticket is theirs, as a claim), declines, or lets `Site.offer_seconds` pass; then it goes
to the next agent. Every offer stays as a row (`Offer`): the dispatch log, with declines and
time-outs. Each change of an offer also writes the ticket's transition log.

Exactly one holder: a ticket row is locked before any of its offers changes, and at most one
offer per ticket waits (a partial unique index). Dispatch runs of one site take the site's row
lock, so two runs never hand the same free capacity out twice.

Runs: after the commit of a change that may free a ticket or capacity at a push site (an
arrival, a release, a transition, an answer, an agent becoming available) through the Celery
task `tickets.tasks.dispatch_site`, and every `TIER2_DISPATCH_SWEEP_SECONDS` for every push
site (which also ends offers whose time ran out and sets idle agents offline).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError

from .. import roles
from ..exceptions import InvalidInput, TransitionForbidden, TransitionNotAllowed
from ..flows import FlowTicket
from ..models import (
    AgentProfile,
    Availability,
    DispatchMode,
    Flow,
    Offer,
    OfferStatus,
    Site,
    Ticket,
    running_deadline,
)
from . import events, live
from .assignment import take
from .engine import locked_ticket, log_entry, save_row

log = logging.getLogger(__name__)

DISPATCH_TASK = "tickets.tasks.dispatch_site"
OFFERED = "ticket_offered"  # the notification of the agent a ticket is offered to
OFFER_FIELDS = ("offered_to", "awaiting_agent", "updated_at")
ENDED = (OfferStatus.DECLINED, OfferStatus.EXPIRED)  # answers that skip the agent next time
# Agents read at a time by a dispatch run (`Pool`): a first page this size, each next one twice
# the last, up to PAGE_MAX (a run after one arrival reads one small page; a sweep's big run
# few large ones).
PAGE = 8
PAGE_MAX = 128


# --- Who may get an offer ---------------------------------------------------------------------
@dataclass
class Candidate:
    user_id: int
    flows: frozenset[str]
    capacity: int
    flow_capacity: dict[str, int]
    last_assigned_at: datetime | None
    held: int = 0
    held_by_flow: dict[str, int] = field(default_factory=dict)

    def free_for(self, flow: str) -> bool:
        if flow not in self.flows or self.held >= self.capacity:
            return False
        limit = self.flow_capacity.get(flow)
        return limit is None or self.held_by_flow.get(flow, 0) < limit

    def order(self) -> tuple:
        return _order(self.last_assigned_at, self.user_id)

    def given(self, flow: str, at: datetime) -> None:
        self.held += 1
        self.held_by_flow[flow] = self.held_by_flow.get(flow, 0) + 1
        self.last_assigned_at = at


def _limits(value) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    return {key: int(number) for key, number in value.items() if str(number).isdigit()}


def _pool_rows(site: Site):
    """The site's available agents with their load."""
    return AgentProfile.objects.filter(site=site, availability=Availability.AVAILABLE).with_load()


# A page of `Pool`: written out in SQL and read by a plain cursor, as compiling it with the ORM
# and building instances took longer than reading the agents (their load is
# `AgentProfileQuerySet.with_load`'s, counted the same way).
PAGE_SQL = """
    SELECT p.user_id, p.flows, p.capacity, p.flow_capacity, p.last_assigned_at,
        (SELECT COUNT(*) FROM tickets_ticket t
         WHERE t.assignee_id = p.user_id AND t.closed_at IS NULL) AS held,
        (SELECT COUNT(*) FROM tickets_ticket t
         WHERE t.offered_to_id = p.user_id AND t.closed_at IS NULL) AS offers_waiting
    FROM tickets_agentprofile p
    WHERE p.site_id = %s AND p.availability = 'available' AND {where}
      AND (SELECT COUNT(*) FROM tickets_ticket t
           WHERE t.assignee_id = p.user_id AND t.closed_at IS NULL)
        + (SELECT COUNT(*) FROM tickets_ticket t
           WHERE t.offered_to_id = p.user_id AND t.closed_at IS NULL) < p.capacity
    ORDER BY {order}
    LIMIT %s
"""

COLUMNS = (
    "user_id", "flows", "capacity", "flow_capacity", "last_assigned_at", "held", "offers_waiting",
)  # fmt: skip


def _add(pool: dict[int, Candidate], rows, site: Site) -> None:
    """Candidates from plain rows (instances would cost more than the whole decision). Their
    role needs no check here: only agents are available (`set_availability`, and
    `availability_without_role` for a user who stops being one)."""
    limited = []
    for user_id, flows, capacity, flow_capacity, last_assigned_at, held, offered in rows:
        if user_id in pool:
            continue
        candidate = pool[user_id] = Candidate(
            user_id=user_id,
            flows=frozenset(roles.flows_at(flows, site.code)),
            capacity=capacity,
            flow_capacity=_limits(flow_capacity),
            last_assigned_at=last_assigned_at,
            held=held + offered,
        )
        if candidate.flow_capacity:
            limited.append(user_id)
    if limited:  # loads per flow, only for the agents who have limits per flow
        loads = (
            Ticket.objects.filter(Q(assignee_id__in=limited) | Q(offered_to_id__in=limited))
            .filter(closed_at__isnull=True)
            .values("assignee_id", "offered_to_id", "flow")
            .annotate(n=Count("pk"))
            .values_list("assignee_id", "offered_to_id", "flow", "n")
        )
        for assignee_id, offered_to_id, flow, count in loads:
            by_flow = pool[assignee_id or offered_to_id].held_by_flow
            by_flow[flow] = by_flow.get(flow, 0) + count


def candidates(site: Site) -> dict[int, Candidate]:
    """Every available agent of the site with their load: open tickets held and offers waiting."""
    pool: dict[int, Candidate] = {}
    _add(pool, list(_pool_rows(site).values_list(*COLUMNS)), site)
    return pool


class Pool:
    """The agents a dispatch run may offer tickets to, read as the run needs them.

    A run offering a few tickets among hundreds of agents needs only the first agents in the
    order of "least recently given" who have room; so agents are read a page at a time in that
    order, those at capacity left out by the database. A choice is final once the best agent
    in memory comes before every agent not read yet (or all are read); otherwise one more page
    is read. Agents given a ticket in this run move to the end of the order (their stamp is
    now), so the pages still come in order behind them.
    """

    def __init__(self, site: Site, page: int):
        self.site, self.page = site, page
        self.agents: dict[int, Candidate] = {}
        self.last: tuple | None = None  # the order of the last agent read
        self.complete = False

    def read_page(self) -> None:
        rows: list = []
        if self.last is None or self.last[0] is None:  # agents never given a ticket come first
            rows = self._segment(never_given=True, count=self.page)
        if len(rows) < self.page:
            wanted = self.page - len(rows)
            more = self._segment(never_given=False, count=wanted)
            rows += more
            self.complete = len(more) < wanted
        _add(self.agents, rows, self.site)
        if rows:
            self.last = (rows[-1][4], rows[-1][0])
        self.page = max(self.page, min(self.page * 2, PAGE_MAX))

    def _segment(self, *, never_given: bool, count: int) -> list:
        """The next agents with room in one part of the order (never given a ticket, by user
        id; then by when they were last given one), after the last agent read."""
        stamp, user_id = self.last or (None, None)
        if never_given:
            where, params = "p.last_assigned_at IS NULL", []
            if user_id is not None:
                where, params = f"{where} AND p.user_id > %s", [user_id]
            order = "p.user_id"
        else:
            where, params = "p.last_assigned_at IS NOT NULL", []
            if stamp is not None:
                where += (
                    " AND (p.last_assigned_at > %s OR (p.last_assigned_at = %s AND p.user_id > %s))"
                )
                value = connection.ops.adapt_datetimefield_value(stamp)  # SQLite: UTC text
                params = [value, value, user_id]
            order = "p.last_assigned_at, p.user_id"
        with connection.cursor() as cursor:
            cursor.execute(
                PAGE_SQL.format(where=where, order=order), [self.site.pk, *params, count]
            )
            rows = cursor.fetchall()
        return [
            (user_id, _json(flows), capacity, _json(limits), _stamp(stamp), held, offered)
            for user_id, flows, capacity, limits, stamp, held, offered in rows
        ]

    def choose(self, ticket: Ticket, skipped: set[int]) -> Candidate | None:
        if ticket.pinned_to_id is not None and ticket.pinned_to_id not in self.agents:
            pinned = _pool_rows(self.site).filter(user_id=ticket.pinned_to_id)
            _add(self.agents, list(pinned.values_list(*COLUMNS)), self.site)
        while True:
            best = choose(ticket, self.agents, skipped)
            if ticket.pinned_to_id is not None or self.complete:
                return best
            if best is not None and self.last is not None and best.order() <= _order(*self.last):
                return best
            self.read_page()


def _json(value):
    """A JSON column read by a plain cursor (text on SQLite, and on PostgreSQL as Django sets
    its connections up)."""
    return json.loads(value) if isinstance(value, str) else value


def _stamp(value) -> datetime | None:
    """A timestamp read by a plain cursor: aware on PostgreSQL, UTC text on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


def _order(last_assigned_at, user_id) -> tuple:
    """Least recently given a ticket first (never: first of all), then the lowest user id."""
    return (last_assigned_at is not None, last_assigned_at or datetime.min, user_id)


def choose(ticket: Ticket, pool: dict[int, Candidate], skipped: set[int]) -> Candidate | None:
    """The agent this ticket is offered to now among `pool`, or None (it waits)."""
    if ticket.pinned_to_id is not None:
        pinned = pool.get(ticket.pinned_to_id)
        return pinned if pinned is not None and pinned.free_for(ticket.flow) else None
    best = None
    for candidate in pool.values():
        if candidate.user_id in skipped or not candidate.free_for(ticket.flow):
            continue
        if best is None or candidate.order() < best.order():
            best = candidate
    return best


# --- Offering ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class DispatchResult:
    offered: int
    waiting: int  # tickets looked at that no agent could take now


def dispatch_site(site_id: int, *, limit: int | None = None) -> DispatchResult:
    """Offer the site's waiting tickets, most urgent first, while agents have room."""
    limit = limit or settings.TIER2_DISPATCH_BATCH
    with transaction.atomic():
        site = Site.objects.select_for_update().filter(pk=site_id).first()
        if site is None or site.dispatch_mode == DispatchMode.PULL:
            return DispatchResult(0, 0)
        pool = Pool(site, page=PAGE)
        pool.read_page()
        if pool.complete and not pool.agents:  # nobody available with room: tickets wait
            return DispatchResult(0, 0)
        tickets = list(
            Ticket.objects.select_for_update(skip_locked=True)
            .filter(awaiting_agent=True, site_id=site.pk)
            .alias(deadline=running_deadline())
            .order_by(F("deadline").asc(nulls_last=True), "priority", "created_at", "pk")[:limit]
        )
        skipped = skipped_agents([ticket.pk for ticket in tickets])
        now = timezone.now()
        offered = 0
        for ticket in tickets:
            chosen = pool.choose(ticket, skipped.get(ticket.pk, set()))
            if chosen is None:
                continue
            # Offers of one run share their time; their order still counts for "least
            # recently", so each agent's stamp is a microsecond after the previous offer's.
            stamp = now + timedelta(microseconds=offered)
            _offer(ticket, chosen.user_id, site, now, stamp, pinned=ticket.pinned_to_id is not None)
            chosen.given(ticket.flow, stamp)
            offered += 1
        return DispatchResult(offered, len(tickets) - offered)


def skipped_agents(ticket_ids: list[int]) -> dict[int, set[int]]:
    """Per ticket, the agents who declined it or let its offer run out."""
    skipped: dict[int, set[int]] = {}
    rows = Offer.objects.filter(ticket_id__in=ticket_ids, status__in=ENDED).values_list(
        "ticket_id", "agent_id"
    )
    for ticket_id, agent_id in rows:
        skipped.setdefault(ticket_id, set()).add(agent_id)
    return skipped


def _offer(
    ticket: Ticket, agent_id: int, site: Site, now: datetime, stamp: datetime, *, pinned: bool
) -> Offer:
    offer = Offer.objects.create(
        ticket=ticket,
        agent_id=agent_id,
        offered_at=now,
        expires_at=now + timedelta(seconds=site.offer_seconds),
        pinned=pinned,
    )
    ticket.offered_to_id = agent_id
    ticket.awaiting_agent = False
    Ticket.objects.filter(pk=ticket.pk).update(offered_to_id=agent_id, awaiting_agent=False)
    AgentProfile.objects.filter(user_id=agent_id).update(last_assigned_at=stamp)
    log_entry(
        ticket=ticket, actor=None, name="offer", from_state=ticket.state, to_state=ticket.state,
        at=now, data={"offer": offer.pk, "agent": agent_id, "until": offer.expires_at.isoformat()},
    )  # fmt: skip
    live.notify(
        user_id=agent_id,
        ticket=ticket,
        kind=OFFERED,
        message=_("%(number)s is offered to you: accept or decline it within %(seconds)s s.")
        % {"number": ticket.number, "seconds": site.offer_seconds},
        at=now,
    )
    return offer


# --- Answers ------------------------------------------------------------------------------------
def _locked_offer(offer_id) -> tuple[FlowTicket, Offer]:
    """The offer's ticket, then the offer, both locked (tickets first, everywhere)."""
    ticket_id = Offer.objects.filter(pk=offer_id).values_list("ticket_id", flat=True).first()
    if ticket_id is None:
        raise TransitionNotAllowed(_("No such offer."))
    ticket = locked_ticket(ticket_id)
    return ticket, Offer.objects.select_for_update().get(pk=offer_id)


def _end(ticket: FlowTicket, offer: Offer, status: str, *, actor=None, reason: str = "") -> None:
    offer.status, offer.decided_at, offer.reason = status, timezone.now(), reason[:255]
    offer.save(update_fields=["status", "decided_at", "reason"])
    if ticket.offered_to_id == offer.agent_id:
        ticket.offered_to = None
        ticket.refresh_queue_flag()
        save_row(ticket, OFFER_FIELDS)
    log_entry(
        ticket=ticket, actor=actor, name=f"offer_{status}", from_state=ticket.state,
        to_state=ticket.state, note=reason, data={"offer": offer.pk, "agent": offer.agent_id},
    )  # fmt: skip
    request_dispatch(ticket.site_id)


def _end_each(offer_ids, status: str, *, reason: str = "", due: datetime | None = None) -> int:
    """End these offers one by one, each in its own transaction under its ticket's lock, if it
    still waits for an answer (and, with `due`, if its time is still up then)."""
    ended = 0
    for offer_id in offer_ids:
        with transaction.atomic():
            ticket, offer = _locked_offer(offer_id)
            if offer.status == OfferStatus.PENDING and (due is None or offer.expires_at <= due):
                _end(ticket, offer, status, reason=reason)
                ended += 1
    return ended


class OfferClosed(TransitionNotAllowed):
    """The offer is no longer waiting for an answer (answered, run out or withdrawn)."""


def _answerable(offer_id, agent) -> tuple[FlowTicket, Offer]:
    """The offer (locked, with its ticket) if it is this agent's and still waits."""
    ticket, offer = _locked_offer(offer_id)
    if agent is None or offer.agent_id != agent.pk:
        raise TransitionForbidden(_("This ticket was offered to another agent."))
    if offer.status != OfferStatus.PENDING:
        raise OfferClosed(
            _("This offer has already ended: %(status)s.") % {"status": offer.get_status_display()}
        )
    return ticket, offer


def accept_offer(*, offer_id, agent) -> FlowTicket:
    """The agent takes the offered ticket (a claim). Refused once the offer has ended."""
    ended = None
    with transaction.atomic():
        ticket, offer = _answerable(offer_id, agent)
        if offer.expires_at <= timezone.now():
            _end(ticket, offer, OfferStatus.EXPIRED)
            ended = _("The time to accept this offer has run out.")
        elif not roles.may_work_ticket(agent, ticket) or ticket.is_closed or ticket.assignee_id:
            _end(ticket, offer, OfferStatus.WITHDRAWN, reason="no longer waiting for this agent")
            ended = _("This ticket is no longer waiting for you.")
        else:
            return take(ticket, agent)  # the offer is accepted as the ticket is taken
    raise OfferClosed(ended)  # after the commit: the offer's end is kept


def decline_offer(*, offer_id, agent, reason: str = "") -> Offer:
    """The agent declines: the ticket goes to the next agent (never back to this one)."""
    with transaction.atomic():
        ticket, offer = _answerable(offer_id, agent)
        _end(ticket, offer, OfferStatus.DECLINED, actor=agent, reason=reason.strip())
        return offer


def expire_offers(*, now: datetime | None = None, limit: int = 500) -> int:
    """End the offers whose answer time has passed; their tickets go to the next agent."""
    now = now or timezone.now()
    due = list(
        Offer.objects.filter(status=OfferStatus.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    ended = _end_each(due, OfferStatus.EXPIRED, due=now)
    # Offers whose ticket stopped waiting some other way (closed while offered).
    stale = Offer.objects.filter(status=OfferStatus.PENDING).filter(
        Q(ticket__closed_at__isnull=False) | Q(ticket__assignee__isnull=False)
    )
    stale_ids = list(stale.values_list("pk", flat=True)[:limit])
    return ended + _end_each(stale_ids, OfferStatus.WITHDRAWN, reason="no longer waiting")


# --- Availability, capacity, pins -------------------------------------------------------------
def _withdraw_offers_of(user_id: int, *, reason: str) -> None:
    """The offers waiting for this user's answer end, withdrawn (`reason` in their log)."""
    waiting = Offer.objects.filter(agent_id=user_id, status=OfferStatus.PENDING)
    _end_each(list(waiting.values_list("pk", flat=True)), OfferStatus.WITHDRAWN, reason=reason)


def set_availability(*, user, availability: str, actor=None) -> AgentProfile:
    """The agent's availability (their own, or a supervisor's change). Leaving "available"
    withdraws the offers waiting for them; becoming available asks for a dispatch."""
    actor = actor or user
    if availability not in Availability.values:
        raise InvalidInput({"availability": [_("Choose one of the offered availabilities.")]})
    if actor.pk != user.pk and not roles.is_supervisor(actor):
        raise TransitionForbidden(_("Only supervisors change another agent's availability."))
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().filter(user=user).first()
        if profile is None or not roles.is_agent(user):
            raise TransitionForbidden(_("Only agents have an availability."))
        if profile.availability == availability:
            return profile
        previous = profile.availability
        profile.availability, profile.availability_since = availability, timezone.now()
        profile.save(update_fields=["availability", "availability_since"])
        if previous == Availability.AVAILABLE:
            _withdraw_offers_of(user.pk, reason=f"agent now {availability}")
        if availability == Availability.AVAILABLE and profile.site_id:
            request_dispatch(profile.site_id)
        log.info(
            "availability of %s: %s -> %s (by %s)",
            user.get_username(),
            previous,
            availability,
            actor.get_username(),
        )
        return profile


def set_capacity(*, agent, capacity: int, flow_capacity: dict | None, supervisor) -> AgentProfile:
    """A supervisor sets how many tickets the agent holds at once (and per flow)."""
    if not roles.is_supervisor(supervisor):
        raise TransitionForbidden()
    errors = {}
    if not isinstance(capacity, int) or isinstance(capacity, bool) or not 1 <= capacity <= 50:
        errors["capacity"] = [_("Enter a whole number from 1 to 50.")]
    limits = flow_capacity or {}
    if not isinstance(limits, dict):
        errors["flow_capacity"] = [_("Give a number per flow.")]
    else:
        for flow, value in limits.items():
            if flow not in Flow.values:
                errors.setdefault("flow_capacity", []).append(
                    _("%(flow)s is not a flow.") % {"flow": flow}
                )
            elif not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 50:
                errors.setdefault("flow_capacity", []).append(
                    _("The limit for %(flow)s must be a whole number from 1 to 50.")
                    % {"flow": Flow(flow).label}
                )
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        profile = AgentProfile.objects.select_for_update().filter(user=agent).first()
        if profile is None or not roles.is_agent(agent):
            raise InvalidInput({"agent": [_("This user is not an agent.")]})
        profile.capacity, profile.flow_capacity = capacity, dict(limits)
        profile.save(update_fields=["capacity", "flow_capacity"])
        if profile.site_id:
            request_dispatch(profile.site_id)
        return profile


def update_agent(*, agent, supervisor, availability=None, capacity=None, flow_capacity=None):
    """A supervisor's change of an agent's row (capacity, limits, availability): all of it or,
    on any error, none of it."""
    with transaction.atomic():
        if capacity is not None or flow_capacity is not None:
            profile = AgentProfile.objects.filter(user=agent).first()
            set_capacity(
                agent=agent,
                capacity=capacity if capacity is not None else getattr(profile, "capacity", 0),
                flow_capacity=flow_capacity
                if flow_capacity is not None
                else getattr(profile, "flow_capacity", {}),
                supervisor=supervisor,
            )
        if availability is not None:
            set_availability(user=agent, availability=availability, actor=supervisor)
        return AgentProfile.objects.get(user=agent)


def pin_ticket(*, ticket_id: int, agent, supervisor, note: str = "") -> FlowTicket:
    """A supervisor pins a waiting ticket to one agent: dispatch offers it to them only, and
    no other agent takes it from the queue. `agent=None` removes the pin."""
    if not roles.is_supervisor(supervisor):
        raise TransitionForbidden()
    with transaction.atomic():
        ticket = locked_ticket(ticket_id)
        if ticket.is_closed or ticket.assignee_id is not None:
            raise TransitionNotAllowed(_("Only a ticket waiting for an agent can be pinned."))
        if agent is not None and not roles.may_work_ticket(agent, ticket):
            raise InvalidInput({"agent": [_("This agent does not work this flow at this site.")]})
        pending = Offer.objects.select_for_update().filter(
            ticket=ticket, status=OfferStatus.PENDING
        )
        for offer in pending:
            if agent is None or offer.agent_id != agent.pk:
                _end(ticket, offer, OfferStatus.WITHDRAWN, actor=supervisor, reason="pinned")
        previous = ticket.pinned_to_id
        ticket.pinned_to = agent
        Ticket.objects.filter(pk=ticket.pk).update(pinned_to=agent)
        log_entry(
            ticket=ticket, actor=supervisor, name="pin" if agent else "unpin",
            from_state=ticket.state, to_state=ticket.state, note=note,
            data={"agent": agent.pk if agent else None, "previous": previous},
        )  # fmt: skip
        events.ticket_changed(ticket, kind=events.ASSIGNEE)
        request_dispatch(ticket.site_id)
        return ticket


def end_idle_availability(*, now: datetime | None = None) -> int:
    """Agents marked available but not seen for `TIER2_DISPATCH_IDLE_MINUTES` go offline."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.TIER2_DISPATCH_IDLE_MINUTES)
    idle = AgentProfile.objects.filter(availability=Availability.AVAILABLE).filter(
        Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True, availability_since__lt=cutoff)
    )
    ended = 0
    for profile in idle.select_related("user"):
        set_availability(user=profile.user, availability=Availability.OFFLINE, actor=profile.user)
        ended += 1
    return ended


def availability_without_role(user_ids=None) -> int:
    """Users not offline who are no longer agents (removed from their role, deactivated, their
    role stripped of working tickets) go offline, their waiting offers withdrawn: dispatch
    takes every available profile for an agent's. Called when roles or users change
    (`receivers.roles_changed`) and by the sweep; `user_ids` limits it to those users."""
    profiles = AgentProfile.objects.exclude(availability=Availability.OFFLINE).exclude(
        pk__in=roles.agent_profiles().values("pk")
    )
    if user_ids is not None:
        profiles = profiles.filter(user_id__in=list(user_ids))
    ended = 0
    for profile in profiles.select_related("user"):
        with transaction.atomic():
            AgentProfile.objects.filter(pk=profile.pk).update(
                availability=Availability.OFFLINE, availability_since=timezone.now()
            )
            _withdraw_offers_of(profile.user_id, reason="no longer an agent")
        log.info("availability of %s: offline (no longer an agent)", profile.user.get_username())
        ended += 1
    return ended


def seen(user_id: int, *, now: datetime | None = None) -> None:
    """Note that the agent used the console (the idle rule's clock); one write a minute."""
    now = now or timezone.now()
    AgentProfile.objects.filter(user_id=user_id).filter(
        Q(last_seen_at__isnull=True) | Q(last_seen_at__lt=now - timedelta(seconds=60))
    ).update(last_seen_at=now)


# --- When to run -----------------------------------------------------------------------------
class _PushSites:
    """The ids of sites in push or both mode, read at most every few seconds per process."""

    ttl = 5.0

    def __init__(self):
        self.lock = threading.Lock()
        self.read_at = None
        self.ids: frozenset[int] = frozenset()

    def get(self) -> frozenset[int]:
        now = time.monotonic()
        with self.lock:
            if self.read_at is None or now - self.read_at > self.ttl:
                self.ids = frozenset(
                    Site.objects.exclude(dispatch_mode=DispatchMode.PULL).values_list(
                        "pk", flat=True
                    )
                )
                self.read_at = now
            return self.ids

    def forget(self) -> None:
        with self.lock:
            self.read_at = None


push_sites = _PushSites()


def request_dispatch(site_id: int | None) -> None:
    """Ask for a dispatch run of the site after the current transaction commits (once per
    site and transaction). A broker outage only delays it: the sweep runs every site."""
    if site_id is None or site_id not in push_sites.get():
        return
    connection = transaction.get_connection()
    asked = getattr(connection, "_tier2_dispatch_asked", None)
    if asked is None or not connection.in_atomic_block:
        asked = connection._tier2_dispatch_asked = set()
    if site_id in asked:
        return
    asked.add(site_id)

    def send():
        asked.discard(site_id)
        try:
            current_app.tasks[DISPATCH_TASK].delay(site_id)
        except OperationalError:
            log.warning("Broker unreachable: dispatch of site %s waits for the sweep.", site_id)

    transaction.on_commit(send)


@events.consumer
class DispatchTrigger:
    """A change on a ticket of a push site (arrival, release, transition) may free a ticket
    or an agent's capacity: ask for a dispatch of its site."""

    def wants(self) -> bool:
        return bool(push_sites.get())

    def handle(self, change: events.TicketChange) -> None:
        if change.kind in (events.ARRIVED, events.ASSIGNEE, events.TRANSITION):
            request_dispatch(change.ticket.site_id)


def sweep() -> dict:
    """Expire offers, set idle agents offline and dispatch every push site (Celery beat)."""
    push_sites.forget()
    expired = expire_offers()
    idle = end_idle_availability() + availability_without_role()
    offered = 0
    for site_id in sorted(push_sites.get()):
        offered += dispatch_site(site_id).offered
    return {"expired": expired, "idle": idle, "offered": offered}

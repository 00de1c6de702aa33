"""What every adapter shares: errors, the stub machinery, and the fake customer world.

An *adapter* is the one door between the console and an external application (NOSSA, Ibooster,
...). Each module in this package names the operations of one application as an abstract
interface and ships a *stub*: the same interface answered with deterministic fake data, so the
console, the Celery tasks and the load tests run without the real systems.

This module holds what the stubs have in common:

- the error types callers react to (retry on :class:`AdapterUnavailable`, give up on
  :class:`AdapterRejected`);
- :class:`StubBehaviour` and :class:`Stub`: simulated latency, latency jitter, failures before
  the call takes effect, and lost replies (the write was applied but its answer never came);
- the stubs' *effect ledger* (:class:`EffectLedger`): every write is counted per idempotency key,
  in process memory or in Redis where another process (a test, a benchmark) can read it. A write
  repeated with a key already seen is not applied again, as a real idempotent API would do, but
  it is counted as a repeat. The ledger also holds the answers a stub was told to give about
  one line instead of the line directory's (:meth:`EffectLedger.configure_answer`), and what
  the messaging stubs (SMS, WhatsApp) sent, so that any process can answer a message's status;
- :func:`rng_for`: a random generator seeded from a digest of its keys, so the same service
  number gives the same answer in every process ("same request twice, same answer");
- idempotent references: a mutating call's id is derived from its idempotency key, so a
  redelivered call names the same external effect instead of creating a second one;
- :func:`to_jsonable`: responses as JSON-ready values, for logs and outbox rows;
- the fake world's equipment: for one service number, every stub tells the same story (the
  same ONT, the same line fault), the way the real systems agree about one customer; the
  customer, the address, the package and the network codes come from the line directory
  (``lines.py``).

Domain words used across the package:

- *service number* (nomor layanan, also called *fastel*, "fasilitas telepon"): the 12-digit
  number of an IndiHome fixed-broadband subscription, e.g. ``131162345678``.
- *ONT* (optical network terminal, the modem in the customer's home) and *OLT* (optical line
  terminal, the exchange-side equipment its fibre ends on). Between them sits the *ODP*
  (optical distribution point, the street box) and above them the *STO* (sentral telepon
  otomat, the telephone exchange building that names an area).
- *LOS* (loss of signal): the ONT receives no light from the fibre; its LOS lamp is red.
  Received optical power is measured in dBm; around -13 to -24 dBm is within spec.
- *CPE* (customer premises equipment): the ONT and any set-top box in the home.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import hashlib
import inspect
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any, ClassVar

# --- Errors -----------------------------------------------------------------------------------


class AdapterError(Exception):
    """An external application did not do what was asked."""


class AdapterUnavailable(AdapterError):
    """Transient: timeout, outage, overload. The same call may succeed later; callers retry."""


class AdapterRejected(AdapterError):
    """Permanent: a bad request or an unknown record. Repeating the call cannot help."""


# --- Interfaces and stubs ---------------------------------------------------------------------


class Adapter(abc.ABC):
    """The interface of one external application; subclasses name its operations.

    Operations take keyword arguments only. Every operation that changes something in the
    external system takes an ``idempotency_key`` (the outbox row's key): a real client must
    pass it on to the external system, so that a call retried after a timeout is applied once.
    Implementations raise :class:`AdapterUnavailable` or :class:`AdapterRejected`, nothing else.
    """

    app: ClassVar[str]
    display_name: ClassVar[str]


@dataclass(frozen=True, slots=True)
class StubBehaviour:
    """How a stub misbehaves.

    - ``latency_ms``: every call sleeps this long, plus a uniform random ``0..jitter_ms``;
    - ``failure_rate``: this share of calls fails with :class:`AdapterUnavailable` *before*
      anything happens (the request was lost, the application was down);
    - ``lost_reply_rate``: this share of *writes* is applied, and then fails with
      :class:`AdapterUnavailable` anyway (a timeout after the effect: the reply was lost). The
      caller cannot tell the two failures apart; only the idempotency key keeps its retry from
      doing the write twice.

    Rates are probabilities: 0 never, 1 always.
    """

    latency_ms: int = 0
    failure_rate: float = 0.0
    lost_reply_rate: float = 0.0
    jitter_ms: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.jitter_ms < 0:
            raise ValueError(f"jitter_ms must be >= 0, got {self.jitter_ms}")
        for name in ("failure_rate", "lost_reply_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")


# --- The stubs' effect ledger -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectCount:
    """What the stub of ``app`` saw of the writes made with one idempotency key."""

    writes: int  # requests that reached the stub and passed validation (the first one applies)
    lost_replies: int = 0  # of those, how many had their reply dropped after the effect

    @property
    def applied(self) -> int:
        """Effects applied: the first write applies, a repeat of the key never applies again."""
        return 1 if self.writes else 0

    @property
    def repeats(self) -> int:
        """Writes that came again with a key already applied (deduplicated, not applied)."""
        return max(0, self.writes - 1)


class EffectLedger(abc.ABC):
    """Where stubs count their writes, per application and idempotency key."""

    @abc.abstractmethod
    def record_write(self, app: str, idempotency_key: str) -> int:
        """Count one write; return how many arrived with this key, this one included.

        1 means the effect is applied now; more means a repeat, which is not applied again.
        """

    @abc.abstractmethod
    def record_lost_reply(self, app: str, idempotency_key: str) -> None:
        """Count a reply dropped after its write was applied."""

    @abc.abstractmethod
    def counts(self) -> dict[tuple[str, str], EffectCount]:
        """Every key written so far: ``{(app, idempotency_key): EffectCount}``."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Forget every count and every configured answer."""

    # Configured answers: a stub told to answer otherwise about one subject (a service number)
    # than the line directory does, the way a real system sometimes disagrees with the others.

    @abc.abstractmethod
    def configure_answer(self, app: str, subject: str, **fields: str) -> None:
        """From now on, the stub of ``app`` answers these fields about ``subject`` (for I-SISKA:
        ``customer_name``, ``phone``, ``address``); with no fields, it answers as before."""

    @abc.abstractmethod
    def configured_answer(self, app: str, subject: str) -> dict[str, str]:
        """The fields configured for ``subject`` (empty when none are)."""


class MemoryLedger(EffectLedger):
    """Counts in this process only: the embedded default, where Celery runs in the web process."""

    def __init__(self) -> None:
        self._writes: dict[tuple[str, str], int] = {}
        self._lost: dict[tuple[str, str], int] = {}
        self._answers: dict[tuple[str, str], dict[str, str]] = {}
        self._lock = threading.Lock()

    def record_write(self, app: str, idempotency_key: str) -> int:
        with self._lock:
            count = self._writes[app, idempotency_key] = (
                self._writes.get((app, idempotency_key), 0) + 1
            )
            return count

    def record_lost_reply(self, app: str, idempotency_key: str) -> None:
        with self._lock:
            self._lost[app, idempotency_key] = self._lost.get((app, idempotency_key), 0) + 1

    def counts(self) -> dict[tuple[str, str], EffectCount]:
        with self._lock:
            return {
                key: EffectCount(writes, self._lost.get(key, 0))
                for key, writes in self._writes.items()
            }

    def clear(self) -> None:
        with self._lock:
            self._writes.clear()
            self._lost.clear()
            self._answers.clear()

    def configure_answer(self, app: str, subject: str, **fields: str) -> None:
        with self._lock:
            if fields:
                self._answers[app, subject] = dict(fields)
            else:
                self._answers.pop((app, subject), None)

    def configured_answer(self, app: str, subject: str) -> dict[str, str]:
        with self._lock:
            return dict(self._answers.get((app, subject), {}))


class RedisLedger(EffectLedger):
    """Counts in Redis, one small counter per key, so that every process sees the same counts.

    Keys are ``<prefix>:w:<app>/<idempotency key>`` (writes) and ``<prefix>:l:<app>/<key>``
    (lost replies); each expires ``ttl_seconds`` after its last write, so a long-running stack
    does not accumulate them. A configured answer is a JSON object at
    ``<prefix>:a:<app>/<subject>`` and stays until it is removed or the ledger cleared. A Redis
    error makes the stub's call fail as unavailable (the simulated application could not record
    the write, so it did not apply it; or it could not read its own record).
    """

    def __init__(self, url: str, prefix: str, *, ttl_seconds: int = 86_400) -> None:
        self.url, self.prefix, self.ttl_seconds = url, prefix, ttl_seconds
        self._client = None

    def __repr__(self) -> str:
        return f"RedisLedger({self.url!r}, {self.prefix!r})"

    @property
    def client(self):
        if self._client is None:
            import redis  # only the Redis ledger needs the client

            self._client = redis.Redis.from_url(
                self.url, socket_connect_timeout=2, socket_timeout=5
            )
        return self._client

    def _incr(self, kind: str, app: str, idempotency_key: str) -> int:
        import redis

        key = f"{self.prefix}:{kind}:{app}/{idempotency_key}"
        try:
            pipe = self.client.pipeline()
            pipe.incr(key)
            pipe.expire(key, self.ttl_seconds)
            count, _ = pipe.execute()
        except redis.RedisError as problem:
            raise AdapterUnavailable(f"stub effect ledger unreachable: {problem}") from problem
        return int(count)

    def record_write(self, app: str, idempotency_key: str) -> int:
        return self._incr("w", app, idempotency_key)

    def record_lost_reply(self, app: str, idempotency_key: str) -> None:
        self._incr("l", app, idempotency_key)

    def _read(self, kind: str) -> dict[tuple[str, str], int]:
        start = len(f"{self.prefix}:{kind}:")
        keys = list(self.client.scan_iter(match=f"{self.prefix}:{kind}:*", count=1000))
        values = self.client.mget(keys) if keys else []
        found = {}
        for key, value in zip(keys, values, strict=True):
            if value is not None:
                app, _, idempotency_key = key.decode()[start:].partition("/")
                found[app, idempotency_key] = int(value)
        return found

    def counts(self) -> dict[tuple[str, str], EffectCount]:
        lost = self._read("l")
        return {
            key: EffectCount(writes, lost.get(key, 0)) for key, writes in self._read("w").items()
        }

    def clear(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])

    def configure_answer(self, app: str, subject: str, **fields: str) -> None:
        import redis

        key = f"{self.prefix}:a:{app}/{subject}"
        try:
            if fields:
                self.client.set(key, json.dumps(fields, sort_keys=True))
            else:
                self.client.delete(key)
        except redis.RedisError as problem:
            raise AdapterUnavailable(f"stub effect ledger unreachable: {problem}") from problem

    def configured_answer(self, app: str, subject: str) -> dict[str, str]:
        import redis

        try:
            stored = self.client.get(f"{self.prefix}:a:{app}/{subject}")
        except redis.RedisError as problem:
            raise AdapterUnavailable(f"stub effect ledger unreachable: {problem}") from problem
        return json.loads(stored) if stored else {}


def effect_ledger(url: str = "", prefix: str = "tier2:stub-effects") -> EffectLedger:
    """A Redis ledger for a ``redis://`` (or ``rediss://``, ``unix://``) URL; memory without one."""
    if not url:
        return MemoryLedger()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError(f"the stub effect ledger needs a Redis URL or nothing, got {url!r}")
    return RedisLedger(url, prefix)


# A stub write calling another stub write (a subclass calling ``super()``) counts once.
_writing = threading.local()


def _stub_write(function: Callable) -> Callable:
    """Wrap a stub's write: count it in the ledger after it succeeds, then maybe lose its reply."""
    operation = function.__name__

    @functools.wraps(function)
    def write(self: Stub, *args: Any, **kwargs: Any) -> Any:
        if getattr(_writing, "active", False):
            return function(self, *args, **kwargs)
        _writing.active = True
        try:
            answer = function(self, *args, **kwargs)  # latency, failures, validation, the answer
        finally:
            _writing.active = False
        self._apply_write(operation, kwargs.get("idempotency_key", ""))
        return answer

    write.stub_write = True  # type: ignore[attr-defined]
    return write


Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Stub(Adapter):
    """Base of every stub adapter: simulated latency and failures, deterministic data.

    A stub derives everything it answers from the request, so any number of processes agree
    without sharing anything. The one thing stubs share is the effect ledger (``effects``),
    which counts writes per idempotency key: every public method of a stub that takes an
    ``idempotency_key`` is a write, and is wrapped (``__init_subclass__``) so that after it
    succeeds it is counted (the first time with a key it is *applied*; later times are counted
    as repeats and not applied again), and then, for a share ``lost_reply_rate``, raises
    :class:`AdapterUnavailable` although it took effect.

    ``clock`` supplies "now" for answers that are relative to today (usage history, bills);
    tests pass a fixed one. ``failure_random`` decides simulated failures, lost replies and
    jitter; it is deliberately *not* derived from the request, so that a retried call can
    succeed. ``effects`` defaults to a ledger of this stub's own.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, attribute in list(vars(cls).items()):
            if name.startswith("_") or not inspect.isfunction(attribute):
                continue
            if getattr(attribute, "stub_write", False):
                continue
            if "idempotency_key" in inspect.signature(attribute).parameters:
                setattr(cls, name, _stub_write(attribute))

    def __init__(
        self,
        behaviour: StubBehaviour | None = None,
        *,
        clock: Clock | None = None,
        failure_random: random.Random | None = None,
        effects: EffectLedger | None = None,
    ) -> None:
        self.behaviour = behaviour or StubBehaviour()
        self._clock = clock or _utc_now
        self._failure_random = failure_random or random.Random()
        self.effects = effects if effects is not None else MemoryLedger()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.behaviour!r})"

    def _call(self, operation: str) -> None:
        """Stand for the round trip to the external system; every operation starts here.

        A failure here happens before the call has any effect.
        """
        delay_ms = self.behaviour.latency_ms
        if self.behaviour.jitter_ms:
            delay_ms += self._failure_random.uniform(0, self.behaviour.jitter_ms)
        if delay_ms:
            time.sleep(delay_ms / 1000)
        if self._failure_random.random() < self.behaviour.failure_rate:
            raise AdapterUnavailable(f"{self.display_name}: {operation} timed out (simulated)")

    def _apply_write(self, operation: str, idempotency_key: str) -> None:
        """The write has gone through: apply it once per key, then maybe lose the reply."""
        require_idempotency_key(idempotency_key)
        self.effects.record_write(self.app, idempotency_key)
        rate = self.behaviour.lost_reply_rate
        if rate and self._failure_random.random() < rate:
            self.effects.record_lost_reply(self.app, idempotency_key)
            raise AdapterUnavailable(
                f"{self.display_name}: {operation} timed out after it was applied "
                "(simulated lost reply)"
            )

    def _now(self) -> datetime:
        return self._clock()

    def _today(self) -> date:
        return self._clock().date()

    def _rng(self, *keys: object) -> random.Random:
        return rng_for(self.app, *keys)

    def _reference(self, operation: str, idempotency_key: str, *, prefix: str, digits: int) -> str:
        return idempotent_reference(
            self.app, operation, idempotency_key, prefix=prefix, digits=digits
        )

    def _receipt(
        self, operation: str, subject: str, idempotency_key: str, *, prefix: str
    ) -> Receipt:
        reference = self._reference(operation, idempotency_key, prefix=prefix, digits=10)
        return Receipt(app=self.app, operation=operation, subject=subject, reference=reference)


# --- Determinism ------------------------------------------------------------------------------


def rng_for(app: str, *keys: object) -> random.Random:
    """A generator seeded from a SHA-256 digest of ``app`` and ``keys``.

    Builtin ``hash()`` is salted per process, so it would give each Celery worker a different
    customer; a digest gives every process the same one.
    """
    material = "\x1f".join([app, *(str(key) for key in keys)]).encode()
    seed = int.from_bytes(hashlib.sha256(material).digest()[:8], "big")
    return random.Random(seed)


def random_digits(rng: random.Random, count: int) -> str:
    """``count`` digits without a leading zero, the way the external systems number things."""
    return str(rng.randrange(10 ** (count - 1), 10**count))


def idempotent_reference(
    app: str, operation: str, idempotency_key: str, *, prefix: str, digits: int
) -> str:
    """The id a mutating call returns, derived only from its idempotency key.

    The same key gives the same id in any process, so a redelivered outbox row names the
    effect it already caused. A real client must instead send the key to the external system
    (header or request field) and let that system deduplicate.
    """
    require_idempotency_key(idempotency_key)
    return prefix + random_digits(rng_for(app, operation, idempotency_key), digits)


@dataclass(frozen=True, slots=True)
class Receipt:
    """The answer to a mutating call that creates nothing the caller needs to address later.

    ``subject`` is what was acted on (a ticket or service number); ``reference`` is the
    external system's id for the change, for the transition log.
    """

    app: str
    operation: str
    subject: str
    reference: str


def minute_bucket(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to the minute; a naive ``moment`` is taken as UTC.

    Pull operations ("what is new since ...") answer per minute bucket, so two pulls within
    the same minute see the same records and the importer must deduplicate by record id,
    exactly as with a real feed.
    """
    if not isinstance(moment, datetime):
        raise AdapterRejected(f"expected a datetime, got {moment!r}")
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(second=0, microsecond=0)


# --- Request checks ---------------------------------------------------------------------------

SERVICE_NUMBER_RE = re.compile(r"\d{12}")


def require_match(name: str, value: str, pattern: re.Pattern[str]) -> None:
    """Reject ``value`` unless it is a string matching ``pattern`` in full.

    Stubs keep no records, so a well-formed id is all they can check; a real system also
    rejects ids it does not know.
    """
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise AdapterRejected(f"{name} must match {pattern.pattern!r}, got {value!r}")


def require_service_number(service_number: str) -> None:
    require_match("service_number", service_number, SERVICE_NUMBER_RE)


# An Indonesian mobile number in E.164 without the "+": 62 (Indonesia), then the mobile prefix
# 8 (the 08 of the national form, 0812...), then 8 to 11 digits: 10 to 13 digits nationally.
MOBILE_NUMBER_RE = re.compile(r"628\d{8,11}", re.ASCII)  # ASCII: no other scripts' digits


def require_mobile_number(name: str, number: str) -> None:
    if not isinstance(number, str) or not MOBILE_NUMBER_RE.fullmatch(number):
        raise AdapterRejected(
            f"{name} must be an Indonesian mobile number written 628..., 10 to 14 digits "
            f"without '+' or spaces (0812 3456 7890 is 6281234567890); got {number!r}"
        )


def require_text(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise AdapterRejected(f"{name} must be a non-empty string, got {value!r}")


def require_idempotency_key(idempotency_key: str) -> None:
    require_text("idempotency_key", idempotency_key)


def require_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise AdapterRejected(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def require_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 0:
        raise AdapterRejected(f"limit must be a non-negative integer, got {limit!r}")


# --- JSON -------------------------------------------------------------------------------------


def to_jsonable(obj: Any) -> Any:
    """``obj`` (a response dataclass, or a list of them) as plain JSON values.

    Dataclasses become dicts, tuples lists, datetimes and dates ISO strings, Decimals strings,
    enums their value.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            field.name: to_jsonable(getattr(obj, field.name)) for field in dataclasses.fields(obj)
        }
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, date):  # datetime is a date too
        return obj.isoformat()
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, dict):
        return {str(key): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(item) for item in obj]
    return obj


# --- The fake world ---------------------------------------------------------------------------
# Several stubs describe the same line from different angles. Who the customer is, where the
# line is and what it subscribes to come from the line directory (``lines.py``); what the
# technical stubs (Ibooster, ACS, Minitools, NOSSA) share about the equipment and its fault is
# decided here, so they agree with one another about any service number.

_WORLD = "world"


@dataclass(frozen=True, slots=True)
class Ont:
    """The customer's ONT (modem), as the OLT and ACS know it."""

    vendor: str
    model: str
    serial: str
    firmware: str


_ONT_MODELS = (
    ("ZTE", "F609", "ZTEG", "V6.0.10P2N12"),
    ("ZTE", "F670L", "ZTEG", "V9.0.11P1N2"),
    ("Huawei", "HG8245H5", "HWTC", "V3R017C10S115"),
    ("Fiberhome", "HG6243C", "FHTT", "RP2831"),
)


def customer_ont(service_number: str) -> Ont:
    rng = rng_for(_WORLD, "ont", service_number)
    vendor, model, serial_prefix, firmware = rng.choice(_ONT_MODELS)
    return Ont(vendor, model, serial_prefix + f"{rng.getrandbits(32):08X}", firmware)


class LineCondition(StrEnum):
    """The fault (or not) on a customer's line, which every technical stub reflects.

    A stub is stateless, so a line keeps its condition: a remote fix reports success but the
    next Ibooster check still shows the fault. The share of each condition is in the weights
    below; healthy lines still get tickets (IPTV, phone, "slow at night").
    """

    HEALTHY = "healthy"
    WIFI_OFF = "wifi_off"  # online, but the ONT's WiFi is switched off: ACS can re-enable it
    ONT_HANG = "ont_hang"  # ONT not responding: ACS reboot fixes it
    PROFILE_MISMATCH = "profile_mismatch"  # slow: OLT profile below the package; Minitools
    LOS = "los"  # no light on the fibre: needs a technician in the field


_CONDITION_WEIGHTS = {
    LineCondition.HEALTHY: 55,
    LineCondition.WIFI_OFF: 10,
    LineCondition.ONT_HANG: 12,
    LineCondition.PROFILE_MISMATCH: 8,
    LineCondition.LOS: 15,
}


def line_condition(service_number: str) -> LineCondition:
    rng = rng_for(_WORLD, "condition", service_number)
    conditions = list(_CONDITION_WEIGHTS)
    return rng.choices(conditions, weights=list(_CONDITION_WEIGHTS.values()))[0]

"""Adapters to the external applications, and their registry: the thirteen of SOP sections 6
and 11, and the two that message customers (SMS Gateway, WhatsApp Business).

Each module names one application's operations as an interface and ships a stub of it (see
``docs/adapters.md``). Code that calls an application asks the registry, never a class:

    from integrations.adapters import get_adapter

    status = get_adapter("ibooster").connection_status(service_number="131162345678")

The registry builds each adapter once from the ``TIER2_ADAPTERS`` setting, a dict keyed by app
code::

    TIER2_ADAPTERS = {
        "nossa": {"class": "integrations.adapters.nossa.NossaStub", "latency_ms": 200,
                  "failure_rate": 0.05},
    }

``class`` is the dotted path of the implementation (default: the app's stub). A stub is built
with a :class:`StubBehaviour` from ``latency_ms``, ``jitter_ms``, ``failure_rate`` and
``lost_reply_rate`` (all 0 by default), and with the shared effect ledger (:func:`stub_effects`,
from the ``TIER2_STUB_EFFECTS_URL`` and ``TIER2_STUB_EFFECTS_KEY`` settings). Any other keys are
passed to the constructor as keyword arguments, which is how a real client gets its base URL or
credentials' setting names; a real client ignores the behaviour keys.
"""

from __future__ import annotations

import threading
from typing import Any, Literal, overload

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from .acs import AcsAdapter, AcsStub
from .base import (
    Adapter,
    AdapterError,
    AdapterRejected,
    AdapterUnavailable,
    EffectCount,
    EffectLedger,
    Receipt,
    Stub,
    StubBehaviour,
    effect_ledger,
    to_jsonable,
)
from .callback import CallbackAdapter, CallbackStub
from .epayment import EpaymentAdapter, EpaymentStub
from .ibooster import IboosterAdapter, IboosterStub
from .isiska import IsiskaAdapter, IsiskaStub
from .minitools import MinitoolsAdapter, MinitoolsStub
from .mycx import MyCxAdapter, MyCxStub
from .myindihome import MyIndiHomeAdapter, MyIndiHomeStub
from .mykiss import MyKissAdapter, MyKissStub
from .nossa import NossaAdapter, NossaStub
from .sephia import SephiaAdapter, SephiaStub
from .sms import SmsGatewayAdapter, SmsGatewayStub
from .starclick import StarclickAdapter, StarclickStub
from .webcare import WebcareAdapter, WebcareStub
from .whatsapp import WhatsAppAdapter, WhatsAppStub

__all__ = [
    "APPS",
    "DISPLAY_NAMES",
    "Adapter",
    "AdapterError",
    "AdapterRejected",
    "AdapterUnavailable",
    "EffectCount",
    "EffectLedger",
    "Receipt",
    "Stub",
    "StubBehaviour",
    "get_adapter",
    "reset_adapters",
    "stub_effects",
    "to_jsonable",
]

# (interface, stub) per application: the SOP's, in the order of its list, then messaging.
_ADAPTERS: dict[str, tuple[type[Adapter], type[Stub]]] = {
    interface.app: (interface, stub)
    for interface, stub in (
        (MyCxAdapter, MyCxStub),
        (IboosterAdapter, IboosterStub),
        (MyKissAdapter, MyKissStub),
        (NossaAdapter, NossaStub),
        (IsiskaAdapter, IsiskaStub),
        (EpaymentAdapter, EpaymentStub),
        (StarclickAdapter, StarclickStub),
        (CallbackAdapter, CallbackStub),
        (WebcareAdapter, WebcareStub),
        (MinitoolsAdapter, MinitoolsStub),
        (SephiaAdapter, SephiaStub),
        (AcsAdapter, AcsStub),
        (MyIndiHomeAdapter, MyIndiHomeStub),
        (SmsGatewayAdapter, SmsGatewayStub),
        (WhatsAppAdapter, WhatsAppStub),
    )
}

APPS: tuple[str, ...] = tuple(_ADAPTERS)
DISPLAY_NAMES: dict[str, str] = {app: iface.display_name for app, (iface, _) in _ADAPTERS.items()}

_cache: dict[str, Adapter] = {}
_ledgers: dict[tuple[str, str], EffectLedger] = {}  # one per (URL, key prefix), kept across resets
_cache_lock = threading.RLock()  # re-entrant: an adapter's import may ask for another


@overload
def get_adapter(app: Literal["mycx"]) -> MyCxAdapter: ...
@overload
def get_adapter(app: Literal["ibooster"]) -> IboosterAdapter: ...
@overload
def get_adapter(app: Literal["mykiss"]) -> MyKissAdapter: ...
@overload
def get_adapter(app: Literal["nossa"]) -> NossaAdapter: ...
@overload
def get_adapter(app: Literal["isiska"]) -> IsiskaAdapter: ...
@overload
def get_adapter(app: Literal["epayment"]) -> EpaymentAdapter: ...
@overload
def get_adapter(app: Literal["starclick"]) -> StarclickAdapter: ...
@overload
def get_adapter(app: Literal["callback"]) -> CallbackAdapter: ...
@overload
def get_adapter(app: Literal["webcare"]) -> WebcareAdapter: ...
@overload
def get_adapter(app: Literal["minitools"]) -> MinitoolsAdapter: ...
@overload
def get_adapter(app: Literal["sephia"]) -> SephiaAdapter: ...
@overload
def get_adapter(app: Literal["acs"]) -> AcsAdapter: ...
@overload
def get_adapter(app: Literal["myindihome"]) -> MyIndiHomeAdapter: ...
@overload
def get_adapter(app: Literal["sms"]) -> SmsGatewayAdapter: ...
@overload
def get_adapter(app: Literal["whatsapp"]) -> WhatsAppAdapter: ...
@overload
def get_adapter(app: str) -> Adapter: ...
def get_adapter(app: str) -> Adapter:
    """The configured adapter for ``app`` (one of :data:`APPS`), built on first use.

    Raises ``ValueError`` for an unknown app code and ``ImproperlyConfigured`` for a bad
    ``TIER2_ADAPTERS`` entry.
    """
    if app not in _ADAPTERS:
        raise ValueError(f"unknown adapter app {app!r}; expected one of {', '.join(APPS)}")
    with _cache_lock:
        adapter = _cache.get(app)
        if adapter is None:
            adapter = _cache[app] = _build(app)
    return adapter


def reset_adapters() -> None:
    """Forget the built adapters, so the next :func:`get_adapter` reads the settings again."""
    with _cache_lock:
        _cache.clear()


def stub_effects() -> EffectLedger:
    """The ledger where the stubs count their writes per idempotency key (see ``base.py``).

    ``TIER2_STUB_EFFECTS_URL`` names a Redis database (the default is ``REDIS_URL``), so that a
    test or a benchmark in another process reads what the workers' stubs applied; without it,
    the counts stay in this process's memory (the embedded default, where Celery runs eagerly).
    ``TIER2_STUB_EFFECTS_KEY`` prefixes its Redis keys.
    """
    url, prefix = (
        _setting("TIER2_STUB_EFFECTS_URL", ""),
        _setting("TIER2_STUB_EFFECTS_KEY", "tier2:stub-effects"),
    )
    with _cache_lock:
        ledger = _ledgers.get((url, prefix))
        if ledger is None:
            try:
                ledger = _ledgers[url, prefix] = effect_ledger(url, prefix)
            except ValueError as exc:
                raise ImproperlyConfigured(f"TIER2_STUB_EFFECTS_URL: {exc}") from exc
        return ledger


def _setting(name: str, default: str) -> str:
    try:
        return getattr(settings, name, default) or default
    except ImproperlyConfigured:
        return default  # Django settings not configured: plain-Python use, e.g. a script


def _configured() -> dict[str, Any]:
    try:
        return getattr(settings, "TIER2_ADAPTERS", {}) or {}
    except ImproperlyConfigured:
        return {}  # Django settings not configured: plain-Python use, e.g. a script


# The TIER2_ADAPTERS keys that make a StubBehaviour, and their types.
_BEHAVIOUR = {"latency_ms": int, "jitter_ms": int, "failure_rate": float, "lost_reply_rate": float}


def _build(app: str) -> Adapter:
    interface, stub = _ADAPTERS[app]
    options = dict(_configured().get(app) or {})
    class_path = options.pop("class", "") or ""
    behaviour = {name: options.pop(name, 0) for name in _BEHAVIOUR}  # a real client ignores them
    where = f"TIER2_ADAPTERS[{app!r}]"
    try:
        cls = import_string(class_path) if class_path else stub
        if not (isinstance(cls, type) and issubclass(cls, interface)):
            raise ImproperlyConfigured(f"{where}: {class_path} is not a {interface.__name__}")
        if issubclass(cls, Stub):
            options["behaviour"] = StubBehaviour(
                **{name: kind(behaviour[name]) for name, kind in _BEHAVIOUR.items()}
            )
            options.setdefault("effects", stub_effects())
        return cls(**options)
    except (ImportError, TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc


def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting in ("TIER2_ADAPTERS", "TIER2_STUB_EFFECTS_URL", "TIER2_STUB_EFFECTS_KEY"):
        reset_adapters()


# Tests that use override_settings(TIER2_ADAPTERS=...) get fresh adapters automatically.
setting_changed.connect(_reset_on_setting_change, dispatch_uid="integrations.adapters.reset")

"""Adapters to the thirteen external applications of SOP sections 6 and 11, and their registry.

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
with a :class:`StubBehaviour` from ``latency_ms`` and ``failure_rate`` (default 0 and 0). Any
other keys are passed to the constructor as keyword arguments, which is how a real client gets
its base URL or credentials' setting names; a real client ignores ``latency_ms`` and
``failure_rate``.
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
    Receipt,
    Stub,
    StubBehaviour,
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
from .starclick import StarclickAdapter, StarclickStub
from .webcare import WebcareAdapter, WebcareStub

__all__ = [
    "APPS",
    "DISPLAY_NAMES",
    "Adapter",
    "AdapterError",
    "AdapterRejected",
    "AdapterUnavailable",
    "Receipt",
    "Stub",
    "StubBehaviour",
    "get_adapter",
    "reset_adapters",
    "to_jsonable",
]

# (interface, stub) per application, in the order of the SOP's list.
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
    )
}

APPS: tuple[str, ...] = tuple(_ADAPTERS)
DISPLAY_NAMES: dict[str, str] = {app: iface.display_name for app, (iface, _) in _ADAPTERS.items()}

_cache: dict[str, Adapter] = {}
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


def _configured() -> dict[str, Any]:
    try:
        return getattr(settings, "TIER2_ADAPTERS", {}) or {}
    except ImproperlyConfigured:
        return {}  # Django settings not configured: plain-Python use, e.g. a script


def _build(app: str) -> Adapter:
    interface, stub = _ADAPTERS[app]
    options = dict(_configured().get(app) or {})
    class_path = options.pop("class", "") or ""
    latency_ms = options.pop("latency_ms", 0)
    failure_rate = options.pop("failure_rate", 0.0)
    where = f"TIER2_ADAPTERS[{app!r}]"
    try:
        cls = import_string(class_path) if class_path else stub
        if not (isinstance(cls, type) and issubclass(cls, interface)):
            raise ImproperlyConfigured(f"{where}: {class_path} is not a {interface.__name__}")
        if issubclass(cls, Stub):
            options["behaviour"] = StubBehaviour(
                latency_ms=int(latency_ms), failure_rate=float(failure_rate)
            )
        return cls(**options)
    except (ImportError, TypeError, ValueError) as exc:
        raise ImproperlyConfigured(f"{where}: {exc}") from exc


def _reset_on_setting_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "TIER2_ADAPTERS":
        reset_adapters()


# Tests that use override_settings(TIER2_ADAPTERS=...) get fresh adapters automatically.
setting_changed.connect(_reset_on_setting_change, dispatch_uid="integrations.adapters.reset")

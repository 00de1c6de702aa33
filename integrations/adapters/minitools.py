"""Minitools: the customer's access-network data, and the changes an agent may make to it.

Shows where the line is configured on the OLT (port, ONU id, VLANs, bandwidth profile) and lets
Tier 2 repair configuration faults remotely in the NOSSA flow: resynchronise a bandwidth
profile that no longer matches the package, reset the OLT port, re-bind a replaced ONT.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from .base import (
    Adapter,
    LineCondition,
    Stub,
    customer_ont,
    line_condition,
    require_choice,
    require_service_number,
)
from .lines import line

# Changes an agent may make; each names what Minitools does on the OLT.
NETWORK_CHANGES = ("resync_profile", "reset_port", "rebind_ont")


@dataclass(frozen=True, slots=True)
class NetworkReview:
    """The line's configuration on the OLT; ``suggested_change`` is in ``NETWORK_CHANGES``."""

    service_number: str
    olt: str
    port: str  # rack/shelf/slot/port on the OLT, e.g. "1/1/3/12"
    onu_id: int
    ont_serial: str
    vlan_internet: int
    vlan_voip: int
    bandwidth_profile: str  # what the OLT enforces
    package_profile: str  # what the package pays for
    issues: tuple[str, ...]
    suggested_change: str | None


@dataclass(frozen=True, slots=True)
class NetworkChangeResult:
    change_id: str
    service_number: str
    change: str
    applied: bool
    resolved_issue: bool
    message: str


class MinitoolsAdapter(Adapter):
    app = "minitools"
    display_name = "Minitools"

    @abc.abstractmethod
    def review_network(self, *, service_number: str) -> NetworkReview:
        """The line's access-network configuration and the issues found in it."""

    @abc.abstractmethod
    def update_network(
        self, *, service_number: str, change: str, idempotency_key: str
    ) -> NetworkChangeResult:
        """Apply one of ``NETWORK_CHANGES`` to the line."""


def _profile_name(speed_mbps: int) -> str:
    return f"HSI-{speed_mbps}M"


class MinitoolsStub(Stub, MinitoolsAdapter):
    """A profile below the package is the one issue Minitools can resolve in the fake world."""

    def review_network(self, *, service_number: str) -> NetworkReview:
        self._call("review_network")
        require_service_number(service_number)
        return self._review(service_number)

    def update_network(
        self, *, service_number: str, change: str, idempotency_key: str
    ) -> NetworkChangeResult:
        self._call("update_network")
        require_service_number(service_number)
        require_choice("change", change, NETWORK_CHANGES)
        change_id = self._reference("update_network", idempotency_key, prefix="MT", digits=9)
        resolved = change == self._review(service_number).suggested_change
        return NetworkChangeResult(
            change_id=change_id,
            service_number=service_number,
            change=change,
            applied=True,
            resolved_issue=resolved,
            message=f"{change} diterapkan" + ("; gangguan teratasi" if resolved else ""),
        )

    def _review(self, service_number: str) -> NetworkReview:
        rng = self._rng("olt", service_number)
        package_speed = line(service_number).package.speed_mbps
        condition = line_condition(service_number)
        issues: tuple[str, ...] = ()
        suggested = None
        enforced_speed = package_speed
        if condition == LineCondition.PROFILE_MISMATCH:
            enforced_speed = package_speed // 2
            issues = (
                f"Profil bandwidth {enforced_speed} Mbps di bawah paket {package_speed} Mbps",
            )
            suggested = "resync_profile"
        elif condition == LineCondition.LOS:
            issues = ("ONU tidak terdeteksi di port OLT",)
        return NetworkReview(
            service_number=service_number,
            olt=line(service_number).olt,
            port=f"1/1/{rng.randint(1, 16)}/{rng.randint(1, 16)}",
            onu_id=rng.randint(1, 128),
            ont_serial=customer_ont(service_number).serial,
            vlan_internet=rng.choice((100, 200, 300)) + rng.randint(1, 99),
            vlan_voip=rng.choice((500, 600)) + rng.randint(1, 99),
            bandwidth_profile=_profile_name(enforced_speed),
            package_profile=_profile_name(package_speed),
            issues=issues,
            suggested_change=suggested,
        )

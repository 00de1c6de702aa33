"""Ibooster: live connection status and internet usage history of a service number.

Agents check it while diagnosing (NOSSA, Fresh Lapul) and to verify a repair (IVR Gamas, Force
Close): is the line online, is the ONT in LOS, is the optical power within spec, and did the
customer actually use the internet in the last days.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from .base import (
    Adapter,
    AdapterRejected,
    LineCondition,
    Stub,
    customer_ont,
    line_condition,
    require_service_number,
)
from .lines import line

# ONT received power below this is out of spec: the line works but is slow or unstable.
ONT_RX_POWER_FLOOR_DBM = -24.0
MAX_USAGE_DAYS = 90


class LineStatus(StrEnum):
    ONLINE = "online"
    LOS = "los"  # the ONT gets no light from the fibre
    OFFLINE = "offline"  # the ONT does not answer: powered off or hung


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """One live check. Optical powers are ``None`` when the ONT cannot be measured."""

    service_number: str
    status: LineStatus
    onu_serial: str
    ont_rx_power_dbm: float | None  # light the ONT receives from the OLT
    olt_rx_power_dbm: float | None  # light the OLT receives from the ONT
    checked_at: datetime

    @property
    def is_healthy(self) -> bool:
        """Online with optical power in spec: what Force Close and Gamas verification accept."""
        return (
            self.status == LineStatus.ONLINE
            and self.ont_rx_power_dbm is not None
            and self.ont_rx_power_dbm >= ONT_RX_POWER_FLOOR_DBM
        )


@dataclass(frozen=True, slots=True)
class DailyUsage:
    day: date
    download_gb: float
    upload_gb: float


class IboosterAdapter(Adapter):
    app = "ibooster"
    display_name = "Ibooster"

    @abc.abstractmethod
    def connection_status(self, *, service_number: str) -> ConnectionStatus:
        """The line's status right now."""

    @abc.abstractmethod
    def usage_history(self, *, service_number: str, days: int) -> list[DailyUsage]:
        """Usage per day for the last ``days`` complete days (1..90), oldest first."""


_STATUS_BY_CONDITION = {
    LineCondition.LOS: LineStatus.LOS,
    LineCondition.ONT_HANG: LineStatus.OFFLINE,
}


class IboosterStub(Stub, IboosterAdapter):
    """The line's status follows its fault in the fake world; usage is zero while it is down."""

    def connection_status(self, *, service_number: str) -> ConnectionStatus:
        self._call("connection_status")
        require_service_number(service_number)
        condition = line_condition(service_number)
        status = _STATUS_BY_CONDITION.get(condition, LineStatus.ONLINE)
        ont_rx = olt_rx = None
        if status == LineStatus.ONLINE:
            rng = self._rng("power", service_number)
            ont_rx = round(rng.uniform(-23.5, -15.0), 2)
            olt_rx = round(rng.uniform(-26.0, -17.0), 2)
        return ConnectionStatus(
            service_number=service_number,
            status=status,
            onu_serial=customer_ont(service_number).serial,
            ont_rx_power_dbm=ont_rx,
            olt_rx_power_dbm=olt_rx,
            checked_at=self._now(),
        )

    def usage_history(self, *, service_number: str, days: int) -> list[DailyUsage]:
        self._call("usage_history")
        require_service_number(service_number)
        if not isinstance(days, int) or not 1 <= days <= MAX_USAGE_DAYS:
            raise AdapterRejected(f"days must be within 1..{MAX_USAGE_DAYS}, got {days!r}")
        down_since = self._down_since(service_number)
        speed = line(service_number).package.speed_mbps
        history = []
        for back in range(days, 0, -1):
            day = self._today() - timedelta(days=back)
            if down_since is not None and day >= down_since:
                history.append(DailyUsage(day=day, download_gb=0.0, upload_gb=0.0))
                continue
            rng = self._rng("usage", service_number, day.isoformat())
            download = rng.uniform(0.2, 0.6) * speed
            history.append(
                DailyUsage(
                    day=day,
                    download_gb=round(download, 2),
                    upload_gb=round(download * rng.uniform(0.08, 0.2), 2),
                )
            )
        return history

    def _down_since(self, service_number: str) -> date | None:
        """The first day without traffic, for lines that are not online."""
        if line_condition(service_number) not in _STATUS_BY_CONDITION:
            return None
        return self._today() - timedelta(days=self._rng("outage", service_number).randint(1, 3))

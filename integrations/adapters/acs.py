"""ACS: remote management of the customer's CPE (the ONT and its WiFi).

ACS (auto configuration server, the TR-069 manager of the home devices) lets an agent read the
device's model, firmware and settings, see what is wrong, and fix some faults without a
technician: reboot a hung ONT, switch WiFi back on. Used in NOSSA, Force Close and Fresh Lapul.
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

# Actions ACS can run on a device.
REMOTE_ACTIONS = ("reboot", "reset_wifi", "factory_reset")
# How the ACS's own messages name them (its operators' words, not the console's).
ACTION_WORDS = {
    "reboot": "Reboot ONT",
    "reset_wifi": "Reset pengaturan WiFi",
    "factory_reset": "Reset ke setelan pabrik",
}


@dataclass(frozen=True, slots=True)
class CpeDiagnosis:
    """What ACS sees on the device; ``suggested_action`` is one of ``REMOTE_ACTIONS`` or None."""

    service_number: str
    device_model: str  # vendor and model, e.g. "ZTE F670L"
    firmware: str
    ont_serial: str
    wifi_status: str  # "on", "off" or "unknown" (device not reachable)
    findings: tuple[str, ...]
    fixable_remotely: bool
    suggested_action: str | None


@dataclass(frozen=True, slots=True)
class RemoteFixResult:
    job_id: str
    service_number: str
    action: str
    fixed: bool
    message: str


class AcsAdapter(Adapter):
    app = "acs"
    display_name = "ACS"

    @abc.abstractmethod
    def diagnose(self, *, service_number: str) -> CpeDiagnosis:
        """Read the customer's device and list what is wrong with it."""

    @abc.abstractmethod
    def remote_fix(
        self, *, service_number: str, action: str, idempotency_key: str
    ) -> RemoteFixResult:
        """Run one of ``REMOTE_ACTIONS`` on the device."""


# condition -> (wifi status, findings, suggested action)
_DIAGNOSES: dict[LineCondition, tuple[str, tuple[str, ...], str | None]] = {
    LineCondition.HEALTHY: ("on", (), None),
    LineCondition.WIFI_OFF: (
        "off",
        ("WiFi 2.4 GHz dan 5 GHz dimatikan di perangkat",),
        "reset_wifi",
    ),
    LineCondition.ONT_HANG: (
        "unknown",
        ("ONT tidak merespons (hang)", "Sesi PPPoE terputus"),
        "reboot",
    ),
    LineCondition.PROFILE_MISMATCH: (
        "on",
        ("Kecepatan sinkron di bawah paket; profil jaringan perlu diperbarui di Minitools",),
        None,
    ),
    LineCondition.LOS: (
        "unknown",
        ("ONT melaporkan LOS: tidak ada sinyal optik", "Perlu pengecekan kabel oleh teknisi"),
        None,
    ),
}


class AcsStub(Stub, AcsAdapter):
    """Diagnoses follow the line's fault; a fix works when it is the suggested action."""

    def diagnose(self, *, service_number: str) -> CpeDiagnosis:
        self._call("diagnose")
        require_service_number(service_number)
        return self._diagnosis(service_number)

    def remote_fix(
        self, *, service_number: str, action: str, idempotency_key: str
    ) -> RemoteFixResult:
        self._call("remote_fix")
        require_service_number(service_number)
        require_choice("action", action, REMOTE_ACTIONS)
        job_id = self._reference("remote_fix", idempotency_key, prefix="ACS", digits=9)
        suggested = self._diagnosis(service_number).suggested_action
        fixed = action == suggested
        done = ACTION_WORDS[action]
        if fixed:
            message = f"{done} berhasil dijalankan"
        elif suggested is None:
            message = f"{done} dijalankan, gangguan tidak dapat diselesaikan dari jarak jauh"
        else:
            message = f"{done} dijalankan tanpa hasil; disarankan {ACTION_WORDS[suggested]}"
        return RemoteFixResult(
            job_id=job_id,
            service_number=service_number,
            action=action,
            fixed=fixed,
            message=message,
        )

    @staticmethod
    def _diagnosis(service_number: str) -> CpeDiagnosis:
        ont = customer_ont(service_number)
        wifi_status, findings, suggested = _DIAGNOSES[line_condition(service_number)]
        return CpeDiagnosis(
            service_number=service_number,
            device_model=f"{ont.vendor} {ont.model}",
            firmware=ont.firmware,
            ont_serial=ont.serial,
            wifi_status=wifi_status,
            findings=findings,
            fixable_remotely=suggested is not None,
            suggested_action=suggested,
        )

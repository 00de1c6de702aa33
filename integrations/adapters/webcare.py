"""Webcare: the offers available on a customer's line (fastel).

The Ideas campaign flow reads the offers before calling the customer: speed upgrades above the
current package and add-ons (TV minipacks, an extra set-top box, a WiFi extender). An accepted
offer is entered as an order in Starclick.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from .base import Adapter, Stub, require_service_number
from .lines import SPEED_TIERS_MBPS, line

# Price difference per Mbps step, in rupiah a month, for speed upgrades.
_UPGRADE_IDR_PER_MBPS = 1_500
_MAX_UPGRADE_OFFERS = 2


@dataclass(frozen=True, slots=True)
class Offer:
    code: str
    name: str
    monthly_price_idr: int  # added to the monthly bill
    description: str


class WebcareAdapter(Adapter):
    app = "webcare"
    display_name = "Webcare"

    @abc.abstractmethod
    def offers(self, *, service_number: str) -> list[Offer]:
        """Offers the customer may take, upgrades first."""


_ADD_ONS = (
    Offer("ADD-STB", "STB tambahan", 50_000, "Set-top box kedua untuk menonton di kamar lain"),
    Offer("ADD-WIFIEXT", "WiFi Extender", 30_000, "Sewa perangkat penguat sinyal WiFi"),
    Offer("ADD-MINIPACK-SPORT", "Minipack Sport", 45_000, "Kanal olahraga tambahan di UseeTV"),
    Offer("ADD-MINIPACK-KIDS", "Minipack Kids", 25_000, "Kanal anak-anak tambahan di UseeTV"),
)
_TV_ADD_ON_PREFIXES = ("ADD-STB", "ADD-MINIPACK")
_ADD_TV = Offer("ADD-TV", "Tambah layanan TV (UseeTV)", 60_000, "Lebih dari 100 kanal TV")
_ADD_PHONE = Offer("ADD-PHONE", "Tambah telepon rumah", 25_000, "Saluran telepon rumah")


class WebcareStub(Stub, WebcareAdapter):
    """Upgrades to the next speed tiers, plus a few add-ons that fit the package."""

    def offers(self, *, service_number: str) -> list[Offer]:
        self._call("offers")
        require_service_number(service_number)
        package = line(service_number).package
        upgrades = [
            Offer(
                code=f"UPG-{speed}M",
                name=f"Upgrade kecepatan {speed} Mbps",
                monthly_price_idr=(speed - package.speed_mbps) * _UPGRADE_IDR_PER_MBPS,
                description=f"Naik dari {package.speed_mbps} Mbps ke {speed} Mbps",
            )
            for speed in SPEED_TIERS_MBPS
            if speed > package.speed_mbps
        ][:_MAX_UPGRADE_OFFERS]
        if package.has_tv:
            candidates = list(_ADD_ONS)
        else:
            candidates = [_ADD_TV]
            candidates += [o for o in _ADD_ONS if not o.code.startswith(_TV_ADD_ON_PREFIXES)]
        if not package.has_phone:
            candidates.append(_ADD_PHONE)
        rng = self._rng("offers", service_number)
        chosen = rng.sample(candidates, k=rng.randint(1, len(candidates)))
        return upgrades + sorted(chosen, key=lambda offer: offer.code)

"""I-SISKA: the customer's profile and package, shown on the customer panel of every ticket.

Gives who the customer is (name, address, contact phone), what they subscribe to (package,
speed, since when) and where the line is (STO, OLT, ODP codes; a gamas incident matches
customers by these).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date, timedelta

from .base import (
    Adapter,
    Stub,
    mobile_phone,
    network_area,
    require_service_number,
    subscribed_package,
)


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    service_number: str
    customer_name: str
    address: str
    phone: str  # contact number for calls, usually a mobile
    package_name: str
    speed_mbps: int
    has_phone: bool
    has_tv: bool
    customer_since: date
    sto: str
    olt: str
    odp: str


class IsiskaAdapter(Adapter):
    app = "isiska"
    display_name = "I-SISKA"

    @abc.abstractmethod
    def profile(self, *, service_number: str) -> CustomerProfile:
        """The customer's profile and package."""


_FIRST_NAMES = (
    "Budi", "Siti", "Agus", "Dewi", "Rina", "Andi", "Wahyu", "Sri", "Eko", "Nur",
    "Putri", "Rizky", "Hendra", "Fitri", "Yudi", "Ayu", "Bambang", "Indah", "Joko", "Ratna",
)  # fmt: skip
_LAST_NAMES = (
    "Santoso", "Wijaya", "Saputra", "Lestari", "Hidayat", "Pratama", "Kusuma", "Setiawan",
    "Nugroho", "Rahmawati", "Susanto", "Hartono", "Purnomo", "Siregar", "Nasution", "Wibowo",
)  # fmt: skip
_STREETS = (
    "Jl. Merdeka", "Jl. Diponegoro", "Jl. Jend. Sudirman", "Jl. Ahmad Yani", "Jl. Gajah Mada",
    "Jl. Veteran", "Jl. Kawi", "Jl. Soekarno-Hatta", "Jl. Ijen", "Jl. Pahlawan",
)  # fmt: skip
_FIRST_CUSTOMER_DAY = date(2015, 1, 1)
_CUSTOMER_DAY_SPAN = 3300  # up to 2024


class IsiskaStub(Stub, IsiskaAdapter):
    """Plausible Indonesian customers; package and area are shared with the other stubs."""

    def profile(self, *, service_number: str) -> CustomerProfile:
        self._call("profile")
        require_service_number(service_number)
        rng = self._rng("profile", service_number)
        package = subscribed_package(service_number)
        area = network_area(service_number)
        return CustomerProfile(
            service_number=service_number,
            customer_name=f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}",
            address=(
                f"{rng.choice(_STREETS)} No. {rng.randint(1, 250)}, "
                f"RT {rng.randint(1, 12):02d}/RW {rng.randint(1, 9):02d}, {area.city}"
            ),
            phone=mobile_phone(rng),
            package_name=package.name,
            speed_mbps=package.speed_mbps,
            has_phone=package.has_phone,
            has_tv=package.has_tv,
            customer_since=_FIRST_CUSTOMER_DAY + timedelta(days=rng.randrange(_CUSTOMER_DAY_SPAN)),
            sto=area.sto,
            olt=area.olt,
            odp=area.odp,
        )

"""The line directory: the one truth about every line (fastel) of the fake world.

For a service number it says who the customer is (name, contact phone, e-mail), where the line
is installed (address, STO, OLT, ODP) and what the customer subscribes to (package). Every stub
that describes a line answers from here (I-SISKA's profile, Minitools' OLT, the package behind
E-payment's bills, Webcare's offers and Ibooster's usage, the Callback caller's phone), and so
do the demo data (``manage.py load_demo``) and the bench generator (``bench/generate_tickets.py``)
when they create lines. So a ticket, I-SISKA and the network agree about a line, and a gamas
incident opened on an OLT or ODP code covers the demo lines, the generated ones and the lines
pulled from I-SISKA alike.

Nothing is stored: a line is derived from a SHA-256 digest of its number (``rng_for``), so every
process (web, Celery workers, a test, the generator) finds the same line. The demo data makes up
no line of its own: it looks them up, keeping the demo numbers whose line lies where a demo
story needs one, inside an outage or well outside it (``load_demo.pick_demo_lines``).

The network codes have ONE format, the one the console shows and a supervisor types when
opening a gamas incident:

- STO: three letters, e.g. ``KBL`` (Kebalen, Surabaya);
- OLT: ``OLT-<STO>-<nn>``, e.g. ``OLT-KBL-02``; an STO has :data:`OLTS_PER_STO` OLTs;
- ODP: ``ODP-<STO>-FA<letter>/<nnn>``, e.g. ``ODP-BLB-FAD/007``. The letter names the feeder
  cable, and each OLT feeds two letters (OLT 1: A and B, OLT 2: C and D, ...), so an ODP lies
  on exactly one OLT: a line on ``ODP-BLB-FAD/007`` is on ``OLT-BLB-02``.

A real system can disagree with the directory (a customer changed their number at the front
desk): a stub can be told to answer otherwise for one line through the effect ledger
(``EffectLedger.configure_answer``, see ``base.py``), and the console then shows the
disagreement on the ticket.
"""

from __future__ import annotations

import functools
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from .base import random_digits, rng_for

_DIRECTORY = "line-directory"


class Area(NamedTuple):
    """An exchange area (STO) and where it is; its lines' numbers start with ``prefix``."""

    sto: str
    district: str
    city: str
    prefix: str


AREAS = (
    Area("GBR", "Gambir", "Jakarta Pusat", "1311"),
    Area("CPP", "Cempaka Putih", "Jakarta Pusat", "1311"),
    Area("KBY", "Kebayoran Baru", "Jakarta Selatan", "1311"),
    Area("TBE", "Tebet", "Jakarta Selatan", "1311"),
    Area("JTN", "Jatinegara", "Jakarta Timur", "1311"),
    Area("DPK", "Pancoran Mas", "Depok", "1311"),
    Area("KBL", "Kebalen", "Surabaya", "1221"),
    Area("RKT", "Rungkut", "Surabaya", "1221"),
    Area("BLB", "Blimbing", "Malang", "1221"),
    Area("KLJ", "Klojen", "Malang", "1221"),
    Area("SWJ", "Sawojajar", "Malang", "1221"),
    Area("KPO", "Kepanjen", "Malang", "1221"),
)
AREA_BY_STO = {area.sto: area for area in AREAS}
# The regional prefixes of the service numbers (the first four digits).
SERVICE_NUMBER_PREFIXES = tuple(sorted({area.prefix for area in AREAS}))
_AREAS_BY_PREFIX = {
    prefix: tuple(area for area in AREAS if area.prefix == prefix)
    for prefix in SERVICE_NUMBER_PREFIXES
}

OLTS_PER_STO = 4
FEEDERS_PER_OLT = 2  # ODP letters per OLT
ODPS_PER_FEEDER = 12
_FEEDER_LETTERS = "ABCDEFGH"  # OLTS_PER_STO * FEEDERS_PER_OLT letters


def olt_code(sto: str, number: int) -> str:
    """``OLT-KBL-02``: the OLT ``number`` of the STO."""
    return f"OLT-{sto}-{number:02d}"


def odp_code(sto: str, letter: str, number: int) -> str:
    """``ODP-BLB-FAD/007``: the ODP ``number`` on feeder ``letter`` of the STO."""
    return f"ODP-{sto}-FA{letter}/{number:03d}"


OLT_CODE_RE = re.compile(r"OLT-(?P<sto>[A-Z]{3})-(?P<number>\d{2})")
ODP_CODE_RE = re.compile(r"ODP-(?P<sto>[A-Z]{3})-FA(?P<letter>[A-H])/(?P<number>\d{3})")


def olt_of_odp(odp: str) -> str:
    """The OLT that feeds an ODP of the directory's format (``ValueError`` for another code)."""
    found = ODP_CODE_RE.fullmatch(odp)
    if found is None:
        raise ValueError(f"not an ODP code of the line directory: {odp!r}")
    feeder = _FEEDER_LETTERS.index(found["letter"])
    return olt_code(found["sto"], feeder // FEEDERS_PER_OLT + 1)


@dataclass(frozen=True, slots=True)
class Package:
    """An IndiHome package: 1P is internet only, 2P adds phone or TV, 3P has all three."""

    name: str
    speed_mbps: int
    monthly_fee_idr: int
    has_phone: bool
    has_tv: bool


PACKAGES = (
    Package("IndiHome 1P Internet 30 Mbps", 30, 280_000, has_phone=False, has_tv=False),
    Package("IndiHome 1P Internet 50 Mbps", 50, 330_000, has_phone=False, has_tv=False),
    Package("IndiHome 2P Internet + Phone 30 Mbps", 30, 315_000, has_phone=True, has_tv=False),
    Package("IndiHome 2P Internet + TV 50 Mbps", 50, 395_000, has_phone=False, has_tv=True),
    Package("IndiHome 3P Internet + TV + Phone 50 Mbps", 50, 445_000, has_phone=True, has_tv=True),
    Package(
        "IndiHome 3P Internet + TV + Phone 100 Mbps", 100, 585_000, has_phone=True, has_tv=True
    ),
)
SPEED_TIERS_MBPS = (30, 50, 100, 200, 300)

FIRST_NAMES = (
    "Budi", "Siti", "Agus", "Dewi", "Rudi", "Sri", "Andi", "Rina", "Hendra", "Wati", "Joko",
    "Nur", "Eko", "Ratna", "Dedi", "Yuni", "Bambang", "Indah", "Fajar", "Lestari", "Ahmad",
    "Putri", "Dimas", "Ayu", "Rizky", "Fitri", "Hadi", "Maya", "Teguh", "Wulan", "Arif",
    "Intan", "Bayu", "Kartika", "Irfan", "Diah", "Yusuf", "Anisa", "Slamet", "Endang",
    "Gilang", "Novi", "Taufik", "Mega", "Hasan", "Yanti", "Reza", "Sari", "Wahyu", "Desi",
)  # fmt: skip
LAST_NAMES = (
    "Santoso", "Wijaya", "Saputra", "Pratama", "Hidayat", "Kusuma", "Setiawan", "Nugroho",
    "Wibowo", "Siregar", "Nasution", "Harahap", "Simanjuntak", "Lubis", "Susanto", "Gunawan",
    "Kurniawan", "Purnomo", "Rahmawati", "Handayani", "Sulistyo", "Prasetyo", "Suryadi",
    "Halim", "Tanjung", "Sihombing", "Hutapea", "Firmansyah", "Ramadhan", "Maulana",
    "Utomo", "Permana", "Syahputra", "Anggraini", "Wahyudi", "Hakim", "Effendi", "Sitompul",
)  # fmt: skip
STREETS = (
    "Jl. Merdeka", "Jl. Jend. Sudirman", "Jl. Diponegoro", "Jl. Gatot Subroto", "Jl. Ahmad Yani",
    "Jl. Pahlawan", "Jl. Veteran", "Jl. Imam Bonjol", "Jl. Kartini", "Jl. Gajah Mada",
    "Jl. Hayam Wuruk", "Jl. Melati", "Jl. Mawar", "Jl. Kenanga", "Jl. Anggrek", "Jl. Cempaka",
    "Jl. Flamboyan", "Jl. Soekarno Hatta", "Jl. Ijen", "Jl. Kawi", "Jl. Semeru", "Jl. Bromo",
    "Jl. Rajawali", "Jl. Garuda", "Jl. Pemuda", "Jl. Cendana", "Jl. Dr. Wahidin",
    "Jl. Pattimura", "Jl. Teuku Umar", "Jl. Sultan Agung", "Gg. Mangga", "Perum Griya Asri Blok C",
)  # fmt: skip
EMAIL_DOMAINS = ("gmail.com", "gmail.com", "yahoo.co.id", "outlook.com", "telkom.net")
PHONE_PREFIXES = ("0811", "0812", "0813", "0821", "0822", "0852", "0857", "0878", "0896")
EMAIL_SHARE = 0.7  # customers who gave an e-mail address
_FIRST_CUSTOMER_DAY = date(2015, 1, 1)
_CUSTOMER_DAY_SPAN = 3300  # up to 2024


def mobile_phone(rng: random.Random) -> str:
    """An Indonesian mobile number, e.g. ``081234567890``."""
    return rng.choice(PHONE_PREFIXES) + random_digits(rng, 8)


@dataclass(frozen=True, slots=True)
class Line:
    """One line and its customer, as every system of the fake world knows them."""

    service_number: str
    customer_name: str
    phone: str  # the customer's contact number, usually a mobile
    email: str  # "" when the customer gave none
    address: str  # the installation address, which is also the customer's
    district: str
    city: str
    sto: str
    olt: str
    odp: str
    package: Package
    customer_since: date


def _area_for(service_number: str, rng: random.Random) -> Area:
    """An area of the number's region; a number outside the known regions gets any area."""
    return rng.choice(_AREAS_BY_PREFIX.get(service_number[:4], AREAS))


@functools.lru_cache(maxsize=4096)
def line(service_number: str) -> Line:
    """The line of a service number (any string; the stubs check the format first)."""
    rng = rng_for(_DIRECTORY, service_number)
    area = _area_for(service_number, rng)
    olt_no = rng.randint(1, OLTS_PER_STO)
    feeder = _FEEDER_LETTERS[(olt_no - 1) * FEEDERS_PER_OLT + rng.randrange(FEEDERS_PER_OLT)]
    odp_no = rng.randint(1, ODPS_PER_FEEDER)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    address = (
        f"{rng.choice(STREETS)} No. {rng.randint(1, 180)}, RT {rng.randint(1, 12):03d}/"
        f"RW {rng.randint(1, 9):03d}, {area.district}, {area.city}"
    )
    phone = mobile_phone(rng)
    email = ""
    if rng.random() < EMAIL_SHARE:
        email = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}".lower()
    return Line(
        service_number=service_number,
        customer_name=f"{first} {last}",
        phone=phone,
        email=email,
        address=address,
        district=area.district,
        city=area.city,
        sto=area.sto,
        olt=olt_code(area.sto, olt_no),
        odp=odp_code(area.sto, feeder, odp_no),
        package=rng.choice(PACKAGES),
        customer_since=_FIRST_CUSTOMER_DAY + timedelta(days=rng.randrange(_CUSTOMER_DAY_SPAN)),
    )


_POOL_SIZE = 5000


def pooled_service_number(rng: random.Random) -> str:
    """A service number from a fixed pool of fake customers.

    Pulled tickets and callback records draw from the pool rather than from all 10^12 numbers,
    so the same customer comes back (Fresh Lapul) and neighbours share an OLT (Gamas). Pooled
    numbers are a prefix and eight digits from 10000000: never a demo number (prefix, ``00``,
    six digits).
    """
    index = rng.randrange(_POOL_SIZE)
    customer = rng_for(_DIRECTORY, "pool", index)
    return customer.choice(SERVICE_NUMBER_PREFIXES) + random_digits(customer, 8)

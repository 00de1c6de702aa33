"""E-payment: the customer's Telkom bills and whether they are paid.

Shown on the customer panel and used for billing questions. The Ideas campaign flow checks
arrears here: a customer with overdue unpaid bills is not eligible for an offer. IndiHome bills
are monthly and fall due on the 20th of their month.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date

from .base import Adapter, Stub, require_service_number
from .lines import line

BILL_DUE_DAY = 20
BILL_HISTORY_MONTHS = 6
ARREARS_SHARE = 0.2  # share of fake customers with overdue bills


@dataclass(frozen=True, slots=True)
class Bill:
    period: str  # "YYYY-MM"
    amount_idr: int
    due_date: date
    paid: bool


@dataclass(frozen=True, slots=True)
class Arrears:
    """Overdue unpaid bills: unpaid bills whose due date has passed."""

    service_number: str
    total_idr: int
    months_unpaid: int

    @property
    def in_arrears(self) -> bool:
        return self.months_unpaid > 0


class EpaymentAdapter(Adapter):
    app = "epayment"
    display_name = "E-payment"

    @abc.abstractmethod
    def bills(self, *, service_number: str) -> list[Bill]:
        """The last six monthly bills, oldest first, the current month's last."""

    @abc.abstractmethod
    def arrears(self, *, service_number: str) -> Arrears:
        """What the customer owes on overdue bills."""


def _months_back(today: date, count: int) -> list[date]:
    """The first day of the ``count`` months ending with today's month, oldest first."""
    index = today.year * 12 + today.month - 1
    return [date((i // 12), i % 12 + 1, 1) for i in range(index - count + 1, index + 1)]


class EpaymentStub(Stub, EpaymentAdapter):
    """About one customer in five has one to three overdue bills; the rest pay on time."""

    def bills(self, *, service_number: str) -> list[Bill]:
        self._call("bills")
        require_service_number(service_number)
        return self._bills(service_number)

    def arrears(self, *, service_number: str) -> Arrears:
        self._call("arrears")
        require_service_number(service_number)
        overdue = [
            bill
            for bill in self._bills(service_number)
            if not bill.paid and bill.due_date < self._today()
        ]
        return Arrears(
            service_number=service_number,
            total_idr=sum(bill.amount_idr for bill in overdue),
            months_unpaid=len(overdue),
        )

    def _bills(self, service_number: str) -> list[Bill]:
        today = self._today()
        fee = line(service_number).package.monthly_fee_idr
        owner = self._rng("arrears", service_number)
        months_in_arrears = owner.randint(1, 3) if owner.random() < ARREARS_SHARE else 0
        months = _months_back(today, BILL_HISTORY_MONTHS)
        due_dates = [month.replace(day=BILL_DUE_DAY) for month in months]
        # Overdue bills are paid, except the latest ``months_in_arrears`` of them.
        first_unpaid = sum(due < today for due in due_dates) - months_in_arrears
        bills = []
        for index, (month, due) in enumerate(zip(months, due_dates, strict=True)):
            rng = self._rng("bill", service_number, month.isoformat())
            # Phone calls and pay-per-view come on top of the package fee; PPN (VAT) is 11 %.
            amount = (fee + rng.randrange(0, 40_000, 500)) * 111 // 100
            paid = index < first_unpaid if due < today else rng.random() < 0.3
            bills.append(
                Bill(period=month.strftime("%Y-%m"), amount_idr=amount, due_date=due, paid=paid)
            )
        return bills

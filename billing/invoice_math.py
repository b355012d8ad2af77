"""Invoice line arithmetic, in integer minor units.

net = quantity × unit price, and tax = net × rate ÷ 100, each rounded half-up
(halves away from zero) to a whole minor unit *per line*; the invoice total is
the sum of the lines' net + tax. Rounding per line is what a printed invoice
shows, so the customer can add it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from billing.money import round_half_up


@dataclass(frozen=True)
class LineAmounts:
    """What one line contributes to an invoice."""

    net_minor: int
    tax_minor: int

    @property
    def total_minor(self) -> int:
        """Net plus tax."""
        return self.net_minor + self.tax_minor


def line_amounts(quantity: Decimal, unit_price_minor: int, tax_rate: Decimal) -> LineAmounts:
    """Net and tax of one line, each rounded half-up to minor units."""
    net = round_half_up(Decimal(quantity) * unit_price_minor)
    tax = round_half_up(Decimal(net) * Decimal(tax_rate) / 100)
    return LineAmounts(net, tax)

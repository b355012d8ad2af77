"""Line arithmetic: net and tax rounded half-up per line, in minor units."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.invoice_math import line_amounts


@pytest.mark.parametrize(
    ("quantity", "price", "rate", "net", "tax"),
    [
        # 2.5 × 1999 = 4997.5 → 4998 (half up); 4998 × 20% = 999.6 → 1000
        ("2.5", 1999, "20", 4998, 1000),
        # 1 × 1000 = 1000; 1000 × 8.875% = 88.75 → 89
        ("1", 1000, "8.875", 1000, 89),
        # 3 × 333 = 999; 999 × 5% = 49.95 → 50
        ("3", 333, "5", 999, 50),
        # 0.5 × 1 = 0.5 → 1 (a half rounds away from zero, not to even)
        ("0.5", 1, "0", 1, 0),
        # 1 × 250 = 250; 250 × 10% = 25 exactly
        ("1", 250, "10", 250, 25),
        # 1 × 5 = 5; 5 × 10% = 0.5 → 1
        ("1", 5, "10", 5, 1),
    ],
)
def test_line_amounts(quantity: str, price: int, rate: str, net: int, tax: int) -> None:
    amounts = line_amounts(Decimal(quantity), price, Decimal(rate))
    assert (amounts.net_minor, amounts.tax_minor) == (net, tax)
    assert amounts.total_minor == net + tax


@given(
    st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(10000), places=4),
    st.integers(min_value=0, max_value=10**9),
    st.decimals(min_value=Decimal(0), max_value=Decimal(100), places=3),
)
def test_rounding_is_within_half_a_minor_unit(quantity: Decimal, price: int, rate: Decimal) -> None:
    amounts = line_amounts(quantity, price, rate)
    assert abs(Decimal(amounts.net_minor) - quantity * price) <= Decimal("0.5")
    assert abs(Decimal(amounts.tax_minor) - Decimal(amounts.net_minor) * rate / 100) <= Decimal(
        "0.5"
    )

"""Named expressions shared by the queries: exact rounded ratios and day counts.

Every ratio in the product (DSO, CEI, collection rates, shares) goes through
`rounded_ratio`, so "rounded to 2 decimals, null on a zero denominator"
(SPEC §3) is one rule in one place.
"""

from __future__ import annotations

import polars as pl


def ratio_hundredths(numerator: pl.Expr, denominator: pl.Expr, *, scale: int = 1) -> pl.Expr:
    """Scale × numerator ÷ denominator in whole hundredths, rounded half away from zero.

    Integer arithmetic in Int128, so a tie such as 0.125 always becomes 13
    hundredths (a float would give 12) and large amounts never overflow.
    Null when the denominator is zero.
    """
    num = numerator.cast(pl.Int128) * (scale * 100)
    den = denominator.cast(pl.Int128)
    magnitude = (num.abs() * 2 + den.abs()) // (den.abs() * 2)
    # Int128 has no negation in Polars 2.1: subtract from zero instead.
    signed = pl.when((num < 0) != (den < 0)).then(pl.lit(0, pl.Int128) - magnitude)
    return pl.when(den != 0).then(signed.otherwise(magnitude))


def from_hundredths(hundredths: pl.Expr) -> pl.Expr:
    """Whole hundredths as the Float64 nearest to their 2-decimal value (7832 -> 78.32).

    The final round(2) only snaps to the nearest double: Polars may divide by
    100 as × 0.01, which would give 78.32000000000001.
    """
    return (hundredths.cast(pl.Float64) / 100).round(2)


def rounded_ratio(numerator: pl.Expr, denominator: pl.Expr, *, scale: int = 1) -> pl.Expr:
    """Scale × numerator ÷ denominator, rounded half away from zero to 2 decimals; null on ÷ 0."""
    return from_hundredths(ratio_hundredths(numerator, denominator, scale=scale))


def days_between(later: str, earlier: str) -> pl.Expr:
    """Whole days from the date column `earlier` to `later` (negative when `later` comes first)."""
    return (pl.col(later) - pl.col(earlier)).dt.total_days()

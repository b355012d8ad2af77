"""Periods for series: calendar days, ISO weeks or months over a range, clipped to it.

Every series in `queries/` (the monthly KPIs, collections per week, billings
per month) takes its periods from here, so the first and last buckets of a
range are partial in the same way everywhere: a dashboard's newest month ends
on the as-of date, not at the month's end.
"""

from __future__ import annotations

from datetime import date

import polars as pl

EVERY: tuple[str, ...] = ("1d", "1w", "1mo")
ONE_DAY = pl.duration(days=1)


def period(start: date, end: date) -> pl.LazyFrame:
    """One period [start, end]; ValueError if it runs backwards."""
    if end < start:
        raise ValueError(f"the period ends ({end}) before it starts ({start})")
    return pl.LazyFrame({"period_start": [start], "period_end": [end]})


def periods(*, start: date, end: date, every: str = "1mo") -> pl.LazyFrame:
    """Calendar buckets of length `every` covering [start, end], clipped to it.

    Columns: period_start, period_end (both inclusive). Weeks start on Monday.
    `periods(start=2024-02-29, end=2024-04-02)` gives Feb 29–29, Mar 1–31, Apr 1–2.
    ValueError if the range runs backwards or `every` is not one of EVERY.
    """
    if every not in EVERY:
        raise ValueError(f"every must be one of {', '.join(EVERY)}, not {every!r}")
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    bucket = pl.col("_bucket")
    return (
        pl.LazyFrame()
        .select(
            pl.date_range(pl.lit(start).dt.truncate(every), pl.lit(end), interval=every).alias(
                "_bucket"
            )
        )
        .select(
            period_start=pl.max_horizontal(bucket, pl.lit(start)),
            period_end=pl.min_horizontal(bucket.dt.offset_by(every) - ONE_DAY, pl.lit(end)),
        )
    )

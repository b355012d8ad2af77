"""The DSO family, CEI and countback DSO for any periods, in one vectorised pass (SPEC §3).

A period runs from `period_start` S to `period_end` E, both inclusive, N = E − S + 1
days. Every figure comes from the running totals of `queries.balances` read
at S − 1 and at E, so a 36-month series costs two as-of joins, not 36
recomputations. Countback DSO walks back calendar months from each E; the walk
is done for all periods at once (every period's months in one frame, a
cumulative sum of sales newest first) rather than month by month.

Ratios are exact rationals of integer minor units, rounded half away from zero
to 2 decimals (`queries.expressions.rounded_ratio`), and null when the
denominator is zero. ADD is DSO − best possible DSO as shown, the difference
of the two rounded figures, so the three always add up on a report (it can
differ by 0.01 from overdue AR ÷ credit sales × N rounded on its own).
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from queries.balances import BEGIN, daily_positions, join_positions, moved, period_positions
from queries.calendar import period
from queries.expressions import from_hundredths, ratio_hundredths, rounded_ratio
from queries.ledger import LedgerFrames


def period_kpis(
    ledger: LedgerFrames, periods: pl.LazyFrame, *, positions: pl.DataFrame | None = None
) -> pl.LazyFrame:
    """Every SPEC §3 figure for each period (`period_start`, `period_end`) and currency.

    Columns: currency, period_start, period_end, days, ar_begin_minor (AR at
    S − 1), ar_minor, current_ar_minor, overdue_ar_minor (at E),
    credit_sales_minor, collections_minor, cash_received_minor (within the
    period), unapplied_minor (at E), then the Float64 ratios dso,
    best_possible_dso, add, cei and countback_dso. One row per period and
    currency with a posted invoice or a payment, sorted by period, then currency.

    `positions` is `daily_positions(ledger)` already collected, for a caller
    that keeps it per ledger version; without it, it is collected here once,
    because the as-of joins below would otherwise each recompute it (measured
    at 300k invoices: 400 ms with a shared lazy plan, 165 ms collected once).
    """
    if positions is None:
        positions = daily_positions(ledger).collect()
    periods = periods.select("period_start", "period_end").unique()
    days = (pl.col("period_end") - pl.col("period_start")).dt.total_days() + 1
    ar, current = pl.col("ar_minor"), pl.col("current_ar_minor")
    ar_begin, sales = pl.col(f"ar_minor{BEGIN}"), pl.col("credit_sales_minor")
    figures = (
        period_positions(ledger, periods, positions=positions)
        .with_columns(
            days=days,
            credit_sales_minor=moved("sales_minor"),
            collections_minor=moved("collections_minor"),
            cash_received_minor=moved("cash_received_minor"),
        )
        .with_columns(
            _dso=ratio_hundredths(ar.cast(pl.Int128) * pl.col("days"), sales),
            _best=ratio_hundredths(current.cast(pl.Int128) * pl.col("days"), sales),
        )
        .with_columns(
            dso=from_hundredths(pl.col("_dso")),
            best_possible_dso=from_hundredths(pl.col("_best")),
            add=from_hundredths(pl.col("_dso") - pl.col("_best")),
            cei=rounded_ratio(ar_begin + sales - ar, ar_begin + sales - current, scale=100),
        )
    )
    countback = countback_dso(ledger, periods, positions=positions)
    return (
        figures.join(countback, on=["currency", "period_end"], how="left")
        .select(
            "currency",
            "period_start",
            "period_end",
            "days",
            ar_begin.alias("ar_begin_minor"),
            "ar_minor",
            "current_ar_minor",
            (ar - current).alias("overdue_ar_minor"),
            "credit_sales_minor",
            "collections_minor",
            "cash_received_minor",
            "unapplied_minor",
            "dso",
            "best_possible_dso",
            "add",
            "cei",
            pl.col("countback_dso").fill_null(0.0),  # a currency with payments only
        )
        .sort("period_start", "period_end", "currency")
    )


def kpis(
    ledger: LedgerFrames, *, start: date, end: date, positions: pl.DataFrame | None = None
) -> pl.LazyFrame:
    """`period_kpis` for the single period [start, end]: one row per currency."""
    return period_kpis(ledger, period(start, end), positions=positions)


def countback_dso(
    ledger: LedgerFrames, ends: pl.LazyFrame, *, positions: pl.DataFrame | None = None
) -> pl.LazyFrame:
    """Countback DSO at each date in `ends["period_end"]`, per currency with invoices.

    Each end date E is expanded into its months, newest first: E's month from
    the 1st to E, then whole calendar months back to the month of the
    currency's earliest posted invoice. With R = AR at E and each month's
    credit sales M and length L, the months that R consumes whole (R still
    above the sales of newer months plus M, or M = 0) add L days, and the one
    where R runs out adds L × (R left) ÷ M, exactly the loop of SPEC §3.
    Columns: currency, period_end, countback_dso (0 where AR at E is 0).
    """
    running = (daily_positions(ledger).collect() if positions is None else positions).lazy()
    first_month = ledger.invoices.group_by("currency").agg(
        first_month=pl.col("issue_date").min().dt.month_start()
    )
    months = (
        ends.select("period_end")
        .unique()
        .join(first_month, how="cross")
        .with_columns(
            month_start=pl.date_ranges(
                "first_month", pl.col("period_end").dt.month_start(), interval="1mo"
            )
        )
        .explode("month_start")
        .drop_nulls("month_start")
        .with_columns(
            month_end=pl.min_horizontal(pl.col("month_start").dt.month_end(), "period_end"),
            _before=pl.col("month_start") - timedelta(days=1),
        )
    )
    sales_at_end = join_positions(months, running, on="month_end").select(
        "currency", "period_end", "month_start", "month_end", pl.col("sales_minor").alias("_to")
    )
    sales_before = join_positions(months, running, on="_before").select(
        "currency", "period_end", "month_start", pl.col("sales_minor").alias("_from")
    )
    ar_at_end = join_positions(
        ends.select("period_end").unique().join(first_month.select("currency"), how="cross"),
        running,
        on="period_end",
    ).select("currency", "period_end", pl.col("ar_minor").alias("_ar"))

    sales = pl.col("_to") - pl.col("_from")
    length = (pl.col("month_end") - pl.col("month_start")).dt.total_days() + 1
    left = pl.col("_ar") - pl.col("_newer_sales")  # R when the walk reaches this month
    whole = (left > 0) & ((pl.col("_m") == 0) | (left > pl.col("_m")))
    partial = (left > 0) & (pl.col("_m") > 0) & (left <= pl.col("_m"))
    walked = (
        sales_at_end.join(sales_before, on=["currency", "period_end", "month_start"])
        .join(ar_at_end, on=["currency", "period_end"])
        .with_columns(_m=sales, _l=length)
        .sort("currency", "period_end", "month_start", descending=[False, False, True])
        .with_columns(
            _newer_sales=(pl.col("_m").cum_sum() - pl.col("_m")).over("currency", "period_end")
        )
        .group_by("currency", "period_end")
        .agg(
            _whole_days=pl.col("_l").filter(whole).sum(),
            _part_num=(pl.col("_l").cast(pl.Int128) * left).filter(partial).sum(),
            _part_den=pl.col("_m").filter(partial).max(),
        )
    )
    den = pl.col("_part_den").fill_null(1)
    days = pl.col("_whole_days").cast(pl.Int128) * den + pl.col("_part_num")
    # An end before the currency's first month has no months to walk (and no AR): 0 days.
    return (
        ar_at_end.select("currency", "period_end")
        .join(walked, on=["currency", "period_end"], how="left")
        .select(
            "currency",
            "period_end",
            countback_dso=rounded_ratio(days, den).fill_null(0.0),
        )
    )

"""Cash-flow series: what came in, per day, week or month, beside what was billed (SPEC §3).

Finance reads money movement as a time series, so every function here returns
one row per currency and period with every period of the range present (zeros
where nothing happened): a gap in a chart should mean "nothing came in", never
"row missing". Periods are calendar buckets (days; ISO weeks starting Monday;
calendar months) clipped to the requested range, so the first and last
buckets of a range may be partial, exactly as the KPI periods are.

Both read the running totals of `queries.balances` at the edges of each
period (`period_positions`), the same figures the KPIs use: collections are
allocations by `applied_date` (SPEC "Collections"), cash received is payments
by `received_date`, billed is credit sales, so a chart and the KPI cards can
never disagree.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from queries.balances import moved, period_positions
from queries.calendar import periods
from queries.ledger import LedgerFrames

MOVEMENT_COLUMNS = ("collections_minor", "cash_received_minor", "adjustments_minor")


def collections_by_period(
    ledger: LedgerFrames, *, start: date, end: date, every: str = "1mo"
) -> pl.LazyFrame:
    """Collections, cash received and adjustments per currency and period of [start, end].

    Columns: currency, period_start, period_end, collections_minor (allocations
    by applied date), cash_received_minor (payments by received date),
    adjustments_minor (credit notes and write-offs by date). One row for every
    period and every currency of the ledger, zeros included, sorted by
    currency then period. Collections and cash differ by design: cash can sit
    unapplied, and a collection can draw on cash received earlier.
    """
    return (
        period_positions(ledger, periods(start=start, end=end, every=every))
        .select(
            "currency",
            "period_start",
            "period_end",
            *(moved(name).alias(name) for name in MOVEMENT_COLUMNS),
        )
        .sort("currency", "period_start")
    )


def billings_vs_collections(ledger: LedgerFrames, *, start: date, end: date) -> pl.LazyFrame:
    """Per currency and calendar month of [start, end]: billed, collected, cash and AR at month end.

    Columns: currency, period_start, period_end, billed_minor (totals of posted
    invoices issued in the period: SPEC credit sales), collected_minor
    (allocations applied), cash_received_minor, adjustments_minor, ar_end_minor
    (AR at period_end: the month end, or `end` for a last partial month).
    Months are clipped to [start, end] like `collections_by_period`.

    AR rolls forward month to month:
    AR at the previous period_end + billed − collected − adjusted = ar_end_minor.
    """
    return (
        period_positions(ledger, periods(start=start, end=end, every="1mo"))
        .select(
            "currency",
            "period_start",
            "period_end",
            billed_minor=moved("sales_minor"),
            collected_minor=moved("collections_minor"),
            cash_received_minor=moved("cash_received_minor"),
            adjustments_minor=moved("adjustments_minor"),
            ar_end_minor=pl.col("ar_minor"),
        )
        .sort("currency", "period_start")
    )

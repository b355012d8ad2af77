"""Collection rate by cohort (SPEC §3): how fast each month's invoices turn into cash.

A cohort is the posted invoices of one currency issued in one calendar month.
For an offset of k days its collection rate is the share of the cohort's
invoiced total that was allocated on or before each invoice's own due date + k
(and on or before `as_of`: nothing later is known yet). Comparing cohorts at the
same k shows whether customers are paying faster or slower than they used to,
independently of how much was billed.

A rate is only comparable once every invoice of the cohort has had its full
k days: until then (some due date + k is after `as_of`) the percentage is null,
while the amount collected so far is still shown. Only allocations count, as
the SPEC defines it; credit notes and write-offs lower the rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from queries.expressions import days_between, rounded_ratio
from queries.ledger import LedgerFrames

DEFAULT_OFFSETS = (0, 30, 60, 90)
_PCT_PREFIX = "collected_pct_k"
_MINOR_PREFIX = "collected_minor_k"


def minor_column(k: int) -> str:
    """The name of the amount collected by due date + k: `collected_minor_k30`."""
    return f"{_MINOR_PREFIX}{k}"


def pct_column(k: int) -> str:
    """The name of the collection rate by due date + k: `collected_pct_k30`."""
    return f"{_PCT_PREFIX}{k}"


def _checked(offsets: Sequence[int]) -> tuple[int, ...]:
    """The offsets as a tuple; ValueError if one is negative or repeated (a column would clash)."""
    found = tuple(offsets)
    if not found or any(k < 0 for k in found) or len(set(found)) != len(found):
        raise ValueError(f"offsets must be distinct days ≥ 0, got {list(found)}")
    return found


def cohort_collection_rates(
    ledger: LedgerFrames, *, as_of: date, offsets: Sequence[int] = DEFAULT_OFFSETS
) -> pl.LazyFrame:
    """One row per currency and issue month up to `as_of`, with its collection rate at each offset.

    Columns: currency, cohort_month (the 1st of the issue month), invoices,
    invoiced_minor, then for each k in `offsets`: collected_minor_k{k}
    (allocated by due date + k and by `as_of`) and collected_pct_k{k}
    (0–100, 2 decimals; null until the cohort is mature for k, i.e. while its
    latest due date + k is after `as_of`). Sorted by currency, cohort_month.
    """
    ks = _checked(offsets)
    invoices = ledger.invoices.filter(pl.col("issue_date") <= as_of).with_columns(
        cohort_month=pl.col("issue_date").dt.month_start()
    )
    allocations = (
        ledger.allocations.filter(pl.col("applied_date") <= as_of)
        .join(invoices.select("invoice_id", "due_date"), on="invoice_id")
        .with_columns(_days_after_due=days_between("applied_date", "due_date"))
        .group_by("invoice_id")
        .agg(
            pl.col("amount_minor")
            .filter(pl.col("_days_after_due") <= k)
            .sum()
            .alias(minor_column(k))
            for k in ks
        )
    )
    cohorts = (
        invoices.join(allocations, on="invoice_id", how="left")
        .group_by("currency", "cohort_month")
        .agg(
            pl.len().alias("invoices"),
            pl.col("total_minor").sum().alias("invoiced_minor"),
            pl.col("due_date").max().alias("_latest_due"),
            *(pl.col(minor_column(k)).fill_null(0).sum() for k in ks),
        )
    )
    rates = []
    for k in ks:
        mature = pl.col("_latest_due") + pl.duration(days=k) <= pl.lit(as_of)
        rate = rounded_ratio(pl.col(minor_column(k)), pl.col("invoiced_minor"), scale=100)
        rates += [pl.col(minor_column(k)), pl.when(mature).then(rate).alias(pct_column(k))]
    return cohorts.select(
        "currency",
        "cohort_month",
        pl.col("invoices").cast(pl.Int64),
        "invoiced_minor",
        *rates,
    ).sort("currency", "cohort_month")


def cohort_heatmap(rates: pl.LazyFrame) -> pl.LazyFrame:
    """The percentages of `cohort_collection_rates` in long form, one row per cell of a heatmap.

    Columns: currency, cohort_month, offset_days (Int64), collected_pct
    (Float64, null where the cohort is not yet mature: a blank cell). Sorted
    by currency, cohort_month, offset_days.
    """
    pct_columns = [c for c in rates.collect_schema().names() if c.startswith(_PCT_PREFIX)]
    return (
        rates.unpivot(
            index=["currency", "cohort_month"],
            on=pct_columns,
            variable_name="_column",
            value_name="collected_pct",
        )
        .select(
            "currency",
            "cohort_month",
            offset_days=pl.col("_column").str.strip_prefix(_PCT_PREFIX).cast(pl.Int64),
            collected_pct=pl.col("collected_pct").cast(pl.Float64),
        )
        .sort("currency", "cohort_month", "offset_days")
    )

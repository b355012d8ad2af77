"""Aging at a date (SPEC §3): open balances by how late they are, per customer and in total.

Basis `due` (the default) counts days past the due date, so an invoice due on
the as-of date is still `current`; basis `issue` counts days since issue.
Boundaries `(30, 60, 90)` give the usual buckets; any strictly increasing
positive boundaries follow the same pattern.

`aging_items` is the drill-down behind every cell of `aging_by_customer`:
filter it on a customer and a bucket and its open balances add up to that cell.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from itertools import pairwise

import polars as pl

from queries.balances import currencies, owing
from queries.ledger import LedgerFrames, customer_names

DEFAULT_BOUNDARIES: tuple[int, ...] = (30, 60, 90)


class Basis(StrEnum):
    """What the days of aging are counted from."""

    DUE = "due"
    ISSUE = "issue"


def check_boundaries(boundaries: Sequence[int]) -> tuple[int, ...]:
    """The boundaries as a tuple, or ValueError saying what is wrong with them."""
    bounds = tuple(boundaries)
    if not bounds:
        raise ValueError("aging needs at least one bucket boundary, e.g. 30,60,90")
    if any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in bounds):
        raise ValueError(f"bucket boundaries must be whole days of 1 or more, got {bounds}")
    if any(a >= b for a, b in pairwise(bounds)):
        raise ValueError(f"bucket boundaries must increase, got {bounds}")
    return bounds


def bucket_labels(boundaries: Sequence[int], *, basis: Basis | str = Basis.DUE) -> list[str]:
    """The bucket names, oldest last: `current, 1-30, …, 91+` (due) or `0-30, …, 91+` (issue)."""
    bounds = check_boundaries(boundaries)
    lows = [b + 1 for b in bounds[:-1]]
    due = Basis(basis) is Basis.DUE
    first = ["current", f"1-{bounds[0]}"] if due else [f"0-{bounds[0]}"]
    middle = [f"{low}-{high}" for low, high in zip(lows, bounds[1:], strict=True)]
    return [*first, *middle, f"{bounds[-1] + 1}+"]


def bucket(days: pl.Expr, boundaries: Sequence[int], *, basis: Basis | str) -> pl.Expr:
    """The bucket of each day count, as an ordered `pl.Enum` of `bucket_labels`.

    A bucket's upper boundary belongs to it (30 days is `1-30`, 31 is
    `31-60`): the bucket's index is how many breaks the day count exceeds.
    """
    bounds = check_boundaries(boundaries)
    breaks = [0, *bounds] if Basis(basis) is Basis.DUE else list(bounds)
    labels = bucket_labels(bounds, basis=basis)
    index = pl.sum_horizontal([days > b for b in breaks])
    return index.replace_strict(dict(enumerate(labels)), return_dtype=pl.Enum(labels))


def aging_items(
    ledger: LedgerFrames,
    *,
    as_of: date,
    basis: Basis | str = Basis.DUE,
    boundaries: Sequence[int] = DEFAULT_BOUNDARIES,
) -> pl.LazyFrame:
    """Every invoice with a positive open balance at `as_of`, with its age and bucket.

    Columns: invoice_id, invoice_number, customer_id, customer_code,
    customer_name, currency, issue_date, due_date, total_minor, open_minor,
    days (as_of − due_date, or − issue_date on basis issue) and bucket.
    """
    since = "due_date" if Basis(basis) is Basis.DUE else "issue_date"
    days = (pl.lit(as_of) - pl.col(since)).dt.total_days()
    return (
        owing(ledger, as_of=as_of)
        .join(customer_names(ledger), on="customer_id", how="left")
        .select(
            "invoice_id",
            "invoice_number",
            "customer_id",
            "customer_code",
            "customer_name",
            "currency",
            "issue_date",
            "due_date",
            "total_minor",
            "open_minor",
            days.alias("days"),
        )
        .with_columns(bucket=bucket(pl.col("days"), boundaries, basis=basis))
    )


def _bucket_sums(labels: Sequence[str]) -> list[pl.Expr]:
    """One Int64 sum of open balance per bucket, then their total."""
    return [
        *(
            pl.col("open_minor").filter(pl.col("bucket") == label).sum().alias(label)
            for label in labels
        ),
        pl.col("open_minor").sum().alias("total"),
    ]


def aging_by_customer(
    ledger: LedgerFrames,
    *,
    as_of: date,
    basis: Basis | str = Basis.DUE,
    boundaries: Sequence[int] = DEFAULT_BOUNDARIES,
) -> pl.LazyFrame:
    """The aging table: one row per customer and currency owing anything at `as_of`.

    Columns: currency, customer_id, customer_code, customer_name, one Int64
    column of minor units per bucket label (in bucket order), and total.
    Customers with a zero total are left out; rows are sorted by currency,
    then customer_code.
    """
    labels = bucket_labels(boundaries, basis=basis)
    return (
        aging_items(ledger, as_of=as_of, basis=basis, boundaries=boundaries)
        .group_by("currency", "customer_id", "customer_code", "customer_name")
        .agg(_bucket_sums(labels))
        .filter(pl.col("total") != 0)
        .sort("currency", "customer_code", "customer_id")
    )


def aging_totals(
    ledger: LedgerFrames,
    *,
    as_of: date,
    basis: Basis | str = Basis.DUE,
    boundaries: Sequence[int] = DEFAULT_BOUNDARIES,
) -> pl.LazyFrame:
    """The aging table's total row per currency, zeros for a currency that owes nothing.

    Columns: currency, one Int64 column per bucket label, total.
    """
    labels = bucket_labels(boundaries, basis=basis)
    sums = (
        aging_items(ledger, as_of=as_of, basis=basis, boundaries=boundaries)
        .group_by("currency")
        .agg(_bucket_sums(labels))
    )
    return (
        currencies(ledger)
        .join(sums, on="currency", how="left")
        .with_columns(pl.col(*labels, "total").fill_null(0))
        .sort("currency")
    )

"""The dunning run: which invoices are due for a letter at a date, and one letter per customer.

An invoice's due level at D is the highest configured level whose days have
passed since its due date (D − due_date ≥ days); `due_level_expr` is the
Polars form of `billing.dunning.due_level`, built from the same levels (a
test checks they agree). An invoice is due for a letter at that level unless
a letter at that level or a later one already named it: one first seen 45
days late gets the second notice straight away (level 1 is skipped, never
sent late), and one that had the second notice waits for the final notice.
Disputed invoices (`queries.disputes.disputed_invoice_ids`) are left out;
settled ones have nothing to dun.

A customer gets ONE letter at a date, at the highest level due among its
invoices, naming every invoice due (each at its own level).

The levels come from the office settings (`billing.dunning.DunningLevel`);
this module needs only their number, days and name.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

import polars as pl

from queries.balances import owing
from queries.collections import CollectionFrames
from queries.disputes import disputed_invoice_ids
from queries.ledger import LedgerFrames, customer_names


class Level(Protocol):
    """A dunning level as the queries read it (`billing.dunning.DunningLevel` is one)."""

    @property
    def level(self) -> int:
        """The level's number, 1 for the first letter."""
        ...

    @property
    def days(self) -> int:
        """Days past the due date from which the letter is due."""
        ...

    @property
    def name(self) -> str:
        """What the letter is called, e.g. Second notice."""
        ...


def due_level_expr(days_past_due: pl.Expr, levels: Sequence[Level]) -> pl.Expr:
    """The highest level whose days have passed (0: none yet), as Int64.

    The same rule as `billing.dunning.due_level`: the largest level number
    among the levels with `days <= days_past_due`.
    """
    ordered = sorted(levels, key=lambda item: item.days)
    reached = [
        pl.when(days_past_due >= item.days).then(pl.lit(item.level, pl.Int64)).otherwise(None)
        for item in ordered
    ]
    if not reached:
        return pl.lit(0, pl.Int64)
    return pl.max_horizontal(reached).fill_null(0)


def level_name(level: pl.Expr, levels: Sequence[Level]) -> pl.Expr:
    """The configured name of each level number."""
    return level.replace_strict(
        {item.level: item.name for item in levels}, default=None, return_dtype=pl.String
    )


def sent_levels(collections: CollectionFrames, *, as_of: date) -> pl.LazyFrame:
    """invoice_id, sent_level: the highest level at which a letter sent by `as_of` named it."""
    return (
        collections.letter_items.filter(pl.col("sent_date") <= as_of)
        .group_by("invoice_id")
        .agg(sent_level=pl.col("dunning_level").max())
    )


def dunning_items(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    as_of: date,
    levels: Sequence[Level],
) -> pl.LazyFrame:
    """Every invoice due for a letter at `as_of`, with the level it is due at.

    Columns: customer_id, customer_code, customer_name, currency, invoice_id,
    invoice_number, issue_date, due_date, days_past_due, open_minor (at
    `as_of`), level, level_name. Sorted by customer_code, due_date (oldest,
    so highest level, first), invoice_number.
    """
    level = due_level_expr(pl.col("days_past_due"), levels)
    return (
        owing(ledger, as_of=as_of)
        .join(disputed_invoice_ids(collections, as_of=as_of), on="invoice_id", how="anti")
        .with_columns(level=level)
        .filter(pl.col("level") >= 1)
        .join(sent_levels(collections, as_of=as_of), on="invoice_id", how="left")
        .filter(pl.col("sent_level").is_null() | (pl.col("sent_level") < pl.col("level")))
        .join(customer_names(ledger), on="customer_id", how="left")
        .select(
            "customer_id",
            "customer_code",
            "customer_name",
            "currency",
            "invoice_id",
            "invoice_number",
            "issue_date",
            "due_date",
            "days_past_due",
            "open_minor",
            "level",
            level_name(pl.col("level"), levels).alias("level_name"),
        )
        .sort("customer_code", "due_date", "invoice_number")
    )


def letters_due(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    as_of: date,
    levels: Sequence[Level],
) -> pl.LazyFrame:
    """One row per customer with a letter to send at `as_of`: its level and what it covers.

    The letter is at the highest level due among the customer's invoices and
    names all of them. Columns: customer_id, customer_code, customer_name,
    currency, level (that highest level), level_name, invoices (how many),
    open_minor (their open balances at `as_of`, summed). Sorted by
    customer_code.
    """
    return (
        dunning_items(ledger, collections, as_of=as_of, levels=levels)
        .group_by("customer_id", "customer_code", "customer_name", "currency")
        .agg(
            level=pl.col("level").max(),
            invoices=pl.len().cast(pl.Int64),
            open_minor=pl.col("open_minor").sum(),
        )
        .with_columns(level_name=level_name(pl.col("level"), levels))
        .select(
            "customer_id",
            "customer_code",
            "customer_name",
            "currency",
            "level",
            "level_name",
            "invoices",
            "open_minor",
        )
        .sort("customer_code", "currency")
    )

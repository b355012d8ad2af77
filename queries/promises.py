"""Promises to pay at a date: open, kept or broken, and how much came in toward each.

The rule, in full:

- A promise is an activity of kind `promise` logged on or before the as-of
  date D. It says: `promise_amount_minor` will be paid by `promise_date`.
- The cash counted toward it is what arrived in the window
  [activity_date, min(promise_date, D)], both ends inclusive:
  - a promise about the customer as a whole (`invoice_id` null) counts the
    customer's payments (in the customer's currency, the currency of the
    promise) with `received_date` in the window, allocated or not;
  - a promise about one invoice counts only the allocations to that invoice
    with `applied_date` in the window, whichever payment they came from.
- **kept**: the cash counted reaches the promised amount (it may do so before
  the promise date, and then stays kept);
  **broken**: D is after the promise date and the promise was not kept, so it
  is broken from the day after the promise date (`broken_date`);
  **open**: neither, i.e. still running (D on or before the promise date).
- Each promise is judged on its own: a payment inside two overlapping
  windows counts toward both promises. Nothing is shared out between them, so
  a second promise repeating the first is not broken by the first one's cash.

Cash after the promise date never counts (a late payment does not mend a
broken promise), and a promise whose date comes before the day it was logged
has an empty window: it can only be broken, or open until its date passes.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from queries.calendar import ONE_DAY
from queries.collections import CollectionFrames
from queries.ledger import LedgerFrames

PROMISE = "promise"  # billing.models.ActivityKind.PROMISE
OPEN, KEPT, BROKEN = "open", "kept", "broken"

_COLUMNS = (
    "activity_id",
    "customer_id",
    "invoice_id",
    "activity_date",
    "promise_date",
    "promise_amount_minor",
)


def _in_window(date: str) -> pl.Expr:
    """`date` falls inside the promise's window [activity_date, window_end]."""
    return pl.col(date).is_between(pl.col("activity_date"), pl.col("_window_end"))


def promise_status(
    ledger: LedgerFrames, collections: CollectionFrames, *, as_of: dt.date
) -> pl.LazyFrame:
    """Every promise logged on or before `as_of`, with the cash counted toward it and its status.

    Columns: activity_id, customer_id, invoice_id (null: the whole customer),
    activity_date, promise_date, promise_amount_minor, paid_minor (Int64, 0
    when nothing came in), status ("open" | "kept" | "broken") and
    broken_date (promise_date + 1 day when broken, else null). Sorted by
    activity_id. The rule is in the module docstring.
    """
    promises = (
        collections.activities.filter(
            (pl.col("kind") == PROMISE) & (pl.col("activity_date") <= as_of)
        )
        .select(_COLUMNS)
        .with_columns(_window_end=pl.min_horizontal("promise_date", pl.lit(as_of)))
    )
    windows = promises.select(
        "activity_id", "customer_id", "invoice_id", "activity_date", "_window_end"
    )
    customer_currency = ledger.customers.select("customer_id", "currency")
    by_customer = (
        windows.filter(pl.col("invoice_id").is_null())
        .join(customer_currency, on="customer_id")
        .join(
            ledger.payments.select("customer_id", "currency", "received_date", "amount_minor"),
            on=["customer_id", "currency"],
        )
        .filter(_in_window("received_date"))
        .select("activity_id", "amount_minor")
    )
    by_invoice = (
        windows.filter(pl.col("invoice_id").is_not_null())
        .join(
            ledger.allocations.select("invoice_id", "applied_date", "amount_minor"),
            on="invoice_id",
        )
        .filter(_in_window("applied_date"))
        .select("activity_id", "amount_minor")
    )
    paid = (
        pl.concat([by_customer, by_invoice])
        .group_by("activity_id")
        .agg(paid_minor=pl.col("amount_minor").sum())
    )
    kept = pl.col("paid_minor") >= pl.col("promise_amount_minor")
    broken = (pl.lit(as_of) > pl.col("promise_date")) & ~kept
    return (
        promises.join(paid, on="activity_id", how="left")
        .with_columns(pl.col("paid_minor").fill_null(0))
        .with_columns(
            status=pl.when(kept)
            .then(pl.lit(KEPT))
            .when(broken)
            .then(pl.lit(BROKEN))
            .otherwise(pl.lit(OPEN))
        )
        .with_columns(
            broken_date=pl.when(pl.col("status") == BROKEN).then(pl.col("promise_date") + ONE_DAY)
        )
        .select(*_COLUMNS, "paid_minor", "status", "broken_date")
        .sort("activity_id")
    )

"""Disputed invoices: which were contested at a date, and the disputes list with their ages.

A disputed invoice leaves dunning (and the worklist's chasing) but stays in
the aging: the customer still owes it until a credit note says otherwise.
`disputed_invoice_ids` is the one definition of "disputed at D" that every
query uses, so the dunning run, the worklist and the statement agree.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from queries.balances import open_balances
from queries.collections import CollectionFrames
from queries.ledger import LedgerFrames, customer_names

OPEN, CLOSED = "open", "closed"


def open_at(as_of: date) -> pl.Expr:
    """True for a dispute open at the end of `as_of`: opened by then and not yet closed.

    A dispute closed on `as_of` itself is closed at `as_of`.
    """
    return (pl.col("opened_date") <= as_of) & (
        pl.col("closed_date").is_null() | (pl.col("closed_date") > as_of)
    )


def disputed_invoice_ids(collections: CollectionFrames, *, as_of: date) -> pl.LazyFrame:
    """invoice_id of every invoice with a dispute open at `as_of`, once each."""
    return collections.disputes.filter(open_at(as_of)).select("invoice_id").unique()


def disputes_list(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    as_of: date,
    include_closed: bool = False,
) -> pl.LazyFrame:
    """The disputes as they stood at `as_of`, oldest first.

    Columns: invoice_number, customer_code, customer_name, currency,
    opened_date, age_days, reason, open_minor (the invoice's open balance at
    `as_of`), status (`open`/`closed`), resolution (null while open), then
    closed_date, dispute_id, invoice_id, customer_id. age_days runs from the
    opening to `as_of` while open, to the closing once closed. Disputes opened
    after `as_of` are not there yet; one closed after `as_of` is shown open.
    Closed disputes appear only with `include_closed`. An invoice voided since
    is out, as it is everywhere (it is no longer in the posted ledger).
    """
    is_open = open_at(as_of)
    disputes = collections.disputes.filter(pl.col("opened_date") <= as_of).with_columns(
        status=pl.when(is_open).then(pl.lit(OPEN)).otherwise(pl.lit(CLOSED)),
        closed_date=pl.when(is_open).then(None).otherwise(pl.col("closed_date")),
        resolution=pl.when(is_open).then(None).otherwise(pl.col("resolution")),
    )
    if not include_closed:
        disputes = disputes.filter(pl.col("status") == OPEN)
    ended = pl.coalesce(pl.col("closed_date"), pl.lit(as_of))
    balances = open_balances(ledger, as_of=as_of).select(
        "invoice_id", "invoice_number", "currency", "open_minor"
    )
    return (
        disputes.join(balances, on="invoice_id", how="inner")
        .join(customer_names(ledger), on="customer_id", how="left")
        .select(
            "invoice_number",
            "customer_code",
            "customer_name",
            "currency",
            "opened_date",
            (ended - pl.col("opened_date")).dt.total_days().alias("age_days"),
            "reason",
            "open_minor",
            "status",
            "resolution",
            "closed_date",
            "dispute_id",
            "invoice_id",
            "customer_id",
        )
        .sort("opened_date", "invoice_number", "dispute_id")
    )

"""A customer's statement of account at a date (SPEC §4 `billing statement`), as plain data.

`build_statement` reads only the ledger frames (and, optionally, the
collection frames for disputes), so the CLI, the app page and the tests all
feed it the same way; `billing.statement_render` turns the result into a PDF
or a CSV. Nothing here touches the database or Streamlit.

Every figure comes from the queries the reports use, so a statement always
agrees with `billing report aging` to the cent:

- the aging summary is this customer's row of `queries.aging.aging_by_customer`
  (due-date basis, the office's bucket boundaries);
- the open items are `queries.aging.aging_items` for the customer: what is
  open at D on each invoice, with days past due (D − due date: 0 on the due
  date, negative while not yet due);
- unapplied cash is `queries.balances.payment_balances` for the customer;
- balance due = open items total − unapplied cash (money received but not yet
  applied to an invoice still reduces what the customer owes).

Recent activity lists the customer's payments received and the credit notes
and write-offs dated in the window (`since`, D], by default the 90 days up to
and including D (`since` = D − 90 days). Amounts there are positive, as
booked; each of them reduced what the customer owed.

Everything is in the customer's currency; a posting in another currency (the
services refuse them) would be left out rather than added.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import polars as pl

from billing.errors import NotFound, Problem, ValidationError
from queries.aging import Basis, aging_by_customer, aging_items, bucket_labels, check_boundaries
from queries.balances import payment_balances
from queries.collections import CollectionFrames
from queries.disputes import disputed_invoice_ids
from queries.ledger import LedgerFrames

ACTIVITY_DAYS = 90
"""The default window of recent activity: the 90 days up to and including the statement date."""

OPEN_ITEM_COLUMNS: dict[str, pl.DataType] = {
    "invoice_number": pl.String(),
    "issue_date": pl.Date(),
    "due_date": pl.Date(),
    "days_past_due": pl.Int64(),
    "total_minor": pl.Int64(),
    "open_minor": pl.Int64(),
    "disputed": pl.Boolean(),
}
ACTIVITY_COLUMNS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "kind": pl.String(),  # payment, credit_note or write_off
    "reference": pl.String(),  # the payment's reference, or the invoice number adjusted
    "amount_minor": pl.Int64(),
}


PAYMENT = "payment"
"""The `kind` of a payment in recent activity; adjustments keep theirs (credit_note, write_off)."""


class AgingBucket(NamedTuple):
    """One bucket of the aging summary: its label (`current`, `1-30`, …) and open amount."""

    label: str
    amount_minor: int


@dataclass(frozen=True, eq=False)
class Statement:
    """One customer's statement at `as_of`: money in integer minor units of `currency`.

    `open_items` has OPEN_ITEM_COLUMNS, ordered by due date, issue date and
    number (oldest debt first); `activity` has ACTIVITY_COLUMNS, ordered by
    date. `eq=False`: frames do not compare with `==`.
    """

    company_name: str
    customer_code: str
    customer_name: str
    currency: str
    as_of: dt.date
    since: dt.date
    aging: tuple[AgingBucket, ...]
    open_items: pl.DataFrame
    activity: pl.DataFrame
    open_total_minor: int
    unapplied_minor: int

    @property
    def balance_due_minor(self) -> int:
        """Open items total less unapplied cash; below zero, a credit in the customer's favour."""
        return self.open_total_minor - self.unapplied_minor

    @property
    def disputed_count(self) -> int:
        """How many open items have a dispute open at `as_of`."""
        return int(self.open_items.get_column("disputed").sum())


def build_statement(
    ledger: LedgerFrames,
    *,
    customer_code: str,
    as_of: dt.date,
    boundaries: tuple[int, ...],
    company_name: str,
    collections: CollectionFrames | None = None,
    since: dt.date | None = None,
    payment_references: Mapping[int, str] | None = None,
) -> Statement:
    """The statement of `customer_code` at `as_of`, from the same queries as the aging report.

    `collections` marks invoices with a dispute open at `as_of` (opened on or
    before it, not closed by then); without it nothing is marked. Recent
    activity covers (`since`, `as_of`], by default the 90 days up to `as_of`.
    `payment_references` maps payment_id to the payment's reference (the
    ledger frames do not carry it); a payment missing from it is shown as
    `payment #<id>`.
    Raises NotFound for an unknown customer code, ValidationError for bad
    boundaries or a `since` after `as_of`.
    """
    try:
        labels = bucket_labels(boundaries, basis=Basis.DUE)
    except ValueError as error:
        raise ValidationError(Problem("aging buckets", boundaries, str(error))) from error
    start = as_of - dt.timedelta(days=ACTIVITY_DAYS) if since is None else since
    if start > as_of:
        raise ValidationError(
            Problem("since", start.isoformat(), f"is after the statement date {as_of.isoformat()}")
        )
    customer = _customer(ledger, customer_code)
    customer_id, currency = customer["customer_id"], customer["currency"]
    mine = (pl.col("customer_id") == customer_id) & (pl.col("currency") == currency)
    bounds = check_boundaries(boundaries)

    aging_row, items, unapplied, payments, adjustments = pl.collect_all(
        [
            aging_by_customer(ledger, as_of=as_of, basis=Basis.DUE, boundaries=bounds).filter(mine),
            aging_items(ledger, as_of=as_of, basis=Basis.DUE, boundaries=bounds).filter(mine),
            payment_balances(ledger, as_of=as_of)
            .filter(mine)
            .select(pl.col("unapplied_minor").sum()),
            ledger.payments.filter(mine & _in_window("received_date", start, as_of)),
            ledger.adjustments.filter(_in_window("date", start, as_of)).join(
                ledger.invoices.filter(mine).select("invoice_id", "invoice_number"),
                on="invoice_id",
            ),
        ]
    )
    amounts = aging_row.row(0, named=True) if aging_row.height else {}
    aging = tuple(AgingBucket(label, int(amounts.get(label, 0))) for label in labels)
    open_items = _open_items(items, _disputed_invoices(collections, as_of=as_of))
    # The aging total and the open items are the same invoices read twice
    # (tests/test_statement.py checks they agree against a pure-Python reference).
    open_total = int(open_items.get_column("open_minor").sum())
    return Statement(
        company_name=company_name,
        customer_code=customer["customer_code"],
        customer_name=customer["customer_name"],
        currency=currency,
        as_of=as_of,
        since=start,
        aging=aging,
        open_items=open_items,
        activity=_activity(payments, adjustments, payment_references or {}),
        open_total_minor=open_total,
        unapplied_minor=int(unapplied.item() or 0),
    )


def _customer(ledger: LedgerFrames, customer_code: str) -> dict[str, Any]:
    found = ledger.customers.filter(pl.col("customer_code") == customer_code).collect()
    if found.height == 0:
        raise NotFound(f"no customer with code {customer_code!r}")
    return found.row(0, named=True)


def _in_window(column: str, since: dt.date, as_of: dt.date) -> pl.Expr:
    """Dated after `since` and on or before `as_of`: the window (since, as_of]."""
    return (pl.col(column) > since) & (pl.col(column) <= as_of)


def _disputed_invoices(collections: CollectionFrames | None, *, as_of: dt.date) -> pl.LazyFrame:
    """invoice_id of every invoice with a dispute open at `as_of`, once each."""
    schema = {"invoice_id": pl.Int64()}
    if collections is None:
        return pl.LazyFrame(schema=schema)
    return disputed_invoice_ids(collections, as_of=as_of)


def _open_items(items: pl.DataFrame, disputed: pl.LazyFrame) -> pl.DataFrame:
    flagged = disputed.collect().get_column("invoice_id")
    return (
        items.sort("due_date", "issue_date", "invoice_number")
        .select(
            "invoice_number",
            "issue_date",
            "due_date",
            pl.col("days").alias("days_past_due"),
            "total_minor",
            "open_minor",
            pl.col("invoice_id").is_in(flagged.implode()).alias("disputed"),
        )
        .cast(OPEN_ITEM_COLUMNS)  # type: ignore[arg-type]
    )


def _activity(
    payments: pl.DataFrame, adjustments: pl.DataFrame, references: Mapping[int, str]
) -> pl.DataFrame:
    paid = payments.select(
        pl.col("received_date").alias("date"),
        pl.lit(PAYMENT).alias("kind"),
        pl.Series(
            "reference",
            [references.get(pid, f"payment #{pid}") for pid in payments.get_column("payment_id")],
            dtype=pl.String,
        ),
        "amount_minor",
    )
    adjusted = adjustments.select(
        "date",
        pl.col("kind"),
        pl.col("invoice_number").alias("reference"),
        "amount_minor",
    )
    return (
        pl.concat([paid.cast(ACTIVITY_COLUMNS), adjusted.cast(ACTIVITY_COLUMNS)])  # type: ignore[arg-type]
        .sort("date", "kind", "reference")
        .select(list(ACTIVITY_COLUMNS))
    )

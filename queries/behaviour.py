"""How each customer pays, who owes the most overdue, and how concentrated AR is (SPEC §3).

These answer the collections manager's questions: whom to call first
(`top_overdue_customers`), who is getting slower (`payment_behaviour`'s
trend), and how exposed the book is to a few customers (`ar_concentration`).

Days to pay and days late are amount-weighted over allocations, as the SPEC
defines them: Σ allocation × (applied − issue or due date) ÷ Σ allocation, so
a large invoice paid late weighs more than a small one paid early. A
customer's figures are grouped by customer *and* currency: the ledger keeps a
customer to one currency, and should that ever be broken the result shows two
rows rather than adding two currencies. Balances come from
`queries.balances.owing`, so they match aging and the KPIs.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl

from queries.balances import currencies, owing, payment_balances
from queries.expressions import days_between, rounded_ratio
from queries.ledger import LedgerFrames, customer_names

TREND_DAYS = 90
_KEYS = ["customer_id", "currency"]


def weighted_days(amount: pl.Expr, days: pl.Expr) -> pl.Expr:
    """Σ amount × days ÷ Σ amount as an aggregation, 2 decimals, null when nothing was paid."""
    return rounded_ratio((amount.cast(pl.Int128) * days).sum(), amount.sum())


def _unapplied(ledger: LedgerFrames, *, as_of: date, since: date) -> pl.LazyFrame:
    """Per customer and currency: unapplied cash at `as_of`; did any cash come in after `since`."""
    return (
        payment_balances(ledger, as_of=as_of)
        .group_by(_KEYS)
        .agg(
            pl.col("unapplied_minor").sum(),
            _received_recently=(pl.col("received_date") > since).any(),
        )
    )


def payment_behaviour(
    ledger: LedgerFrames, *, as_of: date, window_days: int = 365, trend_days: int = TREND_DAYS
) -> pl.LazyFrame:
    """Each customer's paying habits over the `window_days` up to `as_of`, and what it owes now.

    Columns: customer_id, customer_code, customer_name, currency;
    over allocations applied in (as_of − window_days, as_of]: paid_minor,
    days_to_pay, days_late (negative when early), on_time_pct (share of the
    amount applied on or before the due date, 0–100); the trend:
    days_to_pay_recent over (as_of − trend_days, as_of], days_to_pay_prior
    over the `trend_days` before that, days_to_pay_change = recent − prior (positive:
    paying slower; null unless both exist); then at `as_of`: open_minor,
    overdue_minor (due date before `as_of`) and unapplied_minor.

    A customer appears if it was paid in the window, owes something, has
    unapplied cash, or sent a payment in the window; the day figures are null
    when nothing was applied. Sorted by currency, customer_code.
    """
    if window_days < 1 or trend_days < 1:
        raise ValueError("window_days and trend_days must be at least 1")
    since = as_of - timedelta(days=window_days)
    recent_from = as_of - timedelta(days=trend_days)
    prior_from = as_of - timedelta(days=2 * trend_days)
    invoices = ledger.invoices.select(*_KEYS, "invoice_id", "issue_date", "due_date")
    applied = pl.col("applied_date")
    amount = pl.col("amount_minor")
    to_pay = pl.col("_days_to_pay")
    in_window, recent = applied > since, applied > recent_from
    prior = (applied > prior_from) & ~recent
    paid = (
        ledger.allocations.filter((applied <= as_of) & (applied > min(since, prior_from)))
        .join(invoices, on="invoice_id")
        .with_columns(
            _days_to_pay=days_between("applied_date", "issue_date"),
            _days_late=days_between("applied_date", "due_date"),
        )
        .group_by(_KEYS)
        .agg(
            paid_minor=amount.filter(in_window).sum(),
            days_to_pay=weighted_days(amount.filter(in_window), to_pay.filter(in_window)),
            days_late=weighted_days(
                amount.filter(in_window), pl.col("_days_late").filter(in_window)
            ),
            on_time_pct=rounded_ratio(
                amount.filter(in_window & (pl.col("_days_late") <= 0)).sum(),
                amount.filter(in_window).sum(),
                scale=100,
            ),
            days_to_pay_recent=weighted_days(amount.filter(recent), to_pay.filter(recent)),
            days_to_pay_prior=weighted_days(amount.filter(prior), to_pay.filter(prior)),
        )
        .with_columns(
            days_to_pay_change=(pl.col("days_to_pay_recent") - pl.col("days_to_pay_prior")).round(2)
        )
    )
    owed = (
        owing(ledger, as_of=as_of)
        .group_by(_KEYS)
        .agg(
            open_minor=pl.col("open_minor").sum(),
            overdue_minor=pl.col("open_minor").filter(pl.col("days_past_due") > 0).sum(),
        )
    )
    cash = _unapplied(ledger, as_of=as_of, since=since)
    shown = pl.concat(
        [
            paid.filter(pl.col("paid_minor") > 0).select(_KEYS),
            owed.select(_KEYS),
            cash.filter((pl.col("unapplied_minor") > 0) | pl.col("_received_recently")).select(
                _KEYS
            ),
        ]
    ).unique()
    amounts = ["paid_minor", "open_minor", "overdue_minor", "unapplied_minor"]
    return (
        shown.join(paid, on=_KEYS, how="left")
        .join(owed, on=_KEYS, how="left")
        .join(cash, on=_KEYS, how="left")
        .join(customer_names(ledger), on="customer_id", how="left")
        .with_columns(pl.col(amounts).fill_null(0))
        .select(
            "customer_id",
            "customer_code",
            "customer_name",
            "currency",
            "paid_minor",
            "days_to_pay",
            "days_late",
            "on_time_pct",
            "days_to_pay_recent",
            "days_to_pay_prior",
            "days_to_pay_change",
            "open_minor",
            "overdue_minor",
            "unapplied_minor",
        )
        .sort("currency", "customer_code")
    )


def top_overdue_customers(ledger: LedgerFrames, *, as_of: date, limit: int = 10) -> pl.LazyFrame:
    """Per currency, the `limit` customers with the most overdue AR at `as_of` (due date before it).

    Columns: currency, rank (1 = most overdue; ties by customer_code),
    customer_id, customer_code, customer_name, overdue_minor, open_minor (all
    AR, current included), overdue_invoices, oldest_days_past_due. Customers
    with nothing overdue are left out. Sorted by currency, rank.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    late = pl.col("days_past_due") > 0
    return (
        owing(ledger, as_of=as_of)
        .group_by(_KEYS)
        .agg(
            overdue_minor=pl.col("open_minor").filter(late).sum(),
            open_minor=pl.col("open_minor").sum(),
            overdue_invoices=late.sum().cast(pl.Int64),
            oldest_days_past_due=pl.col("days_past_due").max(),
        )
        .filter(pl.col("overdue_minor") > 0)
        .join(customer_names(ledger), on="customer_id", how="left")
        .sort(["currency", "overdue_minor", "customer_code"], descending=[False, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("currency"))
        .filter(pl.col("rank") <= limit)
        .select(
            "currency",
            "rank",
            "customer_id",
            "customer_code",
            "customer_name",
            "overdue_minor",
            "open_minor",
            "overdue_invoices",
            "oldest_days_past_due",
        )
        .sort("currency", "rank")
    )


def ar_concentration(ledger: LedgerFrames, *, as_of: date, top: int = 10) -> pl.LazyFrame:
    """Per currency: how much of AR at `as_of` sits with its `top` largest customers.

    Columns: currency, ar_minor (SPEC AR: positive open balances), top_ar_minor
    (the AR of the `top` customers owing most), top_share_pct (0–100, null
    when there is no AR), customers_with_ar. One row per currency of the
    ledger, zeros included, sorted by currency.
    """
    if top < 1:
        raise ValueError(f"top must be at least 1, got {top}")
    per_customer = (
        owing(ledger, as_of=as_of)
        .group_by(_KEYS)
        .agg(ar_minor=pl.col("open_minor").sum())
        .with_columns(_rank=pl.col("ar_minor").rank("ordinal", descending=True).over("currency"))
    )
    per_currency = per_customer.group_by("currency").agg(
        ar_minor=pl.col("ar_minor").sum(),
        top_ar_minor=pl.col("ar_minor").filter(pl.col("_rank") <= top).sum(),
        customers_with_ar=pl.len().cast(pl.Int64),
    )
    return (
        currencies(ledger)
        .join(per_currency, on="currency", how="left")
        .with_columns(pl.col("ar_minor", "top_ar_minor", "customers_with_ar").fill_null(0))
        .select(
            "currency",
            "ar_minor",
            "top_ar_minor",
            top_share_pct=rounded_ratio(pl.col("top_ar_minor"), pl.col("ar_minor"), scale=100),
            customers_with_ar="customers_with_ar",
        )
        .sort("currency")
    )

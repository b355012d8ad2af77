"""Money and tables for people: the only place minor units become text.

The ledger keeps integer minor units; a person reads "$1,234.50" or
"¥1,000". Amount columns stay numeric (exact decimals with the currency's
digits) whenever a table holds a single currency, so sorting a column by
clicking its header orders amounts, not strings; a table mixing currencies
falls back to formatted text, because no single number format fits it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
import streamlit as st

from billing.money import currency_digits, display_amount, format_amount


def money(minor: int, currency: str) -> str:
    """An amount for display, with symbol, grouping and exactly the currency's digits."""
    return display_amount(minor, currency)


def amount_text(minor: int, currency: str) -> str:
    """An amount as a clerk types it (`"1034.50"`): the text of an editable amount cell."""
    return format_amount(minor, currency)


def money_table(
    frame: pl.DataFrame,
    money_columns: Mapping[str, str],
    *,
    currency_column: str = "currency",
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Turn `*_minor` columns into displayable amounts; return the frame and its column config.

    `money_columns` maps each minor-unit column to its label. With one
    currency the amounts become exact `Decimal` values (no float ever
    touches them) shown with that currency's digits; with several, text.
    """
    currencies = frame.get_column(currency_column).unique().to_list() if frame.height else []
    config: dict[str, Any] = {}
    if len(currencies) <= 1:
        currency = currencies[0] if currencies else "USD"
        digits = currency_digits(currency)
        step = Decimal(1).scaleb(-digits)
        exprs = [
            (pl.col(column).cast(pl.Decimal(38, 0)) * pl.lit(step))
            .cast(pl.Decimal(38, digits))
            .alias(column)
            for column in money_columns
        ]
        for column, label in money_columns.items():
            config[column] = st.column_config.NumberColumn(
                f"{label} ({currency})" if currencies else label, format=f"%.{digits}f"
            )
    else:
        exprs = [_as_text(frame, column, currency_column) for column in money_columns]
        for column, label in money_columns.items():
            config[column] = st.column_config.TextColumn(label)
    return frame.with_columns(exprs), config


def _as_text(frame: pl.DataFrame, column: str, currency_column: str) -> pl.Series:
    """Each amount as text in its row's currency, formatted here in the calling thread.

    Not `map_elements`: Polars would run the Python function on its own worker
    threads, which then wait for the GIL; under concurrent sessions one held by
    `st.dataframe`'s `to_pandas` (which waits for those workers) deadlocks the
    whole server (seen in the load test, `tests/load/`).
    """
    amounts = frame.get_column(column).to_list()
    currencies = frame.get_column(currency_column).to_list()
    shown = [display_amount(a, c) for a, c in zip(amounts, currencies, strict=True)]
    return pl.Series(column, shown, dtype=pl.String)


def invoice_table(invoices: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The Invoices list as shown: number, customer, dates, status, total and open amount."""
    shown = invoices.select(
        "invoice_number",
        pl.format("{} · {}", "customer_code", "customer_name").alias("customer"),
        "issue_date",
        "due_date",
        "status",
        "currency",
        "total_minor",
        "open_minor",
    )
    table, config = money_table(shown, {"total_minor": "Total", "open_minor": "Open"})
    config |= {
        "invoice_number": st.column_config.TextColumn("Invoice"),
        "customer": st.column_config.TextColumn("Customer"),
        "issue_date": st.column_config.DateColumn("Issued"),
        "due_date": st.column_config.DateColumn("Due"),
        "status": st.column_config.TextColumn("Status"),
        "currency": st.column_config.TextColumn("Currency"),
    }
    return table, config


# --- KPI figures: ratios in days or percent, and changes for `st.metric` deltas -----

NO_VALUE = "—"


def ratio_text(value: float | None, *, unit: str = "") -> str:
    """A ratio (DSO, CEI, a share) with 2 decimals, or "—" when undefined: never a false 0."""
    return NO_VALUE if value is None or math.isnan(value) else f"{value:,.2f}{unit}"


def ratio_change(now: float | None, before: float | None, *, unit: str = "") -> str | None:
    """The signed change of a ratio (`"+1.25 days"`), or None when either side is undefined."""
    if now is None or before is None or math.isnan(now) or math.isnan(before):
        return None
    change = round(now - before, 2)
    return f"{change:+,.2f}{unit}" if change else f"0.00{unit}"


def money_change(now_minor: int, before_minor: int, currency: str) -> str:
    """The signed change of an amount (`"+$12.00"`, `"-$200.00"`) for a metric's delta."""
    change = now_minor - before_minor
    return ("+" if change > 0 else "") + money(change, currency)


def ratio_columns(labels: Mapping[str, str]) -> dict[str, Any]:
    """Column config for Float64 ratio columns: 2 decimals; a null stays an empty cell."""
    return {
        column: st.column_config.NumberColumn(label, format="%.2f")
        for column, label in labels.items()
    }


def days(value: float | None) -> str:
    """A day count such as days to pay (`26.0 days`); a dash when there is none yet."""
    return "—" if value is None else f"{value:,.1f} days"


def percent(value: float | None) -> str:
    """A percentage already on a 0–100 scale (`87.5%`); a dash when undefined."""
    return "—" if value is None else f"{value:,.1f}%"


def credit_used(used_minor: int, limit_minor: int, currency: str) -> str:
    """How much of a credit limit the open balance takes: `86.2% of $1,200.00`.

    A limit of zero means none was set, not "nothing allowed"; the percentage
    is computed exactly from the integer amounts and rounded half up.
    """
    if limit_minor <= 0:
        return "No limit set"
    share = (Decimal(used_minor) * 100 / Decimal(limit_minor)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return f"{share:,}% of {money(limit_minor, currency)}"

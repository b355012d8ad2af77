"""Money for people: exact decimals for one currency, formatted text for a mix."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from ui.format import invoice_table, money, money_table


def test_money_has_symbol_grouping_and_the_currencys_digits() -> None:
    assert money(123450, "USD") == "$1,234.50"
    assert money(1000, "JPY") == "¥1,000"
    assert money(0, "USD") == "$0.00"


def test_one_currency_stays_numeric_and_exact() -> None:
    frame = pl.DataFrame({"currency": ["KWD", "KWD"], "total_minor": [1234567, 5]})
    table, config = money_table(frame, {"total_minor": "Total"})
    assert table.schema["total_minor"] == pl.Decimal(38, 3)
    assert table.get_column("total_minor").to_list() == [Decimal("1234.567"), Decimal("0.005")]
    assert config["total_minor"]["label"] == "Total (KWD)"
    assert config["total_minor"]["type_config"]["format"] == "%.3f"


def test_mixed_currencies_become_text() -> None:
    frame = pl.DataFrame({"currency": ["USD", "JPY"], "total_minor": [123450, 1000]})
    table, config = money_table(frame, {"total_minor": "Total"})
    assert table.get_column("total_minor").to_list() == ["$1,234.50", "¥1,000"]
    assert config["total_minor"]["type_config"]["type"] == "text"


def test_invoice_table_columns() -> None:
    invoices = pl.DataFrame(
        {
            "invoice_number": ["INV-1"],
            "customer_code": ["C001"],
            "customer_name": ["Acme"],
            "issue_date": [dt.date(2026, 1, 1)],
            "due_date": [dt.date(2026, 1, 31)],
            "status": ["posted"],
            "currency": ["USD"],
            "total_minor": [10000],
            "settled_minor": [2500],
            "open_minor": [7500],
        }
    )
    table, config = invoice_table(invoices)
    assert table.columns == [
        "invoice_number",
        "customer",
        "issue_date",
        "due_date",
        "status",
        "currency",
        "total_minor",
        "open_minor",
    ]
    assert table.row(0) == (
        "INV-1",
        "C001 · Acme",
        dt.date(2026, 1, 1),
        dt.date(2026, 1, 31),
        "posted",
        "USD",
        Decimal("100.00"),
        Decimal("75.00"),
    )
    assert set(config) == set(table.columns)

"""The entry forms' conversions: editor rows to service lines and allocations, totals, numbers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from billing.repository import OPEN_INVOICE_COLUMNS
from billing.services import LineCreate
from ui.entry import (
    AllocationChoice,
    allocation_from_rows,
    allocation_rows,
    default_due_date,
    eligible_invoices,
    invoice_totals,
    lines_from_rows,
    suggest_allocation,
    suggest_invoice_number,
)

D = dt.date


def row(description: object, quantity: object, unit_price: object, tax_rate: object = None) -> dict:
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "tax_rate": tax_rate,
    }


def test_rows_become_lines_with_exact_amounts() -> None:
    parsed = lines_from_rows(
        [row("Consulting", "3", "411.50"), row(" Parts ", "1.5", "0.99", "20")], "USD"
    )
    assert parsed.problems == ()
    assert parsed.ok
    assert parsed.lines == (
        LineCreate("Consulting", Decimal(3), 41150, Decimal(0)),
        LineCreate("Parts", Decimal("1.5"), 99, Decimal(20)),
    )


def test_blank_rows_are_skipped_and_numbers_follow_the_editor() -> None:
    parsed = lines_from_rows(
        [row(None, None, None), row("Fee", "1", "5", ""), row(float("nan"), "", None)], "JPY"
    )
    # JPY has no minor digits: "5" is 5 yen.
    assert parsed.lines == (LineCreate("Fee", Decimal(1), 5, Decimal(0)),)
    assert parsed.problems == ()


def test_every_problem_names_its_line() -> None:
    parsed = lines_from_rows(
        [
            row("Widget", "2", "12.345"),  # 3 decimals in USD: refused, never rounded
            row("", "abc", "1,000.00", "101"),
            row("Zero", "0", "10"),
            row("Tiny", "0.00001", "-5"),
        ],
        "USD",
    )
    assert parsed.lines == ()
    assert not parsed.ok
    assert parsed.problems == (
        "Line 1: unit price '12.345' has more than 2 decimal places for USD",
        "Line 2: description is required",
        "Line 2: quantity 'abc' is not a number: use digits and a point, like 1.5",
        "Line 2: tax rate % '101' is more than 100",
        "Line 2: unit price '1,000.00' is not an amount: use a point for decimals "
        "and no thousands separators, like 1234.50",
        "Line 3: quantity '0' must be greater than zero",
        "Line 4: quantity '0.00001' has more than 4 decimal places",
        "Line 4: unit price '-5' must be positive",
    )


def test_a_missing_price_or_quantity_is_a_problem() -> None:
    parsed = lines_from_rows([row("Work", None, None)], "USD")
    assert parsed.problems == (
        "Line 1: quantity is required",
        "Line 1: unit price '' is required",
    )


def test_no_rows_is_not_ok() -> None:
    assert not lines_from_rows([], "USD").ok


def test_totals_round_per_line_as_the_service_does() -> None:
    lines = [
        LineCreate("A", Decimal("1.5"), 99, Decimal(20)),
        LineCreate("B", Decimal(3), 41150, Decimal("7.5")),
    ]
    totals = invoice_totals(lines)
    # A: net 1.5 × 99 = 148.5 → 149; tax 149 × 20% = 29.8 → 30.
    # B: net 3 × 41150 = 123450; tax 123450 × 7.5% = 9258.75 → 9259.
    assert (totals.net_minor, totals.tax_minor) == (149 + 123450, 30 + 9259)
    assert totals.total_minor == 149 + 30 + 123450 + 9259


def test_due_date_defaults_to_terms() -> None:
    assert default_due_date(D(2026, 1, 10), 30) == D(2026, 2, 9)


@pytest.mark.parametrize(
    ("latest", "taken", "expected"),
    [
        ("INV-2001", (), "INV-2002"),
        ("INV-0099", (), "INV-0100"),
        ("INV-0099", ("INV-0100",), "INV-0101"),
        ("2026/17", (), "2026/18"),
        (None, (), "INV-0001"),
        ("MANUAL", (), "MANUAL-1"),
    ],
)
def test_next_invoice_number(latest: str | None, taken: tuple[str, ...], expected: str) -> None:
    assert suggest_invoice_number(latest, taken=taken) == expected


def open_frame(*rows: tuple[int, str, dt.date, dt.date, int]) -> pl.DataFrame:
    return pl.DataFrame(
        [(i, n, issue, due, "USD", open_, open_) for i, n, issue, due, open_ in rows],
        schema=OPEN_INVOICE_COLUMNS,
        orient="row",
    )


OPEN = open_frame(
    (1, "INV-1", D(2026, 1, 10), D(2026, 2, 9), 10000),
    (3, "INV-3", D(2026, 1, 15), D(2026, 2, 9), 7000),
    (2, "INV-2", D(2026, 1, 1), D(2026, 2, 20), 5000),
    (4, "INV-4", D(2026, 3, 1), D(2026, 3, 31), 3000),
)


def test_suggestion_is_the_auto_allocation_rule() -> None:
    eligible = eligible_invoices(OPEN, received_date=D(2026, 2, 15))
    assert eligible.get_column("invoice_number").to_list() == ["INV-1", "INV-3", "INV-2"]
    # 20000: INV-1 (due 9 Feb, issued 10 Jan) 10000, INV-3 (due 9 Feb, issued 15 Jan) 7000,
    # INV-2 (due 20 Feb) the remaining 3000. INV-4 is issued after the receipt.
    assert suggest_allocation(eligible, 20000, received_date=D(2026, 2, 15)) == {
        "INV-1": 10000,
        "INV-3": 7000,
        "INV-2": 3000,
    }
    assert suggest_allocation(OPEN, 0, received_date=D(2026, 2, 15)) == {}


def test_allocation_rows_show_amounts_as_editable_text() -> None:
    rows = allocation_rows(OPEN.head(2), {"INV-1": 2500}, "USD")
    assert rows.to_dicts() == [
        {
            "invoice_number": "INV-1",
            "issue_date": D(2026, 1, 10),
            "due_date": D(2026, 2, 9),
            "open": "100.00",
            "apply": "25.00",
        },
        {
            "invoice_number": "INV-3",
            "issue_date": D(2026, 1, 15),
            "due_date": D(2026, 2, 9),
            "open": "70.00",
            "apply": "0.00",
        },
    ]


OPEN_MINOR = {"INV-1": 10000, "INV-3": 7000}
SUGGESTED = {"INV-1": 10000, "INV-3": 2000}


def choose(applies: list[object], amount_minor: int | None = 12000) -> AllocationChoice:
    rows = [
        {"invoice_number": n, "apply": a} for n, a in zip(["INV-1", "INV-3"], applies, strict=True)
    ]
    return allocation_from_rows(
        rows,
        open_minor=OPEN_MINOR,
        suggestion=SUGGESTED,
        currency="USD",
        amount_minor=amount_minor,
    )


def test_unchanged_suggestion_means_auto() -> None:
    choice = choose(["100.00", "20"])
    assert choice == AllocationChoice((("INV-1", 10000), ("INV-3", 2000)), False, ())
    assert choice.applied_minor == 12000


def test_edited_amounts_are_explicit_and_zero_or_blank_applies_nothing() -> None:
    choice = choose(["30.00", None])
    assert choice == AllocationChoice((("INV-1", 3000),), True, ())
    assert choose(["0", ""]).allocations == ()


def test_allocation_problems_are_named() -> None:
    choice = choose(["100.001", "70.01"], amount_minor=5000)
    assert choice.problems == (
        "INV-1: apply '100.001' has more than 2 decimal places for USD",
        "INV-3: apply 70.01 is more than its open balance 70.00",
        # Only INV-3's 70.01 parsed: 7001 > the payment's 5000.
        "The amounts to apply add up to 70.01, more than the payment's 50.00",
    )

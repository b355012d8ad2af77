"""Aging at a date (SPEC §3) on the hand ledger and on bucket edges, worked out by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from queries.aging import aging_by_customer, aging_items, aging_totals, bucket_labels
from queries.balances import open_balances, receivables_at
from queries.ledger import ledger_from_rows
from tests import hand_ledger

D = dt.date
AS_OF = D(2026, 6, 30)


def test_bucket_labels() -> None:
    assert bucket_labels((30, 60, 90)) == ["current", "1-30", "31-60", "61-90", "91+"]
    assert bucket_labels((30, 60, 90), basis="issue") == ["0-30", "31-60", "61-90", "91+"]
    assert bucket_labels((15, 45)) == ["current", "1-15", "16-45", "46+"]
    assert bucket_labels((7,)) == ["current", "1-7", "8+"]


@pytest.mark.parametrize("bad", [(), (30, 30), (60, 30), (0, 30), (-5,), (1.5,), (True,)])
def test_bad_boundaries_are_refused(bad: tuple) -> None:
    with pytest.raises(ValueError, match="boundar"):
        bucket_labels(bad)


def test_open_balances_at_a_date() -> None:
    # At 2026-06-10 (the credit note's day): I1 paid (10000 - 10000), I2 20000 - 2000,
    # I3 not issued yet (06-15) so absent, I4 5000 (paid only on 06-30), E1 7000.
    got = open_balances(hand_ledger.frames(), as_of=D(2026, 6, 10)).sort("invoice_id").collect()
    assert got.select(
        "invoice_number", "allocated_minor", "adjusted_minor", "open_minor"
    ).rows() == [
        ("I1", 10000, 0, 0),
        ("I2", 0, 2000, 18000),
        ("I4", 0, 0, 5000),
        ("E1", 0, 0, 7000),
    ]


def test_receivables_at_the_quarter_end() -> None:
    # USD: AR 18000 (I2) + 30000 (I3) = 48000; current (due >= 06-30) I3 30000; overdue 18000.
    # Unapplied: P2 8000 - 5000 + P3 1200 = 4200. EUR: E1 7000, due 07-01, current.
    got = receivables_at(hand_ledger.frames(), as_of=AS_OF).collect()
    assert got.rows() == [
        ("EUR", AS_OF, 7000, 7000, 0, 0),
        ("USD", AS_OF, 48000, 30000, 18000, 4200),
    ]


def test_aging_by_customer_due_basis() -> None:
    # I2 due 06-19: 30 - 19 = 11 days past due -> 1-30. I3 due 07-15: -15 -> current.
    # Gamma (C003) has only unapplied cash: no row. Delta is EUR: its own currency's row.
    got = aging_by_customer(hand_ledger.frames(), as_of=AS_OF).collect()
    assert got.drop("customer_id").rows() == [
        ("EUR", "C004", "Delta", 7000, 0, 0, 0, 0, 7000),
        ("USD", "C001", "Acme", 0, 18000, 0, 0, 0, 18000),
        ("USD", "C002", "Beta", 30000, 0, 0, 0, 0, 30000),
    ]
    totals = aging_totals(hand_ledger.frames(), as_of=AS_OF).collect()
    assert totals.rows() == [
        ("EUR", 7000, 0, 0, 0, 0, 7000),
        ("USD", 30000, 18000, 0, 0, 0, 48000),
    ]


def test_aging_issue_basis() -> None:
    # Days since issue at 06-30: I2 (05-20) 41 -> 31-60; I3 (06-15) 15 -> 0-30; E1 (06-01) 29 -> 0-30.
    got = aging_totals(hand_ledger.frames(), as_of=AS_OF, basis="issue").collect()
    assert got.columns == ["currency", "0-30", "31-60", "61-90", "91+", "total"]
    assert got.rows() == [("EUR", 7000, 0, 0, 0, 7000), ("USD", 30000, 18000, 0, 0, 48000)]


def test_before_the_first_invoice_everything_is_zero() -> None:
    ledger = hand_ledger.frames()
    assert aging_by_customer(ledger, as_of=D(2025, 12, 31)).collect().height == 0
    totals = aging_totals(ledger, as_of=D(2025, 12, 31)).collect()
    assert totals.drop("currency").sum_horizontal().to_list() == [0, 0]


def one_invoice_aged(issue: dt.date, due: dt.date, as_of: dt.date, basis: str = "due") -> tuple:
    ledger = ledger_from_rows(
        invoices=[
            {"invoice_id": 1, "invoice_number": "A", "customer_id": 1, "currency": "USD",
             "issue_date": issue, "due_date": due, "total_minor": 100},
        ]
    )  # fmt: skip
    row = aging_items(ledger, as_of=as_of, basis=basis).collect()
    return tuple(row.select("days", pl.col("bucket").cast(pl.String)).row(0)) if row.height else ()


@pytest.mark.parametrize(
    ("due", "expected"),
    [
        (D(2026, 6, 30), (0, "current")),  # due today: not yet late
        (D(2026, 7, 30), (-30, "current")),
        (D(2026, 6, 29), (1, "1-30")),
        (D(2026, 5, 31), (30, "1-30")),
        (D(2026, 5, 30), (31, "31-60")),
        (D(2026, 4, 1), (90, "61-90")),
        (D(2026, 3, 31), (91, "91+")),
    ],
)
def test_bucket_edges_due_basis(due: dt.date, expected: tuple) -> None:
    assert one_invoice_aged(min(due, D(2026, 3, 1)), due, AS_OF) == expected


def test_issued_on_the_as_of_date_counts() -> None:
    assert one_invoice_aged(AS_OF, D(2026, 7, 30), AS_OF) == (-30, "current")
    assert one_invoice_aged(AS_OF, D(2026, 7, 30), AS_OF, basis="issue") == (0, "0-30")
    assert one_invoice_aged(D(2026, 7, 1), D(2026, 7, 30), AS_OF) == ()  # issued tomorrow


def test_leap_day() -> None:
    # Due 2024-02-28, as of 2024-03-01: 2024 is a leap year, so 2 days late, not 1.
    assert one_invoice_aged(D(2024, 1, 29), D(2024, 2, 28), D(2024, 3, 1)) == (2, "1-30")


def test_drill_down_adds_up_to_each_cell() -> None:
    ledger = hand_ledger.frames()
    items = aging_items(ledger, as_of=AS_OF).collect()
    cells = items.group_by("customer_code", pl.col("bucket").cast(pl.String)).agg(
        pl.col("open_minor").sum()
    )
    table = aging_by_customer(ledger, as_of=AS_OF).collect()
    for code, bucket, amount in cells.rows():
        assert table.filter(pl.col("customer_code") == code)[bucket].item() == amount

"""Cash-flow series (queries/cashflow.py) on a tiny two-currency ledger, every figure by hand.

C1 Acme  USD  I1 issued 2024-01-15 due 2024-02-14  100.00  paid 2024-02-29 (leap day) from P1
              I2 issued 2024-02-29 due 2024-03-30   50.00  20.00 applied 2024-03-01 from P1's
                                                           remainder; credit note 5.00 on 03-15
              P1 received 2024-02-29  120.00 (100.00 to I1 that day, 20.00 to I2 on 03-01)
              P3 received 2024-01-31    3.00 (never applied: unapplied cash only)
C2 Beta  EUR  E1 issued 2024-02-10 due 2024-03-11   70.00  paid 2024-03-31 from P2 (70.00)
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from queries.balances import receivables_at
from queries.calendar import periods
from queries.cashflow import billings_vs_collections, collections_by_period
from queries.ledger import LedgerFrames, ledger_from_rows

D = dt.date


def ledger() -> LedgerFrames:
    return ledger_from_rows(
        customers=[
            {"customer_id": 1, "customer_code": "C1", "customer_name": "Acme", "currency": "USD",
             "payment_terms_days": 30, "credit_limit_minor": 0},
            {"customer_id": 2, "customer_code": "C2", "customer_name": "Beta", "currency": "EUR",
             "payment_terms_days": 30, "credit_limit_minor": 0},
        ],
        invoices=[
            {"invoice_id": 1, "invoice_number": "I1", "customer_id": 1, "currency": "USD",
             "issue_date": D(2024, 1, 15), "due_date": D(2024, 2, 14), "total_minor": 10000},
            {"invoice_id": 2, "invoice_number": "I2", "customer_id": 1, "currency": "USD",
             "issue_date": D(2024, 2, 29), "due_date": D(2024, 3, 30), "total_minor": 5000},
            {"invoice_id": 3, "invoice_number": "E1", "customer_id": 2, "currency": "EUR",
             "issue_date": D(2024, 2, 10), "due_date": D(2024, 3, 11), "total_minor": 7000},
        ],
        payments=[
            {"payment_id": 1, "customer_id": 1, "currency": "USD",
             "received_date": D(2024, 2, 29), "amount_minor": 12000},
            {"payment_id": 2, "customer_id": 2, "currency": "EUR",
             "received_date": D(2024, 3, 31), "amount_minor": 7000},
            {"payment_id": 3, "customer_id": 1, "currency": "USD",
             "received_date": D(2024, 1, 31), "amount_minor": 300},
        ],
        allocations=[
            {"payment_id": 1, "invoice_id": 1, "applied_date": D(2024, 2, 29), "amount_minor": 10000},
            {"payment_id": 1, "invoice_id": 2, "applied_date": D(2024, 3, 1), "amount_minor": 2000},
            {"payment_id": 2, "invoice_id": 3, "applied_date": D(2024, 3, 31), "amount_minor": 7000},
        ],
        adjustments=[
            {"invoice_id": 2, "kind": "credit_note", "date": D(2024, 3, 15), "amount_minor": 500},
        ],
    )  # fmt: skip


def frame(columns: list[str], rows: list[tuple]) -> pl.DataFrame:
    schema = {c: (pl.String if c == "currency" else pl.Date if c.startswith("period") else pl.Int64)
              for c in columns}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


MOVEMENTS = ["currency", "period_start", "period_end",
             "collections_minor", "cash_received_minor", "adjustments_minor"]  # fmt: skip


def test_monthly_collections_cash_and_adjustments() -> None:
    # Range 2024-01-10 .. 2024-03-31, so January is clipped to Jan 10-31.
    # USD Jan: P3 3.00 received 01-31 (cash only, never applied)      -> 0 / 300 / 0
    # USD Feb: I1 allocation 100.00 and P1 120.00, both on the leap day -> 10000 / 12000 / 0
    # USD Mar: 20.00 applied 03-01 (cash came in February), CN 5.00     -> 2000 / 0 / 500
    # EUR: only March, P2 70.00 received and applied 03-31 (month end)  -> 7000 / 7000 / 0
    got = collections_by_period(ledger(), start=D(2024, 1, 10), end=D(2024, 3, 31)).collect()
    expected = frame(
        MOVEMENTS,
        [
            ("EUR", D(2024, 1, 10), D(2024, 1, 31), 0, 0, 0),
            ("EUR", D(2024, 2, 1), D(2024, 2, 29), 0, 0, 0),
            ("EUR", D(2024, 3, 1), D(2024, 3, 31), 7000, 7000, 0),
            ("USD", D(2024, 1, 10), D(2024, 1, 31), 0, 300, 0),
            ("USD", D(2024, 2, 1), D(2024, 2, 29), 10000, 12000, 0),
            ("USD", D(2024, 3, 1), D(2024, 3, 31), 2000, 0, 500),
        ],
    )
    assert_frame_equal(got, expected)


def test_weekly_periods_start_on_monday_and_are_clipped() -> None:
    # 2024-02-28 is a Wednesday: the first week is clipped to Wed 02-28 .. Sun 03-03,
    # the second runs Mon 03-04 .. Tue 03-05 (the end of the range).
    # USD week 1: 10000 (02-29) + 2000 (03-01) collected; P1 12000 received 02-29.
    got = collections_by_period(
        ledger(), start=D(2024, 2, 28), end=D(2024, 3, 5), every="1w"
    ).collect()
    expected = frame(
        MOVEMENTS,
        [
            ("EUR", D(2024, 2, 28), D(2024, 3, 3), 0, 0, 0),
            ("EUR", D(2024, 3, 4), D(2024, 3, 5), 0, 0, 0),
            ("USD", D(2024, 2, 28), D(2024, 3, 3), 12000, 12000, 0),
            ("USD", D(2024, 3, 4), D(2024, 3, 5), 0, 0, 0),
        ],
    )
    assert_frame_equal(got, expected)


def test_daily_periods_keep_the_leap_day_apart() -> None:
    got = collections_by_period(
        ledger(), start=D(2024, 2, 28), end=D(2024, 3, 1), every="1d"
    ).collect()
    usd = got.filter(pl.col("currency") == "USD")
    assert usd.select("period_start", "collections_minor", "cash_received_minor").rows() == [
        (D(2024, 2, 28), 0, 0),
        (D(2024, 2, 29), 10000, 12000),
        (D(2024, 3, 1), 2000, 0),
    ]
    assert (got["period_start"] == got["period_end"]).all()


def test_periods_cover_the_range_exactly() -> None:
    got = periods(start=D(2024, 2, 29), end=D(2024, 4, 2)).collect()
    assert got.rows() == [
        (D(2024, 2, 29), D(2024, 2, 29)),
        (D(2024, 3, 1), D(2024, 3, 31)),
        (D(2024, 4, 1), D(2024, 4, 2)),
    ]


@pytest.mark.parametrize(
    ("start", "end", "every"),
    [(D(2024, 3, 1), D(2024, 2, 1), "1mo"), (D(2024, 1, 1), D(2024, 2, 1), "1q")],
)
def test_bad_ranges_are_refused(start: dt.date, end: dt.date, every: str) -> None:
    with pytest.raises(ValueError, match=r"range|every"):
        collections_by_period(ledger(), start=start, end=end, every=every)


def test_empty_ledger_gives_no_rows() -> None:
    got = collections_by_period(ledger_from_rows(), start=D(2024, 1, 1), end=D(2024, 3, 31))
    assert got.collect().is_empty()
    assert got.collect_schema().names() == MOVEMENTS
    assert (
        billings_vs_collections(ledger_from_rows(), start=D(2024, 1, 1), end=D(2024, 3, 31))
        .collect()
        .is_empty()
    )


BILLINGS = ["currency", "period_start", "period_end", "billed_minor", "collected_minor",
            "cash_received_minor", "adjustments_minor", "ar_end_minor"]  # fmt: skip


def test_billings_vs_collections_by_month() -> None:
    # Range 2024-01-01 .. 2024-03-20 (March is partial: AR is read at 03-20).
    # USD Jan: billed I1 10000; cash P3 300; AR at 01-31 = I1 10000
    # USD Feb: billed I2 5000 (issued on the leap day); collected 10000; cash 12000;
    #          AR at 02-29 = I1 0 + I2 5000 = 5000   (roll: 10000 + 5000 - 10000 = 5000)
    # USD Mar 1-20: collected 2000; credit note 500; AR at 03-20 = 5000 - 2000 - 500 = 2500
    # EUR Feb: billed E1 7000, AR 7000; Mar 1-20: nothing (paid 03-31), AR 7000
    got = billings_vs_collections(ledger(), start=D(2024, 1, 1), end=D(2024, 3, 20)).collect()
    expected = frame(
        BILLINGS,
        [
            ("EUR", D(2024, 1, 1), D(2024, 1, 31), 0, 0, 0, 0, 0),
            ("EUR", D(2024, 2, 1), D(2024, 2, 29), 7000, 0, 0, 0, 7000),
            ("EUR", D(2024, 3, 1), D(2024, 3, 20), 0, 0, 0, 0, 7000),
            ("USD", D(2024, 1, 1), D(2024, 1, 31), 10000, 0, 300, 0, 10000),
            ("USD", D(2024, 2, 1), D(2024, 2, 29), 5000, 10000, 12000, 0, 5000),
            ("USD", D(2024, 3, 1), D(2024, 3, 20), 0, 2000, 0, 500, 2500),
        ],
    )
    assert_frame_equal(got, expected)


def test_billings_agree_with_collections_and_ar() -> None:
    start, end = D(2024, 1, 5), D(2024, 4, 30)
    billed = billings_vs_collections(ledger(), start=start, end=end).collect()
    moved = collections_by_period(ledger(), start=start, end=end).collect()
    assert_frame_equal(
        billed.select("currency", "period_start", "collected_minor", "cash_received_minor"),
        moved.select(
            "currency",
            "period_start",
            pl.col("collections_minor").alias("collected_minor"),
            "cash_received_minor",
        ),
    )
    last = billed.filter(pl.col("period_end") == end).select("currency", "ar_end_minor")
    ar = receivables_at(ledger(), as_of=end).collect().select("currency", "ar_minor")
    assert_frame_equal(last, ar.rename({"ar_minor": "ar_end_minor"}))
    # AR rolls forward month to month in each currency.
    roll = billed.with_columns(
        previous=pl.col("ar_end_minor").shift(1, fill_value=0).over("currency")
    ).with_columns(
        rolled=pl.col("previous")
        + pl.col("billed_minor")
        - pl.col("collected_minor")
        - pl.col("adjustments_minor")
    )
    assert (roll["rolled"] == roll["ar_end_minor"]).all()

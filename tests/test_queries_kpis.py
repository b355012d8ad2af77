"""SPEC §3's period figures on the hand ledger (tests/hand_ledger.py), every number worked out."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from queries.calendar import period, periods
from queries.expressions import rounded_ratio
from queries.kpis import countback_dso, kpis, period_kpis
from queries.ledger import ledger_from_rows
from tests import hand_ledger

D = dt.date


def usd(frame: pl.LazyFrame) -> dict:
    rows = frame.filter(pl.col("currency") == "USD").collect().to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_quarter_kpis_by_hand() -> None:
    # Period 2026-04-01 .. 2026-06-30: N = 30 + 31 + 30 = 91 days.
    # AR at S-1 (03-31): I4 50.00 is open (issued 03-01)            -> 5000
    # Credit sales: I1 10000 + I2 20000 + I3 30000                  -> 60000
    # AR at 06-30: I2 20000 - 2000 credit note = 18000, I3 30000; I1 and I4 paid -> 48000
    # Current AR (due >= 06-30): I3 only                            -> 30000; overdue 18000
    # Collections: 10000 (05-05) + 5000 (06-30) = 15000; cash: 10000 + 8000 + 1200 = 19200
    # Unapplied at 06-30: P2 8000 - 5000 + P3 1200 = 4200
    # DSO   = 48000 / 60000 * 91 = 72.8
    # BPDSO = 30000 / 60000 * 91 = 45.5
    # ADD   = 18000 / 60000 * 91 = 27.3
    # CEI   = (5000 + 60000 - 48000) / (5000 + 60000 - 30000) * 100 = 17000 / 35000 * 100 = 48.5714 -> 48.57
    # Countback: R = 48000; June (30 d) M = 30000 -> R = 18000, 30 days;
    #            May (31 d) M = 20000 >= R -> 31 * 18000 / 20000 = 27.9; total 57.9
    row = usd(kpis(hand_ledger.frames(), start=D(2026, 4, 1), end=D(2026, 6, 30)))
    assert row == {
        "currency": "USD",
        "period_start": D(2026, 4, 1),
        "period_end": D(2026, 6, 30),
        "days": 91,
        "ar_begin_minor": 5000,
        "ar_minor": 48000,
        "current_ar_minor": 30000,
        "overdue_ar_minor": 18000,
        "credit_sales_minor": 60000,
        "collections_minor": 15000,
        "cash_received_minor": 19200,
        "unapplied_minor": 4200,
        "dso": 72.8,
        "best_possible_dso": 45.5,
        "add": 27.3,
        "cei": 48.57,
        "countback_dso": 57.9,
    }


def test_no_sales_in_the_period_gives_null_ratios() -> None:
    # July 2026: nothing issued, so DSO, BPDSO and ADD divide by zero -> null.
    # AR at 06-30 = 48000; at 07-31: I2 18000 + I3 30000 (now overdue) = 48000, current 0.
    # CEI = (48000 + 0 - 48000) / (48000 + 0 - 0) * 100 = 0.0
    # Countback: July M = 0 -> 31 days; June M = 30000 < 48000 -> R = 18000, 61 days;
    #            May 31 * 18000 / 20000 = 27.9 -> 88.9
    row = usd(kpis(hand_ledger.frames(), start=D(2026, 7, 1), end=D(2026, 7, 31)))
    assert (row["credit_sales_minor"], row["ar_begin_minor"], row["ar_minor"]) == (0, 48000, 48000)
    assert (row["dso"], row["best_possible_dso"], row["add"]) == (None, None, None)
    assert row["cei"] == 0.0
    assert row["countback_dso"] == 88.9


def test_period_before_the_first_invoice_is_all_zero_and_null() -> None:
    row = usd(kpis(hand_ledger.frames(), start=D(2025, 1, 1), end=D(2025, 12, 31)))
    assert row["days"] == 365
    assert row["ar_minor"] == row["ar_begin_minor"] == row["credit_sales_minor"] == 0
    # CEI's denominator is 0 + 0 - 0: null; countback with AR 0 stops at once: 0.
    assert (row["dso"], row["cei"], row["countback_dso"]) == (None, None, 0.0)


def test_currencies_are_never_added() -> None:
    # EUR: E1 7000 issued 06-01, due 07-01, open. Quarter Apr-Jun: sales 7000, AR 7000, all current.
    # DSO = 7000 / 7000 * 91 = 91.0 = BPDSO; ADD 0; CEI = (0 + 7000 - 7000) / (7000 - 7000) -> null
    # Countback: June (30 d) M = 7000 >= R = 7000 -> 30 * 7000 / 7000 = 30.0
    frame = kpis(hand_ledger.frames(), start=D(2026, 4, 1), end=D(2026, 6, 30)).collect()
    assert frame["currency"].to_list() == ["EUR", "USD"]
    eur = frame.filter(pl.col("currency") == "EUR").to_dicts()[0]
    assert (eur["ar_minor"], eur["credit_sales_minor"], eur["collections_minor"]) == (7000, 7000, 0)
    assert (eur["dso"], eur["best_possible_dso"], eur["add"], eur["cei"]) == (91.0, 91.0, 0.0, None)
    assert eur["countback_dso"] == 30.0


def test_countback_over_a_leap_february() -> None:
    # 2024-02-10 invoice 2900 and 2024-03-05 invoice 1000, both open at 2024-03-10: R = 3900.
    # March 1-10 (10 d): M = 1000 < R -> R = 2900, 10 days.
    # February 2024 has 29 days: M = 2900 = R -> 29 * 2900 / 2900 = 29; total 39.0
    ledger = ledger_from_rows(
        invoices=[
            {"invoice_id": 1, "invoice_number": "A", "customer_id": 1, "currency": "USD",
             "issue_date": D(2024, 2, 10), "due_date": D(2024, 3, 11), "total_minor": 2900},
            {"invoice_id": 2, "invoice_number": "B", "customer_id": 1, "currency": "USD",
             "issue_date": D(2024, 3, 5), "due_date": D(2024, 4, 4), "total_minor": 1000},
        ]
    )  # fmt: skip
    ends = pl.LazyFrame({"period_end": [D(2024, 3, 10), D(2024, 2, 29), D(2024, 1, 31)]})
    got = countback_dso(ledger, ends).sort("period_end").collect()
    # 2024-02-29: R = 2900, February (29 d) M = 2900 -> 29.0. 2024-01-31: before the earliest
    # invoice's month, so the walk has no months: AR is 0 -> 0.0.
    assert got.to_dicts() == [
        {"currency": "USD", "period_end": D(2024, 1, 31), "countback_dso": 0.0},
        {"currency": "USD", "period_end": D(2024, 2, 29), "countback_dso": 29.0},
        {"currency": "USD", "period_end": D(2024, 3, 10), "countback_dso": 39.0},
    ]


def test_countback_walks_months_without_sales() -> None:
    # Months with no sales count whole and leave R as it was. One invoice of 100 on
    # 2026-01-31, open at E = 03-15:
    # March 1-15 M = 0 -> 15; February M = 0 -> 28; January M = 100 = R -> 31 * 100 / 100 = 31
    ledger = ledger_from_rows(
        invoices=[
            {"invoice_id": 1, "invoice_number": "A", "customer_id": 1, "currency": "USD",
             "issue_date": D(2026, 1, 31), "due_date": D(2026, 3, 2), "total_minor": 100},
        ]
    )  # fmt: skip
    got = countback_dso(ledger, pl.LazyFrame({"period_end": [D(2026, 3, 15)]})).collect()
    assert got["countback_dso"].to_list() == [15 + 28 + 31.0]


def test_monthly_series_equals_each_month_alone() -> None:
    ledger = hand_ledger.frames()
    series = period_kpis(ledger, periods(start=D(2026, 3, 15), end=D(2026, 7, 20))).collect()
    assert series.select("period_start", "period_end").unique(maintain_order=True).rows() == [
        (D(2026, 3, 15), D(2026, 3, 31)),
        (D(2026, 4, 1), D(2026, 4, 30)),
        (D(2026, 5, 1), D(2026, 5, 31)),
        (D(2026, 6, 1), D(2026, 6, 30)),
        (D(2026, 7, 1), D(2026, 7, 20)),
    ]
    alone = pl.concat(
        [
            kpis(ledger, start=start, end=end).collect()
            for start, end in series.select("period_start", "period_end").unique().rows()
        ]
    ).sort("period_start", "currency")
    assert_frame_equal(series, alone)


def test_add_is_the_difference_of_the_two_rounded_figures() -> None:
    # One-day period 2026-02-01 (N = 1), credit sales 1000 (S1 issued that day).
    # AR = S1 1000 + C1 13176 (due 02-19, current) + O1 58 (due 2025-12-31, overdue) = 14234
    # DSO = 14234 / 1000 = 14.234 -> 14.23; BPDSO = 14176 / 1000 = 14.176 -> 14.18
    # ADD = 14.23 - 14.18 = 0.05, so the report adds up (58 / 1000 rounded alone would be 0.06).
    def inv(number: str, issued: dt.date, due: dt.date, total: int) -> dict:
        return {"invoice_id": len(number) * 100 + total % 97, "invoice_number": number,
                "customer_id": 1, "currency": "USD", "issue_date": issued, "due_date": due,
                "total_minor": total}  # fmt: skip

    ledger = ledger_from_rows(
        invoices=[
            inv("S1", D(2026, 2, 1), D(2026, 3, 3), 1000),
            inv("C1", D(2026, 1, 20), D(2026, 2, 19), 13176),
            inv("O1", D(2025, 12, 1), D(2025, 12, 31), 58),
        ]
    )
    row = usd(kpis(ledger, start=D(2026, 2, 1), end=D(2026, 2, 1)))
    assert (row["dso"], row["best_possible_dso"], row["add"]) == (14.23, 14.18, 0.05)


def test_rounded_ratio_rounds_half_away_from_zero_exactly() -> None:
    got = pl.select(
        eighth=rounded_ratio(pl.lit(1), pl.lit(8)),  # 0.125 -> 0.13 (a float round gives 0.12)
        three_eighths=rounded_ratio(pl.lit(3), pl.lit(8)),  # 0.375 -> 0.38
        negative=rounded_ratio(pl.lit(-1), pl.lit(8)),  # -0.125 -> -0.13
        percent=rounded_ratio(pl.lit(2), pl.lit(3), scale=100),  # 66.666.. -> 66.67
        zero=rounded_ratio(pl.lit(1), pl.lit(0)),
        huge=rounded_ratio(pl.lit(9 * 10**17) * 10, pl.lit(3)),  # 3e18 needs more than Int64 x 100
    ).row(0)
    assert got == (0.13, 0.38, -0.13, 66.67, None, 3e18)


def test_period_must_not_run_backwards() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        period(D(2026, 5, 2), D(2026, 5, 1))
    with pytest.raises(ValueError, match="before it starts"):
        periods(start=D(2026, 5, 2), end=D(2026, 5, 1))

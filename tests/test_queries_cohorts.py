"""Collection rate by cohort (queries/cohorts.py), every rate worked out by hand.

USD January cohort
  A1 issued 2024-01-10 due 2024-02-09  100.00: 40.00 on the due date (0 days after),
                                               60.00 on 2024-03-05 (25 days after)
  A2 issued 2024-01-31 due 2024-02-29  200.00: 200.00 on 2024-04-29 (60 days after the leap day:
                                               Feb 29 -> Mar 29 is 29 days, -> Apr 29 is 60)
USD February cohort
  B1 issued 2024-02-29 due 2024-03-30   50.00: nothing by as-of; 50.00 on 2024-06-01 (after it)
USD June: B2 issued 2024-06-01, after the as-of date: no cohort
EUR January cohort
  E1 issued 2024-01-20 due 2024-02-19   30.00: paid on the due date
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from queries.cohorts import cohort_collection_rates, cohort_heatmap
from queries.ledger import LedgerFrames, ledger_from_rows

D = dt.date
AS_OF = D(2024, 5, 29)


def invoice(i: int, number: str, currency: str, issue: dt.date, due: dt.date, total: int) -> dict:
    return {"invoice_id": i, "invoice_number": number, "customer_id": 1 if currency == "USD" else 2,
            "currency": currency, "issue_date": issue, "due_date": due, "total_minor": total}  # fmt: skip


def allocation(invoice_id: int, applied: dt.date, amount: int) -> dict:
    return {"payment_id": invoice_id, "invoice_id": invoice_id, "applied_date": applied,
            "amount_minor": amount}  # fmt: skip


def ledger() -> LedgerFrames:
    return ledger_from_rows(
        invoices=[
            invoice(1, "A1", "USD", D(2024, 1, 10), D(2024, 2, 9), 10000),
            invoice(2, "A2", "USD", D(2024, 1, 31), D(2024, 2, 29), 20000),
            invoice(3, "B1", "USD", D(2024, 2, 29), D(2024, 3, 30), 5000),
            invoice(4, "B2", "USD", D(2024, 6, 1), D(2024, 7, 1), 9900),
            invoice(5, "E1", "EUR", D(2024, 1, 20), D(2024, 2, 19), 3000),
        ],
        allocations=[
            allocation(1, D(2024, 2, 9), 4000),
            allocation(1, D(2024, 3, 5), 6000),
            allocation(2, D(2024, 4, 29), 20000),
            allocation(3, D(2024, 6, 1), 5000),
            allocation(5, D(2024, 2, 19), 3000),
        ],
    )


COLUMNS = ["currency", "cohort_month", "invoices", "invoiced_minor"] + [
    f"collected_{kind}_k{k}" for k in (0, 30, 60, 90) for kind in ("minor", "pct")
]


def rates_frame(rows: list[tuple]) -> pl.DataFrame:
    schema = {
        c: pl.String if c == "currency" else pl.Date if c == "cohort_month"
        else pl.Float64 if "_pct_" in c else pl.Int64
        for c in COLUMNS
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")


def test_rates_by_hand() -> None:
    # USD Jan: 2 invoices, 30000 invoiced; latest due 02-29, so mature at k=90 (02-29 + 90 = 05-29 = as-of).
    #   k0  4000                  -> 4000 / 30000 = 13.33 %
    #   k30 4000 + 6000 = 10000   -> 33.33 %
    #   k60 10000 + 20000 = 30000 -> 100 % (A2's 60 days after its due date count at k = 60)
    #   k90 30000                 -> 100 %
    # USD Feb: B1 5000, nothing by as-of; due 03-30: mature for k0 (03-30), k30 (04-29),
    #   k60 (05-29); not for k90 (06-28 > 05-29) -> null, though the 0 collected so far is shown.
    # EUR Jan: E1 3000 paid on its due date; due 02-19 + 90 = 05-19 <= as-of: 100 % at every k.
    got = cohort_collection_rates(ledger(), as_of=AS_OF).collect()
    expected = rates_frame(
        [
            ("EUR", D(2024, 1, 1), 1, 3000, 3000, 100.0, 3000, 100.0, 3000, 100.0, 3000, 100.0),
            ("USD", D(2024, 1, 1), 2, 30000, 4000, 13.33, 10000, 33.33, 30000, 100.0, 30000, 100.0),
            ("USD", D(2024, 2, 1), 1, 5000, 0, 0.0, 0, 0.0, 0, 0.0, 0, None),
        ]
    )
    assert_frame_equal(got, expected)


def test_a_cohort_matures_on_the_day_its_last_due_date_plus_k_is_reached() -> None:
    # One day earlier (05-28), the January cohort's k = 90 (02-29 + 90 = 05-29) is not mature yet,
    # and February's k = 60 (03-30 + 60 = 05-29) neither.
    got = cohort_collection_rates(ledger(), as_of=D(2024, 5, 28)).collect()
    usd = got.filter(pl.col("currency") == "USD")
    assert usd["collected_pct_k90"].to_list() == [None, None]
    assert usd["collected_pct_k60"].to_list() == [100.0, None]


def test_allocations_after_as_of_do_not_count() -> None:
    # At 2024-04-28, A2's 200.00 (applied 04-29) is not known yet: January k60 is 10000 / 30000.
    got = cohort_collection_rates(ledger(), as_of=D(2024, 4, 28)).collect()
    jan = got.filter(pl.col("currency") == "USD", pl.col("cohort_month") == D(2024, 1, 1))
    assert jan.select("collected_minor_k60", "collected_pct_k30").row(0) == (10000, 33.33)
    assert jan["collected_pct_k60"].to_list() == [None]  # 02-29 + 60 = 04-29 > 04-28


def test_custom_offsets_name_their_columns() -> None:
    got = cohort_collection_rates(ledger(), as_of=AS_OF, offsets=(15,)).collect()
    assert got.columns == [
        "currency", "cohort_month", "invoices", "invoiced_minor",
        "collected_minor_k15", "collected_pct_k15",
    ]  # fmt: skip
    # USD Jan within 15 days: A1's 4000 on the due date only.
    assert got.filter(pl.col("currency") == "USD")["collected_minor_k15"].to_list() == [4000, 0]


@pytest.mark.parametrize("offsets", [(), (-1, 30), (30, 30)])
def test_bad_offsets_are_refused(offsets: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="offsets"):
        cohort_collection_rates(ledger(), as_of=AS_OF, offsets=offsets)


def test_heatmap_is_the_long_form() -> None:
    heat = cohort_heatmap(cohort_collection_rates(ledger(), as_of=AS_OF)).collect()
    expected = pl.DataFrame(
        [
            ("EUR", D(2024, 1, 1), 0, 100.0), ("EUR", D(2024, 1, 1), 30, 100.0),
            ("EUR", D(2024, 1, 1), 60, 100.0), ("EUR", D(2024, 1, 1), 90, 100.0),
            ("USD", D(2024, 1, 1), 0, 13.33), ("USD", D(2024, 1, 1), 30, 33.33),
            ("USD", D(2024, 1, 1), 60, 100.0), ("USD", D(2024, 1, 1), 90, 100.0),
            ("USD", D(2024, 2, 1), 0, 0.0), ("USD", D(2024, 2, 1), 30, 0.0),
            ("USD", D(2024, 2, 1), 60, 0.0), ("USD", D(2024, 2, 1), 90, None),
        ],
        schema={"currency": pl.String, "cohort_month": pl.Date, "offset_days": pl.Int64,
                "collected_pct": pl.Float64},
        orient="row",
    )  # fmt: skip
    assert_frame_equal(heat, expected)


def test_empty_ledger() -> None:
    rates = cohort_collection_rates(ledger_from_rows(), as_of=AS_OF)
    assert rates.collect().is_empty()
    assert rates.collect_schema().names() == COLUMNS
    heat = cohort_heatmap(rates).collect()
    assert heat.is_empty()
    assert heat.columns == ["currency", "cohort_month", "offset_days", "collected_pct"]

"""Payment behaviour, top overdue customers and AR concentration (queries/behaviour.py), by hand.

As of 2024-06-30 (2024 is a leap year): the 365-day window is (2023-07-01, 2024-06-30], the recent
90 days (2024-04-01, 2024-06-30], the prior 90 days (2024-01-02, 2024-04-01].

    C001 Acme  USD  I1 issued 01-01 due 01-31 100.00 paid 02-29 (59 days to pay, 29 late; prior)
                    I2 issued 04-01 due 05-01 300.00 paid 04-26 (25 days to pay, 5 early; recent)
                    I3 issued 05-15 due 06-14  80.00 open, 16 days past due
                    I4 issued 06-20 due 07-20  20.00 open, current
    C002 Beta  USD  B1 issued 2023-03-01 due 03-31 60.00 paid 2023-07-01 (the window's open end: out)
                    B2 issued 2023-06-01 due 07-01 40.00 paid 2023-07-02 (31 days, 1 late; in window)
                    B3 issued 06-01 due 06-30  50.00 open, due on the as-of date: current
    C003 Gamma USD  only a payment of 12.00 received 05-10, unapplied
    C004 Delta EUR  D1 issued 03-01 due 03-31 70.00 paid 04-15 from a 90.00 payment (20.00 unapplied)
                    D2 issued 05-01 due 05-31 25.00 open, 30 days past due
    C005 Eps   USD  paid everything in 2022: nothing in the window, not shown
    C006 Zeta  USD  Z1 issued 01-10 due 02-09 80.00 open (142 days past due),
                    Z2 issued 05-01 due 05-31 15.00 open (30 days past due)
    C007 Eta   USD  H1 issued 04-01 due 05-01 80.00 open (60 days past due)
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from queries.balances import receivables_at
from queries.behaviour import ar_concentration, payment_behaviour, top_overdue_customers
from queries.ledger import LedgerFrames, ledger_from_rows

D = dt.date
AS_OF = D(2024, 6, 30)
CUSTOMERS = {1: ("C001", "Acme", "USD"), 2: ("C002", "Beta", "USD"), 3: ("C003", "Gamma", "USD"),
             4: ("C004", "Delta", "EUR"), 5: ("C005", "Eps", "USD"), 6: ("C006", "Zeta", "USD"),
             7: ("C007", "Eta", "USD")}  # fmt: skip
# (invoice id, customer, issue, due, total, paid on or None)
INVOICES = [
    (1, 1, D(2024, 1, 1), D(2024, 1, 31), 10000, D(2024, 2, 29)),
    (2, 1, D(2024, 4, 1), D(2024, 5, 1), 30000, D(2024, 4, 26)),
    (3, 1, D(2024, 5, 15), D(2024, 6, 14), 8000, None),
    (4, 1, D(2024, 6, 20), D(2024, 7, 20), 2000, None),
    (5, 2, D(2023, 3, 1), D(2023, 3, 31), 6000, D(2023, 7, 1)),
    (6, 2, D(2023, 6, 1), D(2023, 7, 1), 4000, D(2023, 7, 2)),
    (7, 2, D(2024, 6, 1), D(2024, 6, 30), 5000, None),
    (8, 4, D(2024, 3, 1), D(2024, 3, 31), 7000, D(2024, 4, 15)),
    (9, 4, D(2024, 5, 1), D(2024, 5, 31), 2500, None),
    (10, 5, D(2022, 1, 1), D(2022, 1, 31), 1000, D(2022, 2, 10)),
    (11, 6, D(2024, 1, 10), D(2024, 2, 9), 8000, None),
    (12, 6, D(2024, 5, 1), D(2024, 5, 31), 1500, None),
    (13, 7, D(2024, 4, 1), D(2024, 5, 1), 8000, None),
]


def ledger() -> LedgerFrames:
    paid = [row for row in INVOICES if row[5] is not None]
    return ledger_from_rows(
        customers=[
            {"customer_id": i, "customer_code": code, "customer_name": name, "currency": cur,
             "payment_terms_days": 30, "credit_limit_minor": 0}
            for i, (code, name, cur) in CUSTOMERS.items()
        ],
        invoices=[
            {"invoice_id": i, "invoice_number": f"INV{i}", "customer_id": c,
             "currency": CUSTOMERS[c][2], "issue_date": issue, "due_date": due, "total_minor": total}
            for i, c, issue, due, total, _ in INVOICES
        ],
        # One payment per paid invoice, received and applied the same day; Delta's is 90.00
        # for a 70.00 invoice. Gamma's payment 99 is never applied.
        payments=[
            {"payment_id": i, "customer_id": c, "currency": CUSTOMERS[c][2], "received_date": day,
             "amount_minor": 9000 if i == 8 else total}
            for i, c, _, _, total, day in paid
        ] + [{"payment_id": 99, "customer_id": 3, "currency": "USD",
              "received_date": D(2024, 5, 10), "amount_minor": 1200}],
        allocations=[
            {"payment_id": i, "invoice_id": i, "applied_date": day, "amount_minor": total}
            for i, _, _, _, total, day in paid
        ],
    )  # fmt: skip


BEHAVIOUR_SCHEMA = {
    "customer_id": pl.Int64, "customer_code": pl.String, "customer_name": pl.String,
    "currency": pl.String, "paid_minor": pl.Int64, "days_to_pay": pl.Float64,
    "days_late": pl.Float64, "on_time_pct": pl.Float64, "days_to_pay_recent": pl.Float64,
    "days_to_pay_prior": pl.Float64, "days_to_pay_change": pl.Float64, "open_minor": pl.Int64,
    "overdue_minor": pl.Int64, "unapplied_minor": pl.Int64,
}  # fmt: skip


def test_payment_behaviour_by_hand() -> None:
    # Acme: paid 10000 + 30000 = 40000
    #   days to pay = (10000 * 59 + 30000 * 25) / 40000 = (590000 + 750000) / 40000 = 33.5
    #   days late   = (10000 * 29 + 30000 * -5) / 40000 = (290000 - 150000) / 40000 = 3.5
    #   on time     = 30000 / 40000 = 75 %
    #   recent (I2 on 04-26) 25.0; prior (I1 on 02-29) 59.0; trend 25 - 59 = -34 (paying faster)
    #   open I3 8000 + I4 2000 = 10000; overdue I3 8000 (due 06-14 < 06-30)
    # Beta: only B2 in the window (B1 paid on 2023-07-01 = as-of - 365 is out):
    #   31 days to pay, 1 late, 0 % on time, 4000 paid; no payment in either trend window.
    #   open B3 5000, due on the as-of date: current, not overdue.
    # Gamma: nothing applied (nulls), its 1200 unapplied.
    # Delta (EUR): D1 45 days to pay (Mar 1 -> Apr 15 = 31 + 14), 15 late, recent; 2000 unapplied;
    #   open D2 2500, overdue.
    # Zeta and Eta: nothing paid, only open and overdue balances. Eps: not shown.
    got = payment_behaviour(ledger(), as_of=AS_OF).collect()
    expected = pl.DataFrame(
        [
            (4, "C004", "Delta", "EUR", 7000, 45.0, 15.0, 0.0, 45.0, None, None, 2500, 2500, 2000),
            (1, "C001", "Acme", "USD", 40000, 33.5, 3.5, 75.0, 25.0, 59.0, -34.0, 10000, 8000, 0),
            (2, "C002", "Beta", "USD", 4000, 31.0, 1.0, 0.0, None, None, None, 5000, 0, 0),
            (3, "C003", "Gamma", "USD", 0, None, None, None, None, None, None, 0, 0, 1200),
            (6, "C006", "Zeta", "USD", 0, None, None, None, None, None, None, 9500, 9500, 0),
            (7, "C007", "Eta", "USD", 0, None, None, None, None, None, None, 8000, 8000, 0),
        ],
        schema=BEHAVIOUR_SCHEMA,
        orient="row",
    )
    assert_frame_equal(got, expected)


def test_a_shorter_window_drops_old_payments() -> None:
    # With 120 days, (2024-03-02, 2024-06-30]: Acme keeps only I2 (25 days, 5 early, on time);
    # Beta's B2 drops out, but Beta still shows for its open B3.
    got = payment_behaviour(ledger(), as_of=AS_OF, window_days=120).collect()
    acme, beta = (got.filter(pl.col("customer_code") == code).row(0, named=True)
                  for code in ("C001", "C002"))  # fmt: skip
    assert (acme["paid_minor"], acme["days_to_pay"], acme["days_late"], acme["on_time_pct"]) == (
        30000,
        25.0,
        -5.0,
        100.0,
    )
    # The trend windows do not depend on the behaviour window.
    assert (acme["days_to_pay_prior"], acme["days_to_pay_change"]) == (59.0, -34.0)
    assert (beta["paid_minor"], beta["days_to_pay"], beta["open_minor"]) == (0, None, 5000)


def test_top_overdue_customers_ranked_per_currency() -> None:
    # USD overdue: Zeta 8000 + 1500 = 9500 (oldest Z1: Feb 9 -> Jun 30 = 20 + 31 + 30 + 31 + 30
    # = 142 days), Acme 8000 (I3, 16 days), Eta 8000 (H1, 60 days): Acme before Eta on the tie
    # by customer code. Limit 2 keeps Zeta and Acme. EUR: Delta 2500 (30 days).
    got = top_overdue_customers(ledger(), as_of=AS_OF, limit=2).collect()
    expected = pl.DataFrame(
        [
            ("EUR", 1, 4, "C004", "Delta", 2500, 2500, 1, 30),
            ("USD", 1, 6, "C006", "Zeta", 9500, 9500, 2, 142),
            ("USD", 2, 1, "C001", "Acme", 8000, 10000, 1, 16),
        ],
        schema={"currency": pl.String, "rank": pl.Int64, "customer_id": pl.Int64,
                "customer_code": pl.String, "customer_name": pl.String, "overdue_minor": pl.Int64,
                "open_minor": pl.Int64, "overdue_invoices": pl.Int64,
                "oldest_days_past_due": pl.Int64},
        orient="row",
    )  # fmt: skip
    assert_frame_equal(got, expected)
    third = top_overdue_customers(ledger(), as_of=AS_OF).collect().filter(pl.col("rank") == 3)
    assert third.select("customer_code", "overdue_minor").row(0) == ("C007", 8000)


def test_ar_concentration() -> None:
    # USD AR: Acme 10000, Zeta 9500, Eta 8000, Beta 5000 = 32500; top 2 = 19500 -> 60 %.
    # EUR AR: Delta 2500, all of it with one customer -> 100 %.
    got = ar_concentration(ledger(), as_of=AS_OF, top=2).collect()
    expected = pl.DataFrame(
        [("EUR", 2500, 2500, 100.0, 1), ("USD", 32500, 19500, 60.0, 4)],
        schema={"currency": pl.String, "ar_minor": pl.Int64, "top_ar_minor": pl.Int64,
                "top_share_pct": pl.Float64, "customers_with_ar": pl.Int64},
        orient="row",
    )  # fmt: skip
    assert_frame_equal(got, expected)
    ar = receivables_at(ledger(), as_of=AS_OF).collect().select("currency", "ar_minor")
    assert_frame_equal(got.select("currency", "ar_minor"), ar)


def test_before_any_invoice_there_is_nothing_to_rank() -> None:
    early = D(2021, 12, 31)
    assert payment_behaviour(ledger(), as_of=early).collect().is_empty()
    assert top_overdue_customers(ledger(), as_of=early).collect().is_empty()
    got = ar_concentration(ledger(), as_of=early).collect()
    assert got.rows() == [("EUR", 0, 0, None, 0), ("USD", 0, 0, None, 0)]


def test_empty_ledger() -> None:
    empty = ledger_from_rows()
    behaviour = payment_behaviour(empty, as_of=AS_OF)
    assert behaviour.collect().is_empty()
    assert behaviour.collect_schema() == pl.Schema(BEHAVIOUR_SCHEMA)
    assert top_overdue_customers(empty, as_of=AS_OF).collect().is_empty()
    assert ar_concentration(empty, as_of=AS_OF).collect().is_empty()


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        (payment_behaviour, {"window_days": 0}),
        (top_overdue_customers, {"limit": 0}),
        (ar_concentration, {"top": 0}),
    ],
)
def test_bad_options_are_refused(call, kwargs: dict) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        call(ledger(), as_of=AS_OF, **kwargs)

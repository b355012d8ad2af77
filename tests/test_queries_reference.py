"""The Polars queries against the plain-Python reading of SPEC §3 (tests/reference.py).

Hypothesis draws random valid ledgers (tests/strategies.py) and random dates,
periods and bucket boundaries; every figure of `queries.balances`,
`queries.aging` and `queries.kpis` must equal the reference exactly, ratios
included (both round exact rationals half up to 2 decimals). The first tests
check the reference itself on tiny ledgers worked out by hand, so that a
disagreement can be blamed on the right side.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import polars as pl
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from billing.money import format_amount
from billing.reports import aging_report, kpi_report
from queries.aging import aging_by_customer, aging_items, aging_totals, bucket_labels
from queries.balances import open_balances, receivables_at
from queries.kpis import kpis, period_kpis
from queries.ledger import ledger_from_rows
from tests import reference as ref
from tests.reference import Ledger
from tests.strategies import as_of_dates, boundaries, ledgers, periods

D = dt.date
RANDOM = settings(max_examples=200, deadline=None)


def customer(customer_id: int, code: str, currency: str = "USD") -> dict:
    return {
        "customer_id": customer_id,
        "customer_code": code,
        "customer_name": f"Customer {code}",
        "currency": currency,
        "payment_terms_days": 30,
        "credit_limit_minor": 0,
    }


def invoice(invoice_id: int, customer_id: int, issue: dt.date, due: dt.date, total: int) -> dict:
    return {
        "invoice_id": invoice_id,
        "invoice_number": f"INV-{invoice_id}",
        "customer_id": customer_id,
        "currency": "USD",
        "issue_date": issue,
        "due_date": due,
        "total_minor": total,
    }


# A: issued 01-10, due 02-09, 10.00; 4.00 paid from P1 on 02-05.
# B: issued 02-20, due 03-21, 6.00; credit note 1.00 on 03-01.
# P1 (USD) 7.00 received 02-05; P2 (EUR, customer C02, no invoices) 0.50 on 02-10.
TINY: Ledger = {
    "customers": [customer(1, "C01"), customer(2, "C02", "EUR")],
    "invoices": [
        invoice(1, 1, D(2024, 1, 10), D(2024, 2, 9), 1000),
        invoice(2, 1, D(2024, 2, 20), D(2024, 3, 21), 600),
    ],
    "payments": [
        {
            "payment_id": 1,
            "customer_id": 1,
            "currency": "USD",
            "received_date": D(2024, 2, 5),
            "amount_minor": 700,
        },
        {
            "payment_id": 2,
            "customer_id": 2,
            "currency": "EUR",
            "received_date": D(2024, 2, 10),
            "amount_minor": 50,
        },
    ],
    "allocations": [
        {"payment_id": 1, "invoice_id": 1, "applied_date": D(2024, 2, 5), "amount_minor": 400}
    ],
    "adjustments": [
        {"invoice_id": 2, "kind": "credit_note", "date": D(2024, 3, 1), "amount_minor": 100}
    ],
}


# --- the reference, by hand -----------------------------------------------------------


def test_reference_rounds_exact_ratios_half_up() -> None:
    assert ref.round2(Fraction(1, 8)) == 0.13  # 0.125 is a tie: up
    assert ref.round2(Fraction(-1, 8)) == -0.13  # away from zero
    assert ref.round2(Fraction(1249, 10000)) == 0.12
    assert ref.round2(Fraction(1, 200)) == 0.01  # 0.005
    assert ref.round2(Fraction(2, 3)) == 0.67
    assert ref.round2(Fraction(91 * 48000, 60000)) == 72.8
    assert ref.ratio(5, 0) is None


def test_reference_bucket_labels_and_edges() -> None:
    assert ref.bucket_labels((30, 60, 90)) == ["current", "1-30", "31-60", "61-90", "91+"]
    assert ref.bucket_labels((30, 60, 90), "issue") == ["0-30", "31-60", "61-90", "91+"]
    assert ref.bucket_labels((15, 45)) == ["current", "1-15", "16-45", "46+"]
    # due basis: days ≤ 0 is current; an upper boundary belongs to its bucket
    assert [ref.bucket_of(d, (15, 45)) for d in (-3, 0, 1, 15, 16, 45, 46)] == [
        "current",
        "current",
        "1-15",
        "1-15",
        "16-45",
        "16-45",
        "46+",
    ]
    assert [ref.bucket_of(d, (30, 60, 90), "issue") for d in (0, 30, 31, 90, 91)] == [
        "0-30",
        "0-30",
        "31-60",
        "61-90",
        "91+",
    ]


def test_reference_balances_by_hand() -> None:
    # At 02-29 (leap day): A 1000 − 400 = 600; B 600 (its credit note is dated 03-01).
    assert ref.open_balances(TINY, D(2024, 2, 29)) == {1: 600, 2: 600}
    # At 03-01: B 600 − 100 = 500. Before 01-10 nothing is issued.
    assert ref.open_balances(TINY, D(2024, 3, 1)) == {1: 600, 2: 500}
    assert ref.open_balances(TINY, D(2024, 1, 9)) == {}
    # AR 1200; current (due ≥ 02-29) only B: 600; overdue A: 600.
    # Unapplied USD 700 − 400 = 300; EUR P2 50 untouched.
    assert ref.receivables(TINY, D(2024, 2, 29)) == [
        {
            "currency": "EUR",
            "as_of": D(2024, 2, 29),
            "ar_minor": 0,
            "current_ar_minor": 0,
            "overdue_ar_minor": 0,
            "unapplied_minor": 50,
        },
        {
            "currency": "USD",
            "as_of": D(2024, 2, 29),
            "ar_minor": 1200,
            "current_ar_minor": 600,
            "overdue_ar_minor": 600,
            "unapplied_minor": 300,
        },
    ]
    # On A's due date (02-09) A is still current: AR 600 (1000 − 400), all current.
    assert ref.current_ar(TINY, "USD", D(2024, 2, 9)) == 600
    assert ref.current_ar(TINY, "USD", D(2024, 2, 10)) == 0


def test_reference_aging_by_hand() -> None:
    # Due basis at 02-29: A 29 − 9 = 20 days -> 1-30 (600); B due 03-21 -> current (600).
    rows, totals = ref.aging(TINY, D(2024, 2, 29))
    labels = dict.fromkeys(["current", "1-30", "31-60", "61-90", "91+"], 0)
    assert rows == [
        {
            "currency": "USD",
            "customer_id": 1,
            "customer_code": "C01",
            "customer_name": "Customer C01",
            **labels,
            "current": 600,
            "1-30": 600,
            "total": 1200,
        }
    ]
    assert totals == [
        {"currency": "EUR", **labels, "total": 0},
        {"currency": "USD", **labels, "current": 600, "1-30": 600, "total": 1200},
    ]
    # Issue basis: A 01-10 -> 02-29 is 21 + 29 = 50 days -> 31-60; B 02-20 -> 9 days -> 0-30.
    rows, _ = ref.aging(TINY, D(2024, 2, 29), "issue")
    assert (rows[0]["0-30"], rows[0]["31-60"], rows[0]["total"]) == (600, 600, 1200)


def test_reference_kpis_by_hand() -> None:
    # February 2024: N = 29. AR at 01-31: A 1000 (paid from 02-05 on). Sales: B 600.
    # AR at 02-29 1200, current 600, overdue 600.
    # DSO 1200 / 600 × 29 = 58; best 600 / 600 × 29 = 29; ADD = DSO - best = 58 - 29 = 29.
    # CEI (1000 + 600 − 1200) / (1000 + 600 − 600) × 100 = 400 / 1000 × 100 = 40.
    # Countback: R = 1200; Feb (29 d) M 600 < R -> R 600, 29 d;
    #            Jan (31 d) M 1000 ≥ 600 -> 31 × 600 / 1000 = 18.6; 47.6 days.
    # EUR: no sales -> ratios null, countback 0; cash 50 received 02-10, unapplied 50.
    eur, usd = ref.period_kpis(TINY, D(2024, 2, 1), D(2024, 2, 29))
    assert usd == {
        "currency": "USD",
        "period_start": D(2024, 2, 1),
        "period_end": D(2024, 2, 29),
        "days": 29,
        "ar_begin_minor": 1000,
        "ar_minor": 1200,
        "current_ar_minor": 600,
        "overdue_ar_minor": 600,
        "credit_sales_minor": 600,
        "collections_minor": 400,
        "cash_received_minor": 700,
        "unapplied_minor": 300,
        "dso": 58.0,
        "best_possible_dso": 29.0,
        "add": 29.0,
        "cei": 40.0,
        "countback_dso": 47.6,
    }
    assert (eur["dso"], eur["cei"], eur["countback_dso"]) == (None, None, 0.0)
    assert (eur["cash_received_minor"], eur["unapplied_minor"]) == (50, 50)


def test_reference_countback_walks_empty_months_and_stops_at_the_first() -> None:
    # One invoice 01-10 of 900, never paid. At 03-15: R = 900;
    # Mar 1–15 (15 d) M 0 -> 15; Feb (29 d) M 0 -> 44; Jan (31 d) M 900 ≥ 900 -> 31; 75 days.
    ledger: Ledger = {
        "customers": [customer(1, "C01")],
        "invoices": [invoice(1, 1, D(2024, 1, 10), D(2024, 2, 9), 900)],
    }
    assert ref.countback_days(ledger, "USD", D(2024, 3, 15)) == 75
    # Before the earliest invoice's month there is nothing to walk: 0.
    assert ref.countback_days(ledger, "USD", D(2023, 12, 31)) == 0
    # In that month itself: Jan 1–20 (20 d), M 900, R 900 -> 20 × 900 / 900 = 20.
    assert ref.countback_days(ledger, "USD", D(2024, 1, 20)) == 20


@settings(max_examples=100, deadline=None)
@given(ledgers())
def test_generated_ledgers_keep_the_ledger_invariants(ledger: Ledger) -> None:
    customers = {c["customer_id"]: c for c in ledger["customers"]}
    invoices = {i["invoice_id"]: i for i in ledger["invoices"]}
    payments = {p["payment_id"]: p for p in ledger["payments"]}
    settled = dict.fromkeys(invoices, 0)
    allocated = dict.fromkeys(payments, 0)
    for inv in invoices.values():
        assert inv["due_date"] >= inv["issue_date"] and inv["total_minor"] >= 1
        assert inv["currency"] == customers[inv["customer_id"]]["currency"]
    for pay in payments.values():
        assert pay["currency"] == customers[pay["customer_id"]]["currency"]
    for alloc in ledger["allocations"]:
        inv, pay = invoices[alloc["invoice_id"]], payments[alloc["payment_id"]]
        assert inv["customer_id"] == pay["customer_id"] and inv["currency"] == pay["currency"]
        assert alloc["applied_date"] >= max(inv["issue_date"], pay["received_date"])
        assert alloc["amount_minor"] >= 1
        settled[inv["invoice_id"]] += alloc["amount_minor"]
        allocated[pay["payment_id"]] += alloc["amount_minor"]
    for adj in ledger["adjustments"]:
        assert adj["date"] >= invoices[adj["invoice_id"]]["issue_date"]
        assert adj["amount_minor"] >= 1
        settled[adj["invoice_id"]] += adj["amount_minor"]
    assert all(settled[i] <= inv["total_minor"] for i, inv in invoices.items())
    assert all(allocated[p] <= pay["amount_minor"] for p, pay in payments.items())


# --- the queries against the reference ------------------------------------------------


@RANDOM
@given(st.data())
def test_open_balances_match_the_reference(data: st.DataObject) -> None:
    ledger = data.draw(ledgers())
    as_of = data.draw(as_of_dates(ledger))
    frame = open_balances(ledger_from_rows(**ledger), as_of=as_of).collect()
    assert dict(zip(frame["invoice_id"], frame["open_minor"], strict=True)) == (
        ref.open_balances(ledger, as_of)
    )


@RANDOM
@given(st.data())
def test_receivables_at_match_the_reference(data: st.DataObject) -> None:
    ledger = data.draw(ledgers())
    as_of = data.draw(as_of_dates(ledger))
    rows = receivables_at(ledger_from_rows(**ledger), as_of=as_of).collect().to_dicts()
    assert rows == ref.receivables(ledger, as_of)


@RANDOM
@given(st.data())
def test_aging_matches_the_reference(data: st.DataObject) -> None:
    ledger = data.draw(ledgers())
    as_of = data.draw(as_of_dates(ledger))
    basis = data.draw(st.sampled_from(["due", "issue"]))
    bounds = data.draw(boundaries())
    frames = ledger_from_rows(**ledger).collect()
    options = {"as_of": as_of, "basis": basis, "boundaries": bounds}
    labels = ref.bucket_labels(bounds, basis)
    assert bucket_labels(bounds, basis=basis) == labels
    rows, totals = ref.aging(ledger, as_of, basis, bounds)

    by_customer = aging_by_customer(frames, **options).collect()
    assert by_customer.columns == [
        "currency",
        "customer_id",
        "customer_code",
        "customer_name",
        *labels,
        "total",
    ]
    assert by_customer.to_dicts() == rows

    total_frame = aging_totals(frames, **options).collect()
    assert total_frame.columns == ["currency", *labels, "total"]
    assert total_frame.to_dicts() == totals

    items = aging_items(frames, **options).collect()
    since = {
        i["invoice_id"]: i["due_date" if basis == "due" else "issue_date"]
        for i in ledger["invoices"]
    }
    expected_items = {
        invoice_id: (balance, ref.bucket_of((as_of - since[invoice_id]).days, bounds, basis))
        for invoice_id, balance in ref.open_balances(ledger, as_of).items()
        if balance > 0
    }
    assert {
        row["invoice_id"]: (row["open_minor"], row["bucket"]) for row in items.to_dicts()
    } == expected_items


@RANDOM
@given(st.data())
def test_period_kpis_match_the_reference(data: st.DataObject) -> None:
    ledger = data.draw(ledgers())
    start, end = data.draw(periods(ledger))
    rows = kpis(ledger_from_rows(**ledger), start=start, end=end).collect().to_dicts()
    assert rows == ref.period_kpis(ledger, start, end)


@RANDOM
@given(st.data())
def test_both_reports_match_the_reference(data: st.DataObject) -> None:
    """`billing report aging|kpis` as SPEC §4 objects, built here from the reference's figures."""
    ledger = data.draw(ledgers())
    present = ref.currencies(ledger)
    assume(present)
    currency = data.draw(st.sampled_from(present))
    as_of = data.draw(as_of_dates(ledger))
    basis = data.draw(st.sampled_from(["due", "issue"]))
    bounds = data.draw(boundaries())
    start, end = data.draw(periods(ledger))
    frames = ledger_from_rows(**ledger)

    labels = ref.bucket_labels(bounds, basis)
    rows, totals = ref.aging(ledger, as_of, basis, bounds)

    def amounts(row: dict) -> dict:
        return {key: format_amount(row[key], currency) for key in (*labels, "total")}

    aging = aging_report(frames, as_of=as_of, basis=basis, boundaries=bounds, currency=currency)
    assert aging == {
        "as_of": as_of.isoformat(),
        "basis": basis,
        "currency": currency,
        "buckets": labels,
        "rows": [
            {"customer_code": r["customer_code"], "customer_name": r["customer_name"], **amounts(r)}
            for r in rows
            if r["currency"] == currency
        ],
        "totals": amounts(next(t for t in totals if t["currency"] == currency)),
        "unapplied": format_amount(ref.unapplied(ledger, currency, as_of), currency),
    }

    figures = next(r for r in ref.period_kpis(ledger, start, end) if r["currency"] == currency)
    money = ["ar_begin", "ar", "current_ar", "overdue_ar", "credit_sales", "collections",
             "cash_received", "unapplied"]  # fmt: skip
    ratios = ["dso", "best_possible_dso", "add", "countback_dso", "cei"]
    assert kpi_report(frames, start=start, end=end, currency=currency) == {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": (end - start).days + 1,
        "currency": currency,
        **{key: format_amount(figures[f"{key}_minor"], currency) for key in money},
        **{key: figures[key] for key in ratios},
    }


@RANDOM
@given(st.data())
def test_settlements_dated_too_early_still_follow_the_definitions(data: st.DataObject) -> None:
    """Rows the services refuse (a settlement before the issue or the receipt) count as SPEC says."""
    ledger = data.draw(ledgers(settle_early=True))
    as_of = data.draw(as_of_dates(ledger))
    start, end = data.draw(periods(ledger))
    frames = ledger_from_rows(**ledger)
    assert receivables_at(frames, as_of=as_of).collect().to_dicts() == ref.receivables(
        ledger, as_of
    )
    assert kpis(frames, start=start, end=end).collect().to_dicts() == ref.period_kpis(
        ledger, start, end
    )


def test_ratios_are_the_nearest_float_to_their_two_decimals() -> None:
    # One USD invoice of 27 issued and due 01-31, credit note 3 the same day: AR 24, all current.
    # Periods ending 01-31 and starting 01-01 .. 01-04 (N 31 .. 28): DSO 24 × N / 27 =
    # 27.555… 26.666… 25.777… 24.888… -> 27.56 26.67 25.78 24.89, each of which must be the
    # float nearest the 2-decimal value (what JSON prints as 27.56), not 2756 × 0.01 =
    # 27.560000000000002. Several periods make the ratio columns several rows long, where a
    # vectorised division by 100 (done as a multiplication by 0.01) shows the difference.
    ledger: Ledger = {
        "customers": [customer(1, "C01")],
        "invoices": [invoice(1, 1, D(2024, 1, 31), D(2024, 1, 31), 27)],
        "adjustments": [
            {"invoice_id": 1, "kind": "credit_note", "date": D(2024, 1, 31), "amount_minor": 3}
        ],
    }
    starts = [D(2024, 1, day) for day in range(1, 5)]
    frame = pl.LazyFrame({"period_start": starts, "period_end": [D(2024, 1, 31)] * 4})
    rows = period_kpis(ledger_from_rows(**ledger), frame).collect()
    assert [ref.period_kpis(ledger, start, D(2024, 1, 31))[0]["dso"] for start in starts] == [
        27.56,
        26.67,
        25.78,
        24.89,
    ]
    assert rows["dso"].to_list() == [27.56, 26.67, 25.78, 24.89]
    assert rows["best_possible_dso"].to_list() == [27.56, 26.67, 25.78, 24.89]


def calendar_months(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Consecutive calendar months covering [first, last], the first and last clipped."""
    result = []
    start = first
    while start <= last:
        next_month = (start.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
        end = min(next_month - dt.timedelta(days=1), last)
        result.append((start, end))
        start = next_month
    return result


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_several_periods_in_one_call_match_each_period_alone(data: st.DataObject) -> None:
    ledger = data.draw(ledgers())
    first = data.draw(as_of_dates(ledger))
    last = data.draw(as_of_dates(ledger).filter(lambda d: d >= first))
    spans = calendar_months(first, last)
    # plus a few overlapping, arbitrary periods in the same frame
    spans += data.draw(st.lists(periods(ledger), max_size=3))
    spans = sorted(set(spans))
    frame = pl.LazyFrame(
        {"period_start": [s for s, _ in spans], "period_end": [e for _, e in spans]},
        schema={"period_start": pl.Date, "period_end": pl.Date},
    )
    rows = period_kpis(ledger_from_rows(**ledger), frame).collect().to_dicts()
    expected = [row for start, end in spans for row in ref.period_kpis(ledger, start, end)]
    assert rows == expected

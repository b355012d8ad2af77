"""Promises to pay (queries.promises): the cash counted toward each, and open / kept / broken.

The hand-worked ledger below is read at several dates; the last test checks
`promise_status` against a plain-Python reading of the rule over random ledgers.
The small row builders here are shared with tests/test_queries_worklist.py.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from queries.collections import collections_from_rows
from queries.ledger import ledger_from_rows
from queries.promises import promise_status
from tests.reference import Ledger
from tests.strategies import DAY, as_of_dates, ledgers

D = dt.date
Row = dict[str, Any]


# --- row builders -----------------------------------------------------------------------


def customer(customer_id: int, code: str, currency: str = "USD") -> Row:
    return {
        "customer_id": customer_id,
        "customer_code": code,
        "customer_name": f"Customer {code}",
        "currency": currency,
        "payment_terms_days": 30,
        "credit_limit_minor": 0,
    }


def invoice(
    invoice_id: int,
    customer_id: int,
    due: dt.date,
    total: int,
    *,
    issue: dt.date | None = None,
    currency: str = "USD",
) -> Row:
    return {
        "invoice_id": invoice_id,
        "invoice_number": f"INV-{invoice_id}",
        "customer_id": customer_id,
        "currency": currency,
        "issue_date": issue or due - 30 * DAY,
        "due_date": due,
        "total_minor": total,
    }


def payment(
    payment_id: int, customer_id: int, received: dt.date, amount: int, currency: str = "USD"
) -> Row:
    return {
        "payment_id": payment_id,
        "customer_id": customer_id,
        "currency": currency,
        "received_date": received,
        "amount_minor": amount,
    }


def allocation(payment_id: int, invoice_id: int, applied: dt.date, amount: int) -> Row:
    return {
        "payment_id": payment_id,
        "invoice_id": invoice_id,
        "applied_date": applied,
        "amount_minor": amount,
    }


def activity(
    activity_id: int,
    customer_id: int,
    on: dt.date,
    kind: str = "call",
    *,
    invoice_id: int | None = None,
    follow_up: dt.date | None = None,
) -> Row:
    return {
        "activity_id": activity_id,
        "customer_id": customer_id,
        "invoice_id": invoice_id,
        "kind": kind,
        "activity_date": on,
        "follow_up_date": follow_up,
        "created_by": "clerk",
    }


def promise(
    activity_id: int,
    customer_id: int,
    on: dt.date,
    by: dt.date,
    amount: int,
    *,
    invoice_id: int | None = None,
) -> Row:
    return {
        **activity(activity_id, customer_id, on, "promise", invoice_id=invoice_id),
        "promise_date": by,
        "promise_amount_minor": amount,
    }


# --- one ledger by hand -----------------------------------------------------------------

# C01 (USD) owes I1 10.00 and I2 5.00, both due 2026-05-31.
#   P1 3.00 received 06-05, all applied to I1 on 06-05
#   P2 2.00 received 06-12, all applied to I2 on 06-12
#   P3 4.00 received 06-20, on account
#   P4 1.00 received 06-01, on account (before any promise was made)
#   P5 EUR 10.00 received 06-06 (another currency: never counts toward a USD promise)
# Promises, all logged 06-03:
#   A1 customer, by 06-15, 5.00     A2 customer, by 06-15, 6.00
#   A3 on I1, by 06-15, 3.00        A4 on I2, by 06-10, 2.00     A5 on I2, by 06-30, 3.00
# A6 is a promise logged 07-05, A7 a call: neither is listed at 06-30.
LEDGER = ledger_from_rows(
    customers=[customer(1, "C01"), customer(2, "C02")],
    invoices=[invoice(1, 1, D(2026, 5, 31), 1000), invoice(2, 1, D(2026, 5, 31), 500)],
    payments=[
        payment(1, 1, D(2026, 6, 5), 300),
        payment(2, 1, D(2026, 6, 12), 200),
        payment(3, 1, D(2026, 6, 20), 400),
        payment(4, 1, D(2026, 6, 1), 100),
        payment(5, 1, D(2026, 6, 6), 1000, currency="EUR"),
    ],
    allocations=[allocation(1, 1, D(2026, 6, 5), 300), allocation(2, 2, D(2026, 6, 12), 200)],
)
LOGGED = D(2026, 6, 3)
COLLECTIONS = collections_from_rows(
    activities=[
        promise(1, 1, LOGGED, D(2026, 6, 15), 500),
        promise(2, 1, LOGGED, D(2026, 6, 15), 600),
        promise(3, 1, LOGGED, D(2026, 6, 15), 300, invoice_id=1),
        promise(4, 1, LOGGED, D(2026, 6, 10), 200, invoice_id=2),
        promise(5, 1, LOGGED, D(2026, 6, 30), 300, invoice_id=2),
        promise(6, 2, D(2026, 7, 5), D(2026, 7, 20), 100),
        activity(7, 1, D(2026, 6, 4)),
    ]
)


def status_at(as_of: dt.date) -> list[tuple]:
    """(activity_id, paid_minor, status, broken_date) per promise at `as_of`."""
    got = promise_status(LEDGER, COLLECTIONS, as_of=as_of).collect()
    return got.select("activity_id", "paid_minor", "status", "broken_date").rows()


def test_columns_and_one_row_per_promise() -> None:
    got = promise_status(LEDGER, COLLECTIONS, as_of=D(2026, 6, 30)).collect()
    assert got.schema == pl.Schema(
        {
            "activity_id": pl.Int64(),
            "customer_id": pl.Int64(),
            "invoice_id": pl.Int64(),
            "activity_date": pl.Date(),
            "promise_date": pl.Date(),
            "promise_amount_minor": pl.Int64(),
            "paid_minor": pl.Int64(),
            "status": pl.String(),
            "broken_date": pl.Date(),
        }
    )
    # A6 is logged after 06-30 and A7 is a call: five promises.
    assert got["activity_id"].to_list() == [1, 2, 3, 4, 5]
    assert got["invoice_id"].to_list() == [None, None, 1, 2, 2]


def test_at_the_month_end() -> None:
    # A1: window [06-03, 06-15]: P1 300 + P2 200 = 500 ≥ 500 -> kept. P4 (06-01) is before
    #     the promise, P3 (06-20) after its date, P5 is EUR: none of them counts.
    # A2: the same 500 counts again (judged on its own), 500 < 600 and 06-30 > 06-15 -> broken
    #     from 06-16.
    # A3: allocations to I1 in the window: 300 ≥ 300 -> kept.
    # A4: allocations to I2 in [06-03, 06-10]: none (P2's lands on 06-12) -> broken from 06-11.
    # A5: allocations to I2 in [06-03, 06-30]: 200 (P1's 300 went to I1, P3 is on account);
    #     200 < 300 but today is the promise date -> still open.
    assert status_at(D(2026, 6, 30)) == [
        (1, 500, "kept", None),
        (2, 500, "broken", D(2026, 6, 16)),
        (3, 300, "kept", None),
        (4, 0, "broken", D(2026, 6, 11)),
        (5, 200, "open", None),
    ]


def test_the_day_after_the_promise_date_it_is_broken() -> None:
    # A5 on 07-01: window still ends on its date 06-30, 200 < 300, 07-01 > 06-30 -> broken,
    # broken_date 06-30 + 1 = 07-01. The on-account P3 never helps an invoice promise.
    assert status_at(D(2026, 7, 1))[4] == (5, 200, "broken", D(2026, 7, 1))


def test_while_the_promises_run() -> None:
    # 06-10: windows end on 06-10. A1, A2: P1 300 only -> open (short, but not due yet).
    # A3: 300 to I1 on 06-05 -> kept before its date. A4: 06-10 is its date, nothing paid -> open.
    assert status_at(D(2026, 6, 10)) == [
        (1, 300, "open", None),
        (2, 300, "open", None),
        (3, 300, "kept", None),
        (4, 0, "open", None),
        (5, 0, "open", None),
    ]
    # 06-11: A4 broken from 06-11; 06-12: P2 arrives, A1 reaches 500 -> kept three days early.
    assert status_at(D(2026, 6, 11))[3] == (4, 0, "broken", D(2026, 6, 11))
    assert status_at(D(2026, 6, 12))[0] == (1, 500, "kept", None)
    # A promise logged on as_of is listed (window [06-03, 06-03], nothing paid -> open).
    assert status_at(LOGGED) == [(i, 0, "open", None) for i in (1, 2, 3, 4, 5)]
    assert status_at(LOGGED - DAY) == []


def test_a_promise_dated_before_it_was_made_can_only_break() -> None:
    # Logged 06-10 for 06-05: the window [06-10, 06-05] is empty; on 06-10 > 06-05 -> broken.
    collections = collections_from_rows(
        activities=[promise(1, 1, D(2026, 6, 10), D(2026, 6, 5), 100)]
    )
    got = promise_status(LEDGER, collections, as_of=D(2026, 6, 10)).collect()
    assert got.select("paid_minor", "status", "broken_date").row(0) == (
        0,
        "broken",
        D(2026, 6, 6),
    )


# --- against a plain-Python reading of the rule -----------------------------------------


def reference_status(
    ledger: Ledger, activities: list[Row], as_of: dt.date
) -> list[tuple[int, int, str, dt.date | None]]:
    """The module docstring's rule, one promise at a time, with loops."""
    currency = {c["customer_id"]: c["currency"] for c in ledger["customers"]}
    out = []
    for act in sorted(activities, key=lambda a: a["activity_id"]):
        if act["kind"] != "promise" or act["activity_date"] > as_of:
            continue
        start, end = act["activity_date"], min(act["promise_date"], as_of)
        if act["invoice_id"] is None:
            paid = sum(
                p["amount_minor"]
                for p in ledger["payments"]
                if p["customer_id"] == act["customer_id"]
                and p["currency"] == currency[act["customer_id"]]
                and start <= p["received_date"] <= end
            )
        else:
            paid = sum(
                a["amount_minor"]
                for a in ledger["allocations"]
                if a["invoice_id"] == act["invoice_id"] and start <= a["applied_date"] <= end
            )
        if paid >= act["promise_amount_minor"]:
            out.append((act["activity_id"], paid, "kept", None))
        elif as_of > act["promise_date"]:
            out.append((act["activity_id"], paid, "broken", act["promise_date"] + DAY))
        else:
            out.append((act["activity_id"], paid, "open", None))
    return out


def cash_dates(ledger: Ledger, customer_id: int, invoice_id: int | None) -> list[dt.date]:
    """The days cash came in for what a promise is about, and the days either side."""
    if invoice_id is None:
        days = [p["received_date"] for p in ledger["payments"] if p["customer_id"] == customer_id]
    else:
        days = [a["applied_date"] for a in ledger["allocations"] if a["invoice_id"] == invoice_id]
    return [d + k * DAY for d in days for k in (-1, 0, 1)]


@st.composite
def ledgers_with_promises(draw: st.DrawFn) -> tuple[Ledger, list[Row]]:
    """A random ledger and up to 8 activities: promises on customers or their invoices, calls.

    Promise and activity dates are often a day of the promise's own cash ± 1, so
    that cash lands on a window's edges.
    """
    ledger = draw(ledgers(max_invoices=12))
    activities: list[Row] = []
    for activity_id in range(1, draw(st.integers(0, 8)) + 1):
        if not ledger["customers"]:
            break
        who = draw(st.sampled_from(ledger["customers"]))["customer_id"]
        theirs = [i["invoice_id"] for i in ledger["invoices"] if i["customer_id"] == who]
        about = draw(st.sampled_from([None, *theirs]))
        edges = cash_dates(ledger, who, about)
        near_cash = [st.sampled_from(edges)] if edges else []
        on = draw(st.one_of(as_of_dates(ledger), *near_cash))
        if draw(st.integers(0, 4)) == 0:
            activities.append(activity(activity_id, who, on, invoice_id=about))
            continue
        later = on + draw(st.integers(-3, 40)) * DAY
        by = draw(st.one_of(st.just(later), *near_cash))
        amount = draw(st.one_of(st.integers(1, 20), st.integers(1, 8000)))
        activities.append(promise(activity_id, who, on, by, amount, invoice_id=about))
    return ledger, activities


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_promise_status_matches_the_reference(data: st.DataObject) -> None:
    ledger, activities = data.draw(ledgers_with_promises())
    promised = [a["promise_date"] for a in activities if a["kind"] == "promise"]
    edges = [d + k * DAY for d in promised for k in (-1, 0, 1)]
    as_of = data.draw(
        st.one_of(as_of_dates(ledger), st.sampled_from(edges)) if edges else as_of_dates(ledger)
    )
    got = promise_status(
        ledger_from_rows(**ledger), collections_from_rows(activities=activities), as_of=as_of
    ).collect()
    assert got.select(
        "activity_id", "paid_minor", "status", "broken_date"
    ).rows() == reference_status(ledger, activities, as_of)

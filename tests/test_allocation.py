"""The allocation rule of SPEC §2 as pure functions."""

from __future__ import annotations

import datetime as dt

from billing.allocation import OpenItem, plan_auto_allocation, plan_targeted_allocation

D = dt.date


def item(
    number: str, issue: dt.date, due: dt.date, open_minor: int, invoice_id: int = 0
) -> OpenItem:
    return OpenItem(invoice_id, number, issue, due, open_minor)


def test_oldest_due_first_then_issue_then_number() -> None:
    a = item("A", D(2026, 1, 5), D(2026, 2, 4), 3000)
    b = item("B", D(2026, 1, 1), D(2026, 2, 4), 2000)  # same due as A, issued earlier
    c = item("C", D(2026, 1, 20), D(2026, 1, 31), 1000)  # due first
    d = item("D", D(2026, 1, 1), D(2026, 2, 4), 500)  # same due and issue as B, number after
    plan = plan_auto_allocation(4000, [a, b, c, d], received_date=D(2026, 3, 1))
    # 4000 → C 1000 (due 31 Jan), B 2000 (due 4 Feb, issued 1 Jan), D 500 (same dates, "D" > "B"),
    # A gets the remaining 4000 − 1000 − 2000 − 500 = 500 of its 3000.
    assert [(i.invoice_number, amount) for i, amount in plan] == [
        ("C", 1000),
        ("B", 2000),
        ("D", 500),
        ("A", 500),
    ]


def test_invoices_issued_after_the_payment_are_not_paid() -> None:
    early = item("E", D(2026, 1, 1), D(2026, 1, 31), 1000)
    later = item(
        "L", D(2026, 2, 10), D(2026, 1, 15), 1000
    )  # would sort first, but issued after receipt
    plan = plan_auto_allocation(5000, [early, later], received_date=D(2026, 2, 1))
    # Only E is eligible: 1000 applied, 5000 − 1000 = 4000 stays unapplied.
    assert [(i.invoice_number, amount) for i, amount in plan] == [("E", 1000)]


def test_issued_on_the_received_date_is_eligible() -> None:
    same_day = item("S", D(2026, 2, 1), D(2026, 3, 3), 700)
    assert plan_auto_allocation(700, [same_day], received_date=D(2026, 2, 1)) == [(same_day, 700)]


def test_closed_invoices_are_skipped() -> None:
    closed = item("X", D(2026, 1, 1), D(2026, 1, 2), 0)
    assert plan_auto_allocation(100, [closed], received_date=D(2026, 2, 1)) == []


def test_targeted_takes_at_most_the_open_balance() -> None:
    inv = item("T", D(2026, 1, 1), D(2026, 1, 31), 2500)
    assert plan_targeted_allocation(1000, inv) == 1000
    assert plan_targeted_allocation(4000, inv) == 2500  # 4000 − 2500 = 1500 stays unapplied

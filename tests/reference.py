"""SPEC §3 read a second time, in plain Python, to check the Polars queries against.

A ledger here is a dict of row lists with the keys and column names of
`queries.ledger` (invoices, allocations, adjustments, payments, customers),
the same rows `ledger_from_rows` takes. Every figure is a loop over those rows
that says what the SPEC sentence says: integers for money, `Fraction` for
ratios, `decimal.ROUND_HALF_UP` for the 2-decimal rounding. Nothing is shared
with `queries/`, and nothing is clever: it is meant to be slow and obviously right.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

Row = dict[str, Any]
Ledger = dict[str, list[Row]]

ONE_DAY = dt.timedelta(days=1)


def _rows(ledger: Ledger, table: str) -> list[Row]:
    return ledger.get(table, [])


def currencies(ledger: Ledger) -> list[str]:
    """A currency is present if it has a posted invoice or a payment."""
    found = {inv["currency"] for inv in _rows(ledger, "invoices")}
    found |= {pay["currency"] for pay in _rows(ledger, "payments")}
    return sorted(found)


# --- balances at D --------------------------------------------------------------------


def open_balance(ledger: Ledger, invoice: Row, d: dt.date) -> int:
    """Total − Σ allocations applied ≤ D − Σ adjustments dated ≤ D (invoice issued ≤ D)."""
    balance = invoice["total_minor"]
    for alloc in _rows(ledger, "allocations"):
        if alloc["invoice_id"] == invoice["invoice_id"] and alloc["applied_date"] <= d:
            balance -= alloc["amount_minor"]
    for adj in _rows(ledger, "adjustments"):
        if adj["invoice_id"] == invoice["invoice_id"] and adj["date"] <= d:
            balance -= adj["amount_minor"]
    return balance


def open_balances(ledger: Ledger, d: dt.date) -> dict[int, int]:
    """invoice_id -> open balance at D, for every invoice issued on or before D."""
    return {
        inv["invoice_id"]: open_balance(ledger, inv, d)
        for inv in _rows(ledger, "invoices")
        if inv["issue_date"] <= d
    }


def ar(ledger: Ledger, currency: str, d: dt.date, *, current_only: bool = False) -> int:
    """Σ positive open balances at D; with current_only, only invoices with due_date ≥ D."""
    total = 0
    for inv in _rows(ledger, "invoices"):
        if inv["currency"] != currency or inv["issue_date"] > d:
            continue
        if current_only and inv["due_date"] < d:
            continue
        balance = open_balance(ledger, inv, d)
        if balance > 0:
            total += balance
    return total


def current_ar(ledger: Ledger, currency: str, d: dt.date) -> int:
    return ar(ledger, currency, d, current_only=True)


def unapplied(ledger: Ledger, currency: str, d: dt.date) -> int:
    """Σ over payments received ≤ D of amount − Σ their allocations applied ≤ D."""
    total = 0
    for pay in _rows(ledger, "payments"):
        if pay["currency"] != currency or pay["received_date"] > d:
            continue
        total += pay["amount_minor"]
        for alloc in _rows(ledger, "allocations"):
            if alloc["payment_id"] == pay["payment_id"] and alloc["applied_date"] <= d:
                total -= alloc["amount_minor"]
    return total


def receivables(ledger: Ledger, d: dt.date) -> list[Row]:
    """One row per currency: AR, current AR, overdue AR and unapplied cash at D."""
    rows = []
    for cur in currencies(ledger):
        total, current = ar(ledger, cur, d), current_ar(ledger, cur, d)
        rows.append(
            {
                "currency": cur,
                "as_of": d,
                "ar_minor": total,
                "current_ar_minor": current,
                "overdue_ar_minor": total - current,
                "unapplied_minor": unapplied(ledger, cur, d),
            }
        )
    return rows


# --- aging ----------------------------------------------------------------------------


def bucket_labels(boundaries: Sequence[int], basis: str = "due") -> list[str]:
    """due, (30, 60, 90): current 1-30 31-60 61-90 91+; issue: 0-30 31-60 61-90 91+."""
    labels = ["current"] if basis == "due" else []
    low = 1 if basis == "due" else 0
    for upper in boundaries:
        labels.append(f"{low}-{upper}")
        low = upper + 1
    labels.append(f"{low}+")
    return labels


def bucket_of(days: int, boundaries: Sequence[int], basis: str = "due") -> str:
    """current if days ≤ 0 (due basis), else the first bucket whose upper boundary ≥ days."""
    labels = bucket_labels(boundaries, basis)
    if basis == "due":
        if days <= 0:
            return "current"
        labels = labels[1:]
    for label, upper in zip(labels, boundaries, strict=False):
        if days <= upper:
            return label
    return labels[-1]


def aging(
    ledger: Ledger, d: dt.date, basis: str = "due", boundaries: Sequence[int] = (30, 60, 90)
) -> tuple[list[Row], list[Row]]:
    """(rows per customer with a non-zero total, a totals row per currency present)."""
    labels = bucket_labels(boundaries, basis)
    customers = {c["customer_id"]: c for c in _rows(ledger, "customers")}
    by_customer: dict[tuple[str, int], Row] = {}
    for inv in _rows(ledger, "invoices"):
        if inv["issue_date"] > d:
            continue
        balance = open_balance(ledger, inv, d)
        if balance <= 0:
            continue
        since = inv["due_date"] if basis == "due" else inv["issue_date"]
        label = bucket_of((d - since).days, boundaries, basis)
        customer = customers[inv["customer_id"]]
        key = (inv["currency"], inv["customer_id"])
        if key not in by_customer:
            by_customer[key] = {
                "currency": inv["currency"],
                "customer_id": inv["customer_id"],
                "customer_code": customer["customer_code"],
                "customer_name": customer["customer_name"],
                **dict.fromkeys(labels, 0),
                "total": 0,
            }
        by_customer[key][label] += balance
        by_customer[key]["total"] += balance
    rows = sorted(
        (row for row in by_customer.values() if row["total"] != 0),
        key=lambda row: (row["currency"], row["customer_code"]),
    )
    totals = []
    for cur in currencies(ledger):
        total = {"currency": cur, **dict.fromkeys(labels, 0), "total": 0}
        for row in rows:
            if row["currency"] == cur:
                for column in [*labels, "total"]:
                    total[column] += row[column]
        totals.append(total)
    return rows, totals


# --- period figures -------------------------------------------------------------------


def credit_sales(ledger: Ledger, currency: str, start: dt.date, end: dt.date) -> int:
    """Σ totals of posted invoices issued in [S, E]."""
    return sum(
        inv["total_minor"]
        for inv in _rows(ledger, "invoices")
        if inv["currency"] == currency and start <= inv["issue_date"] <= end
    )


def collections(ledger: Ledger, currency: str, start: dt.date, end: dt.date) -> int:
    """Σ allocations applied in [S, E] (to invoices of the currency)."""
    currency_of = {inv["invoice_id"]: inv["currency"] for inv in _rows(ledger, "invoices")}
    return sum(
        alloc["amount_minor"]
        for alloc in _rows(ledger, "allocations")
        if currency_of[alloc["invoice_id"]] == currency and start <= alloc["applied_date"] <= end
    )


def cash_received(ledger: Ledger, currency: str, start: dt.date, end: dt.date) -> int:
    """Σ payments received in [S, E]."""
    return sum(
        pay["amount_minor"]
        for pay in _rows(ledger, "payments")
        if pay["currency"] == currency and start <= pay["received_date"] <= end
    )


def round2(value: Fraction) -> float:
    """The exact value rounded half up (away from zero) to 2 decimals.

    Truncating to 3 decimals first is exact for this purpose: the third
    decimal alone decides whether the second goes up (…5 or more) or not.
    """
    thousandths = Decimal(int(value * 1000))  # int() truncates toward zero, exactly
    return float((thousandths / 1000).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def ratio(numerator: int | Fraction, denominator: int) -> float | None:
    """numerator ÷ denominator rounded to 2 decimals; None when the denominator is zero."""
    if denominator == 0:
        return None
    return round2(Fraction(numerator) / denominator)


def shown_difference(dso: float | None, best: float | None) -> float | None:
    """ADD = DSO - best possible DSO, of the two figures as reported (2 decimals each)."""
    if dso is None or best is None:
        return None
    return float(Decimal(str(dso)) - Decimal(str(best)))


def countback_days(ledger: Ledger, currency: str, end: dt.date) -> Fraction:
    """The SPEC loop, month by month, newest first, down to the earliest invoice's month."""
    issued = [inv["issue_date"] for inv in _rows(ledger, "invoices") if inv["currency"] == currency]
    if not issued:
        return Fraction(0)
    earliest_month = min(issued).replace(day=1)
    remaining = ar(ledger, currency, end)
    days = Fraction(0)
    month_start, month_end = end.replace(day=1), end  # the first month: the 1st to E
    while month_start >= earliest_month:
        if remaining == 0:
            break
        sales = credit_sales(ledger, currency, month_start, month_end)
        length = (month_end - month_start).days + 1
        if sales == 0:
            days += length
        elif remaining > sales:
            remaining -= sales
            days += length
        else:
            days += Fraction(length * remaining, sales)
            break
        month_end = month_start - ONE_DAY
        month_start = month_end.replace(day=1)
    return days


def period_kpis(ledger: Ledger, start: dt.date, end: dt.date) -> list[Row]:
    """Every figure of SPEC §3 for [S, E], one row per currency present."""
    n = (end - start).days + 1
    rows = []
    for cur in currencies(ledger):
        ar_begin = ar(ledger, cur, start - ONE_DAY)
        ar_end = ar(ledger, cur, end)
        current = current_ar(ledger, cur, end)
        sales = credit_sales(ledger, cur, start, end)
        dso = ratio(ar_end * n, sales)
        best = ratio(current * n, sales)
        rows.append(
            {
                "currency": cur,
                "period_start": start,
                "period_end": end,
                "days": n,
                "ar_begin_minor": ar_begin,
                "ar_minor": ar_end,
                "current_ar_minor": current,
                "overdue_ar_minor": ar_end - current,
                "credit_sales_minor": sales,
                "collections_minor": collections(ledger, cur, start, end),
                "cash_received_minor": cash_received(ledger, cur, start, end),
                "unapplied_minor": unapplied(ledger, cur, end),
                "dso": dso,
                "best_possible_dso": best,
                "add": shown_difference(dso, best),
                "cei": ratio(100 * (ar_begin + sales - ar_end), ar_begin + sales - current),
                "countback_dso": round2(countback_days(ledger, cur, end)),
            }
        )
    return rows

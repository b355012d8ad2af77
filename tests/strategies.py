"""Hypothesis strategies for random valid ledgers (row dicts) and the dates to query them at.

Dates are packed into a narrow window around a leap day (invoices issued
2024-01-15 .. 2024-04-15), and query dates are often taken from the ledger's
own dates (± a day), so the edges of SPEC §3 come up all the time: an invoice
issued or due on the as-of date, a settlement on it, month ends, 29 February.
Amounts are small so that ties (an allocation equal to the open balance, a
month's sales equal to what remains of AR) are frequent too.

Every ledger keeps the §2 invariants: due ≥ issue; totals and amounts ≥ 1;
payments in their customer's currency; allocations to invoices of the same
customer, applied on or after both the issue and the receipt; Σ allocations of
a payment ≤ its amount; Σ allocations + adjustments of an invoice ≤ its total;
adjustments dated on or after the issue date.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from tests.reference import Ledger

CURRENCIES = ("USD", "JPY", "EUR")
FIRST_ISSUE = dt.date(2024, 1, 15)
LAST_ISSUE = dt.date(2024, 4, 15)
# Query dates run a little before the first invoice and well after the last one.
EARLIEST_QUERY = dt.date(2023, 12, 20)
LATEST_QUERY = dt.date(2024, 7, 10)
SPECIAL_DATES = (
    dt.date(2023, 12, 31),
    dt.date(2024, 1, 1),
    dt.date(2024, 1, 31),
    dt.date(2024, 2, 1),
    dt.date(2024, 2, 28),
    dt.date(2024, 2, 29),
    dt.date(2024, 3, 1),
    dt.date(2024, 3, 31),
    dt.date(2024, 4, 30),
    dt.date(2024, 5, 31),
    dt.date(2024, 6, 30),
)
DAY = dt.timedelta(days=1)


def _issue_dates() -> st.SearchStrategy[dt.date]:
    return st.one_of(
        st.dates(FIRST_ISSUE, LAST_ISSUE),
        st.sampled_from([d for d in SPECIAL_DATES if FIRST_ISSUE <= d <= LAST_ISSUE]),
    )


def _days_after() -> st.SearchStrategy[int]:
    """A gap in days: often 0 (same day), otherwise up to about four months."""
    return st.one_of(st.just(0), st.integers(0, 10), st.integers(0, 120))


def _amounts(upper: int) -> st.SearchStrategy[int]:
    """1 .. upper, often exactly upper (settles in full) or tiny."""
    return st.one_of(st.just(upper), st.integers(1, min(upper, 5)), st.integers(1, upper))


@st.composite
def ledgers(draw: st.DrawFn, *, max_invoices: int = 25, settle_early: bool = False) -> Ledger:
    """A random valid ledger: 0–4 customers, ≤ max_invoices invoices, payments, settlements.

    With `settle_early`, settlements may be dated up to 10 days before their
    invoice's issue (and allocations before their payment's receipt): what the
    services refuse and `billing check` reports, but the definitions still answer.
    """

    def early() -> dt.timedelta:
        return draw(st.sampled_from([0, 0, 1, 3, 10])) * DAY if settle_early else 0 * DAY

    n_customers = draw(st.integers(0, 4))
    codes = draw(st.permutations([f"C{i:02d}" for i in range(1, 5)]))  # code order ≠ id order
    customers = [
        {
            "customer_id": i + 1,
            "customer_code": codes[i],
            "customer_name": f"Customer {codes[i]}",
            "currency": draw(st.sampled_from(CURRENCIES)),
            "payment_terms_days": 30,
            "credit_limit_minor": 0,
        }
        for i in range(n_customers)
    ]
    ledger: Ledger = {
        "customers": customers,
        "invoices": [],
        "payments": [],
        "allocations": [],
        "adjustments": [],
    }
    if not customers:
        return ledger
    # Sometimes the last customer only ever pays (unapplied cash, no invoices).
    payers_only = draw(st.booleans()) and n_customers > 1
    billed = customers[:-1] if payers_only else customers

    numbers = draw(st.permutations(range(1, max_invoices + 1)))
    for k in range(draw(st.integers(0, max_invoices))):
        customer = draw(st.sampled_from(billed))
        issue = draw(_issue_dates())
        ledger["invoices"].append(
            {
                "invoice_id": k + 1,
                "invoice_number": f"INV-{numbers[k]:04d}",
                "customer_id": customer["customer_id"],
                "currency": customer["currency"],
                "issue_date": issue,
                "due_date": issue + draw(_days_after()) * DAY,
                "total_minor": draw(st.one_of(st.integers(1, 20), st.integers(1, 5000))),
            }
        )
    open_left = {inv["invoice_id"]: inv["total_minor"] for inv in ledger["invoices"]}

    for inv in ledger["invoices"]:
        if open_left[inv["invoice_id"]] > 0 and draw(st.integers(0, 3)) == 0:
            amount = draw(_amounts(open_left[inv["invoice_id"]]))
            open_left[inv["invoice_id"]] -= amount
            ledger["adjustments"].append(
                {
                    "invoice_id": inv["invoice_id"],
                    "kind": draw(st.sampled_from(["credit_note", "write_off"])),
                    "date": inv["issue_date"] + draw(_days_after()) * DAY - early(),
                    "amount_minor": amount,
                }
            )

    for p in range(draw(st.integers(0, 10))):
        customer = draw(st.sampled_from(customers))
        payment = {
            "payment_id": p + 1,
            "customer_id": customer["customer_id"],
            "currency": customer["currency"],
            "received_date": draw(st.dates(FIRST_ISSUE - 10 * DAY, LAST_ISSUE + 60 * DAY)),
            "amount_minor": draw(st.one_of(st.integers(1, 20), st.integers(1, 8000))),
        }
        ledger["payments"].append(payment)
        left = payment["amount_minor"]
        targets = [
            inv
            for inv in ledger["invoices"]
            if inv["customer_id"] == customer["customer_id"] and open_left[inv["invoice_id"]] > 0
        ]
        for inv in (
            draw(
                st.lists(
                    st.sampled_from(targets), max_size=3, unique_by=lambda inv: inv["invoice_id"]
                )
            )
            if targets
            else []
        ):
            upper = min(left, open_left[inv["invoice_id"]])
            if upper <= 0:
                continue
            amount = draw(_amounts(upper))
            left -= amount
            open_left[inv["invoice_id"]] -= amount
            earliest = max(inv["issue_date"], payment["received_date"])
            ledger["allocations"].append(
                {
                    "payment_id": payment["payment_id"],
                    "invoice_id": inv["invoice_id"],
                    "applied_date": earliest + draw(_days_after()) * DAY - early(),
                    "amount_minor": amount,
                }
            )
    return ledger


def ledger_dates(ledger: Ledger) -> list[dt.date]:
    """Every date written in the ledger, and the days either side of it."""
    found: set[dt.date] = set()
    columns = {
        "invoices": ("issue_date", "due_date"),
        "payments": ("received_date",),
        "allocations": ("applied_date",),
        "adjustments": ("date",),
    }
    for table, names in columns.items():
        for row in ledger[table]:
            for name in names:
                found |= {row[name] - DAY, row[name], row[name] + DAY}
    return sorted(found)


def as_of_dates(ledger: Ledger | None = None) -> st.SearchStrategy[dt.date]:
    """A query date: any day of the window, a month end or leap day, or a ledger date ± 1."""
    options: list[st.SearchStrategy[dt.date]] = [
        st.dates(EARLIEST_QUERY, LATEST_QUERY),
        st.sampled_from(SPECIAL_DATES),
    ]
    if ledger is not None and (dates := ledger_dates(ledger)):
        options.append(st.sampled_from(dates))
    return st.one_of(options)


@st.composite
def periods(draw: st.DrawFn, ledger: Ledger | None = None) -> tuple[dt.date, dt.date]:
    """(S, E) with S ≤ E: a single day, a calendar month, or any span up to ~5 months."""
    end = draw(as_of_dates(ledger))
    kind = draw(st.sampled_from(["span", "month", "day"]))
    if kind == "day":
        return end, end
    if kind == "month":
        return end.replace(day=1), end
    return end - draw(st.integers(0, 150)) * DAY, end


def boundaries() -> st.SearchStrategy[tuple[int, ...]]:
    """Aging bucket boundaries: 1–4 sorted, unique, positive day counts (often the default)."""
    return st.one_of(
        st.just((30, 60, 90)),
        st.lists(st.integers(1, 120), min_size=1, max_size=4, unique=True).map(
            lambda bounds: tuple(sorted(bounds))
        ),
    )

"""One small USD ledger whose every figure is worked out by hand in the tests that use it.

    C001 Acme   I1  issued 2026-04-10 due 2026-05-10  100.00  paid in full 2026-05-05 (P1)
                I2  issued 2026-05-20 due 2026-06-19  200.00  credit note 20.00 on 2026-06-10
    C002 Beta   I3  issued 2026-06-15 due 2026-07-15  300.00  open
                I4  issued 2026-03-01 due 2026-03-31   50.00  paid 2026-06-30 from P2 (80.00)
    C003 Gamma  no invoices; P3 of 12.00 received 2026-06-01, all on account
    C004 Delta  EUR  E1 issued 2026-06-01 due 2026-07-01  70.00 open (a second currency)

The same ledger is built through the services (`build_in_database`) for the
command-line tests and as frames (`frames`) for the query tests.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from queries.ledger import LedgerFrames, ledger_from_rows
from tests import helpers

D = dt.date

CUSTOMERS = [
    (1, "C001", "Acme", "USD"),
    (2, "C002", "Beta", "USD"),
    (3, "C003", "Gamma", "USD"),
    (4, "C004", "Delta", "EUR"),
]
INVOICES = [
    (1, "I1", 1, "USD", D(2026, 4, 10), D(2026, 5, 10), 10000),
    (2, "I2", 1, "USD", D(2026, 5, 20), D(2026, 6, 19), 20000),
    (3, "I3", 2, "USD", D(2026, 6, 15), D(2026, 7, 15), 30000),
    (4, "I4", 2, "USD", D(2026, 3, 1), D(2026, 3, 31), 5000),
    (5, "E1", 4, "EUR", D(2026, 6, 1), D(2026, 7, 1), 7000),
]
PAYMENTS = [
    (1, "P1", 1, "USD", D(2026, 5, 5), 10000, "I1"),
    (2, "P2", 2, "USD", D(2026, 6, 30), 8000, "I4"),
    (3, "P3", 3, "USD", D(2026, 6, 1), 1200, None),
]
ALLOCATIONS = [(1, 1, D(2026, 5, 5), 10000), (2, 4, D(2026, 6, 30), 5000)]
ADJUSTMENTS = [(2, "credit_note", D(2026, 6, 10), 2000)]


def frames() -> LedgerFrames:
    """The ledger as the query layer sees it."""
    return ledger_from_rows(
        customers=[
            {
                "customer_id": i,
                "customer_code": code,
                "customer_name": name,
                "currency": cur,
                "payment_terms_days": 30,
                "credit_limit_minor": 0,
            }
            for i, code, name, cur in CUSTOMERS
        ],
        invoices=[
            dict(
                zip(
                    (
                        "invoice_id",
                        "invoice_number",
                        "customer_id",
                        "currency",
                        "issue_date",
                        "due_date",
                        "total_minor",
                    ),
                    row,
                    strict=True,
                )
            )
            for row in INVOICES
        ],
        payments=[
            {
                "payment_id": i,
                "customer_id": c,
                "currency": cur,
                "received_date": day,
                "amount_minor": amount,
            }
            for i, _ref, c, cur, day, amount, _target in PAYMENTS
        ],
        allocations=[
            {"payment_id": p, "invoice_id": i, "applied_date": day, "amount_minor": amount}
            for p, i, day, amount in ALLOCATIONS
        ],
        adjustments=[
            {"invoice_id": i, "kind": kind, "date": day, "amount_minor": amount}
            for i, kind, day, amount in ADJUSTMENTS
        ],
    )


def build_in_database(engine: Engine) -> None:
    """The same ledger written through the services, in an empty database."""
    codes = {i: code for i, code, _name, _cur in CUSTOMERS}
    for _i, code, name, currency in CUSTOMERS:
        helpers.customer(engine, code, currency, name=name)
    for _i, number, customer_id, _cur, issued, due, total in INVOICES:
        helpers.invoice(engine, number, codes[customer_id], issued, total, due=due)
    for _i, reference, customer_id, _cur, received, amount, target in PAYMENTS:
        helpers.pay(engine, codes[customer_id], reference, received, amount, invoice_number=target)
    for invoice_id, kind, day, amount in ADJUSTMENTS:
        number = next(row[1] for row in INVOICES if row[0] == invoice_id)
        helpers.adjust(engine, number, kind, day, amount)

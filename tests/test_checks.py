"""`billing check` finds every broken invariant, naming the rows."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, text

from billing.checks import check_ledger
from billing.db import read_session, write_session
from tests.helpers import adjust, ledger_guards_lifted, pay

D = dt.date


def findings(engine: Engine) -> list[str]:
    with read_session(engine) as s:
        return check_ledger(s)


def test_clean_ledger(ledger: Engine) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 6000)  # INV-1 open 10000 − 6000 = 4000
    adjust(ledger, "INV-1", "credit_note", D(2026, 2, 5), 1500)  # open 2500
    adjust(ledger, "INV-1", "write_off", D(2026, 3, 1), 2500)  # open 0
    pay(ledger, "C001", "P2", D(2026, 3, 2), 700)  # nothing open: 700 unapplied
    assert findings(ledger) == []


@pytest.fixture
def paid(ledger: Engine) -> Engine:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000)
    return ledger


def corrupt(engine: Engine, *statements: str) -> None:
    """Simulate a hand edit that bypasses the services (the schema's CHECKs stay in force).

    The immutability triggers (migration 0003) refuse most of these edits, as they
    should; they are lifted inside this transaction only, because these tests
    prove what `billing check` finds if a ledger is broken anyway.
    """
    with write_session(engine) as s, ledger_guards_lifted(s.connection()):
        for statement in statements:
            s.execute(text(statement))


def test_running_sum_drift_is_found(paid: Engine) -> None:
    corrupt(paid, "UPDATE invoices SET settled_minor = 3000")
    assert findings(paid) == [
        "invoice running sum wrong: INV-1: settled_minor 3000 but rows sum to 4000"
    ]


def test_payment_drift_is_found(paid: Engine) -> None:
    corrupt(paid, "UPDATE payments SET allocated_minor = 0")
    assert findings(paid) == [
        "payment running sum wrong: payment 1 (P1): allocated_minor 0 but rows sum to 4000"
    ]


def test_over_settled_invoice_is_found(paid: Engine) -> None:
    # Allocation rows add up to more than the total, though the running sum was kept within it.
    corrupt(paid, "UPDATE allocations SET amount_minor = 10001")
    found = findings(paid)
    assert "invoice over-settled: INV-1: allocations + adjustments 10001 > total 10000" in found
    assert "payment over-allocated: payment 1 (P1): allocated 10001 > amount 4000" in found


def test_allocation_before_receipt_is_found(paid: Engine) -> None:
    corrupt(paid, "UPDATE allocations SET applied_date = '2026-01-31'")
    assert findings(paid) == [
        "allocation invalid: allocation 1 (payment P1 → INV-1): applied before the payment was received"
    ]


def test_total_differs_from_lines(paid: Engine) -> None:
    corrupt(paid, "UPDATE invoice_lines SET net_minor = 9999")
    assert findings(paid) == [
        "invoice total differs from its lines: INV-1: total 10000, lines 9999"
    ]


def test_allocation_before_issue_is_found(paid: Engine) -> None:
    corrupt(paid, "UPDATE invoices SET issue_date = '2026-02-02', due_date = '2026-03-04'")
    assert findings(paid) == [
        "allocation invalid: allocation 1 (payment P1 → INV-1): applied before the invoice was issued"
    ]


def test_adjustment_before_issue_is_found(ledger: Engine) -> None:
    adjust(ledger, "INV-1", "credit_note", D(2026, 1, 20), 500)
    corrupt(ledger, "UPDATE adjustments SET date = '2026-01-09'")
    assert findings(ledger) == [
        "adjustment invalid: adjustment 1 on INV-1: dated before the invoice was issued"
    ]


def test_payment_in_another_currency_is_found(paid: Engine) -> None:
    corrupt(
        paid,
        "DELETE FROM allocations",
        "UPDATE invoices SET settled_minor = 0",
        "UPDATE payments SET allocated_minor = 0, currency = 'EUR'",
    )
    assert findings(paid) == ["payment inconsistent: payment 1 (P1): currency EUR, customer's USD"]

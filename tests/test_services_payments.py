"""Payments: auto and targeted allocation, unapplied cash, idempotency (SPEC §2)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import Conflict, NotFound, PermissionDenied, ValidationError
from billing.models import Allocation, AuditEntry
from billing.services import (
    Applied,
    PaymentCreate,
    PaymentPosted,
    allocate_payment,
    post_payment,
)
from tests.conftest import CLERK, FINANCE
from tests.helpers import customer, invoice, open_balance, pay, table_counts, unapplied

D = dt.date


@pytest.fixture
def three_open(ledger: Engine) -> Engine:
    """C001 owes INV-1 100.00 (issued 10 Jan, due 9 Feb) plus:
    INV-2 50.00 issued 1 Jan due 20 Feb, INV-3 70.00 issued 15 Jan due 9 Feb, INV-4 30.00 issued 1 Mar."""
    invoice(ledger, "INV-2", "C001", D(2026, 1, 1), 5000, due=D(2026, 2, 20))
    invoice(ledger, "INV-3", "C001", D(2026, 1, 15), 7000, due=D(2026, 2, 9))
    invoice(ledger, "INV-4", "C001", D(2026, 3, 1), 3000)
    return ledger


def test_auto_allocation_oldest_first(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 2, 15), 20000)
    # Eligible (issued ≤ 15 Feb): INV-1 (due 9 Feb, issued 10 Jan), INV-3 (due 9 Feb, issued 15 Jan),
    # INV-2 (due 20 Feb). INV-4 is issued 1 Mar, after the payment: not eligible.
    # 20000 → INV-1 10000, INV-3 7000, INV-2 the remaining 20000 − 10000 − 7000 = 3000 of its 5000.
    assert result.applied == (
        Applied("INV-1", 10000, D(2026, 2, 15)),
        Applied("INV-3", 7000, D(2026, 2, 15)),
        Applied("INV-2", 3000, D(2026, 2, 15)),
    )
    assert result.unapplied_minor == 0
    assert open_balance(three_open, "INV-2") == 2000
    assert open_balance(three_open, "INV-4") == 3000


def test_auto_allocation_leaves_the_rest_unapplied(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 2, 15), 25000)
    # Eligible open total: 10000 + 7000 + 5000 = 22000; 25000 − 22000 = 3000 on account.
    assert result.unapplied_minor == 3000
    assert unapplied(three_open, result.payment_id) == 3000


def test_targeted_applies_min_of_amount_and_open(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 2, 15), 8000, invoice_number="INV-3")
    # INV-3 is open 7000: apply min(8000, 7000) = 7000; 1000 stays unapplied.
    assert result.applied == (Applied("INV-3", 7000, D(2026, 2, 15)),)
    assert result.unapplied_minor == 1000
    assert open_balance(three_open, "INV-1") == 10000  # untouched: targeted means only INV-3


def test_targeted_partial_payment(three_open: Engine) -> None:
    pay(three_open, "C001", "P1", D(2026, 2, 15), 2500, invoice_number="INV-1")
    pay(three_open, "C001", "P2", D(2026, 2, 20), 2500, invoice_number="INV-1")
    assert open_balance(three_open, "INV-1") == 10000 - 2500 - 2500


def test_targeted_to_a_fully_paid_invoice_is_all_unapplied(ledger: Engine) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 10000, invoice_number="INV-1")
    result = pay(ledger, "C001", "P2", D(2026, 2, 2), 500, invoice_number="INV-1")
    assert (result.applied, result.unapplied_minor) == ((), 500)


def test_targeted_before_issue_is_applied_on_the_issue_date(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 2, 15), 3000, invoice_number="INV-4")
    # A prepayment: cash is unapplied from 15 Feb until INV-4 exists on 1 Mar.
    assert result.applied == (Applied("INV-4", 3000, D(2026, 3, 1)),)


def test_targeted_other_customers_invoice_is_an_error(ledger: Engine) -> None:
    customer(ledger, "C002")
    before = table_counts(ledger)
    with pytest.raises(ValidationError, match="belongs to another customer, not C002"):
        pay(ledger, "C002", "P1", D(2026, 2, 1), 100, invoice_number="INV-1")
    assert table_counts(ledger) == before  # nothing half-written: no payment row either


def test_payment_currency_must_be_the_customers(ledger: Engine) -> None:
    with (
        pytest.raises(ValidationError, match="must be the customer's currency USD"),
        write_session(ledger) as s,
    ):
        post_payment(
            s, actor=CLERK, data=PaymentCreate("C001", "P1", D(2026, 2, 1), 100, currency="EUR")
        )


def test_currencies_never_mix(ledger: Engine) -> None:
    customer(ledger, "E001", currency="EUR")
    invoice(ledger, "EUR-1", "E001", D(2026, 1, 1), 4000)
    result = pay(ledger, "E001", "PE", D(2026, 2, 1), 9000)
    assert result.applied == (Applied("EUR-1", 4000, D(2026, 2, 1)),)
    assert open_balance(ledger, "INV-1") == 10000


def test_unknown_invoice(ledger: Engine) -> None:
    with pytest.raises(NotFound, match="no invoice numbered 'NOPE'"):
        pay(ledger, "C001", "P1", D(2026, 2, 1), 100, invoice_number="NOPE")


def test_amount_must_be_positive(ledger: Engine) -> None:
    with pytest.raises(ValidationError, match="must be greater than zero"):
        pay(ledger, "C001", "P1", D(2026, 2, 1), 0)


def test_reference_unique_per_customer(ledger: Engine) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 100)
    with pytest.raises(Conflict, match="'P1' is already recorded for customer C001"):
        pay(ledger, "C001", "P1", D(2026, 2, 2), 200)
    customer(ledger, "C002")
    pay(ledger, "C002", "P1", D(2026, 2, 1), 100)  # another customer may use the same reference


def test_idempotency_key_returns_the_first_result(ledger: Engine) -> None:
    first = pay(ledger, "C001", "P1", D(2026, 2, 1), 4000, key="form-123")
    again = pay(ledger, "C001", "P1", D(2026, 2, 1), 4000, key="form-123")
    assert again.replayed and not first.replayed
    assert (again.payment_id, again.applied) == (first.payment_id, first.applied)
    assert open_balance(ledger, "INV-1") == 6000  # applied once: 10000 − 4000


def test_idempotency_key_with_other_values_is_refused(ledger: Engine) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000, key="form-123")
    with pytest.raises(Conflict, match="already submitted with different values"):
        pay(ledger, "C001", "P1", D(2026, 2, 1), 4500, key="form-123")


def test_finance_cannot_post(ledger: Engine) -> None:
    with pytest.raises(PermissionDenied), write_session(ledger) as s:
        post_payment(s, actor=FINANCE, data=PaymentCreate("C001", "P1", D(2026, 2, 1), 100))


def test_allocate_unapplied_cash_later(three_open: Engine) -> None:
    # Received before INV-4 existed: 25000 − 22000 eligible = 3000 unapplied.
    result = pay(three_open, "C001", "P1", D(2026, 2, 15), 25000)
    with write_session(three_open) as s:
        later = allocate_payment(
            s, actor=CLERK, payment_id=result.payment_id, invoice_number="INV-4"
        )
    # min(3000 unapplied, 3000 open) = 3000, dated INV-4's issue date (after the receipt).
    assert later.applied == (Applied("INV-4", 3000, D(2026, 3, 1)),)
    assert later.unapplied_minor == 0
    with pytest.raises(Conflict, match="no unapplied cash"), write_session(three_open) as s:
        allocate_payment(s, actor=CLERK, payment_id=result.payment_id)


def test_allocate_later_auto_and_partial(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 1, 5), 9000)
    # Received 5 Jan: only INV-2 (issued 1 Jan) is eligible: 5000 applied, 4000 unapplied.
    assert result.unapplied_minor == 4000
    with write_session(three_open) as s:
        later = allocate_payment(s, actor=CLERK, payment_id=result.payment_id, amount_minor=1500)
    # Auto, now over all open invoices oldest first: INV-1 (due 9 Feb, issued 10 Jan) takes 1500,
    # dated its issue date 10 Jan (later than the 5 Jan receipt).
    assert later.applied == (Applied("INV-1", 1500, D(2026, 1, 10)),)
    assert later.unapplied_minor == 2500


def test_allocate_more_than_unapplied_is_refused(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 1, 5), 9000)
    with (
        pytest.raises(
            ValidationError,
            match=re.escape("amount '40.01': is more than the 40.00 USD left unapplied"),
        ),
        write_session(three_open) as s,
    ):
        allocate_payment(
            s, actor=CLERK, payment_id=result.payment_id, invoice_number="INV-1", amount_minor=4001
        )


def test_allocate_before_receipt_is_refused(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 1, 5), 9000)
    with (
        pytest.raises(ValidationError, match="before the payment was received"),
        write_session(three_open) as s,
    ):
        allocate_payment(
            s,
            actor=CLERK,
            payment_id=result.payment_id,
            invoice_number="INV-1",
            applied_date=D(2026, 1, 4),
        )


def test_allocation_rows_match_the_result(three_open: Engine) -> None:
    result = pay(three_open, "C001", "P1", D(2026, 2, 15), 20000)
    with read_session(three_open) as s:
        amounts = s.scalars(
            select(Allocation.amount_minor)
            .where(Allocation.payment_id == result.payment_id)
            .order_by(Allocation.id)
        ).all()
    assert amounts == [a.amount_minor for a in result.applied]


# --- Explicit allocations: the clerk's own split of a payment ------------------------


def pay_split(
    engine: Engine,
    reference: str,
    received: dt.date,
    amount_minor: int,
    allocations: tuple[tuple[str, int], ...],
    *,
    key: str | None = None,
    customer_code: str = "C001",
) -> PaymentPosted:
    with write_session(engine) as s:
        return post_payment(
            s,
            actor=CLERK,
            data=PaymentCreate(
                customer_code,
                reference,
                received,
                amount_minor,
                allocations=allocations,
                idempotency_key=key,
            ),
        )


def test_explicit_allocations_apply_exactly_what_was_asked(three_open: Engine) -> None:
    result = pay_split(three_open, "P1", D(2026, 2, 15), 20000, (("INV-2", 5000), ("INV-1", 4000)))
    # Not oldest first: INV-2 takes 5000 and INV-1 4000 as asked; INV-3 (7000) is untouched.
    # Unapplied: 20000 − 5000 − 4000 = 11000.
    assert result.applied == (
        Applied("INV-2", 5000, D(2026, 2, 15)),
        Applied("INV-1", 4000, D(2026, 2, 15)),
    )
    assert result.unapplied_minor == 11000
    assert unapplied(three_open, result.payment_id) == 11000
    assert open_balance(three_open, "INV-1") == 10000 - 4000
    assert open_balance(three_open, "INV-2") == 0
    assert open_balance(three_open, "INV-3") == 7000
    with read_session(three_open) as s:
        actions = s.scalars(
            select(AuditEntry.action).where(AuditEntry.actor == CLERK.name).order_by(AuditEntry.id)
        ).all()
    # One audit row per invoice applied to, then the payment's own (as the other paths).
    assert actions[-3:] == ["apply_payment", "apply_payment", "post_payment"]


def test_explicit_empty_allocations_leave_everything_unapplied(three_open: Engine) -> None:
    result = pay_split(three_open, "P1", D(2026, 2, 15), 3000, ())
    assert (result.applied, result.unapplied_minor) == ((), 3000)
    assert open_balance(three_open, "INV-1") == 10000  # no auto-allocation behind the clerk's back


def test_explicit_allocations_collect_every_problem_and_write_nothing(three_open: Engine) -> None:
    customer(three_open, "C002")
    invoice(three_open, "G-1", "C002", D(2026, 1, 5), 1000)
    invoice(three_open, "DRAFT-1", "C001", D(2026, 1, 5), 1000, post=False)
    before = table_counts(three_open)
    with pytest.raises(ValidationError) as caught:
        pay_split(
            three_open,
            "P1",
            D(2026, 2, 15),
            20000,
            # INV-1 is open 100.00 (10000); INV-4 is issued 1 Mar, after the 15 Feb receipt;
            # NOPE does not exist; G-1 is C002's; DRAFT-1 is not posted. Σ = 10001 + 1000 + 5
            # + 100 + 100 = 11206 ≤ 20000, so the total itself is fine.
            (("INV-1", 10001), ("INV-4", 1000), ("NOPE", 5), ("G-1", 100), ("DRAFT-1", 100)),
        )
    # Reported in the order the clerk listed them, each naming its invoice.
    assert [str(p) for p in caught.value.problems] == [
        "allocation to INV-1 '100.01': is more than its open balance 100.00 USD",
        "allocation to INV-4 '2026-03-01': is the invoice's issue date, after the payment was "
        "received 2026-02-15",
        "allocation to NOPE 'NOPE': no such invoice",
        "allocation to G-1 'G-1': belongs to another customer, not C001",
        "allocation to DRAFT-1 'DRAFT-1': is draft; only posted invoices take payments",
    ]
    assert table_counts(three_open) == before  # not even the payment row


def test_explicit_allocations_checked_before_the_database(three_open: Engine) -> None:
    before = table_counts(three_open)
    with pytest.raises(ValidationError) as caught, write_session(three_open) as s:
        post_payment(
            s,
            actor=CLERK,
            data=PaymentCreate(
                "C001",
                "P1",
                D(2026, 2, 15),
                5000,
                invoice_number="INV-3",
                allocations=(("INV-1", 0), ("INV-2", 100), ("INV-2", 200)),
            ),
        )
    assert [str(p) for p in caught.value.problems] == [
        "allocations 3: give either invoice_number or allocations",
        "allocation to INV-1 0: must be greater than zero",
        "allocation to INV-2 200: lists this invoice a second time",
    ]
    assert table_counts(three_open) == before


def test_explicit_allocations_may_not_exceed_the_payment(three_open: Engine) -> None:
    with pytest.raises(
        ValidationError,
        # 5000 + 7000 = 12000 asked of a payment of 10000.
        match=re.escape("allocations '120.00': add up to more than the payment's 100.00 USD"),
    ):
        pay_split(three_open, "P1", D(2026, 2, 15), 10000, (("INV-2", 5000), ("INV-3", 7000)))


def test_explicit_allocations_replay_once_and_refuse_a_different_split(
    three_open: Engine,
) -> None:
    split = (("INV-3", 2000), ("INV-1", 1000))
    first = pay_split(three_open, "P1", D(2026, 2, 15), 5000, split, key="form-9")
    again = pay_split(three_open, "P1", D(2026, 2, 15), 5000, split, key="form-9")
    assert again.replayed and (again.payment_id, again.applied) == (first.payment_id, first.applied)
    assert open_balance(three_open, "INV-3") == 7000 - 2000  # applied once
    with pytest.raises(Conflict, match="already submitted with different values"):
        pay_split(three_open, "P1", D(2026, 2, 15), 5000, (("INV-3", 3000),), key="form-9")

"""Credit notes and write-offs, and customer edits (SPEC §1, §2)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import Engine

from billing.db import write_session
from billing.errors import Conflict, PermissionDenied, ValidationError
from billing.models import AdjustmentKind
from billing.services import (
    AdjustmentCreate,
    CustomerCreate,
    CustomerUpdate,
    adjust_invoice,
    create_customer,
    update_customer,
)
from tests.conftest import CLERK, MANAGER
from tests.helpers import adjust, invoice, open_balance, pay, table_counts

D = dt.date


def test_credit_note_and_write_off_reduce_the_open_balance(ledger: Engine) -> None:
    adjust(ledger, "INV-1", "credit_note", D(2026, 1, 20), 1500)
    pay(ledger, "C001", "P1", D(2026, 2, 1), 6000, invoice_number="INV-1")
    adjust(ledger, "INV-1", "write_off", D(2026, 6, 30), 2500)
    # 10000 − 1500 credit − 6000 paid − 2500 written off = 0
    assert open_balance(ledger, "INV-1") == 0


def test_adjustment_cannot_exceed_the_open_balance(ledger: Engine) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 9000, invoice_number="INV-1")
    before = table_counts(ledger)
    # Open is 10000 − 9000 = 1000; 1001 is one cent too many.
    with pytest.raises(
        ValidationError,
        match=re.escape("amount '10.01': is more than invoice INV-1's open balance 10.00 USD"),
    ):
        adjust(ledger, "INV-1", "write_off", D(2026, 3, 1), 1001)
    assert table_counts(ledger) == before
    adjust(ledger, "INV-1", "write_off", D(2026, 3, 1), 1000)


def test_clerks_cannot_credit_or_write_off(ledger: Engine) -> None:
    for kind in AdjustmentKind:
        with pytest.raises(PermissionDenied), write_session(ledger) as s:
            adjust_invoice(
                s, actor=CLERK, data=AdjustmentCreate("INV-1", kind, D(2026, 2, 1), 100, "x")
            )


def test_adjustment_needs_reason_and_date_after_issue(ledger: Engine) -> None:
    with pytest.raises(ValidationError, match="reason"):
        adjust(ledger, "INV-1", "credit_note", D(2026, 2, 1), 100, reason="")
    with pytest.raises(ValidationError, match="before the invoice's issue date"):
        adjust(ledger, "INV-1", "credit_note", D(2026, 1, 9), 100)


def test_adjusting_a_draft_is_refused(ledger: Engine) -> None:
    invoice(ledger, "INV-D", "C001", D(2026, 1, 1), 500, post=False)
    with pytest.raises(Conflict, match="only posted invoices"):
        adjust(ledger, "INV-D", "credit_note", D(2026, 1, 2), 100)


def test_customer_code_unique_and_fields_checked(engine: Engine) -> None:
    with write_session(engine) as s:
        create_customer(s, actor=CLERK, data=CustomerCreate("C1", "One", "usd"))
    with pytest.raises(Conflict, match="'C1' is already in use"), write_session(engine) as s:
        create_customer(s, actor=CLERK, data=CustomerCreate("C1", "Again", "USD"))
    with pytest.raises(ValidationError) as caught, write_session(engine) as s:
        create_customer(
            s,
            actor=CLERK,
            data=CustomerCreate("C 2", "", "ZZZ", email="nope", payment_terms_days=-1),
        )
    assert [p.field for p in caught.value.problems] == [
        "customer_code",
        "name",
        "email",
        "payment_terms_days",
        "currency",
    ]


def test_terms_and_credit_limit_are_a_managers(ledger: Engine) -> None:
    with write_session(ledger) as s:
        assert (
            update_customer(
                s, actor=CLERK, customer_code="C001", changes=CustomerUpdate(name="Acme Inc")
            ).name
            == "Acme Inc"
        )
    with pytest.raises(PermissionDenied), write_session(ledger) as s:
        update_customer(
            s, actor=CLERK, customer_code="C001", changes=CustomerUpdate(payment_terms_days=60)
        )
    with write_session(ledger) as s:
        updated = update_customer(
            s,
            actor=MANAGER,
            customer_code="C001",
            changes=CustomerUpdate(payment_terms_days=60, credit_limit_minor=500000),
        )
    assert (updated.payment_terms_days, updated.credit_limit_minor) == (60, 500000)


@pytest.mark.parametrize("amount", [0, -100])
def test_adjustment_amount_must_be_positive(ledger: Engine, amount: int) -> None:
    with pytest.raises(ValidationError, match="greater than zero"):
        adjust(ledger, "INV-1", "credit_note", D(2026, 2, 1), amount)

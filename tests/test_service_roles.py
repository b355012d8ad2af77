"""Every service × every role, with no UI involved: SPEC §1 is enforced where the writes are."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from billing.db import write_session
from billing.errors import PermissionDenied
from billing.models import ActivityKind, AdjustmentKind
from billing.roles import Actor, Role
from billing.services import (
    ActivityCreate,
    AdjustmentCreate,
    CustomerCreate,
    CustomerUpdate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    add_activity,
    add_user,
    adjust_invoice,
    allocate_payment,
    create_customer,
    create_invoice,
    post_invoice,
    post_payment,
    update_customer,
    void_invoice,
)
from tests.helpers import invoice, pay

D = dt.date(2026, 2, 1)
ALL = {Role.CLERK, Role.MANAGER, Role.ADMIN}
MANAGERS = {Role.MANAGER, Role.ADMIN}

Call = Callable[[Session, Actor], object]

# The table SPEC §1 states, written out independently of billing.roles.
CASES: dict[str, tuple[Call, set[Role]]] = {
    "create customer": (
        lambda s, a: create_customer(s, actor=a, data=CustomerCreate("C9", "New", "USD")),
        ALL,
    ),
    "edit customer name": (
        lambda s, a: update_customer(
            s, actor=a, customer_code="C001", changes=CustomerUpdate(name="Acme 2")
        ),
        ALL,
    ),
    "edit customer terms": (
        lambda s, a: update_customer(
            s, actor=a, customer_code="C001", changes=CustomerUpdate(payment_terms_days=45)
        ),
        MANAGERS,
    ),
    "enter draft invoice": (
        lambda s, a: create_invoice(
            s, actor=a, data=InvoiceCreate("INV-9", "C001", D, [LineCreate("x", Decimal(1), 100)])
        ),
        ALL,
    ),
    "post invoice": (lambda s, a: post_invoice(s, actor=a, invoice_number="DRAFT-1"), ALL),
    "void invoice": (
        lambda s, a: void_invoice(s, actor=a, invoice_number="INV-2", reason="dup"),
        MANAGERS,
    ),
    "post payment": (
        lambda s, a: post_payment(s, actor=a, data=PaymentCreate("C001", "P9", D, 100)),
        ALL,
    ),
    "allocate payment": (
        lambda s, a: allocate_payment(s, actor=a, payment_id=1, invoice_number="INV-1"),
        ALL,
    ),
    "credit note": (
        lambda s, a: adjust_invoice(
            s, actor=a, data=AdjustmentCreate("INV-1", AdjustmentKind.CREDIT_NOTE, D, 100, "r")
        ),
        MANAGERS,
    ),
    "write-off": (
        lambda s, a: adjust_invoice(
            s, actor=a, data=AdjustmentCreate("INV-1", AdjustmentKind.WRITE_OFF, D, 100, "r")
        ),
        MANAGERS,
    ),
    "collection note": (
        lambda s, a: add_activity(
            s, actor=a, data=ActivityCreate("C001", ActivityKind.NOTE, D, "called")
        ),
        ALL,
    ),
    "add user": (
        lambda s, a: add_user(
            s, actor=a, username="newbie", role=Role.CLERK, password="long enough"
        ),
        {Role.ADMIN},
    ),
}


@pytest.fixture
def prepared(ledger: Engine) -> Engine:
    invoice(ledger, "DRAFT-1", "C001", dt.date(2026, 1, 5), 500, post=False)
    invoice(ledger, "INV-2", "C001", dt.date(2026, 1, 5), 500)
    pay(ledger, "C001", "P1", dt.date(2025, 12, 1), 300)  # received before any invoice: unapplied
    return ledger


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("case", list(CASES))
def test_service_role_table(prepared: Engine, case: str, role: Role) -> None:
    call, allowed = CASES[case]
    actor = Actor(f"someone-{role}", role)
    if role in allowed:
        with write_session(prepared) as s:
            call(s, actor)
    else:
        with pytest.raises(PermissionDenied), write_session(prepared) as s:
            call(s, actor)

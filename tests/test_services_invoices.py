"""Invoices: entering, posting, voiding (SPEC §2)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import Conflict, NotFound, PermissionDenied, ValidationError
from billing.models import AuditEntry, Invoice, InvoiceStatus
from billing.services import InvoiceCreate, LineCreate, create_invoice, post_invoice, void_invoice
from tests.conftest import CLERK, FINANCE, MANAGER
from tests.helpers import adjust, customer, invoice, pay, table_counts

D = dt.date


def enter(engine: Engine, data: InvoiceCreate, *, post: bool = False) -> Invoice:
    with write_session(engine) as s:
        return create_invoice(s, actor=CLERK, data=data, post=post)


def test_total_is_the_sum_of_rounded_lines(ledger: Engine) -> None:
    lines = [
        LineCreate(
            "Hours", Decimal("2.5"), 1999, Decimal(20)
        ),  # net 4997.5 → 4998, tax 999.6 → 1000
        LineCreate("Travel", Decimal(1), 1000, Decimal("8.875")),  # net 1000, tax 88.75 → 89
    ]
    inv = enter(ledger, InvoiceCreate("INV-2", "C001", D(2026, 3, 1), lines))
    # total = (4998 + 1000) + (1000 + 89) = 7087
    assert inv.total_minor == 7087
    assert inv.status is InvoiceStatus.DRAFT


def test_due_date_defaults_to_issue_plus_customer_terms(ledger: Engine) -> None:
    customer(ledger, "C045", terms=45)
    inv = enter(
        ledger, InvoiceCreate("INV-45", "C045", D(2024, 2, 10), [LineCreate("x", Decimal(1), 100)])
    )
    # 10 Feb 2024 + 45 days = 26 Mar 2024 (2024 is a leap year: Feb has 29 days; 19 + 26 = 45)
    assert inv.due_date == D(2024, 3, 26)


def test_due_before_issue_refused(ledger: Engine) -> None:
    with pytest.raises(
        ValidationError, match="due_date '2026-02-28': must be on or after the issue date"
    ):
        enter(
            ledger,
            InvoiceCreate(
                "INV-2", "C001", D(2026, 3, 1), [LineCreate("x", Decimal(1), 100)], D(2026, 2, 28)
            ),
        )


def test_currency_must_be_the_customers(ledger: Engine) -> None:
    with pytest.raises(ValidationError, match="must be the customer's currency USD"):
        enter(
            ledger,
            InvoiceCreate(
                "INV-2", "C001", D(2026, 3, 1), [LineCreate("x", Decimal(1), 100)], currency="EUR"
            ),
        )


def test_every_problem_is_reported_at_once(ledger: Engine) -> None:
    bad = InvoiceCreate(
        "BAD NUMBER",
        "C001",
        D(2026, 3, 1),
        [LineCreate("", Decimal(0), 100), LineCreate("ok", Decimal("1.00001"), -5, Decimal(101))],
    )
    with pytest.raises(ValidationError) as caught:
        enter(ledger, bad)
    fields = [p.field for p in caught.value.problems]
    assert fields == [
        "invoice_number",
        "line 1 description",
        "line 1 quantity",
        "line 2 quantity",
        "line 2 tax_rate",
        "line 2 unit_price",
    ]


def test_posted_total_must_be_positive(ledger: Engine) -> None:
    with pytest.raises(ValidationError, match="more than zero"):
        enter(
            ledger,
            InvoiceCreate("INV-0", "C001", D(2026, 3, 1), [LineCreate("free", Decimal(1), 0)]),
            post=True,
        )


def test_invoice_number_is_unique(ledger: Engine) -> None:
    before = table_counts(ledger)
    with pytest.raises(Conflict, match="'INV-1' is already in use"):
        enter(
            ledger,
            InvoiceCreate("INV-1", "C001", D(2026, 3, 1), [LineCreate("x", Decimal(1), 100)]),
        )
    assert table_counts(ledger) == before


def test_unknown_customer(ledger: Engine) -> None:
    with pytest.raises(NotFound, match="no customer with code 'C999'"):
        enter(
            ledger,
            InvoiceCreate("INV-2", "C999", D(2026, 3, 1), [LineCreate("x", Decimal(1), 100)]),
        )


def test_draft_then_post(ledger: Engine) -> None:
    enter(ledger, InvoiceCreate("INV-2", "C001", D(2026, 3, 1), [LineCreate("x", Decimal(1), 100)]))
    with write_session(ledger) as s:
        assert post_invoice(s, actor=CLERK, invoice_number="INV-2").status is InvoiceStatus.POSTED
    with pytest.raises(Conflict, match="is posted, not a draft"), write_session(ledger) as s:
        post_invoice(s, actor=CLERK, invoice_number="INV-2")


def test_finance_cannot_enter_invoices(ledger: Engine) -> None:
    with pytest.raises(PermissionDenied), write_session(ledger) as s:
        create_invoice(
            s,
            actor=FINANCE,
            data=InvoiceCreate("INV-2", "C001", D(2026, 3, 1), [LineCreate("x", Decimal(1), 100)]),
        )


def test_void_needs_a_manager_and_a_reason(ledger: Engine) -> None:
    with pytest.raises(PermissionDenied), write_session(ledger) as s:
        void_invoice(s, actor=CLERK, invoice_number="INV-1", reason="duplicate")
    with pytest.raises(ValidationError, match="reason"), write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason="  ")
    with write_session(ledger) as s:
        voided = void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason="entered twice")
    assert (voided.status, voided.void_reason) == (InvoiceStatus.VOID, "entered twice")


def test_void_refused_once_a_payment_is_applied(ledger: Engine) -> None:
    pay(ledger, "C001", "P1", D(2026, 1, 20), 100, invoice_number="INV-1")
    with pytest.raises(Conflict, match="cannot be voided"), write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason="wrong")


def test_void_refused_once_credited(ledger: Engine) -> None:
    adjust(ledger, "INV-1", "credit_note", D(2026, 1, 20), 100)
    with pytest.raises(Conflict, match="cannot be voided"), write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason="wrong")


def test_void_invoice_takes_no_payments(ledger: Engine) -> None:
    with write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason="wrong customer")
    # Auto-allocation skips it: all 5000 stays unapplied.
    assert pay(ledger, "C001", "P1", D(2026, 2, 1), 5000).unapplied_minor == 5000
    with pytest.raises(ValidationError, match="is void"):
        pay(ledger, "C001", "P2", D(2026, 2, 1), 5000, invoice_number="INV-1")


def test_draft_takes_no_payments(ledger: Engine) -> None:
    invoice(ledger, "INV-D", "C001", D(2026, 1, 1), 500, post=False)
    assert pay(ledger, "C001", "P1", D(2026, 2, 1), 20000).applied[0].invoice_number == "INV-1"
    with pytest.raises(ValidationError, match="is draft"):
        pay(ledger, "C001", "P2", D(2026, 2, 1), 500, invoice_number="INV-D")


def test_every_write_is_audited_with_before_and_after(ledger: Engine) -> None:
    with write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason="test")
    with read_session(ledger) as s:
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.actor, entry.action, entry.entity, entry.entity_id) == (
        "test-manager",
        "void_invoice",
        "invoice",
        "INV-1",
    )
    assert json.loads(entry.before or "")["status"] == "posted"
    assert json.loads(entry.after or "")["status"] == "void"


def test_default_terms_are_30_days(ledger: Engine) -> None:
    with read_session(ledger) as s:
        inv = s.scalars(select(Invoice).where(Invoice.invoice_number == "INV-1")).one()
        # The fixture's customer has default terms: 10 Jan + 30 days = 9 Feb.
        assert (inv.customer.payment_terms_days, inv.due_date) == (30, D(2026, 2, 9))

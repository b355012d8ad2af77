"""Reads behind the Invoices and Payments pages, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from billing.db import read_session, write_session
from billing.errors import NotFound
from billing.repository import (
    load_invoice_detail,
    load_invoices,
    load_latest_invoice_number,
    load_open_invoices,
    load_payment_terms,
    load_unapplied_payments,
)
from billing.services import void_invoice
from tests.conftest import MANAGER
from tests.helpers import adjust, customer, invoice, pay

D = dt.date


@pytest.fixture
def books(ledger: Engine) -> Engine:
    """C001: INV-1 100.00 (issued 10 Jan, due 9 Feb) paid 30.00 by P1 and credited 5.00;
    INV-2 50.00 (issued 1 Jan, due 20 Feb); INV-3 20.00 draft; P2 80.00 received 2 Jan
    applied to INV-2 (50.00), 30.00 unapplied. C002 (terms 14): VOID-1 voided, Q-1 10.00 open."""
    invoice(ledger, "INV-2", "C001", D(2026, 1, 1), 5000, due=D(2026, 2, 20))
    invoice(ledger, "INV-3", "C001", D(2026, 1, 20), 2000, post=False)
    pay(ledger, "C001", "P2", D(2026, 1, 2), 8000)  # only INV-2 is issued by 2 Jan
    pay(ledger, "C001", "P1", D(2026, 2, 1), 3000, invoice_number="INV-1")
    adjust(ledger, "INV-1", "credit_note", D(2026, 2, 3), 500, reason="Late delivery")
    customer(ledger, "C002", terms=14, name="Globex")
    invoice(ledger, "VOID-1", "C002", D(2026, 1, 5), 700)
    with write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="VOID-1", reason="Entered twice")
    invoice(ledger, "Q-1", "C002", D(2026, 1, 6), 1000)
    return ledger


def test_invoice_detail(books: Engine) -> None:
    with read_session(books) as s:
        detail = load_invoice_detail(s, "INV-1")
    assert (detail.customer_code, detail.status, detail.currency) == ("C001", "posted", "USD")
    assert (detail.issue_date, detail.due_date) == (D(2026, 1, 10), D(2026, 2, 9))
    # 10000 − 3000 paid − 500 credited = 6500 open.
    assert (detail.total_minor, detail.settled_minor, detail.open_minor) == (10000, 3500, 6500)
    assert detail.lines.to_dicts() == [
        {
            "line_no": 1,
            "description": "Consulting",
            "quantity": "1",
            "unit_price_minor": 10000,
            "tax_rate": "0",
            "net_minor": 10000,
            "tax_minor": 0,
            "total_minor": 10000,
        }
    ]
    assert detail.allocations.select(
        "payment_reference", "applied_date", "amount_minor"
    ).rows() == [("P1", D(2026, 2, 1), 3000)]
    assert detail.adjustments.select("kind", "date", "amount_minor", "reason").rows() == [
        ("credit_note", D(2026, 2, 3), 500, "Late delivery")
    ]
    # Newest first: the credit note, the payment applied, the posting.
    assert detail.history.get_column("action").to_list() == [
        "credit_note",
        "apply_payment",
        "post_invoice",
    ]
    assert detail.history.get_column("actor").to_list() == [
        "test-manager",
        "test-clerk",
        "test-clerk",
    ]


def test_void_and_draft_owe_nothing(books: Engine) -> None:
    with read_session(books) as s:
        void = load_invoice_detail(s, "VOID-1")
        draft = load_invoice_detail(s, "INV-3")
    assert (void.status, void.void_reason, void.open_minor) == ("void", "Entered twice", 0)
    assert void.history.get_column("action").to_list() == ["void_invoice", "post_invoice"]
    assert (draft.status, draft.open_minor, draft.posted_at) == ("draft", 0, None)


def test_invoice_detail_unknown(books: Engine) -> None:
    with read_session(books) as s, pytest.raises(NotFound, match="no invoice numbered 'NOPE'"):
        load_invoice_detail(s, "NOPE")


def test_open_invoices_oldest_due_first(books: Engine) -> None:
    with read_session(books) as s:
        open_c001 = load_open_invoices(s, customer_code="C001")
        open_c002 = load_open_invoices(s, customer_code="C002", currency="USD")
        none_in_eur = load_open_invoices(s, customer_code="C002", currency="EUR")
    # INV-2 is fully paid by P2 (50.00), INV-3 is a draft: only INV-1 is open, 6500.
    assert open_c001.select("invoice_number", "open_minor").rows() == [("INV-1", 6500)]
    # VOID-1 is void: never open.
    assert open_c002.select("invoice_number", "due_date", "open_minor").rows() == [
        ("Q-1", D(2026, 1, 20), 1000)  # 6 Jan + 14 days' terms
    ]
    assert none_in_eur.is_empty()
    with read_session(books) as s, pytest.raises(NotFound):
        load_open_invoices(s, customer_code="C999")


def test_open_invoices_order(ledger: Engine) -> None:
    invoice(ledger, "B", "C001", D(2026, 1, 5), 100, due=D(2026, 2, 9))
    invoice(ledger, "A", "C001", D(2026, 1, 5), 100, due=D(2026, 2, 9))
    invoice(ledger, "Z", "C001", D(2026, 1, 1), 100, due=D(2026, 1, 31))
    with read_session(ledger) as s:
        numbers = load_open_invoices(s, customer_code="C001").get_column("invoice_number")
    # By due date, then issue date, then number: Z (due 31 Jan), then A, B (due 9 Feb, issued
    # 5 Jan), then INV-1 (due 9 Feb, issued 10 Jan).
    assert numbers.to_list() == ["Z", "A", "B", "INV-1"]


def test_unapplied_payments(books: Engine) -> None:
    with read_session(books) as s:
        everyone = load_unapplied_payments(s)
        c002 = load_unapplied_payments(s, customer_code="C002")
    # P2: 8000 − 5000 applied to INV-2 = 3000 on account; P1 is fully applied.
    assert everyone.select(
        "customer_code", "payment_reference", "received_date", "amount_minor", "unapplied_minor"
    ).rows() == [("C001", "P2", D(2026, 1, 2), 8000, 3000)]
    assert c002.is_empty()


def test_payment_terms_and_latest_number(books: Engine) -> None:
    with read_session(books) as s:
        assert load_payment_terms(s) == {"C001": 30, "C002": 14}
        assert load_latest_invoice_number(s) == "Q-1"


def test_latest_number_of_an_empty_ledger(engine: Engine) -> None:
    with read_session(engine) as s:
        assert load_latest_invoice_number(s) is None


def test_invoice_search(books: Engine) -> None:
    with read_session(books) as s:
        by_name = load_invoices(s, search="globex")
        by_number = load_invoices(s, search="inv-")
        literal = load_invoices(s, search="%")
    assert sorted(by_name.get_column("invoice_number")) == ["Q-1", "VOID-1"]
    assert sorted(by_number.get_column("invoice_number")) == ["INV-1", "INV-2", "INV-3"]
    assert literal.is_empty()  # "%" is text to find, not a wildcard

"""Reads behind the pages: per-currency ledger totals, the invoice list, logins."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, update

from billing.db import read_session, write_session
from billing.errors import NotFound
from billing.models import InvoiceStatus, Payment, User
from billing.repository import (
    CurrencyTotals,
    load_customers,
    load_invoices,
    load_ledger_summary,
    load_login_users,
)
from billing.roles import Role
from billing.services import add_user, void_invoice
from tests.conftest import ADMIN, MANAGER
from tests.helpers import adjust, customer, invoice, pay

D = dt.date


@pytest.fixture
def books(ledger: Engine) -> Engine:
    """INV-1 (C001, 100.00) part paid and credited; a JPY customer; a draft and a void."""
    pay(ledger, "C001", "P1", D(2026, 2, 1), 6000)  # INV-1 open 4000
    adjust(ledger, "INV-1", "credit_note", D(2026, 2, 5), 1000)  # INV-1 open 3000
    pay(ledger, "C001", "P2", D(2026, 2, 6), 5000)  # 3000 applied, 2000 unapplied
    invoice(ledger, "INV-2", "C001", D(2026, 3, 1), 2500)
    invoice(ledger, "INV-3", "C001", D(2026, 3, 2), 999, post=False)
    invoice(ledger, "INV-4", "C001", D(2026, 3, 3), 700)
    with write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-4", reason="entered twice")
    customer(ledger, "J001", "JPY")
    invoice(ledger, "JP-1", "J001", D(2026, 1, 15), 50000)
    return ledger


def test_empty_ledger_summary(engine: Engine) -> None:
    with read_session(engine) as s:
        summary = load_ledger_summary(s)
    assert summary.is_empty
    assert summary.currencies == ()
    assert summary.findings == ()


def test_summary_counts_posted_invoices_only_per_currency(books: Engine) -> None:
    with read_session(books) as s:
        summary = load_ledger_summary(s)
    assert not summary.is_empty
    assert (summary.customers, summary.draft_invoices, summary.findings) == (2, 1, ())
    assert summary.currencies == (
        CurrencyTotals("JPY", 1, 50000, 0, 50000, 0, 0, 0),
        CurrencyTotals(
            currency="USD",
            posted_invoices=2,  # INV-1 and INV-2; the draft and the void do not count
            invoiced_minor=12500,
            settled_minor=10000,  # 9000 allocated + 1000 credited, all on INV-1
            open_minor=2500,
            payments=2,
            received_minor=11000,
            unapplied_minor=2000,
        ),
    )


def test_summary_reports_broken_invariants(books: Engine) -> None:
    with write_session(books) as s:  # a hand edit that bypasses the services
        s.execute(update(Payment).values(allocated_minor=0))
    with read_session(books) as s:
        findings = load_ledger_summary(s).findings
    assert findings and all(f.startswith("payment running sum wrong") for f in findings)


def test_invoice_list_newest_first_with_open_amounts(books: Engine) -> None:
    with read_session(books) as s:
        frame = load_invoices(s)
    expected = pl.DataFrame(
        {
            "invoice_number": ["INV-4", "INV-3", "INV-2", "JP-1", "INV-1"],
            "customer_code": ["C001", "C001", "C001", "J001", "C001"],
            "status": ["void", "draft", "posted", "posted", "posted"],
            "currency": ["USD", "USD", "USD", "JPY", "USD"],
            "total_minor": [700, 999, 2500, 50000, 10000],
            "open_minor": [0, 0, 2500, 50000, 0],
        },
        schema_overrides={"total_minor": pl.Int64, "open_minor": pl.Int64},
    )
    assert_frame_equal(frame.select(expected.columns), expected)
    assert frame.schema["issue_date"] == pl.Date
    assert frame.schema["due_date"] == pl.Date
    assert frame.row(0, named=True)["customer_name"] == "Acme Ltd"


def test_invoice_filters(books: Engine) -> None:
    with read_session(books) as s:
        jpy = load_invoices(s, customer_code="J001")
        drafts_and_voids = load_invoices(s, statuses=[InvoiceStatus.DRAFT, "void"])
        newest = load_invoices(s, limit=2)
    assert jpy.get_column("invoice_number").to_list() == ["JP-1"]
    assert drafts_and_voids.get_column("invoice_number").to_list() == ["INV-4", "INV-3"]
    assert newest.get_column("invoice_number").to_list() == ["INV-4", "INV-3"]


def test_unknown_customer_is_an_error_not_an_empty_list(books: Engine) -> None:
    with read_session(books) as s, pytest.raises(NotFound, match="NOPE"):
        load_invoices(s, customer_code="NOPE")


def test_empty_invoice_list_keeps_its_schema(engine: Engine) -> None:
    with read_session(engine) as s:
        frame = load_invoices(s)
    assert frame.is_empty()
    assert frame.schema["total_minor"] == pl.Int64
    assert frame.schema["open_minor"] == pl.Int64


def test_customers_for_filters(books: Engine) -> None:
    with read_session(books) as s:
        frame = load_customers(s)
    assert frame.rows() == [("C001", "Acme Ltd", "USD"), ("J001", "Customer J001", "JPY")]


def test_login_users_are_the_active_ones(engine: Engine) -> None:
    with write_session(engine) as s:
        add_user(s, actor=ADMIN, username="ann", role=Role.CLERK, password="ann-password")
        add_user(s, actor=ADMIN, username="bob", role=Role.FINANCE, password="bob-password")
        s.execute(update(User).where(User.username == "bob").values(active=False))
    with read_session(engine) as s:
        users = load_login_users(s)
    assert [(u.username, u.role) for u in users] == [("ann", Role.CLERK)]
    assert users[0].password_hash.startswith("$2")

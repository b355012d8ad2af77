"""Reads: the ledger as the app shows it, straight from the database.

Every function here only reads: it takes the session first (callers open it
with `billing.db.read_session`, so SQLite's write lock is never taken) and its
options keyword-only, and returns plain values or Polars frames with money as
Int64 minor units. Formatting belongs to the edge (`ui/`) and rules to the
services; the SQL behind the screens lives here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.checks import check_ledger
from billing.errors import NotFound
from billing.models import (
    Adjustment,
    Allocation,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
    Setting,
    User,
)
from billing.roles import Role
from billing.settings import OfficeSettings
from queries.ledger import SCHEMAS, LedgerFrames

INVOICE_COLUMNS: dict[str, pl.DataType] = {
    "invoice_number": pl.String(),
    "customer_code": pl.String(),
    "customer_name": pl.String(),
    "issue_date": pl.Date(),
    "due_date": pl.Date(),
    "status": pl.String(),
    "currency": pl.String(),
    "total_minor": pl.Int64(),
    "settled_minor": pl.Int64(),
}
CUSTOMER_COLUMNS: dict[str, pl.DataType] = {
    "customer_code": pl.String(),
    "name": pl.String(),
    "currency": pl.String(),
}


@dataclass(frozen=True)
class CurrencyTotals:
    """One currency's receivables: posted invoices, what settled them, and cash on account.

    Amounts in different currencies are never added together, so every figure
    on the Ledger page belongs to exactly one of these.
    """

    currency: str
    posted_invoices: int
    invoiced_minor: int
    settled_minor: int
    open_minor: int
    payments: int
    received_minor: int
    unapplied_minor: int


@dataclass(frozen=True)
class LedgerSummary:
    """What the ledger holds today and whether its invariants hold (`billing check`)."""

    customers: int
    draft_invoices: int
    currencies: tuple[CurrencyTotals, ...]
    findings: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        """No customers, invoices or payments yet: a new installation."""
        return self.customers == 0 and self.draft_invoices == 0 and not self.currencies


@dataclass(frozen=True)
class LoginUser:
    """An active user as the login form needs them (the bcrypt hash, never a password)."""

    username: str
    name: str
    email: str | None
    role: Role
    password_hash: str


def load_ledger_summary(session: Session) -> LedgerSummary:
    """Counts and amounts per currency, with the results of every ledger check.

    Only posted invoices count (SPEC §2): drafts are not owed yet and a void
    invoice is as if never posted. Open amount is total − settled, where
    settled is allocations plus credit notes and write-offs.
    """
    invoice_rows = session.execute(
        select(
            Invoice.currency,
            func.count(Invoice.id),
            func.coalesce(func.sum(Invoice.total_minor), 0),
            func.coalesce(func.sum(Invoice.settled_minor), 0),
        )
        .where(Invoice.status == InvoiceStatus.POSTED)
        .group_by(Invoice.currency)
    ).all()
    payment_rows = session.execute(
        select(
            Payment.currency,
            func.count(Payment.id),
            func.coalesce(func.sum(Payment.amount_minor), 0),
            func.coalesce(func.sum(Payment.allocated_minor), 0),
        ).group_by(Payment.currency)
    ).all()
    invoices = {currency: (int(n), int(t), int(s)) for currency, n, t, s in invoice_rows}
    payments = {currency: (int(n), int(a), int(u)) for currency, n, a, u in payment_rows}
    currencies = []
    for currency in sorted(invoices.keys() | payments.keys()):
        count, invoiced, settled = invoices.get(currency, (0, 0, 0))
        received_count, received, allocated = payments.get(currency, (0, 0, 0))
        currencies.append(
            CurrencyTotals(
                currency=currency,
                posted_invoices=count,
                invoiced_minor=invoiced,
                settled_minor=settled,
                open_minor=invoiced - settled,
                payments=received_count,
                received_minor=received,
                unapplied_minor=received - allocated,
            )
        )
    customers = session.scalar(select(func.count(Customer.id))) or 0
    drafts = (
        session.scalar(select(func.count(Invoice.id)).where(Invoice.status == InvoiceStatus.DRAFT))
        or 0
    )
    return LedgerSummary(
        customers=int(customers),
        draft_invoices=int(drafts),
        currencies=tuple(currencies),
        findings=tuple(check_ledger(session)),
    )


def load_invoices(
    session: Session,
    *,
    customer_code: str | None = None,
    statuses: Collection[InvoiceStatus | str] | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Invoices newest first, optionally for one customer and some statuses.

    Columns: invoice_number, customer_code, customer_name, issue_date,
    due_date, status, currency, total_minor, settled_minor, open_minor (Int64
    minor units). `open_minor` is what is still owed: total − settled for a
    posted invoice, and 0 for a draft or a void one, which nobody owes.
    An unknown `customer_code` raises `NotFound` rather than showing an empty
    list that would read as "this customer owes nothing".
    """
    statement = (
        select(
            Invoice.invoice_number,
            Customer.customer_code,
            Customer.name,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.status,
            Invoice.currency,
            Invoice.total_minor,
            Invoice.settled_minor,
        )
        .join(Customer, Invoice.customer_id == Customer.id)
        .order_by(Invoice.issue_date.desc(), Invoice.invoice_number.desc())
    )
    if customer_code is not None:
        exists = session.scalar(select(Customer.id).where(Customer.customer_code == customer_code))
        if exists is None:
            raise NotFound(f"no customer with code {customer_code!r}")
        statement = statement.where(Customer.customer_code == customer_code)
    if statuses:
        statement = statement.where(Invoice.status.in_([InvoiceStatus(s) for s in statuses]))
    if limit is not None:
        statement = statement.limit(limit)
    rows = [
        (number, code, name, issued, due, status.value, currency, total, settled)
        for number, code, name, issued, due, status, currency, total, settled in session.execute(
            statement
        )
    ]
    frame = pl.DataFrame(rows, schema=INVOICE_COLUMNS, orient="row")
    return frame.with_columns(
        open_minor=pl.when(pl.col("status") == InvoiceStatus.POSTED.value)
        .then(pl.col("total_minor") - pl.col("settled_minor"))
        .otherwise(0)
        .cast(pl.Int64)
    )


def load_customers(session: Session) -> pl.DataFrame:
    """Every customer's code, name and currency, by code: the choices of a customer filter."""
    rows = session.execute(
        select(Customer.customer_code, Customer.name, Customer.currency).order_by(
            Customer.customer_code
        )
    ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=CUSTOMER_COLUMNS, orient="row")


def load_ledger_frames(session: Session) -> LedgerFrames:
    """The posted ledger as Polars frames for `queries/` (the contract in `queries.ledger`).

    Drafts and void invoices are left out here, once, so no query can count
    them by mistake; allocations and adjustments come only with their posted
    invoice. Frames are collected (the session closes after this call) and
    handed over lazy.
    """
    posted = Invoice.status == InvoiceStatus.POSTED
    statements = {
        "invoices": select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.customer_id,
            Invoice.currency,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.total_minor,
        ).where(posted),
        "allocations": select(
            Allocation.payment_id,
            Allocation.invoice_id,
            Allocation.applied_date,
            Allocation.amount_minor,
        )
        .join(Invoice, Allocation.invoice_id == Invoice.id)
        .where(posted),
        "adjustments": select(
            Adjustment.invoice_id, Adjustment.kind, Adjustment.date, Adjustment.amount_minor
        )
        .join(Invoice, Adjustment.invoice_id == Invoice.id)
        .where(posted),
        "payments": select(
            Payment.id,
            Payment.customer_id,
            Payment.currency,
            Payment.received_date,
            Payment.amount_minor,
        ),
        "customers": select(
            Customer.id,
            Customer.customer_code,
            Customer.name,
            Customer.currency,
            Customer.payment_terms_days,
            Customer.credit_limit_minor,
        ),
    }
    frames = {}
    for name, statement in statements.items():
        rows = [tuple(row) for row in session.execute(statement)]
        frames[name] = pl.DataFrame(rows, schema=SCHEMAS[name], orient="row")
    return LedgerFrames.from_frames(frames)


def load_login_users(session: Session) -> list[LoginUser]:
    """Active users with their password hashes, for the login form; inactive users cannot log in."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
    return [
        LoginUser(
            username=u.username,
            name=u.name,
            email=u.email,
            role=Role(u.role),
            password_hash=u.password_hash,
        )
        for u in users
    ]


def load_settings(session: Session) -> OfficeSettings:
    """The office settings, with defaults for anything an admin has not set."""
    rows = session.execute(select(Setting.key, Setting.value)).tuples()
    return OfficeSettings.from_rows(dict(rows.all()))

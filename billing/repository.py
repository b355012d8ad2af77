"""Reads: the ledger as the app shows it, straight from the database.

Every function here only reads: it takes the session first (callers open it
with `billing.db.read_session`, so SQLite's write lock is never taken) and its
options keyword-only, and returns plain values or Polars frames with money as
Int64 minor units. Formatting belongs to the edge (`ui/`) and rules to the
services; the SQL behind the screens lives here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

import polars as pl
from sqlalchemy import func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from billing.checks import check_ledger
from billing.clock import as_utc
from billing.errors import NotFound
from billing.fast_load import load_ledger_fast, load_ledger_sqlite
from billing.models import (
    Adjustment,
    Allocation,
    AuditEntry,
    CollectionActivity,
    Customer,
    Dispute,
    DunningLetterItem,
    Invoice,
    InvoiceStatus,
    Payment,
    Setting,
    User,
)
from billing.roles import Role
from billing.settings import OfficeSettings
from queries.collections import COLLECTION_SCHEMAS, CollectionFrames
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
    search: str | None = None,
) -> pl.DataFrame:
    """Invoices newest first, optionally for one customer and some statuses.

    `search` keeps invoices whose number, customer code or customer name
    contains the text, ignoring case (a literal match, not a pattern).

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
    if search and search.strip():
        needle = search.strip().lower()
        statement = statement.where(
            or_(
                *(
                    func.lower(column).contains(needle, autoescape=True)
                    for column in (Invoice.invoice_number, Customer.customer_code, Customer.name)
                )
            )
        )
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
    handed over lazy. The same frames, faster (`billing.fast_load`): a
    read-only session on PostgreSQL is served by a columnar driver when one
    is installed, SQLite by its own `sqlite3` cursor; anything else by
    `load_ledger_rows`.
    """
    fast = load_ledger_fast(session) or load_ledger_sqlite(session)
    return fast if fast is not None else load_ledger_rows(session)


def load_ledger_rows(session: Session) -> LedgerFrames:
    """`load_ledger_frames` through SQLAlchemy rows in `session`: the reference, the fallback."""
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


def load_collection_frames(session: Session) -> CollectionFrames:
    """Activities, disputes, dunning letter items and owners for `queries/` (`queries.collections`).

    Everything, for every customer: the worklist ranks them all, and these
    tables stay small beside the ledger (a few rows per customer and month).
    """
    statements = {
        "activities": select(
            CollectionActivity.id,
            CollectionActivity.customer_id,
            CollectionActivity.invoice_id,
            CollectionActivity.kind,
            CollectionActivity.activity_date,
            CollectionActivity.promise_date,
            CollectionActivity.promise_amount_minor,
            CollectionActivity.follow_up_date,
            CollectionActivity.dunning_level,
            CollectionActivity.created_by,
        ),
        "disputes": select(
            Dispute.id,
            Dispute.invoice_id,
            Dispute.customer_id,
            Dispute.opened_date,
            Dispute.reason,
            Dispute.closed_date,
            Dispute.resolution,
        ),
        "letter_items": select(
            DunningLetterItem.activity_id,
            DunningLetterItem.invoice_id,
            CollectionActivity.customer_id,
            DunningLetterItem.dunning_level,
            DunningLetterItem.open_minor,
            CollectionActivity.activity_date,
        ).join(CollectionActivity, DunningLetterItem.activity_id == CollectionActivity.id),
        "owners": select(Customer.id, Customer.owner),
    }
    frames = {}
    for name, statement in statements.items():
        rows = [
            tuple(value.value if isinstance(value, StrEnum) else value for value in row)
            for row in session.execute(statement)
        ]
        frames[name] = pl.DataFrame(rows, schema=COLLECTION_SCHEMAS[name], orient="row")
    return CollectionFrames.from_frames(frames)


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
    rows = session.execute(select(Setting.key, Setting.value)).all()
    return OfficeSettings.from_rows({key: value for key, value in rows})


# --- Customers page, Admin page ------------------------------------------------------


@dataclass(frozen=True)
class CustomerProfile:
    """One customer's master data as the Customers page shows and edits it."""

    customer_code: str
    name: str
    email: str | None
    currency: str
    payment_terms_days: int
    credit_limit_minor: int
    owner: str | None = None


def load_customer(session: Session, customer_code: str) -> CustomerProfile:
    """The customer with this code, or `NotFound` naming it."""
    customer = session.scalars(
        select(Customer).where(Customer.customer_code == customer_code)
    ).first()
    if customer is None:
        raise NotFound(f"no customer with code {customer_code!r}")
    return CustomerProfile(
        customer_code=customer.customer_code,
        name=customer.name,
        email=customer.email,
        currency=customer.currency,
        payment_terms_days=customer.payment_terms_days,
        credit_limit_minor=customer.credit_limit_minor,
        owner=customer.owner,
    )


ACTIVITY_COLUMNS: dict[str, pl.DataType] = {
    "activity_date": pl.Date(),
    "kind": pl.String(),
    "body": pl.String(),
    "invoice_number": pl.String(),
    "promise_date": pl.Date(),
    "promise_amount_minor": pl.Int64(),
    "follow_up_date": pl.Date(),
    "created_by": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
}


def load_activities(session: Session, *, customer_code: str) -> pl.DataFrame:
    """A customer's collection notes, calls, e-mails, promises and disputes, newest first.

    Columns: activity_date, kind, body, invoice_number (None when about the
    customer as a whole), promise_date, promise_amount_minor, follow_up_date,
    created_by, created_at. An unknown customer raises `NotFound`.
    """
    customer_id = session.scalar(select(Customer.id).where(Customer.customer_code == customer_code))
    if customer_id is None:
        raise NotFound(f"no customer with code {customer_code!r}")
    statement = (
        select(
            CollectionActivity.activity_date,
            CollectionActivity.kind,
            CollectionActivity.body,
            Invoice.invoice_number,
            CollectionActivity.promise_date,
            CollectionActivity.promise_amount_minor,
            CollectionActivity.follow_up_date,
            CollectionActivity.created_by,
            CollectionActivity.created_at,
        )
        .outerjoin(Invoice, CollectionActivity.invoice_id == Invoice.id)
        .where(CollectionActivity.customer_id == customer_id)
        .order_by(CollectionActivity.activity_date.desc(), CollectionActivity.id.desc())
    )
    rows = [
        (day, kind.value, body, number, promised, amount, follow, by, as_utc(at))
        for day, kind, body, number, promised, amount, follow, by, at in session.execute(statement)
    ]
    return pl.DataFrame(rows, schema=ACTIVITY_COLUMNS, orient="row")


USER_COLUMNS: dict[str, pl.DataType] = {
    "username": pl.String(),
    "name": pl.String(),
    "email": pl.String(),
    "role": pl.String(),
    "active": pl.Boolean(),
    "created_at": pl.Datetime("us", "UTC"),
}


def load_users(session: Session) -> pl.DataFrame:
    """Every user, active or not, by username (no password hashes)."""
    rows = [
        (u.username, u.name, u.email, Role(u.role).value, u.active, as_utc(u.created_at))
        for u in session.scalars(select(User).order_by(User.username))
    ]
    return pl.DataFrame(rows, schema=USER_COLUMNS, orient="row")


def load_payment_references(session: Session, *, customer_code: str) -> dict[int, str]:
    """Payment id → the reference the customer quoted, for one customer's statement."""
    rows = session.execute(
        select(Payment.id, Payment.payment_reference)
        .join(Customer, Payment.customer_id == Customer.id)
        .where(Customer.customer_code == customer_code)
    )
    return {payment_id: reference for payment_id, reference in rows}


def load_owner_choices(session: Session) -> tuple[str, ...]:
    """Usernames a customer can be assigned to: active users who may chase (not finance)."""
    chasers = [role.value for role in Role if role is not Role.FINANCE]
    return tuple(
        session.scalars(
            select(User.username)
            .where(User.active.is_(True), User.role.in_(chasers))
            .order_by(User.username)
        )
    )


AUDIT_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "occurred_at": pl.Datetime("us", "UTC"),
    "actor": pl.String(),
    "action": pl.String(),
    "entity": pl.String(),
    "entity_id": pl.String(),
    "before": pl.String(),
    "after": pl.String(),
}


@dataclass(frozen=True)
class AuditChoices:
    """The distinct actors, entities and actions in the audit log: the filters' options."""

    actors: tuple[str, ...]
    entities: tuple[str, ...]
    actions: tuple[str, ...]


def load_audit_choices(session: Session) -> AuditChoices:
    """What the audit log's filters can pick from, each sorted."""

    def distinct(column: InstrumentedAttribute[str]) -> tuple[str, ...]:
        return tuple(session.scalars(select(column).distinct().order_by(column)).all())

    return AuditChoices(
        actors=distinct(AuditEntry.actor),
        entities=distinct(AuditEntry.entity),
        actions=distinct(AuditEntry.action),
    )


def load_audit_log(
    session: Session,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    actor: str | None = None,
    entity: str | None = None,
    action: str | None = None,
    search: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Audit rows newest first, narrowed by every filter given (None or blank: no filter).

    `start`/`end` are UTC calendar days, both inclusive; `search` matches part
    of the entity id, ignoring case. Columns: id, occurred_at (UTC), actor,
    action, entity, entity_id, before and after (JSON text, None for a
    creation's before). `limit` keeps the newest that many rows.
    """
    statement = select(
        AuditEntry.id,
        AuditEntry.occurred_at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.entity,
        AuditEntry.entity_id,
        AuditEntry.before,
        AuditEntry.after,
    ).order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
    if start is not None:
        since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
        statement = statement.where(AuditEntry.occurred_at >= since)
    if end is not None:
        until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        statement = statement.where(AuditEntry.occurred_at < until)
    if actor:
        statement = statement.where(AuditEntry.actor == actor)
    if entity:
        statement = statement.where(AuditEntry.entity == entity)
    if action:
        statement = statement.where(AuditEntry.action == action)
    if search and search.strip():
        needle = search.strip().lower()
        statement = statement.where(
            func.lower(AuditEntry.entity_id).contains(needle, autoescape=True)
        )
    if limit is not None:
        statement = statement.limit(limit)
    rows = [
        (row_id, as_utc(at), who, what, kind, key, before, after)
        for row_id, at, who, what, kind, key, before, after in session.execute(statement)
    ]
    return pl.DataFrame(rows, schema=AUDIT_COLUMNS, orient="row")


# --- Invoices and Payments pages: entry, detail, open items, unapplied cash ----------

INVOICE_LINE_COLUMNS: dict[str, pl.DataType] = {
    "line_no": pl.Int64(),
    "description": pl.String(),
    "quantity": pl.String(),
    "unit_price_minor": pl.Int64(),
    "tax_rate": pl.String(),
    "net_minor": pl.Int64(),
    "tax_minor": pl.Int64(),
    "total_minor": pl.Int64(),
}
INVOICE_ALLOCATION_COLUMNS: dict[str, pl.DataType] = {
    "payment_reference": pl.String(),
    "received_date": pl.Date(),
    "applied_date": pl.Date(),
    "amount_minor": pl.Int64(),
    "created_by": pl.String(),
}
INVOICE_ADJUSTMENT_COLUMNS: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "date": pl.Date(),
    "amount_minor": pl.Int64(),
    "reason": pl.String(),
    "created_by": pl.String(),
}
INVOICE_HISTORY_COLUMNS: dict[str, pl.DataType] = {
    "occurred_at": pl.Datetime("us", "UTC"),
    "actor": pl.String(),
    "action": pl.String(),
}
OPEN_INVOICE_COLUMNS: dict[str, pl.DataType] = {
    "invoice_id": pl.Int64(),
    "invoice_number": pl.String(),
    "issue_date": pl.Date(),
    "due_date": pl.Date(),
    "currency": pl.String(),
    "total_minor": pl.Int64(),
    "open_minor": pl.Int64(),
}
UNAPPLIED_PAYMENT_COLUMNS: dict[str, pl.DataType] = {
    "payment_id": pl.Int64(),
    "customer_code": pl.String(),
    "customer_name": pl.String(),
    "payment_reference": pl.String(),
    "received_date": pl.Date(),
    "method": pl.String(),
    "currency": pl.String(),
    "amount_minor": pl.Int64(),
    "unapplied_minor": pl.Int64(),
}


@dataclass(frozen=True)
class InvoiceDetail:
    """One invoice as its detail view shows it: header, lines, what settled it, its history.

    `lines` (line_no, description, quantity and tax_rate as exact decimal
    text, unit_price_minor, net_minor, tax_minor, total_minor), `allocations`
    (payment_reference, received_date, applied_date, amount_minor,
    created_by), `adjustments` (kind, date, amount_minor, reason, created_by)
    and `history` (occurred_at UTC, actor, action; newest first) are frames.
    """

    invoice_number: str
    customer_code: str
    customer_name: str
    issue_date: dt.date
    due_date: dt.date
    status: str
    currency: str
    total_minor: int
    settled_minor: int
    description: str | None
    void_reason: str | None
    posted_at: dt.datetime | None
    voided_at: dt.datetime | None
    lines: pl.DataFrame
    allocations: pl.DataFrame
    adjustments: pl.DataFrame
    history: pl.DataFrame

    @property
    def open_minor(self) -> int:
        """What is still owed: total − settled when posted; a draft or void owes nothing."""
        if self.status != InvoiceStatus.POSTED.value:
            return 0
        return self.total_minor - self.settled_minor


def _decimal_text(value: object) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def load_invoice_detail(session: Session, invoice_number: str) -> InvoiceDetail:
    """Everything about one invoice, or `NotFound` naming it."""
    invoice = session.scalars(
        select(Invoice).where(Invoice.invoice_number == invoice_number)
    ).first()
    if invoice is None:
        raise NotFound(f"no invoice numbered {invoice_number!r}")
    customer = session.get_one(Customer, invoice.customer_id)
    lines = [
        (
            line.line_no,
            line.description,
            _decimal_text(line.quantity),
            line.unit_price_minor,
            _decimal_text(line.tax_rate),
            line.net_minor,
            line.tax_minor,
            line.net_minor + line.tax_minor,
        )
        for line in sorted(invoice.lines, key=lambda line: line.line_no)
    ]
    allocations = session.execute(
        select(
            Payment.payment_reference,
            Payment.received_date,
            Allocation.applied_date,
            Allocation.amount_minor,
            Allocation.created_by,
        )
        .join(Payment, Allocation.payment_id == Payment.id)
        .where(Allocation.invoice_id == invoice.id)
        .order_by(Allocation.applied_date, Allocation.id)
    ).all()
    adjustments = [
        (kind.value, day, amount, reason, by)
        for kind, day, amount, reason, by in session.execute(
            select(
                Adjustment.kind,
                Adjustment.date,
                Adjustment.amount_minor,
                Adjustment.reason,
                Adjustment.created_by,
            )
            .where(Adjustment.invoice_id == invoice.id)
            .order_by(Adjustment.date, Adjustment.id)
        )
    ]
    history = [
        (as_utc(at), who, what)
        for at, who, what in session.execute(
            select(AuditEntry.occurred_at, AuditEntry.actor, AuditEntry.action)
            .where(AuditEntry.entity == "invoice", AuditEntry.entity_id == invoice_number)
            .order_by(AuditEntry.occurred_at.desc(), AuditEntry.id.desc())
        )
    ]
    return InvoiceDetail(
        invoice_number=invoice.invoice_number,
        customer_code=customer.customer_code,
        customer_name=customer.name,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        status=InvoiceStatus(invoice.status).value,
        currency=invoice.currency,
        total_minor=invoice.total_minor,
        settled_minor=invoice.settled_minor,
        description=invoice.description,
        void_reason=invoice.void_reason,
        posted_at=as_utc(invoice.posted_at),
        voided_at=as_utc(invoice.voided_at),
        lines=pl.DataFrame(lines, schema=INVOICE_LINE_COLUMNS, orient="row"),
        allocations=pl.DataFrame(
            [tuple(r) for r in allocations], schema=INVOICE_ALLOCATION_COLUMNS, orient="row"
        ),
        adjustments=pl.DataFrame(adjustments, schema=INVOICE_ADJUSTMENT_COLUMNS, orient="row"),
        history=pl.DataFrame(history, schema=INVOICE_HISTORY_COLUMNS, orient="row"),
    )


def load_open_invoices(
    session: Session, *, customer_code: str, currency: str | None = None
) -> pl.DataFrame:
    """A customer's posted invoices with something still open, oldest first (SPEC §2's order).

    Oldest first is by (due_date, issue_date, invoice_number), the order
    auto-allocation pays them in. Columns: invoice_id, invoice_number,
    issue_date, due_date, currency, total_minor, open_minor. An unknown
    customer raises `NotFound`.
    """
    customer_id = session.scalar(select(Customer.id).where(Customer.customer_code == customer_code))
    if customer_id is None:
        raise NotFound(f"no customer with code {customer_code!r}")
    statement = (
        select(
            Invoice.id,
            Invoice.invoice_number,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.currency,
            Invoice.total_minor,
            Invoice.total_minor - Invoice.settled_minor,
        )
        .where(
            Invoice.customer_id == customer_id,
            Invoice.status == InvoiceStatus.POSTED,
            Invoice.settled_minor < Invoice.total_minor,
        )
        .order_by(Invoice.due_date, Invoice.issue_date, Invoice.invoice_number)
    )
    if currency is not None:
        statement = statement.where(Invoice.currency == currency)
    rows = [tuple(row) for row in session.execute(statement)]
    return pl.DataFrame(rows, schema=OPEN_INVOICE_COLUMNS, orient="row")


def load_unapplied_payments(session: Session, *, customer_code: str | None = None) -> pl.DataFrame:
    """Payments with cash still on account (amount > allocated), oldest received first.

    Columns: payment_id, customer_code, customer_name, payment_reference,
    received_date, method, currency, amount_minor, unapplied_minor.
    """
    statement = (
        select(
            Payment.id,
            Customer.customer_code,
            Customer.name,
            Payment.payment_reference,
            Payment.received_date,
            Payment.method,
            Payment.currency,
            Payment.amount_minor,
            Payment.amount_minor - Payment.allocated_minor,
        )
        .join(Customer, Payment.customer_id == Customer.id)
        .where(Payment.allocated_minor < Payment.amount_minor)
        .order_by(Payment.received_date, Payment.id)
    )
    if customer_code is not None:
        statement = statement.where(Customer.customer_code == customer_code)
    rows = [tuple(row) for row in session.execute(statement)]
    return pl.DataFrame(rows, schema=UNAPPLIED_PAYMENT_COLUMNS, orient="row")


def load_payment_terms(session: Session) -> dict[str, int]:
    """Each customer's payment terms in days, by code: what a new invoice's due date defaults to."""
    rows = session.execute(select(Customer.customer_code, Customer.payment_terms_days))
    return {code: int(days) for code, days in rows}


def load_latest_invoice_number(session: Session) -> str | None:
    """The number of the invoice entered last (highest id), or None for an empty ledger."""
    return session.scalar(select(Invoice.invoice_number).order_by(Invoice.id.desc()).limit(1))

"""The ledger's tables (SQLAlchemy 2 typed ORM).

Money columns are integer minor units beside a currency code. The running sums
`invoices.settled_minor` and `payments.allocated_minor` exist so the database
itself can refuse over-allocation with a CHECK constraint, and so posting locks
and updates exactly the rows it touches; `billing check` recomputes them from
the allocation and adjustment rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from billing.roles import Role

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class InvoiceStatus(StrEnum):
    """An invoice's life: only `posted` counts in receivables."""

    DRAFT = "draft"
    POSTED = "posted"
    VOID = "void"


class AdjustmentKind(StrEnum):
    """Corrections to a posted invoice's balance."""

    CREDIT_NOTE = "credit_note"
    WRITE_OFF = "write_off"


class ActivityKind(StrEnum):
    """Collection activities logged against a customer or invoice."""

    NOTE = "note"
    CALL = "call"
    EMAIL = "email"
    PROMISE = "promise"
    DISPUTE = "dispute"
    LETTER = "letter"


class DisputeResolution(StrEnum):
    """How a dispute ended: settled by a credit note, or closed with the invoice standing."""

    CREDIT_NOTE = "credit_note"
    CLOSED = "closed"


def _enum(enum: type[StrEnum], name: str) -> Enum:
    # Portable: a VARCHAR with a CHECK, never a native PostgreSQL enum type.
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )


class ExactDecimal(TypeDecorator[Decimal]):
    """A Decimal stored as text, exact on every database (SQLite has no decimal type)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: object) -> str | None:
        """Store the normalised plain-notation text, never an exponent."""
        return None if value is None else format(Decimal(value).normalize(), "f")

    def process_result_value(self, value: str | None, dialect: object) -> Decimal | None:
        """Read the text back as an exact Decimal."""
        return None if value is None else Decimal(value)


class Base(DeclarativeBase):
    """Declarative base with constraint naming, so migrations can name what they alter."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


Timestamp = DateTime(timezone=True)


class User(Base):
    """A person who logs in; the password hash is bcrypt, as streamlit-authenticator reads it."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)


class UserSession(Base):
    """A login, recorded on the server so a replayed re-login cookie can be refused.

    The cookie only names a session; logging out or changing the password sets
    `revoked_at`, and a cookie whose session is revoked or expired logs nobody in.
    """

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    revoked_reason: Mapped[str | None] = mapped_column(String(40))


class LoginFailure(Base):
    """Failed logins per typed username (known or not), shared by every server process.

    `username` holds the SHA-256 hex digest of the trimmed, lower-cased typed
    username (`billing.login_throttle.throttle_key`), never the text itself:
    what is typed there is often a password. Rows whose window has passed and
    whose lock has ended are deleted by the next failure.
    """

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    last_failed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    locked_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Setting(Base):
    """Office-wide settings (company name, aging buckets, base currency), as text."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Customer(Base):
    """A customer billed in one currency, with payment terms and a credit limit."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint("payment_terms_days >= 0 AND payment_terms_days <= 3650", "terms_range"),
        CheckConstraint("credit_limit_minor >= 0", "credit_limit_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    payment_terms_days: Mapped[int] = mapped_column(Integer, default=30)
    credit_limit_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    # The username who chases this customer (the worklist's owner filter); None: nobody yet.
    owner: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)


class Invoice(Base):
    """An invoice: a draft until posted; once posted, never edited, only voided or adjusted."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("due_date >= issue_date", "due_after_issue"),
        CheckConstraint("total_minor >= 0", "total_nonneg"),
        CheckConstraint("status = 'draft' OR total_minor > 0", "posted_total_positive"),
        CheckConstraint("settled_minor >= 0", "settled_nonneg"),
        CheckConstraint("settled_minor <= total_minor", "settled_within_total"),
        CheckConstraint("status <> 'void' OR settled_minor = 0", "void_unsettled"),
        Index("ix_invoices_customer_status", "customer_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[InvoiceStatus] = mapped_column(
        _enum(InvoiceStatus, "invoice_status"), default=InvoiceStatus.DRAFT
    )
    description: Mapped[str | None] = mapped_column(Text)
    void_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)
    posted_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    voided_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)

    customer: Mapped[Customer] = relationship()
    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.line_no", cascade="all, delete-orphan"
    )

    @property
    def open_minor(self) -> int:
        """What the customer still owes on this invoice today."""
        return self.total_minor - self.settled_minor


class InvoiceLine(Base):
    """One line: quantity × unit price, plus tax at a percentage rate, in minor units."""

    __tablename__ = "invoice_lines"
    __table_args__ = (
        UniqueConstraint("invoice_id", "line_no"),
        CheckConstraint("net_minor >= 0 AND tax_minor >= 0", "amounts_nonneg"),
        CheckConstraint("unit_price_minor >= 0", "unit_price_nonneg"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    tax_rate: Mapped[Decimal] = mapped_column(ExactDecimal)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    tax_minor: Mapped[int] = mapped_column(BigInteger)


class Payment(Base):
    """Cash received from a customer; what is not allocated is unapplied (on account)."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("customer_id", "payment_reference"),
        CheckConstraint("amount_minor > 0", "amount_positive"),
        CheckConstraint("allocated_minor >= 0", "allocated_nonneg"),
        CheckConstraint("allocated_minor <= amount_minor", "allocated_within_amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    payment_reference: Mapped[str] = mapped_column(String(80))
    received_date: Mapped[dt.date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    allocated_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(40), default="transfer")
    # The invoice a targeted post named (None: auto-allocated), so a replayed
    # submission can be told apart from a different one.
    target_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    idempotency_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)

    customer: Mapped[Customer] = relationship()

    @property
    def unapplied_minor(self) -> int:
        """Cash on account: received but not yet applied to any invoice."""
        return self.amount_minor - self.allocated_minor


class Allocation(Base):
    """Part of a payment applied to one invoice of the same customer and currency."""

    __tablename__ = "allocations"
    __table_args__ = (CheckConstraint("amount_minor > 0", "amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    applied_date: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)


class Adjustment(Base):
    """A credit note or write-off reducing one posted invoice's open balance."""

    __tablename__ = "adjustments"
    __table_args__ = (CheckConstraint("amount_minor > 0", "amount_positive"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    kind: Mapped[AdjustmentKind] = mapped_column(_enum(AdjustmentKind, "adjustment_kind"))
    date: Mapped[dt.date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)


class CollectionActivity(Base):
    """A call, e-mail, note, promise to pay, dispute or dunning letter logged while chasing.

    A `letter` row is one dunning letter sent at `dunning_level` (1 = the first
    level of the office's settings); the invoices it covered are its
    `DunningLetterItem` rows.
    """

    __tablename__ = "collection_activities"
    __table_args__ = (
        CheckConstraint(
            "promise_amount_minor IS NULL OR promise_amount_minor > 0", "promise_positive"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[ActivityKind] = mapped_column(_enum(ActivityKind, "activity_kind"))
    activity_date: Mapped[dt.date] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text, default="")
    promise_date: Mapped[dt.date | None] = mapped_column(Date)
    promise_amount_minor: Mapped[int | None] = mapped_column(BigInteger)
    follow_up_date: Mapped[dt.date | None] = mapped_column(Date)
    dunning_level: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)


class DunningLetterItem(Base):
    """One invoice named in a dunning letter, at that letter's level.

    Unique per (invoice, level): the database itself refuses a second letter
    at the same level for the same invoice, even from two managers at once.
    """

    __tablename__ = "dunning_letter_items"
    __table_args__ = (
        UniqueConstraint("invoice_id", "dunning_level"),
        CheckConstraint("dunning_level >= 1", "level_positive"),
        CheckConstraint("open_minor > 0", "open_positive"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("collection_activities.id"), index=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    dunning_level: Mapped[int] = mapped_column(Integer)
    # What the letter said was open on the invoice, in its currency's minor units.
    open_minor: Mapped[int] = mapped_column(BigInteger)


class Dispute(Base):
    """An invoice the customer contests: out of dunning (not out of the aging) until closed.

    At most one open dispute per invoice (a partial unique index). Closed either
    by a credit note (`resolution = credit_note`, `adjustment_id` set) or with
    the invoice standing (`closed`).
    """

    __tablename__ = "disputes"
    __table_args__ = (
        CheckConstraint("closed_date IS NULL OR closed_date >= opened_date", "closed_after_opened"),
        CheckConstraint("(closed_date IS NULL) = (resolution IS NULL)", "closed_with_resolution"),
        Index(
            "uq_disputes_open_invoice",
            "invoice_id",
            unique=True,
            sqlite_where=text("closed_date IS NULL"),
            postgresql_where=text("closed_date IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    opened_date: Mapped[dt.date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(64))
    closed_date: Mapped[dt.date | None] = mapped_column(Date)
    resolution: Mapped[DisputeResolution | None] = mapped_column(
        _enum(DisputeResolution, "dispute_resolution")
    )
    resolution_note: Mapped[str | None] = mapped_column(Text)
    adjustment_id: Mapped[int | None] = mapped_column(ForeignKey("adjustments.id"))
    closed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)


class AuditEntry(Base):
    """Append-only record of every write: who, when, what, before and after (JSON text)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=_now)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(80))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)

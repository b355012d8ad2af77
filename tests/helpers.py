"""Small builders for service tests: terse ways to set up a ledger state."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from types import ModuleType

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, func, select, text

from billing.db import read_session, write_session
from billing.models import AdjustmentKind, AuditEntry, Base, Invoice, Payment
from billing.schema import alembic_config
from billing.services import (
    AdjustmentCreate,
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    PaymentPosted,
    adjust_invoice,
    create_customer,
    create_invoice,
    post_payment,
)
from tests.conftest import CLERK, MANAGER


def customer(
    engine: Engine, code: str, currency: str = "USD", terms: int = 30, name: str | None = None
) -> None:
    with write_session(engine) as s:
        create_customer(
            s,
            actor=CLERK,
            data=CustomerCreate(
                code, name or f"Customer {code}", currency, payment_terms_days=terms
            ),
        )


def invoice(
    engine: Engine,
    number: str,
    customer_code: str,
    issue: dt.date,
    amount_minor: int,
    *,
    due: dt.date | None = None,
    post: bool = True,
) -> None:
    with write_session(engine) as s:
        create_invoice(
            s,
            actor=CLERK,
            data=InvoiceCreate(
                number, customer_code, issue, [LineCreate("Work", Decimal(1), amount_minor)], due
            ),
            post=post,
        )


def pay(
    engine: Engine,
    customer_code: str,
    reference: str,
    received: dt.date,
    amount_minor: int,
    *,
    invoice_number: str | None = None,
    key: str | None = None,
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
                invoice_number=invoice_number,
                idempotency_key=key,
            ),
        )


def adjust(
    engine: Engine, number: str, kind: str, when: dt.date, amount_minor: int, reason: str = "agreed"
) -> None:
    with write_session(engine) as s:
        adjust_invoice(
            s,
            actor=MANAGER,
            data=AdjustmentCreate(number, AdjustmentKind(kind), when, amount_minor, reason),
        )


def open_balance(engine: Engine, number: str) -> int:
    with read_session(engine) as s:
        inv = s.scalars(select(Invoice).where(Invoice.invoice_number == number)).one()
        return inv.total_minor - inv.settled_minor


def unapplied(engine: Engine, payment_id: int) -> int:
    with read_session(engine) as s:
        p = s.get_one(Payment, payment_id)
        return p.amount_minor - p.allocated_minor


def table_counts(engine: Engine) -> dict[str, int]:
    """Rows in every table, plus the newest audit id: equal before and after means nothing was written."""
    with read_session(engine) as s:
        counts = {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }
        counts["max_audit_id"] = s.scalar(select(func.max(AuditEntry.id))) or 0
        return counts


def ledger_guards_migration() -> ModuleType:
    """Migration 0003, which holds the immutability triggers and the functions that make them."""
    return ScriptDirectory.from_config(alembic_config()).get_revision("0003").module


@contextmanager
def ledger_guards_lifted(connection: Connection) -> Iterator[None]:
    """Drop the immutability triggers for a hand edit, and create them again, in one transaction.

    Only for tests that must corrupt posted rows on purpose (to prove `billing check`
    finds it) or wipe a ledger between examples: the triggers refuse exactly those
    statements. DDL is transactional on both databases, so no other connection ever
    sees the ledger unguarded, and an error rolls the drop back too.
    """
    guards = ledger_guards_migration()
    dialect = connection.dialect.name
    guards.drop_guards(lambda sql: connection.execute(text(sql)), dialect)
    yield
    guards.create_guards(lambda sql: connection.execute(text(sql)), dialect)

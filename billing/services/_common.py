"""Helpers shared by the services: lookups that raise `NotFound`, and row locking."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.errors import Conflict, NotFound
from billing.models import Customer, Invoice, Payment

T = TypeVar("T")


def locked(statement: Select[Any]) -> Select[Any]:
    """Lock the selected rows until commit (PostgreSQL) and re-read them fresh.

    Only the selected entity's rows are locked (`FOR UPDATE OF`), never a joined
    customer. SQLite ignores FOR UPDATE; there every write transaction already
    holds the database write lock from `BEGIN IMMEDIATE` (see `billing.db`).
    """
    entity = statement.column_descriptions[0]["entity"]
    return statement.with_for_update(of=entity).execution_options(populate_existing=True)


@contextmanager
def unique_or_conflict(session: Session, message: str) -> Iterator[None]:
    """Insert inside a savepoint; a unique key taken meanwhile becomes `Conflict(message)`.

    The services look a key up before inserting, for a friendly message; this
    covers the race where another transaction commits the same key in between.
    """
    try:
        with session.begin_nested():
            yield
    except IntegrityError:
        raise Conflict(message) from None


def customer_by_code(session: Session, code: str, *, lock: bool = False) -> Customer:
    """The customer with this code, or `NotFound` naming it."""
    statement = select(Customer).where(Customer.customer_code == code)
    customer = session.scalars(locked(statement) if lock else statement).first()
    if customer is None:
        raise NotFound(f"no customer with code {code!r}")
    return customer


def invoice_by_number(session: Session, number: str, *, lock: bool = False) -> Invoice:
    """The invoice with this number, or `NotFound` naming it."""
    statement = select(Invoice).where(Invoice.invoice_number == number)
    invoice = session.scalars(locked(statement) if lock else statement).first()
    if invoice is None:
        raise NotFound(f"no invoice numbered {number!r}")
    return invoice


def payment_by_id(session: Session, payment_id: int, *, lock: bool = False) -> Payment:
    """The payment with this id, or `NotFound`."""
    statement = select(Payment).where(Payment.id == payment_id)
    payment = session.scalars(locked(statement) if lock else statement).first()
    if payment is None:
        raise NotFound(f"no payment with id {payment_id}")
    return payment


def payment_by_reference(
    session: Session, customer_code: str, reference: str, *, lock: bool = False
) -> Payment:
    """The payment a customer sent under `reference`, or `NotFound`."""
    statement = (
        select(Payment)
        .join(Customer, Payment.customer_id == Customer.id)
        .where(Customer.customer_code == customer_code, Payment.payment_reference == reference)
    )
    payment = session.scalars(locked(statement) if lock else statement).first()
    if payment is None:
        raise NotFound(f"no payment {reference!r} from customer {customer_code!r}")
    return payment

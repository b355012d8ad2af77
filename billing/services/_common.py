"""Helpers shared by the services: lookups that raise `NotFound`, row locking, the lock date."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Select, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.errors import BooksClosed, Conflict, NotFound
from billing.models import Customer, Invoice, Payment, Setting
from billing.settings import LOCK_DATE_KEY, parse_lock_date

T = TypeVar("T")


def locked(statement: Select[Any]) -> Select[Any]:
    """Lock the selected rows until commit (PostgreSQL) and re-read them fresh.

    Only the selected entity's rows are locked (`FOR UPDATE OF`), never a joined
    customer. SQLite ignores FOR UPDATE; there every write transaction already
    holds the database write lock from `BEGIN IMMEDIATE` (see `billing.db`).
    """
    entity = statement.column_descriptions[0]["entity"]
    return statement.with_for_update(of=entity).execution_options(populate_existing=True)


# `session.info` key of the lock date read in the current transaction.
_LOCK_MEMO = "billing_lock_date"


def ensure_books_open(
    session: Session, day: dt.date, *, what: str, field: str, verb: str = "entered"
) -> None:
    """Refuse a write dated on or before the lock date: that period's books are closed.

    Every service that enters, posts or changes something dated calls this, in
    its own transaction, so the lock date it obeys is the one committed now.
    On PostgreSQL the settings row is read `FOR SHARE`: an admin moving the
    lock date waits for postings in flight, and postings wait for the admin.
    `what` names the thing as a clerk would ("an invoice"), `verb` the act.
    """
    lock = lock_date_for_transaction(session)
    if lock is not None and day <= lock:
        raise BooksClosed(
            field=field,
            day=day.isoformat(),
            message=(
                f"The books are closed up to {lock.isoformat()}: {what} dated "
                f"{day.isoformat()} cannot be {verb}. Ask an admin to move the lock date."
            ),
        )


def lock_date_for_transaction(session: Session) -> dt.date | None:
    """The lock date, read (and on PostgreSQL share-locked) once per transaction.

    A 100,000-row import calls `ensure_books_open` per row; one query each
    would double its statements. Within one transaction the answer cannot
    change: the `FOR SHARE` lock taken by the first read holds until commit,
    so no other admin can move it, and `set_lock_date` in this same
    transaction drops the memo (`forget_lock_date`). The memo is tied to the
    transaction object, so the session's next transaction reads afresh. Any
    rollback, a savepoint's included, drops it too: PostgreSQL releases a row
    lock taken inside a savepoint that is rolled back (a refused import row),
    so the next call must take it again.
    """
    transaction = session.get_transaction()
    memo = session.info.get(_LOCK_MEMO)
    if transaction is not None and memo is not None and memo[0] is transaction:
        return memo[1]
    statement = select(Setting.value).where(Setting.key == LOCK_DATE_KEY)
    lock = parse_lock_date(session.scalar(statement.with_for_update(read=True)))
    session.info[_LOCK_MEMO] = (session.get_transaction(), lock)
    return lock


def forget_lock_date(session: Session, *_: object) -> None:
    """Drop the memoised lock date: this transaction changed it, or rolled back past its read."""
    session.info.pop(_LOCK_MEMO, None)


event.listen(Session, "after_soft_rollback", forget_lock_date)


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

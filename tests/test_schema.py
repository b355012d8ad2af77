"""The schema as a backstop: migrations match the models, CHECKs refuse bad rows, SQLite is set up safely."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from billing.db import read_session, write_session
from billing.models import Base
from billing.schema import current_revision, upgrade_database
from tests.helpers import pay

D = dt.date


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade_database(engine)
    assert current_revision(engine) == "0001"


@pytest.mark.parametrize(
    "statement",
    [
        # settled beyond total: the "allocated ≤ total" backstop
        "UPDATE invoices SET settled_minor = total_minor + 1",
        "UPDATE invoices SET due_date = '2025-01-01'",
        "UPDATE payments SET allocated_minor = amount_minor + 1",
        "UPDATE payments SET amount_minor = 0",
        "UPDATE allocations SET amount_minor = -5",
        "UPDATE invoices SET status = 'paid'",
        "UPDATE invoices SET status = 'void'",  # a voided invoice may have nothing applied
        "INSERT INTO allocations (payment_id, invoice_id, amount_minor, applied_date, created_by, created_at)"
        " VALUES (1, 999, 1, '2026-01-01', 'x', '2026-01-01')",  # no such invoice: foreign key
    ],
)
def test_check_constraints_refuse_raw_sql(ledger: Engine, statement: str) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000)
    with pytest.raises(IntegrityError), write_session(ledger) as s:
        s.execute(text(statement))


def test_sqlite_connection_settings(sqlite_engine: Engine) -> None:
    engine = sqlite_engine
    with read_session(engine) as s:
        assert s.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert s.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert s.execute(text("PRAGMA busy_timeout")).scalar() >= 5000


def test_sqlite_write_transactions_begin_immediate(sqlite_engine: Engine) -> None:
    """A second writer is refused the lock as soon as the first *begins*, before it writes anything."""
    engine = sqlite_engine

    with write_session(engine) as s:
        s.execute(
            text("SELECT 1")
        )  # starts the transaction: BEGIN IMMEDIATE takes the write lock now
        other = sqlite3.connect(engine.url.database or "", timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()

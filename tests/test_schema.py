"""The schema as a backstop: migrations match the models, CHECKs refuse bad rows, SQLite is set up safely."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

import billing.db
from billing import cli
from billing.db import (
    ConnectionSettingsError,
    make_engine,
    read_session,
    verify_connection_settings,
    write_session,
)
from billing.errors import LedgerBusy
from billing.models import Base
from billing.schema import alembic_config, current_revision, upgrade_database
from tests.conftest import POSTGRES_URL
from tests.helpers import pay

D = dt.date


def test_migrations_build_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade_database(engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    assert current_revision(engine) == head


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


def test_a_write_lock_held_past_the_busy_timeout_is_a_clerk_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long import holds SQLite's write lock; a clerk waiting past the timeout gets a
    plain "busy, nothing was saved", never sqlite3's "database is locked"."""
    monkeypatch.setattr(billing.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    engine = make_engine(f"sqlite:///{tmp_path}/busy.db")
    upgrade_database(engine)
    importer = sqlite3.connect(engine.url.database or "", isolation_level=None)
    importer.execute("BEGIN IMMEDIATE")
    try:
        with (
            pytest.raises(LedgerBusy, match="busy with another long change"),
            write_session(engine) as s,
        ):
            s.execute(text("INSERT INTO settings (key, value) VALUES ('k', 'v')"))
    finally:
        importer.execute("ROLLBACK")
        importer.close()
    with write_session(engine) as s:  # the lock released, the same write goes through
        s.execute(text("INSERT INTO settings (key, value) VALUES ('k', 'v')"))
    engine.dispose()


def test_startup_check_passes_on_the_engines_make_engine_builds(engine: Engine) -> None:
    verify_connection_settings(engine)  # SQLite: wal, foreign keys, 10 s; PostgreSQL: see below


def test_startup_check_names_every_missing_sqlite_setting(tmp_path: Path) -> None:
    """An engine without `make_engine`'s listeners: pysqlite's defaults are all wrong for us."""
    bare = create_engine(f"sqlite:///{tmp_path}/bare.db")
    with pytest.raises(ConnectionSettingsError) as refused:
        verify_connection_settings(bare)
    assert str(refused.value) == (
        "the database connection is not set up safely: journal_mode is delete, needs wal; "
        "foreign_keys is off, needs on; busy_timeout is 5000 ms, needs at least 10000"
    )
    bare.dispose()


def test_startup_check_on_a_wal_file_still_wants_the_per_connection_settings(
    sqlite_engine: Engine,
) -> None:
    """WAL is stored in the file, so a bare engine gets it; foreign keys and the timeout are not."""
    bare = create_engine(sqlite_engine.url)
    with pytest.raises(ConnectionSettingsError, match="foreign_keys is off") as refused:
        verify_connection_settings(bare)
    assert "journal_mode" not in str(refused.value)
    bare.dispose()


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="BILLING_TEST_POSTGRES_URL not set")
def test_startup_check_refuses_weak_isolation_and_read_only_postgres() -> None:
    assert POSTGRES_URL is not None
    separator = "&" if "?" in POSTGRES_URL else "?"
    options = (
        "-cdefault_transaction_isolation%3Dread%5C%20uncommitted"
        "%20-cdefault_transaction_read_only%3Don"
    )
    weak = make_engine(f"{POSTGRES_URL}{separator}options={options}")
    with pytest.raises(ConnectionSettingsError) as refused:
        verify_connection_settings(weak)
    weak.dispose()
    assert str(refused.value) == (
        "the database connection is not set up safely: default_transaction_isolation is "
        "read uncommitted, needs read committed; the server is read-only (a standby?); "
        "the ledger needs to write"
    )


def test_cli_refuses_to_work_on_an_unsafe_connection(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`billing check` runs the startup check: an engine without the listeners is refused."""
    monkeypatch.setattr(cli, "make_engine", create_engine)
    result = CliRunner().invoke(
        cli.app, ["check"], env={"BILLING_DATABASE_URL": str(sqlite_engine.url)}
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: the database connection is not set up safely: "
        "foreign_keys is off, needs on; busy_timeout is 5000 ms, needs at least 10000"
    )

"""Engine and transactions: the one door to the database.

SQLite needs care to be safe for several writers. pysqlite's default deferred
transactions let two writers read the same balance and both allocate against
it, and SQLAlchemy silently drops `FOR UPDATE` there. So every SQLite write
transaction starts with `BEGIN IMMEDIATE` (taking the write lock before the
first read), under WAL with a busy timeout, and foreign keys switched on. On
PostgreSQL the services lock the rows they change with `SELECT ... FOR UPDATE`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from billing.errors import BillingError, LedgerBusy, WriteConflict

DEFAULT_DATABASE_URL = "sqlite:///data/billing.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option that makes an SQLite transaction a plain deferred (read) one.
READ_ONLY = "billing_read_only"
# PostgreSQL's "try the transaction again" errors: serialization_failure, deadlock_detected.
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})


def database_url(url: str | None = None) -> str:
    """The database URL: an explicit one, else `BILLING_DATABASE_URL`, else the SQLite default."""
    return url or os.environ.get("BILLING_DATABASE_URL") or DEFAULT_DATABASE_URL


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """Create the engine for `url` with the per-database settings the ledger relies on."""
    parsed = make_url(database_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in (
        "psycopg2",
        "default",
        "",
    ):
        parsed = parsed.set(drivername="postgresql+psycopg")
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(parsed, **kwargs)


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    # No folder or file is made here: `billing.schema.upgrade_database` makes the
    # folder, so a read against a mistyped path fails instead of creating one.
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def is_sqlite(engine: Engine) -> bool:
    """True for the embedded default database."""
    return engine.dialect.name == "sqlite"


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """One write transaction: commit on success, roll back everything on any error.

    Every service runs inside one of these, so a write is all-or-nothing. The
    two ways another writer can make the database abort us, SQLite's busy
    timeout and PostgreSQL's deadlock or serialization failure, become
    `Conflict`s a clerk can read ("nothing was saved, try again"); psycopg makes
    the latter `OperationalError`s, which must not pass for an outage.
    """
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=True)
    try:
        with factory() as session, session.begin():
            yield session
    except OperationalError as error:
        if is_sqlite(engine) and "database is locked" in str(error.orig):
            raise LedgerBusy() from error
        if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            raise WriteConflict() from error
        raise


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A read-only session that never takes SQLite's write lock."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        with Session(bind=connection) as session:
            yield session


class ConnectionSettingsError(BillingError):
    """The database connection lacks a setting the ledger's safety depends on."""


# Isolation levels under which the services' `SELECT ... FOR UPDATE` row locks
# keep the running sums right (read uncommitted is treated as read committed by
# PostgreSQL, but a server configured so asks for a look).
_POSTGRES_ISOLATION_OK = ("read committed", "repeatable read", "serializable")


def verify_connection_settings(engine: Engine) -> None:
    """Refuse to start on a connection that would make writes unsafe; say which setting is wrong.

    SQLite: WAL (readers never block the writer, and a crash leaves the file
    whole), foreign keys on (SQLite's default is off), and a busy timeout of at
    least `SQLITE_BUSY_TIMEOUT_MS` (else a second writer fails at once with
    "database is locked"). These are per-connection settings made by
    `make_engine`'s listeners; an engine built some other way lacks them.
    PostgreSQL: the server answers, its default isolation is read committed or
    stricter, and it accepts writes (not a read-only standby).
    Checked on a connection from the engine's own pool, as the app will use it.
    """
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        problems = (
            _sqlite_problems(connection) if is_sqlite(engine) else _postgres_problems(connection)
        )
    if problems:
        raise ConnectionSettingsError(
            "the database connection is not set up safely: " + "; ".join(problems)
        )


def _sqlite_problems(connection: Connection) -> list[str]:
    problems = []
    database = connection.engine.url.database
    journal = str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
    if database not in (None, "", ":memory:") and journal != "wal":
        problems.append(f"journal_mode is {journal}, needs wal")
    if connection.exec_driver_sql("PRAGMA foreign_keys").scalar() != 1:
        problems.append("foreign_keys is off, needs on")
    timeout = int(connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0)
    if timeout < SQLITE_BUSY_TIMEOUT_MS:
        problems.append(f"busy_timeout is {timeout} ms, needs at least {SQLITE_BUSY_TIMEOUT_MS}")
    return problems


def _postgres_problems(connection: Connection) -> list[str]:
    problems = []
    isolation = str(connection.exec_driver_sql("SHOW default_transaction_isolation").scalar())
    if isolation not in _POSTGRES_ISOLATION_OK:
        problems.append(f"default_transaction_isolation is {isolation}, needs read committed")
    if connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
        problems.append("the server is read-only (a standby?); the ledger needs to write")
    return problems

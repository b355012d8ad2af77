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

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_DATABASE_URL = "sqlite:///data/billing.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option that makes an SQLite transaction a plain deferred (read) one.
READ_ONLY = "billing_read_only"


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

    Every service runs inside one of these, so a write is all-or-nothing.
    """
    factory = sessionmaker(engine, expire_on_commit=False, autoflush=True)
    with factory() as session, session.begin():
        yield session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """A read-only session that never takes SQLite's write lock."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})
        with Session(bind=connection) as session:
            yield session

"""A busy SQLite ledger: another connection holds the write lock past a short busy timeout.

What a long CSV import does to every other writer. `short_busy_timeout` makes
the wait 200 ms instead of 10 s (as `tests/test_schema.py` does), and
`write_lock_held` takes the lock the way the importer's `BEGIN IMMEDIATE` does.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine

import billing.db

BUSY_TIMEOUT_MS = 200


def short_busy_timeout(monkeypatch: pytest.MonkeyPatch, engine: Engine | None = None) -> None:
    """Writers give up after 200 ms; connections opened from now on get it (`engine`'s too)."""
    monkeypatch.setattr(billing.db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
    if engine is not None:
        engine.dispose()  # pooled connections keep the timeout they were opened with


@contextmanager
def write_lock_held(database: str) -> Iterator[None]:
    """Hold the SQLite file's write lock on a raw connection until the block ends.

    The lock may be taken in one thread (an app run under AppTest) and released in another.
    """
    holder = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()

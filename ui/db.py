"""The database for the app: one engine per URL, migrated once, shared by every session.

The URL comes from `BILLING_DATABASE_URL`, else `[database] url` in
`.streamlit/secrets.toml`, else the SQLite file `data/billing.db`: the
environment wins so a deployment (or a test) can point the same checkout at
another database without editing files.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import streamlit as st
from sqlalchemy import Engine

from billing.db import DEFAULT_DATABASE_URL, is_sqlite, make_engine, verify_connection_settings
from billing.schema import upgrade_database


def secret(section: str, key: str) -> str | None:
    """A value from `.streamlit/secrets.toml`, or None when it (or the file) is absent.

    Having no secrets file is the normal state of a fresh checkout, not an error.
    """
    try:
        value = st.secrets[section][key]
    except (KeyError, FileNotFoundError):
        return None
    return str(value) if value not in (None, "") else None


def database_url() -> str:
    """Where the ledger lives, from the environment, the secrets file or the default."""
    return (
        os.environ.get("BILLING_DATABASE_URL") or secret("database", "url") or DEFAULT_DATABASE_URL
    )


class DatabaseGone(OSError):
    """The SQLite file this process was using is no longer where it was."""


def _dispose(engine: Engine) -> None:
    engine.dispose()


@functools.cache
def _databases_seen() -> set[str]:
    # SQLite URLs this process has opened: one that disappears later is an outage
    # (a folder renamed, a disk unmounted), never a first start.
    return set()


@st.cache_resource(show_spinner=False, on_release=_dispose)
def engine_for(url: str) -> Engine:
    """The engine for `url`, with the schema brought up to date once per process.

    Upgrading here means a brand-new SQLite file (or an empty PostgreSQL
    database) works on first start without a separate `billing init-db`.
    A failure is not cached (Streamlit caches only returned values), so the
    next run tries again; `forget_engines` drops an engine whose connections
    died. A SQLite file that this process already used and that is now
    missing is never silently re-created empty: that is reported as the
    database being unreachable until the file is back.
    """
    engine = make_engine(url)
    path = engine.url.database if is_sqlite(engine) else None
    if path and path != ":memory:" and url in _databases_seen() and not Path(path).exists():
        engine.dispose()
        raise DatabaseGone(f"the database file {path} is missing")
    try:
        upgrade_database(engine)
        verify_connection_settings(engine)
    except BaseException:
        engine.dispose()
        raise
    if path:
        _databases_seen().add(url)
    return engine


def forget_engines() -> None:
    """Close every cached engine's connections, so the next run connects afresh.

    Called after an outage: PostgreSQL's `pool_pre_ping` already replaces dead
    connections, but an SQLite connection keeps reading a file that was moved
    away, and a half-broken connection is better closed than reused.
    """
    engine_for.clear()


def get_engine() -> Engine:
    """The engine for the configured database."""
    return engine_for(database_url())

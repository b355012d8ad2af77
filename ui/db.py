"""The database for the app: one engine per URL, migrated once, shared by every session.

The URL comes from `BILLING_DATABASE_URL`, else `[database] url` in
`.streamlit/secrets.toml`, else the SQLite file `data/billing.db`: the
environment wins so a deployment (or a test) can point the same checkout at
another database without editing files.
"""

from __future__ import annotations

import os

import streamlit as st
from sqlalchemy import Engine

from billing.db import DEFAULT_DATABASE_URL, make_engine
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


@st.cache_resource(show_spinner=False)
def engine_for(url: str) -> Engine:
    """The engine for `url`, with the schema brought up to date once per process.

    Upgrading here means a brand-new SQLite file (or an empty PostgreSQL
    database) works on first start without a separate `billing init-db`.
    """
    engine = make_engine(url)
    upgrade_database(engine)
    return engine


def get_engine() -> Engine:
    """The engine for the configured database."""
    return engine_for(database_url())

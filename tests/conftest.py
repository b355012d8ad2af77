"""Shared fixtures: a fresh, migrated database per test on SQLite and, when configured, PostgreSQL.

PostgreSQL runs when `BILLING_TEST_POSTGRES_URL` is set (`.ci/run` always sets
it). Each test gets its own schema there, so runs never see each other's rows.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, text

from billing.db import make_engine, write_session
from billing.roles import Actor, Role
from billing.schema import upgrade_database
from billing.services import (
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    create_customer,
    create_invoice,
)

pytest_plugins = ["tests.app_support"]

POSTGRES_URL = os.environ.get("BILLING_TEST_POSTGRES_URL")

CLERK = Actor("test-clerk", Role.CLERK)
MANAGER = Actor("test-manager", Role.MANAGER)
FINANCE = Actor("test-finance", Role.FINANCE)
ADMIN = Actor("test-admin", Role.ADMIN)

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgres",
        marks=[
            pytest.mark.postgres,
            pytest.mark.skipif(POSTGRES_URL is None, reason="BILLING_TEST_POSTGRES_URL not set"),
        ],
    ),
]


def sqlite_url(tmp_path: object) -> str:
    """A file database in the test's temporary folder (file, not memory: WAL and threads)."""
    return f"sqlite:///{tmp_path}/billing.db"


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema, dropped afterwards."""
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> str:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return str(request.getfixturevalue("postgres_schema"))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty ledger on each backend."""
    engine = make_engine(database_url)
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: object) -> Iterator[Engine]:
    """A migrated, empty ledger on SQLite only, for SQLite's own settings."""
    engine = make_engine(sqlite_url(tmp_path))
    upgrade_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine: Engine) -> Engine:
    """A ledger with one USD customer C001 (30-day terms) and one posted invoice INV-1 of 100.00."""
    with write_session(engine) as session:
        create_customer(
            session,
            actor=CLERK,
            data=CustomerCreate("C001", "Acme Ltd", "USD", email="ap@acme.test"),
        )
        create_invoice(
            session,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-1", "C001", dt.date(2026, 1, 10), [LineCreate("Consulting", Decimal(1), 10000)]
            ),
            post=True,
        )
    return engine

"""The columnar load path gives exactly the frames SQLAlchemy gives, or steps aside.

Every installed method (connectorx, ADBC) is compared with `load_ledger_rows`
on each backend: the same rows (drafts and voids left out), the same dtypes,
on a ledger with a bit of everything, on an empty one, and with amounts near
2**62 that a float would round. Then the guards: a write session, a ledger
that changes during the read, a driver that fails and a URL no driver opens
all read through SQLAlchemy instead.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, insert, select

from billing import fast_load
from billing.db import read_session, write_session
from billing.fast_load import (
    LoadMethod,
    driver_uri,
    fast_methods,
    load_ledger_fast,
    load_ledger_sqlite,
    read_ledger,
)
from billing.models import Customer, Invoice, InvoiceStatus
from billing.repository import load_ledger_frames, load_ledger_rows
from billing.services import void_invoice
from queries.ledger import SCHEMAS, LedgerFrames
from tests.conftest import MANAGER
from tests.helpers import adjust, customer, invoice, ledger_guards_lifted, pay

D = dt.date
BIG = 2**62 + 7  # beyond 2**53: a float64 on the way would change its last digits

METHODS = [
    pytest.param(
        method,
        marks=pytest.mark.skipif(
            importlib.util.find_spec(module) is None, reason=f"{module} not installed"
        ),
    )
    for method, module in (
        (LoadMethod.CONNECTORX, "connectorx"),
        (LoadMethod.ADBC, "adbc_driver_manager"),
    )
]


def frames(ledger: LedgerFrames) -> dict[str, pl.DataFrame]:
    """Each frame collected and sorted on every column: the contract fixes no row order."""
    out = {}
    for name in SCHEMAS:
        frame = getattr(ledger, name).collect()
        out[name] = frame.sort(frame.columns)
    return out


def assert_same(expected: LedgerFrames, got: LedgerFrames) -> None:
    want, have = frames(expected), frames(got)
    for name in SCHEMAS:
        assert have[name].schema == SCHEMAS[name], name
        assert_frame_equal(want[name], have[name], check_dtypes=True)


def reference(engine: Engine) -> LedgerFrames:
    with read_session(engine) as session:
        return load_ledger_rows(session)


def alone(engine: Engine) -> str:
    """The URL, with every pooled connection closed: a driver's own SQLite copy must not share
    the file with ours (`billing.fast_load`); PostgreSQL does not mind."""
    engine.dispose()
    return engine.url.render_as_string(hide_password=False)


@pytest.fixture
def books(ledger: Engine) -> Engine:
    """INV-1 (C001, 100.00) part paid and credited; JPY customer; a draft, a void, a huge one.

    Posted: INV-1 (10000), INV-2 (2500), J-1 (JPY 700), BIG-1 (2**62 + 7, inserted
    directly: the services stop at 10**15). Not posted: INV-3 (draft), INV-4 (void).
    """
    pay(ledger, "C001", "P1", D(2026, 2, 1), 6000)  # INV-1 open 4000
    adjust(ledger, "INV-1", "credit_note", D(2026, 2, 5), 1000)  # INV-1 open 3000
    pay(ledger, "C001", "P2", D(2026, 2, 6), 5000)  # 3000 applied, 2000 unapplied
    invoice(ledger, "INV-2", "C001", D(2026, 3, 1), 2500)
    invoice(ledger, "INV-3", "C001", D(2026, 3, 2), 999, post=False)
    invoice(ledger, "INV-4", "C001", D(2026, 3, 3), 700)
    with write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-4", reason="entered twice")
    customer(ledger, "J01", "JPY", name="Ōsaka Kōgyō")
    invoice(ledger, "J-1", "J01", D(2026, 3, 4), 700)
    pay(ledger, "J01", "PJ", D(2026, 3, 20), 300, invoice_number="J-1")
    with write_session(ledger) as s, ledger_guards_lifted(s.connection()):
        big = s.execute(
            insert(Customer)
            .values(customer_code="BIG", name="Big Co", currency="USD", credit_limit_minor=BIG - 1)
            .returning(Customer.id)
        ).scalar_one()
        s.execute(
            insert(Invoice).values(
                invoice_number="BIG-1",
                customer_id=big,
                issue_date=D(1999, 12, 31),
                due_date=D(2000, 1, 30),
                currency="USD",
                total_minor=BIG,
                settled_minor=0,
                status=InvoiceStatus.POSTED,
            )
        )
    return ledger


@pytest.mark.parametrize("method", METHODS)
def test_every_method_reads_exactly_what_sqlalchemy_reads(
    books: Engine, method: LoadMethod
) -> None:
    expected = reference(books)
    got = read_ledger(alone(books), method=method)
    assert_same(expected, got)
    invoices = got.invoices.collect()
    # INV-1, INV-2, J-1, BIG-1 are posted; the draft INV-3 and the void INV-4 are not there.
    assert sorted(invoices["invoice_number"]) == ["BIG-1", "INV-1", "INV-2", "J-1"]
    assert invoices.filter(pl.col("invoice_number") == "BIG-1")["total_minor"].item() == BIG
    customers = got.customers.collect()
    assert (
        customers.filter(pl.col("customer_code") == "BIG")["credit_limit_minor"].item() == BIG - 1
    )
    assert (
        customers.filter(pl.col("customer_code") == "J01")["customer_name"].item() == "Ōsaka Kōgyō"
    )
    # P1 6000 + P2 3000 on INV-1, PJ 300 on J-1: three allocations, nothing on the void one.
    assert sorted(got.allocations.collect()["amount_minor"]) == [300, 3000, 6000]


@pytest.mark.parametrize("method", METHODS)
def test_one_thread_reads_the_same_as_two(books: Engine, method: LoadMethod) -> None:
    assert_same(
        read_ledger(books.url, method=method, workers=2),
        read_ledger(books.url, method=method, workers=1),
    )


@pytest.mark.parametrize("method", METHODS)
def test_an_empty_ledger_gives_empty_frames_in_the_contract_dtypes(
    engine: Engine, method: LoadMethod
) -> None:
    got = read_ledger(alone(engine), method=method)
    for name, schema in SCHEMAS.items():
        frame = getattr(got, name).collect()
        assert frame.height == 0, name
        assert frame.schema == schema, name


def test_a_read_session_on_postgresql_takes_the_fast_path_and_gets_the_same_frames(
    books: Engine,
) -> None:
    with read_session(books) as session:
        fast = load_ledger_fast(session)
    if books.dialect.name == "sqlite":
        # Never in the app's process: the drivers' own SQLite copy breaks our locks.
        assert fast is None
    elif fast_methods(books.url):
        assert fast is not None
        assert_same(reference(books), fast)
    with read_session(books) as session:
        assert_same(reference(books), load_ledger_frames(session))


def test_sqlite_is_read_through_its_own_cursor_to_the_same_frames(books: Engine) -> None:
    """In the app's process: the session's `sqlite3` connection, no driver of its own."""
    with read_session(books) as session:
        got = load_ledger_sqlite(session)
    if books.dialect.name != "sqlite":
        assert got is None
        return
    assert got is not None
    assert_same(reference(books), got)  # BIG-1 to the last digit, Ōsaka Kōgyō, dates as dates
    with read_session(books) as session:
        assert_same(reference(books), load_ledger_frames(session))


def test_an_empty_sqlite_ledger_read_through_its_cursor_has_the_contract_dtypes(
    sqlite_engine: Engine,
) -> None:
    with read_session(sqlite_engine) as session:
        got = load_ledger_sqlite(session)
    assert got is not None
    for name, schema in SCHEMAS.items():
        frame = getattr(got, name).collect()
        assert (frame.height, frame.schema) == (0, schema), name


def test_a_write_session_reads_its_own_uncommitted_rows(books: Engine) -> None:
    with write_session(books) as session:
        assert load_ledger_fast(session) is None  # another connection would not see INV-9
        invoice_id = session.execute(
            select(Invoice.customer_id).where(Invoice.invoice_number == "INV-1")
        ).scalar_one()
        session.execute(
            insert(Invoice).values(
                invoice_number="INV-9",
                customer_id=invoice_id,
                issue_date=D(2026, 4, 1),
                due_date=D(2026, 5, 1),
                currency="USD",
                total_minor=123,
                settled_minor=0,
                status=InvoiceStatus.POSTED,
            )
        )
        numbers = load_ledger_frames(session).invoices.collect()["invoice_number"]
        assert "INV-9" in numbers.to_list()
        session.rollback()


def test_a_ledger_that_keeps_changing_is_read_through_sqlalchemy(
    books: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not fast_methods(books.url):
        pytest.skip("no in-process columnar path (SQLite, or no driver installed)")
    calls = []
    real = fast_load._read

    def unsteady(*args: object, **kwargs: object) -> tuple[dict[str, pl.DataFrame], bool]:
        calls.append(1)
        frames_read, _ = real(*args, **kwargs)
        return frames_read, False  # as if a write committed between the two version reads

    monkeypatch.setattr(fast_load, "_read", unsteady)
    with read_session(books) as session:
        assert load_ledger_fast(session) is None
        assert_same(reference(books), load_ledger_frames(session))
    assert len(calls) == fast_load.TRIES * 2  # three tries inside each of the two loads


def test_a_driver_that_fails_hands_over_to_the_next_then_to_sqlalchemy(
    books: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried = []

    def broken(url: object, method: LoadMethod, *, workers: int) -> None:
        tried.append(method)
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(fast_load, "_read", broken)
    with read_session(books) as session:
        assert load_ledger_fast(session) is None
        assert_same(reference(books), load_ledger_frames(session))
    assert tried[: len(fast_methods(books.url))] == list(fast_methods(books.url))


def test_a_write_between_the_version_reads_is_noticed(
    books: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real `_read`, with a payment committed after the first version read."""
    if not fast_methods(books.url):
        pytest.skip("no in-process columnar path (SQLite, or no driver installed)")
    method = fast_methods(books.url)[0]
    _, steady = fast_load._read(books.url, method, workers=1)
    assert steady  # nobody wrote: the read is consistent
    real_reader = fast_load._reader
    queries: list[str] = []

    @contextmanager
    def reader_with_a_write(method: LoadMethod, url: object) -> Iterator[fast_load.Reader]:
        with real_reader(method, url) as read:  # type: ignore[arg-type]

            def read_then_write(query: str) -> pl.DataFrame:
                queries.append(query)
                if len(queries) == 2:  # the version was read; the tables are next
                    pay(books, "C001", "P-LATE", D(2026, 3, 31), 100)
                return read(query)

            yield read_then_write

    monkeypatch.setattr(fast_load, "_reader", reader_with_a_write)
    _, steady = fast_load._read(books.url, method, workers=1)
    assert not steady


def test_urls_no_driver_can_open_are_left_to_sqlalchemy() -> None:
    assert fast_methods("sqlite:///ledger.db") == ()  # not in a process with our own connections
    assert fast_methods("sqlite://", in_process=False) == ()
    assert fast_methods("sqlite:///:memory:", in_process=False) == ()
    assert fast_methods("sqlite:///:memory:") == ()
    assert fast_methods("sqlite:///file:ledger.db?mode=ro&uri=true", in_process=False) == ()
    assert fast_methods("mysql+pymysql://u:p@localhost/db") == ()


def test_driver_uris() -> None:
    assert driver_uri("sqlite:///data/billing.db") == "sqlite://" + str(
        Path("data/billing.db").resolve()
    )
    assert driver_uri("sqlite:////tmp/x.db") == "sqlite:///tmp/x.db"
    assert (
        driver_uri("postgresql+psycopg://clerk:s3cret@db:5433/books?options=-csearch_path%3Dt1")
        == "postgresql://clerk:s3cret@db:5433/books?options=-csearch_path%3Dt1"
    )

"""The posted ledger from the database to Polars fast: columnar drivers, one definition of the rows.

`billing.repository.load_ledger_frames` builds the frames from SQLAlchemy rows:
one Python tuple per row, 3.5 s for a million invoices. The drivers here hand
Arrow columns straight to Polars instead:

- connectorx (`pl.read_database_uri`), for a SQLite file and PostgreSQL: Rust
  reads the result set into Arrow, and may split a table over several threads;
- ADBC (`adbc-driver-sqlite`, `adbc-driver-postgresql`), the Arrow-native
  database API, one connection for every table;
- for SQLite in the app's process, the `sqlite3` cursor of the caller's own
  connection (`load_ledger_sqlite`): no second copy of the library, plain
  tuples, dates parsed by Polars;
- SQLAlchemy, the reference and the fallback when none of these can open the
  URL (a driver of another kind).

Every method gives the same rows in the same dtypes (`queries.ledger.SCHEMAS`):
the SQL comes from the same `select()` statements compiled for the database,
and the frames are cast to the contract before `LedgerFrames.from_frames`
checks them. Drafts and voids are left out exactly as the repository leaves
them out: invoices with status `posted`, and only the allocations and
adjustments of those (a semi-join here, in Polars: in SQLite the join costs
more than reading the whole table).

A columnar driver opens its own connections, outside the caller's
transaction, so two things are guarded. Only a read-only session
(`billing.db.read_session`) is served this way: a write session must see its
own uncommitted rows. And the ledger version (`billing.audit.ledger_version`:
it changes on every commit) is read before and after the tables; if a write
came in between, the read is repeated, and after a few tries the caller's
session reads instead.

SQLite is read this way only outside the app's process. connectorx and ADBC
each carry their own copy of the SQLite library; a second copy in the process
that holds the app's `sqlite3` connections breaks SQLite's locking (POSIX
locks are per process: when the other copy closes the file it drops our
locks, and it deletes the WAL it believes nobody uses). Measured here: after a
connectorx read, a payment committed through SQLAlchemy was invisible to the
next reader and a new `sqlite3` connection got "disk I/O error"
(sqlite.org/howtocorrupt.html §2.2). So `load_ledger_fast` uses the columnar
drivers for PostgreSQL only; `read_ledger` still reads a SQLite file, for a
process that holds no other connection to it (the benchmark's child process),
and the app reads SQLite through `load_ledger_sqlite`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import polars as pl
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from billing.db import READ_ONLY
from billing.models import Adjustment, Allocation, AuditEntry, Customer, Invoice, InvoiceStatus
from billing.models import Payment as PaymentRow
from queries.ledger import SCHEMAS, LedgerFrames

log = logging.getLogger(__name__)

# A write between the two version reads makes the load start again; after this many
# tries (a ledger written to non-stop) the caller's own session reads instead.
TRIES = 3


class LoadMethod(StrEnum):
    """How the ledger travels from the database to Polars, fastest first."""

    CONNECTORX = "connectorx"
    ADBC = "adbc"
    SQLALCHEMY = "sqlalchemy"


# The measured order (BENCHMARKS.md): the first that works for a URL is used. On PostgreSQL
# ADBC took 0.45 s for 100k invoices where connectorx took 0.87 s (0.20 s of CPU against
# 0.31 s); on a SQLite file, read out of process, they are about even.
PREFERENCE: tuple[LoadMethod, ...] = (LoadMethod.ADBC, LoadMethod.CONNECTORX)

_MODULES = {
    (LoadMethod.CONNECTORX, "sqlite"): "connectorx",
    (LoadMethod.CONNECTORX, "postgresql"): "connectorx",
    (LoadMethod.ADBC, "sqlite"): "adbc_driver_sqlite",
    (LoadMethod.ADBC, "postgresql"): "adbc_driver_postgresql",
}


def ledger_statements() -> dict[str, Select]:
    """The five reads behind `LedgerFrames`, with the contract's column names.

    Allocations and adjustments are read whole and kept to posted invoices by
    `_posted_only`; everything else is as `load_ledger_frames` selects it.
    """
    return {
        "invoices": select(
            Invoice.id.label("invoice_id"),
            Invoice.invoice_number,
            Invoice.customer_id,
            Invoice.currency,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.total_minor,
        ).where(Invoice.status == InvoiceStatus.POSTED),
        "allocations": select(
            Allocation.payment_id,
            Allocation.invoice_id,
            Allocation.applied_date,
            Allocation.amount_minor,
        ),
        "adjustments": select(
            Adjustment.invoice_id, Adjustment.kind, Adjustment.date, Adjustment.amount_minor
        ),
        "payments": select(
            PaymentRow.id.label("payment_id"),
            PaymentRow.customer_id,
            PaymentRow.currency,
            PaymentRow.received_date,
            PaymentRow.amount_minor,
        ),
        "customers": select(
            Customer.id.label("customer_id"),
            Customer.customer_code,
            Customer.name.label("customer_name"),
            Customer.currency,
            Customer.payment_terms_days,
            Customer.credit_limit_minor,
        ),
    }


def _version_statement() -> Select:
    # `ledger_version` with named, never-null columns, so every driver types them the same.
    return select(
        func.count().label("entries"), func.coalesce(func.max(AuditEntry.id), 0).label("newest")
    )


# Where a columnar driver may share the process with the app's own connections.
IN_PROCESS_BACKENDS = frozenset({"postgresql"})


def fast_methods(url: str | URL, *, in_process: bool = True) -> tuple[LoadMethod, ...]:
    """The columnar methods installed here that can open `url`, in order of preference.

    A PostgreSQL server; with `in_process=False` (a process that holds no
    other connection to the file) also a SQLite file, not `:memory:` and
    without URL options. Anything else gets () and reads through SQLAlchemy.
    """
    backend = _backend(make_url(url))
    if backend is None or (in_process and backend not in IN_PROCESS_BACKENDS):
        return ()
    return tuple(
        method
        for method in PREFERENCE
        if importlib.util.find_spec(_MODULES[method, backend]) is not None
    )


def _backend(url: URL) -> str | None:
    name = url.get_backend_name()
    if name == "sqlite":
        file = url.database or ""
        if file in ("", ":memory:") or file.startswith("file:") or url.query:
            return None
        return "sqlite"
    if name == "postgresql":
        return "postgresql"
    return None


def driver_uri(url: str | URL) -> str:
    """`url` as the columnar drivers spell it: `sqlite:///abs/path` or a libpq URI."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return "sqlite://" + os.path.abspath(parsed.database or "")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def _sql(statement: Select, url: URL) -> str:
    """The statement as text for `url`'s database; its only literal is the status 'posted'."""
    dialect = _dialect(url)
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _dialect(url: URL) -> Any:
    if url.get_backend_name() == "sqlite":
        from sqlalchemy.dialects import sqlite  # noqa: PLC0415

        return sqlite.dialect()
    from sqlalchemy.dialects import postgresql  # noqa: PLC0415

    return postgresql.dialect()


def _conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame in the contract's dtypes: Int32 ids widened, SQLite's date text parsed."""
    schema = SCHEMAS[name]
    columns = []
    for column, dtype in schema.items():
        values = pl.col(column)
        if dtype == pl.Date() and frame.schema[column] == pl.String():
            values = values.str.to_date("%Y-%m-%d", strict=True)
        columns.append(values.cast(dtype, strict=True))
    return frame.select(columns)


def _posted_only(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Allocations and adjustments of posted invoices only, as the repository's join keeps them."""
    posted = frames["invoices"].select("invoice_id")
    for name in ("allocations", "adjustments"):
        frames[name] = frames[name].join(posted, on="invoice_id", how="semi", maintain_order="left")
    return frames


Reader = Callable[[str], pl.DataFrame]


@contextmanager
def _reader(method: LoadMethod, url: URL) -> Iterator[Reader]:
    """A function from SQL text to a DataFrame, over one connection where the driver has them."""
    uri = driver_uri(url)
    if method is LoadMethod.CONNECTORX:

        def read_cx(query: str) -> pl.DataFrame:
            return pl.read_database_uri(query, uri, engine="connectorx")

        yield read_cx
        return
    if method is LoadMethod.ADBC:
        if url.get_backend_name() == "sqlite":
            import adbc_driver_sqlite.dbapi as adbc  # noqa: PLC0415

            connection = adbc.connect(uri.removeprefix("sqlite://"))
        else:
            import adbc_driver_postgresql.dbapi as adbc_pg  # noqa: PLC0415

            connection = adbc_pg.connect(uri)
        try:

            def read_adbc(query: str) -> pl.DataFrame:
                return pl.read_database(query, connection)

            yield read_adbc
        finally:
            connection.rollback()
            connection.close()
        return
    raise ValueError(f"{method} is not a columnar method")


def read_ledger(url: str | URL, *, method: LoadMethod | str, workers: int = 2) -> LedgerFrames:
    """The posted ledger at `url` read with one columnar `method`, as it is now.

    For SQLite, only in a process with no other connection to the file (module
    docstring). No version guard (see `load_ledger_fast`): for the benchmark and the tests,
    which compare the methods on a ledger nobody writes to. Driver errors pass
    through. `workers` is how many tables connectorx reads at once.
    """
    frames, _ = _read(make_url(url), LoadMethod(method), workers=workers)
    return LedgerFrames.from_frames(frames)


def _read(url: URL, method: LoadMethod, *, workers: int) -> tuple[dict[str, pl.DataFrame], bool]:
    """The five frames and whether the ledger version stayed the same while they were read.

    connectorx releases the GIL and opens a connection per query, so its tables
    are read on `workers` threads (measured at 1M invoices on 2 cores: 1.5 s
    instead of 2.8 s); ADBC reads them one after another on its one connection.
    """
    statements = {name: _sql(statement, url) for name, statement in ledger_statements().items()}
    version = _sql(_version_statement(), url)
    with _reader(method, url) as read:
        before = read(version).rows()
        if method is LoadMethod.CONNECTORX and workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                raw = dict(zip(statements, pool.map(read, statements.values()), strict=True))
        else:
            raw = {name: read(query) for name, query in statements.items()}
        after = read(version).rows()
    frames = {name: _conform(name, frame) for name, frame in raw.items()}
    return _posted_only(frames), before == after


def load_ledger_fast(session: Session, *, workers: int = 2) -> LedgerFrames | None:
    """The posted ledger through the fastest columnar driver, or None to read with `session`.

    None when the session may hold uncommitted writes (it is not a
    `read_session`), when no columnar driver can open its database, when
    every driver failed (logged), or when the ledger kept changing during
    `TRIES` reads: the caller then reads through SQLAlchemy, which is always right.
    """
    engine: Engine = session.get_bind().engine
    url = engine.url
    methods = fast_methods(url)
    if not methods or not session.connection().get_execution_options().get(READ_ONLY):
        return None
    for method in methods:
        try:
            for _ in range(TRIES):
                frames, steady = _read(url, method, workers=workers)
                if steady:
                    return LedgerFrames.from_frames(frames)
            log.info("the ledger changed during %d reads; reading through SQLAlchemy", TRIES)
            return None
        except _driver_errors() as error:
            log.warning(
                "reading the ledger with %s failed (%s); trying the next way", method, error
            )
    return None


def load_ledger_sqlite(session: Session) -> LedgerFrames | None:
    """On SQLite, the ledger through the session's own `sqlite3` connection; else None.

    The same statements as the columnar drivers, in the caller's transaction
    (so a write session sees its own rows), but fetched as plain tuples with
    the dates left as text for Polars to parse: SQLAlchemy's per-value date
    processing and row objects were half the time. 8.8 s → 4.4 s at a million
    invoices (BENCHMARKS.md); SQLite's own scan of the three tables is ~1 s.
    """
    if session.get_bind().dialect.name != "sqlite":
        return None
    dbapi = session.connection().connection.driver_connection
    if dbapi is None:
        return None
    url = make_url("sqlite://")
    frames = {}
    for name, statement in ledger_statements().items():
        cursor = dbapi.execute(_sql(statement, url))
        try:
            rows = cursor.fetchall()
        finally:
            cursor.close()
        as_fetched = {
            column: pl.String() if dtype == pl.Date() else dtype
            for column, dtype in SCHEMAS[name].items()
        }
        frames[name] = _conform(name, pl.DataFrame(rows, schema=as_fetched, orient="row"))
    return LedgerFrames.from_frames(_posted_only(frames))


def _driver_errors() -> tuple[type[BaseException], ...]:
    """What a driver raises for a database it cannot read: connectorx's RuntimeError, ADBC's own."""
    errors: list[type[BaseException]] = [
        OSError,
        RuntimeError,
        ValueError,
        pl.exceptions.PolarsError,
    ]
    if importlib.util.find_spec("adbc_driver_manager") is not None:
        import adbc_driver_manager  # noqa: PLC0415

        errors.append(adbc_driver_manager.Error)
    return tuple(errors)

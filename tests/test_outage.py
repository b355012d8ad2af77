"""The database going away and coming back: a clear message, no traceback, recovery without restart.

PostgreSQL goes away through a small TCP proxy in front of the real server
(the server itself is never stopped): closing the proxy and cutting its open
connections is what a network cut or a server restart looks like to the app.
SQLite goes away by renaming its folder (tests run as root, so `chmod 000`
would not stop anyone).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session, write_session
from billing.errors import Conflict, WriteConflict
from billing.models import Setting
from billing.schema import upgrade_database
from tests.app_support import log_in, metric, point_app_at, seed_app_ledger, start
from tests.conftest import BACKENDS, POSTGRES_URL
from ui.db import DatabaseGone, forget_engines
from ui.outage import MESSAGE, database_guard, is_outage

ROOT = Path(__file__).resolve().parents[1]
BILLING = ROOT / ".venv" / "bin" / "billing"
POSTGRES_ONLY = [p for p in BACKENDS if p != "sqlite"]


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a server; `close()` refuses new and cuts open connections."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Listen (again, on the same port once one was chosen) and forward every connection."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def close(self) -> None:
        """Stop listening and cut every forwarded connection, as a dead server would."""
        if self._listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not,
            # and Linux would keep accepting connections on the still-busy socket.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def proxied_postgres(
    postgres_schema: str, monkeypatch: pytest.MonkeyPatch, clear_streamlit_caches: None
) -> Iterator[TcpProxy]:
    """A seeded PostgreSQL schema that the app reaches only through a `TcpProxy`."""
    seed_app_ledger(postgres_schema)
    real = make_url(postgres_schema)
    proxy = TcpProxy((real.host or "127.0.0.1", real.port or 5432))
    proxy.open()
    through_proxy = real.set(host="127.0.0.1", port=proxy.port)
    point_app_at(monkeypatch, through_proxy.render_as_string(hide_password=False))
    yield proxy
    proxy.close()
    forget_engines()  # close the app's pool before the schema is dropped


def shows_outage(at: AppTest) -> bool:
    return [e.value for e in at.error] == [MESSAGE] and not at.exception


def assert_overview_with_data(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == ["Overview"]
    # `app_db`'s ledger: 1,234.50 + 99.00 posted − 200.00 paid = 1,133.50 receivable.
    assert metric(at, "AR") == "$1,133.50"


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="BILLING_TEST_POSTGRES_URL not set")
def test_postgres_outage_shows_a_message_then_recovers_without_restart(
    proxied_postgres: TcpProxy,
) -> None:
    at = log_in(start(), "clerk")
    assert_overview_with_data(at)

    proxied_postgres.close()
    at.run()
    assert shows_outage(at)
    at.run()  # still away: the same message again, still no error
    assert shows_outage(at)

    proxied_postgres.open()
    at.run()
    assert_overview_with_data(at)  # same session, same process: still logged in


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="BILLING_TEST_POSTGRES_URL not set")
def test_postgres_outage_before_login_shows_the_message(proxied_postgres: TcpProxy) -> None:
    proxied_postgres.close()
    at = start()
    assert shows_outage(at)
    assert not at.text_input  # no login form drawn over an unreachable user table
    proxied_postgres.open()
    at.run()
    assert not at.exception
    assert [w.label for w in at.text_input] == ["Username", "Password"]


def test_sqlite_folder_gone_shows_a_message_and_is_not_recreated(
    app_db: str, tmp_path: Path
) -> None:
    at = log_in(start(), "clerk")
    assert_overview_with_data_sqlite(at)

    moved = tmp_path.with_name(tmp_path.name + "-moved")
    tmp_path.rename(moved)
    # An SQLite connection already open keeps working on a moved file; the app
    # meets the missing file when it next opens one, as after its pool closed.
    forget_engines()
    at.run()
    assert shows_outage(at)
    assert not tmp_path.exists(), "an empty database was created in place of the missing one"

    moved.rename(tmp_path)
    at.run()
    assert_overview_with_data_sqlite(at)


def assert_overview_with_data_sqlite(at: AppTest) -> None:
    """`app_db`'s ledger: 1,234.50 + 99.00 posted − 200.00 paid = 1,133.50 receivable."""
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.title] == ["Overview"]
    assert metric(at, "AR") == "$1,133.50"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(f"postgresql://postgres@127.0.0.1:{closed_port()}/test", id="postgres-down"),
        pytest.param("sqlite:////nonexistent-folder/billing.db", id="sqlite-missing"),
    ],
)
def test_cli_check_against_an_unreachable_database_is_one_line(url: str) -> None:
    result = subprocess.run(
        [str(BILLING), "check"],
        env={**os.environ, "BILLING_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout


# --- what counts as an outage: connection failures only ---------------------------------
# Built by hand (no server needed): psycopg's errors carry their SQLSTATE as a class
# attribute, and SQLAlchemy wraps them as it would from a live connection.


def wrapped(original: Exception, *, invalidated: bool = False) -> DBAPIError:
    """`original` as SQLAlchemy raises it from a statement (class chosen as SQLAlchemy does)."""
    base = psycopg.Error if isinstance(original, psycopg.Error) else sqlite3.Error
    error = DBAPIError.instance("SELECT 1", {}, original, base, connection_invalidated=invalidated)
    assert isinstance(error, DBAPIError)
    return error


OUTAGES = {
    "connection-failure-08006": psycopg.errors.ConnectionFailure("server closed the connection"),
    "cannot-connect-08001": psycopg.errors.SqlclientUnableToEstablishSqlconnection("no"),
    "admin-shutdown-57P01": psycopg.errors.AdminShutdown("terminating connection"),
    "crash-shutdown-57P02": psycopg.errors.CrashShutdown("crash"),
    "cannot-connect-now-57P03": psycopg.errors.CannotConnectNow("the database is starting up"),
    "refused-no-sqlstate": psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused'
    ),
    "closed-no-sqlstate": psycopg.OperationalError(
        "consuming input failed: server closed the connection unexpectedly"
    ),
    "interface-error": psycopg.InterfaceError("the connection is closed"),
    "sqlite-cannot-open": sqlite3.OperationalError("unable to open database file"),
    "sqlite-disk-io": sqlite3.OperationalError("disk I/O error"),
}

NOT_OUTAGES = {
    "deadlock-40P01": psycopg.errors.DeadlockDetected("deadlock detected"),
    "serialization-40001": psycopg.errors.SerializationFailure("could not serialize access"),
    "query-canceled-57014": psycopg.errors.QueryCanceled("canceling statement due to timeout"),
    "lock-not-available-55P03": psycopg.errors.LockNotAvailable("could not obtain lock"),
    "sqlite-locked": sqlite3.OperationalError("database is locked"),
    "integrity-23505": psycopg.errors.UniqueViolation("duplicate key"),
    "syntax-42601": psycopg.errors.SyntaxError("syntax error"),
}


@pytest.mark.parametrize("original", OUTAGES.values(), ids=OUTAGES.keys())
def test_connection_failures_are_an_outage(original: Exception) -> None:
    assert is_outage(wrapped(original))


@pytest.mark.parametrize("original", NOT_OUTAGES.values(), ids=NOT_OUTAGES.keys())
def test_a_database_that_answers_with_an_error_is_no_outage(original: Exception) -> None:
    error = wrapped(original)
    # psycopg 3 files these four under OperationalError: the old check took them for an outage.
    if isinstance(original, psycopg.OperationalError | sqlite3.OperationalError):
        assert isinstance(error, OperationalError)
    assert not is_outage(error)


def test_an_invalidated_connection_and_a_gone_database_are_outages() -> None:
    assert is_outage(wrapped(psycopg.errors.QueryCanceled("cut"), invalidated=True))
    assert is_outage(DatabaseGone("sqlite:////nowhere/billing.db"))
    assert not is_outage(ValueError("not a database error"))


def test_the_guard_reraises_a_deadlock_and_keeps_the_engines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forgotten: list[bool] = []
    monkeypatch.setattr("ui.outage.forget_engines", lambda: forgotten.append(True))
    deadlock = wrapped(psycopg.errors.DeadlockDetected("deadlock detected"))
    with pytest.raises(OperationalError) as raised, database_guard():
        raise deadlock
    assert raised.value is deadlock
    assert forgotten == []  # the shared engine is not thrown away


def test_the_message_does_not_promise_what_a_cut_commit_cannot() -> None:
    assert "was not recorded at all" not in MESSAGE
    assert "check once the database is back" in MESSAGE


# --- PostgreSQL's "try again" errors become a Conflict a clerk reads ---------------------


@pytest.mark.parametrize(
    "original",
    [
        psycopg.errors.DeadlockDetected("deadlock detected"),
        psycopg.errors.SerializationFailure("could not serialize access"),
    ],
    ids=["40P01", "40001"],
)
def test_write_session_maps_deadlock_and_serialization_failure(
    sqlite_engine: Engine, original: Exception
) -> None:
    with pytest.raises(WriteConflict) as raised, write_session(sqlite_engine):
        raise wrapped(original)
    assert isinstance(raised.value, Conflict)
    assert str(raised.value) == "Another change got in the way; nothing was saved. Try again."


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="BILLING_TEST_POSTGRES_URL not set")
def test_a_real_deadlock_is_a_conflict_and_the_other_writer_commits(
    postgres_schema: str,
) -> None:
    """Two writers update settings rows a and b in opposite order; PostgreSQL aborts one.

    Each thread updates its first row, waits until both have, then updates the
    other: a lock cycle. After deadlock_timeout (1 s by default) the server
    aborts one with 40P01; the other then gets its lock and commits.
    """
    engine = make_engine(postgres_schema)
    upgrade_database(engine)
    with write_session(engine) as s:
        s.add_all([Setting(key="a", value="0"), Setting(key="b", value="0")])
    both_hold_one = threading.Barrier(2, timeout=10)
    outcomes: dict[str, BaseException | None] = {}

    def writer(name: str, first: str, second: str) -> None:
        try:
            with write_session(engine) as s:
                s.execute(update(Setting).where(Setting.key == first).values(value=name))
                both_hold_one.wait()
                s.execute(update(Setting).where(Setting.key == second).values(value=name))
            outcomes[name] = None
        except BaseException as error:
            outcomes[name] = error

    threads = [
        threading.Thread(target=writer, args=("one", "a", "b")),
        threading.Thread(target=writer, args=("two", "b", "a")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    errors = [e for e in outcomes.values() if e is not None]
    assert len(outcomes) == 2 and len(errors) == 1, outcomes
    assert isinstance(errors[0], WriteConflict), repr(errors[0])
    assert isinstance(errors[0].__cause__, OperationalError)
    assert errors[0].__cause__.orig.sqlstate == "40P01"  # type: ignore[union-attr]
    (winner,) = [name for name, e in outcomes.items() if e is None]
    with read_session(engine) as s:
        values = {key: value for key, value in s.execute(select(Setting.key, Setting.value))}
    assert values == {"a": winner, "b": winner}  # the winner's two updates, nothing of the other
    engine.dispose()

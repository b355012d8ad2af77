"""The database going away: one calm message instead of a traceback, and recovery on its own.

`app.py` runs everything that touches the database (the credentials, the
login, the page) inside `database_guard()`. When the server stops answering
(PostgreSQL down or unreachable, an SQLite file that vanished), the guard
shows `MESSAGE`, writes the details to the server log only, drops the cached
engines so the next run connects afresh, and reruns the app every
`RETRY_SECONDS` until the database answers. No process restart is needed.

Only connection failures count (`is_outage`). psycopg 3 makes a deadlock, a
serialization failure, a cancelled statement or a lock timeout an
`OperationalError` too; those come from a database that is answering, so
they are not shown as an outage and the shared engine is not thrown away
(writes turn the first two into `billing.errors.WriteConflict`).

Every write is one transaction, so nothing is ever half-saved. What the
message cannot promise is whether the last click went through: a connection
cut during COMMIT leaves the client not knowing whether the server committed.
So it asks the clerk to check the last thing saved once the database is back.
`st.stop()` and `st.rerun()` raise Streamlit's own control-flow exceptions,
which are not database errors, so they pass through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ui.db import DatabaseGone, forget_engines

log = logging.getLogger(__name__)

RETRY_SECONDS = 10
MESSAGE = (
    "**The database is not reachable right now.** Billing Office is retrying on its own "
    f"every {RETRY_SECONDS} seconds, or click *Try again*. Everything saved before this "
    "message is in the ledger, and nothing is ever half-saved. If you were saving "
    "something when this appeared, check once the database is back whether it is there "
    "before entering it again."
)
_SHOWN_AT = "_database_outage_shown_at"


# SQLSTATEs of a lost or refused connection: class 08 (connection exception) and
# admin_shutdown, crash_shutdown, cannot_connect_now (the server stopping or starting).
_SHUTDOWN_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})
# What libpq and psycopg say, without a SQLSTATE, when there is no connection at all.
_CONNECTION_LOST = (
    "connection refused",
    "server closed the connection",
    "could not connect",
    "connection timed out",
    "connection is lost",
    "connection is closed",
    "connection to server",
    "could not translate host name",
    "no route to host",
    "network is unreachable",
    "terminating connection",
    "consuming input failed",
    "ssl syscall error",
)
# SQLite: the file (or its folder) cannot be opened, or the disk fails under it.
_SQLITE_GONE_NAMES = ("SQLITE_CANTOPEN", "SQLITE_IOERR")
_SQLITE_GONE = ("unable to open database file", "disk i/o error")


def is_outage(error: BaseException) -> bool:
    """True when the database is not answering, False when it answered with an error.

    An outage is a connection failure: a connection SQLAlchemy found dead
    (`connection_invalidated`), any `InterfaceError`, an `OperationalError`
    whose SQLSTATE is class 08 or a server shutdown (57P01-57P03), or without a
    SQLSTATE says the connection was refused or lost; SQLite's "unable to open
    database file" and disk I/O errors; and `DatabaseGone`. A deadlock (40P01),
    serialization failure (40001), cancelled statement (57014) or lock timeout
    (55P03) is the database answering; `database_guard` re-raises those.
    """
    if isinstance(error, DatabaseGone):
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if not isinstance(error, OperationalError):
        return False
    original = error.orig
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith("08") or sqlstate in _SHUTDOWN_SQLSTATES
    if str(getattr(original, "sqlite_errorname", "")).startswith(_SQLITE_GONE_NAMES):
        return True
    text = str(original).lower()
    return any(phrase in text for phrase in _CONNECTION_LOST + _SQLITE_GONE)


@contextmanager
def database_guard() -> Iterator[None]:
    """Run the app; if the database is unreachable, show `MESSAGE` instead of the error."""
    try:
        yield
    except (DBAPIError, DatabaseGone) as error:
        if not is_outage(error):
            raise
        log.warning("database unreachable: %s", error, exc_info=error)
        forget_engines()
        show_outage()


def show_outage() -> None:
    """The message, a *Try again* button (a click reruns), and the automatic retry."""
    st.error(MESSAGE, icon=":material/cloud_off:")
    st.button("Try again", key="database_outage_retry", icon=":material/refresh:")
    st.session_state[_SHOWN_AT] = time.monotonic()
    _retry_later()


@st.fragment(run_every=RETRY_SECONDS)
def _retry_later() -> None:
    # Runs once with the message (too soon: nothing to do), then on the timer,
    # when it reruns the whole app; if the database is still away, the app
    # shows the message again with a fresh timestamp.
    shown_at = st.session_state.get(_SHOWN_AT)
    if shown_at is not None and time.monotonic() - shown_at >= RETRY_SECONDS:
        del st.session_state[_SHOWN_AT]
        st.rerun(scope="app")

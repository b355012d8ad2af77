"""Server-side login sessions: what lets a logout or a password change revoke a cookie.

streamlit-authenticator 0.4.2's re-login cookie is a signed JWT holding only
the username and its expiry time; on its own it stays good until that time,
whatever happens on the server. So every login also writes a `user_sessions`
row, and a cookie (or a live browser session) counts only while its row
exists, is not revoked, has not expired and names an active user. The row's
id is derived from the cookie (`cookie_session_id`), because the cookie
cannot carry anything else.

Plain data functions: each takes the session keyword-only and an injectable
`now`, so tests move the clock instead of waiting. `start_session` and
`end_session` are the whole login and logout writes, each one transaction, so
the UI never builds a transaction of its own; on a busy SQLite ledger they
raise `billing.errors.LedgerBusy` like every other write.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from typing import cast

from sqlalchemy import CursorResult, Engine, select, update
from sqlalchemy.orm import Session

from billing.clock import as_utc, utc_now
from billing.db import write_session
from billing.models import User, UserSession
from billing.validation import normalise_username

# Why a session was revoked, as stored in `user_sessions.revoked_reason`.
LOGOUT = "logout"
PASSWORD_RESET = "password_reset"
DEACTIVATED = "deactivated"


def new_session_id() -> str:
    """A random session id (64 hex characters), for logins without a cookie to tie to."""
    return secrets.token_hex(32)


def cookie_session_id(*, key: str, username: str, expires_at: float) -> str:
    """The session id a re-login cookie stands for: HMAC-SHA256 of its username and expiry.

    The cookie's expiry is a timestamp with microseconds taken at login, so two
    logins never share it; keying the HMAC with the cookie key means nobody who
    lacks the key can compute an id, and rotating the key ends every session.
    """
    message = f"{normalise_username(username)}\n{expires_at!r}".encode()
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).hexdigest()


def open_session(
    session: Session,
    *,
    session_id: str,
    username: str,
    expires_at: dt.datetime,
    now: dt.datetime | None = None,
) -> UserSession:
    """Record a login that may be resumed until `expires_at` (the cookie's own expiry)."""
    record = UserSession(
        id=session_id,
        username=normalise_username(username),
        created_at=now or utc_now(),
        expires_at=as_utc(expires_at),
    )
    session.add(record)
    session.flush()
    return record


def session_is_valid(
    session: Session, *, session_id: str, username: str, now: dt.datetime | None = None
) -> bool:
    """Whether this session may go on; anything doubtful (an unknown id included) is False.

    Valid means: recorded for `username`, not revoked, not expired, and its user still active.
    """
    row = session.execute(
        select(UserSession.username, UserSession.expires_at, UserSession.revoked_at, User.active)
        .join(User, User.username == UserSession.username)
        .where(UserSession.id == session_id)
    ).first()
    if row is None or row.username != normalise_username(username):
        return False
    if row.revoked_at is not None or not row.active:
        return False
    return as_utc(row.expires_at) > as_utc(now or utc_now())


def revoke_session(
    session: Session, *, session_id: str, reason: str = LOGOUT, now: dt.datetime | None = None
) -> bool:
    """End one session (logout); True when it was live until now."""
    result = cast(
        CursorResult[tuple[()]],
        session.execute(
            update(UserSession)
            .where(UserSession.id == session_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now or utc_now(), revoked_reason=reason)
        ),
    )
    return bool(result.rowcount)


def revoke_user_sessions(
    session: Session, *, username: str, reason: str, now: dt.datetime | None = None
) -> int:
    """End every live session of `username` (password reset, deactivation); how many ended.

    Runs in the caller's transaction, so the sessions end exactly when the
    change that ends them is committed.
    """
    result = cast(
        CursorResult[tuple[()]],
        session.execute(
            update(UserSession)
            .where(
                UserSession.username == normalise_username(username),
                UserSession.revoked_at.is_(None),
            )
            .values(revoked_at=now or utc_now(), revoked_reason=reason)
        ),
    )
    return int(result.rowcount)


def start_session(
    engine: Engine,
    *,
    cookie_key: str,
    username: str,
    expires_at: float,
    now: dt.datetime | None = None,
) -> str:
    """Record the login a re-login cookie stands for, in its own transaction; the session id.

    `expires_at` is the cookie's own expiry (a POSIX timestamp, as the cookie
    holds it), so the row ends exactly when the cookie does.
    """
    session_id = cookie_session_id(key=cookie_key, username=username, expires_at=expires_at)
    with write_session(engine) as session:
        open_session(
            session,
            session_id=session_id,
            username=username,
            expires_at=dt.datetime.fromtimestamp(expires_at, dt.UTC),
            now=now,
        )
    return session_id


def end_session(
    engine: Engine, *, session_id: str, reason: str = LOGOUT, now: dt.datetime | None = None
) -> bool:
    """Revoke one session (a logout) in its own transaction; True when it was live until now."""
    with write_session(engine) as session:
        return revoke_session(session, session_id=session_id, reason=reason, now=now)

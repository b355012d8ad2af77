"""Server-side login sessions: open, valid until expiry, revoked by logout, password reset
and deactivation; the cookie's HMAC id; the login and logout writes on a busy ledger.
Both backends; the clock is injected."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
from sqlalchemy import Engine, select, update

from billing.clock import as_utc
from billing.db import read_session, write_session
from billing.errors import LedgerBusy
from billing.models import User, UserSession
from billing.roles import Role
from billing.services import add_user, reset_password, set_user_active, set_user_role
from billing.sessions import (
    DEACTIVATED,
    LOGOUT,
    PASSWORD_RESET,
    cookie_session_id,
    end_session,
    new_session_id,
    open_session,
    revoke_session,
    revoke_user_sessions,
    session_is_valid,
    start_session,
)
from tests.busy_ledger import short_busy_timeout, write_lock_held
from tests.conftest import ADMIN

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
TWELVE_HOURS = dt.timedelta(hours=12)
KEY = "a-test-cookie-key-of-at-least-32-bytes"


def users(engine: Engine) -> Engine:
    with write_session(engine) as s:
        add_user(s, actor=ADMIN, username="boss", role=Role.ADMIN, password="long enough")
        add_user(s, actor=ADMIN, username="carol", role=Role.CLERK, password="long enough")
    return engine


def login(engine: Engine, username: str, session_id: str | None = None) -> str:
    session_id = session_id or new_session_id()
    with write_session(engine) as s:
        open_session(
            s, session_id=session_id, username=username, expires_at=T0 + TWELVE_HOURS, now=T0
        )
    return session_id


def valid(engine: Engine, session_id: str, username: str = "carol", at: dt.datetime = T0) -> bool:
    with read_session(engine) as s:
        return session_is_valid(s, session_id=session_id, username=username, now=at)


def reasons(engine: Engine) -> dict[str, str | None]:
    with read_session(engine) as s:
        return {r.id: r.revoked_reason for r in s.scalars(select(UserSession))}


def test_a_session_is_valid_until_it_expires(engine: Engine) -> None:
    sid = login(users(engine), "Carol")  # stored lower-case, as logins are
    assert valid(engine, sid, at=T0)
    assert valid(engine, sid, at=T0 + TWELVE_HOURS - dt.timedelta(seconds=1))
    assert not valid(engine, sid, at=T0 + TWELVE_HOURS)  # expires_at itself is too late
    assert not valid(engine, sid, username="boss")  # a session is one user's only
    assert not valid(engine, "no-such-session")


def test_logout_revokes_that_session_only(engine: Engine) -> None:
    users(engine)
    phone, laptop = login(engine, "carol"), login(engine, "carol")
    with write_session(engine) as s:
        assert revoke_session(s, session_id=phone, now=T0) is True
        assert revoke_session(s, session_id=phone, now=T0) is False  # already revoked
    assert not valid(engine, phone)
    assert valid(engine, laptop)
    assert reasons(engine)[phone] == LOGOUT


def test_revoking_a_user_ends_all_their_sessions_and_no_one_elses(engine: Engine) -> None:
    users(engine)
    carols = [login(engine, "carol"), login(engine, "carol")]
    boss = login(engine, "boss")
    with write_session(engine) as s:
        assert revoke_user_sessions(s, username="carol", reason=PASSWORD_RESET, now=T0) == 2
    assert [valid(engine, sid) for sid in carols] == [False, False]
    assert valid(engine, boss, username="boss")


def test_a_password_reset_revokes_the_users_sessions(engine: Engine) -> None:
    sid = login(users(engine), "carol")
    with write_session(engine) as s:
        reset_password(s, actor=ADMIN, username="carol", password="brand new pw")
    assert not valid(engine, sid)
    assert reasons(engine)[sid] == PASSWORD_RESET


def test_a_failed_password_reset_revokes_nothing(engine: Engine) -> None:
    sid = login(users(engine), "carol")
    try:
        with write_session(engine) as s:
            reset_password(s, actor=ADMIN, username="carol", password="brand new pw")
            raise RuntimeError("the transaction fails after the reset")
    except RuntimeError:
        pass
    assert valid(engine, sid)  # one transaction: no reset, no revocation


def test_deactivation_revokes_and_reactivation_does_not_bring_sessions_back(
    engine: Engine,
) -> None:
    sid = login(users(engine), "carol")
    with write_session(engine) as s:
        set_user_active(s, actor=ADMIN, username="carol", active=False)
    assert not valid(engine, sid)
    assert reasons(engine)[sid] == DEACTIVATED
    with write_session(engine) as s:
        set_user_active(s, actor=ADMIN, username="carol", active=True)
    assert not valid(engine, sid)


def test_an_inactive_user_has_no_valid_session_even_unrevoked(engine: Engine) -> None:
    sid = login(users(engine), "carol")
    with write_session(engine) as s:
        s.execute(update(User).where(User.username == "carol").values(active=False))
    assert not valid(engine, sid)


def test_a_role_change_keeps_the_session(engine: Engine) -> None:
    # The role is read from the users table on every run, so the session need not end.
    sid = login(users(engine), "carol")
    with write_session(engine) as s:
        set_user_role(s, actor=ADMIN, username="carol", role=Role.MANAGER)
    assert valid(engine, sid)


def test_the_cookie_id_is_an_hmac_of_the_tokens_username_and_expiry() -> None:
    # streamlit-authenticator 0.4.2's cookie: an HS256 JWT of {"username", "exp_date"}.
    exp_date = 1795424400.123456
    token = jwt.encode({"username": "carol", "exp_date": exp_date}, KEY, algorithm="HS256")
    decoded = jwt.decode(token, KEY, algorithms=["HS256"])
    from_cookie = cookie_session_id(
        key=KEY, username=decoded["username"], expires_at=decoded["exp_date"]
    )
    assert from_cookie == cookie_session_id(key=KEY, username="carol", expires_at=exp_date)
    assert len(from_cookie) == 64  # fits user_sessions.id
    # Another login (a later expiry), another user or another key: another session.
    assert from_cookie != cookie_session_id(key=KEY, username="carol", expires_at=exp_date + 1e-6)
    assert from_cookie != cookie_session_id(key=KEY, username="boss", expires_at=exp_date)
    assert from_cookie != cookie_session_id(key=KEY + "x", username="carol", expires_at=exp_date)


def test_start_session_records_the_cookies_login_and_end_session_revokes_it(
    engine: Engine,
) -> None:
    users(engine)
    expires_at = (T0 + TWELVE_HOURS).timestamp()  # the cookie's exp_date: 2026-11-23 21:00 UTC
    sid = start_session(engine, cookie_key=KEY, username=" Carol", expires_at=expires_at, now=T0)
    assert sid == cookie_session_id(key=KEY, username="carol", expires_at=expires_at)
    with read_session(engine) as s:
        row = s.get(UserSession, sid)
        assert row is not None
        assert (row.username, as_utc(row.expires_at)) == ("carol", T0 + TWELVE_HOURS)
    assert valid(engine, sid)
    assert end_session(engine, session_id=sid, now=T0) is True
    assert end_session(engine, session_id=sid, now=T0) is False  # already ended
    assert reasons(engine) == {sid: LOGOUT}
    assert not valid(engine, sid)


def test_on_a_busy_ledger_start_and_end_session_raise_ledger_busy_and_write_nothing(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = login(users(sqlite_engine), "carol")
    short_busy_timeout(monkeypatch, sqlite_engine)
    expires_at = (T0 + TWELVE_HOURS).timestamp()
    with write_lock_held(sqlite_engine.url.database or ""):
        with pytest.raises(LedgerBusy, match="nothing was saved"):
            start_session(
                sqlite_engine, cookie_key=KEY, username="boss", expires_at=expires_at, now=T0
            )
        with pytest.raises(LedgerBusy, match="nothing was saved"):
            end_session(sqlite_engine, session_id=sid, now=T0)
    assert reasons(sqlite_engine) == {sid: None}  # no new session, the old one not revoked
    assert valid(sqlite_engine, sid)

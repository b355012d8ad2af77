"""Failed logins, counted in the database: a growing pause, then a lock that ends by itself.

The count lives in `login_failures`, one row per typed username (known or
not), so every server process behind a load balancer sees the same count and
a restart forgets nothing. The row is keyed by a SHA-256 digest of the
username (`throttle_key`), never by the text itself: people often type their
password into the username box, and that must not be kept. Counting is one
write transaction that first makes sure the row exists (an insert that
ignores a conflict) and then reads it `FOR UPDATE` (on SQLite the
transaction's `BEGIN IMMEDIATE` serialises it), so two processes failing at
the same moment both count. The same transaction deletes the rows that count
for nothing any more (window over, lock ended), so the table stays small.

After `max_failures` failures within `window_seconds` of the first one, the
username is locked for `lock_seconds`. The lock is time-boxed on purpose: a
permanent one (what streamlit-authenticator's `max_login_attempts` does) would
let anyone lock a colleague out for good by typing wrong passwords. Failures
while locked neither count nor extend the lock. Each lock is written to the
audit log in the same transaction as the count that caused it, naming the
username only when it is a user's (the audit log is permanent); any other
typed text is recorded as `UNKNOWN_USERNAME`.

`attempt_login` is the whole password check: an unknown username, an inactive
user and a locked one all run one bcrypt check (against `DUMMY_PASSWORD_HASH`
when there is no real hash), so the answer takes as long as a wrong password
for a real user and says nothing about which usernames exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Engine, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billing import audit
from billing.clock import as_utc, utc_now
from billing.db import read_session, write_session
from billing.models import LoginFailure, User
from billing.roles import Actor, Role
from billing.services._common import locked
from billing.services.users import verify_password
from billing.validation import normalise_username

# The audit log names the login form as the actor of a lock (nobody is logged in yet);
# the role is required by `Actor` but unused by the audit row.
LOGIN_FORM = Actor("login-form", Role.FINANCE)
LOGIN_LOCKED = "login_locked"
# What a lock's audit row names when the typed username is nobody's (it may be a password).
UNKNOWN_USERNAME = "(unknown username)"

# bcrypt of a random string nobody knows, at the cost factor `hash_password` uses
# (bcrypt's default, 12): checked when there is no real hash, so the answer takes
# as long as for a real user. `tests/test_login_throttle.py` keeps the costs equal.
DUMMY_PASSWORD_HASH = "$2b$12$BnEIHYP1k/lNmVg5WAFXPuW/cA3AqdDxCbglu2r5eccz8UDFXaQv2"


@dataclass(frozen=True)
class LockPolicy:
    """`max_failures` failures within `window_seconds` lock the username for `lock_seconds`."""

    max_failures: int = 5
    window_seconds: float = 15 * 60
    lock_seconds: float = 15 * 60


DEFAULT_POLICY = LockPolicy()


@dataclass(frozen=True)
class FailureCount:
    """A username's failures after one more, and until when it is locked (None: not locked)."""

    failures: int
    locked_until: dt.datetime | None
    newly_locked: bool


@dataclass(frozen=True)
class LoginAttempt:
    """The outcome of one login attempt; `failures` is 0 after a success."""

    ok: bool
    username: str
    failures: int
    locked_until: dt.datetime | None


def throttle_key(username: str) -> str:
    """The row a typed username is counted under: the SHA-256 hex digest of its login form.

    Normalised as logins are (`normalise_username`), so " Clerk" and "clerk"
    share one count. Only the digest is stored (64 hex characters, the width of
    `login_failures.username`): it matches the next identical attempt without
    keeping what was typed, which is often a password typed in the wrong box.
    """
    typed = normalise_username(username).encode("utf-8", "surrogatepass")
    return hashlib.sha256(typed).hexdigest()


def delay_seconds(failures: int, *, step: float, cap: float) -> float:
    """The pause before answering a failed login: `step` per failure so far, at most `cap`."""
    return max(0.0, min(step * failures, cap))


def seconds_locked(session: Session, *, username: str, now: dt.datetime | None = None) -> float:
    """How long `username` stays locked from `now`; 0 when it may try to log in."""
    until = as_utc(
        session.scalar(
            select(LoginFailure.locked_until).where(LoginFailure.username == throttle_key(username))
        )
    )
    if until is None:
        return 0.0
    return max(0.0, (until - (now or utc_now())).total_seconds())


def _ensure_row(session: Session, key: str, now: dt.datetime) -> None:
    """Insert the username's row unless it exists; a concurrent insert waits, never fails."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(LoginFailure)
        .values(username=key, failures=0, first_failed_at=now, last_failed_at=now)
        .on_conflict_do_nothing(index_elements=["username"])
    )


def record_failure(
    session: Session,
    *,
    username: str,
    policy: LockPolicy = DEFAULT_POLICY,
    now: dt.datetime | None = None,
) -> FailureCount:
    """Count one failed login for `username`; locks it (and audits the lock) at the limit.

    Call it inside `write_session`: the row is read under a lock, so every
    process's failures add up. Every call also purges the rows that count for
    nothing any more (`_purge_expired`).
    """
    key = throttle_key(username)
    now = now or utc_now()
    count = _count_failure(session, key=key, username=username, policy=policy, now=now)
    _purge_expired(session, keep=key, policy=policy, now=now)
    return count


def _count_failure(
    session: Session, *, key: str, username: str, policy: LockPolicy, now: dt.datetime
) -> FailureCount:
    """One more failure on the row `key`: a new window, a lock at the limit, or none if locked."""
    _ensure_row(session, key, now)
    row = session.scalars(locked(select(LoginFailure).where(LoginFailure.username == key))).one()
    locked_until = as_utc(row.locked_until)
    row.last_failed_at = now
    if locked_until is not None and locked_until > now:
        return FailureCount(row.failures, locked_until, newly_locked=False)
    first = as_utc(row.first_failed_at)
    window_over = first is None or (now - first).total_seconds() >= policy.window_seconds
    if locked_until is not None or window_over:
        # The lock ran out, or the window since the first failure did: start again.
        row.failures, row.first_failed_at, row.locked_until = 0, now, None
    before = {"failures": row.failures, "locked_until": None}
    row.failures += 1
    if row.failures < policy.max_failures:
        session.flush()
        return FailureCount(row.failures, None, newly_locked=False)
    until = now + dt.timedelta(seconds=policy.lock_seconds)
    row.locked_until = until
    session.flush()
    audit.record(
        session,
        actor=LOGIN_FORM,
        action=LOGIN_LOCKED,
        entity="user",
        entity_id=_audit_name(session, username),
        before=before,
        after={"failures": row.failures, "locked_until": until.isoformat()},
    )
    return FailureCount(row.failures, until, newly_locked=True)


def _audit_name(session: Session, username: str) -> str:
    """The username as a lock's audit row may keep it: a user's login, else `UNKNOWN_USERNAME`.

    Any user counts, active or not: a lock on a deactivated login is worth
    knowing about, and its name is already in the users table.
    """
    login = normalise_username(username)
    exists = session.scalar(select(User.id).where(User.username == login)) is not None
    return login if exists else UNKNOWN_USERNAME


def _purge_expired(session: Session, *, keep: str, policy: LockPolicy, now: dt.datetime) -> None:
    """Delete, in one statement, every other row whose window has passed and whose lock ended.

    Such a row counts for nothing (that username's next failure starts again at
    1), so without this the table would keep a row for every username ever
    mistyped. Rows another transaction holds are skipped (PostgreSQL's `SKIP
    LOCKED`; SQLite runs one writer at a time), so the purge never waits for,
    nor deadlocks with, a concurrent login; the next failure purges them.
    """
    window_start = now - dt.timedelta(seconds=policy.window_seconds)
    expired = (
        select(LoginFailure.username)
        .where(
            LoginFailure.username != keep,
            LoginFailure.first_failed_at <= window_start,
            or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now),
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(LoginFailure)
        .where(LoginFailure.username.in_(expired))
        .execution_options(synchronize_session=False)
    )


def clear_failures(session: Session, *, username: str, now: dt.datetime | None = None) -> None:
    """A correct login forgets the username's failures (a running lock is kept)."""
    now = now or utc_now()
    row = session.get(LoginFailure, throttle_key(username), with_for_update=True)
    if row is None:
        return
    locked_until = as_utc(row.locked_until)
    if locked_until is None or locked_until <= now:
        session.execute(delete(LoginFailure).where(LoginFailure.username == row.username))


def attempt_login(
    engine: Engine,
    *,
    username: str,
    password: str,
    policy: LockPolicy = DEFAULT_POLICY,
    now: dt.datetime | None = None,
) -> LoginAttempt:
    """Check a typed username and password against the active users, counting a failure.

    Exactly one bcrypt check runs whatever the username: a real hash for an
    active user, `DUMMY_PASSWORD_HASH` otherwise; and a locked username fails
    even with the right password. The check runs between two short
    transactions, never while holding the write lock. The caller adds the
    growing pause (`delay_seconds`) before it answers. On a busy SQLite ledger
    the second transaction raises `LedgerBusy` and nothing is counted.
    """
    login = normalise_username(username)
    now = now or utc_now()
    with read_session(engine) as session:
        password_hash = session.scalar(
            select(User.password_hash).where(User.username == login, User.active.is_(True))
        )
        locked = seconds_locked(session, username=login, now=now) > 0
    matched = verify_password(password, password_hash or DUMMY_PASSWORD_HASH)
    with write_session(engine) as session:
        if matched and password_hash is not None and not locked:
            clear_failures(session, username=login, now=now)
            return LoginAttempt(True, login, 0, None)
        count = record_failure(session, username=login, policy=policy, now=now)
    return LoginAttempt(False, login, count.failures, count.locked_until)

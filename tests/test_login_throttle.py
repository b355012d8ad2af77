"""Failed logins counted in the database: the window, the time-boxed lock, its audit row,
counting shared by several server processes, typed text kept only as a digest, the purge
of spent rows, a busy ledger, and equal timing for unknown, inactive and locked usernames.

The clock is injected (`now=`), so a 15-minute lock is tested without waiting.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
import threading
import time

import bcrypt
import pytest
from sqlalchemy import Engine, event, func, select

import billing.login_throttle as throttle_module
from billing.db import make_engine, read_session, write_session
from billing.errors import LedgerBusy
from billing.login_throttle import (
    DUMMY_PASSWORD_HASH,
    UNKNOWN_USERNAME,
    LockPolicy,
    attempt_login,
    clear_failures,
    delay_seconds,
    record_failure,
    seconds_locked,
    throttle_key,
)
from billing.models import AuditEntry, LoginFailure
from billing.roles import Role
from billing.schema import upgrade_database
from billing.services import add_user, set_user_active
from billing.services.users import hash_password
from tests.busy_ledger import short_busy_timeout, write_lock_held
from tests.conftest import ADMIN

POLICY = LockPolicy(max_failures=3, window_seconds=60, lock_seconds=300)
T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def fail(engine: Engine, username: str, seconds: float, policy: LockPolicy = POLICY) -> int:
    """One failed login at T0 + `seconds`; the username's count after it."""
    with write_session(engine) as session:
        return record_failure(session, username=username, policy=policy, now=at(seconds)).failures


def locked_for(engine: Engine, username: str, seconds: float) -> float:
    with read_session(engine) as session:
        return seconds_locked(session, username=username, now=at(seconds))


def test_the_third_failure_within_the_window_locks_for_the_lock_time(engine: Engine) -> None:
    assert fail(engine, "Clerk", 0) == 1
    assert fail(engine, "clerk", 10) == 2
    assert fail(engine, " CLERK ", 20) == 3  # the same username, however typed: locked
    assert locked_for(engine, "clerk", 20) == 300
    assert locked_for(engine, "clerk", 20 + 299) == 1
    assert locked_for(engine, "clerk", 20 + 300) == 0  # time-boxed, never permanent


def test_failures_while_locked_neither_count_nor_extend_the_lock(engine: Engine) -> None:
    for second in (0, 1, 2):
        fail(engine, "clerk", second)  # locked at 2 until 302
    assert fail(engine, "clerk", 100) == 3
    assert locked_for(engine, "clerk", 100) == 202  # 302 - 100: the lock did not move


def stored_keys(engine: Engine) -> set[str]:
    with read_session(engine) as session:
        return set(session.scalars(select(LoginFailure.username)))


def test_the_lock_is_audited_in_the_same_transaction(engine: Engine) -> None:
    for second in (0, 1, 2):
        fail(engine, "mallory", second)  # an unknown username is locked like a real one
    with read_session(engine) as session:
        entries = session.scalars(select(AuditEntry)).all()
    # "mallory" is nobody's login (it might have been a password): the audit log never keeps it.
    assert [(e.actor, e.action, e.entity, e.entity_id) for e in entries] == [
        ("login-form", "login_locked", "user", UNKNOWN_USERNAME)
    ]
    # Locked at T0 + 2 s for 300 s: until 09:05:02.
    assert json.loads(entries[0].before or "") == {"failures": 2, "locked_until": None}
    assert json.loads(entries[0].after or "") == {
        "failures": 3,
        "locked_until": "2026-11-23T09:05:02+00:00",
    }


def test_a_lock_names_a_user_active_or_not_and_nothing_else(engine: Engine) -> None:
    with write_session(engine) as session:
        add_user(session, actor=ADMIN, username="carol", role=Role.CLERK, password="carol-pw-123")
        add_user(session, actor=ADMIN, username="dave", role=Role.CLERK, password="dave-pw-1234")
        set_user_active(session, actor=ADMIN, username="dave", active=False)
    counts = {
        typed: [fail(engine, typed, second) for second in (0, 1, 2)]
        for typed in (" Carol", "DAVE", "carol-pw-123")  # the last: a password in the wrong box
    }
    # Known or not, the same count and the same lock (locked at T0 + 2 s until + 300 s).
    assert counts == {" Carol": [1, 2, 3], "DAVE": [1, 2, 3], "carol-pw-123": [1, 2, 3]}
    assert [locked_for(engine, typed, 2) for typed in counts] == [300, 300, 300]
    with read_session(engine) as session:
        named = session.scalars(
            select(AuditEntry.entity_id)
            .where(AuditEntry.action == "login_locked")
            .order_by(AuditEntry.id)
        ).all()
    assert named == ["carol", "dave", UNKNOWN_USERNAME]


def test_the_typed_username_is_stored_only_as_its_digest(engine: Engine) -> None:
    typed = " My-Secret-PW! "  # a password typed into the username box
    for second in (0, 1, 2):
        fail(engine, typed, second)
    # Trimmed and lower-cased, then SHA-256: 64 hex characters, the column's width.
    digest = hashlib.sha256(b"my-secret-pw!").hexdigest()
    assert throttle_key(typed) == throttle_key("my-secret-pw!") == digest
    assert stored_keys(engine) == {digest}
    assert len(digest) == 64
    assert locked_for(engine, typed, 2) == 300  # the digest still finds the lock
    with read_session(engine) as session:
        stored = [
            *session.execute(select(LoginFailure.__table__)).all(),
            *session.execute(select(AuditEntry.__table__)).all(),
        ]
    assert stored  # one failures row and one audit row were read
    assert not any("secret" in str(value).lower() for row in stored for value in row)


def test_each_failure_purges_rows_whose_window_and_lock_are_over(engine: Engine) -> None:
    # POLICY: a 60 s window, 3 failures lock for 300 s.
    fail(engine, "old", 0)  # window 0..60, never locked
    for second in (0, 1, 2):
        fail(engine, "locked", second)  # locked from 2 until 302
    fail(engine, "recent", 50)  # window 50..110
    fail(engine, "someone", 60)
    # At 60: "old"'s window is over (60 - 0 >= 60) and it has no lock: deleted. "locked"'s
    # window is over too, but its lock runs until 302: kept. "recent" is 10 s in: kept.
    assert stored_keys(engine) == {throttle_key(n) for n in ("locked", "recent", "someone")}
    fail(engine, "another", 302)
    # At 302: the lock has ended (302 <= 302) and every window is over (302 - 60 >= 60).
    assert stored_keys(engine) == {throttle_key("another")}
    assert fail(engine, "locked", 303) == 1  # purged means forgotten, as an ended lock is


def test_the_purge_is_one_delete_statement(engine: Engine) -> None:
    statements: list[str] = []

    def remember(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", remember)
    try:
        fail(engine, "clerk", 0)
    finally:
        event.remove(engine, "before_cursor_execute", remember)
    deletes = [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 1
    assert "login_failures" in deletes[0]


def test_failures_outside_the_window_are_forgotten(engine: Engine) -> None:
    fail(engine, "clerk", 0)
    fail(engine, "clerk", 30)
    # 60 s after the first failure the window is over: this one starts a new count.
    assert fail(engine, "clerk", 60) == 1
    assert locked_for(engine, "clerk", 60) == 0


def test_a_success_clears_the_count_and_other_users_are_untouched(engine: Engine) -> None:
    fail(engine, "clerk", 0)
    fail(engine, "clerk", 1)
    with write_session(engine) as session:
        clear_failures(session, username="clerk", now=at(2))
    assert fail(engine, "clerk", 3) == 1
    for second in (4, 5, 6):
        fail(engine, "manager", second)
    assert locked_for(engine, "manager", 6) == 300
    assert locked_for(engine, "clerk", 6) == 0


def test_after_a_lock_expires_the_count_starts_again(engine: Engine) -> None:
    for second in (0, 1, 2):
        fail(engine, "clerk", second)
    assert locked_for(engine, "clerk", 302) == 0
    assert fail(engine, "clerk", 302) == 1  # one failure, not a fourth


def test_two_server_processes_share_one_count_and_one_lock(database_url: str) -> None:
    # Two engines on one database stand for two app servers behind a load balancer.
    first, second = make_engine(database_url), make_engine(database_url)
    try:
        upgrade_database(first)
        policy = LockPolicy(max_failures=5, window_seconds=900, lock_seconds=900)
        counts = [fail(engine, "clerk", i, policy) for i, engine in enumerate([first, second] * 2)]
        assert counts == [1, 2, 3, 4]
        assert fail(second, "clerk", 4, policy) == 5  # the fifth, on either server, locks
        assert locked_for(first, "clerk", 4) == 900
        assert locked_for(second, "clerk", 4) == 900
    finally:
        first.dispose()
        second.dispose()


def test_concurrent_failures_from_two_processes_are_all_counted(database_url: str) -> None:
    # 2 engines x 4 threads x 5 failures = 40 failures racing on one new row.
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        upgrade_database(engines[0])
        policy = LockPolicy(max_failures=1000, window_seconds=900, lock_seconds=900)
        start = threading.Barrier(8)

        def hammer(engine: Engine) -> None:
            start.wait()
            for _ in range(5):
                with write_session(engine) as session:
                    record_failure(session, username="clerk", policy=policy, now=T0)

        threads = [threading.Thread(target=hammer, args=(e,)) for e in engines for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with read_session(engines[0]) as session:
            assert session.scalar(select(LoginFailure.failures)) == 40
            assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1
    finally:
        for engine in engines:
            engine.dispose()


def test_concurrent_failures_on_many_usernames_all_count_while_spent_rows_are_purged(
    database_url: str,
) -> None:
    # 12 spent rows; then 2 engines x 3 threads, each failing its own username 4 times an
    # hour later, every failure also purging: nothing waits for ever, nothing is lost.
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        upgrade_database(engines[0])
        for number in range(12):
            fail(engines[0], f"old-{number}", 0)
        policy = LockPolicy(max_failures=1000, window_seconds=60, lock_seconds=300)
        start = threading.Barrier(6)
        errors: list[BaseException] = []

        def hammer(engine: Engine, username: str) -> None:
            start.wait()
            try:
                for _ in range(4):
                    fail(engine, username, 3600, policy)
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)

        names = [f"user-{n}" for n in range(6)]
        threads = [
            threading.Thread(target=hammer, args=(engines[n % 2], name))
            for n, name in enumerate(names)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        with read_session(engines[0]) as session:
            rows = session.execute(select(LoginFailure.username, LoginFailure.failures)).all()
        counts = {username: failures for username, failures in rows}
        assert counts == {throttle_key(name): 4 for name in names}  # the 12 old rows are gone
    finally:
        for engine in engines:
            engine.dispose()


def test_a_busy_ledger_refuses_the_attempt_and_counts_nothing(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with write_session(sqlite_engine) as session:
        add_user(session, actor=ADMIN, username="clerk", role=Role.CLERK, password="clerk-pw-123")
    short_busy_timeout(monkeypatch, sqlite_engine)
    with (
        write_lock_held(sqlite_engine.url.database or ""),
        pytest.raises(LedgerBusy, match="busy with another long change"),
    ):
        attempt_login(sqlite_engine, username="clerk", password="nope", policy=POLICY, now=at(0))
    assert stored_keys(sqlite_engine) == set()
    # Once the lock is released the same attempt is the first failure, not the second.
    again = attempt_login(
        sqlite_engine, username="clerk", password="nope", policy=POLICY, now=at(1)
    )
    assert again.failures == 1


def test_the_pause_grows_one_second_a_failure_up_to_five() -> None:
    assert [delay_seconds(n, step=1.0, cap=5.0) for n in range(8)] == [0, 1, 2, 3, 4, 5, 5, 5]


def test_attempt_login_accepts_the_right_password_and_counts_the_rest(engine: Engine) -> None:
    with write_session(engine) as session:
        add_user(session, actor=ADMIN, username="clerk", role=Role.CLERK, password="clerk-pw-123")
    wrong = attempt_login(engine, username="clerk", password="nope", policy=POLICY, now=at(0))
    assert (wrong.ok, wrong.failures) == (False, 1)
    right = attempt_login(engine, username=" Clerk", password="clerk-pw-123", now=at(1))
    assert (right.ok, right.username, right.failures) == (True, "clerk", 0)
    for second in (2, 3, 4):
        attempt_login(engine, username="clerk", password="nope", policy=POLICY, now=at(second))
    locked = attempt_login(
        engine, username="clerk", password="clerk-pw-123", policy=POLICY, now=at(5)
    )
    assert (locked.ok, locked.locked_until) == (False, at(4 + 300))  # right password, still locked
    after = attempt_login(
        engine, username="clerk", password="clerk-pw-123", policy=POLICY, now=at(304)
    )
    assert after.ok


def test_the_dummy_hash_costs_what_a_real_hash_costs() -> None:
    # "$2b$12$…": the cost factor sits between the second and third "$".
    assert DUMMY_PASSWORD_HASH.split("$")[2] == hash_password("any-password").split("$")[2]
    assert bcrypt.checkpw(b"", DUMMY_PASSWORD_HASH.encode()) is False


TIMING_TRIALS = 20
# Who types "wrong-password": a real user, nobody, a deactivated user, a locked user.
TIMED_LOGINS = {
    "wrong password": "clerk",
    "unknown user": "nobody-here",
    "inactive user": "gone",
    "locked user": "locked",
}


def timing_users(engine: Engine) -> None:
    """`clerk` active, `gone` deactivated, `locked` active but locked for an hour."""
    with write_session(engine) as session:
        for username in ("clerk", "gone", "locked"):
            add_user(
                session, actor=ADMIN, username=username, role=Role.CLERK, password="right-pw-123"
            )
        set_user_active(session, actor=ADMIN, username="gone", active=False)
    with write_session(engine) as session:
        record_failure(
            session, username="locked", policy=LockPolicy(max_failures=1, lock_seconds=3600)
        )


def login_timings(engine: Engine, trials: int = TIMING_TRIALS) -> dict[str, list[float]]:
    """Seconds per `attempt_login` for each of `TIMED_LOGINS`, interleaved (one of each kind
    per trial) so every kind sees the same machine load."""
    policy = LockPolicy(max_failures=10_000)  # no new lock during the measurement
    timings: dict[str, list[float]] = {kind: [] for kind in TIMED_LOGINS}
    for _ in range(trials):
        for kind, username in TIMED_LOGINS.items():
            started = time.perf_counter()
            attempt_login(engine, username=username, password="wrong-password", policy=policy)
            timings[kind].append(time.perf_counter() - started)
    return timings


def test_unknown_inactive_and_locked_usernames_take_as_long_as_a_wrong_password(
    sqlite_engine: Engine,
) -> None:
    timing_users(sqlite_engine)
    # The locked user really is locked: even the right password is refused.
    assert not attempt_login(sqlite_engine, username="locked", password="right-pw-123").ok
    timings = login_timings(sqlite_engine)
    wrong = statistics.median(timings["wrong password"])
    ratios = {kind: statistics.median(seconds) / wrong for kind, seconds in timings.items()}
    for kind, seconds in timings.items():
        print(
            f"{kind}: n={len(seconds)} median {statistics.median(seconds):.4f} s "
            f"(min {min(seconds):.4f}, max {max(seconds):.4f}); ratio {ratios[kind]:.3f}"
        )
    assert all(0.7 <= ratio <= 1.4 for ratio in ratios.values()), ratios


def test_the_timing_test_notices_a_missing_dummy_check(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the dummy bcrypt an unknown or inactive username answers at once: the ratio
    # falls far below 0.7.
    timing_users(sqlite_engine)
    real_verify = throttle_module.verify_password
    monkeypatch.setattr(
        throttle_module,
        "verify_password",
        lambda password, hashed: hashed != DUMMY_PASSWORD_HASH and real_verify(password, hashed),
    )
    timings = login_timings(sqlite_engine, trials=3)
    wrong = statistics.median(timings["wrong password"])
    assert statistics.median(timings["unknown user"]) / wrong < 0.7
    assert statistics.median(timings["inactive user"]) / wrong < 0.7

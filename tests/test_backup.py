"""`billing backup` / `billing restore`: consistent copies while the app writes, careful restores.

SQLite goes through its online backup API both ways; PostgreSQL is sent to
`pg_dump` / `pg_restore`. Every refusal leaves the live database as it was.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner, Result

import billing.backup
from billing.audit import ledger_version
from billing.backup import restore_database
from billing.checks import check_ledger
from billing.cli import app
from billing.db import make_engine, read_session, write_session
from billing.models import AuditEntry, LoginFailure, Payment, UserSession
from tests.conftest import ADMIN, POSTGRES_URL
from tests.helpers import customer, invoice, pay

D = dt.date(2026, 2, 1)


def cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env={"BILLING_DATABASE_URL": url})


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[-1]


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def payments(engine: Engine) -> int:
    with read_session(engine) as s:
        return s.scalar(select(func.count()).select_from(Payment)) or 0


def sound(path: Path) -> list[str]:
    """`integrity_check` and `foreign_key_check` of a file, and `billing check`'s findings."""
    with sqlite3.connect(path) as raw:
        problems = [row[0] for row in raw.execute("PRAGMA integrity_check")]
        problems += [str(row) for row in raw.execute("PRAGMA foreign_key_check")]
    assert problems == ["ok"], problems
    copy = make_engine(f"sqlite:///{path}")
    with read_session(copy) as s:
        findings = check_ledger(s)
    copy.dispose()
    return findings


@pytest.fixture
def books(sqlite_engine: Engine) -> Engine:
    """C001 owing 40 invoices of 100.00 (4,000.00 in all), issued 2026-01-01."""
    customer(sqlite_engine, "C001")
    for n in range(40):
        invoice(sqlite_engine, f"INV-{n:03d}", "C001", dt.date(2026, 1, 1), 10_000)
    return sqlite_engine


def test_backup_while_payments_are_posted_is_a_sound_snapshot(
    books: Engine, tmp_path: Path
) -> None:
    """200 payments of 15.00 (3,000.00 ≤ 4,000.00 owed) post in a thread during three backups."""
    stop = threading.Event()
    posted: list[int] = []

    def post_many() -> None:
        for n in range(200):
            pay(books, "C001", f"P{n:03d}", D, 1_500)
            posted.append(n)
        stop.set()

    writer = threading.Thread(target=post_many)
    writer.start()
    copies = []
    while not stop.is_set() and len(copies) < 3:
        if posted:  # the writer is under way
            target = tmp_path / f"copy{len(copies)}.db"
            committed = len(posted)
            result = cli(url_of(books), "backup", str(target))
            assert result.exit_code == 0, result.stderr
            copies.append((committed, target))
    writer.join()
    assert len(copies) == 3, "the writer finished before three backups were taken"
    for posted_before, target in copies:
        assert sound(target) == []
        assert not target.with_name(target.name + "-wal").exists()  # one self-contained file
        copied = payments(make_engine(f"sqlite:///{target}"))
        assert posted_before <= copied <= 200
    assert payments(make_engine(f"sqlite:///{copies[0][1]}")) < 200, "first copy was not mid-way"
    assert payments(books) == 200


def test_backup_refuses_to_overwrite_without_yes(books: Engine, tmp_path: Path) -> None:
    target = tmp_path / "backup.db"
    target.write_text("yesterday's backup")
    line = one_error_line(cli(url_of(books), "backup", str(target)))
    assert line == f"error: {target} already exists; add --yes to replace it"
    assert target.read_text() == "yesterday's backup"
    result = cli(url_of(books), "backup", str(target), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "backed up 40 invoices, 0 payments" in result.stdout


def test_restore_brings_back_the_backup_and_keeps_the_replaced_ledger(
    books: Engine, tmp_path: Path
) -> None:
    url = url_of(books)
    pay(books, "C001", "P-KEPT", D, 2_500)
    backup = tmp_path / "monday.db"
    assert cli(url, "backup", str(backup)).exit_code == 0
    pay(books, "C001", "P-LATER", D, 700)  # after the backup: gone once restored
    version_before = ledger_version_of(books)
    assert payments(books) == 2

    # The engine stays open, as a running app's would: it must see the restored rows.
    result = cli(url, "restore", str(backup), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "restored 40 invoices, 1 payments" in result.stdout
    assert result.stderr.splitlines()[-1] == (
        "warning: every login was ended (0 open sessions revoked); everyone must log in again"
    )
    with read_session(books) as s:
        refs = s.scalars(select(Payment.payment_reference)).all()
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert check_ledger(s) == []
    assert refs == ["P-KEPT"]
    assert last is not None and last.action == "restore_backup" and last.entity_id == "monday.db"
    # A cache keyed on the old (count, newest id) can never match the restored ledger.
    version_after = ledger_version_of(books)
    assert version_after != version_before and version_after[1] > version_before[1]

    kept = sorted(tmp_path.glob("billing.before-restore-*.db"))
    assert len(kept) == 1
    assert sound(kept[0]) == []
    assert payments(make_engine(f"sqlite:///{kept[0]}")) == 2  # P-KEPT and P-LATER
    with sqlite3.connect(books.url.database or "") as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def ledger_version_of(engine: Engine) -> tuple[int, int]:
    with read_session(engine) as s:
        return ledger_version(s)


def test_restore_without_yes_says_what_it_would_do_and_changes_nothing(
    books: Engine, tmp_path: Path
) -> None:
    url = url_of(books)
    backup = tmp_path / "b.db"
    assert cli(url, "backup", str(backup)).exit_code == 0
    pay(books, "C001", "P1", D, 100)
    line = one_error_line(cli(url, "restore", str(backup)))
    assert line.startswith(f"error: {backup} holds 40 invoices, 0 payments (schema revision ")
    assert line.endswith("(a copy of it is kept); add --yes to go ahead")
    assert payments(books) == 1
    assert not list(tmp_path.glob("*.before-restore-*"))


def damaged_copy(source: Path, target: Path) -> Path:
    """A backup with one byte flipped inside the invoices table's root page."""
    data = bytearray(source.read_bytes())
    with sqlite3.connect(source) as raw:
        root = raw.execute("SELECT rootpage FROM sqlite_master WHERE name = 'invoices'").fetchone()
        page_size = raw.execute("PRAGMA page_size").fetchone()[0]
    offset = (root[0] - 1) * page_size
    data[offset] = 0xFF  # the b-tree page type byte: 0xFF is no valid type
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p, _b: text_file(p), "not an SQLite database"),
        (lambda p, _b: other_sqlite_database(p), "its tables are not ours"),
        (lambda p, b: damaged_copy(b, p), "is damaged"),
        (lambda p, b: bump_revision(b, p), "does not know (made by a newer version?)"),
        (lambda p, _b: p.with_name("missing.db"), "there is no file"),
    ],
    ids=["text-file", "other-sqlite", "damaged", "unknown-revision", "missing"],
)
def test_restore_refuses_what_is_not_a_sound_billing_backup(
    books: Engine, tmp_path: Path, make: object, expected: str
) -> None:
    url = url_of(books)
    good = tmp_path / "good.db"
    assert cli(url, "backup", str(good)).exit_code == 0
    pay(books, "C001", "P1", D, 100)
    candidate = make(tmp_path / "candidate.db", good)  # type: ignore[operator]
    line = one_error_line(cli(url, "restore", str(candidate), "--yes"))
    assert expected in line
    assert payments(books) == 1
    assert not list(tmp_path.glob("*.before-restore-*"))


def text_file(path: Path) -> Path:
    path.write_text("invoice_number,amount\nINV-1,100.00\n")
    return path


def other_sqlite_database(path: Path) -> Path:
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
    return path


def bump_revision(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    with sqlite3.connect(target) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    return target


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="BILLING_TEST_POSTGRES_URL not set")
@pytest.mark.parametrize(("command", "tool"), [("backup", "pg_dump"), ("restore", "pg_restore")])
def test_postgres_is_sent_to_its_own_tools(
    postgres_schema: str, tmp_path: Path, command: str, tool: str
) -> None:
    result = cli(postgres_schema, command, str(tmp_path / "ledger.dump"))
    line = one_error_line(result)
    assert line == (
        f"error: billing {command} works on the SQLite database; "
        f"for PostgreSQL use {tool} as printed above"
    )
    printed = result.stdout.strip()
    assert printed.startswith(f"{tool} ")
    assert str(tmp_path / "ledger.dump") in printed
    assert "'postgresql://" in printed  # libpq's URL form, no SQLAlchemy driver suffix
    assert "+psycopg" not in printed


def test_restore_while_payments_are_posted_leaves_a_sound_ledger(
    books: Engine, tmp_path: Path
) -> None:
    """A clerk keeps posting 15.00 payments through the restore; every one lands whole.

    The writer runs until the restore has finished and then posts five more, so
    the test does not depend on how long the CLI takes to start on a busy machine.
    """
    url = url_of(books)
    pay(books, "C001", "BEFORE", D, 1_500)
    backup = tmp_path / "b.db"
    assert cli(url, "backup", str(backup)).exit_code == 0
    restored = threading.Event()
    posted: list[str] = []

    def post_until_restored() -> None:
        after = 0
        while after < 5 and len(posted) < 10_000:
            reference = f"P{len(posted):05d}"
            pay(books, "C001", reference, D, 1_500)
            posted.append(reference)
            after += restored.is_set()

    writer = threading.Thread(target=post_until_restored)
    writer.start()
    while not posted:
        time.sleep(0.005)
    result = cli(url, "restore", str(backup), "--yes")
    restored.set()
    writer.join()
    assert result.exit_code == 0, result.stderr
    assert sound(Path(books.url.database or "")) == []
    with read_session(books) as s:
        refs = set(s.scalars(select(Payment.payment_reference)))
    # BEFORE came back with the backup; P00000, posted before the restore began,
    # went with the ledger it replaced; the five posted after it are there.
    assert "BEFORE" in refs
    assert "P00000" not in refs
    assert set(posted[-5:]) <= refs
    assert refs - {"BEFORE"} <= set(posted)


def test_restore_with_a_writer_loses_no_committed_payment(
    books: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every payment the writer saw committed is in the safety copy or in the restored ledger.

    The safety copy is slowed by 0.3 s, so that the writer (a 15.00 payment
    every few ms) is sure to try to post between it and the copy into the live
    file. Before the fix, those were separate steps and such a payment landed
    in neither; now the restore holds SQLite's write lock across both, so the
    writer waits and its payment lands on the restored ledger.
    """
    url = url_of(books)
    backup = tmp_path / "b.db"
    assert cli(url, "backup", str(backup)).exit_code == 0
    real_backup = billing.backup.backup_database

    def slow_safety_copy(*args: object, **kwargs: object) -> object:
        done = real_backup(*args, **kwargs)  # type: ignore[arg-type]
        time.sleep(0.3)
        return done

    monkeypatch.setattr(billing.backup, "backup_database", slow_safety_copy)
    committed: list[str] = []
    stop = threading.Event()

    def post_until_stopped() -> None:
        n = 0
        while not stop.is_set() and n < 400:
            pay(books, "C001", f"W{n:03d}", D, 500)  # 400 × 5.00 ≤ 4,000.00 owed
            committed.append(f"W{n:03d}")
            n += 1

    writer = threading.Thread(target=post_until_stopped)
    writer.start()
    while len(committed) < 5:
        time.sleep(0.005)
    restorer = make_engine(url)  # the CLI's own engine, as in `billing restore`
    done = restore_database(restorer, backup, actor=ADMIN)
    restorer.dispose()
    # A few payments after the restore: waited for, not slept for (a busy machine
    # once left the writer still waiting on the lock after a fixed 0.2 s).
    restored_at = len(committed)
    deadline = time.monotonic() + 30
    while len(committed) < restored_at + 3 and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    writer.join()
    with read_session(books) as s:
        live = set(s.scalars(select(Payment.payment_reference)))
    safety_engine = make_engine(f"sqlite:///{done.safety_copy}")
    with read_session(safety_engine) as s:
        safety = set(s.scalars(select(Payment.payment_reference)))
    safety_engine.dispose()
    lost = [ref for ref in committed if ref not in live | safety]
    assert lost == [], f"{len(lost)} committed payments in neither: {lost[:5]}"
    assert safety and live - safety, "the writer posted on both sides of the restore"
    assert sound(Path(books.url.database or "")) == []


def test_restore_logs_everyone_out_and_keeps_revoked_sessions_revoked(
    books: Engine, tmp_path: Path
) -> None:
    """A logout after the backup must not come back with it; nor may any other session."""
    url = url_of(books)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    with write_session(books) as s:
        s.add_all(
            [
                UserSession(id="kept-open", username="clerk", expires_at=later),
                UserSession(id="logged-out-later", username="manager", expires_at=later),
                LoginFailure(
                    username="clerk",
                    failures=4,
                    first_failed_at=dt.datetime.now(dt.UTC),
                    last_failed_at=dt.datetime.now(dt.UTC),
                ),
            ]
        )
    backup = tmp_path / "b.db"
    assert cli(url, "backup", str(backup)).exit_code == 0
    with write_session(books) as s:  # the manager logs out after the backup
        s.get_one(UserSession, "logged-out-later").revoked_at = dt.datetime.now(dt.UTC)
        s.get_one(UserSession, "logged-out-later").revoked_reason = "logout"
    result = cli(url, "restore", str(backup), "--yes")
    assert result.exit_code == 0, result.stderr
    # Both sessions were open in the backup: both revoked by the restore.
    assert result.stderr.splitlines()[-1] == (
        "warning: every login was ended (2 open sessions revoked); everyone must log in again"
    )
    with read_session(books) as s:
        sessions = {r.id: r for r in s.scalars(select(UserSession))}
        failures = s.scalar(select(func.count()).select_from(LoginFailure))
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert {k: (r.revoked_at is not None, r.revoked_reason) for k, r in sessions.items()} == {
        "kept-open": (True, "restore"),
        "logged-out-later": (True, "restore"),
    }
    revoked_at = sessions["kept-open"].revoked_at
    assert revoked_at is not None
    assert abs((revoked_at.replace(tzinfo=dt.UTC) - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert failures == 0
    assert last is not None and '"sessions_revoked": 2' in (last.after or "")

"""`billing backup` / `billing restore` for the SQLite database, through SQLite's online backup API.

Backup: `sqlite3.Connection.backup` copies the live database in one step,
inside one read transaction. Under WAL that read never blocks the app's
writers and sees one committed state, so the copy is consistent even while
clerks post payments (a copy made page by page in several steps would restart
whenever another connection wrote). The copy goes to a temporary file beside
the target, is checked (`integrity_check`), switched to a self-contained
rollback journal (no `-wal` file to forget), and only then renamed over the
target: a crash mid-backup never leaves a half-written backup under the
target's name.

Restore: the file must be a Billing Office database (its tables and an
Alembic revision this version knows) that passes `integrity_check` and
`foreign_key_check`. Then, in one write transaction on the live file
(`BEGIN IMMEDIATE`, so no other writer can get in from start to end):
1. a safety copy of the live ledger is taken beside it, with the backup API,
   by a second connection (a reader: it sees every committed write, and none
   can commit while the lock is held). The backup API cannot run from the
   connection holding the lock (SQLite answers SQLITE_LOCKED to a source
   connection in a write transaction, and Python retries that forever), nor
   write into it (a destination must have no open transaction), and
   `VACUUM INTO` refuses to run inside a transaction;
2. the live database's tables, indexes and triggers are dropped and made
   again from the backup's schema, and the rows copied across, through the
   backup attached read-only (plain SQL: allowed inside the transaction);
3. every login session is revoked (`revoked_reason = "restore"`) and every
   failed-login count cleared: the backup's session rows would otherwise
   bring back sessions revoked since it was taken (a logout, a password
   reset, a deactivation), so everyone logs in again;
4. commit. A write that was waiting for the lock lands on the restored ledger.
So every committed write is either in the safety copy or after the restore,
never in neither; and a crash at any step leaves the live ledger as it was.
Swapping files instead would be wrong while the app runs: its open
connections would keep using the old, unlinked file (an SQLite connection
holds the file it opened, not its name); this way they see the restored rows
on their next transaction. A backup made by an older version is then migrated
forward. One audit row (`restore_backup`) records who restored what, and the
ledger it replaced; its id is above every id the replaced ledger had, so the
app's caches, keyed on the audit log, cannot mistake the restored ledger for
one they saw before.

PostgreSQL has its own tools (`pg_dump`, `pg_restore`); `postgres_commands`
says which to run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import make_url

from billing.db import SQLITE_BUSY_TIMEOUT_MS, is_sqlite, write_session
from billing.errors import BillingError, PermissionDenied
from billing.models import AuditEntry, Invoice, Payment
from billing.roles import Actor, Role
from billing.schema import alembic_config, upgrade_database

SQLITE_HEADER = b"SQLite format 3\x00"
# `user_sessions.revoked_reason` of the sessions a restore ended.
RESTORE_REVOKED = "restore"
# How SQLAlchemy stores a timestamp in SQLite (naive UTC text), for the raw-SQL revocation.
# How SQLAlchemy writes a timestamp on SQLite, so rows written here read back in the app.
_SQLITE_TIMESTAMP = cast(
    Callable[[dt.datetime], str],
    sqlite_dialect.DATETIME().bind_processor(sqlite_dialect.dialect()),
)
# Tables whose presence says "this is a Billing Office database".
REQUIRED_TABLES = frozenset(
    {"alembic_version", "audit_log", "users", "customers", "invoices", "payments"}
)


class BackupError(BillingError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class DatabaseSummary:
    """What a database file holds, in the terms a clerk recognises."""

    revision: str
    invoices: int
    payments: int
    audit_rows: int
    max_audit_id: int

    def describe(self) -> str:
        """`3000 invoices, 2710 payments (schema revision 0002)`."""
        return (
            f"{self.invoices} invoices, {self.payments} payments (schema revision {self.revision})"
        )


@dataclass(frozen=True)
class BackupDone:
    """The result of `backup_database`."""

    path: Path
    size_bytes: int
    seconds: float
    summary: DatabaseSummary


@dataclass(frozen=True)
class RestoreDone:
    """The result of `restore_database`."""

    source: Path
    safety_copy: Path
    seconds: float
    restored: DatabaseSummary
    replaced: DatabaseSummary
    sessions_revoked: int


def sqlite_path(engine: Engine) -> Path:
    """The file of an SQLite engine; a clear refusal for anything else."""
    database = engine.url.database
    if not is_sqlite(engine) or not database or database == ":memory:":
        raise BackupError("backup and restore work on an SQLite database file only")
    return Path(database)


def backup_database(engine: Engine, target: Path | str, *, overwrite: bool = False) -> BackupDone:
    """Copy the live SQLite ledger to `target`, consistently, while the app keeps working."""
    source = sqlite_path(engine)
    target = Path(target)
    if not source.exists():
        raise BackupError(f"there is no database at {source}; nothing to back up")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists; add --yes to replace it")
    if target.resolve() == source.resolve():
        raise BackupError(f"{target} is the live database itself; choose another file")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    started = time.perf_counter()
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        _copy(source, partial)
        with _connect(partial) as copy:
            _require_sound(copy, partial)
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
            summary = _summary(copy, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupDone(target, target.stat().st_size, time.perf_counter() - started, summary)


def inspect_backup(path: Path | str) -> DatabaseSummary:
    """Check that `path` is a sound Billing Office database this version can restore."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"there is no file {path}")
    with path.open("rb") as file:
        if file.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not a Billing Office backup (not an SQLite database)")
    try:
        with _connect(path, read_only=True) as connection:
            tables = {
                row[0]
                for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            if not tables >= REQUIRED_TABLES:
                raise BackupError(
                    f"{path} is not a Billing Office backup (its tables are not ours)"
                )
            _require_sound(connection, path)
            summary = _summary(connection, path)
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is damaged or unreadable ({error}); do not use it") from error
    known = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    if summary.revision not in known:
        raise BackupError(
            f"{path} is at schema revision {summary.revision!r}, which this version of Billing "
            "Office does not know (made by a newer version?); restore it with that version"
        )
    return summary


def restore_database(engine: Engine, source: Path | str, *, actor: Actor) -> RestoreDone:
    """Replace the live ledger with the backup `source`, keeping a copy of what it replaces."""
    if actor.role is not Role.ADMIN:
        raise PermissionDenied("only an administrator may restore a backup")
    live = sqlite_path(engine)
    source = Path(source)
    if not live.exists():
        raise BackupError(f"there is no database at {live}; run billing init-db first")
    if source.resolve() == live.resolve():
        raise BackupError(f"{source} is the live database itself")
    started = time.perf_counter()
    restored = inspect_backup(source)
    safety = _safety_copy_path(live)
    with _connect(live) as writer:
        # ATTACH is refused inside a transaction, so it comes first.
        writer.execute("ATTACH DATABASE ? AS backup", (f"file:{source}?mode=ro",))
        try:
            writer.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as error:  # another writer held it past the timeout
            raise BackupError(
                "the ledger stayed busy with another change (a long import?); nothing was "
                "restored, try again in a minute"
            ) from error
        try:
            replaced = backup_database(engine, safety).summary
            _replace_contents(writer)
            revoked = _log_everyone_out(writer)
            writer.execute("COMMIT")
        except BaseException:
            if writer.in_transaction:  # not after a COMMIT that itself failed and ended it
                writer.execute("ROLLBACK")
            safety.unlink(missing_ok=True)
            raise
        writer.execute("DETACH DATABASE backup")
    engine.dispose()  # connections opened before the restore start afresh
    upgrade_database(engine)  # a backup from an older version is migrated forward
    _record_restore(
        engine, actor=actor, source=source, restored=restored, replaced=replaced, revoked=revoked
    )
    return RestoreDone(source, safety, time.perf_counter() - started, restored, replaced, revoked)


# Schema objects in the order they are made again: tables (then their rows), then the rest.
_REBUILD_ORDER = "CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END"


def _replace_contents(writer: sqlite3.Connection) -> None:
    """Make the live database (main) a copy of the attached backup, inside the caller's transaction.

    Foreign keys are off on this plain connection, so tables go and come in any
    order; triggers are made last, after the rows, as a migration would. SQLite's
    own tables (`sqlite_sequence`, `sqlite_stat1`) are not dropped, only refilled.
    """
    objects = writer.execute(
        "SELECT type, name FROM main.sqlite_master"
        " WHERE name NOT LIKE 'sqlite_%' AND type IN ('table', 'view', 'trigger')"
    ).fetchall()
    for kind, name in objects:
        if kind != "table":
            writer.execute(f'DROP {kind.upper()} IF EXISTS main."{name}"')
    for kind, name in objects:
        if kind == "table":
            writer.execute(f'DROP TABLE main."{name}"')
    schema = writer.execute(
        "SELECT type, name, sql FROM backup.sqlite_master"
        f" WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY {_REBUILD_ORDER}, rowid"
    ).fetchall()
    for kind, name, sql in schema:
        writer.execute(sql)  # unqualified CREATE: made in main, the first database
        if kind == "table":
            writer.execute(f'INSERT INTO main."{name}" SELECT * FROM backup."{name}"')
    own = {row[0] for row in writer.execute("SELECT name FROM backup.sqlite_master")}
    if "sqlite_sequence" in own:
        writer.execute("DELETE FROM main.sqlite_sequence")
        writer.execute("INSERT INTO main.sqlite_sequence SELECT * FROM backup.sqlite_sequence")
    version = writer.execute("PRAGMA backup.user_version").fetchone()[0]
    writer.execute(f"PRAGMA main.user_version = {int(version)}")


def _log_everyone_out(writer: sqlite3.Connection) -> int:
    """Revoke every open session and clear failed-login counts; return how many were revoked.

    A backup older than the sessions table (revision 0001) has none to revoke.
    Timestamps are written as SQLAlchemy writes them on SQLite, so the app reads them.
    """
    tables = {row[0] for row in writer.execute("SELECT name FROM main.sqlite_master")}
    revoked = 0
    if "user_sessions" in tables:
        now = _SQLITE_TIMESTAMP(dt.datetime.now(dt.UTC))
        revoked = writer.execute(
            "UPDATE user_sessions SET revoked_at = ?, revoked_reason = ? WHERE revoked_at IS NULL",
            (now, RESTORE_REVOKED),
        ).rowcount
    if "login_failures" in tables:
        writer.execute("DELETE FROM login_failures")
    return revoked


def _record_restore(
    engine: Engine,
    *,
    actor: Actor,
    source: Path,
    restored: DatabaseSummary,
    replaced: DatabaseSummary,
    revoked: int,
) -> None:
    with write_session(engine) as session:
        restored_max = session.scalar(select(func.max(AuditEntry.id))) or 0
        session.add(
            AuditEntry(
                id=max(restored_max, replaced.max_audit_id) + 1,
                actor=actor.name,
                action="restore_backup",
                entity="database",
                entity_id=source.name[:80],
                before=json.dumps(
                    {
                        "invoices": replaced.invoices,
                        "payments": replaced.payments,
                        "revision": replaced.revision,
                    },
                    sort_keys=True,
                ),
                after=json.dumps(
                    {
                        "file": source.name,
                        "sha256": _sha256(source),
                        "invoices": restored.invoices,
                        "payments": restored.payments,
                        "revision": restored.revision,
                        "sessions_revoked": revoked,
                    },
                    sort_keys=True,
                ),
            )
        )


def _safety_copy_path(live: Path) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = live.with_name(f"{live.stem}.before-restore-{stamp}{live.suffix}")
    n = 1
    while path.exists():  # two restores within one second
        n += 1
        path = live.with_name(f"{live.stem}.before-restore-{stamp}-{n}{live.suffix}")
    return path


def postgres_commands(url: str, file: str) -> tuple[str, str]:
    """The `pg_dump` and `pg_restore` commands for `url` (password left out), to print."""
    parsed = make_url(url).set(drivername="postgresql", password=None)
    target = parsed.render_as_string(hide_password=False)
    return (
        f"pg_dump --format=custom --file={file} '{target}'",
        f"pg_restore --clean --if-exists --no-owner --single-transaction "
        f"--dbname='{target}' {file}",
    )


def _copy(source: Path, target: Path) -> None:
    with _connect(source) as live, _connect(target) as copy:
        live.backup(copy)  # pages=-1: all in one step, one consistent snapshot


@contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection, closed on leaving `with` (sqlite3's own `with` only commits)."""
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}"
    connection = sqlite3.connect(
        uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None
    )
    try:
        yield connection
    finally:
        connection.close()


def _require_sound(connection: sqlite3.Connection, path: Path) -> None:
    problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged (integrity_check: {problems[0]}); do not use it")
    orphans = connection.execute("PRAGMA foreign_key_check").fetchall()
    if orphans:
        raise BackupError(f"{path} is damaged: {len(orphans)} rows point at rows that do not exist")


def _summary(connection: sqlite3.Connection, path: Path) -> DatabaseSummary:
    revisions = [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
    if len(revisions) != 1:
        raise BackupError(f"{path} has no single schema revision; it is not a usable backup")

    def count(table: str) -> int:
        return int(
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        )  # our own table names

    max_audit = connection.execute("SELECT max(id) FROM audit_log").fetchone()[0] or 0
    return DatabaseSummary(
        revisions[0],
        count(Invoice.__tablename__),
        count(Payment.__tablename__),
        count(AuditEntry.__tablename__),
        int(max_audit),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

"""`kill -9` mid-write leaves the ledger whole: an import all there or absent, every payment complete.

A child process writes through the same code as the app and the CLI (a CSV
import through `import_csv`, a loop of `post_payment` calls, each its own
`write_session`) and prints a line after each step. The test waits until the
child is part-way through, at a random point, and sends SIGKILL: no cleanup,
no rollback from the client, exactly like a power cut of the process. Then it
checks the database the way the next user would find it, and goes on with the
next trial on the same database (a ledger that has survived kills keeps
working).

Each test prints a summary line (`crash-safety …`) with how the trials landed
and how long they took; run with `-s` to see it.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from billing.checks import check_ledger
from billing.csv_import import import_csv
from billing.db import is_sqlite, read_session
from billing.models import Allocation, AuditEntry, Invoice, InvoiceLine, Payment
from tests.conftest import ADMIN

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 10
IMPORT_ROWS = 600  # ~1 s to import on SQLite, ~3 s on PostgreSQL (a savepoint per row), 2 cores
CUSTOMERS = 20
INVOICES_PER_CUSTOMER = 30
INVOICE_MINOR = 100_000  # 1,000.00
PAYMENT_MINOR = 35_000  # 350.00: spans one or two invoices, oldest first
MAX_KILL_AFTER = 150  # payments seen before the kill, at most
LOOP_LENGTH = MAX_KILL_AFTER + 10  # the loop never ends on its own before the kill
STEP_TIMEOUT = 120.0

# On SQLite the child's page cache is kept tiny (64 KiB), so the import's
# uncommitted pages spill into the WAL file long before the commit: the case
# where recovery must throw away frames that are already on disk.
IMPORT_CHILD = """
import sys
from sqlalchemy import event
from billing.cli import cli_actor
from billing.csv_import import import_csv
from billing.db import is_sqlite, make_engine

engine = make_engine()
if is_sqlite(engine):
    @event.listens_for(engine, "connect")
    def small_cache(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA cache_size = -64")

def progress(done, total):
    print(f"progress {done} {total}", flush=True)

report = import_csv(engine, actor=cli_actor(), kind="invoices", path=sys.argv[1],
                    progress=progress)
print(f"committed {report.created}", flush=True)
"""

POSTING_CHILD = """
import datetime as dt
import sys
from billing.db import make_engine, write_session
from billing.roles import Actor, Role
from billing.services import PaymentCreate, post_payment

engine = make_engine()
prefix, count, customers, amount = sys.argv[1], *map(int, sys.argv[2:5])
clerk = Actor("crash-test", Role.CLERK)
for n in range(count):
    data = PaymentCreate(f"C{n % customers:03d}", f"{prefix}-{n:04d}", dt.date(2026, 3, 1), amount)
    with write_session(engine) as session:
        post_payment(session, actor=clerk, data=data)
    print(f"posted {n + 1}", flush=True)
print("done", flush=True)
"""


class Child:
    """A writer process whose stdout lines arrive on a queue, so waiting never blocks forever."""

    def __init__(self, url: str, script: str, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, *args],
            env={**os.environ, "BILLING_DATABASE_URL": url},
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def wait_for(self, wanted: Callable[[str], bool]) -> str:
        """The first line for which `wanted` is true; fails if the child ends or stalls first."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line is None:
                _, err = self.process.communicate()
                pytest.fail(f"the child ended early: {err[-2000:]}")
            self.seen.append(line)
            if wanted(line):
                return line

    def kill(self) -> list[str]:
        """SIGKILL, then every line it printed (those still in the pipe included)."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        while (line := self.lines.get(timeout=30)) is not None:
            self.seen.append(line)
        return self.seen

    @property
    def killed(self) -> bool:
        """False when the child had already finished on its own when the signal came."""
        return self.process.returncode == -signal.SIGKILL


def sqlite_sound(engine: Engine) -> None:
    """SQLite's own verdict on the file, read the way a new process would (WAL recovered)."""
    if not is_sqlite(engine):
        return
    raw = sqlite3.connect(engine.url.database or "")
    try:
        assert [r[0] for r in raw.execute("PRAGMA integrity_check")] == ["ok"]
        assert raw.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        raw.close()


def wal_size(engine: Engine) -> int:
    """Bytes in SQLite's WAL file (0 on PostgreSQL or when there is none)."""
    if not is_sqlite(engine):
        return 0
    wal = Path(f"{engine.url.database}-wal")
    return wal.stat().st_size if wal.exists() else 0


def write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def load_customers(engine: Engine, tmp_path: Path) -> None:
    rows = [f"C{n:03d},Customer {n},,30,0,USD" for n in range(CUSTOMERS)]
    header = "customer_code,name,email,payment_terms_days,credit_limit,currency"
    path = write_csv(tmp_path / "customers.csv", header, rows)
    import_csv(engine, actor=ADMIN, kind="customers", path=path)


INVOICE_HEADER = "invoice_number,customer_code,issue_date,due_date,currency,amount,description"


def summary(name: str, engine: Engine, outcomes: dict[str, int], seconds: list[float]) -> str:
    line = (
        f"crash-safety {name} [{engine.dialect.name}]: {len(seconds)} trials, "
        + ", ".join(f"{key} {value}" for key, value in outcomes.items())
        + f"; trial seconds median {statistics.median(seconds):.2f}"
        + f" (min {min(seconds):.2f}, max {max(seconds):.2f})"
    )
    print(line)
    return line


def test_kill_during_a_large_import_leaves_all_or_nothing(engine: Engine, tmp_path: Path) -> None:
    load_customers(engine, tmp_path)
    url = engine.url.render_as_string(hide_password=False)
    rng = random.Random(5)
    outcomes = {"before (0 invoices)": 0, f"after (all {IMPORT_ROWS})": 0}
    seconds = []
    spilled = 0  # SQLite trials whose WAL file had grown when the kill came
    finished_first = 0  # attempts where the child ended before the signal: not a kill trial
    for trial in range(3 * TRIALS):
        if sum(outcomes.values()) == TRIALS:
            break
        prefix = f"T{trial:02d}-"
        rows = [
            f"{prefix}{n:05d},C{n % CUSTOMERS:03d},2026-01-{1 + n % 28:02d},,USD,"
            f"{100 + n % 900}.{n % 100:02d},work"
            for n in range(IMPORT_ROWS)
        ]
        path = write_csv(tmp_path / f"invoices-{trial}.csv", INVOICE_HEADER, rows)
        # A fifth of the trials wait for the last row, then kill around the commit.
        kill_at = min(1.0, rng.uniform(0.05, 1.25)) * IMPORT_ROWS
        wal_before = wal_size(engine)
        started = time.perf_counter()
        child = Child(url, IMPORT_CHILD, str(path))
        child.wait_for(
            lambda line, k=kill_at: line.startswith("progress") and int(line.split()[1]) >= k
        )
        time.sleep(rng.uniform(0, 0.1))  # after the last row: into, or just past, the commit
        wal_at_kill = wal_size(engine)
        printed = child.kill()
        elapsed = time.perf_counter() - started

        sqlite_sound(engine)
        with read_session(engine) as s:
            invoices = s.scalar(
                select(func.count())
                .select_from(Invoice)
                .where(Invoice.invoice_number.startswith(prefix))
            )
            lines = s.scalar(
                select(func.count())
                .select_from(InvoiceLine)
                .join(Invoice)
                .where(Invoice.invoice_number.startswith(prefix))
            )
            audit_rows = s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "import_csv", AuditEntry.entity_id.contains(path.name))
            )
            assert check_ledger(s) == []
        assert invoices in (0, IMPORT_ROWS), f"trial {trial}: {invoices} invoices half-imported"
        assert lines == invoices  # one line per imported invoice
        assert audit_rows == (1 if invoices else 0)  # the import's audit row goes with it
        if any(line.startswith("committed") for line in printed):
            assert invoices == IMPORT_ROWS  # what was reported committed survived the kill
        if not child.killed:
            assert child.process.returncode == 0
            finished_first += 1
            continue
        seconds.append(elapsed)
        spilled += wal_at_kill > wal_before
        outcomes["before (0 invoices)" if invoices == 0 else f"after (all {IMPORT_ROWS})"] += 1
    line = summary("import", engine, outcomes, seconds)
    print(f"{line}; {finished_first} more attempts finished before the signal (not counted)")
    if is_sqlite(engine):
        print(f"{line}; WAL grown before the kill in {spilled} trials")
        assert spilled > 0, "no trial had uncommitted pages on disk: the test proves too little"
    assert sum(outcomes.values()) == TRIALS


@pytest.fixture
def owing(engine: Engine, tmp_path: Path) -> Engine:
    """20 customers, each owing 30 invoices of 1,000.00: room for every payment the trials post.

    At most 10 trials × 150 payments (+1 in flight) × 350.00 = 528,500.00 across 20
    customers is 26,425.00 each, less than the 30 × 1,000.00 = 30,000.00 each owes,
    so every payment is fully allocated.
    """
    load_customers(engine, tmp_path)
    rows = [
        f"INV-{c:03d}-{n:02d},C{c:03d},2026-01-{1 + n % 28:02d},,USD,{INVOICE_MINOR // 100}.00,work"
        for c in range(CUSTOMERS)
        for n in range(INVOICES_PER_CUSTOMER)
    ]
    path = write_csv(tmp_path / "owed.csv", INVOICE_HEADER, rows)
    import_csv(engine, actor=ADMIN, kind="invoices", path=path)
    return engine


def test_kill_during_a_posting_loop_leaves_every_payment_whole(owing: Engine) -> None:
    engine = owing
    url = engine.url.render_as_string(hide_password=False)
    rng = random.Random(7)
    outcomes = {"in-flight payment absent": 0, "in-flight payment committed": 0}
    seconds, posted_counts = [], []
    for trial in range(TRIALS):
        prefix = f"L{trial:02d}"
        kill_after = rng.randint(1, MAX_KILL_AFTER)
        started = time.perf_counter()
        child = Child(
            url, POSTING_CHILD, prefix, str(LOOP_LENGTH), str(CUSTOMERS), str(PAYMENT_MINOR)
        )
        child.wait_for(lambda line, k=kill_after: line == f"posted {k}")
        time.sleep(rng.uniform(0, 0.01))  # about one payment's time: land inside the next
        printed = child.kill()
        seconds.append(time.perf_counter() - started)
        assert child.killed  # the loop is longer than any kill point
        confirmed = sum(1 for line in printed if line.startswith("posted"))

        sqlite_sound(engine)
        with read_session(engine) as s:
            found = s.execute(
                select(Payment.id, Payment.amount_minor, Payment.allocated_minor).where(
                    Payment.payment_reference.startswith(f"{prefix}-")
                )
            ).all()
            ids = {payment_id for payment_id, _, _ in found}
            allocations = s.execute(
                select(Allocation.payment_id, func.count(), func.sum(Allocation.amount_minor))
                .where(Allocation.payment_id.in_(ids))
                .group_by(Allocation.payment_id)
            ).all()
            audit = s.execute(
                select(AuditEntry.action, AuditEntry.entity_id, AuditEntry.after).where(
                    AuditEntry.action.in_(["post_payment", "apply_payment"]),
                    AuditEntry.actor == "crash-test",
                )
            ).all()
            assert check_ledger(s) == []
        # Every payment printed as posted is there (durable), plus at most the one in flight.
        assert confirmed <= len(found) <= confirmed + 1, (confirmed, len(found))
        # Each payment complete: fully allocated (enough is owed), and its audit rows there.
        assert all(amount == allocated == PAYMENT_MINOR for _, amount, allocated in found)
        sums = {payment_id: (n, total) for payment_id, n, total in allocations}
        assert set(sums) == ids
        assert all(total == PAYMENT_MINOR for _, total in sums.values())
        posted_audit = {
            int(entity_id) for action, entity_id, _ in audit if action == "post_payment"
        }
        assert ids <= posted_audit
        applied: dict[int, int] = {}
        for action, _, after in audit:
            if action == "apply_payment" and json.loads(after)["payment_id"] in ids:
                payment_id = json.loads(after)["payment_id"]
                applied[payment_id] = applied.get(payment_id, 0) + 1
        assert applied == {payment_id: n for payment_id, (n, _) in sums.items()}
        posted_counts.append(len(found))
        outcomes[
            "in-flight payment committed" if len(found) > confirmed else "in-flight payment absent"
        ] += 1
    line = summary("posting", engine, outcomes, seconds)
    print(f"{line}; payments per trial {posted_counts}")
    assert sum(outcomes.values()) == TRIALS


def test_the_import_child_completes_when_left_alone(engine: Engine, tmp_path: Path) -> None:
    """The control: unkilled, the child imports every row and says so (10 rows here)."""
    load_customers(engine, tmp_path)
    rows = [f"OK-{n},C000,2026-01-01,,USD,1.00,x" for n in range(10)]
    path = write_csv(tmp_path / "small.csv", INVOICE_HEADER, rows)
    url = engine.url.render_as_string(hide_password=False)
    child = Child(url, IMPORT_CHILD, str(path))
    assert child.wait_for(lambda line: line.startswith("committed")) == "committed 10"
    child.process.wait(timeout=60)
    assert child.process.returncode == 0
    with read_session(engine) as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 10


def test_posting_child_completes_when_left_alone(owing: Engine) -> None:
    """The control: unkilled, 3 payments of 350.00 post and the loop says done."""
    url = owing.url.render_as_string(hide_password=False)
    child = Child(url, POSTING_CHILD, "OK", "3", str(CUSTOMERS), str(PAYMENT_MINOR))
    assert child.wait_for(lambda line: line == "done") == "done"
    assert child.seen == ["posted 1", "posted 2", "posted 3", "done"]
    child.process.wait(timeout=60)
    with read_session(owing) as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 3

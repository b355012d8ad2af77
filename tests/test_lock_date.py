"""The lock date: nothing dated on or before it can be entered, posted or changed.

The books here are closed up to 2026-03-31. Each service is tried on the lock
date itself and a day well before it (both refused, nothing written) and on
the day after (allowed). The lock is set the way an admin sets it, through
`set_lock_date`, after each case has prepared what it needs.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select

from billing.csv_import import ImportFailed, import_csv
from billing.db import read_session, write_session
from billing.errors import BooksClosed, PermissionDenied, ValidationError
from billing.models import AdjustmentKind, AuditEntry, Invoice, InvoiceStatus, Payment
from billing.repository import load_settings
from billing.roles import Actor
from billing.services import (
    AdjustmentCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    adjust_invoice,
    allocate_payment,
    create_invoice,
    post_invoice,
    post_payment,
    set_lock_date,
    void_invoice,
)
from billing.services._common import ensure_books_open
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER
from tests.helpers import invoice, open_balance, pay, table_counts

D = dt.date
LOCK = D(2026, 3, 31)
BEFORE, ON, AFTER = D(2026, 3, 1), LOCK, D(2026, 4, 1)


def stored_lock(engine: Engine) -> dt.date | None:
    with read_session(engine) as s:
        return load_settings(s).lock_date


def lock_books(engine: Engine, day: dt.date | None, actor: Actor = ADMIN) -> None:
    """Set the lock date as the Admin page does, from a form showing the stored one."""
    shown = stored_lock(engine)
    with write_session(engine) as s:
        set_lock_date(s, actor=actor, lock_date=day, expected_current=shown)


def closed(what: str, day: dt.date, verb: str = "entered") -> str:
    return (
        f"The books are closed up to {LOCK.isoformat()}: {what} dated {day.isoformat()} "
        f"cannot be {verb}. Ask an admin to move the lock date."
    )


def one_line(amount_minor: int = 5000) -> list[LineCreate]:
    return [LineCreate("Work", Decimal(1), amount_minor)]


# --- one row per service: prepare before the lock, then attempt -------------------------


def _nothing(engine: Engine, day: dt.date) -> None:
    pass


def _enter_draft(engine: Engine, day: dt.date) -> None:
    with write_session(engine) as s:
        create_invoice(s, actor=CLERK, data=InvoiceCreate("NEW-1", "C001", day, one_line()))


def _enter_posted(engine: Engine, day: dt.date) -> None:
    with write_session(engine) as s:
        data = InvoiceCreate("NEW-1", "C001", day, one_line())
        create_invoice(s, actor=CLERK, data=data, post=True)


def _draft_dated(engine: Engine, day: dt.date) -> None:
    invoice(engine, "NEW-1", "C001", day, 5000, post=False)


def _post_draft(engine: Engine, day: dt.date) -> None:
    with write_session(engine) as s:
        post_invoice(s, actor=CLERK, invoice_number="NEW-1")


def _posted_dated(engine: Engine, day: dt.date) -> None:
    invoice(engine, "NEW-1", "C001", day, 5000)


def _void(engine: Engine, day: dt.date) -> None:
    with write_session(engine) as s:
        void_invoice(s, actor=MANAGER, invoice_number="NEW-1", reason="entered twice")


def _post_payment(engine: Engine, day: dt.date) -> None:
    pay(engine, "C001", "NEW-P", day, 3000)


def _cash_on_account(engine: Engine, day: dt.date) -> None:
    # Received 2026-01-05, before INV-1 was issued (01-10): auto-allocation leaves it unapplied.
    pay(engine, "C001", "EARLY", D(2026, 1, 5), 3000)


def _allocate(engine: Engine, day: dt.date) -> None:
    with write_session(engine) as s:
        payment = s.scalars(select(Payment).where(Payment.payment_reference == "EARLY")).one()
        allocate_payment(
            s, actor=CLERK, payment_id=payment.id, invoice_number="INV-1", applied_date=day
        )


def _adjust(kind: AdjustmentKind) -> Callable[[Engine, dt.date], None]:
    def attempt(engine: Engine, day: dt.date) -> None:
        with write_session(engine) as s:
            data = AdjustmentCreate("INV-1", kind, day, 1000, "agreed")
            adjust_invoice(s, actor=MANAGER, data=data)

    return attempt


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Callable[[Engine, dt.date], None]
    attempt: Callable[[Engine, dt.date], None]
    what: str
    verb: str = "entered"
    field: str = ""

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("enter a draft", _nothing, _enter_draft, "an invoice", field="issue_date"),
    Case("enter and post", _nothing, _enter_posted, "an invoice", field="issue_date"),
    Case("post a draft", _draft_dated, _post_draft, "an invoice", "posted", "issue_date"),
    Case("void", _posted_dated, _void, "an invoice", "voided", "issue_date"),
    Case("post a payment", _nothing, _post_payment, "a payment", field="received_date"),
    Case("allocate", _cash_on_account, _allocate, "an allocation", field="applied_date"),
    Case(
        "credit note",
        _nothing,
        _adjust(AdjustmentKind.CREDIT_NOTE),
        "a credit note",
        field="date",
    ),
    Case("write-off", _nothing, _adjust(AdjustmentKind.WRITE_OFF), "a write-off", field="date"),
]


@pytest.mark.parametrize("day", [ON, BEFORE], ids=["on", "before"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_refused_on_or_before_the_lock_date(ledger: Engine, case: Case, day: dt.date) -> None:
    case.prepare(ledger, day)
    lock_books(ledger, LOCK)
    before = table_counts(ledger)
    with pytest.raises(BooksClosed) as refusal:
        case.attempt(ledger, day)
    assert str(refusal.value) == closed(case.what, day, case.verb)
    # A validation error on the date's field, so forms and imports point at it.
    assert isinstance(refusal.value, ValidationError)
    assert [(p.field, p.value) for p in refusal.value.problems] == [(case.field, day.isoformat())]
    assert table_counts(ledger) == before


@pytest.mark.parametrize("case", CASES, ids=str)
def test_allowed_the_day_after(ledger: Engine, case: Case) -> None:
    case.prepare(ledger, AFTER)
    lock_books(ledger, LOCK)
    before = table_counts(ledger)
    case.attempt(ledger, AFTER)
    assert table_counts(ledger)["max_audit_id"] > before["max_audit_id"]  # written and audited


def test_the_message_a_clerk_reads(ledger: Engine) -> None:
    lock_books(ledger, LOCK)
    with pytest.raises(BooksClosed) as refusal, write_session(ledger) as s:
        data = InvoiceCreate("NEW-1", "C001", D(2026, 3, 15), one_line())
        create_invoice(s, actor=CLERK, data=data)
    assert str(refusal.value) == (
        "The books are closed up to 2026-03-31: an invoice dated 2026-03-15 cannot be entered."
        " Ask an admin to move the lock date."
    )


def test_allocation_dated_by_default_in_a_closed_period(ledger: Engine) -> None:
    """Unapplied cash received before the lock, applied later without a date.

    The allocation would default to max(received 03-20, issued 01-10) = 03-20,
    inside the closed period; dated after the lock it goes through.
    """
    with write_session(ledger) as s:  # allocations=(): nothing applied yet
        data = PaymentCreate("C001", "P-MAR", D(2026, 3, 20), 2000, allocations=())
        payment = post_payment(s, actor=CLERK, data=data)
    lock_books(ledger, LOCK)
    refused = pytest.raises(BooksClosed, match="an allocation dated 2026-03-20")
    with refused, write_session(ledger) as s:
        allocate_payment(s, actor=CLERK, payment_id=payment.payment_id, invoice_number="INV-1")
    with write_session(ledger) as s:
        done = allocate_payment(
            s,
            actor=CLERK,
            payment_id=payment.payment_id,
            invoice_number="INV-1",
            applied_date=AFTER,
        )
    assert done.unapplied_minor == 0
    assert open_balance(ledger, "INV-1") == 8000  # 10000 − 2000


def test_a_payment_after_the_lock_pays_an_invoice_from_before_it(ledger: Engine) -> None:
    """Closing March does not freeze INV-1 (issued 01-10): April's cash still settles it."""
    lock_books(ledger, LOCK)
    posted = pay(ledger, "C001", "P-APR", AFTER, 4000)
    assert [(a.invoice_number, a.applied_date) for a in posted.applied] == [("INV-1", AFTER)]
    assert open_balance(ledger, "INV-1") == 6000  # 10000 − 4000


def test_a_void_is_dated_today(ledger: Engine) -> None:
    """With the books closed up to today, even a future-dated invoice cannot be voided today."""
    today = dt.date.today()
    invoice(ledger, "NEXT-1", "C001", today + dt.timedelta(days=1), 5000)
    lock_books(ledger, today)
    refused = pytest.raises(
        BooksClosed, match=f"a void dated {today.isoformat()} cannot be entered"
    )
    with refused, write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="NEXT-1", reason="typo")
    with read_session(ledger) as s:
        status = s.scalar(select(Invoice.status).where(Invoice.invoice_number == "NEXT-1"))
    assert status is InvoiceStatus.POSTED


def test_moving_the_lock_date_back_reopens_the_period(ledger: Engine) -> None:
    lock_books(ledger, LOCK)
    with pytest.raises(BooksClosed):
        pay(ledger, "C001", "P1", D(2026, 3, 10), 1000)
    lock_books(ledger, D(2026, 2, 28))
    assert pay(ledger, "C001", "P1", D(2026, 3, 10), 1000).unapplied_minor == 0
    lock_books(ledger, None)  # no lock at all
    assert pay(ledger, "C001", "P0", D(2026, 1, 10), 1000).unapplied_minor == 0


# --- imports go through the same services -------------------------------------------------


def test_an_import_with_a_closed_row_is_refused_whole(ledger: Engine, tmp_path: Path) -> None:
    lock_books(ledger, LOCK)
    path = tmp_path / "invoices.csv"
    path.write_text(
        "invoice_number,customer_code,issue_date,due_date,currency,amount,description\n"
        "IMP-1,C001,2026-04-02,,USD,10.00,\n"
        "IMP-2,C001,2026-03-30,,USD,20.00,\n",
        encoding="utf-8",
    )
    before = table_counts(ledger)
    with pytest.raises(ImportFailed) as failure:
        import_csv(ledger, actor=MANAGER, kind="invoices", path=path)
    [problem] = failure.value.problems
    assert (problem.line, problem.column, problem.value) == (3, "issue_date", "2026-03-30")
    assert problem.message == closed("an invoice", D(2026, 3, 30))
    assert table_counts(ledger) == before  # IMP-1 was rolled back with the file


def test_a_payments_import_is_checked_too(ledger: Engine, tmp_path: Path) -> None:
    lock_books(ledger, LOCK)
    path = tmp_path / "payments.csv"
    path.write_text(
        "payment_reference,customer_code,received_date,amount,currency\n"
        "IMP-P1,C001,2026-03-31,10.00,USD\n",
        encoding="utf-8",
    )
    with pytest.raises(ImportFailed) as failure:
        import_csv(ledger, actor=MANAGER, kind="payments", path=path)
    [problem] = failure.value.problems
    assert (problem.line, problem.column) == (2, "received_date")
    assert problem.message == closed("a payment", ON)


# --- who sets it, and the audit trail ---------------------------------------------------


def test_setting_the_lock_date_is_audited(ledger: Engine) -> None:
    lock_books(ledger, LOCK)
    lock_books(ledger, None)
    with read_session(ledger) as s:
        entries = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "set_lock_date")
                .order_by(AuditEntry.id)
            )
        )
    assert [(e.actor, e.entity, e.entity_id) for e in entries] == [
        ("test-admin", "settings", "lock_date"),
        ("test-admin", "settings", "lock_date"),
    ]
    first, second = ((json.loads(e.before or "null"), json.loads(e.after or "")) for e in entries)
    assert first == (None, {"lock_date": "2026-03-31"})
    assert second == ({"lock_date": "2026-03-31"}, {"lock_date": ""})


@pytest.mark.parametrize("actor", [CLERK, MANAGER, FINANCE], ids=lambda a: a.role.value)
def test_only_an_admin_sets_the_lock_date(ledger: Engine, actor: Actor) -> None:
    with pytest.raises(PermissionDenied):
        lock_books(ledger, LOCK, actor=actor)
    pay(ledger, "C001", "P1", ON, 1000)  # still open: nothing was locked


# --- read once per transaction -------------------------------------------------------------


def count_lock_reads(engine: Engine) -> list[str]:
    """Every statement that reads the settings table, as the engine sends it."""
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM settings" in statement:
            seen.append(statement)

    return seen


def test_the_lock_date_is_read_once_per_transaction(ledger: Engine) -> None:
    """Three checks in one transaction: one read; the next transaction reads afresh."""
    lock_books(ledger, LOCK)
    reads = count_lock_reads(ledger)
    with write_session(ledger) as s:
        for day in (AFTER, D(2026, 4, 2), D(2026, 4, 3)):
            ensure_books_open(s, day, what="an invoice", field="issue_date")
    assert len(reads) == 1
    # Another admin moves the lock to April 2 between our transactions ...
    lock_books(ledger, D(2026, 4, 2))
    reads.clear()
    # ... and the next transaction obeys it: April 2 is closed now, April 3 is not.
    with pytest.raises(BooksClosed, match="closed up to 2026-04-02"), write_session(ledger) as s:
        ensure_books_open(s, D(2026, 4, 3), what="an invoice", field="issue_date")
        ensure_books_open(s, D(2026, 4, 2), what="an invoice", field="issue_date")
    assert len(reads) == 1


def test_an_import_reads_the_lock_date_once(ledger: Engine, tmp_path: Path) -> None:
    """Before: one settings read per row (here 3); now one for the whole file."""
    lock_books(ledger, LOCK)
    path = tmp_path / "payments.csv"
    path.write_text(
        "payment_reference,customer_code,received_date,amount,currency\n"
        "IMP-P1,C001,2026-04-01,10.00,USD\n"
        "IMP-P2,C001,2026-04-02,10.00,USD\n"
        "IMP-P3,C001,2026-04-03,10.00,USD\n",
        encoding="utf-8",
    )
    reads = count_lock_reads(ledger)
    report = import_csv(ledger, actor=MANAGER, kind="payments", path=path)
    assert report.created == 3
    assert len(reads) == 1


def test_setting_the_lock_date_in_the_same_transaction_is_obeyed(ledger: Engine) -> None:
    """`set_lock_date` drops the memo, so a later check in that transaction sees the new date."""
    with write_session(ledger) as s:
        ensure_books_open(s, D(2026, 3, 15), what="an invoice", field="issue_date")  # open
        set_lock_date(s, actor=ADMIN, lock_date=LOCK, expected_current=None)
        with pytest.raises(BooksClosed, match="closed up to 2026-03-31"):
            ensure_books_open(s, D(2026, 3, 15), what="an invoice", field="issue_date")

"""Posted ledger rows cannot be changed or deleted, even by raw SQL (migration 0003's triggers).

Each case runs one hand-written statement through `engine.begin()`, as someone
in a SQL shell would, and expects the database itself to refuse it with the
trigger's message and leave the table exactly as it was. The changes the
services make (running sums, posting a draft, voiding) still go through.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import IntegrityError

from billing.db import read_session, write_session
from billing.models import (
    Adjustment,
    Allocation,
    AuditEntry,
    Base,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)
from billing.schema import alembic_config
from billing.services import allocate_payment, post_invoice, void_invoice
from tests.conftest import BACKENDS, CLERK, MANAGER
from tests.helpers import adjust, invoice, ledger_guards_migration, open_balance, pay, unapplied

D = dt.date
POSTED = "a posted invoice cannot be changed"
POSTED_DELETE = "a posted or void invoice cannot be deleted"
LINES = "the lines of a posted invoice cannot be changed"
LINES_DELETE = "the lines of a posted invoice cannot be deleted"
PAYMENT = "a payment cannot be changed"
PAYMENT_DELETE = "a payment cannot be deleted"
ALLOCATION = "an allocation is permanent: it cannot be changed"
ALLOCATION_DELETE = "an allocation is permanent: it cannot be deleted"
ADJUSTMENT = "a credit note or write-off is permanent: it cannot be changed"
ADJUSTMENT_DELETE = "a credit note or write-off is permanent: it cannot be deleted"
AUDIT = "the audit log is append-only: its rows cannot be changed"
AUDIT_DELETE = "the audit log is append-only: its rows cannot be deleted"
VOID_SETTLED = "an invoice with payments or credits applied cannot be voided"

INV_1 = "(SELECT id FROM invoices WHERE invoice_number = 'INV-1')"
DRAFT = "(SELECT id FROM invoices WHERE invoice_number = 'D-1')"
STAMP = "'2020-01-01 00:00:00+00:00'"


@pytest.fixture
def books(ledger: Engine) -> Engine:
    """Every kind of guarded row, made by the services.

    INV-1 (posted, 100.00, issued 2026-01-10): P1 pays 40.00 of it (targeted),
    P2 10.00 (auto-allocated), a credit note takes 5.00; settled 40 + 10 + 5 = 55.00.
    INV-V (posted 5.00) is void; D-1 (5.00) is a draft with one line.
    """
    invoice(ledger, "INV-V", "C001", D(2026, 1, 12), 500)
    with write_session(ledger) as s:
        void_invoice(s, actor=MANAGER, invoice_number="INV-V", reason="entered twice")
    invoice(ledger, "D-1", "C001", D(2026, 1, 15), 500, post=False)
    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000, invoice_number="INV-1")
    pay(ledger, "C001", "P2", D(2026, 2, 2), 1000)
    adjust(ledger, "INV-1", "credit_note", D(2026, 2, 5), 500)
    assert open_balance(ledger, "INV-1") == 4500  # 10000 − 4000 − 1000 − 500
    return ledger


@dataclass(frozen=True)
class Case:
    table: str
    statement: str
    message: str

    def __str__(self) -> str:
        return self.statement


def _updates(table: str, where: str, values: dict[str, str], message: str) -> list[Case]:
    return [
        Case(table, f"UPDATE {table} SET {column} = {value} WHERE {where}", message)
        for column, value in values.items()
    ]


REFUSED = [
    # A posted invoice: every column but the running sum.
    *_updates(
        "invoices",
        "invoice_number = 'INV-1'",
        {
            "id": "999",
            "invoice_number": "'INV-X'",
            "customer_id": "999",
            "issue_date": "'2026-01-09'",
            "due_date": "'2026-03-01'",
            "currency": "'EUR'",
            "total_minor": "20000",
            "status": "'draft'",
            "description": "'edited'",
            "void_reason": "'no void'",
            "created_at": STAMP,
            "posted_at": STAMP,
            "voided_at": STAMP,
        },
        POSTED,
    ),
    # A void invoice stays void, reason and time included.
    *_updates(
        "invoices",
        "invoice_number = 'INV-V'",
        {
            "status": "'posted'",
            "void_reason": "'another reason'",
            "voided_at": STAMP,
            "total_minor": "700",
        },
        POSTED,
    ),
    # Voiding INV-1 (55.00 applied), even zeroing its sum in the same statement, which the
    # void_unsettled CHECK alone lets through; and a void invoice's sum never moves.
    Case(
        "invoices",
        f"UPDATE invoices SET status = 'void', void_reason = 'oops', voided_at = {STAMP},"
        " settled_minor = 0 WHERE invoice_number = 'INV-1'",
        VOID_SETTLED,
    ),
    Case(
        "invoices",
        f"UPDATE invoices SET status = 'void', void_reason = 'oops', voided_at = {STAMP}"
        " WHERE invoice_number = 'INV-1'",
        VOID_SETTLED,
    ),
    Case(
        "invoices",
        "UPDATE invoices SET settled_minor = 100 WHERE invoice_number = 'INV-V'",
        VOID_SETTLED,
    ),
    Case("invoices", "DELETE FROM invoices WHERE invoice_number = 'INV-1'", POSTED_DELETE),
    Case("invoices", "DELETE FROM invoices WHERE invoice_number = 'INV-V'", POSTED_DELETE),
    # The lines of a posted invoice, and a draft's line moved onto it.
    *_updates(
        "invoice_lines",
        f"invoice_id = {INV_1}",
        {
            "id": "999",
            "invoice_id": DRAFT,
            "line_no": "2",
            "description": "'edited'",
            "quantity": "'2'",
            "unit_price_minor": "1",
            "tax_rate": "'20'",
            "net_minor": "9999",
            "tax_minor": "1",
        },
        LINES,
    ),
    Case(
        "invoice_lines",
        f"UPDATE invoice_lines SET invoice_id = {INV_1} WHERE invoice_id = {DRAFT}",
        LINES,
    ),
    Case("invoice_lines", f"DELETE FROM invoice_lines WHERE invoice_id = {INV_1}", LINES_DELETE),
    # A payment: everything but the running sum; its target once anything is allocated.
    *_updates(
        "payments",
        "payment_reference = 'P1'",
        {
            "id": "999",
            "customer_id": "999",
            "payment_reference": "'P9'",
            "received_date": "'2026-02-03'",
            "amount_minor": "5000",
            "currency": "'EUR'",
            "method": "'cash'",
            "target_invoice_id": "NULL",
            "idempotency_key": "'k'",
            "created_by": "'someone'",
            "created_at": STAMP,
        },
        PAYMENT,
    ),
    Case(
        "payments",
        f"UPDATE payments SET target_invoice_id = {INV_1} WHERE payment_reference = 'P2'",
        PAYMENT,
    ),
    Case("payments", "DELETE FROM payments WHERE payment_reference = 'P2'", PAYMENT_DELETE),
    *_updates(
        "allocations",
        "amount_minor = 4000",
        {
            "id": "999",
            "payment_id": "999",
            "invoice_id": "999",
            "amount_minor": "3000",
            "applied_date": "'2026-02-03'",
            "created_by": "'someone'",
            "created_at": STAMP,
        },
        ALLOCATION,
    ),
    Case("allocations", "DELETE FROM allocations WHERE amount_minor = 1000", ALLOCATION_DELETE),
    *_updates(
        "adjustments",
        "amount_minor = 500",
        {
            "id": "999",
            "invoice_id": "999",
            "kind": "'write_off'",
            "date": "'2026-02-06'",
            "amount_minor": "400",
            "reason": "'edited'",
            "created_by": "'someone'",
            "created_at": STAMP,
        },
        ADJUSTMENT,
    ),
    Case("adjustments", "DELETE FROM adjustments", ADJUSTMENT_DELETE),
    *_updates(
        "audit_log",
        "action = 'void_invoice'",
        {
            "id": "999",
            "occurred_at": STAMP,
            "actor": "'someone'",
            "action": "'nothing'",
            "entity": "'nothing'",
            "entity_id": "'nothing'",
            "before": "NULL",
            "after": "'{}'",
        },
        AUDIT,
    ),
    Case("audit_log", "DELETE FROM audit_log", AUDIT_DELETE),
]


def rows(engine: Engine, table: str) -> list[tuple[object, ...]]:
    """Every row of `table`, ordered by id: equal before and after means untouched."""
    t = Base.metadata.tables[table]
    with read_session(engine) as s:
        return [tuple(r) for r in s.execute(select(t).order_by(t.c.id))]


@pytest.mark.parametrize("case", REFUSED, ids=str)
def test_raw_sql_is_refused(books: Engine, case: Case) -> None:
    before = rows(books, case.table)
    with pytest.raises(IntegrityError, match=case.message), books.begin() as connection:
        result = connection.execute(text(case.statement))
        assert result.rowcount >= 1  # not reached: the statement names at least one row
    assert rows(books, case.table) == before


def test_every_guarded_column_has_a_refused_case() -> None:
    """The cases above cover each column of each guarded table (bar the running sums)."""
    changed = {
        (c.table, c.statement.split(" SET ")[1].split(" = ")[0])
        for c in REFUSED
        if c.statement.startswith("UPDATE")
    }
    running = {("invoices", "settled_minor"), ("payments", "allocated_minor")}
    guards = ledger_guards_migration()
    for table in guards.GUARDED_TABLES:
        columns = {(table, c.name) for c in Base.metadata.tables[table].columns}
        assert columns - running - changed == set(), table
    assert {(c.table, "DELETE") for c in REFUSED if c.statement.startswith("DELETE")} == {
        (t, "DELETE") for t in guards.GUARDED_TABLES
    }


def test_the_triggers_know_every_column_of_the_models() -> None:
    """A column added to invoices or payments later must be added to the guard's list."""
    guards = ledger_guards_migration()
    assert tuple(c.name for c in Invoice.__table__.columns) == guards.INVOICE_COLUMNS
    assert tuple(c.name for c in Payment.__table__.columns) == guards.PAYMENT_COLUMNS
    assert set(guards.GUARDED_TABLES) == {
        m.__tablename__ for m in (Invoice, InvoiceLine, Payment, Allocation, Adjustment, AuditEntry)
    }


ALLOWED = [
    # A draft is not in the books yet: editable, and deletable with its lines.
    ("invoices", "UPDATE invoices SET description = 'edited' WHERE invoice_number = 'D-1'"),
    (
        "invoice_lines",
        f"UPDATE invoice_lines SET description = 'edited' WHERE invoice_id = {DRAFT}",
    ),
    ("invoices", "DELETE FROM invoices WHERE invoice_number = 'D-1'"),
    # The running sums move (a drift here is what `billing check` reports).
    ("invoices", "UPDATE invoices SET settled_minor = 5600 WHERE invoice_number = 'INV-1'"),
    ("payments", "UPDATE payments SET allocated_minor = 3900 WHERE payment_reference = 'P1'"),
]


@pytest.mark.parametrize(("table", "statement"), ALLOWED, ids=[s for _, s in ALLOWED])
def test_what_the_triggers_let_through(books: Engine, table: str, statement: str) -> None:
    before = rows(books, table)
    with books.begin() as connection:
        assert connection.execute(text(statement)).rowcount >= 1
    assert rows(books, table) != before


def test_the_services_still_post_allocate_adjust_and_void(books: Engine) -> None:
    # Posting a draft changes its status and posted_at: allowed, it was a draft.
    with write_session(books) as s:
        assert post_invoice(s, actor=CLERK, invoice_number="D-1").status is InvoiceStatus.POSTED
    # A payment's targeted allocation moves INV-1's settled_minor and its own allocated_minor.
    posted = pay(books, "C001", "P3", D(2026, 2, 10), 2000, invoice_number="INV-1")
    assert open_balance(books, "INV-1") == 2500  # 4500 − 2000
    assert unapplied(books, posted.payment_id) == 0
    # Auto-allocation, oldest due first: INV-1 (due 02-09) takes its 2500, then D-1
    # (due 02-14) its 500; 3500 − 2500 − 500 = 500 stays on account.
    p4 = pay(books, "C001", "P4", D(2026, 2, 20), 3500)
    assert [(a.invoice_number, a.amount_minor) for a in p4.applied] == [
        ("INV-1", 2500),
        ("D-1", 500),
    ]
    assert unapplied(books, p4.payment_id) == 500
    # Later allocation of cash on account to a new invoice, and a write-off on another.
    invoice(books, "INV-2", "C001", D(2026, 2, 21), 800)
    with write_session(books) as s:
        later = allocate_payment(s, actor=CLERK, payment_id=p4.payment_id, invoice_number="INV-2")
    assert later.unapplied_minor == 0
    assert open_balance(books, "INV-2") == 300  # 800 − 500
    adjust(books, "INV-2", "write_off", D(2026, 2, 28), 300)
    assert open_balance(books, "INV-2") == 0
    # Voiding a posted invoice with nothing applied: status, reason and time change.
    invoice(books, "INV-3", "C001", D(2026, 3, 1), 900)
    with write_session(books) as s:
        voided = void_invoice(s, actor=MANAGER, invoice_number="INV-3", reason="duplicate")
    assert (voided.status, voided.void_reason) == (InvoiceStatus.VOID, "duplicate")


def _migrate(engine: Engine, direction: str, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, direction)(config, revision)


POSTGRES = BACKENDS[1:]


@pytest.mark.parametrize("database_url", POSTGRES, indirect=True)
@pytest.mark.parametrize("table", ledger_guards_migration().GUARDED_TABLES)
def test_truncate_is_refused_on_postgres(books: Engine, table: str) -> None:
    """TRUNCATE skips row triggers; the statement-level guards refuse it (CASCADE included)."""
    before = {t: rows(books, t) for t in ledger_guards_migration().GUARDED_TABLES}
    with (
        pytest.raises(IntegrityError, match=r"the ledger table \w+ cannot be truncated"),
        books.begin() as connection,
    ):
        connection.execute(text(f"TRUNCATE {table} CASCADE"))
    assert {t: rows(books, t) for t in before} == before


def guard_objects(engine: Engine) -> int:
    """Triggers (and on PostgreSQL their functions) the guards consist of, in this schema."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            sql = "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"
            return int(connection.execute(text(sql)).scalar_one())
        triggers = connection.execute(
            text(
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            )
        ).scalar_one()
        functions = connection.execute(
            text(
                "SELECT count(*) FROM pg_proc WHERE proname LIKE '%\\_guard\\_%'"
                " AND pronamespace = current_schema()::regnamespace"
            )
        ).scalar_one()
        return int(triggers) + int(functions)


def test_downgrade_removes_the_triggers_and_upgrade_restores_them(books: Engine) -> None:
    statement = text("UPDATE adjustments SET reason = 'edited'")
    guards = ledger_guards_migration()
    # 13 row guards (12 + the void guard); PostgreSQL adds 6 TRUNCATE guards, and
    # each of its triggers has a function: (13 + 6) × 2 = 38.
    expected = 13 if books.dialect.name == "sqlite" else (13 + 6) * 2
    assert len(guards.GUARDS) == 13 + 6
    assert guard_objects(books) == expected
    _migrate(books, "downgrade", "0002")
    assert guard_objects(books) == 0  # every trigger and function gone: symmetric
    with books.begin() as connection:  # unguarded: the edit goes through
        assert connection.execute(statement).rowcount == 1
    _migrate(books, "upgrade", "head")
    assert guard_objects(books) == expected
    with pytest.raises(IntegrityError, match=ADJUSTMENT), books.begin() as connection:
        connection.execute(statement)

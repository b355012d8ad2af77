"""posted ledger rows are immutable, even to raw SQL

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 16:30:00

Triggers refuse every UPDATE and DELETE the services never do, so a hand edit
in a SQL shell cannot rewrite history either: a posted invoice is corrected by
a credit note or a void, never edited. The one rule set below is rendered for
SQLite (`RAISE(ABORT, ...)`, ABORT being SQLite's constraint-failure class) and
for PostgreSQL (a plpgsql function per guard raising SQLSTATE 23000), so both
databases refuse exactly the same statements, as an integrity error.

What the services legitimately change, and so what stays allowed:
- `invoices`: a draft, freely (posting it sets status and posted_at); once
  posted, only the running sum `settled_minor` (allocations, adjustments) and
  the void itself (status posted → void, with void_reason and voided_at).
- `payments`: the running sum `allocated_minor`; and `target_invoice_id` set
  once by the posting that created the payment, before anything is allocated.
- `invoice_lines` of a draft invoice. Nothing else, anywhere, and no DELETE of
  anything posted (a draft's lines may go with their draft).

A void is only for an invoice with nothing applied: voiding one whose
`settled_minor` is above zero is refused (even when the same statement zeroes
it, which the `void_unsettled` CHECK alone would let through), and a void
invoice's `settled_minor` never moves again. On PostgreSQL, `TRUNCATE` skips
row triggers, so each guarded table also has a statement-level BEFORE
TRUNCATE guard. (SQLite has no TRUNCATE; its "truncate optimisation" of a
bare DELETE is switched off for a table with triggers, so the row guards fire.)

The running sums themselves (`invoices.settled_minor`, `payments.allocated_minor`)
stay writable, because the services move them on every allocation and
adjustment; a trigger cannot tell a service's move from a hand edit. `billing
check` is their guard: it recomputes each sum from the allocation and
adjustment rows (themselves immutable) and reports any drift.

The column lists are frozen here, as of this revision. A later migration that
adds a column to these tables must extend them (tests/test_immutability.py
compares them with the models), and one that rebuilds a table (SQLite batch
mode copies it) must create the guards again with `create_guards`.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INVOICE_COLUMNS = (
    "id",
    "invoice_number",
    "customer_id",
    "issue_date",
    "due_date",
    "currency",
    "total_minor",
    "settled_minor",
    "status",
    "description",
    "void_reason",
    "created_at",
    "posted_at",
    "voided_at",
)
# May change on a posted invoice: the running sum always, these only by voiding it.
INVOICE_RUNNING = ("settled_minor",)
INVOICE_VOIDING = ("status", "void_reason", "voided_at")

PAYMENT_COLUMNS = (
    "id",
    "customer_id",
    "payment_reference",
    "received_date",
    "amount_minor",
    "allocated_minor",
    "currency",
    "method",
    "target_invoice_id",
    "idempotency_key",
    "created_by",
    "created_at",
)
PAYMENT_RUNNING = ("allocated_minor",)
PAYMENT_TARGET = ("target_invoice_id",)

GUARDED_TABLES = (
    "invoices",
    "invoice_lines",
    "payments",
    "allocations",
    "adjustments",
    "audit_log",
)

# "Differs" in each dialect's own spelling (SQLite's IS NOT is NULL-safe, as is
# PostgreSQL's IS DISTINCT FROM).
_DISTINCT = {"sqlite": "IS NOT", "postgresql": "IS DISTINCT FROM"}

Predicate = Callable[[str], str]


@dataclass(frozen=True)
class Guard:
    """One refusal: `event` on `table` is refused when `refuse_when` holds (None: always)."""

    table: str
    event: str  # "UPDATE", "DELETE" or "TRUNCATE" (PostgreSQL only, per statement)
    message: str
    refuse_when: Predicate | None = None
    suffix: str = ""  # tells apart two guards of one table and event

    @property
    def name(self) -> str:
        return f"{self.table}_guard_{self.event.lower()}{self.suffix}"


def _any_differs(columns: Sequence[str], distinct: str) -> str:
    return "(" + " OR ".join(f"NEW.{c} {distinct} OLD.{c}" for c in columns) + ")"


def _frozen(columns: Sequence[str], *movable: Sequence[str]) -> list[str]:
    allowed = {c for group in movable for c in group}
    return [c for c in columns if c not in allowed]


def _invoice_update(distinct: str) -> str:
    frozen = _any_differs(_frozen(INVOICE_COLUMNS, INVOICE_RUNNING, INVOICE_VOIDING), distinct)
    voiding = _any_differs(INVOICE_VOIDING, distinct)
    return (
        f"OLD.status <> 'draft' AND ({frozen}"
        f" OR ({voiding} AND NOT (OLD.status = 'posted' AND NEW.status = 'void')))"
    )


def _payment_update(distinct: str) -> str:
    frozen = _any_differs(_frozen(PAYMENT_COLUMNS, PAYMENT_RUNNING, PAYMENT_TARGET), distinct)
    target = _any_differs(PAYMENT_TARGET, distinct)
    return (
        f"{frozen} OR ({target}"
        " AND NOT (OLD.target_invoice_id IS NULL AND OLD.allocated_minor = 0))"
    )


def _posted_parent(row: str) -> str:
    # EXISTS, so a line whose draft is being deleted (ON DELETE CASCADE) may go with it.
    return (
        f"EXISTS (SELECT 1 FROM invoices WHERE invoices.id = {row}.invoice_id"
        " AND invoices.status <> 'draft')"
    )


def _line_update(distinct: str) -> str:
    return f"{_posted_parent('OLD')} OR {_posted_parent('NEW')}"


def _line_delete(distinct: str) -> str:
    return _posted_parent("OLD")


def _not_draft(distinct: str) -> str:
    return "OLD.status <> 'draft'"


def _settled_void(distinct: str) -> str:
    # Voiding an invoice something was applied to, or moving a void invoice's sum.
    return (
        "(OLD.status = 'posted' AND NEW.status = 'void' AND OLD.settled_minor <> 0)"
        f" OR (OLD.status = 'void' AND NEW.settled_minor {distinct} OLD.settled_minor)"
    )


GUARDS = (
    Guard(
        "invoices",
        "UPDATE",
        "a posted invoice cannot be changed; correct it with a credit note, or void it",
        _invoice_update,
    ),
    Guard(
        "invoices",
        "UPDATE",
        "an invoice with payments or credits applied cannot be voided, and a void invoice"
        " stays unsettled; reverse what was applied with a credit note instead",
        _settled_void,
        suffix="_void",
    ),
    Guard(
        "invoices",
        "DELETE",
        "a posted or void invoice cannot be deleted; void it instead",
        _not_draft,
    ),
    Guard(
        "invoice_lines",
        "UPDATE",
        "the lines of a posted invoice cannot be changed; use a credit note or void the invoice",
        _line_update,
    ),
    Guard(
        "invoice_lines",
        "DELETE",
        "the lines of a posted invoice cannot be deleted; use a credit note or void the invoice",
        _line_delete,
    ),
    Guard(
        "payments",
        "UPDATE",
        "a payment cannot be changed, only allocated; record a correcting entry instead",
        _payment_update,
    ),
    Guard("payments", "DELETE", "a payment cannot be deleted; the ledger keeps every receipt"),
    Guard("allocations", "UPDATE", "an allocation is permanent: it cannot be changed"),
    Guard("allocations", "DELETE", "an allocation is permanent: it cannot be deleted"),
    Guard(
        "adjustments",
        "UPDATE",
        "a credit note or write-off is permanent: it cannot be changed; record a new one",
    ),
    Guard(
        "adjustments",
        "DELETE",
        "a credit note or write-off is permanent: it cannot be deleted; record a new one",
    ),
    Guard("audit_log", "UPDATE", "the audit log is append-only: its rows cannot be changed"),
    Guard("audit_log", "DELETE", "the audit log is append-only: its rows cannot be deleted"),
    *(
        Guard(table, "TRUNCATE", f"the ledger table {table} cannot be truncated")
        for table in GUARDED_TABLES
    ),
)


def _create_sql(guard: Guard, dialect: str) -> list[str]:
    # Messages are static text (no quotes, no percent signs), safe inside SQL literals.
    predicate = guard.refuse_when(_DISTINCT[dialect]) if guard.refuse_when else None
    if guard.event == "TRUNCATE":
        return [] if dialect == "sqlite" else _truncate_sql(guard)
    if dialect == "sqlite":
        when = f" WHEN {predicate}" if predicate else ""
        return [
            f"CREATE TRIGGER {guard.name} BEFORE {guard.event} ON {guard.table}"
            f" FOR EACH ROW{when} BEGIN SELECT RAISE(ABORT, '{guard.message}'); END"
        ]
    returned = "NEW" if guard.event == "UPDATE" else "OLD"
    return [
        f"CREATE FUNCTION {guard.name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        f"    IF {predicate or 'TRUE'} THEN\n"
        f"        RAISE EXCEPTION '{guard.message}'\n"
        "            USING ERRCODE = 'integrity_constraint_violation';\n"
        "    END IF;\n"
        f"    RETURN {returned};\n"
        "END\n"
        "$$",
        f"CREATE TRIGGER {guard.name} BEFORE {guard.event} ON {guard.table}"
        f" FOR EACH ROW EXECUTE FUNCTION {guard.name}()",
    ]


def _truncate_sql(guard: Guard) -> list[str]:
    # A statement-level trigger: no row to look at, its return value is ignored.
    return [
        f"CREATE FUNCTION {guard.name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        f"    RAISE EXCEPTION '{guard.message}'\n"
        "        USING ERRCODE = 'integrity_constraint_violation';\n"
        "END\n"
        "$$",
        f"CREATE TRIGGER {guard.name} BEFORE TRUNCATE ON {guard.table}"
        f" FOR EACH STATEMENT EXECUTE FUNCTION {guard.name}()",
    ]


def _drop_sql(guard: Guard, dialect: str) -> list[str]:
    if dialect == "sqlite" and guard.event == "TRUNCATE":
        return []
    if dialect == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {guard.name}"]
    return [
        f"DROP TRIGGER IF EXISTS {guard.name} ON {guard.table}",
        f"DROP FUNCTION IF EXISTS {guard.name}()",
    ]


def _check_dialect(dialect: str) -> None:
    if dialect not in _DISTINCT:
        raise NotImplementedError(f"no ledger guards for the {dialect} database")


def create_guards(execute: Callable[[str], object], dialect: str) -> None:
    """Create every guard, in the caller's transaction."""
    _check_dialect(dialect)
    for guard in GUARDS:
        for statement in _create_sql(guard, dialect):
            execute(statement)


def drop_guards(execute: Callable[[str], object], dialect: str) -> None:
    """Drop every guard, in the caller's transaction."""
    _check_dialect(dialect)
    for guard in GUARDS:
        for statement in _drop_sql(guard, dialect):
            execute(statement)


def upgrade() -> None:
    create_guards(op.execute, op.get_bind().dialect.name)


def downgrade() -> None:
    drop_guards(op.execute, op.get_bind().dialect.name)

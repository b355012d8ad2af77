"""CSV import (SPEC §4): all-or-nothing, every problem reported, safe to run again.

Phase 1 (`billing.csv_parse`) reads and checks the whole file without the
database. Phase 2 runs in ONE write transaction:

1. *resolve*: the keys and references of every row are looked up in bulk (no
   query per row) and each row is classed as new, already present (same
   content: skipped), or different (an error naming what differs);
2. *apply*: new rows go through the ordinary services in file order (so the
   role checks, invariants and audit trail are the app's own), each in a
   savepoint, so a row the services refuse is reported and the rest are still
   tried: the user sees every problem in one run.

Any problem rolls the whole transaction back; so does `dry_run`, after
counting what would have been done.

Re-runs: the keys are customer_code; invoice_number; (customer_code,
payment_reference); and (invoice_number, kind, date) for adjustments. A
payment's target invoice is not compared on a re-run: where its cash went
depended on the ledger when it was first posted. Payments carry no
idempotency key: their (customer, reference) key already is one, compared
before posting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, any_, bindparam, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from billing import audit
from billing.csv_parse import (
    KINDS,
    AdjustmentDraft,
    ImportProblem,
    ParsedFile,
    ParsedRow,
    parse_csv_file,
)
from billing.db import write_session
from billing.errors import BillingError, Problem, ValidationError
from billing.models import Adjustment, Customer, Invoice, InvoiceStatus, Payment
from billing.money import format_amount, parse_amount
from billing.roles import Action, Actor, require
from billing.services import (
    AdjustmentCreate,
    CustomerCreate,
    InvoiceCreate,
    PaymentCreate,
    adjust_invoice,
    create_customer,
    create_invoice,
    post_payment,
)

__all__ = ["KINDS", "ImportFailed", "ImportProblem", "ImportReport", "import_csv"]

Progress = Callable[[int, int], None]
T = TypeVar("T")
_IN_CHUNK = 2000  # keys per lookup: far below SQLite's 32,766 parameters
_PROGRESS_STEPS = 200  # progress callbacks per import, at most


@dataclass
class ImportReport:
    """What an import did (or, with `dry_run`, would do)."""

    kind: str
    filename: str
    rows: int = 0
    created: int = 0
    already_present: int = 0
    errors: list[ImportProblem] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        """One line for the CLI and the import page."""
        if self.errors:
            return (
                f"import refused: {len(self.errors)} problem{'s' if len(self.errors) != 1 else ''}"
                "; nothing was written"
            )
        created = "would be created" if self.dry_run else "created"
        text = (
            f"{self.filename}: {self.rows} row{'s' if self.rows != 1 else ''} of {self.kind}, "
            f"{self.created} {created}, {self.already_present} already present"
        )
        return text + (" (dry run: nothing was written)" if self.dry_run else "")


class ImportFailed(BillingError):
    """An import refused; nothing was written. Carries every problem found."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        self.problems = report.errors
        super().__init__("\n".join(p.describe(report.filename) for p in report.errors))


def import_csv(
    engine: Engine,
    *,
    actor: Actor,
    kind: str,
    path: Path | str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Import one CSV file of `kind`; raise `ImportFailed` (database unchanged) on any problem."""
    require(actor, Action.IMPORT_CSV)
    if kind not in KINDS:
        raise ValidationError(Problem("kind", kind, "must be one of " + ", ".join(KINDS)))
    path = Path(path)
    parsed = parse_csv_file(kind, path)
    report = ImportReport(kind=kind, filename=parsed.filename, dry_run=dry_run)
    report.rows = parsed.row_count
    if parsed.problems:
        report.errors = parsed.problems
        raise ImportFailed(report)
    try:
        with write_session(engine) as session:
            job = _Job(session, actor, report, progress)
            _IMPORTERS[kind](job, parsed.rows)
            if report.errors or dry_run:
                raise _RollBack
            if report.created:
                _record_import(session, actor, parsed, report)
    except _RollBack:
        pass
    if report.errors:
        report.errors.sort(key=lambda p: p.line or 0)
        raise ImportFailed(report)
    return report


class _RollBack(Exception):
    """Leaves `write_session` by its error path, so everything done is undone."""


def _record_import(
    session: Session, actor: Actor, parsed: ParsedFile, report: ImportReport
) -> None:
    audit.record(
        session,
        actor=actor,
        action="import_csv",
        entity="import",
        entity_id=f"{parsed.kind}:{parsed.filename}"[:80],
        before=None,
        after={
            "kind": parsed.kind,
            "file": parsed.filename,
            "sha256": parsed.sha256,
            "rows": report.rows,
            "created": report.created,
            "already_present": report.already_present,
        },
    )


# Service problem fields that are not CSV column names, per kind of file.
_FIELD_TO_COLUMN: dict[str, dict[str, str]] = {
    "customers": {},
    "invoices": {
        "total": "amount",
        "lines": "amount",
        "line 1 unit_price": "amount",
        "line 1 description": "description",
    },
    "payments": {},
    "adjustments": {},
}


class _Job:
    """One import's shared state: the session, the tallies, and the problem list."""

    def __init__(
        self, session: Session, actor: Actor, report: ImportReport, progress: Progress | None
    ) -> None:
        self.session = session
        self.actor = actor
        self.report = report
        self._progress = progress
        self._total = report.rows
        self._step = max(1, self._total // _PROGRESS_STEPS)

    def problem(self, row: ParsedRow, column: str | None, message: str) -> None:
        """Record a problem with one cell of a row (or the whole row, column None)."""
        value = row.cells.get(column) if column is not None else None
        self.report.errors.append(ImportProblem(row.line, column, value, message))

    def present(self) -> None:
        """Count a row that is already in the ledger with the same content."""
        self.report.already_present += 1

    def done(self, count: int) -> None:
        """Report progress after `count` rows (throttled)."""
        if self._progress is not None and (count % self._step == 0 or count == self._total):
            self._progress(count, self._total)

    def attempt(self, row: ParsedRow, key_column: str, write: Callable[[], object]) -> None:
        """Run one service call in a savepoint; a refusal becomes a problem on this row."""
        try:
            with self.session.begin_nested():
                write()
        except ValidationError as error:
            mapping = _FIELD_TO_COLUMN[self.report.kind]
            cells = row.cells
            for problem in error.problems:
                column = mapping.get(problem.field, problem.field)
                if column in cells:
                    self.problem(row, column, problem.message)
                else:  # a rule on something the file does not hold as such
                    self.problem(row, key_column, f"{problem.field} {problem.message}")
        except BillingError as error:
            self.problem(row, key_column, str(error))
        except IntegrityError as error:
            # Only a concurrent writer can get here (the services check first).
            reason = str(error.orig).splitlines()[0] if error.orig else "a constraint failed"
            self.problem(row, key_column, f"the database refused the row ({reason})")
        else:
            self.report.created += 1


def _chunks(values: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(values), _IN_CHUNK):
        yield values[start : start + _IN_CHUNK]


def _fetch(
    session: Session, statement: Any, column: InstrumentedAttribute[Any], keys: Iterable[Any]
) -> list[Any]:
    """Rows of `statement` whose `column` is in `keys`, in a few chunked lookups.

    PostgreSQL gets each chunk as one array parameter (`= ANY(:keys)`): an IN
    list of thousands of parameters costs more to bind and plan than the
    lookup itself (100k keys: about 1 s less). SQLite has no arrays.
    """
    wanted = sorted(set(keys))
    found: list[Any] = []
    postgres = session.get_bind().dialect.name == "postgresql"
    for chunk in _chunks(wanted):
        if postgres:
            keys_param = bindparam("keys", chunk, type_=postgresql.ARRAY(column.type))
            matches = column == any_(keys_param)
        else:
            matches = column.in_(chunk)
        found.extend(session.execute(statement.where(matches)).unique().all())
    return found


def _differs(job: _Job, row: ParsedRow, what: str, pairs: list[tuple[str, object, object]]) -> bool:
    """Report each column whose file value differs from the stored one; True if any did."""
    different = [(column, stored) for column, mine, stored in pairs if mine != stored]
    for column, stored in different:
        shown = "(empty)" if stored in (None, "") else str(stored)
        job.problem(row, column, f"{what} already exists with {column} {shown}")
    return bool(different)


def _import_customers(job: _Job, rows: list[ParsedRow]) -> None:
    existing = _customers_by_code(job.session, (row.key("customer_code") for row in rows))
    todo: list[tuple[ParsedRow, Any]] = []
    for row in rows:
        stored = existing.get(row.key("customer_code"))
        if stored is None:
            todo.append((row, None))
        elif not _customer_differs(job, row, row.record(), stored):
            job.present()
    _apply_all(job, todo, "customer_code", _create_customer)


def _create_customer(job: _Job, data: CustomerCreate) -> object:
    return create_customer(job.session, actor=job.actor, data=data)


def _customer_differs(job: _Job, row: ParsedRow, data: CustomerCreate, stored: Customer) -> bool:
    currency = stored.currency
    pairs: list[tuple[str, object, object]] = [
        ("name", data.name, stored.name),
        ("currency", data.currency, currency),
    ]
    if row.given("email"):
        pairs.append(("email", data.email, stored.email))
    if row.given("payment_terms_days"):
        pairs.append(("payment_terms_days", data.payment_terms_days, stored.payment_terms_days))
    if row.given("credit_limit") and data.currency == currency:
        pairs.append(
            (
                "credit_limit",
                format_amount(data.credit_limit_minor, currency),
                format_amount(stored.credit_limit_minor, currency),
            )
        )
    return _differs(job, row, f"customer {data.customer_code}", pairs)


def _customers_by_code(session: Session, codes: Iterable[str]) -> dict[str, Customer]:
    return {
        c.customer_code: c
        for (c,) in _fetch(session, select(Customer), Customer.customer_code, codes)
    }


def _invoices_by_number(session: Session, numbers: Iterable[str]) -> dict[str, Invoice]:
    return {
        i.invoice_number: i
        for (i,) in _fetch(session, select(Invoice), Invoice.invoice_number, numbers)
    }


def _wrong_currency(job: _Job, row: ParsedRow, currency: str | None, customer: Customer) -> bool:
    if currency == customer.currency:
        return False
    job.problem(
        row, "currency", f"must be customer {customer.customer_code}'s currency {customer.currency}"
    )
    return True


def _import_invoices(job: _Job, rows: list[ParsedRow]) -> None:
    keyed = [(row, row.key("invoice_number"), row.key("customer_code")) for row in rows]
    customers = _customers_by_code(job.session, {code for _, _, code in keyed})
    existing = _invoices_by_number(job.session, (number for _, number, _ in keyed))
    todo: list[tuple[ParsedRow, Any]] = []
    for row, number, code in keyed:
        stored = existing.get(number)
        customer = customers.get(code)
        if stored is not None:
            if not _invoice_differs(job, row, row.record(), stored):
                job.present()
        elif customer is None:
            job.problem(row, "customer_code", "no customer has this code")
        elif not _wrong_currency(job, row, row.key("currency").upper(), customer):
            todo.append((row, None))
    _apply_all(job, todo, "invoice_number", _post_invoice)


def _post_invoice(job: _Job, data: InvoiceCreate) -> object:
    return create_invoice(job.session, actor=job.actor, data=data, post=True)


def _invoice_differs(job: _Job, row: ParsedRow, data: InvoiceCreate, stored: Invoice) -> bool:
    what = f"invoice {data.invoice_number}"
    if stored.status is not InvoiceStatus.POSTED:
        job.problem(row, "invoice_number", f"{what} already exists and is {stored.status.value}")
        return True
    pairs: list[tuple[str, object, object]] = [
        ("customer_code", data.customer_code, stored.customer.customer_code),
        ("issue_date", data.issue_date, stored.issue_date),
        ("currency", data.currency, stored.currency),
    ]
    if data.currency == stored.currency:
        total = data.lines[0].unit_price_minor
        pairs.append(
            (
                "amount",
                format_amount(total, stored.currency),
                format_amount(stored.total_minor, stored.currency),
            )
        )
    if row.given("due_date"):
        pairs.append(("due_date", data.due_date, stored.due_date))
    if row.given("description"):
        pairs.append(("description", data.description, stored.description))
    return _differs(job, row, what, pairs)


def _import_payments(job: _Job, rows: list[ParsedRow]) -> None:
    session = job.session
    customers = _customers_by_code(session, (row.key("customer_code") for row in rows))
    targets = _invoices_by_number(
        session, (row.key("invoice_number") for row in rows if row.given("invoice_number"))
    )
    existing: dict[tuple[str, str], Payment] = {}
    for payment, code in _fetch(
        session,
        select(Payment, Customer.customer_code).join(Customer, Payment.customer_id == Customer.id),
        Payment.payment_reference,
        (row.key("payment_reference") for row in rows),
    ):
        existing[(code, payment.payment_reference)] = payment
    todo: list[tuple[ParsedRow, Any]] = []
    for row in rows:
        stored = existing.get((row.key("customer_code"), row.key("payment_reference")))
        customer = customers.get(row.key("customer_code"))
        if stored is not None:
            if not _payment_differs(job, row, row.record(), stored):
                job.present()
        elif customer is None:
            job.problem(row, "customer_code", "no customer has this code")
        elif _wrong_currency(job, row, row.key("currency").upper(), customer):
            pass
        elif not row.given("invoice_number"):
            todo.append((row, None))
        elif (target := targets.get(row.key("invoice_number"))) is None:
            job.problem(row, "invoice_number", "no invoice has this number")
        elif target.customer_id != customer.id:
            job.problem(
                row,
                "invoice_number",
                f"belongs to customer {target.customer.customer_code}, "
                f"not {customer.customer_code}",
            )
        else:
            todo.append((row, None))
    _apply_all(job, todo, "payment_reference", _post_payment)


def _post_payment(job: _Job, data: PaymentCreate) -> object:
    return post_payment(job.session, actor=job.actor, data=data)


def _payment_differs(job: _Job, row: ParsedRow, data: PaymentCreate, stored: Payment) -> bool:
    what = f"payment {data.payment_reference} of customer {data.customer_code}"
    pairs: list[tuple[str, object, object]] = [
        ("received_date", data.received_date, stored.received_date),
        ("currency", data.currency, stored.currency),
    ]
    if data.currency == stored.currency:
        pairs.append(
            (
                "amount",
                format_amount(data.amount_minor, stored.currency),
                format_amount(stored.amount_minor, stored.currency),
            )
        )
    if row.given("method"):
        pairs.append(("method", data.method, stored.method))
    return _differs(job, row, what, pairs)


def _import_adjustments(job: _Job, rows: list[ParsedRow]) -> None:
    session = job.session
    items: list[tuple[ParsedRow, AdjustmentDraft]] = [(row, row.record()) for row in rows]
    invoices = _invoices_by_number(session, (draft.invoice_number for _, draft in items))
    existing: dict[tuple[int, str, dt.date], list[Adjustment]] = {}
    for (adjustment,) in _fetch(
        session, select(Adjustment), Adjustment.invoice_id, (i.id for i in invoices.values())
    ):
        key = (adjustment.invoice_id, adjustment.kind.value, adjustment.date)
        existing.setdefault(key, []).append(adjustment)
    todo: list[tuple[ParsedRow, Any]] = []
    for row, draft in items:
        invoice = invoices.get(draft.invoice_number)
        if invoice is None:
            job.problem(row, "invoice_number", "no invoice has this number")
            continue
        try:
            amount = parse_amount(draft.amount_text, invoice.currency)
        except ValidationError as error:
            for problem in error.problems:
                job.problem(row, "amount", problem.message)
            continue
        same_key = existing.get((invoice.id, draft.kind.value, draft.date), [])
        if not same_key:
            data = AdjustmentCreate(
                draft.invoice_number, draft.kind, draft.date, amount, draft.reason
            )
            todo.append((row, data))
        elif any(a.amount_minor == amount and a.reason == draft.reason for a in same_key):
            job.present()
        else:
            _adjustment_differs(
                job, row, draft=draft, amount_minor=amount, invoice=invoice, stored=same_key
            )
    _apply_all(job, todo, "invoice_number", partial(_adjust, invoices))


def _adjust(invoices: dict[str, Invoice], job: _Job, data: AdjustmentCreate) -> object:
    # Checked here as well as in the service, to say the balance in money, not minor units.
    invoice = invoices[data.invoice_number]
    open_minor = invoice.total_minor - invoice.settled_minor
    if invoice.status is InvoiceStatus.POSTED and data.amount_minor > open_minor:
        raise ValidationError(
            Problem(
                "amount",
                data.amount_minor,
                f"is more than invoice {invoice.invoice_number}'s open balance "
                f"{format_amount(open_minor, invoice.currency)} {invoice.currency}",
            )
        )
    return adjust_invoice(job.session, actor=job.actor, data=data)


def _adjustment_differs(
    job: _Job,
    row: ParsedRow,
    *,
    draft: AdjustmentDraft,
    amount_minor: int,
    invoice: Invoice,
    stored: list[Adjustment],
) -> None:
    what = f"invoice {draft.invoice_number} already has a {draft.kind.value} dated {draft.date}"
    if len(stored) == 1:
        if stored[0].amount_minor != amount_minor:
            amount = format_amount(stored[0].amount_minor, invoice.currency)
            job.problem(row, "amount", f"{what} of {amount} {invoice.currency}")
        if stored[0].reason != draft.reason:
            job.problem(row, "reason", f"{what} with reason {stored[0].reason!r}")
        return
    job.problem(row, "amount", f"{what} ({len(stored)} of them), none with this amount and reason")


def _apply_all(
    job: _Job,
    todo: list[tuple[ParsedRow, Any]],
    key_column: str,
    write: Callable[[_Job, Any], object],
) -> None:
    """Apply the new rows in file order, unless resolving already found problems.

    A row given without its record (None) has it built only here, after the
    check: a file refused for one row of 100k does not pay for the other 99,999.
    """
    if job.report.errors:
        return
    done = job.report.rows - len(todo)
    if not todo:
        job.done(done)
    for count, (row, given) in enumerate(todo, start=done + 1):
        data = row.record() if given is None else given
        job.attempt(row, key_column, partial(write, job, data))
        job.done(count)


_IMPORTERS: dict[str, Callable[[_Job, list[ParsedRow]], None]] = {
    "customers": _import_customers,
    "invoices": _import_invoices,
    "payments": _import_payments,
    "adjustments": _import_adjustments,
}

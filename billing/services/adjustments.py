"""Credit notes and write-offs: a manager's corrections to a posted invoice's balance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Conflict, Problem, ValidationError
from billing.models import Adjustment, AdjustmentKind, Invoice, InvoiceStatus
from billing.money import format_amount
from billing.roles import Action, Actor, require
from billing.services._common import ensure_books_open, invoice_by_number
from billing.validation import Checker

_ACTION = {
    AdjustmentKind.CREDIT_NOTE: Action.ISSUE_CREDIT_NOTE,
    AdjustmentKind.WRITE_OFF: Action.WRITE_OFF,
}


@dataclass(frozen=True)
class AdjustmentCreate:
    """A credit note or write-off of `amount_minor` against one invoice."""

    invoice_number: str
    kind: AdjustmentKind
    date: dt.date
    amount_minor: int
    reason: str


def adjust_invoice(session: Session, *, actor: Actor, data: AdjustmentCreate) -> Adjustment:
    """Reduce a posted invoice's open balance; never by more than what is still open."""
    kind = AdjustmentKind(data.kind)
    require(actor, _ACTION[kind])
    check = Checker()
    number = check.code("invoice_number", data.invoice_number)
    check.date("date", data.date)
    check.positive_minor("amount", data.amount_minor)
    reason = check.text("reason", data.reason, max_len=1000)
    check.done()
    what = "a credit note" if kind is AdjustmentKind.CREDIT_NOTE else "a write-off"
    ensure_books_open(session, data.date, what=what, field="date")
    invoice = invoice_by_number(session, number, lock=True)
    if invoice.status is not InvoiceStatus.POSTED:
        raise Conflict(
            f"invoice {number} is {invoice.status.value}; only posted invoices can be adjusted"
        )
    if data.date < invoice.issue_date:
        raise ValidationError(
            Problem("date", data.date.isoformat(), "is before the invoice's issue date")
        )
    open_minor = invoice.total_minor - invoice.settled_minor
    if data.amount_minor > open_minor:
        raise ValidationError(
            Problem(
                "amount",
                format_amount(data.amount_minor, invoice.currency),
                f"is more than invoice {number}'s open balance "
                f"{format_amount(open_minor, invoice.currency)} {invoice.currency}",
            )
        )
    before = audit.snapshot(invoice)
    adjustment = Adjustment(
        invoice_id=invoice.id,
        kind=kind,
        date=data.date,
        amount_minor=data.amount_minor,
        reason=reason or "",
        created_by=actor.name,
    )
    session.add(adjustment)
    invoice.settled_minor = Invoice.settled_minor + data.amount_minor  # in SQL: see payments._apply
    session.flush()
    session.refresh(invoice, ["settled_minor"])
    audit.record(
        session,
        actor=actor,
        action=kind.value,
        entity="invoice",
        entity_id=number,
        before=before,
        after={**(audit.snapshot(invoice) or {}), "adjustment": audit.snapshot(adjustment)},
    )
    return adjustment

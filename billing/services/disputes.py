"""Disputes: an invoice the customer contests leaves dunning until the dispute is closed.

Opening one is a clerk's job (the customer called); closing one is a manager's,
either with the invoice standing (it re-enters dunning) or with a credit note,
which goes through `adjust_invoice` in the same transaction so the lock date,
the open-balance limit and its audit row all apply. Each step is also logged
as a collection activity, so it shows in the customer's timeline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Conflict, NotFound, Problem, ValidationError
from billing.models import (
    ActivityKind,
    AdjustmentKind,
    CollectionActivity,
    Dispute,
    DisputeResolution,
    Invoice,
    InvoiceStatus,
)
from billing.money import format_amount
from billing.roles import Action, Actor, require
from billing.services._common import (
    ensure_books_open,
    invoice_by_number,
    locked,
    unique_or_conflict,
)
from billing.services.adjustments import AdjustmentCreate, adjust_invoice
from billing.validation import Checker

MAX_TEXT = 2000
# adjustments.reason's limit: a credit note's note becomes its reason.
MAX_CREDIT_NOTE_TEXT = 1000


@dataclass(frozen=True)
class DisputeOpen:
    """The customer contests `invoice_number` for `reason`, as of `opened_date`."""

    invoice_number: str
    reason: str
    opened_date: dt.date


def _already_open(number: str, since: dt.date | None = None) -> str:
    opened = f" (opened {since.isoformat()})" if since else ""
    return f"invoice {number} already has an open dispute{opened}; close it before opening another"


def _open_dispute_of(session: Session, invoice: Invoice, *, lock: bool = False) -> Dispute | None:
    statement = select(Dispute).where(
        Dispute.invoice_id == invoice.id, Dispute.closed_date.is_(None)
    )
    return session.scalars(locked(statement) if lock else statement).first()


def _log(
    session: Session, *, actor: Actor, invoice: Invoice, kind: ActivityKind, day: dt.date, body: str
) -> CollectionActivity:
    """The dispute's step in the customer's timeline."""
    activity = CollectionActivity(
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        kind=kind,
        activity_date=day,
        body=body,
        created_by=actor.name,
    )
    session.add(activity)
    return activity


def open_dispute(session: Session, *, actor: Actor, data: DisputeOpen) -> Dispute:
    """Mark a posted, unpaid invoice disputed: out of dunning, still in the aging."""
    require(actor, Action.OPEN_DISPUTE)
    check = Checker()
    number = check.code("invoice_number", data.invoice_number)
    reason = check.text("reason", data.reason, max_len=MAX_TEXT)
    check.date("opened_date", data.opened_date)
    check.done()
    # Locked: a payment settling it, or a second clerk disputing it, waits for this one.
    invoice = invoice_by_number(session, number, lock=True)
    if invoice.status is not InvoiceStatus.POSTED:
        raise Conflict(
            f"invoice {number} is {invoice.status.value}; only posted invoices can be disputed"
        )
    if invoice.open_minor <= 0:
        raise Conflict(f"invoice {number} is fully settled; there is nothing left to dispute")
    if data.opened_date < invoice.issue_date:
        raise ValidationError(
            Problem(
                "opened_date",
                data.opened_date.isoformat(),
                f"is before invoice {number}'s issue date {invoice.issue_date.isoformat()}",
            )
        )
    existing = _open_dispute_of(session, invoice)
    if existing is not None:
        raise Conflict(_already_open(number, existing.opened_date))
    dispute = Dispute(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        opened_date=data.opened_date,
        reason=reason or "",
        opened_by=actor.name,
    )
    # The partial unique index (one open dispute per invoice) catches a race the check missed.
    with unique_or_conflict(session, _already_open(number)):
        session.add(dispute)
        session.flush()
    _log(
        session,
        actor=actor,
        invoice=invoice,
        kind=ActivityKind.DISPUTE,
        day=data.opened_date,
        body=reason or "",
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="open_dispute",
        entity="dispute",
        entity_id=number,
        before=None,
        after=audit.snapshot(dispute),
    )
    return dispute


def _dispute_to_close(
    session: Session, number: str, closed_date: dt.date, *, field: str
) -> tuple[Invoice, Dispute]:
    """The invoice and its open dispute, locked; refuses a closing dated before the opening."""
    invoice = invoice_by_number(session, number, lock=True)
    dispute = _open_dispute_of(session, invoice, lock=True)
    if dispute is None:
        raise NotFound(f"invoice {number} has no open dispute to close")
    if closed_date < dispute.opened_date:
        raise ValidationError(
            Problem(
                field,
                closed_date.isoformat(),
                f"is before the dispute was opened ({dispute.opened_date.isoformat()})",
            )
        )
    return invoice, dispute


def _close(
    session: Session,
    *,
    actor: Actor,
    invoice: Invoice,
    dispute: Dispute,
    closed_date: dt.date,
    resolution: DisputeResolution,
    note: str,
    timeline: str,
    adjustment_id: int | None = None,
) -> Dispute:
    """Close `dispute`, log `timeline` in the customer's timeline and audit it."""
    before = audit.snapshot(dispute)
    dispute.closed_date = closed_date
    dispute.resolution = resolution
    dispute.resolution_note = note
    dispute.adjustment_id = adjustment_id
    dispute.closed_by = actor.name
    _log(
        session,
        actor=actor,
        invoice=invoice,
        kind=ActivityKind.NOTE,
        day=closed_date,
        body=timeline,
    )
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="close_dispute",
        entity="dispute",
        entity_id=invoice.invoice_number,
        before=before,
        after=audit.snapshot(dispute),
    )
    return dispute


def close_dispute(
    session: Session, *, actor: Actor, invoice_number: str, closed_date: dt.date, note: str
) -> Dispute:
    """Close the invoice's open dispute with the invoice standing: it re-enters dunning."""
    require(actor, Action.CLOSE_DISPUTE)
    check = Checker()
    number = check.code("invoice_number", invoice_number)
    check.date("closed_date", closed_date)
    text = check.text("note", note, max_len=MAX_TEXT)
    check.done()
    invoice, dispute = _dispute_to_close(session, number, closed_date, field="closed_date")
    return _close(
        session,
        actor=actor,
        invoice=invoice,
        dispute=dispute,
        closed_date=closed_date,
        resolution=DisputeResolution.CLOSED,
        note=text or "",
        timeline=f"Dispute closed, the invoice stands: {text}",
    )


def resolve_dispute_with_credit_note(
    session: Session,
    *,
    actor: Actor,
    invoice_number: str,
    amount_minor: int,
    credit_date: dt.date,
    note: str,
) -> Dispute:
    """Settle the dispute with a credit note of `amount_minor`, dated `credit_date`.

    The credit note is `adjust_invoice`'s, with its rules (lock date, no more
    than the open balance) and audit row; the note is its reason. Both happen
    or neither does: the caller's transaction holds them.
    """
    require(actor, Action.CLOSE_DISPUTE)
    require(actor, Action.ISSUE_CREDIT_NOTE)
    check = Checker()
    number = check.code("invoice_number", invoice_number)
    check.positive_minor("amount", amount_minor)
    check.date("credit_date", credit_date)
    text = check.text("note", note, max_len=MAX_CREDIT_NOTE_TEXT)
    check.done()
    # The lock date first, as every dated write reads it, before any invoice lock.
    ensure_books_open(session, credit_date, what="a credit note", field="credit_date")
    invoice, dispute = _dispute_to_close(session, number, credit_date, field="credit_date")
    try:
        adjustment = adjust_invoice(
            session,
            actor=actor,
            data=AdjustmentCreate(
                number, AdjustmentKind.CREDIT_NOTE, credit_date, amount_minor, text or ""
            ),
        )
    except ValidationError as error:
        # Name the fields as this form calls them (`date` is `credit_date` here).
        raise ValidationError(
            [
                Problem("credit_date" if p.field == "date" else p.field, p.value, p.message)
                for p in error.problems
            ]
        ) from None
    amount = f"{format_amount(amount_minor, invoice.currency)} {invoice.currency}"
    return _close(
        session,
        actor=actor,
        invoice=invoice,
        dispute=dispute,
        closed_date=credit_date,
        resolution=DisputeResolution.CREDIT_NOTE,
        note=text or "",
        timeline=f"Dispute resolved with a credit note of {amount}: {text}",
        adjustment_id=adjustment.id,
    )

"""Entering, posting and voiding invoices.

A draft can be entered and posted later; once posted an invoice is never edited
(SPEC §2): corrections are credit notes, or a manager's void of an invoice with
nothing applied to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Conflict
from billing.invoice_math import line_amounts
from billing.models import Adjustment, Allocation, Invoice, InvoiceLine, InvoiceStatus
from billing.money import MAX_MINOR
from billing.roles import Action, Actor, require
from billing.services._common import (
    customer_by_code,
    ensure_books_open,
    invoice_by_number,
    unique_or_conflict,
)
from billing.validation import Checker

MAX_LINES = 500


@dataclass(frozen=True)
class LineCreate:
    """One invoice line: quantity × unit price (minor units), taxed at a percentage."""

    description: str
    quantity: Decimal
    unit_price_minor: int
    tax_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class InvoiceCreate:
    """An invoice as entered. `due_date` defaults to issue date + the customer's terms."""

    invoice_number: str
    customer_code: str
    issue_date: dt.date
    lines: list[LineCreate] = field(default_factory=list)
    due_date: dt.date | None = None
    currency: str | None = None
    description: str | None = None


def create_invoice(
    session: Session, *, actor: Actor, data: InvoiceCreate, post: bool = False
) -> Invoice:
    """Enter an invoice as a draft, or posted straight away with `post=True`."""
    require(actor, Action.ENTER_INVOICE)
    if post:
        require(actor, Action.POST_INVOICE)
    check = Checker()
    number = check.code("invoice_number", data.invoice_number)
    customer_code = check.code("customer_code", data.customer_code)
    check.date("issue_date", data.issue_date)
    check.date("due_date", data.due_date, required=False)
    description = check.text("description", data.description, max_len=1000, required=False)
    if not data.lines:
        check.add("lines", len(data.lines), "an invoice needs at least one line")
    if len(data.lines) > MAX_LINES:
        check.add("lines", len(data.lines), f"an invoice has at most {MAX_LINES} lines")
    rows: list[InvoiceLine] = []
    for no, line in enumerate(data.lines, start=1):
        prefix = f"line {no} "
        line_text = check.text(prefix + "description", line.description, max_len=1000)
        quantity = check.decimal(
            prefix + "quantity",
            line.quantity,
            minimum=Decimal(0),
            maximum=Decimal(10**9),
            places=4,
            allow_minimum=False,
        )
        rate = check.decimal(
            prefix + "tax_rate", line.tax_rate, minimum=Decimal(0), maximum=Decimal(100), places=4
        )
        price = line.unit_price_minor
        if isinstance(price, bool) or not isinstance(price, int) or not 0 <= price < MAX_MINOR:
            check.add(prefix + "unit_price", price, "must be zero or more")
            continue
        if check.problems:
            continue
        amounts = line_amounts(quantity, price, rate)
        rows.append(
            InvoiceLine(
                line_no=no,
                description=line_text or "",
                quantity=quantity,
                unit_price_minor=price,
                tax_rate=rate,
                net_minor=amounts.net_minor,
                tax_minor=amounts.tax_minor,
            )
        )
    check.done()
    ensure_books_open(session, data.issue_date, what="an invoice", field="issue_date")

    customer = customer_by_code(session, customer_code)
    currency = (data.currency or customer.currency).strip().upper()
    if currency != customer.currency:
        check.add("currency", data.currency, f"must be the customer's currency {customer.currency}")
    due = data.due_date or data.issue_date + dt.timedelta(days=customer.payment_terms_days)
    if due < data.issue_date:
        check.add("due_date", due.isoformat(), "must be on or after the issue date")
    total = sum(r.net_minor + r.tax_minor for r in rows)
    if post and total <= 0:
        check.add("total", total, "a posted invoice must total more than zero")
    if total >= MAX_MINOR:
        check.add("total", total, "is too large")
    check.done()
    if session.scalar(select(Invoice.id).where(Invoice.invoice_number == number)) is not None:
        raise Conflict(f"invoice number {number!r} is already in use")

    invoice = Invoice(
        invoice_number=number,
        customer_id=customer.id,
        issue_date=data.issue_date,
        due_date=due,
        currency=currency,
        total_minor=total,
        settled_minor=0,
        status=InvoiceStatus.POSTED if post else InvoiceStatus.DRAFT,
        description=description,
        posted_at=dt.datetime.now(dt.UTC) if post else None,
        lines=rows,
    )
    with unique_or_conflict(session, f"invoice number {number!r} is already in use"):
        session.add(invoice)
    after = audit.snapshot(invoice) or {}
    after["lines"] = [audit.snapshot(r) for r in rows]
    audit.record(
        session,
        actor=actor,
        action="post_invoice" if post else "create_invoice",
        entity="invoice",
        entity_id=number,
        before=None,
        after=after,
    )
    return invoice


def post_invoice(session: Session, *, actor: Actor, invoice_number: str) -> Invoice:
    """Post a draft: from now on it counts in receivables and can no longer be edited."""
    require(actor, Action.POST_INVOICE)
    invoice = invoice_by_number(session, invoice_number, lock=True)
    if invoice.status is not InvoiceStatus.DRAFT:
        raise Conflict(f"invoice {invoice_number} is {invoice.status.value}, not a draft")
    if invoice.total_minor <= 0:
        raise Conflict(f"invoice {invoice_number} totals zero; a posted invoice must total more")
    ensure_books_open(
        session, invoice.issue_date, what="an invoice", field="issue_date", verb="posted"
    )
    before = audit.snapshot(invoice)
    invoice.status = InvoiceStatus.POSTED
    invoice.posted_at = dt.datetime.now(dt.UTC)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="post_invoice",
        entity="invoice",
        entity_id=invoice_number,
        before=before,
        after=audit.snapshot(invoice),
    )
    return invoice


def void_invoice(session: Session, *, actor: Actor, invoice_number: str, reason: str) -> Invoice:
    """Void a posted invoice that has no payments or credits applied (manager, with a reason).

    A voided invoice drops out of every report at every date, as if never posted,
    so anything applied to it would be left pointing at nothing: unapply first.
    """
    require(actor, Action.VOID_INVOICE)
    check = Checker()
    why = check.text("reason", reason, max_len=1000)
    check.done()
    invoice = invoice_by_number(session, invoice_number, lock=True)
    if invoice.status is not InvoiceStatus.POSTED:
        raise Conflict(
            f"invoice {invoice_number} is {invoice.status.value}; "
            "only posted invoices can be voided"
        )
    allocations = session.scalar(
        select(func.count()).select_from(Allocation).where(Allocation.invoice_id == invoice.id)
    )
    adjustments = session.scalar(
        select(func.count()).select_from(Adjustment).where(Adjustment.invoice_id == invoice.id)
    )
    if allocations or adjustments or invoice.settled_minor:
        raise Conflict(
            f"invoice {invoice_number} has payments or credits applied; it cannot be voided"
        )
    # Voiding takes the invoice out of every report at every date, its issue
    # date's period included; and the void itself is dated today.
    ensure_books_open(
        session, invoice.issue_date, what="an invoice", field="issue_date", verb="voided"
    )
    ensure_books_open(session, dt.date.today(), what="a void", field="voided_at")
    before = audit.snapshot(invoice)
    invoice.status = InvoiceStatus.VOID
    invoice.void_reason = why
    invoice.voided_at = dt.datetime.now(dt.UTC)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="void_invoice",
        entity="invoice",
        entity_id=invoice_number,
        before=before,
        after=audit.snapshot(invoice),
    )
    return invoice

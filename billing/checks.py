"""`billing check`: recompute every ledger invariant from the rows themselves.

The services keep the invariants and the schema backs them up; this is the
independent audit that would notice if either ever failed (or if someone edited
the database by hand). Each finding names the rows involved.
"""

from __future__ import annotations

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session, aliased

from billing.models import (
    Adjustment,
    Allocation,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
)

MAX_FINDINGS_PER_RULE = 20


def check_ledger(session: Session) -> list[str]:
    """Every broken invariant, one line each; an empty list means the ledger is sound."""
    findings: list[str] = []
    for rule in _RULES:
        findings.extend(rule(session))
    return findings


def _limit(label: str, rows: list[str]) -> list[str]:
    shown = [f"{label}: {r}" for r in rows[:MAX_FINDINGS_PER_RULE]]
    if len(rows) > MAX_FINDINGS_PER_RULE:
        shown.append(f"{label}: … and {len(rows) - MAX_FINDINGS_PER_RULE} more")
    return shown


def _allocated_per_invoice() -> Subquery:
    return (
        select(Allocation.invoice_id, func.sum(Allocation.amount_minor).label("total"))
        .group_by(Allocation.invoice_id)
        .subquery()
    )


def _adjusted_per_invoice() -> Subquery:
    return (
        select(Adjustment.invoice_id, func.sum(Adjustment.amount_minor).label("total"))
        .group_by(Adjustment.invoice_id)
        .subquery()
    )


def _invoice_settlement(session: Session) -> list[str]:
    alloc, adj = _allocated_per_invoice(), _adjusted_per_invoice()
    settled = func.coalesce(alloc.c.total, 0) + func.coalesce(adj.c.total, 0)
    rows = session.execute(
        select(Invoice.invoice_number, Invoice.total_minor, Invoice.settled_minor, settled)
        .outerjoin(alloc, alloc.c.invoice_id == Invoice.id)
        .outerjoin(adj, adj.c.invoice_id == Invoice.id)
        .where((settled > Invoice.total_minor) | (settled != Invoice.settled_minor))
        .order_by(Invoice.invoice_number)
    ).all()
    over = [f"{n}: allocations + adjustments {s} > total {t}" for n, t, _, s in rows if s > t]
    drift = [f"{n}: settled_minor {c} but rows sum to {s}" for n, _, c, s in rows if s != c]
    return _limit("invoice over-settled", over) + _limit("invoice running sum wrong", drift)


def _payment_allocation(session: Session) -> list[str]:
    alloc = (
        select(Allocation.payment_id, func.sum(Allocation.amount_minor).label("total"))
        .group_by(Allocation.payment_id)
        .subquery()
    )
    used = func.coalesce(alloc.c.total, 0)
    rows = session.execute(
        select(
            Payment.id,
            Payment.payment_reference,
            Payment.amount_minor,
            Payment.allocated_minor,
            used,
        )
        .outerjoin(alloc, alloc.c.payment_id == Payment.id)
        .where((used > Payment.amount_minor) | (used != Payment.allocated_minor))
        .order_by(Payment.id)
    ).all()
    over = [f"payment {i} ({r}): allocated {u} > amount {a}" for i, r, a, _, u in rows if u > a]
    drift = [
        f"payment {i} ({r}): allocated_minor {c} but rows sum to {u}"
        for i, r, _, c, u in rows
        if u != c
    ]
    return _limit("payment over-allocated", over) + _limit("payment running sum wrong", drift)


def _allocation_matches(session: Session) -> list[str]:
    rows = session.execute(
        select(
            Allocation.id,
            Invoice.invoice_number,
            Payment.payment_reference,
            Invoice.status,
            Invoice.customer_id != Payment.customer_id,
            Invoice.currency != Payment.currency,
            Allocation.applied_date < Payment.received_date,
            Allocation.applied_date < Invoice.issue_date,
        )
        .join(Invoice, Allocation.invoice_id == Invoice.id)
        .join(Payment, Allocation.payment_id == Payment.id)
        .where(
            (Invoice.status != InvoiceStatus.POSTED)
            | (Invoice.customer_id != Payment.customer_id)
            | (Invoice.currency != Payment.currency)
            | (Allocation.applied_date < Payment.received_date)
            | (Allocation.applied_date < Invoice.issue_date)
        )
        .order_by(Allocation.id)
    ).all()
    out = []
    for alloc_id, number, ref, status, other_customer, other_currency, early, pre_issue in rows:
        why = []
        if status != InvoiceStatus.POSTED:
            why.append(f"invoice is {status.value}")
        if other_customer:
            why.append("invoice belongs to another customer")
        if other_currency:
            why.append("currencies differ")
        if early:
            why.append("applied before the payment was received")
        if pre_issue:
            why.append("applied before the invoice was issued")
        out.append(f"allocation {alloc_id} (payment {ref} → {number}): {', '.join(why)}")
    return _limit("allocation invalid", out)


def _adjustments_on_posted(session: Session) -> list[str]:
    early = Adjustment.date < Invoice.issue_date
    rows = session.execute(
        select(Adjustment.id, Invoice.invoice_number, Invoice.status, early)
        .join(Invoice, Adjustment.invoice_id == Invoice.id)
        .where((Invoice.status != InvoiceStatus.POSTED) | early)
        .order_by(Adjustment.id)
    ).all()
    out = []
    for adjustment_id, number, status, before_issue in rows:
        why = [f"invoice is {status.value}"] if status != InvoiceStatus.POSTED else []
        if before_issue:
            why.append("dated before the invoice was issued")
        out.append(f"adjustment {adjustment_id} on {number}: {', '.join(why)}")
    return _limit("adjustment invalid", out)


def _positive_amounts(session: Session) -> list[str]:
    out = [
        f"allocation {i}: amount {a}"
        for i, a in session.execute(
            select(Allocation.id, Allocation.amount_minor).where(Allocation.amount_minor <= 0)
        )
    ]
    out += [
        f"adjustment {i}: amount {a}"
        for i, a in session.execute(
            select(Adjustment.id, Adjustment.amount_minor).where(Adjustment.amount_minor <= 0)
        )
    ]
    out += [
        f"payment {i}: amount {a}"
        for i, a in session.execute(
            select(Payment.id, Payment.amount_minor).where(Payment.amount_minor <= 0)
        )
    ]
    out += [
        f"invoice {n}: total {t}"
        for n, t in session.execute(
            select(Invoice.invoice_number, Invoice.total_minor).where(
                Invoice.status != InvoiceStatus.DRAFT, Invoice.total_minor <= 0
            )
        )
    ]
    return _limit("amount not positive", out)


def _invoice_totals(session: Session) -> list[str]:
    lines = (
        select(
            InvoiceLine.invoice_id,
            func.sum(InvoiceLine.net_minor + InvoiceLine.tax_minor).label("total"),
        )
        .group_by(InvoiceLine.invoice_id)
        .subquery()
    )
    rows = session.execute(
        select(Invoice.invoice_number, Invoice.total_minor, func.coalesce(lines.c.total, 0))
        .outerjoin(lines, lines.c.invoice_id == Invoice.id)
        .where(func.coalesce(lines.c.total, 0) != Invoice.total_minor)
        .order_by(Invoice.invoice_number)
    ).all()
    return _limit(
        "invoice total differs from its lines", [f"{n}: total {t}, lines {s}" for n, t, s in rows]
    )


def _payment_currency(session: Session) -> list[str]:
    rows = session.execute(
        select(Payment.id, Payment.payment_reference, Payment.currency, Customer.currency)
        .join(Customer, Payment.customer_id == Customer.id)
        .where(Payment.currency != Customer.currency)
        .order_by(Payment.id)
    ).all()
    return _limit(
        "payment inconsistent",
        [f"payment {i} ({r}): currency {c}, customer's {cc}" for i, r, c, cc in rows],
    )


def _dates_and_currency(session: Session) -> list[str]:
    customer = aliased(Customer)
    rows = session.execute(
        select(
            Invoice.invoice_number,
            Invoice.issue_date,
            Invoice.due_date,
            Invoice.currency,
            customer.currency,
        )
        .join(customer, Invoice.customer_id == customer.id)
        .where((Invoice.due_date < Invoice.issue_date) | (Invoice.currency != customer.currency))
    ).all()
    out = []
    for number, issue, due, currency, customer_currency in rows:
        if due < issue:
            out.append(f"{number}: due {due} before issue {issue}")
        if currency != customer_currency:
            out.append(f"{number}: currency {currency}, customer's {customer_currency}")
    return _limit("invoice inconsistent", out)


_RULES = (
    _invoice_settlement,
    _payment_allocation,
    _allocation_matches,
    _adjustments_on_posted,
    _positive_amounts,
    _invoice_totals,
    _dates_and_currency,
    _payment_currency,
)

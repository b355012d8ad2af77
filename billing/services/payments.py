"""Posting payments and applying them to invoices (SPEC §2).

Concurrency: the rows a posting changes are locked before their balances are
read, payment first and then invoices by ascending id, so two clerks can never
both spend the same open balance and two postings can never deadlock. On SQLite
the whole transaction already holds the write lock (`BEGIN IMMEDIATE`). The
CHECK constraints on `settled_minor` and `allocated_minor` are the backstop.

An idempotency key (one per form render, or per import row) makes a retried or
double-clicked post return the first result instead of creating a second payment.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import audit
from billing.allocation import OpenItem, plan_auto_allocation, plan_targeted_allocation
from billing.errors import Conflict, Problem, ValidationError
from billing.models import Allocation, Customer, Invoice, InvoiceStatus, Payment
from billing.money import format_amount
from billing.roles import Action, Actor, require
from billing.services._common import (
    customer_by_code,
    ensure_books_open,
    invoice_by_number,
    locked,
    payment_by_id,
)
from billing.validation import Checker


@dataclass(frozen=True)
class PaymentCreate:
    """A payment as received, and where it goes.

    Without `invoice_number` or `allocations` it is auto-allocated, oldest
    first. `allocations` — (invoice_number, amount_minor) pairs a clerk chose —
    applies exactly those amounts and leaves the rest unapplied; an empty
    tuple applies nothing. The two targets are mutually exclusive. A replay
    under the same `idempotency_key` must ask for the same allocations, in
    the same order, or it is refused as a different submission.
    """

    customer_code: str
    payment_reference: str
    received_date: dt.date
    amount_minor: int
    currency: str | None = None
    method: str = "transfer"
    invoice_number: str | None = None
    idempotency_key: str | None = None
    allocations: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class Applied:
    """One allocation made by a posting."""

    invoice_number: str
    amount_minor: int
    applied_date: dt.date


@dataclass(frozen=True)
class PaymentPosted:
    """What a posting did: where the money went and what is left on account."""

    payment_id: int
    customer_code: str
    payment_reference: str
    amount_minor: int
    currency: str
    applied: tuple[Applied, ...]
    unapplied_minor: int
    replayed: bool = False


def post_payment(session: Session, *, actor: Actor, data: PaymentCreate) -> PaymentPosted:
    """Record a payment and apply it: to the invoice named, as the clerk split it, or automatically.

    Auto and targeted allocation follow SPEC §2. Explicit `allocations` apply
    exactly the amounts given, each to a posted invoice of this customer and
    currency issued by the received date and no more than its open balance.
    """
    require(actor, Action.POST_PAYMENT)
    check = Checker()
    customer_code = check.code("customer_code", data.customer_code)
    reference = check.code("payment_reference", data.payment_reference, max_len=80)
    check.date("received_date", data.received_date)
    check.positive_minor("amount", data.amount_minor)  # also refuses MAX_MINOR and above
    method = check.text("method", data.method, max_len=40, required=False) or "transfer"
    key = check.text("idempotency_key", data.idempotency_key, max_len=80, required=False)
    if data.invoice_number is not None:
        check.code("invoice_number", data.invoice_number)
    wanted = _check_allocations(check, data)
    check.done()

    if key is not None:
        earlier = session.scalars(select(Payment).where(Payment.idempotency_key == key)).first()
        if earlier is not None:
            return _replay(session, earlier, data)
    ensure_books_open(session, data.received_date, what="a payment", field="received_date")

    customer = customer_by_code(session, customer_code)
    currency = (data.currency or customer.currency).strip().upper()
    if currency != customer.currency:
        raise ValidationError(
            Problem(
                "currency", data.currency, f"must be the customer's currency {customer.currency}"
            )
        )
    payment = Payment(
        customer_id=customer.id,
        payment_reference=reference,
        received_date=data.received_date,
        amount_minor=data.amount_minor,
        allocated_minor=0,
        currency=currency,
        method=method,
        idempotency_key=key,
        created_by=actor.name,
    )
    try:
        # A savepoint, so a concurrent twin's unique key fails only this insert.
        with session.begin_nested():
            session.add(payment)
    except IntegrityError:
        if key is not None:
            earlier = session.scalars(select(Payment).where(Payment.idempotency_key == key)).first()
            if earlier is not None:
                return _replay(session, earlier, data)
        raise Conflict(
            f"payment reference {reference!r} is already recorded for customer {customer_code}"
        ) from None

    if wanted is not None:
        plan = _explicit_plan(session, wanted, customer, payment)
    elif data.invoice_number is not None:
        invoice = _target_invoice(session, data.invoice_number, customer, currency)
        payment.target_invoice_id = invoice.id
        item = _open_item(invoice)
        plan = [(item, plan_targeted_allocation(payment.amount_minor, item))]
    else:
        items = [_open_item(i) for i in _lock_open_invoices(session, customer.id, currency)]
        plan = plan_auto_allocation(
            payment.amount_minor, items, received_date=payment.received_date
        )
    applied = _apply(session, actor=actor, payment=payment, plan=plan, applied_date=None)
    audit.record(
        session,
        actor=actor,
        action="post_payment",
        entity="payment",
        entity_id=payment.id,
        before=None,
        after={**(audit.snapshot(payment) or {}), "applied": [_applied_json(a) for a in applied]},
    )
    return _result(payment, customer.customer_code, applied)


def allocate_payment(
    session: Session,
    *,
    actor: Actor,
    payment_id: int,
    invoice_number: str | None = None,
    amount_minor: int | None = None,
    applied_date: dt.date | None = None,
) -> PaymentPosted:
    """Apply a payment's unapplied cash later: to one invoice, or automatically.

    Defaults: the amount is as much as fits; each allocation is dated the later
    of the payment's received date and the invoice's issue date. An explicit
    `applied_date` may not precede either.

    Without a target this is SPEC §2's oldest-first rule over the customer's
    open invoices, with one deliberate difference from posting: cash already
    on account may pay invoices issued *after* it was received (that is what
    a credit on account is for), dated their issue date. With an explicit
    `applied_date`, only invoices issued by then are eligible.
    """
    require(actor, Action.ALLOCATE_PAYMENT)
    check = Checker()
    if amount_minor is not None:
        check.positive_minor("amount", amount_minor)
    check.date("applied_date", applied_date, required=False)
    check.done()
    payment = payment_by_id(session, payment_id, lock=True)
    if applied_date is not None and applied_date < payment.received_date:
        raise ValidationError(
            Problem("applied_date", applied_date.isoformat(), "is before the payment was received")
        )
    unapplied = payment.amount_minor - payment.allocated_minor
    if unapplied <= 0:
        raise Conflict(f"payment {payment.payment_reference} has no unapplied cash left")
    if amount_minor is not None and amount_minor > unapplied:
        raise ValidationError(
            Problem(
                "amount",
                format_amount(amount_minor, payment.currency),
                f"is more than the {format_amount(unapplied, payment.currency)} "
                f"{payment.currency} left unapplied",
            )
        )
    budget = amount_minor if amount_minor is not None else unapplied
    customer = session.get_one(Customer, payment.customer_id)
    before = audit.snapshot(payment)

    if invoice_number is not None:
        invoice = _target_invoice(session, invoice_number, customer, payment.currency)
        if applied_date is not None and applied_date < invoice.issue_date:
            raise ValidationError(
                Problem(
                    "applied_date", applied_date.isoformat(), "is before the invoice's issue date"
                )
            )
        item = _open_item(invoice)
        if amount_minor is not None and amount_minor > item.open_minor:
            raise ValidationError(
                Problem(
                    "amount",
                    format_amount(amount_minor, invoice.currency),
                    f"is more than invoice {invoice_number}'s open balance "
                    f"{format_amount(item.open_minor, invoice.currency)} {invoice.currency}",
                )
            )
        plan = [(item, plan_targeted_allocation(budget, item))]
    else:
        items = [_open_item(i) for i in _lock_open_invoices(session, customer.id, payment.currency)]
        cutoff = applied_date or dt.date.max
        plan = plan_auto_allocation(budget, items, received_date=cutoff)
    if not any(amount for _, amount in plan):
        raise Conflict("there is no open balance to apply this payment to")
    applied = _apply(session, actor=actor, payment=payment, plan=plan, applied_date=applied_date)
    audit.record(
        session,
        actor=actor,
        action="allocate_payment",
        entity="payment",
        entity_id=payment.id,
        before=before,
        after={**(audit.snapshot(payment) or {}), "applied": [_applied_json(a) for a in applied]},
    )
    return _result(payment, customer.customer_code, applied)


def _check_allocations(check: Checker, data: PaymentCreate) -> list[tuple[str, int]] | None:
    """The clerk's (invoice, amount) pairs, cleaned; every problem goes to `check`."""
    if data.allocations is None:
        return None
    if data.invoice_number is not None:
        check.add("allocations", len(data.allocations), "give either invoice_number or allocations")
    wanted: list[tuple[str, int]] = []
    seen: set[str] = set()
    for no, pair in enumerate(data.allocations, start=1):
        if not isinstance(pair, tuple) or len(pair) != 2:
            check.add(f"allocation {no}", pair, "must be an (invoice_number, amount) pair")
            continue
        number = check.code(f"allocation {no} invoice_number", pair[0])
        amount = pair[1]
        if isinstance(amount, bool) or not isinstance(amount, int):
            check.add(f"allocation to {number}", amount, "must be a whole number of minor units")
            continue
        if amount <= 0:
            check.add(f"allocation to {number}", amount, "must be greater than zero")
        if number in seen:
            check.add(f"allocation to {number}", amount, "lists this invoice a second time")
        seen.add(number)
        wanted.append((number, amount))
    return wanted


def _explicit_plan(
    session: Session, wanted: list[tuple[str, int]], customer: Customer, payment: Payment
) -> list[tuple[OpenItem, int]]:
    """Lock the invoices named (ascending id, as every posting does) and check each amount.

    Every problem is collected and reported in the order the clerk listed the
    invoices, each naming its invoice, before anything is applied.
    """
    currency, received_date = payment.currency, payment.received_date
    total = sum(amount for _, amount in wanted)
    problems: list[Problem] = []
    if total > payment.amount_minor:
        problems.append(
            Problem(
                "allocations",
                format_amount(total, currency),
                f"add up to more than the payment's {format_amount(payment.amount_minor, currency)}"
                f" {currency}",
            )
        )
    numbers = [number for number, _ in wanted]
    statement = select(Invoice.invoice_number, Invoice.id).where(
        Invoice.invoice_number.in_(numbers)
    )
    ids: dict[str, int] = {number: id_ for number, id_ in session.execute(statement)}
    found: dict[str, list[Problem]] = {number: [] for number in numbers}
    items: dict[str, OpenItem] = {}
    for number in sorted(ids, key=ids.__getitem__):
        field = f"allocation to {number}"
        try:
            invoice = _target_invoice(session, number, customer, currency)
        except ValidationError as error:
            found[number] += [Problem(field, p.value, p.message) for p in error.problems]
            continue
        items[number] = _open_item(invoice)
        if invoice.issue_date > received_date:
            found[number].append(
                Problem(
                    field,
                    invoice.issue_date.isoformat(),
                    "is the invoice's issue date, after the payment was received "
                    f"{received_date.isoformat()}",
                )
            )
    for number, amount in wanted:
        item = items.get(number)
        if number not in ids:
            found[number].append(Problem(f"allocation to {number}", number, "no such invoice"))
        elif item is not None and amount > item.open_minor:
            found[number].append(
                Problem(
                    f"allocation to {number}",
                    format_amount(amount, currency),
                    f"is more than its open balance {format_amount(item.open_minor, currency)} "
                    f"{currency}",
                )
            )
        problems += found[number]
    if problems:
        raise ValidationError(problems)
    return [(items[number], amount) for number, amount in wanted]


def _target_invoice(session: Session, number: str, customer: Customer, currency: str) -> Invoice:
    invoice = invoice_by_number(session, number, lock=True)
    if invoice.customer_id != customer.id:
        raise ValidationError(
            Problem(
                "invoice_number",
                number,
                f"belongs to another customer, not {customer.customer_code}",
            )
        )
    if invoice.currency != currency:
        raise ValidationError(
            Problem(
                "invoice_number", number, f"is in {invoice.currency}, the payment in {currency}"
            )
        )
    if invoice.status is not InvoiceStatus.POSTED:
        raise ValidationError(
            Problem(
                "invoice_number",
                number,
                f"is {invoice.status.value}; only posted invoices take payments",
            )
        )
    return invoice


def _lock_open_invoices(session: Session, customer_id: int, currency: str) -> list[Invoice]:
    statement = (
        select(Invoice)
        .where(
            Invoice.customer_id == customer_id,
            Invoice.currency == currency,
            Invoice.status == InvoiceStatus.POSTED,
            Invoice.settled_minor < Invoice.total_minor,
        )
        .order_by(Invoice.id)
    )
    return list(session.scalars(locked(statement)))


def _open_item(invoice: Invoice) -> OpenItem:
    return OpenItem(
        invoice_id=invoice.id,
        invoice_number=invoice.invoice_number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        open_minor=invoice.total_minor - invoice.settled_minor,
    )


def _apply(
    session: Session,
    *,
    actor: Actor,
    payment: Payment,
    plan: list[tuple[OpenItem, int]],
    applied_date: dt.date | None,
) -> list[Applied]:
    dates = [
        applied_date or max(payment.received_date, item.issue_date)
        for item, amount in plan
        if amount > 0
    ]
    if dates:
        ensure_books_open(session, min(dates), what="an allocation", field="applied_date")
    applied: list[Applied] = []
    for item, amount in plan:
        if amount <= 0:
            continue
        invoice = session.get_one(Invoice, item.invoice_id)
        before = {"settled_minor": invoice.settled_minor}
        when = applied_date or max(payment.received_date, invoice.issue_date)
        session.add(
            Allocation(
                payment_id=payment.id,
                invoice_id=invoice.id,
                amount_minor=amount,
                applied_date=when,
                created_by=actor.name,
            )
        )
        # Increments in SQL, not from the values read: with the row locks the two agree,
        # and were a lock ever missing, the CHECK constraints would still see the truth.
        invoice.settled_minor = Invoice.settled_minor + amount
        payment.allocated_minor = Payment.allocated_minor + amount
        session.flush()
        session.refresh(invoice, ["settled_minor"])
        audit.record(
            session,
            actor=actor,
            action="apply_payment",
            entity="invoice",
            entity_id=invoice.invoice_number,
            before=before,
            after={
                "settled_minor": invoice.settled_minor,
                "payment_id": payment.id,
                "amount_minor": amount,
            },
        )
        applied.append(Applied(invoice.invoice_number, amount, when))
    session.refresh(payment, ["allocated_minor"])
    return applied


def _replay(session: Session, payment: Payment, data: PaymentCreate) -> PaymentPosted:
    customer = session.get_one(Customer, payment.customer_id)
    target = (
        session.scalar(
            select(Invoice.invoice_number).where(Invoice.id == payment.target_invoice_id)
        )
        if payment.target_invoice_id is not None
        else None
    )
    same = (
        customer.customer_code == data.customer_code.strip()
        and payment.payment_reference == data.payment_reference.strip()
        and payment.received_date == data.received_date
        and payment.amount_minor == data.amount_minor
        and payment.currency == (data.currency or payment.currency).strip().upper()
        and payment.method == ((data.method or "").strip() or "transfer")
        and (data.invoice_number or "").strip() == (target or "")
    )
    rows = session.execute(
        select(Invoice.invoice_number, Allocation.amount_minor, Allocation.applied_date)
        .join(Invoice, Allocation.invoice_id == Invoice.id)
        .where(Allocation.payment_id == payment.id)
        .order_by(Allocation.id)
    ).all()
    applied = [Applied(n, a, d) for n, a, d in rows]
    if data.allocations is not None:
        # The first rows are the posting's own, in the order asked for; any
        # later `allocate_payment` rows come after them. Auto-allocated
        # replays (allocations None) are not compared: the rule decided those.
        asked = [(str(n).strip(), a) for n, a in data.allocations]
        same = same and [(a.invoice_number, a.amount_minor) for a in applied[: len(asked)]] == asked
    if not same:
        raise Conflict(
            "this form was already submitted with different values; reload and try again"
        )
    return _result(payment, customer.customer_code, applied, replayed=True)


def _result(
    payment: Payment, customer_code: str, applied: list[Applied], *, replayed: bool = False
) -> PaymentPosted:
    return PaymentPosted(
        payment_id=payment.id,
        customer_code=customer_code,
        payment_reference=payment.payment_reference,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        applied=tuple(applied),
        unapplied_minor=payment.amount_minor - payment.allocated_minor,
        replayed=replayed,
    )


def _applied_json(a: Applied) -> dict[str, object]:
    return {
        "invoice_number": a.invoice_number,
        "amount_minor": a.amount_minor,
        "applied_date": a.applied_date.isoformat(),
    }

"""Collection activities: notes, calls, e-mails and promises to pay.

Disputes and dunning letters are activities too, but each has rules of its
own and is written only by its own service (`billing.services.disputes`,
`billing.services.dunning`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Problem, ValidationError
from billing.models import ActivityKind, CollectionActivity
from billing.roles import Action, Actor, require
from billing.services._common import customer_by_code, invoice_by_number
from billing.validation import Checker

# Kinds with rules of their own, written only by their services.
OWN_SERVICE = {
    ActivityKind.DISPUTE: "is opened with open_dispute, which takes the invoice out of dunning",
    ActivityKind.LETTER: "is recorded when a dunning letter is sent (record_letter_sent)",
}


@dataclass(frozen=True)
class ActivityCreate:
    """One thing done or agreed while chasing a customer."""

    customer_code: str
    kind: ActivityKind
    activity_date: dt.date
    body: str = ""
    invoice_number: str | None = None
    promise_date: dt.date | None = None
    promise_amount_minor: int | None = None
    follow_up_date: dt.date | None = None


def add_activity(session: Session, *, actor: Actor, data: ActivityCreate) -> CollectionActivity:
    """Log an activity; a promise to pay needs its date and amount."""
    require(actor, Action.ADD_NOTE)
    kind = ActivityKind(data.kind)
    check = Checker()
    if kind in OWN_SERVICE:
        check.add("kind", kind.value, OWN_SERVICE[kind])
    check.date("activity_date", data.activity_date)
    body = check.text("body", data.body, max_len=5000, required=kind is ActivityKind.NOTE) or ""
    check.date("follow_up_date", data.follow_up_date, required=False)
    if kind is ActivityKind.PROMISE:
        check.date("promise_date", data.promise_date)
        check.positive_minor("promise_amount", data.promise_amount_minor or 0)
    check.done()
    customer = customer_by_code(session, data.customer_code)
    invoice_id = None
    if data.invoice_number:
        invoice = invoice_by_number(session, data.invoice_number)
        if invoice.customer_id != customer.id:
            raise ValidationError(
                Problem(
                    "invoice_number",
                    data.invoice_number,
                    f"belongs to another customer, not {customer.customer_code}",
                )
            )
        invoice_id = invoice.id
    activity = CollectionActivity(
        customer_id=customer.id,
        invoice_id=invoice_id,
        kind=kind,
        activity_date=data.activity_date,
        body=body,
        promise_date=data.promise_date if kind is ActivityKind.PROMISE else None,
        promise_amount_minor=data.promise_amount_minor if kind is ActivityKind.PROMISE else None,
        follow_up_date=data.follow_up_date,
        created_by=actor.name,
    )
    session.add(activity)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="add_activity",
        entity="collection_activity",
        entity_id=activity.id,
        before=None,
        after=audit.snapshot(activity),
    )
    return activity

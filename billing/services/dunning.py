"""Recording a dunning letter as sent: one activity, one item per invoice at its own level.

A customer's letter names every invoice due at its date, each at the level
it has reached then (`billing.dunning.due_level`, the rule the dunning run
uses too); the activity carries the highest. The item rows are what stop a
level going twice: the service refuses an invoice that already had its level
(or a later one), and the database refuses a second item for the same
invoice and level (a unique constraint) even when two managers send the same
letter at the same moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit
from billing.dunning import DunningLevel, due_level, level_label
from billing.errors import Conflict, NotFound
from billing.models import (
    ActivityKind,
    CollectionActivity,
    Dispute,
    DunningLetterItem,
    Invoice,
    InvoiceStatus,
    Setting,
)
from billing.roles import Action, Actor, require
from billing.services._common import customer_by_code, locked, unique_or_conflict
from billing.settings import DUNNING_LEVELS_KEY, parse_stored_dunning_levels
from billing.validation import Checker

MAX_BODY = 20_000
MAX_INVOICES = 500


def _levels_in_force(session: Session) -> tuple[DunningLevel, ...]:
    """The stored levels, read `FOR SHARE` on PostgreSQL: an admin changing them waits for us."""
    stored = session.scalar(
        select(Setting.value).where(Setting.key == DUNNING_LEVELS_KEY).with_for_update(read=True)
    )
    return parse_stored_dunning_levels(stored)


def _already_sent(session: Session, invoice_ids: list[int]) -> dict[int, tuple[int, dt.date]]:
    """Per invoice id: (highest level a letter named it at, the date that letter was sent)."""
    rows = session.execute(
        select(
            DunningLetterItem.invoice_id,
            DunningLetterItem.dunning_level,
            CollectionActivity.activity_date,
        )
        .join(CollectionActivity, DunningLetterItem.activity_id == CollectionActivity.id)
        .where(DunningLetterItem.invoice_id.in_(invoice_ids))
        .order_by(DunningLetterItem.invoice_id, DunningLetterItem.dunning_level.desc())
    )
    sent: dict[int, tuple[int, dt.date]] = {}
    for invoice_id, level, day in rows:
        sent.setdefault(invoice_id, (level, day))
    return sent


def record_letter_sent(
    session: Session,
    *,
    actor: Actor,
    customer_code: str,
    letter_date: dt.date,
    invoice_numbers: Sequence[str],
    body: str,
) -> CollectionActivity:
    """Log that the customer's letter went out on `letter_date` naming these invoices.

    Each invoice is recorded at the level it is due at on `letter_date` (days
    past due = letter_date − due_date; the highest level whose days that
    reaches), the activity at the highest of them. Refused: a date after
    today; an invoice that is not the customer's, not posted, settled,
    disputed, or not yet at the first level (`ValidationError`, every one
    listed); an invoice that already had its level or a later one
    (`Conflict` naming the invoice, the level and when). `body` is the letter
    as sent (`billing.letters.letter_text`).

    An item's `open_minor` is the invoice's open balance when this runs.
    Letters are recorded on the day they go out (the pages pass today), so
    that is the balance the letter showed; a letter recorded late keeps the
    balance of the day it was recorded.
    """
    require(actor, Action.SEND_DUNNING_LETTER)
    check = Checker()
    code = check.code("customer_code", customer_code)
    check.date("letter_date", letter_date)
    today = dt.date.today()
    if type(letter_date) is dt.date and letter_date > today:  # a datetime is refused above
        check.add(
            "letter_date",
            letter_date.isoformat(),
            f"is in the future; a letter is recorded on the day it is sent, "
            f"today ({today.isoformat()}) at the latest",
        )
    numbers = [check.code("invoice_numbers", number) for number in invoice_numbers]
    if not numbers:
        check.add("invoice_numbers", list(invoice_numbers), "name at least one invoice")
    elif len(numbers) > MAX_INVOICES:
        check.add("invoice_numbers", len(numbers), f"a letter names at most {MAX_INVOICES}")
    for number in sorted({n for n in numbers if numbers.count(n) > 1}):
        check.add("invoice_numbers", number, "is named twice")
    text = check.text("body", body, max_len=MAX_BODY)
    check.done()

    levels = _levels_in_force(session)
    first = min(levels, key=lambda item: item.days)
    customer = customer_by_code(session, code)
    # Locked in id order (as payments lock them): two letters sharing invoices never deadlock.
    invoices = {
        invoice.invoice_number: invoice
        for invoice in session.scalars(
            locked(select(Invoice).where(Invoice.invoice_number.in_(numbers)).order_by(Invoice.id))
        )
    }
    missing = [number for number in numbers if number not in invoices]
    if missing:
        raise NotFound(f"no invoice numbered {', '.join(repr(n) for n in missing)}")
    disputed = set(
        session.scalars(
            select(Dispute.invoice_id).where(
                Dispute.invoice_id.in_([invoice.id for invoice in invoices.values()]),
                Dispute.closed_date.is_(None),
            )
        )
    )
    day = letter_date.isoformat()
    due: dict[str, int] = {}
    for number in numbers:
        invoice = invoices[number]
        late = (letter_date - invoice.due_date).days
        if invoice.customer_id != customer.id:
            check.add("invoice_numbers", number, f"belongs to another customer, not {code}")
        elif invoice.status is not InvoiceStatus.POSTED:
            check.add("invoice_numbers", number, f"is {invoice.status.value}, not posted")
        elif invoice.open_minor <= 0:
            check.add("invoice_numbers", number, "is fully settled; there is nothing to remind of")
        elif invoice.id in disputed:
            check.add("invoice_numbers", number, "is disputed: out of dunning until it is closed")
        elif (level := due_level(levels, late)) == 0:
            when = (
                f"is only {late} day{'s' if late != 1 else ''} past due on {day}"
                if late > 0
                else f"is not past due on {day} (due {invoice.due_date.isoformat()})"
            )
            check.add(
                "invoice_numbers",
                number,
                f"{when}; the first letter ({first.name}) is at {first.days} days",
            )
        else:
            due[number] = level
    check.done()

    sent = _already_sent(session, [invoices[number].id for number in numbers])
    repeats: list[str] = []
    for number in numbers:
        earlier = sent.get(invoices[number].id)
        if earlier is not None and earlier[0] >= due[number]:
            had, sent_on = earlier
            now = level_label(levels, due[number])
            note = "" if had == due[number] else f", past the {now} it is at on {day}"
            repeats.append(
                f"{number} already had the {level_label(levels, had)} on "
                f"{sent_on.isoformat()}{note}"
            )
    if repeats:
        raise Conflict("; ".join(repeats) + "; a level is sent once per invoice")

    top = max(due.values())
    activity = CollectionActivity(
        customer_id=customer.id,
        kind=ActivityKind.LETTER,
        activity_date=letter_date,
        body=text or "",
        dunning_level=top,
        created_by=actor.name,
    )
    race = (
        "A letter for one of these invoices was recorded by someone else just now; "
        "nothing was saved. Reload to see it."
    )
    with unique_or_conflict(session, race):
        session.add(activity)
        session.flush()
        items = [
            DunningLetterItem(
                activity_id=activity.id,
                invoice_id=invoices[number].id,
                dunning_level=due[number],
                open_minor=invoices[number].open_minor,
            )
            for number in numbers
        ]
        session.add_all(items)
        session.flush()
    audit.record(
        session,
        actor=actor,
        action="send_dunning_letter",
        entity="customer",
        entity_id=code,
        before=None,
        after={
            **(audit.snapshot(activity) or {}),
            "level_name": level_label(levels, top),
            "items": [
                {
                    "invoice_number": number,
                    "dunning_level": item.dunning_level,
                    "open_minor": item.open_minor,
                }
                for number, item in zip(numbers, items, strict=True)
            ],
        },
    )
    return activity

"""How a payment is spread over open invoices (SPEC §2), as pure functions.

Kept apart from the database so the rule is stated once, tested directly, and
reused by the services, the demo generator and the tests' reference ledger.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class OpenItem:
    """An invoice as the allocation rule sees it."""

    invoice_id: int
    invoice_number: str
    issue_date: dt.date
    due_date: dt.date
    open_minor: int


def auto_allocation_order(item: OpenItem) -> tuple[dt.date, dt.date, str]:
    """Oldest first: by due date, then issue date, then invoice number."""
    return (item.due_date, item.issue_date, item.invoice_number)


def plan_auto_allocation(
    amount_minor: int, items: list[OpenItem], *, received_date: dt.date
) -> list[tuple[OpenItem, int]]:
    """Apply `amount_minor` to invoices issued on or before `received_date`, oldest first.

    Each invoice takes up to its open balance; whatever is left is unapplied.
    """
    plan: list[tuple[OpenItem, int]] = []
    remaining = amount_minor
    eligible = [i for i in items if i.issue_date <= received_date and i.open_minor > 0]
    for item in sorted(eligible, key=auto_allocation_order):
        if remaining <= 0:
            break
        applied = min(remaining, item.open_minor)
        plan.append((item, applied))
        remaining -= applied
    return plan


def plan_targeted_allocation(amount_minor: int, item: OpenItem) -> int:
    """Apply min(amount, open balance) to the one invoice asked for; the rest stays unapplied."""
    return max(0, min(amount_minor, item.open_minor))

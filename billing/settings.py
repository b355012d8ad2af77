"""Office-wide settings: company name, aging buckets, base currency, lock date, dunning levels.

Stored as text rows in the `settings` table (key → value) and read back into
one frozen `OfficeSettings`, with defaults for anything never set, so a new
ledger works before an admin has touched the Admin page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from billing.dunning import (
    DEFAULT_DUNNING_LEVELS,
    DunningLevel,
    format_dunning_levels,
    parse_dunning_levels,
)
from queries.aging import DEFAULT_BOUNDARIES

DEFAULT_COMPANY_NAME = "Billing Office"
LOCK_DATE_KEY = "lock_date"
DUNNING_LEVELS_KEY = "dunning_levels"


@dataclass(frozen=True)
class OfficeSettings:
    """What the Admin page edits and every report page starts from.

    `base_currency` is the currency report pages show first when the ledger
    holds several; None means "the first one present, alphabetically".
    `lock_date` closes the books: nothing dated on or before it may be entered,
    posted or changed (`billing.services._common.ensure_books_open`); None, no lock.
    `dunning_levels` are the reminder letters and when each is due (`billing.dunning`).
    """

    company_name: str = DEFAULT_COMPANY_NAME
    aging_buckets: tuple[int, ...] = DEFAULT_BOUNDARIES
    base_currency: str | None = None
    lock_date: dt.date | None = None
    dunning_levels: tuple[DunningLevel, ...] = DEFAULT_DUNNING_LEVELS

    def as_rows(self) -> dict[str, str]:
        """The settings as the table stores them."""
        return {
            "company_name": self.company_name,
            "aging_buckets": ",".join(str(b) for b in self.aging_buckets),
            "base_currency": self.base_currency or "",
            LOCK_DATE_KEY: self.lock_date.isoformat() if self.lock_date else "",
            DUNNING_LEVELS_KEY: format_dunning_levels(self.dunning_levels),
        }

    @classmethod
    def from_rows(cls, rows: Mapping[str, str]) -> OfficeSettings:
        """Settings from stored rows; a missing or blank row keeps its default.

        Rows were validated when written (`billing.services.update_settings`),
        so they are read back as they are.
        """
        buckets = rows.get("aging_buckets", "").strip()
        return cls(
            company_name=rows.get("company_name", "").strip() or DEFAULT_COMPANY_NAME,
            aging_buckets=(
                tuple(int(part) for part in buckets.split(",")) if buckets else DEFAULT_BOUNDARIES
            ),
            base_currency=rows.get("base_currency", "").strip() or None,
            lock_date=parse_lock_date(rows.get(LOCK_DATE_KEY)),
            dunning_levels=parse_stored_dunning_levels(rows.get(DUNNING_LEVELS_KEY)),
        )


def parse_lock_date(value: str | None) -> dt.date | None:
    """The stored lock date (ISO text); a missing or blank row means the books are open."""
    text = (value or "").strip()
    return dt.date.fromisoformat(text) if text else None


def parse_stored_dunning_levels(value: str | None) -> tuple[DunningLevel, ...]:
    """The stored dunning levels; a missing or blank row means the default ladder."""
    text = (value or "").strip()
    return parse_dunning_levels(text) if text else DEFAULT_DUNNING_LEVELS

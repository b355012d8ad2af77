"""Time as the ledger compares it: aware UTC, whichever database handed it back.

Timestamps are stored as UTC. PostgreSQL returns them aware; SQLite returns
them naive. Everything that compares or shows a stored timestamp goes through
`as_utc`, so the two databases never disagree about which moment came first.
"""

from __future__ import annotations

import datetime as dt
from typing import overload


def utc_now() -> dt.datetime:
    """The current time as aware UTC."""
    return dt.datetime.now(dt.UTC)


@overload
def as_utc(moment: dt.datetime) -> dt.datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """A stored timestamp as aware UTC: naive values are read as UTC, aware ones converted."""
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)

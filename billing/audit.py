"""The append-only audit trail: every write records who, what, before and after.

Rows are written in the caller's transaction, so an audit entry exists exactly
when the change it describes does.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from billing.models import AuditEntry, Base
from billing.roles import Actor

_SKIP = {"password_hash"}


def snapshot(row: Base | None) -> dict[str, Any] | None:
    """The column values of an ORM row, as JSON-ready values (secrets left out)."""
    if row is None:
        return None
    mapper = inspect(row).mapper
    return {
        c.key: _jsonable(getattr(row, c.key)) for c in mapper.column_attrs if c.key not in _SKIP
    }


def _jsonable(value: object) -> object:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: object,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    """Append one audit row in the current transaction."""
    session.add(
        AuditEntry(
            actor=actor.name,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            before=None if before is None else json.dumps(before, sort_keys=True, default=str),
            after=None if after is None else json.dumps(after, sort_keys=True, default=str),
        )
    )


def ledger_version(session: Session) -> tuple[int, int]:
    """A value that changes on every committed write: a cache key for reads.

    The audit log is append-only and every write adds to it, so its row count
    grows with each commit. The newest id alone is not enough on PostgreSQL:
    a transaction that drew a lower id can commit after one that drew a higher.
    """
    count, newest = session.execute(select(func.count(), func.max(AuditEntry.id))).one()
    return int(count), int(newest or 0)

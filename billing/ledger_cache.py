"""The posted ledger held in memory and patched after each write instead of reloaded.

Every write adds audit rows (`billing.audit`) in its own transaction, and each
row names what it touched: an invoice by number, a payment by id, a customer by
code. `LedgerCache` reads the audit rows added since it last looked and

- re-reads only the touched invoices and payments, with their allocations and
  adjustments, into its ledger frames: at a million invoices a full reload
  takes seconds (13 s through SQLAlchemy on SQLite, BENCHMARKS.md), a patch
  milliseconds;
- moves the version of each `Area` the write touched and no other, so the
  app's caches keyed by an area keep what the write left alone: a call note
  leaves the Overview's figures cached, a failed login leaves the ledger.

An audit row it cannot place (a bulk load, an import's summary, a restore, a
kind added later) makes it start again from the database: never stale,
sometimes slow. So does a gap in the audit log: on PostgreSQL a transaction can
commit after one that drew a higher id, so the new rows are counted, and when
`rows before + rows added ≠ rows now` nothing is patched.

Patching is idempotent: it re-reads the current state of what was touched, so
frames that are newer than their label (read after it) are patched right.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl
from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session

from billing.audit import ledger_version
from billing.db import read_session
from billing.fast_load import ledger_statements
from billing.models import Adjustment, Allocation, AuditEntry, Invoice, InvoiceStatus
from billing.models import Payment as PaymentRow
from billing.repository import load_ledger_frames
from queries.ledger import SCHEMAS, LedgerFrames

Version = tuple[int, int]
"""`billing.audit.ledger_version`: the audit log's row count and newest id."""

# More audit rows than this since the last look (an import, a batch of postings) and
# the ledger is read whole: a patch re-reads rows by id, which stops paying off.
PATCH_LIMIT = 1_000

# A patch appends a chunk to each frame it changes; past this many, it is made one again.
MAX_CHUNKS = 32


class Area(StrEnum):
    """A part of the data that a write touches or not, and that a cache can be keyed by."""

    LEDGER = "ledger"  # invoices, payments, allocations, adjustments, customers' names and terms
    COLLECTIONS = "collections"  # activities, promises, disputes, dunning letters, owners
    CUSTOMERS = "customers"  # customer master data
    SETTINGS = "settings"
    USERS = "users"


EVERY_AREA = frozenset(Area)

# What an audit row's entity touched; (entity, action) where one entity covers writes of
# different reach. Anything not listed touches everything.
_ENTITY_AREAS: dict[str, frozenset[Area]] = {
    "invoice": frozenset({Area.LEDGER}),
    "payment": frozenset({Area.LEDGER}),
    "customer": frozenset({Area.CUSTOMERS, Area.LEDGER, Area.COLLECTIONS}),
    "collection_activity": frozenset({Area.COLLECTIONS}),
    "dispute": frozenset({Area.COLLECTIONS}),
    "settings": frozenset({Area.SETTINGS}),
    "user": frozenset({Area.USERS}),
}
_ACTION_AREAS: dict[tuple[str, str], frozenset[Area]] = {
    ("customer", "assign_owner"): frozenset({Area.CUSTOMERS, Area.COLLECTIONS}),
    ("customer", "send_dunning_letter"): frozenset({Area.COLLECTIONS}),
    ("customers", "assign_demo_owners"): frozenset({Area.CUSTOMERS, Area.COLLECTIONS}),
}


@dataclass(frozen=True)
class Touched:
    """What a run of audit rows changed: the areas, and in the ledger which rows."""

    areas: frozenset[Area] = frozenset()
    invoice_numbers: frozenset[str] = frozenset()
    payment_ids: frozenset[int] = frozenset()
    everything: bool = False


EVERYTHING = Touched(areas=EVERY_AREA, everything=True)


def touched_by(entries: Iterable[tuple[str, str, str]]) -> Touched:
    """What the audit rows (entity, entity_id, action) touched; `EVERYTHING` if one is unknown."""
    areas: set[Area] = set()
    numbers: set[str] = set()
    payments: set[int] = set()
    for entity, entity_id, action in entries:
        reach = _ACTION_AREAS.get((entity, action), _ENTITY_AREAS.get(entity))
        if reach is None:
            return EVERYTHING
        areas |= reach
        if entity == "invoice":
            numbers.add(entity_id)
        elif entity == "payment":
            if not entity_id.isdigit():
                return EVERYTHING
            payments.add(int(entity_id))
    return Touched(frozenset(areas), frozenset(numbers), frozenset(payments))


@dataclass(frozen=True)
class Versions:
    """The audit version the cache has caught up to, and where each area last changed.

    Key a derived cache by the areas it reads: its entry lives until a write
    touches one of them.
    """

    audit: Version
    areas: Mapping[Area, Version] = field(default_factory=dict)

    @classmethod
    def at(cls, version: Version) -> Versions:
        """Every area as of `version` (a cache that has seen nothing yet)."""
        return cls(version, {area: version for area in Area})

    def __getitem__(self, area: Area) -> Version:
        return self.areas[area]

    def moved(self, version: Version, areas: Iterable[Area]) -> Versions:
        """These versions after a write at `version` that touched `areas`."""
        return Versions(version, {**self.areas, **dict.fromkeys(areas, version)})


class LedgerCache:
    """The posted ledger and the area versions of one database, shared by every session.

    The engine comes with each call (the app replaces its engine after an
    outage); the cache belongs to the database. Thread-safe: the app's
    sessions run on threads of one process. `versions` is cheap (two small
    queries) and never waits for a load; `ledger` loads the frames on first
    use, then brings them up to the versions by patching, or by reading them
    again after a write it cannot place.
    """

    def __init__(self, *, patch_limit: int = PATCH_LIMIT) -> None:
        self._patch_limit = patch_limit
        self._lock = threading.Lock()  # guards the fields below; held for moments
        self._load_lock = threading.Lock()  # one session loads or patches the frames at a time
        self._versions: Versions | None = None
        self._frames: dict[str, pl.DataFrame] | None = None
        self._frames_at: Version | None = None
        self.loads = 0
        self.patches = 0

    @property
    def loaded(self) -> bool:
        """Whether the frames are in memory (else `ledger` reads the whole ledger first)."""
        return self._frames is not None

    def versions(self, engine: Engine) -> Versions:
        """Catch up with the writes since the last call; the versions as of now."""
        with read_session(engine) as session, self._lock:
            if self._versions is None:
                self._versions = Versions.at(ledger_version(session))
            else:
                now, touched = changes_since(session, self._versions.audit, self._patch_limit)
                self._versions = self._versions.moved(now, touched.areas)
            return self._versions

    def ledger(self, engine: Engine) -> LedgerFrames:
        """The posted ledger as of the last `versions()` call or newer; loaded on first use."""
        versions = self._versions or self.versions(engine)
        with self._load_lock:
            with self._lock:
                frames, at = self._frames, self._frames_at
            if frames is None or at != versions.audit:
                frames, at = self._caught_up(engine, frames, at)
                with self._lock:
                    self._frames, self._frames_at = frames, at
        return LedgerFrames.from_frames(frames)

    def _caught_up(
        self, engine: Engine, frames: dict[str, pl.DataFrame] | None, at: Version | None
    ) -> tuple[dict[str, pl.DataFrame], Version]:
        with read_session(engine) as session:
            if frames is not None and at is not None:
                now, touched = changes_since(session, at, self._patch_limit)
                if not touched.everything:
                    if Area.LEDGER in touched.areas:
                        frames = patch_ledger(session, frames, touched)
                        self.patches += 1
                    return frames, now
            # Read after the version, so at least as new as it: a later patch of a
            # row that is already up to date reads it again and changes nothing.
            now = ledger_version(session)
            ledger = load_ledger_frames(session)
            collected = pl.collect_all([getattr(ledger, name) for name in SCHEMAS])
            self.loads += 1
            return dict(zip(SCHEMAS, collected, strict=True)), now


def changes_since(
    session: Session, since: Version, limit: int = PATCH_LIMIT
) -> tuple[Version, Touched]:
    """The audit version now and what the writes since `since` touched.

    `EVERYTHING` when the rows added cannot be placed: more than `limit`, one
    of an unknown kind, or a count that does not add up (a write that
    committed below `since`, or between the two reads here).
    """
    entries = session.execute(
        select(AuditEntry.id, AuditEntry.entity, AuditEntry.entity_id, AuditEntry.action)
        .where(AuditEntry.id > since[1])
        .order_by(AuditEntry.id)
        .limit(limit + 1)
    ).all()
    now = ledger_version(session)  # counted after the rows were read
    if now == since:
        return now, Touched()
    if not entries or len(entries) > limit or now != (since[0] + len(entries), entries[-1].id):
        return now, EVERYTHING
    return now, touched_by((e.entity, e.entity_id, e.action) for e in entries)


def patch_ledger(
    session: Session, frames: Mapping[str, pl.DataFrame], touched: Touched
) -> dict[str, pl.DataFrame]:
    """`frames` with the touched invoices, payments and customers read again from `session`.

    An invoice is replaced whole with its allocations and adjustments (a void
    one leaves, a newly posted one arrives); a payment with its allocations.
    Customers are few beside the ledger and are read whole.
    """
    patched = dict(frames)
    numbers, payment_ids = sorted(touched.invoice_numbers), sorted(touched.payment_ids)
    statements = ledger_statements()
    if numbers or payment_ids:
        invoices = frames["invoices"]
        fresh = _frame(
            session, "invoices", statements["invoices"].where(Invoice.invoice_number.in_(numbers))
        )
        old_ids = invoices.filter(pl.col("invoice_number").is_in(numbers))["invoice_id"].to_list()
        fresh_ids = fresh["invoice_id"].to_list()
        gone = pl.col("invoice_id").is_in(old_ids + fresh_ids)
        paid_by = pl.col("payment_id").is_in(payment_ids)
        patched["invoices"] = _append(
            invoices.filter(~pl.col("invoice_number").is_in(numbers)), fresh
        )
        # `fresh` holds only posted invoices, so their rows need no join to `invoices`;
        # a payment's rows on other invoices are joined to keep the posted ones. Each
        # read is driven by one indexed column: one read with an OR of the two made
        # PostgreSQL scan the allocations (250 ms a patch at a million invoices).
        patched["adjustments"] = _append(
            frames["adjustments"].filter(~gone),
            _frame(
                session,
                "adjustments",
                statements["adjustments"].where(Adjustment.invoice_id.in_(fresh_ids)),
            ),
        )
        on_fresh = _frame(
            session,
            "allocations",
            statements["allocations"].where(Allocation.invoice_id.in_(fresh_ids)),
        )
        by_payments = _frame(
            session,
            "allocations",
            statements["allocations"]
            .join(Invoice, Allocation.invoice_id == Invoice.id)
            .where(
                Allocation.payment_id.in_(payment_ids),
                Allocation.invoice_id.not_in(fresh_ids),
                Invoice.status == InvoiceStatus.POSTED,
            ),
        )
        patched["allocations"] = _append(
            frames["allocations"].filter(~(gone | paid_by)), pl.concat([on_fresh, by_payments])
        )
        patched["payments"] = _append(
            frames["payments"].filter(~paid_by),
            _frame(
                session, "payments", statements["payments"].where(PaymentRow.id.in_(payment_ids))
            ),
        )
    if Area.CUSTOMERS in touched.areas:
        patched["customers"] = _frame(session, "customers", statements["customers"])
    return patched


def _frame(session: Session, name: str, statement: Select) -> pl.DataFrame:
    rows = [tuple(row) for row in session.execute(statement)]
    return pl.DataFrame(rows, schema=SCHEMAS[name], orient="row")


def _append(kept: pl.DataFrame, fresh: pl.DataFrame) -> pl.DataFrame:
    frame = pl.concat([kept, fresh], rechunk=False)
    return frame.rechunk() if frame.n_chunks() > MAX_CHUNKS else frame

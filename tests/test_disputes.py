"""Disputes: opening, closing and resolving them (services), and the disputes list (query).

The `ledger` fixture holds customer C001 (USD, 30-day terms) and INV-1 of
100.00 issued 2026-01-10, due 2026-02-09.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, select

from billing.db import make_engine, read_session, write_session
from billing.errors import (
    BooksClosed,
    Conflict,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from billing.models import (
    ActivityKind,
    Adjustment,
    AdjustmentKind,
    AuditEntry,
    CollectionActivity,
    Dispute,
    DisputeResolution,
)
from billing.roles import Actor
from billing.schema import upgrade_database
from billing.services import (
    DisputeOpen,
    close_dispute,
    open_dispute,
    resolve_dispute_with_credit_note,
    set_lock_date,
)
from queries.collections import collections_from_rows
from queries.disputes import disputed_invoice_ids, disputes_list
from queries.ledger import ledger_from_rows
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER
from tests.helpers import customer, invoice, open_balance, pay, table_counts

D = dt.date
OPENED = D(2026, 2, 20)
CLOSED = D(2026, 3, 5)


def open_(
    engine: Engine,
    number: str = "INV-1",
    reason: str = "goods arrived damaged",
    day: dt.date = OPENED,
    actor: Actor = CLERK,
) -> Dispute:
    with write_session(engine) as s:
        return open_dispute(s, actor=actor, data=DisputeOpen(number, reason, day))


def close(
    engine: Engine,
    number: str = "INV-1",
    day: dt.date = CLOSED,
    note: str = "customer accepted the goods",
    actor: Actor = MANAGER,
) -> Dispute:
    with write_session(engine) as s:
        return close_dispute(s, actor=actor, invoice_number=number, closed_date=day, note=note)


def credit(
    engine: Engine,
    amount: int,
    number: str = "INV-1",
    day: dt.date = CLOSED,
    note: str = "20% off for the damage",
    actor: Actor = MANAGER,
) -> Dispute:
    with write_session(engine) as s:
        return resolve_dispute_with_credit_note(
            s, actor=actor, invoice_number=number, amount_minor=amount, credit_date=day, note=note
        )


def disputes(engine: Engine) -> list[Dispute]:
    with read_session(engine) as s:
        return list(s.scalars(select(Dispute).order_by(Dispute.id)))


def timeline(engine: Engine) -> list[tuple[ActivityKind, dt.date, str, int | None]]:
    with read_session(engine) as s:
        rows = s.scalars(select(CollectionActivity).order_by(CollectionActivity.id))
        return [(a.kind, a.activity_date, a.body, a.invoice_id) for a in rows]


def audit(engine: Engine, action: str) -> list[AuditEntry]:
    with read_session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# --- opening -----------------------------------------------------------------------------------


def test_a_clerk_opens_a_dispute_logged_and_audited(ledger: Engine) -> None:
    open_(ledger)
    (stored,) = disputes(ledger)
    assert (stored.invoice_id, stored.customer_id, stored.opened_date) == (1, 1, OPENED)
    assert (stored.reason, stored.opened_by, stored.closed_date) == (
        "goods arrived damaged",
        CLERK.name,
        None,
    )
    assert timeline(ledger) == [(ActivityKind.DISPUTE, OPENED, "goods arrived damaged", 1)]
    (entry,) = audit(ledger, "open_dispute")
    assert (entry.entity, entry.entity_id, entry.actor) == ("dispute", "INV-1", CLERK.name)
    assert json.loads(entry.after or "")["reason"] == "goods arrived damaged"


def test_a_second_open_dispute_is_refused(ledger: Engine) -> None:
    open_(ledger)
    before = table_counts(ledger)
    with pytest.raises(Conflict) as caught:
        open_(ledger, reason="again", day=D(2026, 2, 25))
    assert str(caught.value) == (
        "invoice INV-1 already has an open dispute (opened 2026-02-20); "
        "close it before opening another"
    )
    assert table_counts(ledger) == before


def test_after_closing_a_new_dispute_may_be_opened(ledger: Engine) -> None:
    open_(ledger)
    close(ledger)
    open_(ledger, reason="now the price is wrong", day=D(2026, 3, 10))
    first, second = disputes(ledger)
    assert first.resolution is DisputeResolution.CLOSED
    assert (second.closed_date, second.reason) == (None, "now the price is wrong")


def test_open_validation_names_every_field(ledger: Engine) -> None:
    with pytest.raises(ValidationError) as caught:
        open_(ledger, number="", reason=" ", day=D(1900, 1, 1))
    assert [(p.field, p.message) for p in caught.value.problems] == [
        ("invoice_number", "is required"),
        ("reason", "is required"),
        ("opened_date", "is outside 1970-01-01 to 2099-12-31, the dates the ledger accepts"),
    ]
    with pytest.raises(ValidationError, match="is 2,001 characters long; the limit is 2,000"):
        open_(ledger, reason="x" * 2001)
    with pytest.raises(ValidationError) as early:
        open_(ledger, day=D(2026, 1, 9))  # the day before INV-1's issue date
    assert str(early.value) == (
        "opened_date '2026-01-09': is before invoice INV-1's issue date 2026-01-10"
    )
    assert disputes(ledger) == []


def test_only_a_posted_open_invoice_can_be_disputed(ledger: Engine) -> None:
    invoice(ledger, "DRAFT", "C001", D(2026, 1, 5), 100, post=False)
    with pytest.raises(Conflict, match="invoice DRAFT is draft; only posted invoices"):
        open_(ledger, number="DRAFT")
    pay(ledger, "C001", "P1", D(2026, 2, 1), 10_000, invoice_number="INV-1")
    with pytest.raises(Conflict, match="invoice INV-1 is fully settled"):
        open_(ledger)
    with pytest.raises(NotFound, match="no invoice numbered 'NOPE'"):
        open_(ledger, number="NOPE")
    assert disputes(ledger) == []


def test_finance_cannot_open_a_dispute(ledger: Engine) -> None:
    before = table_counts(ledger)
    with pytest.raises(PermissionDenied):
        open_(ledger, actor=FINANCE)
    assert table_counts(ledger) == before


# --- closing ------------------------------------------------------------------------------------


def test_closing_keeps_the_invoice_standing(ledger: Engine) -> None:
    open_(ledger)
    close(ledger, note="delivery note signed")
    (stored,) = disputes(ledger)
    assert (stored.closed_date, stored.resolution, stored.resolution_note, stored.closed_by) == (
        D(2026, 3, 5),
        DisputeResolution.CLOSED,
        "delivery note signed",
        MANAGER.name,
    )
    assert stored.adjustment_id is None
    assert open_balance(ledger, "INV-1") == 10_000  # nothing credited
    assert timeline(ledger)[-1] == (
        ActivityKind.NOTE,
        D(2026, 3, 5),
        "Dispute closed, the invoice stands: delivery note signed",
        1,
    )
    (entry,) = audit(ledger, "close_dispute")
    assert json.loads(entry.before or "")["closed_date"] is None
    assert json.loads(entry.after or "")["resolution"] == "closed"


def test_closing_needs_an_open_dispute_a_note_and_a_manager(ledger: Engine) -> None:
    with pytest.raises(NotFound, match="invoice INV-1 has no open dispute to close"):
        close(ledger)
    open_(ledger)
    with pytest.raises(ValidationError) as caught:
        close(ledger, note="", day=D(2026, 2, 19))
    assert [p.field for p in caught.value.problems] == ["note"]
    with pytest.raises(ValidationError) as early:
        close(ledger, day=D(2026, 2, 19))  # the day before it was opened
    assert str(early.value) == (
        "closed_date '2026-02-19': is before the dispute was opened (2026-02-20)"
    )
    for actor in (CLERK, FINANCE):
        with pytest.raises(PermissionDenied):
            close(ledger, actor=actor)
    (stored,) = disputes(ledger)
    assert stored.closed_date is None
    close(ledger, day=OPENED)  # the same day is fine


# --- resolving with a credit note --------------------------------------------------------------


def test_a_credit_note_resolves_the_dispute(ledger: Engine) -> None:
    open_(ledger)
    credit(ledger, 2_000)
    (stored,) = disputes(ledger)
    with read_session(ledger) as s:
        (adjustment,) = s.scalars(select(Adjustment))
    assert (adjustment.kind, adjustment.amount_minor, adjustment.date, adjustment.reason) == (
        AdjustmentKind.CREDIT_NOTE,
        2_000,
        D(2026, 3, 5),
        "20% off for the damage",
    )
    assert (stored.resolution, stored.adjustment_id, stored.closed_date) == (
        DisputeResolution.CREDIT_NOTE,
        adjustment.id,
        D(2026, 3, 5),
    )
    assert open_balance(ledger, "INV-1") == 8_000  # 10000 − 2000 credited
    assert timeline(ledger)[-1][2] == (
        "Dispute resolved with a credit note of 20.00 USD: 20% off for the damage"
    )
    assert len(audit(ledger, "credit_note")) == 1  # the adjustment service's own audit row
    assert len(audit(ledger, "close_dispute")) == 1


def test_a_credit_note_over_the_open_balance_is_refused_and_nothing_changes(
    ledger: Engine,
) -> None:
    pay(ledger, "C001", "P1", D(2026, 2, 12), 9_000, invoice_number="INV-1")
    open_(ledger)
    before = table_counts(ledger)
    # Open is 10000 − 9000 = 1000; 1001 is one cent too many.
    with pytest.raises(ValidationError) as caught:
        credit(ledger, 1_001)
    assert str(caught.value) == (
        "amount '10.01': is more than invoice INV-1's open balance 10.00 USD"
    )
    assert table_counts(ledger) == before
    assert disputes(ledger)[0].closed_date is None
    credit(ledger, 1_000)
    assert open_balance(ledger, "INV-1") == 0


def test_a_credit_note_respects_the_lock_date(ledger: Engine) -> None:
    open_(ledger)
    with write_session(ledger) as s:
        set_lock_date(s, actor=ADMIN, lock_date=D(2026, 2, 28), expected_current=None)
    before = table_counts(ledger)
    with pytest.raises(BooksClosed) as caught:
        credit(ledger, 500, day=D(2026, 2, 28))
    assert caught.value.problems[0].field == "credit_date"
    assert "The books are closed up to 2026-02-28" in str(caught.value)
    assert table_counts(ledger) == before
    credit(ledger, 500, day=D(2026, 3, 1))


def test_a_credit_note_needs_a_manager_and_an_open_dispute(ledger: Engine) -> None:
    with pytest.raises(NotFound, match="has no open dispute"):
        credit(ledger, 500)
    open_(ledger)
    for actor in (CLERK, FINANCE):
        with pytest.raises(PermissionDenied):
            credit(ledger, 500, actor=actor)
    with pytest.raises(ValidationError) as caught:
        credit(ledger, 0, note="")
    assert [(p.field, p.value) for p in caught.value.problems] == [("amount", 0), ("note", "")]
    assert open_balance(ledger, "INV-1") == 10_000


# --- two clerks opening the same dispute at once ----------------------------------------------

THREADS = 6


@pytest.fixture
def contested(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url, pool_size=THREADS, max_overflow=0)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def test_the_same_dispute_opened_at_once_is_opened_once(contested: Engine) -> None:
    customer(contested, "C001")
    invoice(contested, "INV-1", "C001", D(2026, 1, 10), 10_000)
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException | None] = [None] * THREADS

    def worker(i: int) -> None:
        barrier.wait()
        try:
            open_(contested, reason=f"reason {i}")
        except BaseException as error:  # judged below
            errors[i] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    refused = [e for e in errors if e is not None]
    assert len(refused) == THREADS - 1
    for error in refused:
        assert isinstance(error, Conflict), repr(error)
        assert "invoice INV-1 already has an open dispute" in str(error)
    assert len(disputes(contested)) == 1
    assert len(audit(contested, "open_dispute")) == 1


# --- the queries ---------------------------------------------------------------------------------

AS_OF = D(2026, 3, 31)


def ledger_frames() -> Any:
    customers = [
        {
            "customer_id": 1,
            "customer_code": "C001",
            "customer_name": "Acme Ltd",
            "currency": "USD",
            "payment_terms_days": 30,
            "credit_limit_minor": 0,
        }
    ]
    invoices = [
        {
            "invoice_id": i,
            "invoice_number": f"INV-{i}",
            "customer_id": 1,
            "currency": "USD",
            "issue_date": D(2026, 1, 10),
            "due_date": D(2026, 2, 9),
            "total_minor": 10_000,
        }
        for i in (1, 2, 3, 4)
    ]
    allocations = [
        {"payment_id": 1, "invoice_id": 1, "applied_date": D(2026, 3, 1), "amount_minor": 2_500},
        # After AS_OF: not in the open balance at AS_OF.
        {"payment_id": 1, "invoice_id": 1, "applied_date": D(2026, 4, 2), "amount_minor": 1_000},
    ]
    adjustments = [
        {"invoice_id": 2, "kind": "credit_note", "date": D(2026, 3, 20), "amount_minor": 4_000}
    ]
    return ledger_from_rows(
        customers=customers, invoices=invoices, allocations=allocations, adjustments=adjustments
    )


def dispute_row(
    dispute_id: int,
    invoice_id: int,
    opened: dt.date,
    closed: dt.date | None = None,
    resolution: str | None = None,
) -> dict[str, Any]:
    return {
        "dispute_id": dispute_id,
        "invoice_id": invoice_id,
        "customer_id": 1,
        "opened_date": opened,
        "reason": f"reason {dispute_id}",
        "closed_date": closed,
        "resolution": resolution,
    }


COLLECTIONS = collections_from_rows(
    disputes=[
        dispute_row(1, 1, D(2026, 3, 1)),  # open
        dispute_row(2, 2, D(2026, 2, 15), D(2026, 3, 20), "credit_note"),  # closed before AS_OF
        dispute_row(3, 3, D(2026, 3, 10), D(2026, 4, 5), "closed"),  # closed after AS_OF: open then
        dispute_row(4, 4, D(2026, 4, 1)),  # opened after AS_OF: not there yet
    ]
)


def test_disputed_invoice_ids_at_a_date() -> None:
    def ids(as_of: dt.date) -> list[int]:
        return sorted(disputed_invoice_ids(COLLECTIONS, as_of=as_of).collect()["invoice_id"])

    assert ids(AS_OF) == [1, 3]
    assert ids(D(2026, 3, 19)) == [1, 2, 3]  # dispute 2 closes on 03-20
    assert ids(D(2026, 3, 20)) == [1, 3]  # closed that day: no longer disputed
    assert ids(D(2026, 2, 14)) == []
    assert ids(D(2026, 4, 5)) == [1, 4]


def test_the_disputes_list_shows_open_ones_with_their_age() -> None:
    listed = disputes_list(ledger_frames(), COLLECTIONS, as_of=AS_OF).collect()
    expected = pl.DataFrame(
        {
            "invoice_number": ["INV-1", "INV-3"],
            "customer_code": ["C001", "C001"],
            "customer_name": ["Acme Ltd", "Acme Ltd"],
            "currency": ["USD", "USD"],
            "opened_date": [D(2026, 3, 1), D(2026, 3, 10)],
            "age_days": [30, 21],  # 03-31 − 03-01 = 30; 03-31 − 03-10 = 21
            "reason": ["reason 1", "reason 3"],
            "open_minor": [7_500, 10_000],  # 10000 − 2500 paid by AS_OF; untouched
            "status": ["open", "open"],
            "resolution": [None, None],  # dispute 3 closes only on 04-05
        },
        schema_overrides={"resolution": pl.String},
    )
    assert_frame_equal(listed.select(expected.columns), expected)


def test_the_disputes_list_with_closed_ones() -> None:
    listed = disputes_list(ledger_frames(), COLLECTIONS, as_of=AS_OF, include_closed=True).collect()
    assert listed.select(
        "invoice_number", "age_days", "open_minor", "status", "resolution", "closed_date"
    ).rows() == [
        # Oldest first. Dispute 2 ran 02-15 to 03-20: 13 days in Feb + 20 in March = 33.
        # INV-2: 10000 − 4000 credited on 03-20 = 6000.
        ("INV-2", 33, 6_000, "closed", "credit_note", D(2026, 3, 20)),
        ("INV-1", 30, 7_500, "open", None, None),
        ("INV-3", 21, 10_000, "open", None, None),
    ]


def test_the_unique_index_backs_up_the_check(
    ledger: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the check cannot see (both checked before either wrote) still ends in a Conflict."""
    open_(ledger)
    monkeypatch.setattr("billing.services.disputes._open_dispute_of", lambda *a, **k: None)
    before = table_counts(ledger)
    with pytest.raises(Conflict) as caught:
        open_(ledger, reason="raced")
    assert str(caught.value) == (
        "invoice INV-1 already has an open dispute; close it before opening another"
    )
    assert table_counts(ledger) == before

"""The ledger cache patches what a write touched and stays equal to a fresh read.

After every kind of write the patched frames are compared with
`load_ledger_rows` (sorted: the contract fixes no row order); the counters
say whether the cache patched or read the whole ledger again. Then the area
versions: each write moves the areas it touched and no other. Then the
fallbacks: an audit row of an unknown kind, too many rows, a count that does
not add up. Hypothesis drives random runs of writes on both databases.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from billing import audit
from billing.db import read_session, write_session
from billing.errors import BillingError
from billing.ledger_cache import (
    EVERYTHING,
    Area,
    LedgerCache,
    Touched,
    changes_since,
    patch_ledger,
    touched_by,
)
from billing.models import ActivityKind, Invoice
from billing.repository import load_ledger_rows
from billing.services import (
    ActivityCreate,
    CustomerUpdate,
    SettingsUpdate,
    add_activity,
    post_invoice,
    update_customer,
    update_settings,
    void_invoice,
)
from queries.ledger import SCHEMAS, LedgerFrames
from tests.conftest import ADMIN, CLERK, MANAGER
from tests.helpers import adjust, customer, invoice, pay

D = dt.date


def sorted_frames(ledger: LedgerFrames) -> dict[str, pl.DataFrame]:
    out = {}
    for name in SCHEMAS:
        frame = getattr(ledger, name).collect()
        out[name] = frame.sort(frame.columns)
    return out


def assert_fresh(cache: LedgerCache, engine: Engine) -> None:
    """What the cache holds after catching up equals a read of the whole ledger now."""
    cache.versions(engine)
    with read_session(engine) as session:
        want = sorted_frames(load_ledger_rows(session))
    have = sorted_frames(cache.ledger(engine))
    for name in SCHEMAS:
        assert_frame_equal(want[name], have[name], check_dtypes=True)


def test_every_kind_of_ledger_write_is_patched_in(ledger: Engine) -> None:
    """Starting from C001 with INV-1 (100.00) posted; one load, then only patches."""
    cache = LedgerCache()
    assert_fresh(cache, ledger)
    assert (cache.loads, cache.patches) == (1, 0)

    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000)  # a payment and its allocation to INV-1
    assert_fresh(cache, ledger)
    invoice(ledger, "INV-2", "C001", D(2026, 2, 3), 2500)  # a new posted invoice
    assert_fresh(cache, ledger)
    adjust(ledger, "INV-1", "credit_note", D(2026, 2, 5), 1000)  # an adjustment
    assert_fresh(cache, ledger)
    invoice(ledger, "INV-3", "C001", D(2026, 2, 6), 700, post=False)  # a draft: not in frames
    assert_fresh(cache, ledger)
    with write_session(ledger) as s:  # the draft posted: arrives
        post_invoice(s, actor=CLERK, invoice_number="INV-3")
    assert_fresh(cache, ledger)
    with write_session(ledger) as s:  # a void: INV-2 leaves
        void_invoice(s, actor=MANAGER, invoice_number="INV-2", reason="entered twice")
    assert_fresh(cache, ledger)
    pay(ledger, "C001", "P2", D(2026, 2, 9), 9000)  # spread over INV-1 and INV-3, rest unapplied
    assert_fresh(cache, ledger)
    customer(ledger, "C002", "EUR")  # customers frame read again
    with write_session(ledger) as s:
        update_customer(
            s, actor=MANAGER, customer_code="C001", changes=CustomerUpdate(name="Acme Group")
        )
    assert_fresh(cache, ledger)
    assert cache.loads == 1
    # One patch per catch-up that touched the ledger: the draft's too (it reads nothing new).
    assert cache.patches == 8
    names = cache.ledger(ledger).customers.collect()
    assert names.filter(pl.col("customer_code") == "C001")["customer_name"].item() == "Acme Group"


def test_a_write_moves_only_the_areas_it_touched(ledger: Engine) -> None:
    cache = LedgerCache()
    start = cache.versions(ledger)
    cache.ledger(ledger)

    with write_session(ledger) as s:
        add_activity(
            s,
            actor=CLERK,
            data=ActivityCreate("C001", ActivityKind.CALL, D(2026, 2, 1), body="Left a message"),
        )
    after_call = cache.versions(ledger)
    assert after_call.audit != start.audit
    moved = {area for area in Area if after_call[area] != start[area]}
    assert moved == {Area.COLLECTIONS}
    cache.ledger(ledger)
    assert (cache.loads, cache.patches) == (1, 0)  # the ledger was neither read nor patched

    with write_session(ledger) as s:
        update_settings(
            s, actor=ADMIN, data=SettingsUpdate(company_name="Billing Co", aging_buckets="30,60,90")
        )
    after_settings = cache.versions(ledger)
    assert {a for a in Area if after_settings[a] != after_call[a]} == {Area.SETTINGS}

    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000)
    after_payment = cache.versions(ledger)
    assert {a for a in Area if after_payment[a] != after_settings[a]} == {Area.LEDGER}


def test_a_payment_named_alone_brings_its_allocations(ledger: Engine) -> None:
    """Today every allocation also audits its invoice. A write that names only the payment
    must still bring the payment's allocations: the patch does not lean on the invoice rows."""
    with read_session(ledger) as session:
        stale = sorted_frames(load_ledger_rows(session))
    posted = pay(ledger, "C001", "P1", D(2026, 2, 1), 4000)  # 4000 of INV-1's 10000
    with read_session(ledger) as session:
        patched = patch_ledger(
            session,
            stale,
            Touched(frozenset({Area.LEDGER}), payment_ids=frozenset({posted.payment_id})),
        )
        want = sorted_frames(load_ledger_rows(session))
    for name in SCHEMAS:
        assert_frame_equal(want[name], patched[name].sort(patched[name].columns))
    assert patched["allocations"]["amount_minor"].to_list() == [4000]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # A payment by id, an invoice by number; their areas.
        (
            [("payment", "7", "post_payment"), ("invoice", "INV-9", "apply_payment")],
            Touched(frozenset({Area.LEDGER}), frozenset({"INV-9"}), frozenset({7})),
        ),
        # A dunning letter is logged against the customer but touches collections only.
        (
            [("customer", "C001", "send_dunning_letter")],
            Touched(frozenset({Area.COLLECTIONS})),
        ),
        # A failed-login lock is a user row: the ledger stays.
        ([("user", "clerk", "login_locked")], Touched(frozenset({Area.USERS}))),
        # A bulk load, an import's summary, a restore: everything.
        ([("ledger", "seed 7", "load_demo_data")], EVERYTHING),
        ([("invoice", "INV-1", "post_invoice"), ("import", "x.csv", "import_csv")], EVERYTHING),
        ([("database", "b.db", "restore_backup")], EVERYTHING),
        # A payment named by something else than its id cannot be patched.
        ([("payment", "P-1", "post_payment")], EVERYTHING),
    ],
)
def test_what_audit_rows_touched(entries: list[tuple[str, str, str]], expected: Touched) -> None:
    assert touched_by(entries) == expected


def test_rows_that_do_not_add_up_read_everything_again(ledger: Engine) -> None:
    with read_session(ledger) as session:
        now = audit.ledger_version(session)
        count, newest = now
        assert changes_since(session, now) == (now, Touched())
        # One row fewer than the log holds below `newest`: a write committed late (PostgreSQL).
        assert changes_since(session, (count - 2, newest - 1))[1] is EVERYTHING
        # The last row (the fixture's INV-1 posted), counted right, is placed.
        assert changes_since(session, (count - 1, newest - 1)) == (
            now,
            Touched(frozenset({Area.LEDGER}), frozenset({"INV-1"})),
        )
        # More rows than the limit: a full read is cheaper than patching row by row.
        assert changes_since(session, (count - 2, newest - 2), limit=1)[1] is EVERYTHING


def test_an_unknown_write_reads_the_ledger_again(ledger: Engine) -> None:
    cache = LedgerCache()
    cache.versions(ledger)
    cache.ledger(ledger)
    with write_session(ledger) as s:
        audit.record(
            s, actor=ADMIN, action="repair", entity="something_new", entity_id="1",
            before=None, after=None,
        )  # fmt: skip
    pay(ledger, "C001", "P1", D(2026, 2, 1), 4000)
    assert_fresh(cache, ledger)
    assert (cache.loads, cache.patches) == (2, 0)


# --- random runs of writes --------------------------------------------------------------

WRITES = st.sampled_from(
    ["customer", "invoice", "draft", "post", "void", "pay", "credit", "rename"]
)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=st.lists(st.lists(WRITES, min_size=1, max_size=4), min_size=1, max_size=5))
def test_random_writes_leave_the_cache_equal_to_a_fresh_read(
    ledger: Engine, runs: list[list[str]]
) -> None:
    """Each run of writes lands between two catch-ups; after each the frames equal a fresh read.

    Examples share the database (the ledger only grows), so names carry a counter.
    """
    cache = LedgerCache()
    assert_fresh(cache, ledger)
    for run in runs:
        for write in run:
            _write(ledger, write)
        assert_fresh(cache, ledger)
    assert cache.loads == 1


_names = itertools.count()


def _write(engine: Engine, kind: str) -> None:
    """One write of `kind`, or nothing where the ledger refuses it (a void of a paid invoice)."""
    n = next(_names)
    day = D(2026, 1, 1) + dt.timedelta(days=n % 300)
    try:
        if kind == "customer":
            customer(engine, f"R{n}")
        elif kind == "invoice":
            invoice(engine, f"R-{n}", "C001", day, 1000 + n)
        elif kind == "draft":
            invoice(engine, f"D-{n}", "C001", day, 500 + n, post=False)
        elif kind == "post":
            with write_session(engine) as s:
                post_invoice(s, actor=CLERK, invoice_number=_latest("D-", s))
        elif kind == "void":
            with write_session(engine) as s:
                void_invoice(s, actor=MANAGER, invoice_number=_latest("R-", s), reason="twice")
        elif kind == "pay":
            pay(engine, "C001", f"P{n}", D(2026, 12, 31), 700 + n)
        elif kind == "credit":
            adjust(engine, "INV-1", "credit_note", D(2026, 12, 31), 1)
        elif kind == "rename":
            with write_session(engine) as s:
                update_customer(
                    s, actor=MANAGER, customer_code="C001", changes=CustomerUpdate(name=f"Acme {n}")
                )
    except (BillingError, LookupError):
        pass


def _latest(prefix: str, session: Session) -> str:
    """The invoice entered last whose number starts with `prefix`."""
    number = session.scalar(
        select(Invoice.invoice_number)
        .where(Invoice.invoice_number.startswith(prefix))
        .order_by(Invoice.id.desc())
        .limit(1)
    )
    if number is None:
        raise LookupError(prefix)
    return str(number)

"""Twenty clerks at once against one invoice: no over-allocation, no lost update, no lock error.

On PostgreSQL the services lock the invoice row (`FOR UPDATE`); on SQLite every
write transaction takes the write lock up front (`BEGIN IMMEDIATE`). Without
either, two posters read the same open balance and both spend it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from billing.checks import check_ledger
from billing.db import make_engine, read_session, write_session
from billing.errors import BillingError
from billing.models import Allocation, Payment
from billing.schema import upgrade_database
from billing.services import (
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    PaymentPosted,
    allocate_payment,
    create_customer,
    create_invoice,
    post_payment,
)
from tests.conftest import CLERK
from tests.helpers import open_balance

THREADS = 20
D = dt.date(2026, 2, 1)


@pytest.fixture
def contested(database_url: str) -> Iterator[Engine]:
    """One customer owing one invoice of 10,000 (100.00), on an engine with a connection per thread."""
    engine = make_engine(database_url, pool_size=THREADS, max_overflow=0)
    upgrade_database(engine)
    with write_session(engine) as s:
        create_customer(s, actor=CLERK, data=CustomerCreate("C001", "Acme", "USD"))
        create_invoice(
            s,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-1", "C001", dt.date(2026, 1, 1), [LineCreate("Work", Decimal(1), 10_000)]
            ),
            post=True,
        )
    yield engine
    engine.dispose()


def run_together(work: Callable[[int], object]) -> tuple[list[object], list[BaseException]]:
    """Run `work(i)` in THREADS threads released at the same instant; collect results and errors."""
    barrier = threading.Barrier(THREADS)
    results: list[object] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        barrier.wait()
        try:
            outcome = work(i)
        except BaseException as error:  # collected and asserted on below
            with lock:
                errors.append(error)
        else:
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results, errors


def test_twenty_targeted_payments_of_1000_settle_exactly_10(contested: Engine) -> None:
    def post(i: int) -> PaymentPosted:
        with write_session(contested) as s:
            return post_payment(
                s,
                actor=CLERK,
                data=PaymentCreate("C001", f"P{i:02d}", D, 1_000, invoice_number="INV-1"),
            )

    results, errors = run_together(post)
    assert errors == []  # no "database is locked", no deadlock, no integrity error
    applied = [r for r in results if isinstance(r, PaymentPosted) and r.applied]
    # 10,000 ÷ 1,000 = 10 payments fit; the other 10 stay whole on account.
    assert len(applied) == 10
    assert sum(r.unapplied_minor for r in results if isinstance(r, PaymentPosted)) == 10 * 1_000
    assert open_balance(contested, "INV-1") == 0
    with read_session(contested) as s:
        assert s.scalar(select(func.sum(Allocation.amount_minor))) == 10_000
        assert check_ledger(s) == []


def test_twenty_allocations_of_1000_exactly_10_succeed(contested: Engine) -> None:
    with write_session(contested) as s:
        # Twenty payments of 1,000 received before the invoice existed: all unapplied.
        ids = [
            post_payment(
                s, actor=CLERK, data=PaymentCreate("C001", f"P{i:02d}", dt.date(2025, 12, 1), 1_000)
            ).payment_id
            for i in range(THREADS)
        ]

    def allocate(i: int) -> PaymentPosted:
        with write_session(contested) as s:
            return allocate_payment(
                s, actor=CLERK, payment_id=ids[i], invoice_number="INV-1", amount_minor=1_000
            )

    results, errors = run_together(allocate)
    assert len(results) == 10
    # The other ten are refused with a clerk's message, not a database error.
    assert len(errors) == 10
    assert all(isinstance(e, BillingError) and "open balance" in str(e) for e in errors)
    assert open_balance(contested, "INV-1") == 0
    with read_session(contested) as s:
        assert check_ledger(s) == []


def test_one_key_submitted_twenty_times_makes_one_payment(contested: Engine) -> None:
    def submit(_: int) -> PaymentPosted:
        with write_session(contested) as s:
            return post_payment(
                s,
                actor=CLERK,
                data=PaymentCreate("C001", "P-ONCE", D, 2_500, idempotency_key="form-render-1"),
            )

    results, errors = run_together(submit)
    assert errors == []
    posted = [r for r in results if isinstance(r, PaymentPosted)]
    assert len({(r.payment_id, r.applied) for r in posted}) == 1  # the same answer twenty times
    assert sum(not r.replayed for r in posted) == 1
    with read_session(contested) as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 1
    assert open_balance(contested, "INV-1") == 10_000 - 2_500


def test_twenty_auto_allocations_across_invoices_never_deadlock(contested: Engine) -> None:
    """Auto-allocation locks every open invoice of the customer, in ascending id order."""
    with write_session(contested) as s:
        for n in range(2, 6):  # four more invoices of 2,500 each: 10,000 + 4 × 2,500 = 20,000 open
            create_invoice(
                s,
                actor=CLERK,
                data=InvoiceCreate(
                    f"INV-{n}", "C001", dt.date(2026, 1, n), [LineCreate("Work", Decimal(1), 2_500)]
                ),
                post=True,
            )

    def post(i: int) -> PaymentPosted:
        with write_session(contested) as s:
            return post_payment(s, actor=CLERK, data=PaymentCreate("C001", f"A{i:02d}", D, 1_500))

    results, errors = run_together(post)
    assert errors == []
    # 20 × 1,500 = 30,000 received against 20,000 open: all of it applied, 10,000 on account.
    posted = [r for r in results if isinstance(r, PaymentPosted)]
    assert sum(a.amount_minor for r in posted for a in r.applied) == 20_000
    assert sum(r.unapplied_minor for r in posted) == 10_000
    with read_session(contested) as s:
        assert check_ledger(s) == []


def test_one_invoice_number_entered_twenty_times_is_one_invoice(contested: Engine) -> None:
    def enter(i: int) -> object:
        with write_session(contested) as s:
            return create_invoice(
                s,
                actor=CLERK,
                data=InvoiceCreate(
                    "INV-TWIN",
                    "C001",
                    dt.date(2026, 1, 2),
                    [LineCreate("Work", Decimal(1), 100 + i)],
                ),
                post=True,
            )

    results, errors = run_together(enter)
    assert len(results) == 1
    # The other nineteen get a clerk's message, never a raw database error.
    assert len(errors) == 19
    assert all(
        isinstance(e, BillingError) and "'INV-TWIN' is already in use" in str(e) for e in errors
    )

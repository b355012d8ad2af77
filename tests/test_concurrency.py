"""Twenty clerks at once, ten trials per scenario per database: no over-allocation, no lost
update, and nothing but a clerk's message for whoever loses the race.

On PostgreSQL the services lock the rows they change (`FOR UPDATE`: payment first,
then invoices by ascending id); on SQLite every write transaction takes the write
lock up front (`BEGIN IMMEDIATE`). Without either, two posters read the same open
balance and both spend it.

Each test runs TRIALS trials on one migrated database. Every trial gets its own
customer and invoices, amounts drawn from a generator seeded by scenario and
trial (so a failure reproduces), and an expected outcome computed from those
amounts. After every trial the whole ledger passes `check_ledger`, the trial's
balances equal their allocation rows, and the audit rows are exactly one set per
successful write.

Run with `-s` and without `-n` to see each scenario's figures (trials, attempts,
successes, refusals by message, slowest attempt, median trial); they feed
RELIABILITY.md.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from billing.checks import check_ledger
from billing.db import make_engine, read_session, write_session
from billing.errors import BillingError, Conflict, ValidationError
from billing.models import Allocation, AuditEntry, Customer, Invoice, Payment
from billing.money import format_amount
from billing.schema import upgrade_database
from billing.services import (
    Applied,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    PaymentPosted,
    allocate_payment,
    create_invoice,
    post_payment,
)
from tests.conftest import CLERK
from tests.helpers import customer, invoice, open_balance

THREADS = 20
TRIALS = 10
D = dt.date(2026, 2, 1)  # payments received; every invoice below is issued in January
EARLY = dt.date(2025, 12, 1)  # cash received before any invoice: it stays on account
JAN = dt.date(2026, 1, 1)

# What must never reach a clerk: the database's own words for a lost race.
RAW_DATABASE_WORDS = (
    "database is locked",
    "deadlock detected",
    "could not serialize",
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "integrityerror",
    "operationalerror",
)


@pytest.fixture
def contested(database_url: str) -> Iterator[Engine]:
    """A migrated, empty ledger on an engine with exactly one connection per thread."""
    engine = make_engine(database_url, pool_size=THREADS, max_overflow=0)
    upgrade_database(engine)
    yield engine
    engine.dispose()


# --- running twenty at once -------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """One thread's try: what it returned or raised, and how long it took after the start signal."""

    index: int
    outcome: Any
    error: BaseException | None
    seconds: float


def run_together(work: Callable[[int], object]) -> tuple[list[Attempt], float]:
    """Run `work(i)` in THREADS threads released at the same instant.

    Returns every attempt in thread order and the trial's wall time. Nothing is
    caught selectively: a raw database error comes back as an attempt's error,
    for `refusal` to reject.
    """
    barrier = threading.Barrier(THREADS)
    attempts: list[Attempt | None] = [None] * THREADS

    def worker(i: int) -> None:
        barrier.wait()
        start = time.perf_counter()
        try:
            outcome = work(i)
        except BaseException as error:  # judged by the test, never swallowed
            attempts[i] = Attempt(i, None, error, time.perf_counter() - start)
        else:
            attempts[i] = Attempt(i, outcome, None, time.perf_counter() - start)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    wall = time.perf_counter() - began
    done = [a for a in attempts if a is not None]
    assert len(done) == THREADS, "a thread was still waiting after 120 s: a deadlock or a hang"
    return done, wall


def post_all(engine: Engine, requests: list[PaymentCreate]) -> tuple[list[Attempt], float]:
    """Thread i posts `requests[i]`, each in its own transaction, all at once."""

    def post(i: int) -> PaymentPosted:
        with write_session(engine) as s:
            return post_payment(s, actor=CLERK, data=requests[i])

    return run_together(post)


def allocate_all(
    engine: Engine, requests: list[tuple[int, str, int | None]]
) -> tuple[list[Attempt], float]:
    """Thread i allocates (payment id, invoice number, amount or "as much as fits") `requests[i]`."""

    def allocate(i: int) -> PaymentPosted:
        payment_id, number, amount = requests[i]
        with write_session(engine) as s:
            return allocate_payment(
                s, actor=CLERK, payment_id=payment_id, invoice_number=number, amount_minor=amount
            )

    return run_together(allocate)


def enter_all(engine: Engine, entries: list[InvoiceCreate]) -> tuple[list[Attempt], float]:
    """Thread i enters and posts invoice `entries[i]`."""

    def enter(i: int) -> object:
        with write_session(engine) as s:
            return create_invoice(s, actor=CLERK, data=entries[i], post=True)

    return run_together(enter)


def refusal(error: BaseException) -> str:
    """The message a clerk sees for a refused attempt; fails on anything that is not one."""
    assert not isinstance(error, SQLAlchemyError), (
        f"raw database error reached the caller: {error!r}"
    )
    assert isinstance(error, BillingError), f"not a clerk-facing error: {error!r}"
    text = str(error)
    assert not any(word in text.lower() for word in RAW_DATABASE_WORDS), text
    return text


def split(attempts: list[Attempt]) -> tuple[list[Any], list[BaseException]]:
    """The successful outcomes and the refusals, each refusal checked to be a clerk's message."""
    refused = [a.error for a in attempts if a.error is not None]
    for error in refused:
        refusal(error)
    return [a.outcome for a in attempts if a.error is None], refused


def shape(error: BaseException) -> str:
    """A refusal's message with its numbers blanked out, so trials with other amounts group."""
    if isinstance(error, ValidationError):
        parts = sorted({p.message for p in error.problems})
        text = "; ".join(parts)
    else:
        text = str(error)
    return f"{type(error).__name__}: {re.sub(r'[0-9]+(?:[.,][0-9]+)*', '#', text)}"


# --- figures ------------------------------------------------------------------------------


@dataclass
class Figures:
    """One scenario on one database, summed over its trials."""

    scenario: str
    database: str
    trials: int = 0
    attempts: int = 0
    successes: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    slowest: float = 0.0
    walls: list[float] = field(default_factory=list)

    def add(self, attempts: list[Attempt], wall: float, **notes: int) -> None:
        self.trials += 1
        self.attempts += len(attempts)
        self.successes += sum(a.error is None for a in attempts)
        self.refusals.update(shape(a.error) for a in attempts if a.error is not None)
        self.notes.update(notes)
        self.slowest = max([self.slowest, *(a.seconds for a in attempts)])
        self.walls.append(wall)

    def report(self) -> None:
        """Print the figures (visible with `-s`)."""
        lines = [
            f"[{self.database}] {self.scenario}: {self.trials} trials, {self.attempts} attempts, "
            f"{self.successes} succeeded, {sum(self.refusals.values())} refused; "
            f"slowest attempt {self.slowest * 1000:.0f} ms; "
            f"trial wall median {statistics.median(self.walls) * 1000:.0f} ms "
            f"(min {min(self.walls) * 1000:.0f}, max {max(self.walls) * 1000:.0f})"
        ]
        lines += [f"    {n} × {what}" for what, n in sorted(self.notes.items())]
        lines += [f"    {n} × refused — {msg}" for msg, n in self.refusals.most_common()]
        print("\n" + "\n".join(lines))


# --- per-trial ledger and checks ----------------------------------------------------------


def new_customer(engine: Engine, trial: int) -> str:
    """A fresh customer for one trial, so trials never share a balance."""
    code = f"C{trial:02d}"
    customer(engine, code)
    return code


def unapplied_payments(engine: Engine, code: str, amounts: list[int]) -> list[int]:
    """Payments received before any invoice, so nothing is applied: cash on account."""
    with write_session(engine) as s:
        return [
            post_payment(
                s, actor=CLERK, data=PaymentCreate(code, f"E{i:02d}", EARLY, amount)
            ).payment_id
            for i, amount in enumerate(amounts)
        ]


def audit_mark(engine: Engine) -> int:
    """The newest audit id; rows above it were written by the trial (all setup has committed)."""
    with read_session(engine) as s:
        return s.scalar(select(func.max(AuditEntry.id))) or 0


def audit_since(engine: Engine, mark: int) -> Counter[str]:
    with read_session(engine) as s:
        return Counter(s.scalars(select(AuditEntry.action).where(AuditEntry.id > mark)))


def allocations_in_commit_order(engine: Engine, code: str) -> list[tuple[str, int]]:
    """The customer's allocations by id: drawn under the row locks, so in the order they committed."""
    with read_session(engine) as s:
        return [
            (n, a)
            for n, a in s.execute(
                select(Invoice.invoice_number, Allocation.amount_minor)
                .join(Invoice, Allocation.invoice_id == Invoice.id)
                .join(Customer, Invoice.customer_id == Customer.id)
                .where(Customer.customer_code == code)
                .order_by(Allocation.id)
            )
        ]


def settled(engine: Engine, code: str) -> dict[str, int]:
    with read_session(engine) as s:
        rows = s.execute(
            select(Invoice.invoice_number, Invoice.settled_minor)
            .join(Customer, Invoice.customer_id == Customer.id)
            .where(Customer.customer_code == code)
        )
        return {n: v for n, v in rows}


def assert_sound(engine: Engine, code: str) -> None:
    """The whole ledger passes its own check; this customer's running sums equal their rows."""
    with read_session(engine) as s:
        assert check_ledger(s) == []
        owner = select(Customer.id).where(Customer.customer_code == code).scalar_subquery()
        for inv in s.scalars(select(Invoice).where(Invoice.customer_id == owner)):
            rows = s.scalar(
                select(func.coalesce(func.sum(Allocation.amount_minor), 0)).where(
                    Allocation.invoice_id == inv.id
                )
            )
            assert inv.settled_minor == rows <= inv.total_minor, inv.invoice_number
        for p in s.scalars(select(Payment).where(Payment.customer_id == owner)):
            rows = s.scalar(
                select(func.coalesce(func.sum(Allocation.amount_minor), 0)).where(
                    Allocation.payment_id == p.id
                )
            )
            assert p.allocated_minor == rows <= p.amount_minor, p.payment_reference


def usd(minor: int) -> str:
    return format_amount(minor, "USD")


def applied_minor(posted: PaymentPosted) -> int:
    return sum(a.amount_minor for a in posted.applied)


# --- scenarios ----------------------------------------------------------------------------


def test_twenty_targeted_payments_apply_exactly_what_fits(contested: Engine) -> None:
    """Twenty payments of `amount` posted at one invoice of `fits` × amount + `rest`.

    Every payment is recorded (a targeted payment that does not fit stays on
    account); `fits` apply whole, one applies `rest` if there is any, the others
    apply nothing. Trial 0 is 20 × 1,000 against 10,000: exactly 10 apply.
    """
    figures = Figures("targeted payments → one invoice", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"targeted-{trial}")
        amount = 1_000 if trial == 0 else rng.randrange(300, 2_000)
        fits = 10 if trial == 0 else rng.randrange(3, THREADS)  # 3..19 payments fit whole
        rest = 0 if trial % 2 == 0 else rng.randrange(1, amount)  # odd trials: one fits in part
        total = fits * amount + rest
        code = new_customer(contested, trial)
        number = f"{code}-INV"
        invoice(contested, number, code, JAN, total)
        mark = audit_mark(contested)

        requests = [
            PaymentCreate(code, f"P{i:02d}", D, amount, invoice_number=number)
            for i in range(THREADS)
        ]
        attempts, wall = post_all(contested, requests)
        posted, refused = split(attempts)
        assert refused == []
        partial = 1 if rest else 0
        # e.g. trial 0: 10 × 1,000 applied whole, 0 in part, 20 − 10 = 10 left on account.
        expected = [amount] * fits + [rest] * partial + [0] * (THREADS - fits - partial)
        assert sorted(applied_minor(p) for p in posted) == sorted(expected)
        assert all(applied_minor(p) + p.unapplied_minor == amount for p in posted)
        assert open_balance(contested, number) == 0
        # In commit order the whole payments came first and the part last: no lost update.
        assert (
            allocations_in_commit_order(contested, code)
            == [(number, amount)] * fits + [(number, rest)] * partial
        )
        assert audit_since(contested, mark) == Counter(
            {"post_payment": THREADS, "apply_payment": fits + partial}
        )
        assert_sound(contested, code)
        figures.add(
            attempts,
            wall,
            **{
                "applied whole": fits,
                "applied in part": partial,
                "kept on account": THREADS - fits - partial,
            },
        )
    figures.report()


def test_twenty_payments_allocated_to_one_invoice_never_overfill_it(contested: Engine) -> None:
    """Twenty payments on account, each allocated to one invoice of `fits` × amount + `rest`.

    Even trials ask for the whole `amount` each: exactly `fits` succeed and the
    rest are refused naming the open balance left, `rest`. Odd trials ask for "as
    much as fits": one more succeeds with `rest`, and the others are told there is
    no open balance. Trial 0 is 20 × 1,000 against 10,000: exactly 10 succeed.
    """
    figures = Figures("allocations of 20 payments → one invoice", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"allocate-one-invoice-{trial}")
        amount = 1_000 if trial == 0 else rng.randrange(300, 2_000)
        fits = 10 if trial == 0 else rng.randrange(3, THREADS)
        rest = 0 if trial % 4 in (0, 2) else rng.randrange(1, amount)
        whole_amount = trial % 2 == 0
        total = fits * amount + rest
        code = new_customer(contested, trial)
        number = f"{code}-INV"
        invoice(contested, number, code, JAN, total)
        ids = unapplied_payments(contested, code, [amount] * THREADS)
        mark = audit_mark(contested)

        amount_asked = amount if whole_amount else None
        attempts, wall = allocate_all(
            contested, [(ids[i], number, amount_asked) for i in range(THREADS)]
        )
        done, refused = split(attempts)
        succeeded = fits if whole_amount else fits + (1 if rest else 0)
        assert len(done) == succeeded
        assert len(refused) == THREADS - succeeded
        if whole_amount:
            # Refusals only come once the balance is below `amount`, so they all see `rest`.
            message = (
                f"amount '{usd(amount)}': is more than invoice {number}'s open balance "
                f"{usd(rest)} USD"
            )
            assert all(isinstance(e, ValidationError) and str(e) == message for e in refused)
        else:
            message = "there is no open balance to apply this payment to"
            assert all(isinstance(e, Conflict) and str(e) == message for e in refused)
        applied = sorted(applied_minor(p) for p in done)
        assert applied == sorted([amount] * fits + ([] if whole_amount or not rest else [rest]))
        assert open_balance(contested, number) == (rest if whole_amount else 0)
        assert audit_since(contested, mark) == Counter(
            {"allocate_payment": succeeded, "apply_payment": succeeded}
        )
        assert_sound(contested, code)
        figures.add(attempts, wall)
    figures.report()


def test_one_payment_allocated_to_twenty_invoices_at_once_never_overspends(
    contested: Engine,
) -> None:
    """One payment on account, twenty clerks each allocating part of it to their own invoice.

    The payment row is locked first, so the allocations queue on it. Even
    trials allocate `share` each from a payment of `fits` × share + `rest`:
    exactly `fits` succeed. Trial 0: a payment of 10,000, twenty invoices of
    1,000, 700 each → 10,000 // 700 = 14 succeed, 14 × 700 = 9,800 allocated,
    200 left, the other six told only 2.00 is left. Odd trials allocate "as much
    as fits" (a whole invoice each) from `fits` × invoice + `rest`: `fits` whole,
    one part, the others told nothing is left.
    """
    figures = Figures("allocations of 1 payment → 20 invoices", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"allocate-one-payment-{trial}")
        each_invoice = 1_000 if trial == 0 else rng.randrange(500, 3_000)
        whole_share = trial % 2 == 0
        with_rest = trial % 4 < 2
        share = 700 if trial == 0 else rng.randrange(each_invoice // 4, each_invoice + 1)
        step = share if whole_share else each_invoice
        fits = 14 if trial == 0 else rng.randrange(3, THREADS)
        rest = 200 if trial == 0 else (rng.randrange(1, step) if with_rest else 0)
        amount = fits * step + rest
        code = new_customer(contested, trial)
        numbers = [f"{code}-INV-{k:02d}" for k in range(THREADS)]
        for number in numbers:
            invoice(contested, number, code, JAN, each_invoice)
        (payment_id,) = unapplied_payments(contested, code, [amount])
        mark = audit_mark(contested)

        share_asked = share if whole_share else None
        attempts, wall = allocate_all(
            contested, [(payment_id, numbers[i], share_asked) for i in range(THREADS)]
        )
        done, refused = split(attempts)
        succeeded = fits if whole_share else fits + (1 if rest else 0)
        assert len(done) == succeeded
        assert len(refused) == THREADS - succeeded
        # Unapplied cash only shrinks, so every refusal comes after the last success and sees `rest`.
        if whole_share and rest:
            message = f"amount '{usd(share)}': is more than the {usd(rest)} USD left unapplied"
            assert all(isinstance(e, ValidationError) and str(e) == message for e in refused)
        else:
            message = "payment E00 has no unapplied cash left"
            assert all(isinstance(e, Conflict) and str(e) == message for e in refused)
        allocated = fits * step + (0 if whole_share else rest)
        with read_session(contested) as s:
            payment = s.get_one(Payment, payment_id)
            assert payment.allocated_minor == allocated <= payment.amount_minor == amount
        amounts = [a for _, a in allocations_in_commit_order(contested, code)]
        assert amounts == [step] * fits + ([rest] if rest and not whole_share else [])
        assert sum(settled(contested, code).values()) == allocated
        assert audit_since(contested, mark) == Counter(
            {"allocate_payment": succeeded, "apply_payment": succeeded}
        )
        assert_sound(contested, code)
        figures.add(attempts, wall)
    figures.report()


def test_twenty_explicit_splits_over_shared_invoices_never_overfill_or_deadlock(
    contested: Engine,
) -> None:
    """Twenty new payments, each split by the clerk over the same invoices in its own order.

    Each split asks `share` of every invoice; invoice k holds f_k × share + r_k,
    so exactly min(f_k) splits fit and the others are refused whole, naming each
    invoice whose open balance is now below `share`. The invoices are listed in
    a different order per clerk; the service locks them by ascending id, so
    nobody deadlocks.
    """
    figures = Figures("explicit splits over shared invoices", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"explicit-split-{trial}")
        count = rng.randrange(3, 6)
        share = rng.randrange(200, 1_000)
        fills = [rng.randrange(3, THREADS) for _ in range(count)]
        rests = [rng.randrange(0, share) for _ in range(count)]
        code = new_customer(contested, trial)
        numbers = [f"{code}-INV-{k}" for k in range(count)]
        for k, number in enumerate(numbers):
            invoice(
                contested, number, code, JAN + dt.timedelta(days=k), fills[k] * share + rests[k]
            )
        orders = [rng.sample(numbers, count) for _ in range(THREADS)]
        extras = [rng.randrange(0, 500) for _ in range(THREADS)]
        mark = audit_mark(contested)

        requests = [
            PaymentCreate(
                code,
                f"S{i:02d}",
                D,
                count * share + extras[i],
                allocations=tuple((n, share) for n in orders[i]),
            )
            for i in range(THREADS)
        ]
        attempts, wall = post_all(contested, requests)
        done, refused = split(attempts)
        fit = min(fills)
        assert len(done) == fit
        left = {n: fills[k] * share + rests[k] - fit * share for k, n in enumerate(numbers)}
        short = {f"allocation to {n}" for n, v in left.items() if v < share}
        for error in refused:
            assert isinstance(error, ValidationError)
            assert {p.field for p in error.problems} == short
            assert all("is more than its open balance" in p.message for p in error.problems)
        for attempt in attempts:
            if attempt.error is None:  # applied exactly as split, in the clerk's order
                wanted = tuple(Applied(n, share, D) for n in orders[attempt.index])
                assert attempt.outcome.applied == wanted
        assert settled(contested, code) == {n: fit * share for n in numbers}
        with read_session(contested) as s:
            owner = select(Customer.id).where(Customer.customer_code == code).scalar_subquery()
            payments = s.scalar(
                select(func.count()).select_from(Payment).where(Payment.customer_id == owner)
            )
            assert payments == fit  # a refused split leaves no payment behind
        assert audit_since(contested, mark) == Counter(
            {"post_payment": fit, "apply_payment": fit * count}
        )
        assert_sound(contested, code)
        figures.add(attempts, wall)
    figures.report()


def _two_invoices(engine: Engine, trial: int, rng: random.Random) -> tuple[str, int, int]:
    """A fresh customer owing A (issued Jan 1) and B (issued Jan 5); returns code and totals."""
    code = new_customer(engine, trial)
    total_a, total_b = rng.randrange(500, 3_000), rng.randrange(500, 3_000)
    invoice(engine, f"{code}-A", code, JAN, total_a)
    invoice(engine, f"{code}-B", code, dt.date(2026, 1, 5), total_b)
    return code, total_a, total_b


def test_one_key_submitted_twenty_times_makes_one_payment_and_one_answer(
    contested: Engine,
) -> None:
    """Twenty submissions of one form (same key, same content): one payment, twenty equal answers.

    Trials rotate through a targeted, an auto-allocated and an explicitly split
    payment; the expected allocations are computed from the amounts.
    """
    figures = Figures("one idempotency key × 20, same content", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"same-key-{trial}")
        code, total_a, total_b = _two_invoices(contested, trial, rng)
        a, b = f"{code}-A", f"{code}-B"
        amount = rng.randrange(1_000, 5_000)
        mode = ("targeted", "auto", "split")[trial % 3]
        if mode == "targeted":
            data = PaymentCreate(code, "P-ONCE", D, amount, invoice_number=a, idempotency_key=code)
            expected = [(a, min(amount, total_a))]
        elif mode == "auto":
            data = PaymentCreate(code, "P-ONCE", D, amount, idempotency_key=code)
            # Oldest first: A takes what it can, B the remainder.
            expected = [(a, min(amount, total_a)), (b, min(amount - total_a, total_b))]
            expected = [(n, v) for n, v in expected if v > 0]
        else:
            to_b = rng.randrange(1, min(total_b, amount // 2) + 1)
            to_a = rng.randrange(1, min(total_a, amount - to_b) + 1)
            expected = [(b, to_b), (a, to_a)]  # in the clerk's order
            data = PaymentCreate(
                code, "P-ONCE", D, amount, idempotency_key=code, allocations=tuple(expected)
            )
        mark = audit_mark(contested)

        attempts, wall = post_all(contested, [data] * THREADS)
        posted, refused = split(attempts)
        assert refused == []
        answers = {
            (p.payment_id, p.payment_reference, p.applied, p.unapplied_minor) for p in posted
        }
        assert len(answers) == 1  # the same answer twenty times
        (answer,) = answers
        assert [(x.invoice_number, x.amount_minor) for x in answer[2]] == expected
        assert answer[3] == amount - sum(v for _, v in expected)
        assert sum(not p.replayed for p in posted) == 1
        with read_session(contested) as s:
            assert s.scalars(select(Payment.id).where(Payment.idempotency_key == code)).all() == [
                answer[0]
            ]
        assert audit_since(contested, mark) == Counter(
            {"post_payment": 1, "apply_payment": len(expected)}
        )
        assert_sound(contested, code)
        figures.add(attempts, wall, **{f"mode {mode}": 1, "replayed answers": THREADS - 1})
    figures.report()


def test_one_key_with_twenty_different_amounts_keeps_the_first_and_refuses_the_rest(
    contested: Engine,
) -> None:
    """Same key, twenty different amounts: one payment, nineteen "already submitted" refusals."""
    figures = Figures("one idempotency key × 20, different amounts", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"same-key-other-content-{trial}")
        code, total_a, _ = _two_invoices(contested, trial, rng)
        base = rng.randrange(100, 4_000)
        mark = audit_mark(contested)

        requests = [
            PaymentCreate(
                code, "P-ONCE", D, base + i, invoice_number=f"{code}-A", idempotency_key=code
            )
            for i in range(THREADS)
        ]
        attempts, wall = post_all(contested, requests)
        posted, refused = split(attempts)
        assert len(posted) == 1 and not posted[0].replayed
        assert len(refused) == THREADS - 1
        message = "this form was already submitted with different values; reload and try again"
        assert all(isinstance(e, Conflict) and str(e) == message for e in refused)
        winner = next(a for a in attempts if a.error is None)
        with read_session(contested) as s:
            rows = s.scalars(select(Payment).where(Payment.idempotency_key == code)).all()
            assert [p.amount_minor for p in rows] == [base + winner.index]
        applied = min(base + winner.index, total_a)
        assert applied_minor(posted[0]) == applied
        assert open_balance(contested, f"{code}-A") == total_a - applied
        assert audit_since(contested, mark) == Counter({"post_payment": 1, "apply_payment": 1})
        assert_sound(contested, code)
        figures.add(attempts, wall)
    figures.report()


def _split_total(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` cut into `parts` positive amounts at random points."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def test_twenty_auto_allocations_across_invoices_fill_oldest_first(contested: Engine) -> None:
    """Twenty auto-allocated payments against several open invoices, locked by ascending id.

    Whatever the order the posts commit in, min(Σ paid, Σ open) is applied and
    it fills the invoices oldest first: a run of settled ones, at most one
    part-paid, the rest untouched. Even trials owe more than is paid (all cash
    applied); odd trials less (every invoice settled, the surplus on account).
    Trial 0: 10,000 + 4 × 2,500 = 20,000 open, 20 × 1,500 = 30,000 paid.
    """
    figures = Figures("auto allocations across invoices", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"auto-{trial}")
        if trial == 0:
            paid, totals = [1_500] * THREADS, [10_000, 2_500, 2_500, 2_500, 2_500]
        else:
            paid = [rng.randrange(100, 1_500) for _ in range(THREADS)]
            gap = rng.randrange(1, sum(paid) // 2)
            owed = sum(paid) + gap if trial % 2 == 0 else sum(paid) - gap
            totals = _split_total(rng, owed, rng.randrange(2, 7))
        code = new_customer(contested, trial)
        numbers = [f"{code}-INV-{k}" for k in range(len(totals))]
        for k, (number, total) in enumerate(zip(numbers, totals, strict=True)):
            invoice(contested, number, code, JAN + dt.timedelta(days=k), total)
        mark = audit_mark(contested)

        requests = [PaymentCreate(code, f"A{i:02d}", D, paid[i]) for i in range(THREADS)]
        attempts, wall = post_all(contested, requests)
        posted, refused = split(attempts)
        assert refused == []
        applied = min(sum(paid), sum(totals))  # trial 0: min(30,000, 20,000) = 20,000
        assert sum(applied_minor(p) for p in posted) == applied
        assert sum(p.unapplied_minor for p in posted) == sum(paid) - applied
        expected: dict[str, int] = {}
        left = applied
        for number, total in zip(numbers, totals, strict=True):  # oldest first
            expected[number] = min(total, left)
            left -= expected[number]
        assert settled(contested, code) == expected
        rows = allocations_in_commit_order(contested, code)
        assert audit_since(contested, mark) == Counter(
            {"post_payment": THREADS, "apply_payment": len(rows)}
        )
        assert_sound(contested, code)
        figures.add(attempts, wall, **{"allocation rows": len(rows)})
    figures.report()


def test_one_invoice_number_entered_twenty_times_is_one_invoice(contested: Engine) -> None:
    figures = Figures("one invoice number × 20", contested.dialect.name)
    for trial in range(TRIALS):
        rng = random.Random(f"twin-{trial}")
        code = new_customer(contested, trial)
        number = f"{code}-TWIN"
        base = rng.randrange(100, 10_000)
        mark = audit_mark(contested)

        entries = [
            InvoiceCreate(number, code, JAN, [LineCreate("Work", Decimal(1), base + i)])
            for i in range(THREADS)
        ]
        attempts, wall = enter_all(contested, entries)
        created, refused = split(attempts)
        assert len(created) == 1
        # The other nineteen get a clerk's message, never a raw database error.
        assert len(refused) == THREADS - 1
        message = f"invoice number {number!r} is already in use"
        assert all(isinstance(e, Conflict) and str(e) == message for e in refused)
        winner = next(a for a in attempts if a.error is None)
        with read_session(contested) as s:
            totals = s.scalars(select(Invoice.total_minor).where(Invoice.invoice_number == number))
            assert totals.all() == [base + winner.index]
        assert audit_since(contested, mark) == Counter({"post_invoice": 1})
        assert_sound(contested, code)
        figures.add(attempts, wall)
    figures.report()

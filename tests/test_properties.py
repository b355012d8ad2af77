"""Random sequences of ledger operations against a small, obviously-correct reference.

The reference below re-states SPEC §2 with dicts and loops (no code shared with
`billing/`). Hypothesis drives random customers, invoices (draft and posted),
payments (auto and targeted, with repeated references and idempotency keys),
later allocations, credit notes, write-offs and voids through the real services.
After every step the database must agree with the reference to the cent, a
refused step must have written nothing, and `billing check` must stay clean.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, select

from billing.checks import check_ledger
from billing.db import read_session, write_session
from billing.errors import BillingError
from billing.models import AdjustmentKind, Base, Invoice, Payment
from billing.services import (
    AdjustmentCreate,
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    adjust_invoice,
    allocate_payment,
    create_customer,
    create_invoice,
    post_invoice,
    post_payment,
    void_invoice,
)
from tests.conftest import CLERK, MANAGER
from tests.helpers import table_counts

START = dt.date(2026, 1, 1)
CUSTOMERS = ["C1", "C2", "C3"]


# --- the reference ledger -------------------------------------------------------------


@dataclass
class RefInvoice:
    customer: str
    issue: dt.date
    due: dt.date
    total: int
    status: str
    settled: int = 0
    touched: bool = False  # has allocations or adjustments


@dataclass
class RefPayment:
    customer: str
    received: dt.date
    amount: int
    key: str | None
    allocated: int = 0


@dataclass
class Reference:
    invoices: dict[str, RefInvoice] = field(default_factory=dict)
    payments: dict[tuple[str, str], RefPayment] = field(default_factory=dict)

    def of_customer(self, code: str) -> list[str]:
        """Numbers of the customer's invoices: what a clerk would pick from."""
        return [n for n, inv in self.invoices.items() if inv.customer == code]

    def open(self, number: str) -> int:
        inv = self.invoices[number]
        return inv.total - inv.settled

    def apply(self, payment: RefPayment, number: str, amount: int) -> None:
        self.invoices[number].settled += amount
        self.invoices[number].touched = True
        payment.allocated += amount

    def auto(self, payment: RefPayment, budget: int, cutoff: dt.date) -> int:
        """Oldest first by (due, issue, number) among posted invoices issued by `cutoff`."""
        candidates = [
            (inv.due, inv.issue, number)
            for number, inv in self.invoices.items()
            if inv.customer == payment.customer
            and inv.status == "posted"
            and inv.issue <= cutoff
            and self.open(number) > 0
        ]
        spent = 0
        for _, _, number in sorted(candidates):
            take = min(budget - spent, self.open(number))
            if take <= 0:
                break
            self.apply(payment, number, take)
            spent += take
        return spent


# --- random operations --------------------------------------------------------------

day = st.integers(min_value=0, max_value=90).map(lambda n: START + dt.timedelta(days=n))
amount = st.one_of(
    st.integers(min_value=1, max_value=3_000), st.integers(min_value=1, max_value=20_000)
)
customer_code = st.sampled_from(CUSTOMERS)
# Targets are picks among what exists when the step runs (see `pick`), so most steps
# meet real invoices and payments; a pick of -1 names one that does not exist.
pick = st.integers(min_value=-1, max_value=50)
reference = st.integers(min_value=1, max_value=12).map(lambda n: f"P{n}")

invoice_op = st.tuples(
    st.just("invoice"),
    st.integers(min_value=1, max_value=30).map(lambda n: f"INV-{n}"),
    customer_code,
    day,
    amount,
    st.integers(min_value=0, max_value=40),  # payment terms in days
    st.booleans(),  # post it, or leave a draft
)
pay_op = st.tuples(
    st.just("pay"),
    customer_code,
    reference,
    day,
    amount,
    st.none() | pick,  # None: auto-allocate
    st.none() | st.sampled_from(["k1", "k2"]),  # idempotency key, sometimes reused
)
operations = st.one_of(
    invoice_op,
    pay_op,
    st.tuples(st.just("post_draft"), pick),
    st.tuples(st.just("allocate"), pick, st.none() | pick, st.none() | amount),
    st.tuples(st.just("adjust"), pick, st.sampled_from(list(AdjustmentKind)), day, amount),
    st.tuples(st.just("void"), pick),
)


def choose(names: list[str], index: int | None, missing: str) -> str | None:
    """The `index`-th existing name (wrapping), `missing` for -1, None for None."""
    if index is None:
        return None
    if index < 0 or not names:
        return missing
    return sorted(names)[index % len(names)]


def reset(engine: Engine) -> None:
    with write_session(engine) as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        for code in CUSTOMERS:
            create_customer(s, actor=CLERK, data=CustomerCreate(code, f"Customer {code}", "USD"))


def perform(engine: Engine, ref: Reference, op: tuple) -> bool:  # type: ignore[type-arg]
    """Run `op` through the services; update the reference only if it was accepted.

    Returns whether the reference predicted acceptance; the caller compares with reality.
    """
    kind = op[0]
    with write_session(engine) as s:
        if kind == "invoice":
            _, number, code, issue, total, terms, post = op
            ok = number not in ref.invoices
            create_invoice(
                s,
                actor=CLERK,
                post=post,
                data=InvoiceCreate(
                    number,
                    code,
                    issue,
                    [LineCreate("x", Decimal(1), total)],
                    issue + dt.timedelta(days=terms),
                ),
            )
            if ok:
                ref.invoices[number] = RefInvoice(
                    code,
                    issue,
                    issue + dt.timedelta(days=terms),
                    total,
                    "posted" if post else "draft",
                )
            return ok
        if kind == "post_draft":
            number = choose(list(ref.invoices), op[1], "INV-NONE") or ""
            ok = number in ref.invoices and ref.invoices[number].status == "draft"
            post_invoice(s, actor=CLERK, invoice_number=number)
            ref.invoices[number].status = "posted"
            return ok
        if kind == "pay":
            _, code, pref, received, cash, target_pick, key = op
            target = choose(ref.of_customer(code), target_pick, "INV-NONE")
            existing = next(
                (p for p in ref.payments.values() if key is not None and p.key == key), None
            )
            result = post_payment(
                s,
                actor=CLERK,
                data=PaymentCreate(
                    code, pref, received, cash, invoice_number=target, idempotency_key=key
                ),
            )
            if existing is not None:
                same = (
                    (existing.customer, existing.received, existing.amount)
                    == (code, received, cash)
                    and (code, pref) in ref.payments
                    and ref.payments[(code, pref)] is existing
                )
                return same and result.replayed
            if (code, pref) in ref.payments:
                return False
            payment = RefPayment(code, received, cash, key)
            if target is None:
                ref.auto(payment, cash, received)
            else:
                inv = ref.invoices.get(target)
                if inv is None or inv.customer != code or inv.status != "posted":
                    return False
                take = min(cash, ref.open(target))
                if take:
                    ref.apply(payment, target, take)
            ref.payments[(code, pref)] = payment
            return True
        if kind == "allocate":
            _, payment_pick, target_pick, cash = op
            with_cash = [f"{c}|{r}" for (c, r), p in ref.payments.items() if p.amount > p.allocated]
            code, pref = (choose(with_cash, payment_pick, "C1|P-NONE") or "").split("|")
            target = choose(ref.of_customer(code), target_pick, "INV-NONE")
            payment_row = s.scalars(
                select(Payment)
                .where(Payment.payment_reference == pref)
                .where(Payment.customer.has(customer_code=code))
            ).first()
            payment_id = payment_row.id if payment_row else -1
            allocate_payment(
                s, actor=CLERK, payment_id=payment_id, invoice_number=target, amount_minor=cash
            )
            payment = ref.payments.get((code, pref))
            if payment is None:
                return False
            left = payment.amount - payment.allocated
            if left <= 0 or (cash is not None and cash > left):
                return False
            budget = cash if cash is not None else left
            if target is None:
                return ref.auto(payment, budget, dt.date.max) > 0
            inv = ref.invoices.get(target)
            if inv is None or inv.customer != code or inv.status != "posted":
                return False
            if cash is not None and cash > ref.open(target):
                return False
            take = min(budget, ref.open(target))
            if take <= 0:
                return False
            ref.apply(payment, target, take)
            return True
        if kind == "adjust":
            _, number_pick, adj_kind, when, cash = op
            number = choose(list(ref.invoices), number_pick, "INV-NONE") or ""
            adjust_invoice(
                s, actor=MANAGER, data=AdjustmentCreate(number, adj_kind, when, cash, "random")
            )
            inv = ref.invoices.get(number)
            if inv is None or inv.status != "posted" or when < inv.issue or cash > ref.open(number):
                return False
            inv.settled += cash
            inv.touched = True
            return True
        if kind == "void":
            number = choose(list(ref.invoices), op[1], "INV-NONE") or ""
            void_invoice(s, actor=MANAGER, invoice_number=number, reason="random")
            inv = ref.invoices.get(number)
            if inv is None or inv.status != "posted" or inv.touched:
                return False
            inv.status = "void"
            return True
    raise AssertionError(kind)


def assert_matches(engine: Engine, ref: Reference) -> None:
    with read_session(engine) as s:
        invoices = {
            i.invoice_number: (i.status.value, i.settled_minor, i.total_minor)
            for i in s.scalars(select(Invoice))
        }
        payments = {
            (p.customer.customer_code, p.payment_reference): p.allocated_minor
            for p in s.scalars(select(Payment))
        }
        assert check_ledger(s) == []
    assert invoices == {n: (i.status, i.settled, i.total) for n, i in ref.invoices.items()}
    assert payments == {k: p.allocated for k, p in ref.payments.items()}


def run(engine: Engine, ops: list[tuple]) -> None:  # type: ignore[type-arg]
    reset(engine)
    ref = Reference()
    for op in ops:
        snapshot = (
            {n: (i.status, i.settled) for n, i in ref.invoices.items()},
            {k: p.allocated for k, p in ref.payments.items()},
        )
        before = table_counts(engine)
        try:
            accepted_by_reference = perform(engine, ref, op)
        except BillingError:
            # Refused by the services: the reference must agree, and nothing may have been written.
            assert table_counts(engine) == before, op
            restored = (
                {n: (i.status, i.settled) for n, i in ref.invoices.items()},
                {k: p.allocated for k, p in ref.payments.items()},
            )
            assert restored == snapshot, f"reference accepted what the services refused: {op}"
        else:
            assert accepted_by_reference, f"services accepted what the reference refuses: {op}"
        assert_matches(engine, ref)


@pytest.mark.slow
def test_random_ledgers_match_the_reference(engine: Engine) -> None:
    examples = 60 if engine.dialect.name == "sqlite" else 30

    # A few invoices and payments first, so most later steps meet something real.
    history = st.tuples(
        st.lists(invoice_op, min_size=1, max_size=6),
        st.lists(pay_op, max_size=3),
        st.lists(operations, min_size=1, max_size=30),
    ).map(lambda parts: [*parts[0], *parts[1], *parts[2]])

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(history)
    def check(ops: list[tuple]) -> None:  # type: ignore[type-arg]
        run(engine, ops)

    check()

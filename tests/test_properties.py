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
from collections.abc import Callable
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
    PaymentPosted,
    adjust_invoice,
    allocate_payment,
    create_customer,
    create_invoice,
    post_invoice,
    post_payment,
    void_invoice,
)
from tests.conftest import CLERK, MANAGER
from tests.helpers import ledger_guards_lifted, table_counts

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
    target: str | None = None
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

    def plan_auto(self, customer: str, budget: int, cutoff: dt.date) -> list[tuple[str, int]]:
        """Oldest first by (due, issue, number) among posted invoices issued by `cutoff`."""
        candidates = sorted(
            (inv.due, inv.issue, number)
            for number, inv in self.invoices.items()
            if inv.customer == customer
            and inv.status == "posted"
            and inv.issue <= cutoff
            and self.open(number) > 0
        )
        plan, left = [], budget
        for _, _, number in candidates:
            take = min(left, self.open(number))
            if take <= 0:
                break
            plan.append((number, take))
            left -= take
        return plan


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
    st.tuples(
        st.just("adjust"),
        pick,
        st.sampled_from(list(AdjustmentKind)),
        st.integers(min_value=-2, max_value=60),  # days after the invoice's issue date
        st.integers(min_value=1, max_value=2_000) | amount,
    ),
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
    # Posted rows cannot be deleted (migration 0003's triggers); lifted only for this wipe.
    with write_session(engine) as s, ledger_guards_lifted(s.connection()):
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(delete(table))
        for code in CUSTOMERS:
            create_customer(s, actor=CLERK, data=CustomerCreate(code, f"Customer {code}", "USD"))


Op = tuple  # type: ignore[type-arg]
Effect = Callable[[], None]


def resolve(ref: Reference, op: Op) -> Op:
    """Turn the random picks in `op` into concrete invoice numbers and payment references."""
    kind = op[0]
    if kind in ("post_draft", "void"):
        return (kind, choose(list(ref.invoices), op[1], "INV-NONE"))
    if kind == "pay":
        _, code, pref, received, cash, target_pick, key = op
        return (
            kind,
            code,
            pref,
            received,
            cash,
            choose(ref.of_customer(code), target_pick, "INV-NONE"),
            key,
        )
    if kind == "allocate":
        _, payment_pick, target_pick, cash = op
        with_cash = [f"{c}|{r}" for (c, r), p in ref.payments.items() if p.amount > p.allocated]
        code, pref = (choose(with_cash, payment_pick, "C1|P-NONE") or "").split("|")
        return (kind, code, pref, choose(ref.of_customer(code), target_pick, "INV-NONE"), cash)
    if kind == "adjust":
        _, number_pick, adj_kind, days_after_issue, cash = op
        number = choose(list(ref.invoices), number_pick, "INV-NONE")
        issued = ref.invoices[number].issue if number in ref.invoices else START
        return (kind, number, adj_kind, issued + dt.timedelta(days=days_after_issue), cash)
    return op


def predict(ref: Reference, op: Op) -> tuple[Effect | None, bool]:
    """What SPEC §2 says `op` should do, decided before the services run.

    Returns the change to make to the reference if the operation must be
    accepted (None if it must be refused), and whether it must be a replay.
    Nothing here mutates the reference.
    """
    kind = op[0]
    nothing: Effect = lambda: None  # noqa: E731
    if kind == "invoice":
        _, number, code, issue, total, terms, post = op
        if number in ref.invoices:
            return None, False
        status = "posted" if post else "draft"
        new = RefInvoice(code, issue, issue + dt.timedelta(days=terms), total, status)
        return (lambda: ref.invoices.__setitem__(number, new)), False
    if kind == "post_draft":
        inv = ref.invoices.get(op[1])
        if inv is None or inv.status != "draft":
            return None, False
        return (lambda: setattr(inv, "status", "posted")), False
    if kind == "pay":
        _, code, pref, received, cash, target, key = op
        earlier = next((p for p in ref.payments.values() if key is not None and p.key == key), None)
        if earlier is not None:
            same = ref.payments.get((code, pref)) is earlier and (
                earlier.received,
                earlier.amount,
            ) == (received, cash)
            same = same and earlier.target == target
            return (nothing if same else None), same
        if (code, pref) in ref.payments:
            return None, False
        payment = RefPayment(code, received, cash, key, target)
        if target is None:
            plan = ref.plan_auto(code, cash, received)
        else:
            inv = ref.invoices.get(target)
            if inv is None or inv.status != "posted":
                return None, False
            take = min(cash, ref.open(target))
            plan = [(target, take)] if take else []

        def post() -> None:
            ref.payments[(code, pref)] = payment
            for number, amount in plan:
                ref.apply(payment, number, amount)

        return post, False
    if kind == "allocate":
        _, code, pref, target, cash = op
        found = ref.payments.get((code, pref))
        if found is None:
            return None, False
        paying: RefPayment = found
        left = paying.amount - paying.allocated
        if left <= 0 or (cash is not None and cash > left):
            return None, False
        budget = cash if cash is not None else left
        if target is None:
            # Later allocation of cash on account: every open invoice, oldest first.
            plan = ref.plan_auto(code, budget, dt.date.max)
        else:
            inv = ref.invoices.get(target)
            if (
                inv is None
                or inv.status != "posted"
                or (cash is not None and cash > ref.open(target))
            ):
                return None, False
            take = min(budget, ref.open(target))
            plan = [(target, take)] if take else []
        if not plan:
            return None, False

        def allocate() -> None:
            for number, amount in plan:
                ref.apply(paying, number, amount)

        return allocate, False
    if kind == "adjust":
        _, number, _, when, cash = op
        inv = ref.invoices.get(number)
        if inv is None or inv.status != "posted" or when < inv.issue or cash > ref.open(number):
            return None, False

        def adjust() -> None:
            inv.settled += cash
            inv.touched = True

        return adjust, False
    if kind == "void":
        inv = ref.invoices.get(op[1])
        if inv is None or inv.status != "posted" or inv.touched:
            return None, False
        return (lambda: setattr(inv, "status", "void")), False
    raise AssertionError(kind)


def execute(engine: Engine, op: Op) -> object:
    """Run `op` through the real services in one write transaction."""
    kind = op[0]
    with write_session(engine) as s:
        if kind == "invoice":
            _, number, code, issue, total, terms, post = op
            line = [LineCreate("x", Decimal(1), total)]
            data = InvoiceCreate(number, code, issue, line, issue + dt.timedelta(days=terms))
            return create_invoice(s, actor=CLERK, post=post, data=data)
        if kind == "post_draft":
            return post_invoice(s, actor=CLERK, invoice_number=op[1])
        if kind == "pay":
            _, code, pref, received, cash, target, key = op
            data = PaymentCreate(
                code, pref, received, cash, invoice_number=target, idempotency_key=key
            )
            return post_payment(s, actor=CLERK, data=data)
        if kind == "allocate":
            _, code, pref, target, cash = op
            payment_id = s.scalar(
                select(Payment.id)
                .where(Payment.payment_reference == pref)
                .where(Payment.customer.has(customer_code=code))
            )
            return allocate_payment(
                s,
                actor=CLERK,
                payment_id=payment_id or -1,
                invoice_number=target,
                amount_minor=cash,
            )
        if kind == "adjust":
            _, number, adj_kind, when, cash = op
            data = AdjustmentCreate(number, adj_kind, when, cash, "random")
            return adjust_invoice(s, actor=MANAGER, data=data)
        if kind == "void":
            return void_invoice(s, actor=MANAGER, invoice_number=op[1], reason="random")
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


def run(engine: Engine, ops: list[Op]) -> None:
    reset(engine)
    ref = Reference()
    for raw in ops:
        op = resolve(ref, raw)
        effect, replay = predict(ref, op)
        before = table_counts(engine)
        try:
            result = execute(engine, op)
        except BillingError as error:
            assert effect is None, f"services refused what SPEC §2 allows: {op}: {error}"
            assert table_counts(engine) == before, f"a refused step wrote something: {op}"
        else:
            assert effect is not None, f"services accepted what SPEC §2 refuses: {op}"
            effect()
            if op[0] == "pay":
                assert isinstance(result, PaymentPosted) and result.replayed == replay, op
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
    def check(ops: list[Op]) -> None:
        run(engine, ops)

    check()

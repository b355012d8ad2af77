"""The demo-data generator (`billing seed-demo`) and the bulk loader it writes through."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from decimal import Decimal
from enum import Enum
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, Table, func, select

from billing.checks import check_ledger
from billing.db import make_engine, read_session, write_session
from billing.errors import Conflict, PermissionDenied, ValidationError
from billing.invoice_math import line_amounts
from billing.models import (
    ActivityKind,
    Adjustment,
    AdjustmentKind,
    Allocation,
    AuditEntry,
    CollectionActivity,
    Customer,
    Dispute,
    DisputeResolution,
    Invoice,
    InvoiceStatus,
    Payment,
    User,
)
from billing.roles import Actor, Role
from billing.services import (
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    add_user,
    create_customer,
    create_invoice,
    post_payment,
    verify_password,
)
from billing.services.bulk import (
    LEDGER_MODELS,
    DemoLedger,
    assign_demo_owners,
    check_demo_ledger,
    load_demo_ledger,
)
from sample_data.generator import (
    DEMO_USERS,
    SEED_ACTOR,
    Behaviour,
    build_demo_ledger,
    customer_behaviours,
    demo_owners,
    seed_demo,
)
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER, sqlite_url

TODAY = dt.date(2026, 6, 30)
INVOICES = 2_000


def _plain(value: object) -> object:
    """One text form per value on every backend (SQLite returns naive UTC timestamps)."""
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return aware.astimezone(dt.UTC).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def content_hash(engine: Engine) -> str:
    """A digest of every ledger row, ordered by id."""
    digest = hashlib.sha256()
    with read_session(engine) as session:
        for model in LEDGER_MODELS:
            table = model.__table__
            assert isinstance(table, Table)
            for row in session.execute(select(table).order_by(table.c.id)):
                digest.update(repr(tuple(_plain(v) for v in row)).encode())
    return digest.hexdigest()


def fresh_sqlite(path: Path) -> Engine:
    path.mkdir()
    return make_engine(sqlite_url(path))


def by_behaviour() -> dict[Behaviour, set[str]]:
    out: dict[Behaviour, set[str]] = defaultdict(set)
    for code, behaviour in customer_behaviours().items():
        out[behaviour].add(code)
    return out


def test_seed_demo_fills_a_sound_and_varied_ledger(engine: Engine) -> None:
    summary = seed_demo(engine, invoices=INVOICES, seed=7, today=TODAY)

    assert summary.invoices == INVOICES
    assert summary.customers == 50
    assert summary.users == 4
    assert summary.last_date == TODAY
    assert TODAY - summary.first_date >= dt.timedelta(days=2 * 365)
    assert "2,000 invoices" in str(summary)
    groups = by_behaviour()
    with read_session(engine) as s:
        assert check_ledger(s) == []

        codes = dict(s.execute(select(Customer.id, Customer.customer_code)).all())
        currencies = set(s.scalars(select(Customer.currency)))
        assert currencies == {"USD", "EUR", "JPY"}
        assert set(s.scalars(select(Customer.payment_terms_days))) == {14, 30, 45, 60}
        assert all(limit > 0 for limit in s.scalars(select(Customer.credit_limit_minor)))

        invoices = s.execute(
            select(
                Invoice.id,
                Invoice.invoice_number,
                Invoice.customer_id,
                Invoice.issue_date,
                Invoice.due_date,
                Invoice.total_minor,
                Invoice.settled_minor,
                Invoice.status,
            ).order_by(Invoice.invoice_number)
        ).all()
        assert [i.invoice_number for i in invoices[:2]] == ["INV-000001", "INV-000002"]
        issue_dates = [i.issue_date for i in invoices]
        assert issue_dates == sorted(issue_dates)  # numbered in issue-date order
        assert max(issue_dates) <= TODAY
        statuses = defaultdict(int)
        for i in invoices:
            statuses[i.status] += 1
        assert statuses[InvoiceStatus.DRAFT] >= 1
        assert statuses[InvoiceStatus.VOID] >= 1
        invoice = {i.id: i for i in invoices}

        # Days late per customer, weighted by amount (SPEC §3), from the allocations.
        weighted: dict[str, int] = defaultdict(int)
        applied: dict[str, int] = defaultdict(int)
        per_invoice: dict[int, int] = defaultdict(int)
        for invoice_id, amount, when in s.execute(
            select(Allocation.invoice_id, Allocation.amount_minor, Allocation.applied_date)
        ):
            row = invoice[invoice_id]
            code = codes[row.customer_id]
            weighted[code] += amount * (when - row.due_date).days
            applied[code] += amount
            per_invoice[invoice_id] += 1
            assert when <= TODAY
        days_late = {code: weighted[code] / applied[code] for code in applied}
        assert all(days_late[c] <= 0 for c in groups[Behaviour.PROMPT])
        assert all(days_late[c] >= 30 for c in groups[Behaviour.CHRONIC_LATE])
        assert all(0 < days_late[c] < 15 for c in groups[Behaviour.TYPICAL] if c in days_late)
        split = [i for i, n in per_invoice.items() if n >= 2]
        assert split, "an invoice paid in instalments"
        assert {codes[invoice[i].customer_id] for i in split} <= groups[Behaviour.PARTIAL]

        unapplied = dict(
            s.execute(
                select(
                    Payment.customer_id, func.sum(Payment.amount_minor - Payment.allocated_minor)
                ).group_by(Payment.customer_id)
            ).all()
        )
        overpaid = {codes[c] for c, amount in unapplied.items() if amount > 0}
        assert overpaid == groups[Behaviour.OVERPAYER]

        adjustments = s.execute(
            select(Adjustment.invoice_id, Adjustment.kind, Adjustment.amount_minor)
        ).all()
        kinds = defaultdict(set)
        for invoice_id, kind, _ in adjustments:
            kinds[kind].add(codes[invoice[invoice_id].customer_id])
        assert groups[Behaviour.DISPUTER] <= kinds[AdjustmentKind.CREDIT_NOTE]
        assert kinds[AdjustmentKind.WRITE_OFF] & groups[Behaviour.STOPPED]

        def open_invoices(group: Behaviour, *, days_overdue: int) -> list[int]:
            return [
                i.id
                for i in invoices
                if codes[i.customer_id] in groups[group]
                and i.status is InvoiceStatus.POSTED
                and i.settled_minor < i.total_minor
                and (TODAY - i.due_date).days >= days_overdue
            ]

        assert open_invoices(Behaviour.DISPUTER, days_overdue=90), "long-unpaid disputes"
        assert open_invoices(Behaviour.STOPPED, days_overdue=-60), "recent invoices left open"
        assert not open_invoices(Behaviour.PROMPT, days_overdue=1)

        activity_kinds = set(s.scalars(select(CollectionActivity.kind)))
        assert {ActivityKind.NOTE, ActivityKind.CALL, ActivityKind.PROMISE} <= activity_kinds
        promises = s.execute(
            select(CollectionActivity.promise_date, CollectionActivity.promise_amount_minor).where(
                CollectionActivity.kind == ActivityKind.PROMISE
            )
        ).all()
        assert all(d is not None and a > 0 for d, a in promises)

        audit = s.execute(select(AuditEntry.action, AuditEntry.actor)).all()
        assert ("load_demo_data", SEED_ACTOR.name) in audit

        users = {u.username: u for u in s.scalars(select(User))}
    assert set(users) == {name for name, _, _ in DEMO_USERS}
    for name, role, _ in DEMO_USERS:
        assert users[name].role is role
        assert verify_password(f"{name}-demo", users[name].password_hash)
        assert not verify_password("wrong", users[name].password_hash)

    # The services carry on after a bulk load (on PostgreSQL the id sequences were moved on).
    with write_session(engine) as s:
        create_customer(s, actor=CLERK, data=CustomerCreate("C900", "After Demo", "USD"))
        create_invoice(
            s,
            actor=CLERK,
            data=InvoiceCreate("INV-X1", "C900", TODAY, [LineCreate("Work", Decimal(1), 5000)]),
            post=True,
        )
        post_payment(s, actor=CLERK, data=PaymentCreate("C900", "R1", TODAY, 5000))
    with read_session(engine) as s:
        assert check_ledger(s) == []


def test_seed_demo_is_deterministic(engine: Engine, tmp_path: Path) -> None:
    seed_demo(engine, invoices=INVOICES, seed=7, today=TODAY)
    again = fresh_sqlite(tmp_path / "again")
    other = fresh_sqlite(tmp_path / "other")
    seed_demo(again, invoices=INVOICES, seed=7, today=TODAY)
    seed_demo(other, invoices=INVOICES, seed=8, today=TODAY)

    first = content_hash(engine)
    assert first == content_hash(again)  # same rows on SQLite and PostgreSQL alike
    assert first != content_hash(other)
    again.dispose()
    other.dispose()


def test_seed_demo_opens_and_closes_disputes_as_the_story_goes(engine: Engine) -> None:
    """At the default size: one dispute per dispute activity, closed by credit or payment."""
    summary = seed_demo(engine, invoices=3000, seed=42, today=TODAY)
    with read_session(engine) as s:
        assert check_ledger(s) == []
        disputes = list(s.scalars(select(Dispute).order_by(Dispute.id)))
        activities = s.execute(
            select(CollectionActivity.invoice_id, CollectionActivity.activity_date).where(
                CollectionActivity.kind == ActivityKind.DISPUTE
            )
        ).all()
        invoices = {i.id: i for i in s.scalars(select(Invoice))}
        credits = {a.id: a for a in s.scalars(select(Adjustment))}
        payments_of: dict[int, list[tuple[dt.date, int]]] = defaultdict(list)
        for invoice_id, day, amount in s.execute(
            select(Allocation.invoice_id, Allocation.applied_date, Allocation.amount_minor)
        ):
            payments_of[invoice_id].append((day, amount))

    assert summary.disputes == len(disputes) > 0
    assert f"{len(disputes):,} disputes" in str(summary)
    # One dispute per dispute activity, on that activity's invoice and date.
    assert sorted((d.invoice_id, d.opened_date) for d in disputes) == sorted(activities)
    assert len({d.invoice_id for d in disputes}) == len(disputes)  # so at most one open each
    disputer = {c for c, b in customer_behaviours().items() if b is Behaviour.DISPUTER}
    dispute_credits = {
        a.invoice_id for a in credits.values() if a.reason == "Credit for disputed quantities"
    }
    credited: set[int] = set()
    for d in disputes:
        invoice = invoices[d.invoice_id]
        assert d.customer_id == invoice.customer_id
        assert invoice.status is InvoiceStatus.POSTED
        assert d.opened_by == SEED_ACTOR.name
        assert d.reason
        if d.closed_date is None:
            assert (d.resolution, d.resolution_note, d.adjustment_id, d.closed_by) == (None,) * 4
            # Still open: no credit note yet and not paid in full by TODAY.
            assert invoice.settled_minor < invoice.total_minor
            assert d.invoice_id not in dispute_credits
            continue
        assert d.resolution is not None
        assert d.resolution_note
        assert d.closed_by == SEED_ACTOR.name
        assert d.opened_date <= d.closed_date <= TODAY
        if d.resolution is DisputeResolution.CREDIT_NOTE:
            assert d.adjustment_id is not None
            credit = credits[d.adjustment_id]
            assert credit.invoice_id == d.invoice_id
            assert credit.kind is AdjustmentKind.CREDIT_NOTE
            assert credit.date == d.closed_date
            assert credit.reason == "Credit for disputed quantities"
            credited.add(d.invoice_id)
        else:
            # Closed with the invoice standing: paid in full, the last payment on closed_date.
            assert d.adjustment_id is None
            paid = payments_of[d.invoice_id]
            assert sum(amount for _, amount in paid) == invoice.total_minor
            assert max(day for day, _ in paid) == d.closed_date
    # Every dispute credit note on or before TODAY closed its dispute.
    assert dispute_credits == credited
    assert {f"C{d.customer_id:03d}" for d in disputes} == disputer  # ids follow C001…C050
    resolutions = Counter(d.resolution for d in disputes)
    assert resolutions[None] > 0
    assert resolutions[DisputeResolution.CREDIT_NOTE] > 0
    assert resolutions[DisputeResolution.CLOSED] > 0
    assert len({d.reason for d in disputes}) > 1


def test_seed_demo_hands_customers_to_the_demo_clerk_and_manager(engine: Engine) -> None:
    seed_demo(engine, invoices=100, seed=1, today=TODAY)
    with read_session(engine) as s:
        owners = dict(s.execute(select(Customer.id, Customer.owner)).all())
        audit = s.execute(
            select(AuditEntry.actor, AuditEntry.after).where(
                AuditEntry.action == "assign_demo_owners"
            )
        ).all()
    # Every 8th of the 50 customers owns nobody: ids 8, 16, 24, 32, 40, 48 (50 // 8 = 6).
    assert sorted(i for i, owner in owners.items() if owner is None) == [8, 16, 24, 32, 40, 48]
    # The others alternate by id: odd ids to the manager, even ids to the clerk.
    assert owners[1] == owners[3] == "manager"
    assert owners[2] == owners[4] == "clerk"
    counts = Counter(owners.values())
    assert counts == {"clerk": 25 - 6, "manager": 25, None: 6}
    assert len(audit) == 1
    assert audit[0].actor == SEED_ACTOR.name
    assert '"clerk": 19' in audit[0].after


def test_assign_demo_owners_checks_role_and_owners(sqlite_engine: Engine) -> None:
    rows = build_demo_ledger(invoices=50, seed=1, today=TODAY)
    with write_session(sqlite_engine) as s:
        load_demo_ledger(s, actor=ADMIN, rows=rows)
        add_user(s, actor=ADMIN, username="casey", role=Role.CLERK, password="casey-password")
        add_user(s, actor=ADMIN, username="frankie", role=Role.FINANCE, password="frankie-pass")
    for actor in (CLERK, MANAGER, FINANCE):
        with pytest.raises(PermissionDenied), write_session(sqlite_engine) as s:
            assign_demo_owners(s, actor=actor, owners={1: "casey"})
    with pytest.raises(ValidationError) as error, write_session(sqlite_engine) as s:
        assign_demo_owners(s, actor=ADMIN, owners={1: "frankie", 2: "nobody", 99: "casey"})
    assert {(p.field, p.value) for p in error.value.problems} == {
        ("owner", "frankie"),  # finance may not chase
        ("owner", "nobody"),
        ("customer_id", 99),
    }
    with write_session(sqlite_engine) as s:
        assert assign_demo_owners(s, actor=ADMIN, owners={1: "casey", 3: "casey"}) == 2
    with read_session(sqlite_engine) as s:
        owned = dict(s.execute(select(Customer.id, Customer.owner).where(Customer.id <= 3)).all())
    assert owned == {1: "casey", 2: None, 3: "casey"}


def test_demo_owners_alternate_between_the_chasing_users() -> None:
    owners = demo_owners()
    assert owners[1] == "manager"
    assert owners[2] == "clerk"
    assert 8 not in owners
    assert set(owners.values()) == {"clerk", "manager"}
    assert len(owners) == 50 - 50 // 8


def test_lines_follow_invoice_math_and_sum_to_totals() -> None:
    rows = build_demo_ledger(invoices=500, seed=3, today=TODAY)
    lines = rows.invoice_lines
    for quantity, price, rate, net, tax in lines.select(
        "quantity", "unit_price_minor", "tax_rate", "net_minor", "tax_minor"
    ).iter_rows():
        expected = line_amounts(Decimal(quantity), price, Decimal(rate))
        assert (net, tax) == (expected.net_minor, expected.tax_minor)
    assert {"0", "8.25", "19", "22", "10"} <= set(lines.get_column("tax_rate"))
    assert any("." in q for q in lines.get_column("quantity"))  # fractional hours
    jpy = rows.customers.filter(pl.col("currency") == "JPY").get_column("id")[0]
    jpy_totals = rows.invoices.filter(pl.col("customer_id") == jpy).get_column("total_minor")
    assert jpy_totals.min() >= 1_000  # yen amounts, 0 decimal digits, priced like the rest
    assert check_demo_ledger(rows) == []


def test_build_is_reproducible_in_memory() -> None:
    a = build_demo_ledger(invoices=300, seed=11, today=TODAY)
    b = build_demo_ledger(invoices=300, seed=11, today=TODAY)
    for (table, left), (_, right) in zip(a.frames(), b.frames(), strict=True):
        assert left.equals(right), table.name
    assert not a.payments.equals(build_demo_ledger(invoices=300, seed=12, today=TODAY).payments)


def test_disputes_are_reproducible_and_follow_the_seed() -> None:
    a = build_demo_ledger(invoices=3000, seed=42, today=TODAY).disputes
    b = build_demo_ledger(invoices=3000, seed=42, today=TODAY).disputes
    assert a.height > 0
    assert a.equals(b)
    assert not a.equals(build_demo_ledger(invoices=3000, seed=43, today=TODAY).disputes)
    assert a.filter((pl.col("opened_date") > TODAY) | (pl.col("closed_date") > TODAY)).is_empty()


@pytest.mark.parametrize("role", [Role.CLERK, Role.MANAGER, Role.FINANCE])
def test_load_demo_ledger_is_for_admins_only(sqlite_engine: Engine, role: Role) -> None:
    rows = build_demo_ledger(invoices=50, seed=1, today=TODAY)
    with pytest.raises(PermissionDenied), write_session(sqlite_engine) as s:
        load_demo_ledger(s, actor=Actor("someone", role), rows=rows)
    with read_session(sqlite_engine) as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 0


def test_seed_demo_refuses_a_ledger_with_data(ledger: Engine) -> None:
    with pytest.raises(Conflict, match="empty database"):
        seed_demo(ledger, invoices=50, seed=1, today=TODAY)
    rows = build_demo_ledger(invoices=50, seed=1, today=TODAY)
    with pytest.raises(Conflict, match="1 customer, 1 invoice"), write_session(ledger) as s:
        load_demo_ledger(s, actor=ADMIN, rows=rows)
    with read_session(ledger) as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 1


def test_seed_demo_leaves_existing_users_alone(sqlite_engine: Engine) -> None:
    with write_session(sqlite_engine) as s:
        add_user(s, actor=ADMIN, username="boss", role=Role.ADMIN, password="boss-password")
    summary = seed_demo(sqlite_engine, invoices=100, seed=1, today=TODAY)
    assert summary.users == 0
    with read_session(sqlite_engine) as s:
        assert list(s.scalars(select(User.username))) == ["boss"]
        assert check_ledger(s) == []
        # No demo clerk or manager to hand customers to: nobody owns any.
        assert set(s.scalars(select(Customer.owner))) == {None}


def _tampered(rows: DemoLedger, table: str, change: pl.Expr) -> DemoLedger:
    frames = {t.name: f for t, f in rows.frames()}
    frames[table] = frames[table].with_columns(change)
    return DemoLedger(**frames, seed=rows.seed, today=rows.today)


@pytest.mark.parametrize(
    ("table", "change", "field"),
    [
        (
            "invoices",
            (pl.col("settled_minor") + (pl.col("id") == 5).cast(pl.Int64)).alias("settled_minor"),
            "invoices.settled_minor",
        ),
        ("invoices", (pl.col("total_minor") + 1).alias("total_minor"), "invoices.total_minor"),
        (
            "allocations",
            (pl.col("applied_date") - dt.timedelta(days=400)),
            "allocations.applied_date",
        ),
        ("payments", pl.lit("EUR").alias("currency"), "payments.currency"),
        ("allocations", pl.col("id").reverse().alias("id"), "allocations.id"),
        # Seed 5 with 200 invoices has 5 disputes: 2 open, 2 closed by payment, 1 by credit.
        (
            "disputes",
            (pl.col("opened_date") - dt.timedelta(days=1)).alias("closed_date"),
            "disputes.closed_date",
        ),
        ("disputes", pl.lit(1, pl.Int64).alias("invoice_id"), "disputes.invoice_id"),
        ("disputes", pl.lit("credit_note").alias("resolution"), "disputes.adjustment_id"),
        ("disputes", pl.lit(None, pl.Int64).alias("adjustment_id"), "disputes.adjustment_id"),
        ("disputes", pl.lit("settled").alias("resolution"), "disputes.resolution"),
    ],
)
def test_load_demo_ledger_refuses_rows_that_break_the_ledger_rules(
    sqlite_engine: Engine, table: str, change: pl.Expr, field: str
) -> None:
    rows = _tampered(build_demo_ledger(invoices=200, seed=5, today=TODAY), table, change)
    with pytest.raises(ValidationError) as error, write_session(sqlite_engine) as s:
        load_demo_ledger(s, actor=ADMIN, rows=rows)
    assert field in {p.field for p in error.value.problems}
    with read_session(sqlite_engine) as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 0


def test_load_demo_ledger_refuses_a_second_open_dispute_on_an_invoice(
    sqlite_engine: Engine,
) -> None:
    rows = build_demo_ledger(invoices=200, seed=5, today=TODAY)
    first_open = rows.disputes.filter(pl.col("closed_date").is_null()).head(1)
    again = first_open.with_columns(pl.lit(rows.disputes.height + 1, pl.Int64).alias("id"))
    frames = {t.name: f for t, f in rows.frames()}
    frames["disputes"] = pl.concat([rows.disputes, again])
    tampered = DemoLedger(**frames, seed=rows.seed, today=rows.today)
    with pytest.raises(ValidationError) as error, write_session(sqlite_engine) as s:
        load_demo_ledger(s, actor=ADMIN, rows=tampered)
    assert [(p.field, p.value) for p in error.value.problems] == [
        ("disputes.invoice_id", first_open.item(0, "id"))
    ]
    assert "more than one open dispute" in error.value.problems[0].message


def test_seed_demo_needs_a_positive_invoice_count(sqlite_engine: Engine) -> None:
    with pytest.raises(ValidationError, match="invoices"):
        seed_demo(sqlite_engine, invoices=0, today=TODAY)

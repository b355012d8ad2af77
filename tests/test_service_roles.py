"""Every service × every role, with no UI involved: SPEC §1 is enforced where the writes are.

The table is written out from SPEC §1 independently of `billing.roles`. An
allowed call must succeed (so each case is set up to be valid); a refused one
must raise `PermissionDenied` and write nothing. `test_every_public_service_is_in_the_table`
fails when a write service is added to `billing.services` without a row here.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import billing.services
from billing.csv_import import import_csv
from billing.db import write_session
from billing.errors import PermissionDenied
from billing.models import ActivityKind, AdjustmentKind
from billing.roles import Actor, Role
from billing.services import (
    ActivityCreate,
    AdjustmentCreate,
    CustomerCreate,
    CustomerUpdate,
    DisputeOpen,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    SettingsUpdate,
    add_activity,
    add_user,
    adjust_invoice,
    allocate_payment,
    assign_owner,
    close_dispute,
    create_customer,
    create_invoice,
    open_dispute,
    post_invoice,
    post_payment,
    record_letter_sent,
    reset_password,
    resolve_dispute_with_credit_note,
    set_lock_date,
    set_user_active,
    set_user_role,
    update_customer,
    update_settings,
    void_invoice,
)
from billing.services.bulk import DemoLedger, load_demo_ledger
from sample_data.generator import build_demo_ledger
from tests.conftest import ADMIN
from tests.helpers import invoice, pay
from tests.test_csv_import import state

D = dt.date(2026, 2, 1)
ALL = frozenset(Role) - {Role.FINANCE}  # SPEC §1: finance is read-only, no writes at all
MANAGERS = frozenset({Role.MANAGER, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Ctx:
    """What a case may use: the prepared ledger, who calls, and a folder for files."""

    engine: Engine
    actor: Actor
    tmp_path: Path


@dataclass(frozen=True)
class Case:
    """One row of the table: the service it exercises, how to call it, and who may."""

    service: Callable[..., object]
    call: Callable[[Ctx], object]
    allowed: frozenset[Role]
    empty_ledger: bool = False  # the demo loader fills only an empty database


def in_session(write: Callable[[Session, Actor], object]) -> Callable[[Ctx], object]:
    """A session-taking service call, run as one transaction like every page and CLI write."""

    def call(ctx: Ctx) -> object:
        with write_session(ctx.engine) as session:
            return write(session, ctx.actor)

    return call


def importing(kind: str, text: str) -> Callable[[Ctx], object]:
    """A CSV import through the entry point the CLI and the Import page use."""

    def call(ctx: Ctx) -> object:
        path = ctx.tmp_path / f"{kind}.csv"
        path.write_text(text, encoding="utf-8")
        return import_csv(ctx.engine, actor=ctx.actor, kind=kind, path=path)

    return call


@cache
def small_demo_ledger() -> DemoLedger:
    return build_demo_ledger(invoices=12, seed=7, today=dt.date(2026, 3, 31))


def demo_load(ctx: Ctx) -> object:
    with write_session(ctx.engine) as session:
        load_demo_ledger(session, actor=ctx.actor, rows=small_demo_ledger())
    return None


CASES: dict[str, Case] = {
    "create customer": Case(
        create_customer,
        in_session(lambda s, a: create_customer(s, actor=a, data=CustomerCreate("C9", "N", "USD"))),
        ALL,
    ),
    "edit customer name": Case(
        update_customer,
        in_session(
            lambda s, a: update_customer(
                s, actor=a, customer_code="C001", changes=CustomerUpdate(name="Acme 2")
            )
        ),
        ALL,
    ),
    "edit customer terms": Case(
        update_customer,
        in_session(
            lambda s, a: update_customer(
                s, actor=a, customer_code="C001", changes=CustomerUpdate(payment_terms_days=45)
            )
        ),
        MANAGERS,
    ),
    "edit customer credit limit": Case(
        update_customer,
        in_session(
            lambda s, a: update_customer(
                s, actor=a, customer_code="C001", changes=CustomerUpdate(credit_limit_minor=5000)
            )
        ),
        MANAGERS,
    ),
    "assign the customer's owner": Case(
        assign_owner,
        in_session(lambda s, a: assign_owner(s, actor=a, customer_code="C001", owner="target")),
        MANAGERS,
    ),
    "enter draft invoice": Case(
        create_invoice,
        in_session(
            lambda s, a: create_invoice(
                s,
                actor=a,
                data=InvoiceCreate("INV-9", "C001", D, [LineCreate("x", Decimal(1), 100)]),
            )
        ),
        ALL,
    ),
    "enter and post invoice": Case(
        create_invoice,
        in_session(
            lambda s, a: create_invoice(
                s,
                actor=a,
                data=InvoiceCreate("INV-8", "C001", D, [LineCreate("x", Decimal(1), 100)]),
                post=True,
            )
        ),
        ALL,
    ),
    "post invoice": Case(
        post_invoice,
        in_session(lambda s, a: post_invoice(s, actor=a, invoice_number="DRAFT-1")),
        ALL,
    ),
    "void invoice": Case(
        void_invoice,
        in_session(lambda s, a: void_invoice(s, actor=a, invoice_number="INV-2", reason="dup")),
        MANAGERS,
    ),
    "post payment, oldest first": Case(
        post_payment,
        in_session(lambda s, a: post_payment(s, actor=a, data=PaymentCreate("C001", "P9", D, 100))),
        ALL,
    ),
    "post payment to one invoice": Case(
        post_payment,
        in_session(
            lambda s, a: post_payment(
                s, actor=a, data=PaymentCreate("C001", "P8", D, 100, invoice_number="INV-2")
            )
        ),
        ALL,
    ),
    "post payment with explicit allocations": Case(
        post_payment,
        in_session(
            lambda s, a: post_payment(
                s,
                actor=a,
                data=PaymentCreate("C001", "P7", D, 300, allocations=(("INV-1", 100),)),
            )
        ),
        ALL,
    ),
    "allocate payment to an invoice": Case(
        allocate_payment,
        in_session(lambda s, a: allocate_payment(s, actor=a, payment_id=1, invoice_number="INV-1")),
        ALL,
    ),
    "allocate payment oldest first": Case(
        allocate_payment,
        in_session(lambda s, a: allocate_payment(s, actor=a, payment_id=1)),
        ALL,
    ),
    "credit note": Case(
        adjust_invoice,
        in_session(
            lambda s, a: adjust_invoice(
                s, actor=a, data=AdjustmentCreate("INV-1", AdjustmentKind.CREDIT_NOTE, D, 100, "r")
            )
        ),
        MANAGERS,
    ),
    "write-off": Case(
        adjust_invoice,
        in_session(
            lambda s, a: adjust_invoice(
                s, actor=a, data=AdjustmentCreate("INV-1", AdjustmentKind.WRITE_OFF, D, 100, "r")
            )
        ),
        MANAGERS,
    ),
    "collection note": Case(
        add_activity,
        in_session(
            lambda s, a: add_activity(
                s, actor=a, data=ActivityCreate("C001", ActivityKind.NOTE, D, "called")
            )
        ),
        ALL,
    ),
    "promise to pay": Case(
        add_activity,
        in_session(
            lambda s, a: add_activity(
                s,
                actor=a,
                data=ActivityCreate(
                    "C001",
                    ActivityKind.PROMISE,
                    D,
                    "will pay",
                    invoice_number="INV-1",
                    promise_date=dt.date(2026, 2, 10),
                    promise_amount_minor=5000,
                ),
            )
        ),
        ALL,
    ),
    "open dispute": Case(
        open_dispute,
        in_session(lambda s, a: open_dispute(s, actor=a, data=DisputeOpen("INV-1", "damaged", D))),
        ALL,
    ),
    # The dispute is opened by an admin in the same transaction: refused, both roll back.
    "close dispute": Case(
        close_dispute,
        in_session(
            lambda s, a: (
                open_dispute(s, actor=ADMIN, data=DisputeOpen("INV-1", "damaged", D)),
                close_dispute(s, actor=a, invoice_number="INV-1", closed_date=D, note="ok"),
            )
        ),
        MANAGERS,
    ),
    "resolve dispute with a credit note": Case(
        resolve_dispute_with_credit_note,
        in_session(
            lambda s, a: (
                open_dispute(s, actor=ADMIN, data=DisputeOpen("INV-1", "damaged", D)),
                resolve_dispute_with_credit_note(
                    s, actor=a, invoice_number="INV-1", amount_minor=100, credit_date=D, note="ok"
                ),
            )
        ),
        MANAGERS,
    ),
    "send dunning letter": Case(
        record_letter_sent,
        in_session(
            lambda s, a: record_letter_sent(
                s,
                actor=a,
                customer_code="C001",
                letter_date=dt.date(2026, 2, 16),  # INV-1 due 02-09: 7 days, the Reminder
                invoice_numbers=["INV-1"],
                body="Dear Acme Ltd",
            )
        ),
        MANAGERS,
    ),
    "add user": Case(
        add_user,
        in_session(
            lambda s, a: add_user(
                s, actor=a, username="newbie", role=Role.CLERK, password="long enough pw"
            )
        ),
        ADMINS,
    ),
    "set user role": Case(
        set_user_role,
        in_session(lambda s, a: set_user_role(s, actor=a, username="target", role=Role.MANAGER)),
        ADMINS,
    ),
    "deactivate user": Case(
        set_user_active,
        in_session(lambda s, a: set_user_active(s, actor=a, username="target", active=False)),
        ADMINS,
    ),
    "reset password": Case(
        reset_password,
        in_session(
            lambda s, a: reset_password(s, actor=a, username="target", password="a new long pw")
        ),
        ADMINS,
    ),
    "update settings": Case(
        update_settings,
        in_session(
            lambda s, a: update_settings(
                s, actor=a, data=SettingsUpdate("Office Ltd", "30,60,90", "USD")
            )
        ),
        ADMINS,
    ),
    "set lock date": Case(
        set_lock_date,
        in_session(
            lambda s, a: set_lock_date(
                s, actor=a, lock_date=dt.date(2025, 12, 31), expected_current=None
            )
        ),
        ADMINS,
    ),
    "import customers": Case(
        import_csv,
        importing("customers", "customer_code,name,currency\nC7,Imported,USD\n"),
        MANAGERS,
    ),
    "import invoices": Case(
        import_csv,
        importing(
            "invoices",
            "invoice_number,customer_code,issue_date,currency,amount\nI7,C001,2026-02-01,USD,5\n",
        ),
        MANAGERS,
    ),
    "import payments": Case(
        import_csv,
        importing(
            "payments",
            "payment_reference,customer_code,received_date,amount,currency\n"
            "R7,C001,2026-02-01,5.00,USD\n",
        ),
        MANAGERS,
    ),
    "import adjustments": Case(
        import_csv,
        importing(
            "adjustments",
            "invoice_number,date,kind,amount,reason\nINV-1,2026-02-01,credit_note,1.00,goodwill\n",
        ),
        MANAGERS,
    ),
    "load demo data": Case(load_demo_ledger, demo_load, ADMINS, empty_ledger=True),
}

# Public callables of billing.services that write nothing, so need no row in the table.
NOT_WRITES = {"hash_password", "verify_password"}


def prepare(engine: Engine) -> None:
    """On top of `ledger` (C001, posted INV-1 of 100.00): a draft, a second invoice, cash, a user."""
    invoice(engine, "DRAFT-1", "C001", dt.date(2026, 1, 5), 500, post=False)
    invoice(engine, "INV-2", "C001", dt.date(2026, 1, 5), 500)
    pay(engine, "C001", "P1", dt.date(2025, 12, 1), 300)  # received before any invoice: unapplied
    with write_session(engine) as session:
        add_user(
            session, actor=ADMIN, username="target", role=Role.CLERK, password="long enough pw"
        )


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("case", list(CASES))
def test_service_role_table(
    request: pytest.FixtureRequest, engine: Engine, tmp_path: Path, case: str, role: Role
) -> None:
    row = CASES[case]
    if not row.empty_ledger:
        engine = request.getfixturevalue("ledger")
        prepare(engine)
    ctx = Ctx(engine, Actor(f"someone-{role}", role), tmp_path)
    if role in row.allowed:
        row.call(ctx)
    else:
        before = state(engine)
        with pytest.raises(PermissionDenied):
            row.call(ctx)
        assert state(engine) == before


def test_finance_may_write_nothing() -> None:
    """SPEC §1: finance is read-only; no row of the table may let it write."""
    assert [name for name, case in CASES.items() if Role.FINANCE in case.allowed] == []


def test_every_public_service_is_in_the_table() -> None:
    """A write service exported without a row here would escape the role table."""
    exercised = {case.service for case in CASES.values()}
    missing = [
        name
        for name in billing.services.__all__
        if inspect.isfunction(getattr(billing.services, name))
        and name not in NOT_WRITES
        and getattr(billing.services, name) not in exercised
    ]
    assert missing == [], f"add a CASES row for: {', '.join(missing)}"

"""Reads behind the Customers and Admin pages: a customer's profile and notes, users, the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from billing.db import read_session, write_session
from billing.errors import NotFound
from billing.models import ActivityKind, AuditEntry
from billing.repository import (
    AuditChoices,
    CustomerProfile,
    load_activities,
    load_audit_choices,
    load_audit_log,
    load_customer,
    load_users,
)
from billing.roles import Role
from billing.services import ActivityCreate, add_activity, add_user, set_user_active
from tests.conftest import ADMIN, CLERK
from tests.helpers import customer

D = dt.date
UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def audited(engine: Engine) -> Engine:
    """Five audit rows at known UTC times (ids 1–5 in this order)."""
    rows = [
        (at(1, 23, 30), "alice", "create_customer", "customer", "C001"),
        (at(2, 0, 10), "bob", "create_invoice", "invoice", "INV-1001"),
        (at(2, 23, 59), "alice", "update_customer", "customer", "C001"),
        (at(5, 12), "bob", "post_payment", "payment", "C001/PAY_1%"),
        (at(6, 8), "carol", "create_invoice", "invoice", "inv-2001"),
    ]
    with write_session(engine) as s:
        for when, who, action, entity, key in rows:
            s.add(
                AuditEntry(
                    occurred_at=when,
                    actor=who,
                    action=action,
                    entity=entity,
                    entity_id=key,
                    before=None,
                    after='{"x": 1}',
                )
            )
    return engine


def log(engine: Engine, **filters: Any) -> pl.DataFrame:
    with read_session(engine) as s:
        return load_audit_log(s, **filters)


def test_everything_newest_first(audited: Engine) -> None:
    frame = log(audited)
    assert frame["entity_id"].to_list() == [
        "inv-2001",
        "C001/PAY_1%",
        "C001",
        "INV-1001",
        "C001",
    ]
    assert frame["occurred_at"][0] == at(6, 8)  # aware UTC on both databases
    assert frame["before"][0] is None
    assert frame["after"][0] == '{"x": 1}'
    assert frame.columns == [
        "id",
        "occurred_at",
        "actor",
        "action",
        "entity",
        "entity_id",
        "before",
        "after",
    ]


def test_date_range_is_whole_utc_days_inclusive(audited: Engine) -> None:
    # 03-02 from 00:00 to 23:59:59: the 00:10 and 23:59 rows, not 03-01 23:30.
    assert log(audited, start=D(2026, 3, 2), end=D(2026, 3, 2))["action"].to_list() == [
        "update_customer",
        "create_invoice",
    ]
    assert log(audited, start=D(2026, 3, 5)).height == 2
    assert log(audited, end=D(2026, 3, 1)).height == 1
    assert log(audited, start=D(2026, 3, 7)).is_empty()


def test_actor_entity_action_filters_combine(audited: Engine) -> None:
    assert log(audited, actor="alice").height == 2
    assert log(audited, actor="alice", action="update_customer").height == 1
    assert log(audited, entity="invoice")["actor"].to_list() == ["carol", "bob"]
    assert log(audited, entity="invoice", actor="alice").is_empty()


def test_search_matches_part_of_the_entity_id_ignoring_case(audited: Engine) -> None:
    assert log(audited, search="INV-")["entity_id"].to_list() == ["inv-2001", "INV-1001"]
    assert log(audited, search="  c001 ").height == 3
    # LIKE wildcards in the search are plain characters.
    assert log(audited, search="_1%")["entity_id"].to_list() == ["C001/PAY_1%"]
    assert log(audited, search="%").height == 1
    assert log(audited, search="   ").height == 5  # blank: no filter


def test_limit_keeps_the_newest(audited: Engine) -> None:
    assert log(audited, limit=2)["entity_id"].to_list() == ["inv-2001", "C001/PAY_1%"]


def test_audit_choices(audited: Engine) -> None:
    with read_session(audited) as s:
        choices = load_audit_choices(s)
    assert choices == AuditChoices(
        actors=("alice", "bob", "carol"),
        entities=("customer", "invoice", "payment"),
        actions=("create_customer", "create_invoice", "post_payment", "update_customer"),
    )


def test_empty_audit_log(engine: Engine) -> None:
    assert log(engine).is_empty()
    with read_session(engine) as s:
        assert load_audit_choices(s) == AuditChoices((), (), ())


def test_users_active_and_inactive_without_hashes(engine: Engine) -> None:
    with write_session(engine) as s:
        add_user(s, actor=ADMIN, username="zoe", role=Role.CLERK, password="long enough")
        add_user(
            s,
            actor=ADMIN,
            username="adam",
            role=Role.ADMIN,
            password="long enough",
            name="Adam Admin",
            email="adam@office.test",
        )
    with write_session(engine) as s:
        set_user_active(s, actor=ADMIN, username="zoe", active=False)
    with read_session(engine) as s:
        users = load_users(s)
    assert users.drop("created_at").rows() == [
        ("adam", "Adam Admin", "adam@office.test", "admin", True),
        ("zoe", "zoe", None, "clerk", False),
    ]
    assert users.schema["created_at"] == pl.Datetime("us", "UTC")
    assert users["created_at"].null_count() == 0
    assert "password_hash" not in users.columns


def test_customer_profile(ledger: Engine) -> None:
    with read_session(ledger) as s:
        assert load_customer(s, "C001") == CustomerProfile(
            "C001", "Acme Ltd", "ap@acme.test", "USD", 30, 0
        )
        with pytest.raises(NotFound, match="'C999'"):
            load_customer(s, "C999")


def test_activities_newest_first_for_one_customer(ledger: Engine) -> None:
    customer(ledger, "C002")
    notes = [
        ActivityCreate("C001", ActivityKind.NOTE, D(2026, 2, 1), "first"),
        ActivityCreate("C001", ActivityKind.CALL, D(2026, 2, 3), "about INV-1", "INV-1"),
        ActivityCreate("C002", ActivityKind.EMAIL, D(2026, 2, 4), "other customer"),
        ActivityCreate(
            "C001",
            ActivityKind.PROMISE,
            D(2026, 2, 3),
            "will pay",
            promise_date=D(2026, 2, 20),
            promise_amount_minor=5000,
        ),
    ]
    with write_session(ledger) as s:
        for note in notes:
            add_activity(s, actor=CLERK, data=note)
    with read_session(ledger) as s:
        frame = load_activities(s, customer_code="C001")
        with pytest.raises(NotFound):
            load_activities(s, customer_code="C999")
    # Same day: the later entry first.
    assert frame.select("activity_date", "kind", "body", "invoice_number").rows() == [
        (D(2026, 2, 3), "promise", "will pay", None),
        (D(2026, 2, 3), "call", "about INV-1", "INV-1"),
        (D(2026, 2, 1), "note", "first", None),
    ]
    assert frame["promise_amount_minor"].to_list() == [5000, None, None]
    assert frame["created_by"].unique().to_list() == ["test-clerk"]

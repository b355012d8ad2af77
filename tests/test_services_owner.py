"""Who chases a customer: `assign_owner` names an active user who may chase, or nobody."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import PermissionDenied, ValidationError
from billing.models import AuditEntry, Customer
from billing.roles import Role
from billing.services import add_user, assign_owner, set_user_active
from tests.conftest import ADMIN, CLERK, MANAGER


@pytest.fixture
def office(ledger: Engine) -> Engine:
    """`ledger` (customer C001) with a clerk, a finance user and a deactivated clerk."""
    with write_session(ledger) as session:
        for username, role in (("ann", Role.CLERK), ("fay", Role.FINANCE), ("old", Role.CLERK)):
            add_user(session, actor=ADMIN, username=username, role=role, password="long enough pw")
        set_user_active(session, actor=ADMIN, username="old", active=False)
    return ledger


def owner_of(engine: Engine, code: str = "C001") -> str | None:
    with read_session(engine) as session:
        return session.scalar(select(Customer.owner).where(Customer.customer_code == code))


def test_a_manager_assigns_and_clears_the_owner_with_an_audit_row(office: Engine) -> None:
    with write_session(office) as session:
        assign_owner(session, actor=MANAGER, customer_code="C001", owner=" ann ")
    assert owner_of(office) == "ann"
    with write_session(office) as session:
        assign_owner(session, actor=MANAGER, customer_code="C001", owner=None)
    assert owner_of(office) is None
    with read_session(office) as session:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "assign_owner").order_by(AuditEntry.id)
        ).all()
    assert [json.loads(r.after or "{}")["owner"] for r in rows] == ["ann", None]
    assert [r.actor for r in rows] == [MANAGER.name, MANAGER.name]


@pytest.mark.parametrize(
    ("owner", "message"),
    [
        ("nobody-here", "owner 'nobody-here': is not a user of this office"),
        ("old", "owner 'old': is deactivated; pick an active user"),
        ("fay", "owner 'fay': is finance, a read-only role; pick someone who chases"),
    ],
)
def test_the_owner_must_be_an_active_user_who_chases(
    office: Engine, owner: str, message: str
) -> None:
    with pytest.raises(ValidationError) as refused, write_session(office) as session:
        assign_owner(session, actor=MANAGER, customer_code="C001", owner=owner)
    assert str(refused.value) == message
    assert owner_of(office) is None


def test_a_clerk_may_not_assign_owners(office: Engine) -> None:
    with pytest.raises(PermissionDenied), write_session(office) as session:
        assign_owner(session, actor=CLERK, customer_code="C001", owner="ann")
    assert owner_of(office) is None

"""Users: hashed passwords in the form the login widget checks, and logins it can match."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import Conflict, NotFound, PermissionDenied, ValidationError
from billing.models import AuditEntry, User
from billing.repository import load_login_users
from billing.roles import Actor, Role
from billing.services import (
    add_user,
    reset_password,
    set_user_active,
    set_user_role,
    verify_password,
)
from billing.validation import normalise_username
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER


def test_password_is_stored_as_bcrypt(engine: Engine) -> None:
    with write_session(engine) as s:
        add_user(s, actor=ADMIN, username="Alice", role=Role.CLERK, password="correct horse")
    with read_session(engine) as s:
        user = s.scalars(select(User)).one()
    assert user.username == "alice"  # the login widget lower-cases what is typed
    assert user.password_hash.startswith("$2b$")
    assert verify_password("correct horse", user.password_hash)
    assert not verify_password("wrong horse", user.password_hash)


def test_usernames_differing_in_case_clash(engine: Engine) -> None:
    with write_session(engine) as s:
        add_user(s, actor=ADMIN, username="alice", role=Role.CLERK, password="correct horse")
    with pytest.raises(Conflict, match="'alice' already exists"), write_session(engine) as s:
        add_user(s, actor=ADMIN, username="ALICE", role=Role.CLERK, password="correct horse")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", "at least 8"),
        (" padded pass", "begin or end with a space"),
        ("x" * 73, "72 bytes"),
    ],
)
def test_unusable_passwords_refused(engine: Engine, password: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message), write_session(engine) as s:
        add_user(s, actor=ADMIN, username="bob", role=Role.CLERK, password=password)


# --- Role changes, deactivation and password resets (admin only) ----------------------


@pytest.fixture
def staff(engine: Engine) -> Engine:
    """Two admins (boss, deputy) and a clerk (carol); the test acts as admin `boss`."""
    with write_session(engine) as s:
        for username, role in [("boss", Role.ADMIN), ("deputy", Role.ADMIN), ("carol", Role.CLERK)]:
            add_user(s, actor=ADMIN, username=username, role=role, password="long enough")
    return engine


BOSS = Actor("boss", Role.ADMIN)


def stored(engine: Engine, username: str) -> User:
    with read_session(engine) as s:
        return s.scalars(select(User).where(User.username == username)).one()


def audit_rows(engine: Engine, action: str) -> list[AuditEntry]:
    with read_session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_set_role_changes_it_and_audits(staff: Engine) -> None:
    with write_session(staff) as s:
        set_user_role(s, actor=BOSS, username="Carol", role="manager")
    assert stored(staff, "carol").role is Role.MANAGER
    (entry,) = audit_rows(staff, "set_user_role")
    assert (entry.actor, entry.entity, entry.entity_id) == ("boss", "user", "carol")
    assert json.loads(entry.before or "")["role"] == "clerk"
    assert json.loads(entry.after or "")["role"] == "manager"
    assert "password_hash" not in (entry.after or "")


def test_setting_the_same_role_writes_nothing(staff: Engine) -> None:
    with write_session(staff) as s:
        set_user_role(s, actor=BOSS, username="carol", role=Role.CLERK)
    assert audit_rows(staff, "set_user_role") == []


def test_unknown_role_and_user_are_refused(staff: Engine) -> None:
    with (
        pytest.raises(ValidationError, match="role 'owner': must be one of"),
        write_session(staff) as s,
    ):
        set_user_role(s, actor=BOSS, username="carol", role="owner")
    with pytest.raises(NotFound, match="no user 'zed'"), write_session(staff) as s:
        set_user_active(s, actor=BOSS, username="zed", active=False)


@pytest.mark.parametrize("actor", [CLERK, MANAGER, FINANCE])
def test_only_admins_manage_users(staff: Engine, actor: Actor) -> None:
    with pytest.raises(PermissionDenied), write_session(staff) as s:
        set_user_role(s, actor=actor, username="carol", role=Role.ADMIN)
    with pytest.raises(PermissionDenied), write_session(staff) as s:
        set_user_active(s, actor=actor, username="carol", active=False)
    with pytest.raises(PermissionDenied), write_session(staff) as s:
        reset_password(s, actor=actor, username="carol", password="new password")
    assert stored(staff, "carol").role is Role.CLERK
    assert stored(staff, "carol").active


def test_an_admin_cannot_demote_or_deactivate_themself(staff: Engine) -> None:
    with pytest.raises(Conflict, match="from yourself"), write_session(staff) as s:
        set_user_role(s, actor=BOSS, username="boss", role=Role.CLERK)
    with pytest.raises(Conflict, match="deactivate yourself"), write_session(staff) as s:
        set_user_active(s, actor=BOSS, username="boss", active=False)
    assert stored(staff, "boss").role is Role.ADMIN
    assert stored(staff, "boss").active


def test_one_rule_normalises_a_login_wherever_it_is_compared(staff: Engine) -> None:
    assert normalise_username("  Boss ") == "boss"  # trimmed, then lower-cased
    assert normalise_username(None) == ""
    # The acting admin's name goes through the same rule as the username it acts on, so
    # " Boss " is recognised as boss acting on themself (deputy, a second admin, would
    # otherwise have let the deactivation through).
    typed_boss = Actor(" Boss ", Role.ADMIN)
    with pytest.raises(Conflict, match="deactivate yourself"), write_session(staff) as s:
        set_user_active(s, actor=typed_boss, username=" BOSS", active=False)
    with pytest.raises(Conflict, match="from yourself"), write_session(staff) as s:
        set_user_role(s, actor=typed_boss, username="boss ", role=Role.CLERK)
    assert stored(staff, "boss").active
    assert stored(staff, "boss").role is Role.ADMIN


def test_the_last_active_admin_stays(staff: Engine) -> None:
    # The deputy may go while boss remains; then boss is the last active admin.
    with write_session(staff) as s:
        set_user_active(s, actor=BOSS, username="deputy", active=False)
    script = Actor("setup-script", Role.ADMIN)  # an actor that is not boss themself
    with pytest.raises(Conflict, match="last active admin"), write_session(staff) as s:
        set_user_active(s, actor=script, username="boss", active=False)
    with pytest.raises(Conflict, match="last active admin"), write_session(staff) as s:
        set_user_role(s, actor=script, username="boss", role=Role.MANAGER)
    assert stored(staff, "boss").active
    assert stored(staff, "boss").role is Role.ADMIN
    # An inactive admin may be demoted: it leaves the active admins as they were.
    with write_session(staff) as s:
        set_user_role(s, actor=BOSS, username="deputy", role=Role.CLERK)
    assert stored(staff, "deputy").role is Role.CLERK


def test_deactivated_user_cannot_log_in_until_reactivated(staff: Engine) -> None:
    with write_session(staff) as s:
        set_user_active(s, actor=BOSS, username="carol", active=False)
    with read_session(staff) as s:
        assert "carol" not in [u.username for u in load_login_users(s)]
    with write_session(staff) as s:
        set_user_active(s, actor=BOSS, username="carol", active=True)
    with read_session(staff) as s:
        assert "carol" in [u.username for u in load_login_users(s)]
    assert [json.loads(e.after or "")["active"] for e in audit_rows(staff, "set_user_active")] == [
        False,
        True,
    ]


def test_reset_password(staff: Engine) -> None:
    with write_session(staff) as s:
        reset_password(s, actor=BOSS, username="carol", password="brand new pw")
    carol = stored(staff, "carol")
    assert verify_password("brand new pw", carol.password_hash)
    assert not verify_password("long enough", carol.password_hash)
    (entry,) = audit_rows(staff, "reset_password")
    assert entry.after == '{"password": "changed"}'
    assert "brand new pw" not in (entry.after or "") + (entry.before or "")
    with pytest.raises(ValidationError, match="at least 8"), write_session(staff) as s:
        reset_password(s, actor=BOSS, username="carol", password="short")

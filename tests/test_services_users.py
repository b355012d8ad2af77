"""Users: hashed passwords in the form the login widget checks, and logins it can match."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import Conflict, ValidationError
from billing.models import User
from billing.roles import Role
from billing.services import add_user, verify_password
from tests.conftest import ADMIN


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

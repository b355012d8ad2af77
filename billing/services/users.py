"""Users and their roles; passwords kept as bcrypt hashes that streamlit-authenticator reads."""

from __future__ import annotations

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Conflict
from billing.models import User
from billing.roles import Action, Actor, Role, require
from billing.services._common import unique_or_conflict
from billing.validation import Checker

MIN_PASSWORD_LENGTH = 8


def hash_password(password: str) -> str:
    """A bcrypt hash (``$2b$…``), the form streamlit-authenticator checks against."""
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt()).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Whether `password` matches a stored bcrypt hash."""
    try:
        return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))
    except ValueError:
        return False


def add_user(
    session: Session,
    *,
    actor: Actor,
    username: str,
    role: Role,
    password: str,
    name: str | None = None,
    email: str | None = None,
) -> User:
    """Create a login (admin only); the password is hashed and never stored."""
    require(actor, Action.MANAGE_USERS)
    check = Checker()
    # streamlit-authenticator lower-cases the typed username and strips the typed
    # password, so store logins lower-case and refuse passwords it could never match.
    login = check.code("username", username, max_len=64).lower()
    display = check.text("name", name or username, max_len=200)
    mail = check.text("email", email, max_len=320, required=False)
    if len(password or "") < MIN_PASSWORD_LENGTH:
        check.add("password", "…", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if password and password != password.strip():
        check.add("password", "…", "must not begin or end with a space")
    if len((password or "").encode("utf-8")) > 72:
        check.add("password", "…", "must be at most 72 bytes (a bcrypt limit)")
    try:
        role = Role(role)
    except ValueError:
        check.add("role", role, "must be one of " + ", ".join(r.value for r in Role))
    check.done()
    if session.scalar(select(User.id).where(User.username == login)) is not None:
        raise Conflict(f"user {login!r} already exists")
    user = User(
        username=login,
        name=display or login,
        email=mail,
        role=role,
        password_hash=hash_password(password),
    )
    with unique_or_conflict(session, f"user {login!r} already exists"):
        session.add(user)
    audit.record(
        session,
        actor=actor,
        action="add_user",
        entity="user",
        entity_id=login,
        before=None,
        after=audit.snapshot(user),
    )
    return user

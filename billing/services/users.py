"""Users and their roles; passwords kept as bcrypt hashes that streamlit-authenticator reads."""

from __future__ import annotations

import bcrypt
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit, sessions
from billing.errors import Conflict, NotFound, Problem, ValidationError
from billing.models import User
from billing.roles import Action, Actor, Role, require
from billing.services._common import locked, unique_or_conflict
from billing.validation import Checker, normalise_username

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


def _check_password(check: Checker, password: str) -> None:
    # streamlit-authenticator strips the typed password: refuse one it could never match.
    if len(password or "") < MIN_PASSWORD_LENGTH:
        check.add("password", "…", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if password and password != password.strip():
        check.add("password", "…", "must not begin or end with a space")
    if len((password or "").encode("utf-8")) > 72:
        check.add("password", "…", "must be at most 72 bytes (a bcrypt limit)")


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
    login = normalise_username(check.code("username", username, max_len=64))
    display = check.text("name", name or username, max_len=200)
    mail = check.text("email", email, max_len=320, required=False)
    _check_password(check, password)
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


def _user_by_username(session: Session, username: str) -> User:
    """The user with this login (locked until commit), or `NotFound` naming it."""
    login = normalise_username(username)
    user = session.scalars(locked(select(User).where(User.username == login))).first()
    if user is None:
        raise NotFound(f"no user {login!r}")
    return user


def _other_active_admins(session: Session, user: User) -> int:
    """Active admins besides `user`, counted under a lock so two demotions cannot race."""
    others = session.scalars(
        select(User.id)
        .where(User.role == Role.ADMIN, User.active.is_(True), User.id != user.id)
        .with_for_update()
    ).all()
    return len(others)


def _refuse_losing_last_admin(session: Session, user: User, what: str) -> None:
    if user.role is Role.ADMIN and user.active and _other_active_admins(session, user) == 0:
        raise Conflict(f"cannot {what} {user.username!r}: it is the last active admin")


def set_user_role(session: Session, *, actor: Actor, username: str, role: Role | str) -> User:
    """Change a user's role (admin only); an admin may not demote themself or the last admin."""
    require(actor, Action.MANAGE_USERS)
    try:
        new_role = Role(role)
    except ValueError:
        raise ValidationError(
            Problem("role", role, "must be one of " + ", ".join(r.value for r in Role))
        ) from None
    user = _user_by_username(session, username)
    if user.role is new_role:
        return user
    if user.role is Role.ADMIN:
        if user.username == normalise_username(actor.name):
            raise Conflict("you cannot take the admin role from yourself; ask another admin")
        _refuse_losing_last_admin(session, user, "demote")
    before = audit.snapshot(user)
    user.role = new_role
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="set_user_role",
        entity="user",
        entity_id=user.username,
        before=before,
        after=audit.snapshot(user),
    )
    return user


def set_user_active(session: Session, *, actor: Actor, username: str, active: bool) -> User:
    """Stop (or allow again) a user logging in; admin only, never oneself or the last admin.

    Deactivating also revokes the user's login sessions in the same
    transaction, so a live browser or a copied cookie is logged out on its
    next click (the session check reads `active` too; the revocation makes it
    stay out if the user is activated again).
    """
    require(actor, Action.MANAGE_USERS)
    if not isinstance(active, bool):
        raise ValidationError(Problem("active", active, "must be true or false"))
    user = _user_by_username(session, username)
    if user.active is active:
        return user
    if not active:
        if user.username == normalise_username(actor.name):
            raise Conflict("you cannot deactivate yourself; ask another admin")
        _refuse_losing_last_admin(session, user, "deactivate")
    before = audit.snapshot(user)
    user.active = active
    session.flush()
    if not active:
        sessions.revoke_user_sessions(session, username=user.username, reason=sessions.DEACTIVATED)
    audit.record(
        session,
        actor=actor,
        action="set_user_active",
        entity="user",
        entity_id=user.username,
        before=before,
        after=audit.snapshot(user),
    )
    return user


def reset_password(session: Session, *, actor: Actor, username: str, password: str) -> User:
    """Give a user a new password (admin only); the audit row says it changed, never to what.

    Every login session of that user is revoked in the same transaction: a
    cookie copied before the reset logs nobody in, and a browser already
    logged in is sent to the login form on its next click (an admin resetting
    their own password included).
    """
    require(actor, Action.MANAGE_USERS)
    check = Checker()
    _check_password(check, password)
    check.done()
    user = _user_by_username(session, username)
    user.password_hash = hash_password(password)
    session.flush()
    sessions.revoke_user_sessions(session, username=user.username, reason=sessions.PASSWORD_RESET)
    audit.record(
        session,
        actor=actor,
        action="reset_password",
        entity="user",
        entity_id=user.username,
        before=None,
        after={"password": "changed"},
    )
    return user

"""Login with streamlit-authenticator, its credentials read from the `users` table.

The authenticator gets a credentials dict built on every run from the active
users in the database (never a YAML file: 0.4.2 rewrites such a file without
a lock), so a new user, a changed role or a deactivated login takes effect on
the next click. The role that decides the pages is read from that same table,
never from the cookie. The re-login cookie is signed with
`[auth] cookie_key` from `.streamlit/secrets.toml` or `BILLING_COOKIE_KEY`;
without either, a random key made once per process is used, which only means
that a restart asks everyone to log in again.
"""

from __future__ import annotations

import functools
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy import Engine

from billing.db import read_session
from billing.login_throttle import LockPolicy, LoginThrottle
from billing.repository import load_login_users
from billing.roles import Actor, Role
from ui.db import secret

COOKIE_NAME = "billing_office_auth"
COOKIE_EXPIRY_DAYS = 1.0
LOGIN_FIELDS = {
    "Form name": "Log in",
    "Username": "Username",
    "Password": "Password",
    "Login": "Log in",
}

# Each failed attempt in a session waits longer before the answer, up to the cap.
FAILED_LOGIN_DELAY_SECONDS = 1.0
FAILED_LOGIN_MAX_DELAY_SECONDS = 5.0
_FAILED_LOGINS = "billing_failed_logins"
LOGIN_LOCK = LockPolicy()
_SIGNED_IN = "billing_signed_in"

Credentials = dict[str, Any]


@dataclass(frozen=True)
class SignedIn:
    """The person using this session, with the role the users table gives them now."""

    username: str
    name: str
    role: Role


@functools.cache
def _process_cookie_key() -> str:
    # Made on first use, not at import: nothing is created at import time.
    return secrets.token_urlsafe(32)


def cookie_key() -> str:
    """The key that signs the re-login cookie: configured, else random for this process.

    Several app servers behind one load balancer must share a configured key,
    or a cookie signed by one is refused by the others.
    """
    return (
        secret("auth", "cookie_key")
        or os.environ.get("BILLING_COOKIE_KEY")
        or _process_cookie_key()
    )


def load_credentials(engine: Engine) -> Credentials:
    """The authenticator's credentials dict: active users, their bcrypt hashes and roles.

    Usernames are lower-cased because the authenticator lower-cases whatever is
    typed into the form before looking it up.
    """
    with read_session(engine) as session:
        users = load_login_users(session)
    return {
        "usernames": {
            user.username.lower(): {
                "name": user.name,
                "email": user.email,
                "password": user.password_hash,
                "roles": [user.role.value],
            }
            for user in users
        }
    }


def build_authenticator(credentials: Credentials) -> stauth.Authenticate:
    """The authenticator for this run; create it once per run (it renders the cookie reader).

    Its own throttle (`login_sleep_time`, a pause on every run while logged
    out, cookie logins included) is off: that pause comes after the cookie
    component is drawn and before `st.navigation`, so the component's first
    answer interrupts the run and a reload of `/invoices` lands on the default
    page. `login_form` throttles failed attempts instead.
    """
    return stauth.Authenticate(
        credentials,
        cookie_name=secret("auth", "cookie_name") or COOKIE_NAME,
        cookie_key=cookie_key(),
        cookie_expiry_days=float(secret("auth", "cookie_expiry_days") or COOKIE_EXPIRY_DAYS),
        auto_hash=False,
        login_sleep_time=0,
    )


def restore_login(authenticator: stauth.Authenticate) -> None:
    """Log in from the re-login cookie, drawing nothing, before the page list is built.

    A cookie naming a user who has since been deactivated makes the
    authenticator raise; that session is then simply logged out, and the
    stale cookie is neither trusted nor read again.
    """
    try:
        authenticator.login(location="unrendered")
    except stauth.LoginError:
        st.session_state["logout"] = True
        authenticator.cookie_controller.delete_cookie()


def signed_in_user(credentials: Credentials) -> SignedIn | None:
    """Who is logged in, or None; a user no longer active counts as logged out."""
    if not st.session_state.get("authentication_status"):
        return None
    username = st.session_state.get("username")
    entry = credentials["usernames"].get(username)
    if entry is None:
        return None
    return SignedIn(username=str(username), name=str(entry["name"]), role=Role(entry["roles"][0]))


def remember(user: SignedIn | None) -> None:
    """Keep this run's user where the pages read it; `app.py` calls it before every page."""
    st.session_state[_SIGNED_IN] = user


def current_user() -> SignedIn:
    """The user the page runs for; pages only run once `app.py` has found one."""
    user = st.session_state.get(_SIGNED_IN)
    if not isinstance(user, SignedIn):
        st.error("Please log in again.")
        st.stop()
    return user


def current_actor() -> Actor:
    """The signed-in user as the services name them in the audit log and check their role."""
    user = current_user()
    return Actor(name=user.username, role=user.role)


def end_stale_session(authenticator: stauth.Authenticate, credentials: Credentials) -> None:
    """Log out a session whose user was deactivated or removed while logged in."""
    if st.session_state.get("authentication_status") and signed_in_user(credentials) is None:
        authenticator.logout(location="unrendered")


@st.cache_resource(show_spinner=False)
def login_throttle() -> LoginThrottle:
    """The failed-login counter shared by every session of this server process."""
    return LoginThrottle(LOGIN_LOCK)


def login_form(authenticator: stauth.Authenticate, credentials: Credentials) -> None:
    """The login form; a wrong username or password gets one plain message, after a pause.

    The pause grows with each failure in the session (1 s, 2 s, … up to 5 s):
    the throttle the authenticator's own sleep would have been, paid only by
    failed attempts. After `LOGIN_LOCK.max_failures` failures in a row a
    username is locked for `LOGIN_LOCK.lock_seconds`: it is left out of the
    credentials the form checks, so even the right password fails until the
    lock ends. A locked, unknown or mistyped login all get the same message,
    which tells a guesser nothing about which usernames exist.
    """
    throttle = login_throttle()
    for username in [u for u in credentials["usernames"] if throttle.seconds_locked(u)]:
        del credentials["usernames"][username]
    if st.session_state.get("authentication_status") is False:
        # A failure from an earlier run: clear it, so False below means this run's attempt.
        st.session_state["authentication_status"] = None
    try:
        authenticator.login(location="main", key="login", fields=LOGIN_FIELDS)
    except stauth.LoginError as error:
        st.error(str(error))
        return
    status = st.session_state.get("authentication_status")
    if status is False:
        # The authenticator counts a wrong password in the credentials dict it was given.
        for username, entry in credentials["usernames"].items():
            if entry.get("failed_login_attempts"):
                throttle.failed(username)
        failures = int(st.session_state.get(_FAILED_LOGINS, 0)) + 1
        st.session_state[_FAILED_LOGINS] = failures
        time.sleep(min(FAILED_LOGIN_DELAY_SECONDS * failures, FAILED_LOGIN_MAX_DELAY_SECONDS))
        st.error("Username or password is incorrect.")
    elif status:
        throttle.succeeded(str(st.session_state.get("username") or ""))
        st.session_state[_FAILED_LOGINS] = 0
        st.success("Logged in. Loading…")
    minutes = round(LOGIN_LOCK.lock_seconds / 60)
    st.caption(
        f"After {LOGIN_LOCK.max_failures} failed attempts a username is locked "
        f"for {minutes} minutes."
    )


def logout_button(authenticator: stauth.Authenticate, user: SignedIn) -> None:
    """Who is logged in, and the logout button, in the sidebar."""
    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role.value})")
        authenticator.logout("Log out", location="sidebar", key="sidebar_logout")

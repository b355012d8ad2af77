"""Login: our own form and throttle, streamlit-authenticator's cookie, a session row per login.

The authenticator (0.4.2) gets a credentials dict built on every run from the
active users in the database (never a YAML file: it rewrites one without a
lock), and is used for what it does well: the re-login cookie and the
session-state keys. What it does badly is done here instead:

- Its cookie key defaults to a fixed string: ours comes from `[auth]
  cookie_key` or `BILLING_COOKIE_KEY`, at least 32 bytes, and the app refuses
  to start without one outside demo mode (`refuse_unsafe_start`).
- Its cookie cannot be revoked: every login writes a `user_sessions` row
  (`billing.sessions`) whose id is an HMAC of the cookie's username and expiry,
  and every run checks that row (`enforce_session`). Logging out, a password
  reset or a deactivation revokes it, so a copied cookie or a live browser is
  logged out on its next click. The cookie lives 12 hours by default.
- Its failed-login limit is off by default and permanent when on: the form
  here counts failures in the database (`billing.login_throttle`), shared by
  every server process, with a growing pause and a 15-minute lock.
- It answers an unknown username without a bcrypt check (faster than a wrong
  password): `attempt_login` always runs exactly one.

The role that decides the pages is read from the users table, never from the cookie.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

import streamlit as st
import streamlit_authenticator as stauth
from sqlalchemy import Engine
from streamlit import config as st_config

from billing.db import read_session
from billing.deployment import deployment_problems, parse_cookie_expiry_days
from billing.errors import BillingError
from billing.login_throttle import LockPolicy, attempt_login, delay_seconds
from billing.repository import load_login_users
from billing.roles import Actor, Role
from billing.sessions import cookie_session_id, end_session, session_is_valid, start_session
from billing.validation import normalise_username
from ui.db import database_url, secret

COOKIE_NAME = "billing_office_auth"
# Half a day: a login survives a working day's reloads, not a stolen cookie's week.
COOKIE_EXPIRY_DAYS = 0.5
LOGIN_FIELDS = {
    "Form name": "Log in",
    "Username": "Username",
    "Password": "Password",
    "Login": "Log in",
}
WRONG_LOGIN = "Username or password is incorrect."
DEMO_NOTICE = (
    "Demo mode: demo logins and a per-process key are allowed; never use it with real data."
)

# Each failed attempt for a username waits longer before the answer (1 s, 2 s, …), up to the cap.
FAILED_LOGIN_DELAY_SECONDS = 1.0
FAILED_LOGIN_MAX_DELAY_SECONDS = 5.0
LOGIN_LOCK = LockPolicy()
_SIGNED_IN = "billing_signed_in"
_SESSION_ID = "billing_session_id"
_LOGOUT_PROBLEM = "billing_logout_problem"

Credentials = dict[str, Any]


@dataclass(frozen=True)
class SignedIn:
    """The person using this session, with the role the users table gives them now."""

    username: str
    name: str
    role: Role


def demo_mode() -> bool:
    """`BILLING_DEMO=1`: the demo logins and a random per-process cookie key are allowed."""
    return os.environ.get("BILLING_DEMO", "").strip().lower() in {"1", "true", "yes"}


def demo_notice() -> None:
    """While demo mode is on, say so in the sidebar of every page, the login page included.

    Demo mode skips the cookie-key and demo-login checks, so whoever looks at
    the screen must be able to see that it is on.
    """
    if demo_mode():
        st.sidebar.markdown(f":material/science: :orange-background[{DEMO_NOTICE}]")


@functools.cache
def _process_cookie_key() -> str:
    # Made on first use, not at import: nothing is created at import time.
    return secrets.token_urlsafe(32)


def configured_cookie_key() -> str | None:
    """The cookie key from `[auth] cookie_key`, else `BILLING_COOKIE_KEY`, else None."""
    return secret("auth", "cookie_key") or os.environ.get("BILLING_COOKIE_KEY") or None


def cookie_key() -> str:
    """The key that signs the re-login cookie: the configured one, else (demo only) a random one.

    Several app servers behind one load balancer must share the configured
    key, or a cookie signed by one is refused by the others. Outside demo mode
    `refuse_unsafe_start` has already stopped the app when none is configured.
    """
    return configured_cookie_key() or _process_cookie_key()


def _cookie_expiry_text() -> str | None:
    return secret("auth", "cookie_expiry_days") or os.environ.get("BILLING_COOKIE_EXPIRY_DAYS")


def cookie_expiry_days() -> float:
    """How long a login is remembered: `[auth] cookie_expiry_days` or the environment, else 0.5."""
    try:
        return parse_cookie_expiry_days(_cookie_expiry_text(), default=COOKIE_EXPIRY_DAYS)
    except ValueError:
        return COOKIE_EXPIRY_DAYS  # refuse_unsafe_start has said what is wrong


def _streamlit_cookie_secret() -> str | None:
    """`server.cookieSecret` when someone set it; None for Streamlit's random default."""
    if not st_config.is_manually_set("server.cookieSecret"):
        return None
    return str(st_config.get_option("server.cookieSecret") or "")


@st.cache_resource(show_spinner=False)
def _passed_start_checks() -> set[str]:
    """Settings that passed the start-up checks in this process (their bcrypt checks cost ~1 s)."""
    return set()


def refuse_unsafe_start(engine: Engine) -> None:
    """Stop here, with a plain message and no traceback, when the deployment is unsafe.

    Only a passing result is remembered, so fixing the problem (a new
    password for a demo login, say) lets the next run in without a restart.
    """
    settings = (
        database_url(),
        demo_mode(),
        configured_cookie_key(),
        _cookie_expiry_text(),
        _streamlit_cookie_secret(),
    )
    fingerprint = hashlib.sha256(repr(settings).encode()).hexdigest()
    if fingerprint in _passed_start_checks():
        return
    problems = deployment_problems(
        engine,
        demo=demo_mode(),
        cookie_key=configured_cookie_key(),
        cookie_expiry_days=_cookie_expiry_text(),
        streamlit_cookie_secret=_streamlit_cookie_secret(),
    )
    if not problems:
        _passed_start_checks().add(fingerprint)
        return
    st.title("Billing Office")
    st.error(
        "Billing Office will not start until this is fixed:\n\n"
        + "\n".join(f"- {problem}" for problem in problems)
        + "\n\nFor a demo on sample data only, start it with `BILLING_DEMO=1` (`make run` does "
        "when `BILLING_DATABASE_URL` is not set)."
    )
    st.stop()


def load_credentials(engine: Engine) -> Credentials:
    """The authenticator's credentials dict: active users, their bcrypt hashes and roles.

    Usernames are lower-cased because the authenticator lower-cases whatever is
    typed into the form before looking it up.
    """
    with read_session(engine) as session:
        users = load_login_users(session)
    return {
        "usernames": {
            normalise_username(user.username): {
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
        cookie_expiry_days=cookie_expiry_days(),
        auto_hash=False,
        login_sleep_time=0,
    )


def restore_login(authenticator: stauth.Authenticate) -> None:
    """Log in from the re-login cookie, drawing nothing, before the page list is built.

    A cookie naming a user who has since been deactivated makes the
    authenticator raise; that session is then simply logged out, and the
    stale cookie is neither trusted nor read again. `enforce_session` then
    checks the cookie's session row.
    """
    try:
        authenticator.login(location="unrendered")
    except stauth.LoginError:
        st.session_state["logout"] = True
        authenticator.cookie_controller.delete_cookie()


def _session_id_from_cookie(authenticator: stauth.Authenticate, username: str) -> str | None:
    """The session row a cookie read in this run stands for, if it names `username`."""
    model = authenticator.cookie_controller.cookie_model
    token = model.token
    if not isinstance(token, dict) or token.get("username") != username:
        return None
    expires_at = token.get("exp_date")
    if not isinstance(expires_at, int | float):
        return None
    return cookie_session_id(key=model.cookie_key, username=username, expires_at=expires_at)


def enforce_session(authenticator: stauth.Authenticate, engine: Engine) -> None:
    """Log out, before any page runs, a session whose row is revoked, expired or missing.

    Runs on every run of a logged-in session: that is what makes a logout, a
    password reset or a deactivation reach a browser that is already in, and
    what keeps a replayed cookie out (its row was revoked at logout).
    """
    if not st.session_state.get("authentication_status"):
        st.session_state.pop(_SESSION_ID, None)
        return
    username = str(st.session_state.get("username") or "")
    session_id = st.session_state.get(_SESSION_ID) or _session_id_from_cookie(
        authenticator, username
    )
    if session_id:
        with read_session(engine) as session:
            if session_is_valid(session, session_id=session_id, username=username):
                st.session_state[_SESSION_ID] = session_id
                return
    st.session_state.pop(_SESSION_ID, None)
    authenticator.logout(location="unrendered")


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


def _start_session(authenticator: stauth.Authenticate, engine: Engine, username: str) -> None:
    """After a correct password: the authenticator's logged-in state, its cookie, our row.

    The authenticator's token login (the path its cookie takes) sets the same
    session-state keys as its form would; `set_cookie` then signs the cookie,
    whose expiry names the row `start_session` writes. When that write fails
    (a busy ledger) the login is undone and the error passes on: a cookie
    without its row would be refused on the next run anyway.
    """
    authenticator.authentication_controller.login(token={"username": username})
    model = authenticator.cookie_controller.cookie_model
    authenticator.cookie_controller.set_cookie()
    try:
        session_id = start_session(
            engine, cookie_key=model.cookie_key, username=username, expires_at=float(model.exp_date)
        )
    except BillingError:
        authenticator.logout(location="unrendered")
        raise
    st.session_state[_SESSION_ID] = session_id


def _log_in(
    authenticator: stauth.Authenticate, engine: Engine, username: str, password: str
) -> None:
    """Check one submitted login and answer it: logged in, a plain refusal, or "busy".

    A busy ledger (`LedgerBusy`, a `BillingError`) counts no failure and logs
    nobody in: its message says to try again, without the failed-login pause.
    """
    try:
        attempt = attempt_login(engine, username=username, password=password, policy=LOGIN_LOCK)
        if attempt.ok:
            _start_session(authenticator, engine, attempt.username)
    except BillingError as error:
        st.error(str(error))
        return
    except stauth.LoginError:
        st.error(WRONG_LOGIN)  # deactivated between the check and now
        return
    if attempt.ok:
        st.success("Logged in. Loading…")
        return
    time.sleep(
        delay_seconds(
            attempt.failures, step=FAILED_LOGIN_DELAY_SECONDS, cap=FAILED_LOGIN_MAX_DELAY_SECONDS
        )
    )
    st.error(WRONG_LOGIN)


def login_form(authenticator: stauth.Authenticate, engine: Engine) -> None:
    """The login form; a wrong, unknown or locked login gets one plain message, after a pause.

    The pause grows with the username's failures counted in the database
    (1 s, 2 s, … up to 5 s). After `LOGIN_LOCK.max_failures` failures within
    `LOGIN_LOCK.window_seconds` the username is locked for
    `LOGIN_LOCK.lock_seconds`: even the right password fails until the lock
    ends. Unknown usernames are counted and locked the same way and take as
    long to answer, which tells a guesser nothing about which usernames exist.
    A logout that could not be recorded is reported here until the next attempt.
    """
    logout_problem = st.empty()
    with st.form(key="login"):
        st.subheader(LOGIN_FIELDS["Form name"])
        username = st.text_input(LOGIN_FIELDS["Username"], key="login_username")
        password = st.text_input(LOGIN_FIELDS["Password"], type="password", key="login_password")
        submitted = st.form_submit_button(LOGIN_FIELDS["Login"])
    if not submitted:
        if problem := st.session_state.get(_LOGOUT_PROBLEM):
            logout_problem.error(problem)
    else:
        st.session_state.pop(_LOGOUT_PROBLEM, None)
        if not username.strip() or not password.strip():
            st.error("Enter a username and a password.")
        else:
            # Trimmed like streamlit-authenticator trims; passwords never begin or end with a space.
            _log_in(authenticator, engine, username, password.strip())
    minutes = round(LOGIN_LOCK.lock_seconds / 60)
    st.caption(
        f"After {LOGIN_LOCK.max_failures} failed attempts a username is locked "
        f"for {minutes} minutes."
    )


def logout_button(authenticator: stauth.Authenticate, user: SignedIn, engine: Engine) -> None:
    """Who is logged in, and the logout button, in the sidebar; logging out revokes the session.

    The revocation is what makes a copy of the cookie useless afterwards: the
    authenticator only asks the browser to delete its own copy. When the
    revocation cannot be written (a busy ledger) this browser is logged out
    all the same, and the login form says that the server did not record it.
    """
    session_id = st.session_state.get(_SESSION_ID)

    def revoke(_event: dict[str, Any]) -> None:
        st.session_state.pop(_SESSION_ID, None)
        if not session_id:
            return
        try:
            end_session(engine, session_id=session_id)
        except BillingError as error:
            st.session_state[_LOGOUT_PROBLEM] = (
                f"You are logged out of this browser, but the server could not record the "
                f"logout: {error}"
            )

    with st.sidebar:
        st.caption(f"Signed in as **{user.name}** ({user.role.value})")
        authenticator.logout("Log out", location="sidebar", key="sidebar_logout", callback=revoke)

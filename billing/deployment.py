"""Start-up checks: the app refuses to serve a real ledger with demo keys or demo logins.

Outside demo mode (`BILLING_DEMO=1`, which `make run` sets only for its own
sample database, never with `BILLING_DATABASE_URL` set) the app needs a
re-login cookie key of at least 32 bytes that is not the example from
`.streamlit/secrets.toml.example`, a sane cookie life, a strong Streamlit
`server.cookieSecret` if one is set, and no active user who still logs in
with a documented demo password (README, "Demo logins"). `ui.auth` calls
`deployment_problems` before drawing anything and stops with its messages;
the checks are plain functions so tests call them directly.
"""

from __future__ import annotations

import math

from sqlalchemy import Engine, select

from billing.db import read_session
from billing.models import User
from billing.services.users import verify_password

MIN_SECRET_BYTES = 32
# The placeholders our docs show; a key equal to one of them is as good as public.
EXAMPLE_SECRETS = frozenset(
    {
        "replace-with-a-long-random-string",
        "replace-with-another-long-random-string",
    }
)
# The logins `billing seed-demo` creates (sample_data.generator.DEMO_USERS); each
# one's password is "<username>-demo". Kept here so `billing` needs no sample data.
DEMO_LOGINS = ("clerk", "manager", "finance", "admin")
MAX_COOKIE_EXPIRY_DAYS = 30.0


def demo_password(username: str) -> str:
    """The documented password of a demo login."""
    return f"{username}-demo"


def secret_problems(name: str, value: str | None, *, where: str) -> list[str]:
    """What is wrong with a signing secret: missing, shorter than 32 bytes, or the example."""
    if not value:
        return [f"{name} is not set: put at least {MIN_SECRET_BYTES} random bytes in {where}."]
    if value.strip() in EXAMPLE_SECRETS:
        return [f"{name} is still the example value: replace it in {where}."]
    if len(value.encode("utf-8")) < MIN_SECRET_BYTES:
        return [
            f"{name} is {len(value.encode('utf-8'))} bytes long; it must be at least "
            f"{MIN_SECRET_BYTES} random bytes (set it in {where})."
        ]
    return []


def parse_cookie_expiry_days(text: str | None, *, default: float) -> float:
    """The re-login cookie's life in days; `ValueError` naming the value when it is unusable.

    Zero would make streamlit-authenticator set no cookie at all (and leave the
    session record without an expiry to match), so it is refused too.
    """
    if text is None or str(text).strip() == "":
        return default
    try:
        days = float(text)
    except ValueError:
        raise ValueError(f"cookie_expiry_days {text!r} is not a number of days") from None
    if not math.isfinite(days) or days <= 0 or days > MAX_COOKIE_EXPIRY_DAYS:
        raise ValueError(
            f"cookie_expiry_days {text!r} must be more than 0 and at most "
            f"{MAX_COOKIE_EXPIRY_DAYS:g} days (0.5 = 12 hours)"
        )
    return days


def active_demo_logins(engine: Engine) -> list[str]:
    """Active users named like a demo login whose password is still the documented demo one.

    At most four bcrypt checks; a real user who happens to be called `admin`
    with a password of their own is not a demo login.
    """
    with read_session(engine) as session:
        rows = session.execute(
            select(User.username, User.password_hash).where(
                User.username.in_(DEMO_LOGINS), User.active.is_(True)
            )
        ).all()
    return sorted(
        username for username, hashed in rows if verify_password(demo_password(username), hashed)
    )


def deployment_problems(
    engine: Engine,
    *,
    demo: bool,
    cookie_key: str | None,
    cookie_expiry_days: str | None,
    streamlit_cookie_secret: str | None,
) -> list[str]:
    """Every reason the app must not serve this ledger now; empty when it may.

    `streamlit_cookie_secret` is None when Streamlit's own `server.cookieSecret`
    was left at its default, a random 32-byte value made per process: this
    app does not use `st.login`, the only thing that secret signs, so that
    default is acceptable; a value someone did set must be strong.
    In demo mode only the cookie life is checked.
    """
    problems: list[str] = []
    try:
        parse_cookie_expiry_days(cookie_expiry_days, default=0.5)
    except ValueError as error:
        problems.append(f"{error} ([auth] cookie_expiry_days or BILLING_COOKIE_EXPIRY_DAYS).")
    if demo:
        return problems
    problems += secret_problems(
        "The login cookie key",
        cookie_key,
        where="[auth] cookie_key in .streamlit/secrets.toml or BILLING_COOKIE_KEY",
    )
    if streamlit_cookie_secret is not None:
        problems += secret_problems(
            "Streamlit's server.cookieSecret",
            streamlit_cookie_secret,
            where="[server] cookieSecret or STREAMLIT_SERVER_COOKIE_SECRET",
        )
    demo_logins = active_demo_logins(engine)
    if demo_logins:
        names = ", ".join(demo_logins)
        problems.append(
            f"Demo logins with their published passwords are active: {names}. "
            "Give each a new password (Admin page, or deactivate it) from a demo-mode "
            "session (BILLING_DEMO=1), or start over on a database without demo users."
        )
    return problems

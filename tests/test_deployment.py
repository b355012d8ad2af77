"""Start-up checks: which settings and logins stop the app outside demo mode, and when
`make run` turns demo mode on."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from billing.db import write_session
from billing.deployment import (
    DEMO_LOGINS,
    active_demo_logins,
    demo_password,
    deployment_problems,
    parse_cookie_expiry_days,
)
from billing.roles import Role
from billing.services import add_user, reset_password, set_user_active
from sample_data.generator import DEMO_USERS
from tests.conftest import ADMIN

STRONG = "k" * 32
ROOT = Path(__file__).resolve().parents[1]


def problems(engine: Engine, **overrides: object) -> list[str]:
    settings: dict[str, object] = {
        "demo": False,
        "cookie_key": STRONG,
        "cookie_expiry_days": None,
        "streamlit_cookie_secret": None,
    }
    settings.update(overrides)
    return deployment_problems(engine, **settings)  # type: ignore[arg-type]


def test_the_demo_logins_are_the_ones_seed_demo_creates() -> None:
    assert tuple(username for username, _, _ in DEMO_USERS) == DEMO_LOGINS
    assert demo_password("clerk") == "clerk-demo"  # README's table


def test_a_strong_key_and_no_demo_logins_pass(engine: Engine) -> None:
    assert problems(engine) == []


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "The login cookie key is not set"),
        ("", "The login cookie key is not set"),
        ("replace-with-a-long-random-string", "still the example value"),
        ("k" * 31, "is 31 bytes long; it must be at least 32"),
    ],
)
def test_a_missing_weak_or_example_key_is_refused(
    engine: Engine, key: str | None, message: str
) -> None:
    (problem,) = problems(engine, cookie_key=key)
    assert message in problem
    assert problems(engine, cookie_key=key, demo=True) == []  # demo mode allows it


def test_a_set_streamlit_cookie_secret_must_be_strong(engine: Engine) -> None:
    (problem,) = problems(engine, streamlit_cookie_secret="short")
    assert "server.cookieSecret is 5 bytes long" in problem
    assert problems(engine, streamlit_cookie_secret="s" * 64) == []


@pytest.mark.parametrize(
    ("text", "days"), [(None, 0.5), ("", 0.5), ("1", 1.0), ("0.25", 0.25), ("30", 30.0)]
)
def test_cookie_life(text: str | None, days: float) -> None:
    assert parse_cookie_expiry_days(text, default=0.5) == days


@pytest.mark.parametrize("text", ["0", "-1", "31", "nan", "a day"])
def test_unusable_cookie_life_is_refused_even_in_demo_mode(engine: Engine, text: str) -> None:
    (problem,) = problems(engine, cookie_expiry_days=text, demo=True)
    assert f"cookie_expiry_days {text!r}" in problem


def test_demo_logins_with_their_demo_password_are_refused(engine: Engine) -> None:
    with write_session(engine) as s:
        add_user(s, actor=ADMIN, username="admin", role=Role.ADMIN, password="admin-demo")
        add_user(s, actor=ADMIN, username="clerk", role=Role.CLERK, password="clerk-demo")
        # A real person called "manager" with a password of their own is no demo login.
        add_user(s, actor=ADMIN, username="manager", role=Role.MANAGER, password="own secret")
    assert active_demo_logins(engine) == ["admin", "clerk"]
    (problem,) = problems(engine)
    assert "active: admin, clerk" in problem
    with write_session(engine) as s:
        reset_password(s, actor=ADMIN, username="admin", password="a real password")
        set_user_active(s, actor=ADMIN, username="clerk", active=False)
    assert active_demo_logins(engine) == []
    assert problems(engine) == []


def make_run_commands(**environment: str) -> str:
    """What `make run` would execute (`make -n` prints the commands and runs none)."""
    env = {k: v for k, v in os.environ.items() if k not in {"BILLING_DATABASE_URL", "BILLING_DEMO"}}
    result = subprocess.run(
        ["make", "-n", "run"],
        cwd=ROOT,
        env=env | environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return next(line for line in result.stdout.splitlines() if "streamlit run app.py" in line)


def test_make_run_turns_demo_mode_on_only_for_its_own_sample_database() -> None:
    assert make_run_commands().startswith("BILLING_DEMO=1 .venv/bin/streamlit run app.py")
    # A configured ledger may hold real data: the start-up checks must run on it.
    configured = make_run_commands(BILLING_DATABASE_URL="postgresql+psycopg://billing@db/ledger")
    assert configured.startswith(".venv/bin/streamlit run app.py")
    assert "BILLING_DEMO" not in configured

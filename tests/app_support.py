"""What every page test shares: a seeded database, the app under AppTest, login, and finders.

The database is a temporary SQLite file passed in through `BILLING_DATABASE_URL`
and filled through the services, as a real office would. The login form is the
real streamlit-authenticator form: tests type into it and click its button.
Its cookie component's JavaScript never runs here, so after a successful login
one more `at.run()` stands in for the rerun the browser would trigger.

Use the `app_db` fixture (registered in `conftest.py`), then
`at = log_in(start(), "clerk")` and `at.switch_page(page("payments")).run()`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, write_session
from billing.roles import Actor, Role
from billing.schema import upgrade_database
from billing.services import (
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    add_user,
    create_customer,
    create_invoice,
    post_payment,
)

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 30
TEST_COOKIE_KEY = "a-test-cookie-key-of-at-least-32-bytes"
# The seeded ledger's dates sit in early 2026; pages are opened as of this day.
AS_OF = dt.date(2026, 3, 31)
ADMIN = Actor("test-admin", Role.ADMIN)
CLERK = Actor("test-clerk", Role.CLERK)


def password(role: Role | str) -> str:
    return f"{Role(role).value}-secret-pw"


def page(name: str) -> str:
    """The path `at.switch_page` takes for a page file name (`"payments"`)."""
    return f"app_pages/{name}.py"


@pytest.fixture
def clear_streamlit_caches() -> Iterator[None]:
    """Caches are process-wide and would carry one test's engine and data into the next."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def seed_users(session: Any) -> None:
    """One login per role: username = role, password = `password(role)`."""
    for role in Role:
        add_user(
            session,
            actor=ADMIN,
            username=role.value,
            role=role,
            password=password(role),
            name=f"{role.value.title()} Person",
        )


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clear_streamlit_caches: None) -> str:
    """A ledger with one user per role, two customers, invoices and a part payment.

    C001 owes INV-1001 (3 × 411.50 = 1,234.50, issued 2026-01-10, due 02-09)
    less a 200.00 payment on 02-05; INV-1002 is a draft; C002 has one posted
    invoice of 99.00 (issued 01-20, due 02-19). USD posted total: 1,333.50.
    """
    url = f"sqlite:///{tmp_path}/billing.db"
    seed_app_ledger(url)
    point_app_at(monkeypatch, url)
    # The users are named like the demo logins (not their passwords): demo mode skips
    # the start-up check's four bcrypt runs (~1 s a test). Strict mode has its own
    # tests in test_app.py, which turn this off.
    monkeypatch.setenv("BILLING_DEMO", "1")
    return url


def seed_app_ledger(url: str) -> None:
    """`app_db`'s users and ledger, written to the database at `url` (any backend)."""
    engine = make_engine(url)
    upgrade_database(engine)
    with write_session(engine) as session:
        seed_users(session)
        create_customer(session, actor=CLERK, data=CustomerCreate("C001", "Acme Ltd", "USD"))
        create_customer(session, actor=CLERK, data=CustomerCreate("C002", "Globex", "USD"))
        create_invoice(
            session,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-1001",
                "C001",
                dt.date(2026, 1, 10),
                [LineCreate("Consulting", Decimal(3), 41150)],
            ),
            post=True,
        )
        create_invoice(
            session,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-1002", "C001", dt.date(2026, 2, 1), [LineCreate("Draft", Decimal(1), 5000)]
            ),
        )
        create_invoice(
            session,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-2001", "C002", dt.date(2026, 1, 20), [LineCreate("Parts", Decimal(1), 9900)]
            ),
            post=True,
        )
        post_payment(
            session,
            actor=CLERK,
            data=PaymentCreate("C001", "PAY-1", dt.date(2026, 2, 5), 20000),
        )
    engine.dispose()


def point_app_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Run the app on `url` with a cookie key strong enough for the start-up check."""
    monkeypatch.setenv("BILLING_DATABASE_URL", url)
    monkeypatch.setenv("BILLING_COOKIE_KEY", TEST_COOKIE_KEY)


def start(**query: str) -> AppTest:
    """The app, run once, logged out; `query` becomes the URL's query parameters."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


def text_input(at: AppTest, label: str) -> Any:
    return next(w for w in at.text_input if w.label == label)


def submit_login(at: AppTest, username: str, secret: str) -> AppTest:
    text_input(at, "Username").input(username)
    text_input(at, "Password").input(secret)
    return next(b for b in at.button if b.label == "Log in").click().run()


def log_in(at: AppTest, username: str, secret: str | None = None) -> AppTest:
    """Log in through the form; the password defaults to the seeded one for that role."""
    submit_login(at, username, secret if secret is not None else password(username))
    return at.run()  # the rerun the cookie component triggers in a browser after a login


def metric(at: AppTest, label: str) -> str:
    return str(next(m for m in at.metric if m.label == label).value)


def page_text(at: AppTest) -> str:
    """Every markdown, caption, title and subheader on the page, one per line."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.title] + [e.value for e in at.subheader]
    return "\n".join(str(p) for p in parts)

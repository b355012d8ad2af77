"""The app end to end in Streamlit's AppTest: login, the pages each role gets, their numbers.

The database is a temporary SQLite file passed in through `BILLING_DATABASE_URL`
and filled through the services, as a real office would. The login form is the
real streamlit-authenticator form: the tests type into it and click its button.
Its cookie component's JavaScript never runs here, so after a successful login
one more `at.run()` stands in for the rerun the browser would trigger.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, write_session
from billing.models import User
from billing.roles import Role
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
from tests.conftest import ADMIN, CLERK, sqlite_url
from ui.navigation import pages_for

APP = Path(__file__).resolve().parents[1] / "app.py"
TIMEOUT = 30


def password(role: Role) -> str:
    return f"{role.value}-secret-pw"


@pytest.fixture(autouse=True)
def clear_streamlit_caches() -> Iterator[None]:
    """Caches are process-wide and would carry one test's engine and data into the next."""
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def app_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ledger with one user per role, two customers, invoices and a part payment.

    C001 owes INV-1001 (3 × 411.50 = 1,234.50) less a 200.00 payment; INV-1002
    is a draft; C002 has one posted invoice of 99.00. USD posted total: 1,333.50.
    """
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    upgrade_database(engine)
    with write_session(engine) as session:
        for role in Role:
            add_user(
                session,
                actor=ADMIN,
                username=role.value,
                role=role,
                password=password(role),
                name=f"{role.value.title()} Person",
            )
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
    monkeypatch.setenv("BILLING_DATABASE_URL", url)
    monkeypatch.setenv("BILLING_COOKIE_KEY", "a-test-cookie-key-of-at-least-32-bytes")
    return url


def start(app_db: str) -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def text_input(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(w for w in at.text_input if w.label == label)


def submit_login(at: AppTest, username: str, secret: str) -> AppTest:
    text_input(at, "Username").input(username)
    text_input(at, "Password").input(secret)
    return next(b for b in at.button if b.label == "Log in").click().run()


def log_in(at: AppTest, username: str, secret: str) -> AppTest:
    submit_login(at, username, secret)
    return at.run()  # the rerun the cookie component triggers in a browser after a login


def metric(at: AppTest, label: str) -> str:
    return str(next(m for m in at.metric if m.label == label).value)


def page_text(at: AppTest) -> str:
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption]
    parts += [e.value for e in at.title] + [e.value for e in at.subheader]
    return "\n".join(str(p) for p in parts)


def test_logged_out_sees_only_the_login_form(app_db: str) -> None:
    at = start(app_db)
    assert not at.exception
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.metric
    assert not at.dataframe
    assert "1,234.50" not in page_text(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/invoices.py")


def test_wrong_password_shows_an_error_and_no_data(app_db: str) -> None:
    at = submit_login(start(app_db), "clerk", "not-the-password")
    assert not at.exception
    assert [e.value for e in at.error] == ["Username or password is incorrect."]
    assert not at.metric
    assert not at.dataframe
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    at.run()  # the message belongs to the attempt, not to every later run
    assert not at.error
    assert not at.metric


def test_unknown_user_shows_the_same_error(app_db: str) -> None:
    at = submit_login(start(app_db), "mallory", "whatever-pw")
    assert [e.value for e in at.error] == ["Username or password is incorrect."]
    assert not at.metric


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_its_pages_with_the_ledger_numbers(app_db: str, role: Role) -> None:
    at = log_in(start(app_db), role.value, password(role))
    assert not at.exception
    assert not at.error
    # The default page is the Ledger, with the seeded USD totals.
    assert [t.value for t in at.title] == ["Ledger"]
    assert metric(at, "Posted invoices") == "2"
    assert metric(at, "Invoiced") == "$1,333.50"
    assert metric(at, "Settled") == "$200.00"
    assert metric(at, "Open") == "$1,133.50"
    assert metric(at, "Unapplied cash") == "$0.00"
    assert "Every ledger invariant holds." in [s.value for s in at.success]
    assert f"Signed in as **{role.value.title()} Person** ({role.value})" in page_text(at)
    # Every page the role may see is registered and renders without error.
    for spec in pages_for(role):
        at.switch_page(spec.path).run()
        assert not at.exception, spec.path
        assert [t.value for t in at.title] == [spec.title]
    # The Invoices page lists the seeded invoices, newest first, with open amounts.
    at.switch_page("app_pages/invoices.py").run()
    table = at.dataframe[0].value
    assert list(table["invoice_number"]) == ["INV-1002", "INV-2001", "INV-1001"]
    row = table[table["invoice_number"] == "INV-1001"].iloc[0]
    assert (row["status"], str(row["total_minor"]), str(row["open_minor"])) == (
        "posted",
        "1234.50",
        "1034.50",
    )


def test_invoice_filters(app_db: str) -> None:
    at = log_in(start(app_db), "finance", password(Role.FINANCE))
    at.switch_page("app_pages/invoices.py").run()
    at.selectbox(key="invoices_customer").select("C002").run()
    assert list(at.dataframe[0].value["invoice_number"]) == ["INV-2001"]
    at.selectbox(key="invoices_customer").select(None)
    at.multiselect(key="invoices_status").select("draft").run()
    assert list(at.dataframe[0].value["invoice_number"]) == ["INV-1002"]
    at.multiselect(key="invoices_status").unselect("draft").select("void").run()
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No invoices match these filters."]


def test_log_out_returns_to_the_login_form(app_db: str) -> None:
    at = log_in(start(app_db), "admin", password(Role.ADMIN))
    assert at.metric
    next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    assert not at.exception
    assert not at.metric
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    at.run()
    assert not at.metric


def test_empty_ledger_tells_a_new_user_how_to_load_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    upgrade_database(engine)
    with write_session(engine) as session:
        add_user(session, actor=ADMIN, username="boss", role=Role.ADMIN, password="boss-password")
    engine.dispose()
    monkeypatch.setenv("BILLING_DATABASE_URL", url)
    at = log_in(AppTest.from_file(str(APP), default_timeout=TIMEOUT).run(), "boss", "boss-password")
    assert [t.value for t in at.title] == ["Ledger"]
    assert "billing seed-demo" in at.info[0].value
    assert not at.metric


def test_a_deep_link_asks_for_login_then_opens_that_page(app_db: str) -> None:
    # A bookmarked /invoices on a fresh session: the login form, never the page's data.
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page("app_pages/invoices.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.dataframe
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    log_in(at, "clerk", password(Role.CLERK))
    assert [t.value for t in at.title] == ["Invoices"]
    assert len(at.dataframe[0].value) == 3


def test_a_deactivated_user_is_logged_out_on_the_next_click(app_db: str) -> None:
    at = log_in(start(app_db), "clerk", password(Role.CLERK))
    assert at.metric
    engine = make_engine(app_db)
    with write_session(engine) as session:
        session.execute(update(User).where(User.username == "clerk").values(active=False))
    engine.dispose()
    at.run()
    assert not at.metric
    assert {w.label for w in at.text_input} >= {"Username", "Password"}

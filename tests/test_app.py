"""The app shell in AppTest: login, the pages each role gets, logout, deep links.

Each page's own content is tested in `test_page_<name>.py`; the shared
fixtures and finders are in `tests/app_support.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, write_session
from billing.login_throttle import LockPolicy
from billing.models import User
from billing.roles import Role
from billing.schema import upgrade_database
from billing.services import add_user
from tests.app_support import (
    ADMIN,
    APP,
    TIMEOUT,
    log_in,
    page,
    page_text,
    password,
    start,
    submit_login,
)
from tests.conftest import sqlite_url
from ui.navigation import PAGES, pages_for


def test_logged_out_sees_only_the_login_form(app_db: str) -> None:
    at = start()
    assert not at.exception
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.metric
    assert not at.dataframe
    assert "1,234.50" not in page_text(at)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("invoices"))


def test_wrong_password_shows_an_error_and_no_data(app_db: str) -> None:
    at = submit_login(start(), "clerk", "not-the-password")
    assert not at.exception
    assert [e.value for e in at.error] == ["Username or password is incorrect."]
    assert not at.metric
    assert not at.dataframe
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    at.run()  # the message belongs to the attempt, not to every later run
    assert not at.error
    assert not at.metric


def test_unknown_user_shows_the_same_error(app_db: str) -> None:
    at = submit_login(start(), "mallory", "whatever-pw")
    assert [e.value for e in at.error] == ["Username or password is incorrect."]
    assert not at.metric


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_its_pages_and_only_those(app_db: str, role: Role) -> None:
    at = log_in(start(), role.value)
    assert not at.exception
    assert f"Signed in as **{role.value.title()} Person** ({role.value})" in page_text(at)
    assert [t.value for t in at.title] == ["Overview"]
    # Every page the role may see opens without an error and shows its title.
    for spec in pages_for(role):
        at.switch_page(spec.path).run()
        assert not at.exception, spec.path
        assert not at.error, (spec.path, [e.value for e in at.error])
        assert [t.value for t in at.title] == [spec.title], spec.path
    # The others are not in this role's navigation at all: there is nothing to open.
    for spec in PAGES:
        if spec not in pages_for(role):
            with pytest.raises(ValueError, match="Could not find a navigation page"):
                at.switch_page(spec.path)


def test_invoice_filters(app_db: str) -> None:
    at = log_in(start(), "finance")
    at.switch_page(page("invoices")).run()
    at.selectbox(key="invoices_customer").select("C002").run()
    assert list(at.dataframe[0].value["invoice_number"]) == ["INV-2001"]
    at.selectbox(key="invoices_customer").select(None)
    at.multiselect(key="invoices_status").select("draft").run()
    assert list(at.dataframe[0].value["invoice_number"]) == ["INV-1002"]
    at.multiselect(key="invoices_status").unselect("draft").select("void").run()
    assert not at.dataframe
    assert [i.value for i in at.info] == ["No invoices match these filters."]


def test_log_out_returns_to_the_login_form(app_db: str) -> None:
    at = log_in(start(), "admin")
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
    assert [t.value for t in at.title] == ["Overview"]
    assert "billing seed-demo" in at.info[0].value
    assert not at.metric


def test_a_deep_link_asks_for_login_then_opens_that_page(app_db: str) -> None:
    # A bookmarked /invoices on a fresh session: the login form, never the page's data.
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page(page("invoices")).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.dataframe
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    log_in(at, "clerk", password(Role.CLERK))
    assert [t.value for t in at.title] == ["Invoices"]
    assert len(at.dataframe[0].value) == 3


def test_a_deactivated_user_is_logged_out_on_the_next_click(app_db: str) -> None:
    at = log_in(start(), "clerk")
    assert at.metric
    engine = make_engine(app_db)
    with write_session(engine) as session:
        session.execute(update(User).where(User.username == "clerk").values(active=False))
    engine.dispose()
    at.run()
    assert not at.metric
    assert {w.label for w in at.text_input} >= {"Username", "Password"}


def test_repeated_failures_lock_the_username_for_a_while(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.auth

    monkeypatch.setattr(ui.auth, "FAILED_LOGIN_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(ui.auth, "LOGIN_LOCK", LockPolicy(max_failures=2, lock_seconds=600))
    at = start()
    submit_login(at, "clerk", "wrong-1")
    submit_login(at, "clerk", "wrong-2")  # the second failure locks "clerk"
    # Now even the right password is refused, with the same message as a wrong one.
    submit_login(at, "clerk", password(Role.CLERK))
    assert [e.value for e in at.error] == ["Username or password is incorrect."]
    assert [t.value for t in at.title] == ["Billing Office"]
    assert "locked for 10 minutes" in page_text(at)
    # Other users are not affected, and a new session of the same server is still locked.
    other = log_in(start(), "manager")
    assert [t.value for t in other.title] == ["Overview"]
    again = submit_login(start(), "clerk", password(Role.CLERK))
    assert [e.value for e in again.error] == ["Username or password is incorrect."]
    # That the lock runs out is tested on `LoginThrottle` itself, with a fake clock.

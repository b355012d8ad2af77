"""The app shell in AppTest: login, the pages each role gets, logout, deep links.

Each page's own content is tested in `test_page_<name>.py`; the shared
fixtures and finders are in `tests/app_support.py`.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import extra_streamlit_components as stx
import pytest
from sqlalchemy import delete, func, make_url, select, update
from streamlit.runtime.context import ContextProxy, StreamlitCookies
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session, write_session
from billing.errors import LedgerBusy
from billing.login_throttle import UNKNOWN_USERNAME, LockPolicy, seconds_locked
from billing.models import AuditEntry, LoginFailure, User, UserSession
from billing.roles import Role
from billing.schema import upgrade_database
from billing.services import add_user, reset_password
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
from tests.busy_ledger import short_busy_timeout, write_lock_held
from tests.conftest import sqlite_url
from ui.auth import COOKIE_NAME, DEMO_NOTICE, WRONG_LOGIN
from ui.navigation import PAGES, pages_for

STRONG_KEY = "a-strong-test-cookie-key-0123456789abcdef"  # 41 bytes


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
    monkeypatch.setenv("BILLING_COOKIE_KEY", STRONG_KEY)  # not demo mode: a real key is needed
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
    assert [e.value for e in at.error] == [WRONG_LOGIN]
    assert [t.value for t in at.title] == ["Billing Office"]
    assert "locked for 10 minutes" in page_text(at)
    # Other users are not affected, and a new session of the same server is still locked.
    other = log_in(start(), "manager")
    assert [t.value for t in other.title] == ["Overview"]
    again = submit_login(start(), "clerk", password(Role.CLERK))
    assert [e.value for e in again.error] == [WRONG_LOGIN]
    # The lock is a row in the database (every server process reads it) and in the audit log.
    engine = make_engine(app_db)
    with read_session(engine) as session:
        assert seconds_locked(session, username="clerk") > 590  # 600 s less the test's runtime
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_locked")).all()
    engine.dispose()
    assert [(a.entity, a.entity_id, a.actor) for a in locks] == [("user", "clerk", "login-form")]
    # That the lock runs out is tested in test_login_throttle.py, with a moved clock.


def test_an_unknown_username_is_counted_and_locked_like_a_real_one(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.auth

    monkeypatch.setattr(ui.auth, "FAILED_LOGIN_DELAY_SECONDS", 0.0)
    monkeypatch.setattr(ui.auth, "LOGIN_LOCK", LockPolicy(max_failures=2, lock_seconds=600))
    at = start()
    submit_login(at, "Mallory", "guess-1")
    submit_login(at, "mallory", "guess-2")
    assert [e.value for e in at.error] == [WRONG_LOGIN]
    engine = make_engine(app_db)
    with read_session(engine) as session:
        assert seconds_locked(session, username="mallory") > 590
        locks = session.scalars(select(AuditEntry).where(AuditEntry.action == "login_locked")).all()
        stored = session.execute(select(LoginFailure.__table__)).all()
    engine.dispose()
    # What was typed is kept nowhere: the audit row says "unknown", the count is keyed by a digest.
    assert [(a.entity, a.entity_id) for a in locks] == [("user", UNKNOWN_USERNAME)]
    assert len(stored) == 1
    assert not any("mallory" in str(value).lower() for value in stored[0])


class Browser:
    """What a browser holds and sends: cookies set by the app's cookie component.

    AppTest cannot seed `st.context.cookies` (they come from the HTTP request),
    and the cookie component's JavaScript never runs. So the component's `set`
    is recorded here (the token the browser would store), and `st.context.cookies`
    returns `sent`: the cookies the next session "arrives" with. The
    authenticator's own decoding and checks run unchanged.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.issued: dict[str, str] = {}
        self.sent: dict[str, str] = {}
        original_set = stx.CookieManager.set

        def record(manager: Any, cookie: str, val: Any, *args: Any, **kwargs: Any) -> None:
            self.issued[cookie] = str(val)
            original_set(manager, cookie, val, *args, **kwargs)

        monkeypatch.setattr(stx.CookieManager, "set", record)
        monkeypatch.setattr(
            ContextProxy, "cookies", property(lambda _proxy: StreamlitCookies(self.sent))
        )

    def present(self, token: str) -> None:
        self.sent = {COOKIE_NAME: token}


def test_the_login_cookie_logs_in_a_new_session_until_logout_revokes_it(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = Browser(monkeypatch)
    first = log_in(start(), "clerk")
    token = browser.issued[COOKIE_NAME]
    browser.present(token)
    # A reload (a new session) with the cookie is logged in without the form...
    second = start()
    assert [t.value for t in second.title] == ["Overview"]
    assert not any(w.label == "Username" for w in second.text_input)
    # ...until the first tab logs out: that revokes the session the cookie names.
    next(b for b in first.sidebar.button if b.label == "Log out").click().run()
    assert {w.label for w in first.text_input} >= {"Username", "Password"}
    replayed = start()  # the same cookie, copied and sent again after logout
    assert [t.value for t in replayed.title] == ["Billing Office"]
    assert not replayed.metric
    assert {w.label for w in replayed.text_input} >= {"Username", "Password"}
    # The session that was already in on that cookie is out on its next click too.
    second.run()
    assert [t.value for t in second.title] == ["Billing Office"]
    assert not second.metric


def test_a_password_reset_logs_out_a_live_session_and_its_cookie(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = Browser(monkeypatch)
    at = log_in(start(), "clerk")
    assert at.metric
    token = browser.issued[COOKIE_NAME]
    engine = make_engine(app_db)
    with write_session(engine) as session:
        reset_password(session, actor=ADMIN, username="clerk", password="a-new-clerk-pw")
    engine.dispose()
    at.run()  # the clerk's next click
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.metric
    browser.present(token)
    replayed = start()
    assert [t.value for t in replayed.title] == ["Billing Office"]
    # The new password works and opens a new session.
    again = log_in(start(), "clerk", "a-new-clerk-pw")
    assert [t.value for t in again.title] == ["Overview"]


def test_a_session_state_login_without_its_session_row_is_logged_out(app_db: str) -> None:
    at = log_in(start(), "clerk")
    engine = make_engine(app_db)
    with write_session(engine) as session:
        session.execute(delete(UserSession))
    engine.dispose()
    at.run()
    assert [t.value for t in at.title] == ["Billing Office"]


def test_outside_demo_mode_the_app_refuses_a_missing_or_weak_cookie_key(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLING_DEMO")
    monkeypatch.delenv("BILLING_COOKIE_KEY")
    at = start()
    assert not at.exception
    assert "The login cookie key is not set" in at.error[0].value
    assert not at.text_input  # no login form: nothing runs until it is fixed
    monkeypatch.setenv("BILLING_COOKIE_KEY", "replace-with-a-long-random-string")
    assert "still the example value" in start().error[0].value
    monkeypatch.setenv("BILLING_COOKIE_KEY", "x" * 31)
    assert "31 bytes long" in start().error[0].value
    monkeypatch.setenv("BILLING_COOKIE_KEY", STRONG_KEY)
    at = start()
    assert not at.error
    assert {w.label for w in at.text_input} >= {"Username", "Password"}


def test_outside_demo_mode_the_app_refuses_demo_logins_with_their_passwords(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(app_db)
    with write_session(engine) as session:
        # The seeded "clerk" gets the README's demo password: a demo login on a real ledger.
        reset_password(session, actor=ADMIN, username="clerk", password="clerk-demo")
    monkeypatch.delenv("BILLING_DEMO")
    at = start()
    assert "Demo logins with their published passwords are active: clerk." in at.error[0].value
    assert not at.text_input
    # In demo mode it starts (that is what `make run` uses)...
    monkeypatch.setenv("BILLING_DEMO", "1")
    assert {w.label for w in start().text_input} >= {"Username", "Password"}
    # ...and outside it, once the demo password is gone, it starts without a restart.
    monkeypatch.delenv("BILLING_DEMO")
    with write_session(engine) as session:
        reset_password(session, actor=ADMIN, username="clerk", password="clerk-own-password")
    engine.dispose()
    at = start()
    assert not at.error
    assert {w.label for w in at.text_input} >= {"Username", "Password"}


def demo_notices(at: AppTest) -> list[str]:
    return [m.value for m in at.sidebar.markdown if DEMO_NOTICE in m.value]


def test_demo_mode_says_so_in_the_sidebar_of_every_page(app_db: str) -> None:
    at = start()  # app_db runs in demo mode
    assert len(demo_notices(at)) == 1  # on the login page
    log_in(at, "clerk")
    assert [t.value for t in at.title] == ["Overview"]
    assert len(demo_notices(at)) == 1
    at.switch_page(page("invoices")).run()
    assert [t.value for t in at.title] == ["Invoices"]
    assert len(demo_notices(at)) == 1


def test_outside_demo_mode_there_is_no_demo_notice(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BILLING_DEMO")
    at = start()
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    assert demo_notices(at) == []
    log_in(at, "clerk")
    assert [t.value for t in at.title] == ["Overview"]
    assert demo_notices(at) == []


def database_file(url: str) -> str:
    return make_url(url).database or ""


def table_count(url: str, table: Any) -> int:
    engine = make_engine(url)
    with read_session(engine) as session:
        count = session.scalar(select(func.count()).select_from(table))
    engine.dispose()
    return int(count or 0)


def test_a_busy_ledger_at_login_says_so_and_counts_no_failure(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    short_busy_timeout(monkeypatch)  # before the app opens its connections
    at = start()
    with write_lock_held(database_file(app_db)):  # a long import holds the write lock
        submit_login(at, "clerk", "not-the-password")
        assert not at.exception
        assert [e.value for e in at.error] == [str(LedgerBusy())]
        submit_login(at, "clerk", password(Role.CLERK))
        assert [e.value for e in at.error] == [str(LedgerBusy())]
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.metric
    assert table_count(app_db, LoginFailure) == 0  # the wrong password was not counted
    assert table_count(app_db, UserSession) == 0
    log_in(at, "clerk")  # the import is over: the same login goes through
    assert [t.value for t in at.title] == ["Overview"]


def test_a_busy_ledger_when_the_session_is_recorded_logs_nobody_in(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ui.auth

    short_busy_timeout(monkeypatch)
    import_running = ExitStack()
    check_password = ui.auth.attempt_login

    def then_an_import_starts(*args: Any, **kwargs: Any) -> Any:
        attempt = check_password(*args, **kwargs)
        import_running.enter_context(write_lock_held(database_file(app_db)))
        return attempt

    monkeypatch.setattr(ui.auth, "attempt_login", then_an_import_starts)
    at = start()
    with import_running:
        submit_login(at, "clerk", password(Role.CLERK))  # right password, then no session row
        assert not at.exception
        assert [e.value for e in at.error] == [str(LedgerBusy())]
        assert not at.success
    at.run()  # the next click: still logged out, nothing half-done left behind
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.metric
    assert table_count(app_db, UserSession) == 0


def test_a_busy_ledger_at_logout_still_logs_this_browser_out(
    app_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    short_busy_timeout(monkeypatch)
    at = log_in(start(), "clerk")
    assert at.metric
    with write_lock_held(database_file(app_db)):
        next(b for b in at.sidebar.button if b.label == "Log out").click().run()
    assert not at.exception
    assert not at.metric
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    expected = (
        "You are logged out of this browser, but the server could not record the logout: "
        + str(LedgerBusy())
    )
    assert [e.value for e in at.error] == [expected]
    at.run()  # the message stays until the next login attempt; the browser stays out
    assert [e.value for e in at.error] == [expected]
    assert not at.metric
    engine = make_engine(app_db)
    with read_session(engine) as session:
        revoked = session.scalars(select(UserSession.revoked_at)).all()
    engine.dispose()
    assert revoked == [None]  # the row could not be revoked: it runs out with the cookie
    log_in(at, "clerk")
    assert [t.value for t in at.title] == ["Overview"]
    assert not at.error

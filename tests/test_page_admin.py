"""The Admin page: users, settings, ledger health and the audit log, on the seeded ledger."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session, write_session
from billing.repository import load_settings, load_users
from billing.services import set_lock_date
from billing.settings import OfficeSettings
from tests.app_support import log_in, metric, page, page_text, password, start, submit_login
from tests.conftest import ADMIN


def open_admin() -> AppTest:
    at = log_in(start(), "admin")
    return at.switch_page(page("admin")).run()


def users_table(at: AppTest) -> dict[str, tuple[str, bool]]:
    (users,) = [d.value for d in at.dataframe if "username" in d.value.columns]
    return {
        u: (r, bool(a))
        for u, r, a in zip(users["username"], users["role"], users["active"], strict=True)
    }


def audit_table(at: AppTest) -> list[tuple[str, str, str, str]]:
    (log,) = [d.value for d in at.dataframe if "entity_id" in d.value.columns]
    return list(zip(log["actor"], log["action"], log["entity"], log["entity_id"], strict=True))


def stored_settings(url: str) -> OfficeSettings:
    engine = make_engine(url)
    with read_session(engine) as session:
        settings = load_settings(session)
    engine.dispose()
    return settings


def test_add_a_user_who_then_logs_in(app_db: str) -> None:
    at = open_admin()
    assert not at.exception
    at.text_input(key="add_user_username").input("Dana")
    at.text_input(key="add_user_name").input("Dana Scully")
    at.text_input(key="add_user_email").input("dana@office.test")
    at.selectbox(key="add_user_role").select("manager")
    at.text_input(key="add_user_password").input("dana-secret-pw")
    at.button(key="add_user_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["User dana added as manager."]
    assert users_table(at)["dana"] == ("manager", True)
    other = log_in(start(), "dana", "dana-secret-pw")
    assert "Signed in as **Dana Scully** (manager)" in page_text(other)
    other.switch_page(page("import_csv")).run()  # a manager's page
    assert [t.value for t in other.title] == ["Import"]


def test_a_short_password_is_refused(app_db: str) -> None:
    at = open_admin()
    at.text_input(key="add_user_username").input("eve")
    at.text_input(key="add_user_password").input("short")
    at.button(key="add_user_submit").click().run()
    assert "at least 8 characters" in at.error[0].value
    assert "eve" not in users_table(at)


def test_change_a_role(app_db: str) -> None:
    at = open_admin()
    at.selectbox(key="user_pick").select("clerk").run()
    assert at.selectbox(key="user_role").value == "clerk"
    at.selectbox(key="user_role").select("manager")
    at.button(key="user_role_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["clerk is now manager."]
    assert users_table(at)["clerk"] == ("manager", True)
    # The clerk's next login gets a manager's pages.
    other = log_in(start(), "clerk")
    other.switch_page(page("import_csv")).run()
    assert [t.value for t in other.title] == ["Import"]


def test_deactivate_then_reactivate(app_db: str) -> None:
    at = open_admin()
    at.selectbox(key="user_pick").select("finance").run()
    assert at.button(key="user_active_submit").label == "Deactivate"
    at.button(key="user_active_submit").click().run()
    assert [t.value for t in at.toast] == ["finance deactivated."]
    assert users_table(at)["finance"] == ("finance", False)
    refused = submit_login(start(), "finance", password("finance"))
    assert [e.value for e in refused.error] == ["Username or password is incorrect."]
    assert at.button(key="user_active_submit").label == "Reactivate"
    at.button(key="user_active_submit").click().run()
    assert users_table(at)["finance"] == ("finance", True)


def test_an_admin_cannot_deactivate_or_demote_themself(app_db: str) -> None:
    at = open_admin()
    at.selectbox(key="user_pick").select("admin").run()
    at.button(key="user_active_submit").click().run()
    assert "cannot deactivate yourself" in at.error[0].value
    at.selectbox(key="user_role").select("clerk")
    at.button(key="user_role_submit").click().run()
    assert "cannot take the admin role from yourself" in at.error[0].value
    assert users_table(at)["admin"] == ("admin", True)


def test_settings_change_shows_and_is_stored(app_db: str) -> None:
    at = open_admin()
    assert at.text_input(key="settings_buckets").value == "30,60,90"  # the default
    at.text_input(key="settings_company").input("Acme Billing")
    at.text_input(key="settings_buckets").input("15,45")
    at.text_input(key="settings_currency").input("usd")
    at.button(key="settings_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["Settings saved."]
    assert "In use: Acme Billing · aging buckets 15,45 · base currency USD" in page_text(at)
    assert stored_settings(app_db) == OfficeSettings("Acme Billing", (15, 45), "USD")
    # A new session (data.settings() read afresh) starts the form from the stored values.
    fresh = open_admin()
    assert fresh.text_input(key="settings_buckets").value == "15,45"
    # The Aging page's bucket boundaries start from the new default.
    at.switch_page(page("aging")).run()
    assert not at.exception
    assert at.text_input(key="aging_buckets").value == "15,45"


def test_bad_settings_are_refused(app_db: str) -> None:
    at = open_admin()
    at.text_input(key="settings_buckets").input("60,30")
    at.button(key="settings_submit").click().run()
    assert "aging_buckets" in at.error[0].value
    assert stored_settings(app_db) == OfficeSettings()


def test_ledger_health(app_db: str) -> None:
    at = open_admin()
    # INV-1001 1,234.50 + INV-2001 99.00 posted (INV-1002 is a draft); PAY-1 200.00 applied.
    assert metric(at, "Posted invoices") == "2"
    assert metric(at, "Invoiced") == "$1,333.50"
    assert metric(at, "Settled") == "$200.00"
    assert metric(at, "Open") == "$1,133.50"  # 1,333.50 − 200.00
    assert metric(at, "Cash received") == "$200.00"
    assert metric(at, "Unapplied cash") == "$0.00"
    assert [s.value for s in at.success] == ["Every ledger invariant holds."]


def test_audit_log_filters(app_db: str) -> None:
    at = open_admin()
    # Seeded writes: 4 add_user (test-admin), 2 create_customer, 3 create_invoice
    # (2 posted at creation), 1 post_payment (test-clerk).
    everything = audit_table(at)
    assert len(everything) >= 10
    at.selectbox(key="audit_actor").select("test-admin").run()
    assert [row[1] for row in audit_table(at)] == ["add_user"] * 4
    at.selectbox(key="audit_actor").select("test-clerk")
    at.selectbox(key="audit_entity").select("customer").run()
    assert sorted(audit_table(at)) == [
        ("test-clerk", "create_customer", "customer", "C001"),
        ("test-clerk", "create_customer", "customer", "C002"),
    ]
    assert audit_table(at)[0][3] == "C002"  # newest first
    at.selectbox(key="audit_entity").select(None)
    at.text_input(key="audit_search").input("inv-100").run()
    assert {row[3] for row in audit_table(at)} == {"INV-1001", "INV-1002"}
    # The selected entry's after-values, as JSON.
    at.text_input(key="audit_search").input("C002")
    at.selectbox(key="audit_entity").select("customer").run()
    after = json.loads(at.json[1].value)
    assert (after["customer_code"], after["name"]) == ("C002", "Globex")
    assert at.json[0].value == "null"  # a creation has no before
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    at.date_input(key="audit_from").set_value(tomorrow).run()
    assert [i.value for i in at.info] == ["No audit entries match these filters."]


def test_a_user_change_is_in_the_audit_log(app_db: str) -> None:
    at = open_admin()
    at.selectbox(key="user_pick").select("clerk").run()
    at.selectbox(key="user_role").select("finance")
    at.button(key="user_role_submit").click().run()
    at.selectbox(key="audit_actor").select("admin").run()
    assert audit_table(at) == [("admin", "set_user_role", "user", "clerk")]
    before, after = (json.loads(j.value) for j in at.json)
    assert (before["role"], after["role"]) == ("clerk", "finance")
    assert "password_hash" not in after
    engine = make_engine(app_db)
    with read_session(engine) as session:
        roles = dict(
            zip(
                *load_users(session).select("username", "role").to_dict(as_series=False).values(),
                strict=True,
            )
        )
    engine.dispose()
    assert roles["clerk"] == "finance"


@pytest.mark.parametrize("role", ["clerk", "manager", "finance"])
def test_only_admins_have_the_admin_page(app_db: str, role: str) -> None:
    at = log_in(start(), role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("admin"))


def set_lock_elsewhere(url: str, day: dt.date | None, shown: dt.date | None) -> None:
    """Another admin, on another page, moves the lock date."""
    engine = make_engine(url)
    with write_session(engine) as session:
        set_lock_date(session, actor=ADMIN, lock_date=day, expected_current=shown)
    engine.dispose()


def test_lock_date_set_and_cleared(app_db: str) -> None:
    at = open_admin()
    assert at.radio(key="lock_mode").value == "No lock"
    assert "no lock date" in page_text(at)
    at.radio(key="lock_mode").set_value("Closed up to")
    at.date_input(key="lock_day").set_value(dt.date(2026, 3, 31))
    at.button(key="lock_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["Lock date saved."]
    assert "books closed up to 2026-03-31" in page_text(at)
    assert stored_settings(app_db).lock_date == dt.date(2026, 3, 31)
    # A new session's form starts from the stored lock.
    fresh = open_admin()
    assert fresh.radio(key="lock_mode").value == "Closed up to"
    assert fresh.date_input(key="lock_day").value == dt.date(2026, 3, 31)
    # "No lock" opens the books again, whatever the date field still shows.
    fresh.radio(key="lock_mode").set_value("No lock")
    fresh.button(key="lock_submit").click().run()
    assert not fresh.error, [e.value for e in fresh.error]
    assert "no lock date" in page_text(fresh)
    assert stored_settings(app_db).lock_date is None


def test_a_stale_page_saving_settings_keeps_the_lock_date(app_db: str) -> None:
    """Admin A's page was open before admin B closed March; A renames the company."""
    at = open_admin()
    assert at.radio(key="lock_mode").value == "No lock"
    set_lock_elsewhere(app_db, dt.date(2026, 3, 31), shown=None)
    at.text_input(key="settings_company").input("Acme Billing")
    at.button(key="settings_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert stored_settings(app_db) == OfficeSettings(
        "Acme Billing", (30, 60, 90), None, dt.date(2026, 3, 31)
    )
    assert "books closed up to 2026-03-31" in page_text(at)


def test_a_stale_lock_form_is_refused_and_then_shows_the_new_lock(app_db: str) -> None:
    """A's lock form showed "no lock"; B closed March meanwhile; A's close of January is refused."""
    at = open_admin()
    set_lock_elsewhere(app_db, dt.date(2026, 3, 31), shown=None)
    at.radio(key="lock_mode").set_value("Closed up to")
    at.date_input(key="lock_day").set_value(dt.date(2026, 1, 31))
    at.button(key="lock_submit").click().run()
    assert [e.value for e in at.error] == [
        "The lock date was changed to 2026-03-31 by someone else since you opened this page; "
        "nothing was saved. Reload to see it."
    ]
    assert stored_settings(app_db).lock_date == dt.date(2026, 3, 31)
    # The next run shows the stored lock in the form, and saving from there works.
    at.run()
    assert at.radio(key="lock_mode").value == "Closed up to"
    assert at.date_input(key="lock_day").value == dt.date(2026, 3, 31)
    at.date_input(key="lock_day").set_value(dt.date(2026, 2, 28))
    at.button(key="lock_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert stored_settings(app_db).lock_date == dt.date(2026, 2, 28)

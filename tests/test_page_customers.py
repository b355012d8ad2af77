"""The Customers page on the seeded ledger: profile figures, new customers, edits by role, notes.

The seeded books as of 2026-03-31 (tests/app_support.py): C001 Acme Ltd owes
INV-1001 1,234.50 (issued 01-10, due 02-09) less PAY-1 200.00 applied 02-05.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session, write_session
from billing.repository import CustomerProfile, load_audit_log, load_customer
from billing.roles import Role
from billing.schema import upgrade_database
from billing.services import add_user
from tests.app_support import (
    ADMIN,
    APP,
    TIMEOUT,
    log_in,
    metric,
    page,
    page_text,
    point_app_at,
    start,
)
from tests.conftest import sqlite_url


def open_customers(role: str, **query: str) -> AppTest:
    at = log_in(start(as_of="2026-03-31", **query), role)
    return at.switch_page(page("customers")).run()


def table_with(at: AppTest, column: str) -> Any:
    """The one table on the page that has `column` (dataframes have no key in AppTest)."""
    (found,) = [d.value for d in at.dataframe if column in d.value.columns]
    return found


def customer_in_db(url: str, code: str) -> CustomerProfile:
    engine = make_engine(url)
    try:
        with read_session(engine) as session:
            return load_customer(session, code)
    finally:
        engine.dispose()


def test_profile_balances_and_behaviour_of_c001(app_db: str) -> None:
    at = open_customers("finance")
    assert not at.exception
    assert at.selectbox(key="customer_pick").value == "C001"
    # 1,234.50 − 200.00 = 1,034.50 open; due 02-09 < 03-31 so all of it is overdue.
    assert metric(at, "Open AR") == "$1,034.50"
    assert metric(at, "Overdue") == "$1,034.50"
    assert metric(at, "Unapplied cash") == "$0.00"  # PAY-1 fully applied to INV-1001
    assert metric(at, "Credit used") == "No limit set"  # credit limit 0
    # PAY-1 applied 02-05: 26 days after issue (21 left in Jan + 5), 4 days before due.
    assert metric(at, "Days to pay") == "26.0 days"
    assert metric(at, "Days late") == "-4.0 days"
    assert metric(at, "On time") == "100.0%"
    assert metric(at, "Trend") == "—"  # nothing applied in the 90 days before 2026-01-01
    assert "Terms: 30 days" in page_text(at)
    assert "Credit limit: $0.00" in page_text(at)
    items = table_with(at, "days_past_due")
    assert list(items["invoice_number"]) == ["INV-1001"]  # INV-1002 is a draft
    assert str(items["open_minor"][0]) == "1034.50"
    assert int(items["days_past_due"][0]) == 50  # 02-09 → 03-31: 19 + 31
    assert items["bucket"][0] == "31-60"
    # finance reads only: no forms
    assert not at.text_input  # no New customer / Edit / Note inputs
    assert "No calls, e-mails, notes, promises or letters" in page_text(at)


def test_customer_from_the_url(app_db: str) -> None:
    at = open_customers("clerk", customer="C002")
    assert at.selectbox(key="customer_pick").value == "C002"
    assert metric(at, "Open AR") == "$99.00"  # INV-2001, nothing paid
    assert metric(at, "Days to pay") == "—"
    at.selectbox(key="customer_pick").select("C001").run()
    assert at.query_params["customer"] == "C001"
    assert metric(at, "Open AR") == "$1,034.50"


def test_clerk_creates_a_customer_and_sees_it(app_db: str) -> None:
    at = open_customers("clerk")
    at.text_input(key="new_code").input("C003")
    at.text_input(key="new_name").input("Initech")
    at.text_input(key="new_email").input("ap@initech.test")
    at.number_input(key="new_terms").set_value(14)
    at.text_input(key="new_credit_limit").input("500.00")
    at.button(key="new_customer_submit").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["Customer C003 created."]
    assert at.selectbox(key="customer_pick").value == "C003"
    assert "C003 · Initech" in page_text(at)
    assert metric(at, "Open AR") == "$0.00"
    assert metric(at, "Credit used") == "0.0% of $500.00"
    stored = customer_in_db(app_db, "C003")
    assert (stored.email, stored.payment_terms_days, stored.credit_limit_minor) == (
        "ap@initech.test",
        14,
        50000,
    )


def test_a_bad_credit_limit_is_refused_and_nothing_created(app_db: str) -> None:
    at = open_customers("clerk")
    at.text_input(key="new_code").input("C004")
    at.text_input(key="new_name").input("Hooli")
    at.text_input(key="new_credit_limit").input("9,99")
    at.button(key="new_customer_submit").click().run()
    assert "credit_limit '9,99': is not an amount" in at.error[0].value
    assert at.selectbox(key="customer_pick").options == ["C001 · Acme Ltd", "C002 · Globex"]


def test_clerk_edits_name_but_not_terms(app_db: str) -> None:
    at = open_customers("clerk")
    assert "edit_terms" not in [w.key for w in at.number_input]
    assert "edit_credit_limit" not in [w.key for w in at.text_input]
    at.text_input(key="edit_name").input("Acme Limited")
    at.button(key="edit_customer_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["Customer C001 updated."]
    assert "C001 · Acme Limited" in page_text(at)
    assert customer_in_db(app_db, "C001").name == "Acme Limited"


def test_manager_edits_terms_and_the_audit_log_shows_it(app_db: str) -> None:
    at = open_customers("manager")
    at.number_input(key="edit_terms").set_value(45)
    at.text_input(key="edit_credit_limit").input("2000.00")
    at.button(key="edit_customer_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Terms: 45 days" in page_text(at)
    # 1,034.50 ÷ 2,000.00 = 51.725 % → 51.7 %
    assert metric(at, "Credit used") == "51.7% of $2,000.00"
    stored = customer_in_db(app_db, "C001")
    assert (stored.payment_terms_days, stored.credit_limit_minor) == (45, 200000)
    engine = make_engine(app_db)
    with read_session(engine) as session:
        log = load_audit_log(session, actor="manager", action="update_customer")
    engine.dispose()
    assert log.height == 1
    assert log["entity_id"][0] == "C001"
    assert '"payment_terms_days": 30' in log["before"][0]
    assert '"payment_terms_days": 45' in log["after"][0]
    assert log.filter(pl.col("after").str.contains('"credit_limit_minor": 200000')).height == 1


def test_add_a_note(app_db: str) -> None:
    at = open_customers("clerk")
    at.selectbox(key="note_kind").select("call")
    at.text_area(key="note_text").input("Promised to pay on Friday")
    at.button(key="note_submit").click().run()
    assert not at.error, [e.value for e in at.error]
    assert [t.value for t in at.toast] == ["Call logged for C001."]
    notes = table_with(at, "body")
    assert list(notes["kind"]) == ["call"]
    assert list(notes["body"]) == ["Promised to pay on Friday"]
    assert list(notes["created_by"]) == ["clerk"]


def test_an_empty_note_is_refused(app_db: str) -> None:
    at = open_customers("clerk")
    at.selectbox(key="note_kind").select("note")  # a call may be logged bare; a note has text
    at.button(key="note_submit").click().run()
    assert "body" in at.error[0].value
    assert "No calls, e-mails, notes, promises or letters" in page_text(at)


def test_no_customers_yet_says_how_to_add_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    upgrade_database(engine)
    with write_session(engine) as session:
        add_user(session, actor=ADMIN, username="boss", role=Role.ADMIN, password="boss-password")
    engine.dispose()
    point_app_at(monkeypatch, url)
    at = log_in(AppTest.from_file(str(APP), default_timeout=TIMEOUT).run(), "boss", "boss-password")
    at.switch_page(page("customers")).run()
    assert not at.exception
    assert "No customers yet. Add one with **New customer** above" in at.info[0].value
    assert not at.metric
    # ... and the form is right there: the first customer appears at once.
    at.text_input(key="new_code").input("C001")
    at.text_input(key="new_name").input("First Customer")
    at.button(key="new_customer_submit").click().run()
    assert at.selectbox(key="customer_pick").value == "C001"
    assert metric(at, "Open AR") == "$0.00"

"""The Collections page and the Customers page's collection tools on the seeded ledger.

The seeded books as of 2026-03-31 (tests/app_support.py), default dunning
levels 7/30/60 days:
- C001 Acme Ltd: INV-1001 1,234.50 due 02-09, less PAY-1 200.00 applied 02-05:
  1,034.50 open, 19 + 31 = 50 days past due → "Second notice" (30 ≤ 50 < 60).
- C002 Globex: INV-2001 99.00 due 02-19: 9 + 31 = 40 days past due → "Second notice".
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session, write_session
from billing.models import ActivityKind, CollectionActivity, Dispute, DunningLetterItem
from billing.roles import Role
from billing.services import DisputeOpen, open_dispute
from tests.app_support import CLERK, log_in, page, page_text, start


def open_page(name: str, role: str, **query: str) -> AppTest:
    at = log_in(start(as_of="2026-03-31", **query), role)
    at = at.switch_page(page(name)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table_with(at: AppTest, column: str) -> Any:
    (found,) = [d.value for d in at.dataframe if column in d.value.columns]
    return found


def rows_of(url: str, model: Any) -> list[Any]:
    engine = make_engine(url)
    try:
        with read_session(engine) as session:
            return list(session.scalars(select(model).order_by(model.id)))
    finally:
        engine.dispose()


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_role_reads_the_worklist_in_score_order(app_db: str, role: str) -> None:
    at = open_page("collections", role)
    worklist = table_with(at, "score")
    assert list(worklist["customer_code"]) == ["C001", "C002"]
    # C001: amount 35 (the one other USD customer owes less: 35 × 1/1), age 50 // 3 = 16,
    # behaviour 0 (paid 4 days early), promises 0 → 51. C002: 0 + 40 // 3 = 13 → 13.
    assert list(worklist["score"]) == [51, 13]
    assert list(worklist["amount_points"]) == [35, 0]
    assert list(worklist["age_points"]) == [16, 13]
    assert [str(v) for v in worklist["overdue_minor"]] == ["1034.50", "99.00"]
    assert "Score" in page_text(at) or any("Score" in str(e.value) for e in at.markdown)


def test_the_score_formula_is_shown(app_db: str) -> None:
    at = open_page("collections", "clerk")
    text = page_text(at)
    assert "Amount" in text and "Age" in text and "Behaviour" in text and "Promises" in text


def test_the_minimum_amount_filter(app_db: str) -> None:
    at = open_page("collections", "manager")
    at.text_input(key="worklist_minimum").input("100.00").run()
    assert list(table_with(at, "score")["customer_code"]) == ["C001"]
    at.text_input(key="worklist_minimum").input("9,99").run()
    (error,) = at.error
    assert error.value.startswith("Overdue at least '9,99'")


def test_letters_due_and_a_manager_marks_one_sent(app_db: str) -> None:
    at = open_page("collections", "manager")
    due = table_with(at, "level_name")
    assert list(due["customer_code"]) == ["C001", "C002"]
    assert list(due["level_name"]) == ["Second notice", "Second notice"]
    assert at.selectbox(key="letter_pick").options == [
        "C001 · Acme Ltd — Second notice",
        "C002 · Globex — Second notice",
    ]  # one letter per customer
    (text,) = [c.value for c in at.code]  # the e-mail text of the letter picked first
    assert "INV-1001" in text and "1034.50 USD" in text
    at.button(key="letter_send").click().run()
    assert not at.exception
    (letter,) = [a for a in rows_of(app_db, CollectionActivity) if a.kind is ActivityKind.LETTER]
    assert (letter.dunning_level, letter.activity_date, letter.created_by) == (
        2,
        dt.date(2026, 3, 31),
        "manager",
    )
    (item,) = rows_of(app_db, DunningLetterItem)
    assert (item.dunning_level, item.open_minor) == (2, 103450)
    # Sent: only C002's letter is still due.
    assert list(table_with(at, "level_name")["customer_code"]) == ["C002"]


def test_finance_and_clerks_cannot_send_letters(app_db: str) -> None:
    for role in ("finance", "clerk"):
        at = open_page("collections", role)
        assert not [b for b in at.button if b.label == "Mark as sent"]


def test_a_clerk_logs_a_promise_with_a_follow_up(app_db: str) -> None:
    at = open_page("customers", "clerk")
    at.selectbox(key="note_kind").select("promise")
    at.date_input(key="note_date").set_value(dt.date(2026, 3, 31))  # the page's as-of day
    at.text_area(key="note_text").input("Will pay half on Friday")
    at.date_input(key="promise_date").set_value(dt.date(2026, 4, 3))
    at.text_input(key="promise_amount").input("500.00")
    at.date_input(key="follow_up_date").set_value(dt.date(2026, 4, 6))
    at.button(key="note_submit").click().run()
    assert not at.exception and not at.error
    (promise,) = rows_of(app_db, CollectionActivity)
    assert (promise.kind, promise.promise_date, promise.promise_amount_minor) == (
        ActivityKind.PROMISE,
        dt.date(2026, 4, 3),
        50000,
    )
    assert promise.follow_up_date == dt.date(2026, 4, 6)
    promises = table_with(at, "promise_amount_minor")
    assert list(promises["status"]) == ["open"]


def test_a_refused_promise_keeps_what_was_typed(app_db: str) -> None:
    at = open_page("customers", "clerk")
    at.selectbox(key="note_kind").select("promise")
    at.text_area(key="note_text").input("Will pay on Friday")
    at.date_input(key="promise_date").set_value(dt.date(2026, 4, 3))
    at.text_input(key="promise_amount").input("5,00")
    at.button(key="note_submit").click().run()
    assert any("promised amount '5,00'" in e.value for e in at.error)
    assert at.text_area(key="note_text").value == "Will pay on Friday"
    assert at.text_input(key="promise_amount").value == "5,00"
    assert rows_of(app_db, CollectionActivity) == []


def test_promise_fields_on_a_call_are_refused(app_db: str) -> None:
    at = open_page("customers", "clerk")
    at.selectbox(key="note_kind").select("call")
    at.text_area(key="note_text").input("Rang them")
    at.text_input(key="promise_amount").input("500.00")
    at.button(key="note_submit").click().run()
    assert any("belong to a promise" in e.value for e in at.error)
    assert rows_of(app_db, CollectionActivity) == []


def test_a_disputed_invoice_leaves_dunning_and_the_worklist_but_not_the_aging(
    app_db: str,
) -> None:
    at = open_page("customers", "clerk")
    at.selectbox(key="dispute_invoice").select("INV-1001")
    at.date_input(key="dispute_date").set_value(dt.date(2026, 3, 31))
    at.text_area(key="dispute_reason").input("Quantities do not match the delivery note")
    at.button(key="dispute_submit").click().run()
    assert not at.exception and not at.error
    (dispute,) = rows_of(app_db, Dispute)
    assert dispute.closed_date is None and dispute.opened_by == "clerk"

    at = open_page("collections", "manager")
    assert list(table_with(at, "score")["customer_code"]) == ["C002"]
    assert list(table_with(at, "level_name")["customer_code"]) == ["C002"]
    disputes = table_with(at, "reason")
    assert list(disputes["invoice_number"]) == ["INV-1001"]
    assert [str(v) for v in disputes["open_minor"]] == ["1034.50"]
    at = open_page("aging", "manager")
    assert "C001 · Acme Ltd" in list(table_with(at, "customer")["customer"])


def test_a_manager_closes_a_dispute_and_the_invoice_returns_to_dunning(app_db: str) -> None:
    engine = make_engine(app_db)
    with write_session(engine) as session:
        open_dispute(
            session,
            actor=CLERK,
            data=DisputeOpen("INV-1001", "Wrong price", dt.date(2026, 3, 20)),
        )
    engine.dispose()
    at = open_page("collections", "manager")
    assert list(table_with(at, "reason")["age_days"]) == [11]  # 03-20 → 03-31
    at.text_area(key="resolve_note").input("Price confirmed with the customer")
    at.button(key="resolve_dispute_submit").click().run()
    assert not at.exception and not at.error
    (dispute,) = rows_of(app_db, Dispute)
    assert (dispute.closed_date, dispute.resolution.value, dispute.closed_by) == (
        dt.date(2026, 3, 31),
        "closed",
        "manager",
    )
    assert list(table_with(at, "level_name")["customer_code"]) == ["C001", "C002"]


def worklist_key(at: AppTest) -> str:
    keys = at.session_state.keys()
    (key,) = [k for k in keys if str(k).startswith("worklist_table_")]
    return key


def select_worklist_row(at: AppTest, row: int) -> AppTest:
    """What a click on a row's selection box sends (AppTest cannot click the grid)."""
    at.session_state[worklist_key(at)] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    return at.run()


def test_the_selected_worklist_row_links_to_its_customer(app_db: str) -> None:
    at = open_page("collections", "manager")
    assert list(at.get("page_link")) == []  # nothing selected yet: no link
    at = select_worklist_row(at, 1)
    (link,) = at.get("page_link")
    assert link.proto.label == "Open C002 · Globex"
    assert "customer=C002" in link.proto.page or "C002" in str(link.proto)


def test_a_selection_never_outlives_the_rows_it_was_made_on(app_db: str) -> None:
    at = open_page("collections", "manager")
    at = select_worklist_row(at, 1)  # C002, second of two
    at.text_input(key="worklist_minimum").input("100.00").run()  # now only C001 is listed
    assert not at.exception
    assert list(table_with(at, "score")["customer_code"]) == ["C001"]
    assert list(at.get("page_link")) == []  # the old selection is gone, not pointing at C001


def test_statement_downloads_on_the_customers_page(app_db: str) -> None:
    at = open_page("customers", "finance")
    labels = [e.proto.label for e in at.get("download_button")]
    assert "Statement PDF" in labels and "Statement CSV" in labels
    # C001's one letter, at its highest level due, in one expander.
    assert [e.label for e in at.expander if " due (" in e.label] == [
        "Second notice due (1 invoice)"
    ]

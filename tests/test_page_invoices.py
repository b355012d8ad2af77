"""The Invoices page: search, entering an invoice, the detail view and its actions by role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.errors import AppTestError

from billing.db import make_engine, read_session, write_session
from billing.errors import PermissionDenied
from billing.models import Adjustment, Invoice, InvoiceStatus
from billing.roles import Actor, Role
from billing.services import InvoiceCreate, LineCreate, create_invoice
from tests.app_support import log_in, page, page_text, start

LINES = "new_invoice_lines"
NEW_FORM_KEYS = (
    "new_invoice_customer",
    "new_invoice_number",
    "new_invoice_issue_date",
    "new_invoice_due_date",
    "new_invoice_post",
    "new_invoice_submit",
)


def open_invoices_page(role: str) -> AppTest:
    at = log_in(start(), role)
    at.switch_page(page("invoices")).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Invoices"]
    return at


def set_lines(at: AppTest, *rows: dict[str, Any]) -> AppTest:
    """What typing rows into the line editor leaves in its state (AppTest cannot type into it)."""
    at.session_state[LINES] = {"edited_rows": {}, "added_rows": list(rows), "deleted_rows": []}
    return at.run()


def line(description: str, quantity: str, unit_price: str, tax_rate: str = "") -> dict[str, Any]:
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "tax_rate": tax_rate,
    }


def invoices_in_db(url: str) -> dict[str, tuple[str, int, dt.date]]:
    engine = make_engine(url)
    with read_session(engine) as s:
        rows = s.execute(
            select(Invoice.invoice_number, Invoice.status, Invoice.total_minor, Invoice.due_date)
        ).all()
    engine.dispose()
    return {n: (InvoiceStatus(st).value, t, d) for n, st, t, d in rows}


def listed(at: AppTest) -> list[str]:
    return list(at.dataframe[0].value["invoice_number"])


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def test_search_by_number_or_customer(app_db: str) -> None:
    at = open_invoices_page("finance")
    at.text_input(key="invoices_search").input("globex").run()
    assert listed(at) == ["INV-2001"]
    at.text_input(key="invoices_search").input("100").run()
    assert listed(at) == ["INV-1002", "INV-1001"]  # newest first
    at.multiselect(key="invoices_status").select("posted").run()
    assert listed(at) == ["INV-1001"]
    at.text_input(key="invoices_search").input("nothing like it").run()
    assert [i.value for i in at.info] == ["No invoices match these filters."]


def test_clerk_enters_and_posts_an_invoice(app_db: str) -> None:
    at = open_invoices_page("clerk")
    assert at.text_input(key="new_invoice_number").value == "INV-2002"  # after INV-2001
    assert at.checkbox(key="new_invoice_post").value is True
    assert at.date_input(key="new_invoice_issue_date").value == dt.date.today()
    at.selectbox(key="new_invoice_customer").select("C002")
    at.date_input(key="new_invoice_issue_date").set_value(dt.date(2026, 3, 2)).run()
    assert "Due 2026-04-01 (issue date + 30 days' terms)" in page_text(at)
    set_lines(at, line("Parts", "2", "45.50", "10"), line("Delivery", "1", "5.00"))
    # Net 2 × 45.50 + 5.00 = 96.00; tax 91.00 × 10% = 9.10; total 105.10.
    assert {k: metrics(at)[k] for k in ("Net", "Tax", "Total")} == {
        "Net": "$96.00",
        "Tax": "$9.10",
        "Total": "$105.10",
    }
    assert not at.warning
    at.button(key="new_invoice_submit").click().run()
    assert not at.exception
    assert not at.error
    assert [t.value for t in at.toast] == ["Invoice INV-2002 posted: $105.10"]
    assert invoices_in_db(app_db)["INV-2002"] == ("posted", 10510, dt.date(2026, 4, 1))
    assert "INV-2002" in listed(at)
    # The form starts over: the next number, no lines; the detail shows the new invoice.
    assert at.text_input(key="new_invoice_number").value == "INV-2003"
    assert at.data_editor(key=LINES).value.empty
    assert metrics(at)["Total"] == "$0.00"
    assert at.selectbox(key="invoice_detail").value == "INV-2002"
    assert metrics(at)["Invoice total"] == "$105.10"


def test_a_draft_with_an_explicit_due_date(app_db: str) -> None:
    at = open_invoices_page("clerk")
    at.selectbox(key="new_invoice_customer").select("C001")
    at.text_input(key="new_invoice_number").input("DRAFT-9")
    at.date_input(key="new_invoice_issue_date").set_value(dt.date(2026, 3, 2))
    at.date_input(key="new_invoice_due_date").set_value(dt.date(2026, 3, 9))
    at.checkbox(key="new_invoice_post").uncheck().run()
    assert "Due 2026-03-09 (as entered)" in page_text(at)
    set_lines(at, line("Retainer", "1", "250"))
    at.button(key="new_invoice_submit").click().run()
    assert [t.value for t in at.toast] == ["Invoice DRAFT-9 saved as a draft: $250.00"]
    assert invoices_in_db(app_db)["DRAFT-9"] == ("draft", 25000, dt.date(2026, 3, 9))


def test_invalid_lines_show_every_problem_and_write_nothing(app_db: str) -> None:
    at = open_invoices_page("clerk")
    before = invoices_in_db(app_db)
    at.selectbox(key="new_invoice_customer").select("C001").run()
    set_lines(at, line("Widget", "2", "12.345"), line("", "abc", "10"), line("Ok", "1", "3.00"))
    expected = (
        "Please fix:\n"
        "- Line 1: unit price '12.345' has more than 2 decimal places for USD\n"
        "- Line 2: description is required\n"
        "- Line 2: quantity 'abc' is not a number: use digits and a point, like 1.5"
    )
    assert [w.value for w in at.warning] == [expected]
    assert metrics(at)["Total"] == "$3.00"  # only the valid line counts toward the total
    at.button(key="new_invoice_submit").click().run()
    assert [e.value for e in at.error] == [expected]
    assert not at.toast
    assert invoices_in_db(app_db) == before
    assert not at.button(key="new_invoice_submit").disabled  # re-armed to try again


def test_the_service_refusal_is_shown(app_db: str) -> None:
    at = open_invoices_page("clerk")
    at.selectbox(key="new_invoice_customer").select("C001")
    at.text_input(key="new_invoice_number").input("INV-1001").run()  # already in use
    set_lines(at, line("Again", "1", "1"))
    at.button(key="new_invoice_submit").click().run()
    assert [e.value for e in at.error] == ["invoice number 'INV-1001' is already in use"]
    assert not at.toast
    assert at.text_input(key="new_invoice_number").value == "INV-1001"  # kept to correct


def test_double_submit_writes_once(app_db: str) -> None:
    at = open_invoices_page("clerk")
    at.selectbox(key="new_invoice_customer").select("C002").run()
    set_lines(at, line("Parts", "1", "10"))
    at.button(key="new_invoice_submit").click().run()
    assert not at.exception
    created = sorted(set(invoices_in_db(app_db)) - {"INV-1001", "INV-1002", "INV-2001"})
    assert created == ["INV-2002"]
    # The saved form is a new, empty one: its button cannot be pressed a second time.
    assert at.button(key="new_invoice_submit").disabled
    with pytest.raises(AppTestError, match="disabled"):
        at.button(key="new_invoice_submit").click()


def test_a_click_arriving_while_pending_continues_the_same_submission(app_db: str) -> None:
    at = open_invoices_page("clerk")
    at.selectbox(key="new_invoice_customer").select("C002").run()
    set_lines(at, line("Parts", "1", "10"))
    # The first click's flag is set, its run was interrupted by the second click: the next
    # run carries on once, with the button disabled meanwhile.
    at.session_state["_guard_new_invoice_pending"] = True
    at.run()
    assert [t.value for t in at.toast] == ["Invoice INV-2002 posted: $10.00"]
    at.run()
    created = sorted(set(invoices_in_db(app_db)) - {"INV-1001", "INV-1002", "INV-2001"})
    assert created == ["INV-2002"]
    assert at.button(key="new_invoice_submit").disabled  # a new, empty form


def test_finance_sees_no_forms_and_the_service_refuses_anyway(app_db: str) -> None:
    at = open_invoices_page("finance")
    keys = (
        {w.key for w in at.text_input} | {w.key for w in at.selectbox} | {b.key for b in at.button}
    )
    assert not keys & set(NEW_FORM_KEYS)
    assert not at.data_editor
    at.selectbox(key="invoice_detail").select("INV-1002").run()  # a draft: no post button either
    keys = {b.key for b in at.button} | {w.key for w in at.text_input}
    assert not keys & {"invoice_post", "invoice_void", "void_reason", "adjust_submit"}
    engine = make_engine(app_db)
    with pytest.raises(PermissionDenied), write_session(engine) as s:
        create_invoice(
            s,
            actor=Actor("finance", Role.FINANCE),
            data=InvoiceCreate(
                "X-1", "C001", dt.date(2026, 3, 1), [LineCreate("X", Decimal(1), 1)]
            ),
        )
    engine.dispose()


def test_detail_shows_lines_payments_and_history(app_db: str) -> None:
    at = open_invoices_page("finance")
    at.selectbox(key="invoice_detail").select("INV-1001").run()
    assert "**INV-1001** · C001 · Acme Ltd · **posted**" in page_text(at)
    # 1,234.50 − 200.00 (PAY-1) = 1,034.50 open.
    assert metrics(at)["Invoice total"] == "$1,234.50"
    assert metrics(at)["Open"] == "$1,034.50"
    lines, applied, history = (at.dataframe[i].value for i in (1, 2, 3))
    assert list(lines["description"]) == ["Consulting"]
    assert [str(v) for v in lines["total_minor"]] == ["1234.50"]
    assert list(applied["payment_reference"]) == ["PAY-1"]
    assert [str(v) for v in applied["amount_minor"]] == ["200.00"]
    assert list(history["action"]) == ["apply_payment", "post_invoice"]  # newest first
    assert list(history["actor"]) == ["test-clerk", "test-clerk"]
    assert "No credit notes or write-offs." in page_text(at)


def test_clerk_posts_a_draft_but_cannot_void_or_adjust(app_db: str) -> None:
    at = open_invoices_page("clerk")
    at.selectbox(key="invoice_detail").select("INV-1001").run()
    keys = {b.key for b in at.button} | {w.key for w in at.text_input} | {r.key for r in at.radio}
    assert not keys & {
        "invoice_void",
        "void_reason",
        "adjust_kind",
        "adjust_amount",
        "adjust_submit",
    }
    at.selectbox(key="invoice_detail").select("INV-1002").run()
    at.button(key="invoice_post").click().run()
    assert [t.value for t in at.toast] == ["Invoice INV-1002 posted"]
    assert invoices_in_db(app_db)["INV-1002"][0] == "posted"
    assert "**INV-1002** · C001 · Acme Ltd · **posted**" in page_text(at)


def test_manager_voids_an_invoice_without_allocations(app_db: str) -> None:
    at = open_invoices_page("manager")
    at.selectbox(key="invoice_detail").select("INV-2001").run()
    at.button(key="invoice_void").click().run()  # no reason yet: the service says so
    assert [e.value for e in at.error] == ["reason '': is required"]
    assert invoices_in_db(app_db)["INV-2001"][0] == "posted"
    at.text_input(key="void_reason").input("Entered for the wrong customer").run()
    at.button(key="invoice_void").click().run()
    assert not at.error
    assert [t.value for t in at.toast] == ["Invoice INV-2001 voided"]
    assert invoices_in_db(app_db)["INV-2001"][0] == "void"
    assert "Voided: Entered for the wrong customer" in page_text(at)


def test_void_of_a_paid_invoice_is_refused_with_the_services_message(app_db: str) -> None:
    at = open_invoices_page("manager")
    at.selectbox(key="invoice_detail").select("INV-1001").run()
    at.text_input(key="void_reason").input("Mistake")
    at.button(key="invoice_void").click().run()
    assert [e.value for e in at.error] == [
        "invoice INV-1001 has payments or credits applied; it cannot be voided"
    ]
    assert invoices_in_db(app_db)["INV-1001"][0] == "posted"


def test_manager_records_a_credit_note(app_db: str) -> None:
    at = open_invoices_page("manager")
    at.selectbox(key="invoice_detail").select("INV-1001").run()
    assert at.radio(key="adjust_kind").options == ["Credit note", "Write off"]
    at.radio(key="adjust_kind").set_value("credit_note")
    at.text_input(key="adjust_amount").input("34.50")
    at.date_input(key="adjust_date").set_value(dt.date(2026, 3, 1))
    at.text_input(key="adjust_reason").input("Volume discount")
    at.button(key="adjust_submit").click().run()
    assert not at.error
    assert [t.value for t in at.toast] == ["Credit note of $34.50 recorded on INV-1001"]
    # Open: 1,034.50 − 34.50 = 1,000.00.
    assert metrics(at)["Open"] == "$1,000.00"
    engine = make_engine(app_db)
    with read_session(engine) as s:
        rows = s.execute(select(Adjustment.kind, Adjustment.amount_minor, Adjustment.date)).all()
    engine.dispose()
    assert [(k.value, a, d) for k, a, d in rows] == [("credit_note", 3450, dt.date(2026, 3, 1))]
    assert at.text_input(key="adjust_amount").value == ""  # the form starts over


def test_an_adjustment_amount_is_parsed_exactly(app_db: str) -> None:
    at = open_invoices_page("manager")
    at.selectbox(key="invoice_detail").select("INV-2001").run()
    at.text_input(key="adjust_amount").input("1.005")
    at.text_input(key="adjust_reason").input("Rounding")
    at.button(key="adjust_submit").click().run()
    assert [e.value for e in at.error] == ["amount '1.005': has more than 2 decimal places for USD"]
    at.text_input(key="adjust_amount").input("99.01").run()  # correcting re-arms the button
    at.button(key="adjust_submit").click().run()
    assert [e.value for e in at.error] == [
        "amount '99.01': is more than invoice INV-2001's open balance 99.00 USD"
    ]

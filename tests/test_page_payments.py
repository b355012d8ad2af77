"""The Payments page: the suggested allocation, editing it, unapplied cash and applying it later."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session, write_session
from billing.models import Allocation, Invoice, Payment
from billing.services import PaymentCreate, post_payment
from tests.app_support import CLERK, log_in, page, start

ALLOCATION = "payment_allocation"
FORM_KEYS = {
    "payment_customer",
    "payment_reference",
    "payment_received_date",
    "payment_amount",
    "payment_method",
    "payment_submit",
    "allocate_payment",
    "allocate_invoice",
    "allocate_amount",
    "allocate_submit",
}


def open_payments_page(role: str) -> AppTest:
    at = log_in(start(), role)
    at.switch_page(page("payments")).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Payments"]
    return at


def fill(at: AppTest, customer: str, reference: str, received: dt.date, amount: str) -> AppTest:
    at.selectbox(key="payment_customer").select(customer)
    at.text_input(key="payment_reference").input(reference)
    at.date_input(key="payment_received_date").set_value(received)
    at.text_input(key="payment_amount").input(amount)
    return at.run()


def edit_allocation(at: AppTest, edits: dict[int, dict[str, Any]]) -> AppTest:
    """What editing the "Apply" cells leaves in the editor's state (AppTest cannot type there)."""
    at.session_state[ALLOCATION] = {"edited_rows": edits, "added_rows": [], "deleted_rows": []}
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: str(m.value) for m in at.metric}


def seed_payment(url: str, customer: str, reference: str, received: dt.date, minor: int) -> None:
    engine = make_engine(url)
    with write_session(engine) as s:
        post_payment(s, actor=CLERK, data=PaymentCreate(customer, reference, received, minor))
    engine.dispose()


def ledger_state(url: str) -> tuple[dict[str, int], list[tuple[str, str, int]]]:
    """Open balance per invoice, and every allocation as (payment, invoice, amount)."""
    engine = make_engine(url)
    with read_session(engine) as s:
        balances = {
            n: t - st
            for n, t, st in s.execute(
                select(Invoice.invoice_number, Invoice.total_minor, Invoice.settled_minor)
            )
        }
        allocations = [
            tuple(r)
            for r in s.execute(
                select(Payment.payment_reference, Invoice.invoice_number, Allocation.amount_minor)
                .join(Payment, Allocation.payment_id == Payment.id)
                .join(Invoice, Allocation.invoice_id == Invoice.id)
                .order_by(Allocation.id)
            )
        ]
    engine.dispose()
    return balances, allocations


def test_the_suggestion_pays_the_oldest_invoice(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C001", "PAY-2", dt.date(2026, 3, 1), "500.00")
    assert not at.warning
    suggested = at.data_editor(key=ALLOCATION).value
    # INV-1001: 1,234.50 − 200.00 (PAY-1) = 1,034.50 open; the 500.00 all goes there.
    assert suggested[["invoice_number", "open", "apply"]].values.tolist() == [
        ["INV-1001", "1034.50", "500.00"]
    ]
    assert metrics(at) == {"To apply": "$500.00", "Unapplied": "$0.00"}
    at.button(key="payment_submit").click().run()
    assert not at.exception
    assert not at.error
    assert [t.value for t in at.toast] == ["Payment PAY-2 of $500.00 posted: $500.00 to INV-1001"]
    balances, allocations = ledger_state(app_db)
    assert balances["INV-1001"] == 103450 - 50000  # 534.50 left
    assert allocations[-1] == ("PAY-2", "INV-1001", 50000)
    # The form starts over for the next payment; the customer stays chosen.
    assert at.text_input(key="payment_reference").value == ""
    assert at.text_input(key="payment_amount").value == ""
    assert at.selectbox(key="payment_customer").value == "C001"


def test_an_edited_allocation_posts_exactly_what_was_edited(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C001", "PAY-2", dt.date(2026, 3, 1), "500.00")
    edit_allocation(at, {0: {"apply": "300.00"}})
    # 500.00 − 300.00 = 200.00 stays on account.
    assert metrics(at) == {"To apply": "$300.00", "Unapplied": "$200.00"}
    at.button(key="payment_submit").click().run()
    assert not at.error
    assert [t.value for t in at.toast] == [
        "Payment PAY-2 of $500.00 posted: $300.00 to INV-1001, $200.00 unapplied"
    ]
    balances, allocations = ledger_state(app_db)
    assert balances["INV-1001"] == 103450 - 30000
    assert allocations[-1] == ("PAY-2", "INV-1001", 30000)
    # The rest is listed as unapplied cash.
    unapplied = at.dataframe[-1].value
    assert unapplied[["payment_reference", "customer_code"]].values.tolist() == [["PAY-2", "C001"]]
    assert [str(v) for v in unapplied["unapplied_minor"]] == ["200.00"]


def test_applying_nothing_leaves_it_all_on_account(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C001", "PAY-2", dt.date(2026, 3, 1), "80.00")
    edit_allocation(at, {0: {"apply": ""}})
    at.button(key="payment_submit").click().run()
    assert [t.value for t in at.toast] == ["Payment PAY-2 of $80.00 posted: $80.00 unapplied"]
    assert ledger_state(app_db)[0]["INV-1001"] == 103450


def test_a_wrong_allocation_is_named_and_nothing_is_written(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C001", "PAY-2", dt.date(2026, 3, 1), "2000.00")
    edit_allocation(at, {0: {"apply": "1100.001"}})
    assert [w.value for w in at.warning] == [
        "Please fix:\n- INV-1001: apply '1100.001' has more than 2 decimal places for USD"
    ]
    edit_allocation(at, {0: {"apply": "1100.00"}})
    problem = "INV-1001: apply 1100.00 is more than its open balance 1034.50"
    assert [w.value for w in at.warning] == [f"Please fix:\n- {problem}"]
    before = ledger_state(app_db)
    at.button(key="payment_submit").click().run()
    assert [e.value for e in at.error] == [f"Please fix:\n- {problem}"]
    assert not at.toast
    assert ledger_state(app_db) == before


def test_an_amount_is_parsed_exactly(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C001", "PAY-2", dt.date(2026, 3, 1), "1,000")
    expected = (
        "Please fix:\n- Amount '1,000' is not an amount: use a point for decimals "
        "and no thousands separators, like 1234.50"
    )
    assert [w.value for w in at.warning] == [expected]
    before = ledger_state(app_db)
    at.button(key="payment_submit").click().run()
    assert [e.value for e in at.error] == [expected]
    assert ledger_state(app_db) == before


def test_invoices_issued_after_the_receipt_are_not_offered(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C001", "PAY-0", dt.date(2026, 1, 5), "100.00")  # INV-1001 is issued 10 Jan
    assert not at.data_editor
    assert "no open invoices issued by 2026-01-05" in at.info[0].value
    assert metrics(at) == {"To apply": "$0.00", "Unapplied": "$100.00"}
    at.button(key="payment_submit").click().run()
    assert [t.value for t in at.toast] == ["Payment PAY-0 of $100.00 posted: $100.00 unapplied"]


def test_a_pending_click_posts_once(app_db: str) -> None:
    at = open_payments_page("clerk")
    fill(at, "C002", "PAY-7", dt.date(2026, 3, 1), "99.00")
    # The first click set the flag and its run was cut short by a second click: the next run
    # carries the same submission on, once; the one after finds a fresh, empty form.
    at.session_state["_guard_payment_pending"] = True
    at.run()
    assert [t.value for t in at.toast] == ["Payment PAY-7 of $99.00 posted: $99.00 to INV-2001"]
    at.run()
    assert not at.error
    payments = [a for a in ledger_state(app_db)[1] if a[0] == "PAY-7"]
    assert payments == [("PAY-7", "INV-2001", 9900)]


def test_finance_reads_unapplied_cash_and_sees_no_forms(app_db: str) -> None:
    seed_payment(app_db, "C002", "G-1", dt.date(2026, 3, 2), 15000)  # 99.00 to INV-2001, 51.00 left
    at = open_payments_page("finance")
    keys = {w.key for w in [*at.selectbox, *at.text_input, *at.date_input, *at.button]}
    assert not keys & FORM_KEYS
    unapplied = at.dataframe[0].value
    assert unapplied[["customer_code", "payment_reference"]].values.tolist() == [["C002", "G-1"]]
    assert [str(v) for v in unapplied["unapplied_minor"]] == ["51.00"]


def test_no_unapplied_cash_says_so(app_db: str) -> None:
    at = open_payments_page("finance")
    assert [i.value for i in at.info] == [
        "No unapplied cash: every payment received is applied to invoices."
    ]


def test_clerk_applies_cash_on_account_later(app_db: str) -> None:
    # Received 5 Jan, before INV-1001 was issued: all 300.00 stays on account.
    seed_payment(app_db, "C001", "EARLY", dt.date(2026, 1, 5), 30000)
    at = open_payments_page("clerk")
    assert at.selectbox(key="allocate_invoice").options == ["Oldest first", "INV-1001"]
    at.selectbox(key="allocate_invoice").select("INV-1001")
    at.text_input(key="allocate_amount").input("100.00")
    at.button(key="allocate_submit").click().run()
    assert not at.error
    assert [t.value for t in at.toast] == [
        "Applied from payment EARLY: $100.00 to INV-1001, $200.00 unapplied"
    ]
    assert [str(v) for v in at.dataframe[-1].value["unapplied_minor"]] == ["200.00"]
    at.selectbox(key="allocate_invoice").select("Oldest first")
    at.button(key="allocate_submit").click().run()
    assert [t.value for t in at.toast] == ["Applied from payment EARLY: $200.00 to INV-1001"]
    # 1,034.50 − 100.00 − 200.00 = 734.50 open.
    assert ledger_state(app_db)[0]["INV-1001"] == 103450 - 10000 - 20000
    assert [i.value for i in at.info] == [
        "No unapplied cash: every payment received is applied to invoices."
    ]


def test_applying_more_than_is_left_shows_the_services_message(app_db: str) -> None:
    seed_payment(app_db, "C001", "EARLY", dt.date(2026, 1, 5), 30000)
    at = open_payments_page("clerk")
    at.text_input(key="allocate_amount").input("300.01")
    at.button(key="allocate_submit").click().run()
    assert [e.value for e in at.error] == [
        "amount '300.01': is more than the 300.00 USD left unapplied"
    ]
    assert not at.toast


def test_a_replayed_submission_of_the_same_form_posts_once(app_db: str) -> None:
    # A click whose run committed but was cut short before the form was cleared: the next run
    # submits the same form again with the same idempotency key, and gets the first result.
    at = open_payments_page("clerk")
    for _ in range(2):
        fill(at, "C001", "PAY-5", dt.date(2026, 3, 1), "500.00")
        edit_allocation(at, {0: {"apply": "120.00"}})
        at.session_state["_guard_payment_token"] = "form-render-1"
        at.session_state["_guard_payment_pending"] = True
        at.run()
        assert not at.error
        assert [t.value for t in at.toast] == [
            "Payment PAY-5 of $500.00 posted: $120.00 to INV-1001, $380.00 unapplied"
        ]
    allocations = [a for a in ledger_state(app_db)[1] if a[0] == "PAY-5"]
    assert allocations == [("PAY-5", "INV-1001", 12000)]
    assert ledger_state(app_db)[0]["INV-1001"] == 103450 - 12000

"""A clerk's day through the pages: an invoice and a payment entered in the app move the aging.

Only the pages are used, as a clerk would: the Aging page before, the
Invoices form, the Payments form, the Aging page after. The as-of date is set
once in the address bar (`?as_of=`) and carried from page to page.
"""

from __future__ import annotations

import datetime as dt

from streamlit.testing.v1 import AppTest

from tests.app_support import log_in, page, start
from tests.test_page_invoices import line, set_lines


def aging_metrics(at: AppTest) -> dict[str, str]:
    at.switch_page(page("aging")).run()
    assert not at.exception
    assert at.date_input(key="as_of").value == dt.date(2026, 3, 31)
    return {m.label: str(m.value) for m in at.metric}


def test_an_invoice_and_a_payment_entered_by_a_clerk_move_the_aging(app_db: str) -> None:
    at = log_in(start(as_of="2026-03-31"), "clerk")

    # Before, at 2026-03-31: INV-1001 open 1,234.50 − 200.00 = 1,034.50, due 02-09 (50 days
    # late) and INV-2001 99.00, due 02-19 (40 days late): both 31-60, total 1,133.50.
    before = aging_metrics(at)
    assert (before["Total"], before["31-60"], before["current"]) == (
        "$1,133.50",
        "$1,133.50",
        "$0.00",
    )

    # A new invoice for C002 issued 03-10, due 04-09 (30 days' terms): 2 × 100.00 + 10 % tax
    # = 220.00, current at 03-31.
    at.switch_page(page("invoices")).run()
    at.selectbox(key="new_invoice_customer").select("C002")
    at.text_input(key="new_invoice_number").input("INV-3001")
    at.date_input(key="new_invoice_issue_date").set_value(dt.date(2026, 3, 10)).run()
    set_lines(at, line("Parts", "2", "100.00", "10"))
    at.button(key="new_invoice_submit").click().run()
    assert not at.exception
    assert [t.value for t in at.toast] == ["Invoice INV-3001 posted: $220.00"]
    middle = aging_metrics(at)
    # 1,133.50 + 220.00 = 1,353.50; the new invoice is not yet due.
    assert (middle["Total"], middle["current"], middle["31-60"]) == (
        "$1,353.50",
        "$220.00",
        "$1,133.50",
    )

    # C002 pays 250.00 on 03-20: oldest due first, INV-2001 takes 99.00 and INV-3001 151.00.
    at.switch_page(page("payments")).run()
    at.selectbox(key="payment_customer").select("C002")
    at.text_input(key="payment_reference").input("CHQ-77")
    at.date_input(key="payment_received_date").set_value(dt.date(2026, 3, 20))
    at.text_input(key="payment_amount").input("250.00").run()
    at.button(key="payment_submit").click().run()
    assert not at.exception
    assert not at.error
    after = aging_metrics(at)
    # current 220.00 − 151.00 = 69.00; 31-60 1,133.50 − 99.00 = 1,034.50; total 1,103.50.
    assert (after["Total"], after["current"], after["31-60"]) == (
        "$1,103.50",
        "$69.00",
        "$1,034.50",
    )

"""The app in a real browser: login, each role's menu, and a clerk's day end to end.

AppTest covers each page's logic; these tests cover what only a browser sees:
the authenticator's cookie component, the reruns after a login click, the
sidebar navigation, the canvas data editor, and toasts. Selectors are the
labels a user reads (`get_by_label`, `get_by_role`) and Streamlit's test ids;
page authors: keep the labels these tests name.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import (
    FIRST_RUN_QUIET_MS,
    choose,
    demo_password,
    download_text,
    fill_new_rows,
    go,
    log_in,
    metric_value,
    nav_titles,
    settle,
    type_into,
    widget,
)

pytestmark = pytest.mark.browser

CLERK_PAGES = ["Overview", "Invoices", "Payments", "Aging", "Collections", "Customers"]
ANALYST_PAGES = [
    "Overview",
    "Invoices",
    "Payments",
    "Aging",
    "Collections",
    "DSO & collections",
    "Cash flow",
    "Customers",
]
MENUS = {
    "clerk": CLERK_PAGES,
    "finance": ANALYST_PAGES,
    "manager": [*ANALYST_PAGES, "Import"],
    "admin": [*ANALYST_PAGES, "Import", "Admin"],
}


def shows_no_data(page: Page) -> None:
    for test_id in ("stMetric", "stDataFrame", "stPlotlyChart", "stSidebarNavLink"):
        expect(page.get_by_test_id(test_id)).to_have_count(0)
    expect(page.get_by_text("Northwind Traders")).to_have_count(0)  # a demo customer


def test_logged_out_sees_only_the_login_form(page: Page, app_server: str) -> None:
    expect(page.get_by_role("heading", name="Billing Office", level=1)).to_be_visible()
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    shows_no_data(page)

    # A bookmarked page address shows the same form, not the page.
    page.goto(f"{app_server}/invoices")
    settle(page, quiet_ms=FIRST_RUN_QUIET_MS)
    expect(page.get_by_role("textbox", name="Username")).to_be_visible()
    expect(page.get_by_role("heading", name="Invoices")).to_have_count(0)
    shows_no_data(page)

    page.get_by_role("textbox", name="Username").fill("clerk")
    page.get_by_role("textbox", name="Password").fill(demo_password("clerk") + "-wrong")
    page.get_by_role("button", name="Log in").click()
    settle(page)
    expect(page.get_by_text("Username or password is incorrect.")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    shows_no_data(page)


def test_each_role_sees_exactly_its_pages(page: Page) -> None:
    """One tab, each demo login in turn: "Log out" must take the pages away again."""
    menus = {}
    for role in MENUS:
        log_in(page, role)
        menus[role] = nav_titles(page)
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("textbox", name="Username")).to_be_visible()
        settle(page, quiet_ms=FIRST_RUN_QUIET_MS)
        shows_no_data(page)
    assert menus == MENUS


# C002 Northwind Traders bills in USD and owes money in the demo ledger.
CUSTOMER = "C002"
INVOICE_NUMBER = "INV-BROWSER-1"
PAYMENT_REFERENCE = "PAY-BROWSER-1"


def amount(text: str) -> Decimal:
    """`"$49,115.19"` → `Decimal("49115.19")` (as `ui.format.money` prints USD)."""
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def aging_total(page: Page, customer_code: str) -> Decimal:
    """The customer's total on the Aging page, from the table's own CSV download (0 if absent)."""
    rows = csv.DictReader(io.StringIO(download_text(page, "aging_table_csv")))
    rows_by_header = [{k.strip().lower(): v for k, v in row.items()} for row in rows]
    totals = [
        Decimal(row["total"])
        for row in rows_by_header
        if row["customer"].startswith(f"{customer_code} ")
    ]
    assert len(totals) <= 1
    return totals[0] if totals else Decimal(0)


def test_clerk_invoice_and_payment_move_the_aging_total(page: Page) -> None:
    log_in(page, "clerk")

    go(page, "Aging")
    choose(page, "currency", "USD")  # the demo ledger also holds EUR, which sorts first
    before = aging_total(page, CUSTOMER)
    before_all = amount(metric_value(page, "Total"))
    assert before > Decimal("120.00")  # so the payment below applies in full

    go(page, "Invoices")
    page.get_by_text("New invoice", exact=True).click()
    choose(page, "new_invoice_customer", CUSTOMER)
    type_into(page, "new_invoice_number", INVOICE_NUMBER)
    # 2 x 150.00 = 300.00 net; 10 % tax = 30.00; total 330.00.
    fill_new_rows(page, "new_invoice_lines", [["Browser test consulting", "2", "150.00", "10"]])
    expect(widget(page, "new_invoice_post").get_by_role("checkbox")).to_be_checked()
    assert metric_value(page, "Total") == "$330.00"
    page.get_by_role("button", name="Save invoice").click()
    settle(page)
    expect(page.get_by_test_id("stToast")).to_contain_text(
        f"Invoice {INVOICE_NUMBER} posted: $330.00"
    )
    invoice_total = Decimal("330.00")

    go(page, "Payments")
    choose(page, "payment_customer", CUSTOMER)
    type_into(page, "payment_reference", PAYMENT_REFERENCE)
    type_into(page, "payment_amount", "120.00")
    applied = amount(metric_value(page, "To apply"))
    assert applied == Decimal("120.00")  # less than the customer owes: all of it applies
    page.get_by_role("button", name="Post payment").click()
    settle(page)
    expect(page.get_by_test_id("stToast")).to_contain_text(
        f"Payment {PAYMENT_REFERENCE} of $120.00 posted"
    )

    go(page, "Aging")
    after = aging_total(page, CUSTOMER)
    # Owed before + 330.00 invoiced − 120.00 applied: up by exactly 210.00.
    assert after - before == invoice_total - applied == Decimal("210.00")
    assert amount(metric_value(page, "Total")) - before_all == Decimal("210.00")

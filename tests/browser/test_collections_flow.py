"""Collections in a real browser: a manager's round from the worklist to the statement.

Issue 6's "done when": a manager goes from the worklist to a call note, a
promise, a reminder letter and a statement PDF without leaving the app, and
every figure agrees with the reports. AppTest covers each page's logic; this
covers what only a browser sees: the worklist's row selection and its page
link, the note form's date fields, toasts, and the files the download
buttons hand over (PDFs read back with pypdf).

The as-of date is the seeded ledger's own "today", typed into the sidebar,
so the same customer comes first on every run whatever the clock says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect
from pypdf import PdfReader

from tests.app_server import SEED_TODAY
from tests.browser.conftest import (
    choose,
    dataframe,
    download_bytes,
    download_text,
    go,
    grid_rows,
    log_in,
    select_grid_row,
    set_date,
    settle,
    widget,
)
from tests.browser.test_browser_flow import aging_total

pytestmark = pytest.mark.browser

AS_OF = SEED_TODAY
CURRENCY = "USD"  # the demo ledger's base currency; it also holds EUR
FOLLOW_UP = AS_OF + dt.timedelta(days=7)
PROMISED_FOR = AS_OF + dt.timedelta(days=10)
CALL_NOTE = "Browser test: called accounts payable about the overdue invoices."
PROMISE_NOTE = "Browser test: promised to pay everything overdue."


def pdf_text(data: bytes) -> str:
    """All the text of a PDF, page after page."""
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def grouped(amount: Decimal) -> str:
    """`Decimal("48905.19")` → `"48,905.19"`, as the statement PDF prints amounts."""
    return f"{amount:,}"


def pick(page: Page, key: str, option: str) -> None:
    """`choose`, unless `option` is already chosen (typing it again would not open the list)."""
    box = widget(page, key).get_by_role("combobox")
    if box.input_value() != option:
        choose(page, key, option)
    expect(box).to_have_value(option)


def worklist_csv(page: Page) -> dict[str, dict[str, str]]:
    """The worklist as its CSV download has it (every column, not only those in view), by code."""
    rows = csv.DictReader(io.StringIO(download_text(page, "worklist_csv")))
    return {row["customer_code"]: row for row in rows}


def toast(page: Page, text: str) -> None:
    expect(page.get_by_test_id("stToast").filter(has_text=text)).to_be_visible()


def download_from(page: Page, button: Locator) -> bytes:
    """The file a download button (found by its label, not its key) hands the browser."""
    with page.expect_download() as download:
        button.click()
    return Path(download.value.path()).read_bytes()


def letter_items(email: str) -> tuple[dict[str, Decimal], Decimal]:
    """The invoices and total a letter's e-mail text names: {number: open}, total.

    The table sits between two dashed rules; the total line follows the second.
    """
    lines = email.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    assert len(rules) == 2, email
    items = {}
    for line in lines[rules[0] + 1 : rules[1]]:
        cells = line.split()
        items[cells[0]] = Decimal(cells[-1])
    total_line = lines[rules[1] + 1].split()
    assert total_line[0] == "Total" and total_line[-1] == CURRENCY, email
    return items, Decimal(total_line[-2])


def send_letter(page: Page, panel: Locator, *, code: str, level_name: str) -> dict[str, Decimal]:
    """Download the letter shown in `panel`, check its PDF, mark it sent; its invoices."""
    email = panel.get_by_test_id("stCode").locator("code").inner_text()
    items, total = letter_items(email)
    assert items and sum(items.values()) == total
    assert f"Customer {code}" in email

    text = pdf_text(download_from(page, panel.get_by_role("button", name="Letter PDF")))
    assert level_name in text
    for number, open_amount in items.items():
        assert re.search(rf"{re.escape(number)}.*{re.escape(str(open_amount))}", text), number
    assert f"{total} {CURRENCY}" in text

    panel.get_by_role("button", name="Mark as sent").click()
    settle(page)
    toast(page, f"{level_name} to {code} recorded as sent.")
    return items


def test_manager_goes_from_the_worklist_to_a_statement(page: Page) -> None:
    log_in(page, "manager")

    # 1. The worklist, highest score first; its first row opens that customer.
    go(page, "Collections")
    pick(page, "currency", CURRENCY)
    set_date(page, "as_of", AS_OF)
    worklist = dataframe(page, "Score")
    expect(worklist.locator("tbody tr").first).to_be_attached()
    rows = grid_rows(worklist)
    scores = [int(row["Score"]) for row in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 100 for s in scores)
    first = rows[0]
    code, name = first["Customer"], first["Name"]
    overdue = Decimal(first[f"Overdue ({CURRENCY})"])
    disputed = Decimal(first[f"Disputed ({CURRENCY})"])
    assert overdue > 0

    select_grid_row(worklist, 0)
    page.get_by_role("link", name=f"Open {code} · {name}").click()
    expect(page.get_by_role("heading", name="Customers", level=1)).to_be_visible()
    settle(page)
    expect(widget(page, "customer_pick").get_by_role("combobox")).to_have_value(f"{code} · {name}")
    expect(widget(page, "as_of").locator("input[type=date]")).to_have_value(AS_OF.isoformat())
    expect(page.get_by_role("heading", name=f"{code} · {name}")).to_be_visible()

    # 2. A call with a follow-up date, then a promise to pay what is overdue.
    pick(page, "note_kind", "Call")
    set_date(page, "note_date", AS_OF)
    set_date(page, "follow_up_date", FOLLOW_UP)
    widget(page, "note_text").get_by_role("textbox").fill(CALL_NOTE)
    widget(page, "note_submit").get_by_role("button").click()
    settle(page)
    toast(page, f"Call logged for {code}.")

    pick(page, "note_kind", "Promise to pay")
    set_date(page, "note_date", AS_OF)
    set_date(page, "promise_date", PROMISED_FOR)
    widget(page, "promise_amount").get_by_role("textbox").fill(str(overdue))
    widget(page, "note_text").get_by_role("textbox").fill(PROMISE_NOTE)
    widget(page, "note_submit").get_by_role("button").click()
    settle(page)
    toast(page, f"Promise to pay logged for {code}.")

    activity = dataframe(page, "By")
    expect(activity.locator("td", has_text=PROMISE_NOTE)).to_have_count(1)
    logged = {row["Note"]: row for row in grid_rows(activity)}
    assert logged[CALL_NOTE]["Kind"] == "call"
    assert logged[CALL_NOTE]["Date"] == AS_OF.isoformat()
    assert logged[CALL_NOTE]["Follow up"] == FOLLOW_UP.isoformat()
    assert logged[PROMISE_NOTE]["Kind"] == "promise"

    promises = grid_rows(dataframe(page, "Pay by"))
    ours = [row for row in promises if row["Pay by"] == PROMISED_FOR.isoformat()]
    assert len(ours) == 1, promises
    assert ours[0]["Made on"] == AS_OF.isoformat()
    assert Decimal(ours[0][f"Promised ({CURRENCY})"]) == overdue
    assert ours[0]["Status"] == "open"

    # 3. A reminder letter: from the customer's page if one is due, else from Collections.
    due = page.get_by_test_id("stExpander").filter(
        has=page.locator("summary", has_text=re.compile(r" due \(\d+ invoices?\)$"))
    )
    if due.count():
        expander = due.first
        title = expander.locator("summary").inner_text().strip()
        level_name = re.sub(r" due \(\d+ invoices?\)$", "", title.splitlines()[-1])
        expander.locator("summary").click()
        letter_invoices = send_letter(page, expander, code=code, level_name=level_name)
        expect(page.locator("summary", has_text=f"{level_name} due (")).to_have_count(0)
    else:
        go(page, "Collections")
        pick(page, "currency", CURRENCY)
        page.get_by_role("tab", name="Dunning letters").click()
        picked = widget(page, "letter_pick")
        choice = picked.get_by_role("combobox").input_value()
        letter_code, _, rest = choice.partition(" · ")
        level_name = rest.rpartition(" — ")[2]
        letters = dataframe(page, "Invoices")
        listed = {row["Customer"]: row for row in grid_rows(letters)}
        panel = page.get_by_test_id("stTabPanel").filter(has=picked)
        items = send_letter(page, panel, code=letter_code, level_name=level_name)
        # The letter asked for what the letters-due table listed, and is no longer due.
        assert sum(items.values()) == Decimal(listed[letter_code][f"Open ({CURRENCY})"])
        if listed.keys() - {letter_code}:
            cell = letters.locator("td", has_text=re.compile(rf"^{re.escape(letter_code)}$"))
            expect(cell).to_have_count(0)
        else:
            expect(page.get_by_text(f"No letters due in {CURRENCY} at {AS_OF}.")).to_be_visible()
        letter_invoices = {}
        go(page, "Customers")
        expect(widget(page, "customer_pick").get_by_role("combobox")).to_have_value(
            f"{code} · {name}"
        )

    # 4. The statement: PDF and CSV, against the worklist and the Aging report.
    statement = list(csv.DictReader(io.StringIO(download_text(page, "statement_csv"))))
    summary = {row["kind"]: row for row in statement if row["section"] == "summary"}
    open_items = [row for row in statement if row["section"] == "open_item"]
    assert {row["customer_code"] for row in statement} == {code}
    assert {row["statement_date"] for row in statement} == {AS_OF.isoformat()}
    open_total = Decimal(summary["open_items_total"]["amount"])
    balance_due = Decimal(summary["balance_due"]["amount"])
    assert sum(Decimal(row["amount"]) for row in open_items) == open_total
    # The worklist's Overdue is the open amount past due and not disputed; Disputed the rest.
    late = [row for row in open_items if int(row["days_past_due"]) > 0]
    assert sum(Decimal(r["amount"]) for r in late if r["disputed"] == "false") == overdue
    assert sum(Decimal(r["amount"]) for r in open_items if r["disputed"] == "true") == disputed
    # The letter named open invoices with the amounts the statement shows.
    amounts = {row["reference"]: Decimal(row["amount"]) for row in open_items}
    assert {number: amounts.get(number) for number in letter_invoices} == letter_invoices

    text = pdf_text(download_bytes(page, "statement_pdf"))
    assert name in text
    assert re.search(rf"Balance due\s*{re.escape(grouped(balance_due))}", text), text

    go(page, "Aging")
    pick(page, "currency", CURRENCY)
    expect(widget(page, "as_of").locator("input[type=date]")).to_have_value(AS_OF.isoformat())
    assert aging_total(page, code) == open_total

    # 5. The call's follow-up date takes the customer off today's worklist, until asked for.
    go(page, "Collections")
    pick(page, "currency", CURRENCY)  # Aging -> Collections does not keep it (see the report)
    assert code not in worklist_csv(page)
    widget(page, "worklist_snoozed").locator("label").first.click()
    expect(widget(page, "worklist_snoozed").get_by_role("switch")).to_be_checked()
    settle(page)
    snoozed = worklist_csv(page)[code]
    assert snoozed["follow_up_date"] == FOLLOW_UP.isoformat()
    assert snoozed["open_promise_date"] == PROMISED_FOR.isoformat()
    assert Decimal(snoozed["overdue_minor"]) == overdue

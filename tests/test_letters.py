"""Dunning letters: one per customer, built from the dunning run, as e-mail text and as a PDF.

The ledger below at 2026-03-31 with the default levels 7/30/60:
- C001: INV-1 11 days late (Reminder), INV-2 21 (Reminder), INV-3 58 (Second
  notice) → one Second notice naming all three, each with its own level.
- C002: INV-4 89 days late → the Final notice.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import pypdf
import pytest

from billing.dunning import DEFAULT_DUNNING_LEVELS, parse_dunning_levels
from billing.errors import NotFound
from billing.letters import DunningLetter, LetterItem, build_letter, letter_pdf, letter_text
from queries.collections import collections_from_rows
from queries.ledger import LedgerFrames, ledger_from_rows

D = dt.date
AS_OF = D(2026, 3, 31)
LEVELS = DEFAULT_DUNNING_LEVELS


def customer_row(customer_id: int, code: str, name: str, currency: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "customer_code": code,
        "customer_name": name,
        "currency": currency,
        "payment_terms_days": 30,
        "credit_limit_minor": 0,
    }


def invoice_row(
    invoice_id: int, customer_id: int, currency: str, due: dt.date, total: int
) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "invoice_number": f"INV-{invoice_id}",
        "customer_id": customer_id,
        "currency": currency,
        "issue_date": due - dt.timedelta(days=30),
        "due_date": due,
        "total_minor": total,
    }


def ledger() -> LedgerFrames:
    return ledger_from_rows(
        customers=[
            customer_row(1, "C001", "Åsa Øberg AB", "USD"),
            customer_row(2, "C002", "Kuwait Trading", "KWD"),
        ],
        invoices=[
            invoice_row(1, 1, "USD", D(2026, 3, 20), 10_000),  # 11 days late: Reminder
            invoice_row(2, 1, "USD", D(2026, 3, 10), 2_550),  # 21 days late: Reminder
            invoice_row(3, 1, "USD", D(2026, 2, 1), 99_999),  # 58 days late: Second notice
            invoice_row(4, 2, "KWD", D(2026, 1, 1), 1_234_567),  # 89 days late: Final notice
        ],
        allocations=[
            {"payment_id": 1, "invoice_id": 1, "applied_date": D(2026, 3, 25), "amount_minor": 1},
        ],
    )


def build(code: str, **kwargs: Any) -> DunningLetter:
    return build_letter(
        kwargs.pop("frames", ledger()),
        kwargs.pop("collections", collections_from_rows()),
        customer_code=code,
        as_of=kwargs.pop("as_of", AS_OF),
        levels=kwargs.pop("levels", LEVELS),
        company_name="Billing Office Ltd",
    )


def sent(invoice_id: int, level: int) -> dict[str, Any]:
    """A letter item: `invoice_id` had the letter at `level` on 2026-03-30."""
    return {
        "activity_id": 1,
        "invoice_id": invoice_id,
        "customer_id": 1 if invoice_id <= 3 else 2,
        "dunning_level": level,
        "open_minor": 1,
        "sent_date": D(2026, 3, 30),
    }


def reminder() -> DunningLetter:
    """C001's letter once INV-3 has had its Second notice: a Reminder for INV-2 and INV-1."""
    return build("C001", collections=collections_from_rows(letter_items=[sent(3, 2)]))


def pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


# --- building a letter from the run -----------------------------------------------------------


def test_one_letter_per_customer_at_its_highest_level_listing_every_invoice() -> None:
    letter = build("C001")
    assert (letter.customer_name, letter.currency, letter.level, letter.level_name) == (
        "Åsa Øberg AB",
        "USD",
        2,  # max(1, 1, 2)
        "Second notice",
    )
    assert not letter.is_final  # level 2 of 3
    assert letter.items == (
        # Oldest due first, each at its own level. INV-1: 10000 − 1 paid = 9999 open.
        LetterItem("INV-3", D(2026, 1, 2), D(2026, 2, 1), 58, 99_999, 2, "Second notice"),
        LetterItem("INV-2", D(2026, 2, 8), D(2026, 3, 10), 21, 2_550, 1, "Reminder"),
        LetterItem("INV-1", D(2026, 2, 18), D(2026, 3, 20), 11, 9_999, 1, "Reminder"),
    )
    assert letter.total_minor == 112_548  # 99999 + 2550 + 9999
    assert letter.invoice_numbers == ("INV-3", "INV-2", "INV-1")
    final = build("C002")
    assert (final.level, final.level_name, final.is_final) == (3, "Final notice", True)


def test_an_invoice_that_had_its_level_leaves_the_letter() -> None:
    letter = reminder()
    assert (letter.level, letter.level_name) == (1, "Reminder")
    assert letter.invoice_numbers == ("INV-2", "INV-1")
    assert letter.total_minor == 12_549  # 2550 + 9999


def test_nothing_due_is_not_found() -> None:
    with pytest.raises(NotFound) as caught:
        build("C002", collections=collections_from_rows(letter_items=[sent(4, 3)]))
    assert str(caught.value) == ("customer 'C002' has no invoices due for a letter on 2026-03-31")
    # On 02-05 INV-3 (due 02-01) is 4 days late, under the Reminder's 7; the rest not yet due.
    with pytest.raises(NotFound, match="'C001' has no invoices due for a letter on 2026-02-05"):
        build("C001", as_of=D(2026, 2, 5))


# --- the e-mail text -----------------------------------------------------------------------------


def test_the_text_is_a_complete_email() -> None:
    text = letter_text(build("C001"))
    lines = text.splitlines()
    assert lines[0] == "Subject: Second notice: 3 overdue invoices, 1125.48 USD (C001)"
    assert "Dear Åsa Øberg AB," in lines
    assert re.search(r"^INV-3 +2026-01-02 +2026-02-01 +58 +Second notice +999\.99$", text, re.M)
    assert re.search(r"^INV-2 +2026-02-08 +2026-03-10 +21 +Reminder +25\.50$", text, re.M)
    assert re.search(r"^INV-1 +2026-02-18 +2026-03-20 +11 +Reminder +99\.99$", text, re.M)
    assert re.search(r"^Total +1125\.48 USD$", text, re.M)  # 999.99 + 25.50 + 99.99
    assert "well past due" in text  # the tone of the highest level, level 2
    assert lines[-2:] == ["Kind regards,", "Billing Office Ltd"]


def test_amounts_use_the_currencys_digits() -> None:
    text = letter_text(build("C002"))
    # KWD has 3 digits: 1234567 minor units are 1234.567.
    assert "1234.567" in text
    assert re.search(r"^Total +1234\.567 KWD$", text, re.M)
    assert "1234.57" not in text.replace("1234.567", "")


def test_the_tone_follows_the_highest_level() -> None:
    first = letter_text(reminder())
    middle = letter_text(build("C001"))  # levels 2, 1, 1: the level-2 tone
    final = letter_text(build("C002"))
    assert "friendly reminder" in first
    assert "final notice" not in first.lower()
    assert "well past due" in middle and "friendly" not in middle
    assert "final notice" in final and "further steps" in final
    assert "further steps" not in first and "further steps" not in middle
    assert "Subject: Final notice: 1 overdue invoice, 1234.567 KWD (C002)" in final


def test_a_final_letter_may_also_name_invoices_at_lower_levels() -> None:
    # On 2026-04-02 INV-3 is 60 days late (02-01 + 60 = 04-02): Final notice; the others
    # are 13 and 23 days late: Reminders. The letter is final because its highest level is.
    letter = build("C001", as_of=D(2026, 4, 2))
    assert [(i.invoice_number, i.level_name) for i in letter.items] == [
        ("INV-3", "Final notice"),
        ("INV-2", "Reminder"),
        ("INV-1", "Reminder"),
    ]
    assert letter.is_final and "further steps" in letter_text(letter)


def test_a_single_level_ladder_sends_a_final_notice_at_once() -> None:
    levels = parse_dunning_levels("14:Demand")
    letter = build("C001", levels=levels)
    assert letter.is_final
    assert letter.invoice_numbers == ("INV-3", "INV-2")  # INV-1 is 11 days late: under 14
    assert "further steps" in letter_text(letter)


# --- the PDF ----------------------------------------------------------------------------------


def test_the_pdf_says_what_the_email_says() -> None:
    data = letter_pdf(build("C001"))
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for expected in (
        "Billing Office Ltd",
        "Second notice",
        "Reminder",
        "Åsa Øberg AB",
        "C001",
        "INV-1",
        "INV-2",
        "INV-3",
        "999.99",
        "99.99",
        "25.50",
        "1125.48 USD",
        "2026-03-31",
    ):
        assert expected in text, expected
    assert pypdf.PdfReader(io.BytesIO(data)).metadata.title == (
        "Second notice: 3 overdue invoices, 1125.48 USD (C001)"
    )


def test_the_final_notice_pdf_in_kwd() -> None:
    text = pdf_text(letter_pdf(build("C002")))
    assert "Final notice" in text
    assert "INV-4" in text
    assert "1234.567 KWD" in text
    assert "further steps" in text


def test_a_long_letter_runs_onto_more_pages() -> None:
    items = tuple(
        LetterItem(f"INV-{i:04d}", D(2026, 1, 1), D(2026, 1, 31), 59, 100 + i, 2, "Second notice")
        for i in range(90)
    )
    letter = DunningLetter(
        "Billing Office Ltd", "C001", "Acme", "USD", 2, "Second notice", False, AS_OF, items
    )
    reader = pypdf.PdfReader(io.BytesIO(letter_pdf(letter)))
    assert len(reader.pages) >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "INV-0000" in text and "INV-0089" in text
    # Σ (100 + i) for i in 0..89 = 9000 + 4005 = 13005 minor = 130.05.
    assert "130.05 USD" in text


def test_a_long_level_name_is_cut_to_its_pdf_column() -> None:
    name = "Demand before legal action " + "x" * 33  # 60 characters, the longest allowed
    item = LetterItem("INV-1", D(2026, 1, 1), D(2026, 1, 31), 59, 100, 1, name)
    letter = DunningLetter(
        "Billing Office Ltd", "C001", "Acme", "USD", 1, name, True, AS_OF, (item,)
    )
    text = pdf_text(letter_pdf(letter))
    assert "Demand" in text and "…" in text  # the column shows the start of it, cut
    assert text.count(name) == 1  # in full only as the heading, not in the table
    assert name in letter_text(letter)  # the e-mail's table widens instead

"""Dunning letters: the e-mail text and the PDF of the one letter due to a customer at a date.

A customer gets one letter at a time, not one per level: it names every
invoice due, each with the level it is due at ("Second notice"), and takes
its level and tone from the highest of them. The tone firms up with that
level: the first is a friendly reminder, the last a final notice that names
further steps, the ones between a firm request. Amounts print with exactly
the currency's digits (`format_amount`), the same figures the statement and
the aging show.

`build_letter` takes the invoices from the dunning run (`queries.dunning`), so
a letter never names an invoice that is settled, disputed or already had its
level; recording it as sent is `billing.services.record_letter_sent`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from fpdf import FPDF

from billing.dunning import DunningLevel, is_final, level_label
from billing.errors import NotFound
from billing.money import format_amount
from billing.pdf import FONT, new_document, pdf_bytes
from queries.collections import CollectionFrames
from queries.dunning import dunning_items
from queries.ledger import LedgerFrames


@dataclass(frozen=True)
class LetterItem:
    """One overdue invoice named in a letter: what was open on it, and the level it is due at."""

    invoice_number: str
    issue_date: dt.date
    due_date: dt.date
    days_past_due: int
    open_minor: int
    level: int
    level_name: str


@dataclass(frozen=True)
class DunningLetter:
    """Everything a letter says; `letter_text` and `letter_pdf` only lay it out.

    `level`, `level_name` and `is_final` are the highest level among the items.
    """

    company_name: str
    customer_code: str
    customer_name: str
    currency: str
    level: int
    level_name: str
    is_final: bool
    letter_date: dt.date
    items: tuple[LetterItem, ...]

    @property
    def total_minor(self) -> int:
        """What the letter asks for: the open balances of its invoices, summed."""
        return sum(item.open_minor for item in self.items)

    @property
    def invoice_numbers(self) -> tuple[str, ...]:
        """The invoices the letter names, as `record_letter_sent` takes them."""
        return tuple(item.invoice_number for item in self.items)

    @property
    def subject(self) -> str:
        """The e-mail's subject line and the PDF's title."""
        count = len(self.items)
        noun = "invoice" if count == 1 else "invoices"
        return (
            f"{self.level_name}: {count} overdue {noun}, {self.amount(self.total_minor)} "
            f"{self.currency} ({self.customer_code})"
        )

    def amount(self, minor: int) -> str:
        """An amount with exactly this letter's currency digits."""
        return format_amount(minor, self.currency)


def _opening(letter: DunningLetter) -> str:
    """The first paragraph: friendly at level 1, firm between, final at the last level."""
    one = len(letter.items) == 1
    these = "the invoice below" if one else f"the {len(letter.items)} invoices below"
    are = "is" if one else "are"
    total = f"{letter.amount(letter.total_minor)} {letter.currency}"
    if letter.is_final:
        return (
            f"This is our final notice: {these} {are} still unpaid, for a total of {total}, "
            "well after the due date. Please pay the full amount within 7 days of this letter."
        )
    if letter.level <= 1:
        return (
            f"This is a friendly reminder that {these} {are} now past due, for a total of "
            f"{total}. Perhaps this has simply been overlooked; if you have already paid, "
            "please disregard this message."
        )
    return (
        f"Our records show that {these} {are} now well past due, for a total of {total} "
        "still unpaid. Please arrange payment promptly, or tell us at once if there is a "
        "reason you cannot."
    )


def _closing(letter: DunningLetter) -> str:
    """The last paragraph: what happens next, in the level's tone."""
    which = "this invoice" if len(letter.items) == 1 else "any of these invoices"
    if letter.is_final:
        return (
            "If payment is not received within 7 days, we will take further steps to "
            "recover the debt without further notice, which may include suspending "
            "deliveries and passing the matter to a collection agency. If you dispute "
            f"{which}, contact us immediately."
        )
    if letter.level <= 1:
        return f"If you have any questions about {which}, just reply to this e-mail."
    return (
        "If payment has crossed with this letter, thank you. If you dispute "
        f"{which}, please reply so we can look into it."
    )


COLUMNS = 6


def _table_rows(letter: DunningLetter) -> list[tuple[str, ...]]:
    """Header and one row per invoice: number, issued, due, days late, its notice, open."""
    rows: list[tuple[str, ...]] = [
        ("Invoice", "Issued", "Due", "Days late", "Notice", f"Open ({letter.currency})")
    ]
    rows += [
        (
            item.invoice_number,
            item.issue_date.isoformat(),
            item.due_date.isoformat(),
            str(item.days_past_due),
            item.level_name,
            letter.amount(item.open_minor),
        )
        for item in letter.items
    ]
    return rows


def letter_text(letter: DunningLetter) -> str:
    """The letter as a complete plain-text e-mail, subject line first."""
    rows = _table_rows(letter)
    total = f"{letter.amount(letter.total_minor)} {letter.currency}"
    last = COLUMNS - 1
    widths = [max(len(row[i]) for row in rows) for i in range(COLUMNS)]
    widths[last] = max(widths[last], len(total))

    def line(cells: Sequence[str]) -> str:
        left = "  ".join(
            cell.ljust(width) for cell, width in zip(cells[:last], widths, strict=False)
        )
        return f"{left}  {cells[last].rjust(widths[last])}".rstrip()

    table = [line(rows[0]), *(line(row) for row in rows[1:])]
    rule = "-" * len(table[0])
    total_line = f"{'Total'.ljust(len(rule) - len(total))}{total}"
    parts = [
        f"Subject: {letter.subject}",
        "",
        f"Dear {letter.customer_name},",
        "",
        _opening(letter),
        "",
        f"Customer {letter.customer_code} · {letter.letter_date.isoformat()}",
        "",
        table[0],
        rule,
        *table[1:],
        rule,
        total_line,
        "",
        _closing(letter),
        "",
        "Kind regards,",
        letter.company_name,
        "",
    ]
    return "\n".join(parts)


def _fit(pdf: FPDF, text: str, room: float) -> str:
    """`text` cut with "…" to fit `room` mm: a long level name never runs into the next column."""
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "…") > room:
        text = text[:-1]
    return text + "…"


def letter_pdf(letter: DunningLetter) -> bytes:
    """The letter as a one-page (or longer) A4 PDF, with the same words as the e-mail."""
    pdf = new_document(title=letter.subject, author=letter.company_name)
    width = pdf.epw
    pdf.set_font(FONT, "B", size=14)
    pdf.cell(width, 8, letter.company_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.cell(width, 6, letter.letter_date.isoformat(), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.cell(width, 5, letter.customer_name, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width, 5, f"Customer {letter.customer_code}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font(FONT, "B", size=12)
    pdf.cell(width, 7, letter.level_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.ln(2)
    pdf.multi_cell(
        width, 5, f"Dear {letter.customer_name},", align="L", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(2)
    pdf.multi_cell(width, 5, _opening(letter), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    columns = [0.18, 0.14, 0.14, 0.11, 0.22, 0.21]
    aligns = ["L", "L", "L", "R", "L", "R"]
    for index, row in enumerate(_table_rows(letter)):
        pdf.set_font(FONT, "B" if index == 0 else "", size=10)
        for cell, share, align in zip(row, columns, aligns, strict=True):
            shown = _fit(pdf, cell, width * share - 2 * pdf.c_margin)
            pdf.cell(width * share, 6, shown, border="B" if index == 0 else 0, align=align)
        pdf.ln(6)
    pdf.set_font(FONT, "B", size=10)
    pdf.cell(width * 0.79, 7, "Total", border="T")
    pdf.cell(
        width * 0.21,
        7,
        f"{letter.amount(letter.total_minor)} {letter.currency}",
        border="T",
        align="R",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font(FONT, size=10)
    pdf.ln(4)
    pdf.multi_cell(width, 5, _closing(letter), align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.cell(width, 5, "Kind regards,", new_x="LMARGIN", new_y="NEXT")
    pdf.cell(width, 5, letter.company_name, new_x="LMARGIN", new_y="NEXT")
    return pdf_bytes(pdf)


def build_letter(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    customer_code: str,
    as_of: dt.date,
    levels: Sequence[DunningLevel],
    company_name: str,
) -> DunningLetter:
    """The one letter due to `customer_code` on `as_of`: every invoice due, at the highest level.

    Raises `NotFound` when that customer has nothing due that day.
    """
    items = (
        dunning_items(ledger, collections, as_of=as_of, levels=levels)
        .filter(pl.col("customer_code") == customer_code)
        .collect()
    )
    if items.is_empty():
        raise NotFound(
            f"customer {customer_code!r} has no invoices due for a letter on {as_of.isoformat()}"
        )
    first = items.row(0, named=True)
    level = int(items["level"].max())  # type: ignore[arg-type]
    return DunningLetter(
        company_name=company_name,
        customer_code=customer_code,
        customer_name=first["customer_name"],
        currency=first["currency"],
        level=level,
        level_name=level_label(levels, level),
        is_final=is_final(levels, level),
        letter_date=as_of,
        items=tuple(
            LetterItem(
                invoice_number=row["invoice_number"],
                issue_date=row["issue_date"],
                due_date=row["due_date"],
                days_past_due=row["days_past_due"],
                open_minor=row["open_minor"],
                level=row["level"],
                level_name=row["level_name"],
            )
            for row in items.iter_rows(named=True)
        ),
    )

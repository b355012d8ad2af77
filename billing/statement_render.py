"""A `Statement` as a PDF for the customer and as a CSV for scripts and spreadsheets.

Both take the data `billing.statement.build_statement` made and only lay it
out: amounts are printed with exactly the currency's digits
(`billing.money.format_amount`; the PDF adds thousands separators), so a
JPY statement shows no decimals and a KWD one three.

The CSV is one row per line of the statement, in a single table that scripts
can filter on `section` (and concatenate across customers: every row repeats
who and when it is about):

    company_name, customer_code, customer_name, currency, statement_date,
    section, kind, reference, date, due_date, days_past_due, disputed,
    original_amount, amount

- `aging`: one row per bucket (`kind` = `current`, `1-30`, …) and a `total` row;
  `amount` is the open amount in that bucket.
- `open_item`: `kind` = `invoice`, `reference` = invoice number, `date` = issue
  date, `due_date`, `days_past_due` (negative: not due yet), `disputed`
  (`true`/`false`: a dispute open at the statement date), `original_amount`
  (the invoice total) and `amount` (what is open at the statement date).
- `activity`: `kind` = `payment`, `credit_note` or `write_off`, `reference`
  (payment reference or invoice number), `date`, `amount` (positive, as booked).
- `summary`: `activity_from` (its `date` is the first day of the recent
  activity window, which ends on the statement date), `open_items_total`,
  `unapplied_cash` and `balance_due` (= open_items_total − unapplied_cash).

Amounts are exact decimal text (`1234.50`); text cells are neutralised with
`billing.export.neutralise`, since customer names and references are user text.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence

from fpdf import FPDF
from fpdf.enums import TableBordersLayout
from fpdf.fonts import FontFace

from billing.export import neutralise
from billing.money import format_amount
from billing.pdf import FONT, new_document, pdf_bytes
from billing.statement import Statement

CSV_COLUMNS = (
    "company_name",
    "customer_code",
    "customer_name",
    "currency",
    "statement_date",
    "section",
    "kind",
    "reference",
    "date",
    "due_date",
    "days_past_due",
    "disputed",
    "original_amount",
    "amount",
)
KIND_NAMES = {"payment": "Payment", "credit_note": "Credit note", "write_off": "Write-off"}
BALANCE_IN_WORDS = (
    "Balance due is the total of the open items less unapplied cash "
    "(payments received but not yet applied to an invoice)."
)
HEADINGS = FontFace(emphasis="BOLD", fill_color=(235, 239, 244))
TOTALS = FontFace(emphasis="BOLD")
LINE_HEIGHT = 6.0
FOOTER_Y = -12.0


# --- CSV -------------------------------------------------------------------------------


def statement_csv(statement: Statement) -> bytes:
    """The statement as UTF-8 CSV, one row per line item (layout in the module docstring)."""
    s = statement
    money = s.currency

    def amount(minor: int | None) -> str:
        return "" if minor is None else format_amount(minor, money)

    rows: list[dict[str, str]] = []

    def add(section: str, kind: str, **cells: str) -> None:
        rows.append({"section": section, "kind": kind, **cells})

    for bucket in s.aging:
        add("aging", bucket.label, amount=amount(bucket.amount_minor))
    add("aging", "total", amount=amount(s.open_total_minor))
    for item in s.open_items.iter_rows(named=True):
        add(
            "open_item",
            "invoice",
            reference=item["invoice_number"],
            date=item["issue_date"].isoformat(),
            due_date=item["due_date"].isoformat(),
            days_past_due=str(item["days_past_due"]),
            disputed="true" if item["disputed"] else "false",
            original_amount=amount(item["total_minor"]),
            amount=amount(item["open_minor"]),
        )
    for line in s.activity.iter_rows(named=True):
        add(
            "activity",
            line["kind"],
            reference=line["reference"],
            date=line["date"].isoformat(),
            amount=amount(line["amount_minor"]),
        )
    add("summary", "activity_from", date=_first_day(s).isoformat())
    add("summary", "open_items_total", amount=amount(s.open_total_minor))
    add("summary", "unapplied_cash", amount=amount(s.unapplied_minor))
    add("summary", "balance_due", amount=amount(s.balance_due_minor))

    who = {
        "company_name": s.company_name,
        "customer_code": s.customer_code,
        "customer_name": s.customer_name,
        "currency": s.currency,
        "statement_date": s.as_of.isoformat(),
    }
    amounts = {"original_amount", "amount"}  # our own exact text: never an apostrophe
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        cells = {**who, **row}
        writer.writerow(
            cells.get(c, "") if c in amounts else neutralise(cells.get(c, "")) for c in CSV_COLUMNS
        )
    return out.getvalue().encode("utf-8")


# --- PDF -------------------------------------------------------------------------------


def statement_pdf(statement: Statement) -> bytes:
    """The statement as an A4 PDF: header, aging summary, open items, recent activity, totals.

    Long item lists run over several pages with the table's headings repeated;
    every page's footer names the customer, the date and "page i of n".
    """
    s = statement
    pdf = new_document(
        title=f"Statement of account {s.customer_code} {s.as_of.isoformat()}",
        author=s.company_name,
    )
    _header(pdf, s)
    _aging(pdf, s)
    _open_items(pdf, s)
    _activity(pdf, s)
    _totals(pdf, s)
    _footers(pdf, s)
    return pdf_bytes(pdf)


def shown_amount(minor: int, currency: str) -> str:
    """`format_amount` with thousands separators, for people: `1,234.50`, `-12,000` (JPY)."""
    text = format_amount(minor, currency)
    sign = "-" if text.startswith("-") else ""
    whole, _, fraction = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}"
    return f"{sign}{grouped}.{fraction}" if fraction else f"{sign}{grouped}"


def _first_day(s: Statement) -> dt.date:
    """The first day recent activity covers: the window is (since, as_of]."""
    return s.since + dt.timedelta(days=1)


def _header(pdf: FPDF, s: Statement) -> None:
    width = pdf.epw
    pdf.set_font(FONT, "B", 16)
    pdf.multi_cell(width, 8, s.company_name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "B", 13)
    pdf.cell(width, 8, "Statement of account", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    facts = [
        ("Customer", f"{s.customer_code} · {s.customer_name}"),
        ("Statement date", s.as_of.isoformat()),
        ("Currency", s.currency),
    ]
    for label, value in facts:
        pdf.set_font(FONT, "B", 10)
        pdf.cell(34, LINE_HEIGHT, label)
        pdf.set_font(FONT, "", 10)
        pdf.multi_cell(width - 34, LINE_HEIGHT, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)


def _section_title(pdf: FPDF, title: str) -> None:
    # Keep a title with at least a few lines of its table: no orphan heading at a page's foot.
    if pdf.get_y() + 4 * LINE_HEIGHT > pdf.page_break_trigger:
        pdf.add_page()
    pdf.set_font(FONT, "B", 12)
    pdf.cell(pdf.epw, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)


def _table(
    pdf: FPDF,
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    widths: Sequence[float],
    numeric_from: int,
    totals: Sequence[tuple[str, int]] | None = None,
) -> None:
    """A table whose columns from `numeric_from` on are right-aligned; headings repeat per page.

    `totals` is a last, bold row of (text, columns spanned) cells.
    """
    align = tuple("LEFT" if i < numeric_from else "RIGHT" for i in range(len(headings)))
    with pdf.table(
        col_widths=tuple(widths),
        width=pdf.epw,
        text_align=align,
        headings_style=HEADINGS,
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        line_height=LINE_HEIGHT,
        repeat_headings=1,
    ) as table:
        table.row(list(headings))
        for cells in rows:
            table.row(list(cells))
        if totals is not None:
            row = table.row()
            for cell, span in totals:
                row.cell(cell, style=TOTALS, colspan=span)
    pdf.ln(5)


def _aging(pdf: FPDF, s: Statement) -> None:
    _section_title(pdf, "Aging summary (days past due date)")
    labels = [bucket.label for bucket in s.aging]
    amounts = [shown_amount(bucket.amount_minor, s.currency) for bucket in s.aging]
    count = len(labels) + 1
    _table(
        pdf,
        [*labels, "Total"],
        [[*amounts, shown_amount(s.open_total_minor, s.currency)]],
        widths=[1] * count,
        numeric_from=0,
    )


def _days(days: int) -> str:
    return str(days) if days > 0 else "current"


def _open_items(pdf: FPDF, s: Statement) -> None:
    _section_title(pdf, f"Open items at {s.as_of.isoformat()}")
    if s.open_items.height == 0:
        pdf.cell(pdf.epw, LINE_HEIGHT, "No open items.", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
        return
    rows = [
        [
            item["invoice_number"],
            item["issue_date"].isoformat(),
            item["due_date"].isoformat(),
            _days(item["days_past_due"]),
            shown_amount(item["total_minor"], s.currency),
            shown_amount(item["open_minor"], s.currency),
            "disputed" if item["disputed"] else "",
        ]
        for item in s.open_items.iter_rows(named=True)
    ]
    _table(
        pdf,
        ["Invoice", "Issued", "Due", "Days past due", "Original", "Open", "Note"],
        rows,
        widths=[28, 21, 21, 30, 28, 28, 18],
        numeric_from=3,
        totals=[
            ("Total open items", 5),
            (shown_amount(s.open_total_minor, s.currency), 1),
            ("", 1),
        ],
    )
    if s.disputed_count:
        pdf.set_font(FONT, "", 8)
        pdf.multi_cell(
            pdf.epw,
            4.5,
            "disputed: a dispute on this invoice is open and under review.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)


def _activity(pdf: FPDF, s: Statement) -> None:
    window = f"{_first_day(s).isoformat()} to {s.as_of.isoformat()}"
    _section_title(pdf, f"Recent activity, {window}")
    if s.activity.height == 0:
        pdf.cell(
            pdf.epw,
            LINE_HEIGHT,
            "No payments, credit notes or write-offs in this period.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(4)
        return
    rows = [
        [
            line["date"].isoformat(),
            KIND_NAMES.get(line["kind"], line["kind"]),
            line["reference"],
            shown_amount(line["amount_minor"], s.currency),
        ]
        for line in s.activity.iter_rows(named=True)
    ]
    _table(
        pdf, ["Date", "Kind", "Reference", "Amount"], rows, widths=[25, 30, 89, 30], numeric_from=3
    )


def _totals(pdf: FPDF, s: Statement) -> None:
    _section_title(pdf, f"Balance ({s.currency})")
    lines = [
        ("Open items total", s.open_total_minor),
        ("Less unapplied cash", s.unapplied_minor),
        ("Balance due", s.balance_due_minor),
    ]
    for label, minor in lines:
        bold = label == "Balance due"
        pdf.set_font(FONT, "B" if bold else "", 11 if bold else 10)
        pdf.cell(pdf.epw - 40, 7, label)
        pdf.cell(40, 7, shown_amount(minor, s.currency), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9)
    pdf.ln(2)
    words = BALANCE_IN_WORDS
    if s.balance_due_minor < 0:
        words += " A negative balance is a credit in your favour."
    pdf.multi_cell(pdf.epw, 5, words, new_x="LMARGIN", new_y="NEXT")


def _footers(pdf: FPDF, s: Statement) -> None:
    """Write each page's footer once the page count is known."""
    pages = pdf.pages_count
    pdf.set_auto_page_break(auto=False)
    pdf.set_font(FONT, "", 8)
    for number in range(1, pages + 1):
        pdf.page = number
        pdf.set_xy(pdf.l_margin, FOOTER_Y)
        pdf.cell(
            pdf.epw,
            5,
            f"{s.customer_code} · statement at {s.as_of.isoformat()} · page {number} of {pages}",
            align="C",
        )

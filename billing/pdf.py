"""The one PDF set-up every document shares: page size, margins, a Unicode font.

fpdf2's built-in fonts cover Latin-1 only, so a customer called "Åsa Øberg",
"Zoë" or "Łódź Sp. z o.o." would break a statement. DejaVu Sans (shipped in
`billing/fonts`, Bitstream Vera licence) covers Latin, Greek, Cyrillic and
more; characters it lacks (emoji, most Asian scripts) print as blanks rather
than failing the document. Statements and dunning letters build on
`new_document` and return bytes from `pdf_bytes`.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

FONT_DIR = Path(__file__).with_name("fonts")
FONT = "DejaVu"


def new_document(*, title: str, author: str) -> FPDF:
    """An A4 portrait document with DejaVu Sans regular and bold, one page open."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creator("Billing Office")
    pdf.set_margins(left=18, top=18, right=18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
    pdf.set_font(FONT, size=10)
    pdf.add_page()
    return pdf


def pdf_bytes(pdf: FPDF) -> bytes:
    """The finished document, ready to save or download."""
    return bytes(pdf.output())

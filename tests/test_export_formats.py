"""Excel downloads: amounts with their currency's digits, grouped counts, frozen bold header."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import polars as pl

from billing.export import number_formats, xlsx_bytes

FRAME = pl.DataFrame(
    {
        "customer": ["C001 · Acme"],
        "usd": [Decimal("1234.50")],
        "jpy": [Decimal("1234")],
        "kwd": [Decimal("1.250")],
        "days": [45],
        "dso": [41.37],
    },
    schema={
        "customer": pl.String,
        "usd": pl.Decimal(38, 2),
        "jpy": pl.Decimal(38, 0),
        "kwd": pl.Decimal(38, 3),
        "days": pl.Int64,
        "dso": pl.Float64,
    },
)


def cell_formats(workbook: bytes) -> dict[str, str]:
    """Cell reference → the number format code Excel applies to it ("General" if none)."""
    with zipfile.ZipFile(io.BytesIO(workbook)) as z:
        styles = z.read("xl/styles.xml").decode()
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    codes = {"0": "General"} | dict(
        re.findall(r'<numFmt numFmtId="(\d+)" formatCode="([^"]*)"', styles)
    )
    cell_xfs = re.search(r"<cellXfs[^>]*>(.*?)</cellXfs>", styles, re.S)
    assert cell_xfs is not None
    xf_format = re.findall(r'<xf numFmtId="(\d+)"', cell_xfs.group(1))
    found = {}
    for ref, style in re.findall(r'<c r="([A-Z]+\d+)"(?: s="(\d+)")?', sheet):
        found[ref] = codes[xf_format[int(style or 0)]]
    return found


def test_each_amount_keeps_its_currency_digits_in_excel() -> None:
    formats = cell_formats(xlsx_bytes(FRAME))
    # Row 2 holds the values: B usd, C jpy, D kwd, E days, F dso.
    assert formats["B2"] == "#,##0.00"  # 1,234.50, not Excel's General "1234.5"
    assert formats["C2"] == "#,##0"  # yen have no minor unit
    assert formats["D2"] == "#,##0.000"  # dinars have three
    assert formats["E2"] == "#,##0"
    assert formats["F2"] == "#,##0.00"
    assert formats["A2"] == "General"  # text stays text


def test_header_is_bold_and_frozen() -> None:
    with zipfile.ZipFile(io.BytesIO(xlsx_bytes(FRAME))) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        styles = z.read("xl/styles.xml").decode()
    assert '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>' in sheet
    assert "<b/>" in styles


def test_number_formats_by_dtype() -> None:
    assert number_formats(FRAME.schema) == {
        "usd": "#,##0.00",
        "jpy": "#,##0",
        "kwd": "#,##0.000",
        "days": "#,##0",
        "dso": "#,##0.00",
    }

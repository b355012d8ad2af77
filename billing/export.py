"""Safe cells for files that people open in spreadsheets.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run
as a formula by Excel and LibreOffice (OWASP "CSV injection"): a customer named
`=HYPERLINK(...)` would become a live link in a manager's export. Text cells
get a leading apostrophe, which spreadsheets show as plain text. Amounts are
written by our own formatter and never pass through here. `csv_bytes` and
`xlsx_bytes` are the downloads every report table offers.
"""

from __future__ import annotations

import io

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str | None) -> str:
    """`text` safe to put in a CSV or Excel cell; None becomes an empty cell."""
    if text is None:
        return ""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def _safe_text(frame: pl.DataFrame) -> pl.DataFrame:
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.col(name).map_elements(neutralise, return_dtype=pl.String, skip_nulls=False)
        for name in text
    )


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV with formula-like text neutralised; decimals stay exact text."""
    return _safe_text(frame).write_csv().encode("utf-8")


def xlsx_bytes(frame: pl.DataFrame, *, sheet: str = "Report") -> bytes:
    """`frame` as an Excel workbook: bold header, frozen header row, fitted columns.

    Decimal amounts keep their currency's digits in the cell format; text is
    neutralised as in CSV, because Excel runs formulas typed as text too.
    """
    buffer = io.BytesIO()
    _safe_text(frame).write_excel(
        buffer,
        worksheet=sheet[:31],
        autofit=True,
        freeze_panes=(1, 0),
        header_format={"bold": True, "bottom": 1, "bg_color": "#f3f5f8"},
        dtype_formats={pl.Date: "yyyy-mm-dd"},
        include_header=True,
    )
    return buffer.getvalue()

"""Safe cells for files that people open in spreadsheets.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run
as a formula by Excel and LibreOffice (OWASP "CSV injection"): a customer named
`=HYPERLINK(...)` would become a live link in a manager's export. Text cells
get a leading apostrophe, which spreadsheets show as plain text. Amounts are
written by our own formatter and never pass through here. `csv_bytes` and
`xlsx_bytes` are the downloads every report table offers.

Decisions beyond OWASP's list: a cell whose first non-blank character is one
of those is neutralised too (`"  =1+1"`: some importers trim first), and so
are the full-width forms `＝＋－＠` (East Asian input methods type them, and
Excel converts them on entry). A cell that is exactly a plain number, such as
`-12.50`, is left alone: it cannot run, and an apostrophe would turn a
negative amount into text. Column names are neutralised like cells.
"""

from __future__ import annotations

import io
import re

import polars as pl

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def neutralise(text: str | None) -> str:
    """`text` safe to put in a CSV or Excel cell; None becomes an empty cell."""
    if text is None:
        return ""
    if not text.startswith(FORMULA_STARTS) and not text.lstrip().startswith(FORMULA_STARTS):
        return text
    return text if _PLAIN_NUMBER.fullmatch(text) else f"'{text}"


def _safe_text(frame: pl.DataFrame) -> pl.DataFrame:
    text = [
        name
        for name, dtype in frame.schema.items()
        if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    ]
    # In this thread, not `map_elements`: Polars would call back into Python from
    # its worker threads, which can deadlock the server against another session's
    # `to_pandas` (see `ui.format._as_text`).
    safe = frame.with_columns(
        pl.Series(name, [neutralise(v) for v in frame.get_column(name).cast(pl.String)])
        for name in text
    )
    return safe.rename({name: neutralise(name) for name in safe.columns})


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV with formula-like text neutralised; decimals stay exact text."""
    return _safe_text(frame).write_csv().encode("utf-8")


def number_formats(schema: pl.Schema) -> dict[str, str]:
    """Excel number formats by column: amounts with their currency's digits, grouped.

    A Decimal column (an amount from `ui.format.money_table`) gets exactly its
    scale's digits, so 12.50 shows as 12.50, not Excel's General "12.5";
    whole numbers (days, counts, scores) are grouped; ratios show two decimals.
    """
    formats = {}
    for name, dtype in schema.items():
        if isinstance(dtype, pl.Decimal):
            scale = dtype.scale or 0
            formats[name] = "#,##0" + ("." + "0" * scale if scale else "")
        elif dtype.is_integer():
            formats[name] = "#,##0"
        elif dtype.is_float():
            formats[name] = "#,##0.00"
    return formats


def xlsx_bytes(frame: pl.DataFrame, *, sheet: str = "Report") -> bytes:
    """`frame` as an Excel workbook: bold header, frozen header row, fitted columns.

    Amounts keep their currency's digits in the cell format (`number_formats`);
    text is neutralised as in CSV, because Excel runs formulas typed as text too.
    """
    buffer = io.BytesIO()
    # Excel has no time zones: a zoned timestamp (the audit log's, in UTC) is
    # written as the wall-clock time it shows in its own zone.
    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    naive = frame.with_columns(pl.col(c).dt.replace_time_zone(None) for c in zoned)
    safe = _safe_text(naive)
    safe.write_excel(
        buffer,
        column_formats=number_formats(safe.schema),  # type: ignore[arg-type]
        worksheet=sheet[:31],
        autofit=True,
        freeze_panes=(1, 0),
        header_format={"bold": True, "bottom": 1, "bg_color": "#f3f5f8"},
        dtype_formats={pl.Date: "yyyy-mm-dd", pl.Datetime: "yyyy-mm-dd hh:mm:ss"},
        include_header=True,
    )
    return buffer.getvalue()

"""Safe cells for files that people open in spreadsheets.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is run
as a formula by Excel and LibreOffice (OWASP "CSV injection"): a customer named
`=HYPERLINK(...)` would become a live link in a manager's export. Text cells
get a leading apostrophe, which spreadsheets show as plain text. Amounts are
written by our own formatter and never pass through here.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str | None) -> str:
    """`text` safe to put in a CSV or Excel cell; None becomes an empty cell."""
    if text is None:
        return ""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text

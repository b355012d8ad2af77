"""Tables with their downloads: every report table offers CSV and Excel beside it.

The files hold exactly the rows and columns on screen (amounts as exact
decimals with the currency's digits) and are built only when clicked.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import streamlit as st

from billing.export import csv_bytes, xlsx_bytes

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_MIME = "application/pdf"


def download_buttons(frame: pl.DataFrame, *, name: str, key: str) -> None:
    """CSV and Excel buttons for `frame`, saved as `name.csv` / `name.xlsx`."""
    buttons = st.container(horizontal=True)
    buttons.download_button(
        "CSV",
        data=lambda: csv_bytes(frame),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        icon=":material/download:",
    )
    buttons.download_button(
        "Excel",
        data=lambda: xlsx_bytes(frame, sheet=name),
        file_name=f"{name}.xlsx",
        mime=XLSX_MIME,
        key=f"{key}_xlsx",
        on_click="ignore",
        icon=":material/download:",
    )


def table(
    frame: pl.DataFrame, config: dict[str, Any], *, name: str, key: str, **options: Any
) -> None:
    """A table as `st.dataframe` shows it, with its CSV and Excel downloads underneath."""
    st.dataframe(frame, hide_index=True, column_config=config, key=key, **options)
    download_buttons(frame, name=name, key=key)

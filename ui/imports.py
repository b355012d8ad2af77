"""CSV imports from the Import page: preview the upload, run the import with a progress bar.

The import itself is `billing.csv_import.import_csv` (the CLI's own code, one
transaction, all or nothing). It reads a file, so the upload is written to a
temporary folder under its own name: every problem then names the file the
user chose (`customers.csv line 3, …`), not a random temporary name.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path, PurePath

import polars as pl
import streamlit as st

from billing.csv_import import ImportFailed, ImportReport, import_csv
from billing.csv_parse import LAYOUTS
from billing.errors import BillingError
from ui.actions import refuse
from ui.auth import current_actor
from ui.db import get_engine

PREVIEW_ROWS = 10


def expected_columns(kind: str) -> pl.DataFrame:
    """The columns a file of `kind` may have (SPEC §4), required ones first."""
    layout = LAYOUTS[kind]
    return pl.DataFrame(
        {
            "column": [*layout.required, *layout.optional],
            "required": ["yes"] * len(layout.required) + ["no"] * len(layout.optional),
        }
    )


def preview(data: bytes, *, rows: int = PREVIEW_ROWS) -> pl.DataFrame | None:
    """The first rows of an upload as text, exactly as written (None if it is not CSV at all).

    Every cell stays a string: the preview shows the file, the import judges it.
    """
    try:
        return pl.read_csv(
            io.BytesIO(data),
            infer_schema=False,
            n_rows=rows,
            encoding="utf8-lossy",
            truncate_ragged_lines=True,
        )
    except (pl.exceptions.PolarsError, ValueError):
        return None


def problems_table(report: ImportReport) -> pl.DataFrame:
    """Every problem of a refused import: file line, column, value and what is wrong."""
    return pl.DataFrame(
        {
            "line": [p.line for p in report.errors],
            "column": [p.column for p in report.errors],
            "value": [p.value for p in report.errors],
            "problem": [p.message for p in report.errors],
        },
        schema={"line": pl.Int64, "column": pl.String, "value": pl.String, "problem": pl.String},
    )


def run_import(*, kind: str, filename: str, data: bytes, dry_run: bool) -> ImportReport | None:
    """Import the upload as the signed-in user, drawing a progress bar while it runs.

    Returns the report, whose `errors` are non-empty when the import was
    refused (nothing written); None when it could not start (a refusal is
    shown, e.g. the role may not import).
    """
    actor = current_actor()
    bar = st.progress(0.0, text="Checking the file…")

    def progress(done: int, total: int) -> None:
        share = done / total if total else 1.0
        bar.progress(min(share, 1.0), text=f"{done:,} of {total:,} rows")

    name = PurePath(filename.replace("\\", "/")).name or "upload.csv"
    with tempfile.TemporaryDirectory(prefix="billing-import-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            report = import_csv(
                get_engine(), actor=actor, kind=kind, path=path, dry_run=dry_run, progress=progress
            )
        except ImportFailed as failure:
            report = failure.report
        except BillingError as error:
            bar.empty()
            refuse(error)
            return None
    bar.progress(1.0, text="Done")
    return report

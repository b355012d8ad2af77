"""Import: load customers, invoices, payments or adjustments from a CSV file (managers, admins).

The same all-or-nothing import as `billing import` (SPEC §4): one bad row
refuses the whole file and every problem is listed by line, column and value.
"Check only" runs the whole import and rolls it back, so a file can be tried
before anything is written.
"""

from __future__ import annotations

import streamlit as st

from billing.csv_import import ImportReport
from billing.csv_parse import KINDS
from billing.roles import Action, may
from ui.actions import SubmitGuard
from ui.auth import current_user
from ui.downloads import table
from ui.imports import PREVIEW_ROWS, expected_columns, preview, problems_table, run_import

_LAST_REPORT = "_import_last_report"

st.title("Import")

if not may(current_user().role, Action.IMPORT_CSV):
    st.info("Importing files is for managers and admins.")
    st.stop()

st.caption(
    "Import in this order: customers, then invoices, payments and adjustments. "
    "Rows already in the ledger with the same content are skipped, so a file can be run again."
)
kind = st.selectbox("What the file holds", options=KINDS, key="import_kind")
st.dataframe(
    expected_columns(kind),
    hide_index=True,
    column_config={
        "column": st.column_config.TextColumn("Column"),
        "required": st.column_config.TextColumn("Required"),
    },
    key="import_columns",
)
st.caption("UTF-8 with a header row; dates as YYYY-MM-DD; amounts like 1234.50 (no separators).")

upload = st.file_uploader("CSV file", type=["csv"], key="import_file")
if upload is None:
    st.info(f"Choose a CSV file of {kind} to see its first rows and check it.")
    st.stop()

content = upload.getvalue()
first_rows = preview(content)
if first_rows is None:
    st.warning("This file could not be read as CSV; check it before importing.")
else:
    st.caption(f"First {min(first_rows.height, PREVIEW_ROWS)} rows of {upload.name}, as written:")
    st.dataframe(first_rows, hide_index=True, key="import_preview")

guard = SubmitGuard("import")
left, right, _ = st.columns([1, 1, 3])
check = left.button("Check only (dry run)", key="import_check", disabled=guard.pending)
with right:
    submit = guard.button("Import", key="import_submit")


def refused(report: ImportReport) -> str:
    count = len(report.errors)
    return (
        f"{upload.name}: {count} problem{'s' if count != 1 else ''} found. "
        "Nothing was written; fix the file and try again."
    )


if submit:
    report = run_import(kind=kind, filename=upload.name, data=content, dry_run=False)
    # Kept for the rerun that `finish` starts: the report is drawn below on that run.
    st.session_state[_LAST_REPORT] = report
    if report is None or report.errors:
        guard.finish(None, problem=refused(report) if report is not None else None)
    guard.finish(report, toast=f"Imported {report.created:,} {kind} from {report.filename}.")
if check:
    report = run_import(kind=kind, filename=upload.name, data=content, dry_run=True)
    if report is not None and report.errors:
        st.error(refused(report))
else:
    # After an import: its refusal (if any) is already shown under the button.
    report = st.session_state.pop(_LAST_REPORT, None)

if report is not None:
    if report.errors:
        table(
            problems_table(report),
            {
                "line": st.column_config.NumberColumn("Line", format="%d"),
                "column": st.column_config.TextColumn("Column"),
                "value": st.column_config.TextColumn("Value"),
                "problem": st.column_config.TextColumn("Problem", width="large"),
            },
            name=f"{kind}-import-problems",
            key="import_errors",
        )
    else:
        st.success(report.summary())

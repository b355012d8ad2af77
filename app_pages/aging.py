"""Aging: who owes what at the as-of date, by how late it is, down to the invoices.

Basis (due or issue date) and bucket boundaries are chosen in the sidebar and
kept in the URL with the as-of date, so a link reopens the same view. The
chart stacks the buckets for the ten largest debtors (the rest as one bar);
the table lists every customer, and the drill-down shows the open invoices
behind any row or cell of it.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from billing.errors import ValidationError
from billing.reports import parse_buckets
from queries.aging import Basis, aging_by_customer, aging_items, aging_totals, bucket_labels
from queries.balances import payment_balances
from ui import data
from ui.downloads import table
from ui.filters import as_of_filter, keep_in_url, url_state
from ui.format import money, money_table
from ui.widgets import (
    Card,
    aging_figure,
    chart_with_table,
    kpi_row,
    report_currency,
)

BASIS_LABELS = {Basis.DUE.value: "Due date", Basis.ISSUE.value: "Issue date"}
TOP_CUSTOMERS = 10

st.title("Aging")

as_of = as_of_filter(default=dt.date.today())
settings = data.settings()
ledger = data.ledger()
currency = report_currency(ledger, preferred=settings.base_currency)

url_state("aging_basis", param="basis", parse=lambda s: Basis(s).value, default=Basis.DUE.value)
basis = st.sidebar.radio(
    "Age by", list(BASIS_LABELS), format_func=BASIS_LABELS.get, key="aging_basis", horizontal=True
)
keep_in_url("aging_basis", param="basis", text=basis)
url_state(
    "aging_buckets",
    param="buckets",
    parse=str,
    default=",".join(str(b) for b in settings.aging_buckets),
)
buckets_text = st.sidebar.text_input(
    "Buckets", key="aging_buckets", help="Bucket boundaries in days, e.g. 30,60,90."
)
keep_in_url("aging_buckets", param="buckets", text=buckets_text.strip() or None)
try:
    boundaries = parse_buckets(buckets_text, field="Buckets")
except ValidationError as error:
    st.error(str(error))
    st.stop()

labels = bucket_labels(boundaries, basis=basis)
in_currency = pl.col("currency") == currency
rows, totals, items, unapplied = pl.collect_all(
    [
        aging_by_customer(ledger, as_of=as_of, basis=basis, boundaries=boundaries).filter(
            in_currency
        ),
        aging_totals(ledger, as_of=as_of, basis=basis, boundaries=boundaries).filter(in_currency),
        aging_items(ledger, as_of=as_of, basis=basis, boundaries=boundaries).filter(in_currency),
        payment_balances(ledger, as_of=as_of)
        .filter(in_currency)
        .select(pl.col("unapplied_minor").sum()),
    ]
)

st.caption(f"At {as_of}, by {BASIS_LABELS[basis].lower()}, amounts in {currency}.")
kpi_row(
    [
        *(Card(label, money(totals.item(0, label), currency)) for label in labels),
        Card("Total", money(totals.item(0, "total"), currency)),
        Card(
            "Unapplied cash",
            money(unapplied.item(), currency),
            help="Cash received by the as-of date and not applied to an invoice.",
        ),
    ]
)
if rows.is_empty():
    st.info(f"Nothing is owed in {currency} at {as_of}.")
    st.stop()

shown, config = money_table(
    rows.select(
        "currency",
        pl.format("{} · {}", "customer_code", "customer_name").alias("customer"),
        *labels,
        "total",
    ),
    {label: label for label in labels} | {"total": "Total"},
)
config["customer"] = st.column_config.TextColumn("Customer")
shown = shown.drop("currency")
st.subheader("By customer")
st.caption(f"The chart shows the {TOP_CUSTOMERS} largest balances; the table lists every one.")
chart_with_table(
    aging_figure(shown, labels, top=TOP_CUSTOMERS),
    shown,
    config,
    name=f"aging_{as_of}_{basis}_{currency}",
    key="aging_table",
)

st.subheader("Open invoices")
names = dict(zip(rows["customer_code"], shown["customer"], strict=True))
if st.session_state.get("aging_drill_customer") not in names:
    st.session_state["aging_drill_customer"] = None
if st.session_state.get("aging_drill_bucket") not in labels:
    st.session_state["aging_drill_bucket"] = None
left, right = st.columns(2)
code = left.selectbox(
    "Drill down",
    list(names),
    index=None,
    format_func=lambda c: names[c],
    placeholder="Choose a customer",
    key="aging_drill_customer",
)
bucket = right.selectbox(
    "Bucket", labels, index=None, placeholder="All buckets", key="aging_drill_bucket"
)
if code is None:
    st.caption("Choose a customer to see the invoices behind their row.")
    st.stop()

chosen = pl.col("customer_code") == code
if bucket is not None:
    chosen &= pl.col("bucket") == bucket
invoices, invoice_config = money_table(
    items.filter(chosen)
    .sort("days", "invoice_number", descending=[True, False])
    .select(
        "currency",
        "invoice_number",
        "issue_date",
        "due_date",
        "days",
        pl.col("bucket").cast(pl.String),
        "total_minor",
        "open_minor",
    ),
    {"total_minor": "Total", "open_minor": "Open"},
)
invoice_config |= {
    "invoice_number": st.column_config.TextColumn("Invoice"),
    "issue_date": st.column_config.DateColumn("Issued"),
    "due_date": st.column_config.DateColumn("Due"),
    "days": st.column_config.NumberColumn(
        "Days past due" if basis == Basis.DUE.value else "Days since issue"
    ),
    "bucket": st.column_config.TextColumn("Bucket"),
}
st.caption(f"{invoices.height:,} open invoices for {names[code]}.")
table(
    invoices.drop("currency"),
    invoice_config,
    name=f"aging_items_{code}_{as_of}",
    key="aging_items",
)

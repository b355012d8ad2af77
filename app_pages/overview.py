"""Ledger: what the database holds right now, per currency, and whether it adds up."""

from __future__ import annotations

import streamlit as st

from billing.errors import BillingError
from ui import data
from ui.format import money

st.title("Ledger")

try:
    summary = data.ledger_summary()
except BillingError as error:
    st.error(str(error))
    st.stop()

if summary.is_empty:
    st.info(
        "The ledger is empty. Load demo data with `billing seed-demo`, or import the "
        "sample files in order: `billing import customers sample_data/customers.csv`, "
        "then `invoices`, `payments` and `adjustments` the same way."
    )
    st.stop()

st.caption(
    f"{summary.customers:,} customers · {summary.draft_invoices:,} draft invoices "
    "not yet posted · only posted invoices count below."
)
for totals in summary.currencies:
    st.subheader(totals.currency)
    top = st.columns(3)
    top[0].metric("Posted invoices", f"{totals.posted_invoices:,}")
    top[1].metric("Invoiced", money(totals.invoiced_minor, totals.currency))
    top[2].metric("Settled", money(totals.settled_minor, totals.currency))
    bottom = st.columns(3)
    bottom[0].metric("Open", money(totals.open_minor, totals.currency))
    bottom[1].metric("Cash received", money(totals.received_minor, totals.currency))
    bottom[2].metric("Unapplied cash", money(totals.unapplied_minor, totals.currency))

st.subheader("Ledger checks")
if summary.findings:
    st.error(f"{len(summary.findings)} problems found; `billing check` lists the same.")
    st.dataframe({"finding": list(summary.findings)}, hide_index=True)
else:
    st.success("Every ledger invariant holds.")

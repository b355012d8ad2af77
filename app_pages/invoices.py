"""Invoices: the list, newest first, filtered by customer and status (read-only)."""

from __future__ import annotations

import streamlit as st

from billing.errors import BillingError
from ui import data
from ui.filters import invoice_filters
from ui.format import invoice_table

LIST_LIMIT = 5_000

st.title("Invoices")

try:
    filters = invoice_filters(data.customers())
    invoices = data.invoices(
        customer_code=filters.customer_code, statuses=filters.statuses, limit=LIST_LIMIT + 1
    )
except BillingError as error:
    st.error(str(error))
    st.stop()

if invoices.is_empty():
    st.info("No invoices match these filters.")
    st.stop()

if invoices.height > LIST_LIMIT:
    st.caption(f"Showing the newest {LIST_LIMIT:,}; choose a customer or status to see others.")
    invoices = invoices.head(LIST_LIMIT)
else:
    st.caption(f"{invoices.height:,} invoices")

table, columns = invoice_table(invoices)
st.dataframe(table, hide_index=True, column_config=columns, key="invoices_table")

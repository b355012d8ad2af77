"""Filter widgets: each draws its inputs and returns one plain value for the loaders.

Widgets carry `key=`s so tests can find them and so a choice survives reruns.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import streamlit as st

from billing.models import InvoiceStatus


@dataclass(frozen=True)
class InvoiceFilters:
    """The Invoices page's choices: one customer or all, and some statuses or all."""

    customer_code: str | None
    statuses: tuple[str, ...]


def invoice_filters(customers: pl.DataFrame) -> InvoiceFilters:
    """A customer picker and a status picker side by side; empty means everything."""
    names = dict(
        zip(customers.get_column("customer_code"), customers.get_column("name"), strict=True)
    )
    left, right = st.columns(2)
    code = left.selectbox(
        "Customer",
        options=list(names),
        index=None,
        placeholder="All customers",
        format_func=lambda c: f"{c} · {names[c]}",
        key="invoices_customer",
    )
    statuses = right.multiselect(
        "Status",
        options=[s.value for s in InvoiceStatus],
        placeholder="All statuses",
        key="invoices_status",
    )
    return InvoiceFilters(customer_code=code, statuses=tuple(statuses))

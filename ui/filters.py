"""Filter widgets: each draws its inputs and returns one plain value for the loaders.

Report filters (as-of date, period, currency, customer) sit in the sidebar
and are kept in the URL's query parameters, so a view can be shared as a link.

Widgets carry `key=`s so tests can find them and so a choice survives reruns.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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


# --- Report filters kept in the URL -------------------------------------------------
#
# A filter's value lives in three places: its widget (this run), a plain
# session key that outlives page switches (a widget's own state is dropped
# when a page without it runs), and the address bar (`?as_of=2026-06-30`), so
# a copied link opens the same view. On a page's first run the URL wins, then
# what this session chose last, then the default.

T = TypeVar("T")


def _kept(key: str) -> str:
    return f"_kept_{key}"


def url_state(key: str, *, param: str, parse: Callable[[str], T], default: T) -> None:
    """Seed widget `key` from `?param=`, else this session's last choice, else `default`.

    A URL value that does not parse (a hand-edited link) is ignored, not an error.
    """
    if key in st.session_state:
        return
    value: object = st.session_state.get(_kept(key), default)
    raw = st.query_params.get(param)
    if raw:
        with contextlib.suppress(ValueError, KeyError):
            value = parse(raw)
    st.session_state[key] = value


def keep_in_url(key: str, *, param: str, text: str | None) -> None:
    """Remember the widget's value for the session and show it in the address bar."""
    st.session_state[_kept(key)] = st.session_state.get(key)
    if text is None:
        st.query_params.pop(param, None)
    elif st.query_params.get(param) != text:
        st.query_params[param] = text


def as_of_filter(*, default: dt.date) -> dt.date:
    """The as-of date in the sidebar (`?as_of=`): the day every balance is taken at."""
    url_state("as_of", param="as_of", parse=dt.date.fromisoformat, default=default)
    value = st.sidebar.date_input("As of", key="as_of", format="YYYY-MM-DD")
    if not isinstance(value, dt.date):  # cleared by the user: back to the default
        value = default
    keep_in_url("as_of", param="as_of", text=value.isoformat())
    return value


def period_filter(*, default_start: dt.date, default_end: dt.date) -> tuple[dt.date, dt.date]:
    """A from–to range in the sidebar (`?from=&to=`), both days inclusive, from ≤ to."""
    url_state("period_from", param="from", parse=dt.date.fromisoformat, default=default_start)
    url_state("period_to", param="to", parse=dt.date.fromisoformat, default=default_end)
    start = st.sidebar.date_input("From", key="period_from", format="YYYY-MM-DD")
    end = st.sidebar.date_input("To", key="period_to", format="YYYY-MM-DD")
    start = start if isinstance(start, dt.date) else default_start
    end = end if isinstance(end, dt.date) else default_end
    keep_in_url("period_from", param="from", text=start.isoformat())
    keep_in_url("period_to", param="to", text=end.isoformat())
    if start > end:
        st.sidebar.warning("From is after To; showing To back to From.")
        start, end = end, start
    return start, end


def currency_filter(present: list[str], *, preferred: str | None) -> str | None:
    """The report currency in the sidebar (`?currency=`); amounts of two are never added.

    Hidden when the ledger has one currency. Defaults to the office's base
    currency when present, else the first alphabetically; None for an empty ledger.
    """
    if not present:
        return None
    default = preferred if preferred in present else present[0]
    url_state("currency", param="currency", parse=str.upper, default=default)
    if st.session_state["currency"] not in present:
        st.session_state["currency"] = default
    if len(present) == 1:
        st.session_state[_kept("currency")] = present[0]
        return present[0]
    value = st.sidebar.selectbox("Currency", options=present, key="currency")
    keep_in_url("currency", param="currency", text=value)
    return str(value)


def customer_filter(customers: pl.DataFrame, *, label: str = "Customer") -> str | None:
    """One customer or all, in the sidebar (`?customer=`), by code with the name beside it."""
    names = dict(
        zip(customers.get_column("customer_code"), customers.get_column("name"), strict=True)
    )
    url_state("customer", param="customer", parse=str, default=None)
    if st.session_state["customer"] not in names:
        st.session_state["customer"] = None
    code = st.sidebar.selectbox(
        label,
        options=list(names),
        index=None,
        placeholder="All customers",
        format_func=lambda c: f"{c} · {names[c]}",
        key="customer",
    )
    keep_in_url("customer", param="customer", text=code)
    return code

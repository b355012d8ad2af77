"""Cash flow: what was billed against what came in, month by month, and the next 13 weeks.

The monthly series (`queries.cashflow.billings_vs_collections`) covers the
chosen period; the receipts forecast (`queries.forecast`) spreads the invoices
open at the as-of date over the coming weeks by how each customer has paid,
and reports apart the doubtful balances it leaves out.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from queries.forecast import DEFAULT_METHOD
from ui import data
from ui.filters import as_of_filter, period_filter
from ui.format import money, money_table
from ui.widgets import (
    Card,
    chart_with_table,
    kpi_row,
    month_start,
    report_currency,
)

st.title("Cash flow")

as_of = as_of_filter(default=dt.date.today())
start, end = period_filter(default_start=month_start(as_of, months_back=11), default_end=as_of)
settings = data.settings()
currency = report_currency(data.ledger(), preferred=settings.base_currency)
in_currency = pl.col("currency") == currency

st.subheader("Billed and collected by month")
st.caption(
    f"{start} to {end}, amounts in {currency}. Collected is payments applied to invoices; "
    "AR is the balance at each month end."
)
months, config = money_table(
    data.cash_flow(start=start, end=end)
    .filter(in_currency)
    .with_columns(month=pl.col("period_start").dt.strftime("%Y-%m")),
    {
        "billed_minor": "Billed",
        "collected_minor": "Collected",
        "cash_received_minor": "Cash received",
        "adjustments_minor": "Credits and write-offs",
        "ar_end_minor": "AR at month end",
    },
)
config["month"] = st.column_config.TextColumn("Month")
figure = go.Figure(
    [
        go.Bar(x=months["month"], y=months["billed_minor"], name="Billed"),
        go.Bar(x=months["month"], y=months["collected_minor"], name="Collected"),
        go.Scatter(
            x=months["month"], y=months["ar_end_minor"], name="AR at month end", mode="lines"
        ),
    ]
)
figure.update_layout(barmode="group")
chart_with_table(
    figure,
    months.select(
        "month",
        "billed_minor",
        "collected_minor",
        "cash_received_minor",
        "adjustments_minor",
        "ar_end_minor",
    ),
    config,
    name=f"cash_flow_{start}_{end}_{currency}",
    key="cash_flow_table",
)

weekly, summary = data.receipts_forecast_at(as_of)
weekly = weekly.filter(in_currency)
totals = summary.filter(in_currency).row(0, named=True)
st.subheader(f"Expected receipts, {DEFAULT_METHOD.weeks} weeks from {as_of}")
st.caption(
    "Each invoice open at the as-of date is spread over the coming weeks in the proportions "
    "of how late its customer (else all customers in the currency) paid over the last "
    f"{DEFAULT_METHOD.history_days} days; invoices more than "
    f"{DEFAULT_METHOD.doubtful_after_days} days past due are not forecast but counted as doubtful."
)
kpi_row(
    [
        Card("Open AR", money(totals["open_minor"], currency)),
        Card(
            f"Expected in {DEFAULT_METHOD.weeks} weeks", money(totals["expected_minor"], currency)
        ),
        Card("Expected later", money(totals["later_minor"], currency)),
        Card(
            "Doubtful",
            money(totals["doubtful_minor"], currency),
            help=f"{totals['doubtful_invoices']:,} invoices more than "
            f"{DEFAULT_METHOD.doubtful_after_days} days past due, left out of the forecast.",
        ),
    ]
)
if totals["doubtful_invoices"]:
    st.caption(
        f"Doubtful: {money(totals['doubtful_minor'], currency)} on "
        f"{totals['doubtful_invoices']:,} invoices, not in the weekly figures."
    )
weeks, week_config = money_table(weekly, {"expected_minor": "Expected"})
week_config |= {
    "week": st.column_config.NumberColumn("Week"),
    "week_start": st.column_config.DateColumn("From"),
    "week_end": st.column_config.DateColumn("To"),
}
figure = go.Figure(
    go.Bar(
        x=[f"W{w} ({d:%m-%d})" for w, d in zip(weeks["week"], weeks["week_start"], strict=True)],
        y=weeks["expected_minor"],
        name="Expected",
    )
)
chart_with_table(
    figure,
    weeks.select("week", "week_start", "week_end", "expected_minor"),
    week_config,
    name=f"receipts_forecast_{as_of}_{currency}",
    key="forecast_table",
)

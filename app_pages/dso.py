"""DSO & collections: how long receivables take to turn into cash, month by month.

One monthly `period_kpis` series over the chosen period gives DSO, best
possible DSO, ADD, CEI and countback DSO (computed at each month end by
`queries.kpis.countback_dso` inside it); the cohort heatmap shows, per issue
month, the share collected by the due date and 30, 60 and 90 days after it.
A ratio with a zero denominator (no credit sales in a month) stays blank.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from queries.calendar import periods
from queries.cohorts import DEFAULT_OFFSETS, cohort_collection_rates, cohort_heatmap, pct_column
from queries.kpis import period_kpis
from ui import data
from ui.filters import period_filter
from ui.format import money_table, ratio_columns
from ui.widgets import chart_with_table, month_start, report_currency

st.title("DSO & collections")

today = dt.date.today()
start, end = period_filter(default_start=month_start(today, months_back=11), default_end=today)
settings = data.settings()
ledger = data.ledger()
currency = report_currency(ledger, preferred=settings.base_currency)
in_currency = pl.col("currency") == currency

months, rates = pl.collect_all(
    [
        period_kpis(
            ledger, periods(start=start, end=end, every="1mo"), positions=data.positions()
        ).filter(in_currency),
        cohort_collection_rates(ledger, as_of=end).filter(
            in_currency & (pl.col("cohort_month") >= month_start(start))
        ),
    ]
)
st.caption(f"Monthly, {start} to {end}, amounts in {currency}; the last month ends on {end}.")
months = months.with_columns(month=pl.col("period_start").dt.strftime("%Y-%m"))
shown, config = money_table(
    months,
    {
        "ar_begin_minor": "AR at start",
        "ar_minor": "AR",
        "current_ar_minor": "Current AR",
        "credit_sales_minor": "Credit sales",
    },
)
config |= ratio_columns(
    {
        "dso": "DSO",
        "best_possible_dso": "Best possible DSO",
        "add": "ADD",
        "cei": "CEI (%)",
        "countback_dso": "Countback DSO",
    }
)
config |= {
    "month": st.column_config.TextColumn("Month"),
    "period_end": st.column_config.DateColumn("Month end"),
}


def lines(columns: dict[str, str]) -> go.Figure:
    """One line per ratio column of the monthly series; a null month is a gap, not a 0."""
    return go.Figure(
        [
            go.Scatter(x=shown["month"], y=shown[column], name=name, mode="lines+markers")
            for column, name in columns.items()
        ]
    )


st.subheader("DSO, best possible DSO and ADD")
figure = lines({"dso": "DSO", "best_possible_dso": "Best possible DSO", "add": "ADD"})
figure.update_layout(yaxis_title="days")
chart_with_table(
    figure,
    shown.select("month", "credit_sales_minor", "ar_minor", "dso", "best_possible_dso", "add"),
    config,
    name=f"dso_{start}_{end}_{currency}",
    key="dso_table",
)

st.subheader("Collection effectiveness (CEI)")
figure = go.Figure(go.Bar(x=shown["month"], y=shown["cei"], name="CEI"))
figure.update_layout(yaxis_title="%")
chart_with_table(
    figure,
    shown.select(
        "month", "ar_begin_minor", "credit_sales_minor", "ar_minor", "current_ar_minor", "cei"
    ),
    config,
    name=f"cei_{start}_{end}_{currency}",
    key="cei_table",
)

st.subheader("Countback DSO at each month end")
figure = lines({"countback_dso": "Countback DSO"})
figure.update_layout(yaxis_title="days")
chart_with_table(
    figure,
    shown.select("period_end", "ar_minor", "countback_dso"),
    config,
    name=f"countback_dso_{start}_{end}_{currency}",
    key="countback_table",
)

st.subheader("Collection rate by invoice month")
st.caption(
    "The share of each month's invoices collected by the due date and 30, 60 and 90 days "
    f"after it, as known on {end}; blank until every invoice of the month has had that long."
)
cells = cohort_heatmap(rates.lazy()).collect()
figure = go.Figure(
    go.Heatmap(
        x=[f"due + {k} days" for k in cells["offset_days"]],
        y=cells["cohort_month"].dt.strftime("%Y-%m"),
        z=cells["collected_pct"],
        zmin=0,
        zmax=100,
        colorscale="Blues",
        texttemplate="%{z:.0f}%",
        hovertemplate="%{y}, %{x}: %{z:.2f}%<extra></extra>",
        colorbar={"title": "%"},
    )
)
figure.update_yaxes(type="category", autorange="reversed")
cohorts, cohort_config = money_table(rates, {"invoiced_minor": "Invoiced"})
cohort_config |= ratio_columns({pct_column(k): f"Due + {k} days (%)" for k in DEFAULT_OFFSETS})
cohort_config |= {
    "cohort_month": st.column_config.DateColumn("Issued in", format="YYYY-MM"),
    "invoices": st.column_config.NumberColumn("Invoices"),
}
chart_with_table(
    figure,
    cohorts.select(
        "cohort_month", "invoices", "invoiced_minor", *(pct_column(k) for k in DEFAULT_OFFSETS)
    ),
    cohort_config,
    name=f"cohorts_{end}_{currency}",
    key="cohort_table",
)

"""Overview: where receivables stand at the as-of date, this month against last, in one currency.

The cards compare the month to date of the as-of date with the whole previous
month (balances at each period's end, flows within it). The same monthly
`period_kpis` series, twelve months long, draws the AR trend, so one query
feeds both; the aging bar uses the office's default buckets.
"""

from __future__ import annotations

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from queries.aging import bucket_labels
from ui import data
from ui.charts import aging_colours
from ui.filters import as_of_filter
from ui.format import money_table
from ui.widgets import (
    chart_with_table,
    kpi_row,
    money_card,
    month_start,
    ratio_card,
    report_currency,
)

st.title("Overview")

as_of = as_of_filter(default=dt.date.today())
settings = data.settings()
ledger = data.ledger()
currency = report_currency(ledger, preferred=settings.base_currency)
months, aging = data.overview(
    start=month_start(as_of, months_back=11),
    as_of=as_of,
    currency=currency,
    boundaries=settings.aging_buckets,
)
now, last = months.row(-1, named=True), months.row(-2, named=True)
previous = f"vs {last['period_start']:%B %Y}"

st.caption(
    f"Amounts in {currency}. Month to date {now['period_start']} – {as_of}, "
    f"compared with {last['period_start']:%B %Y} (balances at its end, flows within it)."
)
kpi_row(
    [
        money_card("AR", now["ar_minor"], last["ar_minor"], currency, better="down"),
        ratio_card(
            "Overdue",
            now["overdue_pct"],
            last["overdue_pct"],
            unit="%",
            better="down",
            help="Overdue AR as a share of AR.",
        ),
        ratio_card(
            "DSO",
            now["dso"],
            last["dso"],
            unit=" days",
            better="down",
            help="AR ÷ credit sales × days in the period; — when nothing was billed.",
        ),
        ratio_card(
            "Best possible DSO",
            now["best_possible_dso"],
            last["best_possible_dso"],
            unit=" days",
            better="down",
            help="Current (not yet due) AR ÷ credit sales × days.",
        ),
    ],
    delta_description=previous,
)
kpi_row(
    [
        ratio_card(
            "CEI",
            now["cei"],
            last["cei"],
            unit="%",
            better="up",
            help="Collection effectiveness: the share of what could be collected that was.",
        ),
        money_card(
            "Collections this month",
            now["collections_minor"],
            last["collections_minor"],
            currency,
            better="up",
            help="Payments applied to invoices in the month to date.",
        ),
        money_card(
            "Unapplied cash",
            now["unapplied_minor"],
            last["unapplied_minor"],
            currency,
            better="neither",
            help="Cash received but not yet applied to an invoice.",
        ),
    ],
    delta_description=previous,
)

st.subheader("AR over the last 12 months")
trend, trend_config = money_table(
    months.select(
        "currency",
        "period_end",
        "ar_minor",
        "overdue_ar_minor",
    ),
    {"ar_minor": "AR", "overdue_ar_minor": "Overdue AR"},
)
figure = go.Figure(
    [
        go.Scatter(x=trend["period_end"], y=trend["ar_minor"], name="AR", mode="lines+markers"),
        go.Scatter(
            x=trend["period_end"],
            y=trend["overdue_ar_minor"],
            name="Overdue AR",
            mode="lines+markers",
        ),
    ]
)
trend_config["period_end"] = st.column_config.DateColumn("Month end")
chart_with_table(
    figure,
    trend.drop("currency"),
    trend_config,
    name=f"ar_trend_{as_of}_{currency}",
    key="overview_ar_trend",
)

st.subheader(f"Aging at {as_of}")
labels = bucket_labels(settings.aging_buckets)
buckets, bucket_config = money_table(
    pl.DataFrame(
        {
            "bucket": labels,
            "currency": currency,
            "open_minor": [aging.item(0, label) for label in labels],
        }
    ),
    {"open_minor": "Open"},
)
colours = aging_colours(labels)
figure = go.Figure(
    go.Bar(
        x=buckets["bucket"],
        y=buckets["open_minor"],
        marker_color=[colours[label] for label in labels],
        name="Open",
    )
)
bucket_config["bucket"] = st.column_config.TextColumn("Days past due")
chart_with_table(
    figure,
    buckets.drop("currency"),
    bucket_config,
    name=f"aging_totals_{as_of}_{currency}",
    key="overview_aging",
)

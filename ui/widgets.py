"""Display pieces the report pages share: KPI cards, a chart beside its table, empty states.

Only arrangement lives here: the figures come computed from `queries/`, and
amounts are turned into text by `ui.format`. Keeping these out of the pages
keeps each page a short list of "what to show", not "how to draw it".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, NoReturn

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from queries.balances import currencies
from queries.ledger import LedgerFrames
from ui.charts import aging_colours, show_chart
from ui.downloads import table
from ui.filters import currency_filter
from ui.format import NO_VALUE, money, money_change, ratio_change, ratio_text

Better = Literal["up", "down", "neither"]

EMPTY_LEDGER = (
    "Nothing has been posted yet, so there is nothing to report. To try the app, load demo "
    "data with `billing seed-demo`. To start for real, add a customer on the **Customers** "
    "page, then enter and post an invoice on **Invoices**; payments go on **Payments**."
)


@dataclass(frozen=True)
class Card:
    """One KPI card: its value as text and, optionally, the change since the last period."""

    label: str
    value: str
    delta: str | None = None
    sign: int = 0  # of the change: -1, 0 or 1 (0 shows the delta grey, without an arrow)
    better: Better = "up"
    help: str | None = None


def money_card(
    label: str,
    now_minor: int,
    before_minor: int,
    currency: str,
    *,
    better: Better,
    help: str | None = None,
) -> Card:
    """An amount and its change, e.g. AR now against AR at the end of last month."""
    change = now_minor - before_minor
    return Card(
        label,
        money(now_minor, currency),
        money_change(now_minor, before_minor, currency),
        (change > 0) - (change < 0),
        better,
        help,
    )


def ratio_card(
    label: str,
    now: float | None,
    before: float | None,
    *,
    unit: str = "",
    better: Better,
    help: str | None = None,
) -> Card:
    """A ratio and its change; "—" and no delta where a denominator was zero."""
    # A change of a percentage is in percentage points.
    delta = ratio_change(now, before, unit=" pp" if unit == "%" else unit)
    sign = 0
    if delta is not None and now is not None and before is not None:
        change = round(now - before, 2)
        sign = (change > 0) - (change < 0)
    return Card(label, ratio_text(now, unit=unit), delta, sign, better, help)


def kpi_row(cards: list[Card], *, delta_description: str | None = None) -> None:
    """The cards side by side as `st.metric`s, green when a change is good, red when bad."""
    for column, card in zip(st.columns(len(cards)), cards, strict=True):
        colour = {"up": "normal", "down": "inverse", "neither": "off"}[card.better]
        column.metric(
            card.label,
            card.value,
            card.delta,
            delta_color="off" if card.sign == 0 else colour,  # type: ignore[arg-type]
            delta_arrow="off" if card.sign == 0 else "auto",
            help=card.help,
            delta_description=delta_description if card.delta is not None else None,
            border=True,
        )


def chart_with_table(
    figure: go.Figure,
    frame: pl.DataFrame,
    config: dict[str, Any],
    *,
    name: str,
    key: str,
    title: str | None = None,
) -> None:
    """A chart with the table of its figures beside it (CSV and Excel under the table).

    The chart's key is `{key}_chart`; the table's is `key`, its downloads `{key}_csv`/`_xlsx`.
    A missing value (a ratio over a zero denominator) shows as "—", never as 0 or "None".
    """
    left, right = st.columns([3, 2])
    with left:
        show_chart(figure, key=f"{key}_chart", title=title)
    with right:
        table(frame, config, name=name, key=key, placeholder=NO_VALUE)


def report_currency(ledger: LedgerFrames, *, preferred: str | None) -> str:
    """The currency a report page shows (sidebar `currency_filter`); amounts are never mixed.

    A ledger with no posted invoice and no payment has none: the page then
    says how to get started and stops.
    """
    present = [str(c) for c in currencies(ledger).collect().get_column("currency")]
    currency = currency_filter(present, preferred=preferred)
    if currency is None:
        show_empty_ledger()
    return currency


def show_empty_ledger() -> NoReturn:
    """What a report page says to a new office: how to get data in, then stop the page."""
    st.info(EMPTY_LEDGER, icon=":material/info:")
    st.stop()


def month_start(day: dt.date, *, months_back: int = 0) -> dt.date:
    """The first day of `day`'s month, or of the month `months_back` before it."""
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def aging_figure(rows: pl.DataFrame, labels: list[str], *, top: int = 10) -> go.Figure:
    """Stacked bars by bucket for the `top` customers by total, the rest as one bar.

    `rows` is the aging table as shown (a `customer` column, one amount column
    per bucket label, `total`); the largest debtor is drawn at the top.
    """
    ranked = rows.sort("total", descending=True)
    shown = ranked.head(top).select("customer", *labels)
    rest = ranked.slice(top)
    if rest.height:
        others = rest.select(
            pl.lit(f"{rest.height:,} other customers").alias("customer"), pl.col(labels).sum()
        )
        shown = pl.concat([shown, others.cast(shown.schema)])
    shown = shown.reverse()  # horizontal bars are drawn bottom-up
    colours = aging_colours(labels)
    figure = go.Figure(
        [
            go.Bar(
                y=shown["customer"],
                x=shown[label],
                name=label,
                orientation="h",
                marker_color=colours[label],
            )
            for label in labels
        ]
    )
    figure.update_layout(barmode="stack", hovermode="y unified")
    return figure

"""One look for every chart: a Plotly template, the palette, and how a chart is drawn.

Every page draws its figures through `show_chart`, so a change of colours or
fonts here changes the whole app. Streamlit's own chart theme is switched off
(`theme=None`), otherwise it would override this template.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio
import streamlit as st

TEMPLATE_NAME = "billing_office"
# The app's primaryColor first, then colours colour-blind readers can still tell apart.
PALETTE = ["#1f4e79", "#e07b39", "#3a9d8f", "#b84a62", "#7a6fb0", "#8c8c8c", "#c9a227"]
# Aging buckets from on time to very late: green, then warmer and darker.
AGING_COLOURS = ["#3a9d8f", "#9bc26b", "#e9c46a", "#e07b39", "#c0392b", "#7b241c", "#4a1410"]


def _template() -> go.layout.Template:
    template = go.layout.Template(pio.templates["plotly_white"])
    template.layout.colorway = PALETTE
    template.layout.font = {"family": "sans-serif", "size": 13, "color": "#1b1f24"}
    # Room for the axis labels: with narrower margins Plotly clips "1.2M" to "M".
    template.layout.margin = {"l": 60, "r": 20, "t": 50, "b": 50}
    template.layout.legend = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}
    template.layout.hovermode = "x unified"
    template.layout.xaxis = {"gridcolor": "#eef0f3", "automargin": True}
    template.layout.yaxis = {"gridcolor": "#eef0f3", "separatethousands": True, "automargin": True}
    return template


def themed(figure: go.Figure, *, title: str | None = None) -> go.Figure:
    """`figure` in the app's template, with an optional title."""
    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = _template()
    figure.update_layout(template=TEMPLATE_NAME, title=title)
    return figure


def aging_colours(labels: list[str]) -> dict[str, str]:
    """A colour per aging bucket, oldest darkest, for any number of buckets."""
    return {label: AGING_COLOURS[min(i, len(AGING_COLOURS) - 1)] for i, label in enumerate(labels)}


def show_chart(figure: go.Figure, *, key: str, title: str | None = None) -> None:
    """Draw a themed figure at the container's width."""
    st.plotly_chart(themed(figure, title=title), key=key, theme=None, width="stretch")

"""Cash flow page: billed vs collected by month, the 13-week receipts forecast, roles, URL.

Seeded ledger (tests/app_support.py): January 2026 billed 1,234.50 (INV-1001, due 02-09)
+ 99.00 (INV-2001, due 02-19) = 1,333.50; PAY-1 200.00 received and applied to INV-1001
on 02-05 (four days before its due date).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import log_in, metric, page, page_text, start

# AppTest does not expose a read-only st.dataframe's key: tables are found by their place.
TABLES = ("cash_flow_table", "forecast_table")
PERIOD = {"from": "2025-04-01", "to": "2026-03-31"}


def frame(at: AppTest, key: str) -> Any:
    return at.dataframe[TABLES.index(key)].value


def cash_flow(role: str = "finance", **query: str) -> AppTest:
    at = log_in(start(**query), role)
    at.switch_page(page("cash_flow")).run()
    assert not at.exception
    assert not at.error
    assert not at.warning
    assert [t.value for t in at.title] == ["Cash flow"]
    return at


def test_a_clerk_cannot_open_it(app_db: str) -> None:
    at = log_in(start(), "clerk")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("cash_flow"))


def test_billed_and_collected_by_month(app_db: str) -> None:
    at = cash_flow(as_of="2026-03-31", **PERIOD)
    table = frame(at, "cash_flow_table")
    assert len(table) == 12
    assert list(table["month"][-3:]) == ["2026-01", "2026-02", "2026-03"]
    # Jan: billed 1,333.50, nothing collected, AR 1,333.50.
    # Feb: 200.00 collected (and received), AR 1,333.50 − 200.00 = 1,133.50. Mar: quiet.
    assert list(table["billed_minor"][-3:]) == [Decimal("1333.50"), 0, 0]
    assert list(table["collected_minor"][-3:]) == [0, Decimal("200.00"), 0]
    assert list(table["cash_received_minor"][-3:]) == [0, Decimal("200.00"), 0]
    assert list(table["ar_end_minor"][-3:]) == [
        Decimal("1333.50"),
        Decimal("1133.50"),
        Decimal("1133.50"),
    ]
    assert table["billed_minor"][:9].sum() == 0


def test_the_period_defaults_to_the_year_to_the_as_of_date(app_db: str) -> None:
    at = cash_flow(as_of="2026-03-31")
    # 12 months ending at the as-of date: 2025-04-01 .. 2026-03-31.
    assert at.query_params["from"] == "2025-04-01"
    assert at.query_params["to"] == "2026-03-31"
    assert at.query_params["as_of"] == "2026-03-31"
    assert len(frame(at, "cash_flow_table")) == 12


def test_forecast_at_the_end_of_march(app_db: str) -> None:
    at = cash_flow(as_of="2026-03-31", **PERIOD)
    weeks = frame(at, "forecast_table")
    # Both invoices are 50 and 40 days past due (not doubtful: ≤ 90). The only history,
    # PAY-1 four days early, says nothing about invoices already this late, so both are
    # expected in week 1 (04-01 .. 04-07): 1,034.50 + 99.00 = 1,133.50.
    assert len(weeks) == 13
    assert str(weeks["week_start"][0])[:10] == "2026-04-01"
    assert str(weeks["week_end"][0])[:10] == "2026-04-07"
    assert weeks["expected_minor"][0] == Decimal("1133.50")
    assert weeks["expected_minor"][1:].sum() == 0
    assert metric(at, "Open AR") == "$1,133.50"
    assert metric(at, "Expected in 13 weeks") == "$1,133.50"
    assert metric(at, "Expected later") == "$0.00"
    assert metric(at, "Doubtful") == "$0.00"
    assert "more than 90 days past due are not forecast" in page_text(at)


def test_forecast_before_the_due_dates_uses_them(app_db: str) -> None:
    at = cash_flow(as_of="2026-02-01", **PERIOD)
    weeks = frame(at, "forecast_table")
    # No payment history before 02-01: each invoice is expected on its due date.
    # 02-09 is in week (8 + 6) // 7 = 2 → 1,234.50; 02-19 in week (18 + 6) // 7 = 3 → 99.00.
    assert list(weeks["expected_minor"][:4]) == [
        0,
        Decimal("1234.50"),
        Decimal("99.00"),
        0,
    ]
    assert metric(at, "Open AR") == "$1,333.50"


def test_doubtful_balances_are_reported_apart(app_db: str) -> None:
    at = cash_flow(as_of="2026-05-31", **PERIOD)
    # 05-31 − 02-09 = 111 and 05-31 − 02-19 = 101 days past due, both over 90: doubtful.
    assert metric(at, "Doubtful") == "$1,133.50"
    assert metric(at, "Expected in 13 weeks") == "$0.00"
    assert frame(at, "forecast_table")["expected_minor"].sum() == 0
    assert "Doubtful: $1,133.50 on 2 invoices, not in the weekly figures." in page_text(at)


def test_every_chart_has_its_table_and_downloads(app_db: str) -> None:
    at = cash_flow(as_of="2026-03-31", **PERIOD)
    assert [c.key for c in at.get("plotly_chart")] == [f"{key}_chart" for key in TABLES]
    assert {b.key for b in at.download_button} == {
        f"{key}_{kind}" for key in TABLES for kind in ("csv", "xlsx")
    }

"""DSO & collections page: monthly DSO family, CEI, countback and cohorts; roles; URL period.

Seeded ledger (tests/app_support.py): January 2026 credit sales 1,234.50 (INV-1001, due
02-09) + 99.00 (INV-2001, due 02-19) = 1,333.50; PAY-1 200.00 applied to INV-1001 on
02-05; nothing else. The period is April 2025 .. March 2026 (12 months).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import log_in, page, start

# AppTest does not expose a read-only st.dataframe's key: tables are found by their place.
TABLES = ("dso_table", "cei_table", "countback_table", "cohort_table")
PERIOD = {"from": "2025-04-01", "to": "2026-03-31"}


def frame(at: AppTest, key: str) -> Any:
    return at.dataframe[TABLES.index(key)].value


def last_three(table: Any, column: str) -> list[Any]:
    """January, February, March 2026, with a null ratio as None (never 0)."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in table[column][-3:]]


def dso_page(role: str = "manager", **query: str) -> AppTest:
    at = log_in(start(**query), role)
    at.switch_page(page("dso")).run()
    assert not at.exception
    assert not at.error
    assert not at.warning
    assert [t.value for t in at.title] == ["DSO & collections"]
    return at


def test_a_clerk_cannot_open_it(app_db: str) -> None:
    at = log_in(start(), "clerk")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("dso"))


@pytest.mark.parametrize("role", ["manager", "finance", "admin"])
def test_readers_can_open_it(app_db: str, role: str) -> None:
    at = dso_page(role, **PERIOD)
    assert len(frame(at, "dso_table")) == 12


def test_dso_best_possible_and_add_per_month(app_db: str) -> None:
    at = dso_page(**PERIOD)
    table = frame(at, "dso_table")
    assert list(table["month"]) == [f"2025-{m:02d}" for m in range(4, 13)] + [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    # January: DSO = AR 1,333.50 / sales 1,333.50 × 31 days = 31.00; nothing due yet, so
    # best possible = 31.00 and ADD = 0.00. February and March: no credit sales → null.
    assert last_three(table, "dso") == [31.0, None, None]
    assert last_three(table, "best_possible_dso") == [31.0, None, None]
    assert last_three(table, "add") == [0.0, None, None]
    # April–December 2025: no sales, no AR: every ratio null, never 0, and shown as "—".
    assert table["dso"][:9].isna().all()
    assert {d.proto.placeholder for d in at.dataframe} == {"—"}
    assert last_three(table, "ar_minor") == [
        Decimal("1333.50"),
        Decimal("1133.50"),
        Decimal("1133.50"),
    ]


def test_cei_per_month(app_db: str) -> None:
    table = frame(dso_page(**PERIOD), "cei_table")
    # Jan: (0 + 1,333.50 − 1,333.50) / (0 + 1,333.50 − 1,333.50) = 0/0 → null.
    # Feb: (1,333.50 + 0 − 1,133.50) / (1,333.50 + 0 − 0) × 100 = 14.998 → 15.00.
    # Mar: (1,133.50 + 0 − 1,133.50) / (1,133.50 + 0 − 0) × 100 = 0.00.
    assert last_three(table, "cei") == [None, 15.0, 0.0]


def test_countback_dso_per_month_end(app_db: str) -> None:
    table = frame(dso_page(**PERIOD), "countback_table")
    # 01-31: R = 1,333.50 ≤ January's sales 1,333.50 → 31 × 1,333.50 / 1,333.50 = 31.00.
    # 02-28: February has no sales (+28), then 31 × 1,133.50 / 1,333.50 = 26.35 → 54.35.
    # 03-31: March (+31) and February (+28), then 26.35 → 85.35.
    assert last_three(table, "countback_dso") == [31.0, 54.35, 85.35]
    assert [str(d)[:10] for d in table["period_end"][-3:]] == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-31",
    ]


def test_cohort_collection_rates(app_db: str) -> None:
    at = dso_page(**PERIOD)
    table = frame(at, "cohort_table")
    # One cohort, January 2026: 2 invoices, 1,333.50. PAY-1's 200.00 came on 02-05, before
    # INV-1001's due date: 200 / 1,333.50 = 15.00 % by due + 0 and by due + 30 (latest due
    # 02-19 + 30 = 03-21 ≤ 03-31). Due + 60 (04-20) and + 90 are still to come: blank.
    assert len(table) == 1
    row = table.iloc[0]
    assert str(row["cohort_month"])[:10] == "2026-01-01"
    assert row["invoices"] == 2
    assert row["invoiced_minor"] == Decimal("1333.50")
    assert row["collected_pct_k0"] == 15.0
    assert row["collected_pct_k30"] == 15.0
    assert math.isnan(row["collected_pct_k60"])
    assert math.isnan(row["collected_pct_k90"])
    charts = [c.key for c in at.get("plotly_chart")]
    assert charts == [f"{key}_chart" for key in TABLES]


def test_every_table_has_its_downloads(app_db: str) -> None:
    at = dso_page(**PERIOD)
    assert {b.key for b in at.download_button} == {
        f"{key}_{kind}" for key in TABLES for kind in ("csv", "xlsx")
    }


def test_the_period_is_in_the_url_and_can_be_changed(app_db: str) -> None:
    at = dso_page(**PERIOD)
    assert at.query_params["from"] == "2025-04-01"
    assert at.query_params["to"] == "2026-03-31"
    at.date_input(key="period_from").set_value(dt.date(2026, 2, 1)).run()
    assert not at.exception
    assert at.query_params["from"] == "2026-02-01"
    assert list(frame(at, "dso_table")["month"]) == ["2026-02", "2026-03"]
    # The February cohort is empty: the January one is before the period.
    assert frame(at, "cohort_table").empty


def test_the_default_period_is_the_last_twelve_months(app_db: str) -> None:
    at = dso_page()
    today = dt.date.today()
    months_back = today.year * 12 + today.month - 1 - 11
    assert at.date_input(key="period_to").value == today
    assert at.date_input(key="period_from").value == dt.date(
        months_back // 12, months_back % 12 + 1, 1
    )
    assert len(frame(at, "dso_table")) == 12

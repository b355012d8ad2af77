"""Overview page: KPI cards, AR trend and aging bar on the seeded ledger, currencies, empty state.

The seeded ledger (tests/app_support.py): INV-1001 1,234.50 issued 2026-01-10 due 02-09,
PAY-1 200.00 received and auto-applied to it on 02-05; INV-2001 99.00 issued 01-20 due
02-19; INV-1002 is a draft and counts nowhere.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, write_session
from billing.roles import Role
from billing.schema import upgrade_database
from billing.services import (
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    add_user,
    create_customer,
    create_invoice,
)
from tests.app_support import ADMIN, APP, CLERK, TIMEOUT, log_in, metric, page, point_app_at, start
from tests.conftest import sqlite_url


def card(at: AppTest, label: str) -> Any:
    return next(m for m in at.metric if m.label == label)


# AppTest does not expose a read-only st.dataframe's key: tables are found by their place.
TABLES = ("overview_ar_trend", "overview_aging")


def frame(at: AppTest, key: str) -> Any:
    return at.dataframe[TABLES.index(key)].value


def test_cards_at_the_end_of_march(app_db: str) -> None:
    at = log_in(start(as_of="2026-03-31"), "clerk")
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    # AR at 03-31 = (1,234.50 − 200.00) + 99.00 = 1,133.50; at 02-28 the same: no change.
    assert metric(at, "AR") == "$1,133.50"
    assert card(at, "AR").delta == "$0.00"
    # Both due dates (02-09, 02-19) are past: overdue 1,133.50 / 1,133.50 = 100 %, as in February.
    assert metric(at, "Overdue") == "100.00%"
    assert card(at, "Overdue").delta == "0.00 pp"
    # No credit sales in March (nor February): DSO's denominator is zero, so "—", never 0.
    assert metric(at, "DSO") == "—"
    assert metric(at, "Best possible DSO") == "—"
    assert card(at, "DSO").delta == ""
    # CEI March = (1,133.50 + 0 − 1,133.50) / (1,133.50 + 0 − 0) × 100 = 0.00;
    # February = (1,333.50 + 0 − 1,133.50) / (1,333.50 + 0 − 0) × 100 = 14.998 → 15.00.
    assert metric(at, "CEI") == "0.00%"
    assert card(at, "CEI").delta == "-15.00 pp"
    # Collections: nothing applied in March; 200.00 applied on 02-05.
    assert metric(at, "Collections this month") == "$0.00"
    assert card(at, "Collections this month").delta == "-$200.00"
    # PAY-1 was applied in full the day it came in.
    assert metric(at, "Unapplied cash") == "$0.00"


def test_cards_in_january_when_the_invoices_were_issued(app_db: str) -> None:
    at = log_in(start(as_of="2026-01-31"), "finance")
    assert not at.exception
    # AR 1,234.50 + 99.00 = 1,333.50, up from 0 at the end of December.
    assert metric(at, "AR") == "$1,333.50"
    assert card(at, "AR").delta == "+$1,333.50"
    # Neither invoice is due yet: 0 % overdue; December had no AR, so no change to show.
    assert metric(at, "Overdue") == "0.00%"
    assert card(at, "Overdue").delta == ""
    # DSO = 1,333.50 / 1,333.50 (sales) × 31 days = 31.00; all of it current, so best = 31.00.
    assert metric(at, "DSO") == "31.00 days"
    assert metric(at, "Best possible DSO") == "31.00 days"
    # CEI = (0 + 1,333.50 − 1,333.50) / (0 + 1,333.50 − 1,333.50): 0 / 0 is undefined.
    assert metric(at, "CEI") == "—"


def test_ar_trend_and_aging_bar_have_their_tables_and_downloads(app_db: str) -> None:
    at = log_in(start(as_of="2026-03-31"), "manager")
    trend = frame(at, "overview_ar_trend")
    # Twelve month ends, April 2025 .. March 2026 (the last one is the as-of date).
    assert len(trend) == 12
    assert str(trend["period_end"].iloc[0])[:10] == "2025-04-30"
    assert str(trend["period_end"].iloc[-1])[:10] == "2026-03-31"
    # Jan: 1,333.50 issued, none due; Feb: 1,333.50 − 200.00 = 1,133.50, all overdue; Mar: same.
    assert list(trend["ar_minor"].iloc[-4:]) == [
        Decimal("0.00"),
        Decimal("1333.50"),
        Decimal("1133.50"),
        Decimal("1133.50"),
    ]
    assert list(trend["overdue_ar_minor"].iloc[-3:]) == [
        Decimal("0.00"),
        Decimal("1133.50"),
        Decimal("1133.50"),
    ]
    aging = frame(at, "overview_aging")
    # 03-31 − 02-09 = 50 days and 03-31 − 02-19 = 40 days: both in 31-60.
    assert list(aging["bucket"]) == ["current", "1-30", "31-60", "61-90", "91+"]
    assert list(aging["open_minor"]) == [Decimal(0), 0, Decimal("1133.50"), 0, 0]
    keys = {b.key for b in at.download_button}
    assert keys == {
        "overview_ar_trend_csv",
        "overview_ar_trend_xlsx",
        "overview_aging_csv",
        "overview_aging_xlsx",
    }
    assert [c.key for c in at.get("plotly_chart")] == [
        "overview_ar_trend_chart",
        "overview_aging_chart",
    ]


def test_the_as_of_date_is_in_the_url_and_moves_every_figure(app_db: str) -> None:
    at = log_in(start(as_of="2026-03-31"), "admin")
    assert at.query_params["as_of"] == "2026-03-31"
    at.date_input(key="as_of").set_value(dt.date(2026, 1, 15)).run()
    assert not at.exception
    assert at.query_params["as_of"] == "2026-01-15"
    # On 01-15 only INV-1001 is issued (INV-2001 comes on 01-20): AR 1,234.50.
    assert metric(at, "AR") == "$1,234.50"


def test_each_currency_is_shown_on_its_own(app_db: str) -> None:
    engine = make_engine(app_db)
    with write_session(engine) as session:
        create_customer(session, actor=CLERK, data=CustomerCreate("C003", "Euro GmbH", "EUR"))
        create_invoice(
            session,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-3001", "C003", dt.date(2026, 3, 1), [LineCreate("Work", Decimal(1), 50000)]
            ),
            post=True,
        )
    engine.dispose()
    at = log_in(start(as_of="2026-03-31"), "clerk")
    # No base currency set: the first present alphabetically, EUR; never USD + EUR added up.
    assert at.selectbox(key="currency").value == "EUR"
    assert metric(at, "AR") == "€500.00"
    at.selectbox(key="currency").select("USD").run()
    assert metric(at, "AR") == "$1,133.50"
    assert at.query_params["currency"] == "USD"


@pytest.mark.parametrize("with_draft", [False, True])
def test_an_empty_ledger_says_how_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clear_streamlit_caches: None, with_draft: bool
) -> None:
    url = sqlite_url(tmp_path)
    engine = make_engine(url)
    upgrade_database(engine)
    with write_session(engine) as session:
        add_user(session, actor=ADMIN, username="clerk", role=Role.CLERK, password="clerk-pw-123")
        if with_draft:  # a customer and a draft invoice: still nothing posted
            create_customer(session, actor=CLERK, data=CustomerCreate("C001", "Acme", "USD"))
            create_invoice(
                session,
                actor=CLERK,
                data=InvoiceCreate(
                    "INV-1", "C001", dt.date(2026, 1, 1), [LineCreate("x", Decimal(1), 100)]
                ),
            )
    engine.dispose()
    point_app_at(monkeypatch, url)
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    at = log_in(at, "clerk", "clerk-pw-123")
    assert not at.exception
    assert [t.value for t in at.title] == ["Overview"]
    message = at.info[0].value
    assert "billing seed-demo" in message
    assert "Customers" in message and "Invoices" in message
    assert not at.metric
    assert not at.dataframe
    # The other report pages say the same.
    at.switch_page(page("aging")).run()
    assert not at.exception
    assert "billing seed-demo" in at.info[0].value
    assert not at.dataframe

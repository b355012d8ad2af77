"""Aging page: buckets by due or issue date, URL state, bad buckets, the drill-down, downloads.

Seeded ledger (tests/app_support.py): C001 INV-1001 1,234.50 issued 2026-01-10 due 02-09,
less PAY-1 200.00 applied 02-05 (open 1,034.50); C002 INV-2001 99.00 issued 01-20 due 02-19.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from streamlit.testing.v1 import AppTest

from tests.app_support import log_in, metric, page, start

# AppTest does not expose a read-only st.dataframe's key: tables are found by their place.
TABLES = ("aging_table", "aging_items")


def frame(at: AppTest, key: str) -> Any:
    return at.dataframe[TABLES.index(key)].value


def rows(at: AppTest) -> dict[str, dict[str, Decimal]]:
    """The aging table as {customer: {column: amount}}."""
    table = frame(at, "aging_table").set_index("customer")
    return {customer: dict(values) for customer, values in table.iterrows()}


def aging(role: str = "clerk", **query: str) -> AppTest:
    at = log_in(start(**query), role)
    at.switch_page(page("aging")).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Aging"]
    assert not at.warning
    return at


ACME, GLOBEX = "C001 · Acme Ltd", "C002 · Globex"
ZERO = Decimal("0.00")


def test_due_basis_at_the_end_of_march(app_db: str) -> None:
    at = aging(as_of="2026-03-31")
    # INV-1001: 03-31 − 02-09 = 19 + 31 = 50 days past due → 31-60, open 1,234.50 − 200.00.
    # INV-2001: 03-31 − 02-19 = 9 + 31 = 40 days past due → 31-60, open 99.00.
    assert list(frame(at, "aging_table").columns) == [
        "customer",
        "current",
        "1-30",
        "31-60",
        "61-90",
        "91+",
        "total",
    ]
    assert rows(at) == {
        ACME: {
            "current": ZERO,
            "1-30": ZERO,
            "31-60": Decimal("1034.50"),
            "61-90": ZERO,
            "91+": ZERO,
            "total": Decimal("1034.50"),
        },
        GLOBEX: {
            "current": ZERO,
            "1-30": ZERO,
            "31-60": Decimal("99.00"),
            "61-90": ZERO,
            "91+": ZERO,
            "total": Decimal("99.00"),
        },
    }
    # Totals row: 1,034.50 + 99.00 = 1,133.50, all in 31-60; PAY-1 was applied in full.
    assert metric(at, "31-60") == "$1,133.50"
    assert metric(at, "current") == "$0.00"
    assert metric(at, "Total") == "$1,133.50"
    assert metric(at, "Unapplied cash") == "$0.00"
    assert at.query_params["as_of"] == "2026-03-31"
    assert at.query_params["basis"] == "due"
    assert at.query_params["buckets"] == "30,60,90"


def test_issue_basis_and_other_buckets_change_the_table_and_the_url(app_db: str) -> None:
    at = aging(as_of="2026-03-31")
    at.radio(key="aging_basis").set_value("issue").run()
    assert not at.exception
    # Days since issue: INV-1001 21 + 28 + 31 = 80, INV-2001 11 + 28 + 31 = 70 → both 61-90.
    table = rows(at)
    assert list(table[ACME]) == ["0-30", "31-60", "61-90", "91+", "total"]
    assert table[ACME]["61-90"] == Decimal("1034.50")
    assert table[GLOBEX]["61-90"] == Decimal("99.00")
    assert at.query_params["basis"] == "issue"

    at.radio(key="aging_basis").set_value("due")
    at.text_input(key="aging_buckets").input("15,45").run()
    assert not at.exception
    # Due basis, boundaries 15,45: current, 1-15, 16-45, 46+; 50 days → 46+, 40 days → 16-45.
    table = rows(at)
    assert list(table[ACME]) == ["current", "1-15", "16-45", "46+", "total"]
    assert table[ACME]["46+"] == Decimal("1034.50")
    assert table[GLOBEX]["16-45"] == Decimal("99.00")
    assert table[GLOBEX]["46+"] == ZERO
    assert at.query_params["buckets"] == "15,45"
    assert at.query_params["basis"] == "due"


def test_a_link_opens_with_its_date_and_basis(app_db: str) -> None:
    at = aging(as_of="2026-02-10", basis="issue")
    assert str(at.date_input(key="as_of").value) == "2026-02-10"
    assert at.radio(key="aging_basis").value == "issue"
    # At 02-10: INV-1001 is 31 days old (02-10 − 01-10) → 31-60, open 1,234.50 − 200.00
    # (applied 02-05); INV-2001 is 21 days old (02-10 − 01-20) → 0-30, 99.00.
    table = rows(at)
    assert table[ACME]["31-60"] == Decimal("1034.50")
    assert table[ACME]["0-30"] == ZERO
    assert table[GLOBEX]["0-30"] == Decimal("99.00")
    assert metric(at, "Total") == "$1,133.50"


def test_a_link_with_buckets_uses_them(app_db: str) -> None:
    at = aging(as_of="2026-03-31", buckets="45")
    # One boundary: current, 1-45, 46+; 50 days → 46+, 40 days → 1-45.
    assert rows(at)[ACME]["46+"] == Decimal("1034.50")
    assert rows(at)[GLOBEX]["1-45"] == Decimal("99.00")


def test_bad_buckets_give_a_clear_error_and_no_table(app_db: str) -> None:
    at = aging(as_of="2026-03-31")
    at.text_input(key="aging_buckets").input("30,x").run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Buckets '30,x': must be whole days separated by commas, e.g. 30,60,90"
    ]
    assert not at.dataframe
    at.text_input(key="aging_buckets").input("60,30").run()
    assert not at.exception
    assert "must increase" in at.error[0].value
    assert not at.dataframe
    at.text_input(key="aging_buckets").input("30,60").run()
    assert not at.error
    assert metric(at, "31-60") == "$1,133.50"


def test_a_bad_buckets_link_shows_the_error_too(app_db: str) -> None:
    at = aging(as_of="2026-03-31", buckets="0")
    assert not at.exception
    assert at.error[0].value.startswith("Buckets '0':")


def test_drill_down_lists_a_customers_open_invoices(app_db: str) -> None:
    at = aging(as_of="2026-03-31")
    assert at.selectbox(key="aging_drill_customer").options == [ACME, GLOBEX]
    assert len(at.dataframe) == 1  # no customer chosen yet: no invoice list
    at.selectbox(key="aging_drill_customer").select("C001").run()
    items = frame(at, "aging_items")
    # Only posted INV-1001 (the draft INV-1002 is not owed): 50 days past due, 1,034.50 open.
    assert list(items["invoice_number"]) == ["INV-1001"]
    assert list(items["days"]) == [50]
    assert list(items["bucket"]) == ["31-60"]
    assert list(items["total_minor"]) == [Decimal("1234.50")]
    assert list(items["open_minor"]) == [Decimal("1034.50")]

    at.selectbox(key="aging_drill_bucket").select("1-30").run()
    assert frame(at, "aging_items").empty  # nothing of C001's is 1-30 days late

    at.selectbox(key="aging_drill_customer").select("C002")
    at.selectbox(key="aging_drill_bucket").select("31-60").run()
    items = frame(at, "aging_items")
    assert list(items["invoice_number"]) == ["INV-2001"]
    assert list(items["days"]) == [40]
    assert list(items["open_minor"]) == [Decimal("99.00")]


def test_tables_and_chart_come_with_downloads(app_db: str) -> None:
    at = aging(as_of="2026-03-31")
    at.selectbox(key="aging_drill_customer").select("C002").run()
    assert {b.key for b in at.download_button} == {
        "aging_table_csv",
        "aging_table_xlsx",
        "aging_items_csv",
        "aging_items_xlsx",
    }
    assert [c.key for c in at.get("plotly_chart")] == ["aging_table_chart"]


def test_nothing_owed_before_the_first_invoice(app_db: str) -> None:
    at = aging(as_of="2026-01-05")
    assert metric(at, "Total") == "$0.00"
    assert [i.value for i in at.info] == ["Nothing is owed in USD at 2026-01-05."]
    assert not at.dataframe

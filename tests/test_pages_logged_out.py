"""Every page URL opened without logging in shows the login form and none of the ledger.

A bookmarked or guessed address (`/aging`, `/admin`, ...) on a fresh session
must render nothing from the database: every element AppTest received is
searched, as its protobuf text, for the seeded fixture's names, numbers and
amounts (`tests/app_support.py::app_db`).
"""

from __future__ import annotations

from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from tests.app_support import APP, TIMEOUT, log_in, start
from ui.navigation import PAGES

# Everything the seeded ledger holds that a page could show: customers, invoice
# numbers, the payment reference, line descriptions, user names, and the
# amounts (1,234.50 invoiced, 200.00 paid, 1,034.50 open, 99.00, 1,333.50 posted).
SEEDED = [
    "Acme Ltd",
    "Globex",
    "C001",
    "C002",
    "INV-1001",
    "INV-1002",
    "INV-2001",
    "PAY-1",
    "Consulting",
    "Parts",
    "Clerk Person",
    "Admin Person",
    "1,234.50",
    "1234.50",
    "1,034.50",
    "1034.50",
    "200.00",
    "99.00",
    "1,333.50",
    "1333.50",
]


def rendered(at: AppTest) -> str:
    """The text of every element and block AppTest holds, main area and sidebar."""
    parts: list[str] = []
    stack: list[Any] = [at._tree]
    while stack:
        node = stack.pop()
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        stack.extend(getattr(node, "children", {}).values())
    return "\n".join(parts)


@pytest.mark.parametrize("spec", PAGES, ids=[spec.url_path for spec in PAGES])
def test_a_page_url_without_login_shows_only_the_login_form(app_db: str, spec: Any) -> None:
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.switch_page(spec.path).run()
    assert not at.exception
    assert {w.label for w in at.text_input} >= {"Username", "Password"}
    assert [t.value for t in at.title] == ["Billing Office"]
    assert not at.dataframe and not at.metric and not at.get("plotly_chart")
    text = rendered(at)
    assert [s for s in SEEDED if s in text] == []


def test_the_search_would_find_the_data_once_logged_in(app_db: str) -> None:
    """The same search on a logged-in Invoices page finds the fixture: it can fail."""
    at = log_in(start(), "clerk")
    at.switch_page("app_pages/invoices.py").run()
    text = rendered(at)
    assert "INV-1001" in text
    assert "Acme Ltd" in text

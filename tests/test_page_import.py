"""The Import page: preview, dry run, an all-or-nothing import, every problem by line."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from billing.db import make_engine, read_session
from billing.repository import load_audit_log, load_customers
from tests.app_support import log_in, page, page_text, start

GOOD = (
    b"customer_code,name,email,payment_terms_days,credit_limit,currency\n"
    b"C010,Umbrella Corp,ap@umbrella.test,45,1000.00,USD\n"
    b"C011,Wayne Enterprises,,,,USD\n"
)
# Line 3 (the header is line 1) has a decimal comma; line 4 an unknown currency.
BAD = (
    b"customer_code,name,currency,credit_limit\n"
    b"C020,Good Row,USD,10.00\n"
    b'C021,Bad Limit,USD,"9,99"\n'
    b"C022,Bad Currency,ZZZ,1.00\n"
)


def open_import(role: str = "manager") -> AppTest:
    at = log_in(start(), role)
    return at.switch_page(page("import_csv")).run()


def upload(at: AppTest, name: str, content: bytes, kind: str = "customers") -> AppTest:
    at.selectbox(key="import_kind").select(kind)
    at.file_uploader(key="import_file").set_value((name, content, "text/csv"))
    return at.run()


def customer_codes(url: str) -> list[str]:
    engine = make_engine(url)
    with read_session(engine) as session:
        codes = load_customers(session).get_column("customer_code").to_list()
    engine.dispose()
    return codes


def test_expected_columns_follow_the_kind(app_db: str) -> None:
    at = open_import()
    assert not at.exception
    columns = at.dataframe[0].value
    assert list(columns["column"]) == [
        "customer_code",
        "name",
        "currency",
        "email",
        "payment_terms_days",
        "credit_limit",
    ]
    assert list(columns["required"]) == ["yes", "yes", "yes", "no", "no", "no"]
    at.selectbox(key="import_kind").select("adjustments").run()
    assert list(at.dataframe[0].value["column"]) == [
        "invoice_number",
        "date",
        "kind",
        "amount",
        "reason",
    ]
    assert (
        at.info[0].value == "Choose a CSV file of adjustments to see its first rows and check it."
    )


def test_a_good_file_previews_and_imports(app_db: str) -> None:
    at = upload(open_import(), "customers.csv", GOOD)
    preview = at.dataframe[1].value
    assert list(preview["customer_code"]) == ["C010", "C011"]
    assert preview["credit_limit"][0] == "1000.00"  # text as written, not a float
    at.button(key="import_submit").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.success[0].value == (
        "customers.csv: 2 rows of customers, 2 created, 0 already present"
    )
    assert [t.value for t in at.toast] == ["Imported 2 customers from customers.csv."]
    assert customer_codes(app_db) == ["C001", "C002", "C010", "C011"]
    engine = make_engine(app_db)
    with read_session(engine) as session:
        imports = load_audit_log(session, action="import_csv")
    engine.dispose()
    assert imports["actor"].to_list() == ["manager"]
    # The guard is re-armed (the button shows enabled on the next run): the same file
    # imported again skips both rows.
    at.run()
    at.button(key="import_submit").click().run()
    assert at.success[0].value.endswith("0 created, 2 already present")
    assert customer_codes(app_db) == ["C001", "C002", "C010", "C011"]


def test_dry_run_writes_nothing(app_db: str) -> None:
    at = upload(open_import("admin"), "customers.csv", GOOD)
    at.button(key="import_check").click().run()
    assert at.success[0].value == (
        "customers.csv: 2 rows of customers, 2 would be created, 0 already present "
        "(dry run: nothing was written)"
    )
    assert not at.toast
    assert customer_codes(app_db) == ["C001", "C002"]


def test_a_bad_row_lists_every_problem_and_writes_nothing(app_db: str) -> None:
    at = upload(open_import(), "bad.csv", BAD)
    at.button(key="import_submit").click().run()
    assert not at.exception
    assert at.error[0].value == (
        "bad.csv: 2 problems found. Nothing was written; fix the file and try again."
    )
    problems = at.dataframe[-1].value
    assert list(problems["line"]) == [3, 4]
    assert list(problems["column"]) == ["credit_limit", "currency"]
    assert list(problems["value"]) == ["9,99", "ZZZ"]
    assert "is not an amount" in problems["problem"][0]
    assert not at.success
    assert not at.toast
    assert customer_codes(app_db) == ["C001", "C002"]  # C020 (a good row) was not written


@pytest.mark.parametrize("role", ["clerk", "finance"])
def test_clerk_and_finance_have_no_import_page(app_db: str, role: str) -> None:
    at = log_in(start(), role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(page("import_csv"))
    assert "Import" not in page_text(at).splitlines()

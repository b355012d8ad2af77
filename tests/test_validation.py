"""Dates are ISO `YYYY-MM-DD` and nothing else; every problem is collected."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from billing.errors import ValidationError
from billing.validation import EARLIEST_DATE, LATEST_DATE, Checker, decimal_text, parse_date


def test_iso_date() -> None:
    assert parse_date(" 2024-02-29 ", field="issue_date") == dt.date(2024, 2, 29)


@pytest.mark.parametrize(
    "text",
    [
        "2026-W10-1",
        "20260302",
        "2026-3-2",
        "2025-02-29",
        "2026-13-01",
        "02/03/2026",
        "",
        "٢٠٢٦-٠٣-٠٢",
    ],
)
def test_other_date_forms_refused(text: str) -> None:
    with pytest.raises(ValidationError, match=r"issue_date .*: is not a date in YYYY-MM-DD form"):
        parse_date(text, field="issue_date")


def test_checker_collects_every_problem() -> None:
    check = Checker()
    check.code("customer_code", "has space")
    check.text("name", "x" * 201, max_len=200)
    check.date("issue_date", dt.date(1969, 12, 31))
    check.positive_minor("amount", 0)
    with pytest.raises(ValidationError) as caught:
        check.done()
    assert [p.field for p in caught.value.problems] == [
        "customer_code",
        "name",
        "issue_date",
        "amount",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-02-30", "is not a date in YYYY-MM-DD form: there is no such day"),
        ("31/12/2026", "is not a date in YYYY-MM-DD form, like 2026-12-31"),
    ],
)
def test_date_messages_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_date(text, field="d")
    assert caught.value.problems[0].message == message


def test_one_date_range_for_every_input() -> None:
    assert (dt.date(1970, 1, 1), dt.date(2099, 12, 31)) == (EARLIEST_DATE, LATEST_DATE)
    check = Checker()
    for day in (EARLIEST_DATE, LATEST_DATE):
        check.date("d", day)
    assert check.problems == []
    for day in (dt.date(1969, 12, 31), dt.date(2100, 1, 1), dt.date.min, dt.date.max):
        check.date("d", day)
    assert len(check.problems) == 4
    assert check.problems[0].message == (
        "is outside 1970-01-01 to 2099-12-31, the dates the ledger accepts"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [("1.5", Decimal("1.5")), (" 2 ", Decimal(2)), ("-0.25", Decimal("-0.25"))],
)
def test_decimal_text_reads_plain_numbers(text: str, value: Decimal) -> None:
    assert decimal_text(text) == value


@pytest.mark.parametrize("text", ["1e3", "1_000", "NaN", "Infinity", "١٢", "1,5", "+1", ".5", ""])
def test_decimal_text_refuses_what_decimal_would_guess(text: str) -> None:
    assert decimal_text(text) is None


@pytest.mark.parametrize(
    ("value", "multiline", "message"),
    [
        ("a\x00b", True, "contains an invisible control character; retype it"),
        ("a\u202eb", True, "contains an invisible control character; retype it"),
        ("a\u2066b", True, "contains an invisible control character; retype it"),
        ("a\ud800b", True, "contains an invisible control character; retype it"),
        ("a\x85b", True, "contains an invisible control character; retype it"),
        ("a\nb", False, "must be on one line (no tabs or line breaks)"),
        ("a\u2028b", False, "must be on one line (no tabs or line breaks)"),
        ("a\tb", False, "must be on one line (no tabs or line breaks)"),
        ("x" * 11, True, "is 11 characters long; the limit is 10"),
    ],
)
def test_text_refusals(value: str, multiline: bool, message: str) -> None:
    check = Checker()
    check.text("f", value, max_len=10, multiline=multiline)
    assert [(p.field, p.message) for p in check.problems] == [("f", message)]


@pytest.mark.parametrize(
    "value", ["a\nb", "a\r\nb", "a\tb", "👩‍👩‍👧", "שלום", "e\u0301", "a\u200fb"]
)
def test_text_kept_exactly(value: str) -> None:
    check = Checker()
    assert check.text("f", f" {value} ", max_len=10) == value
    assert check.problems == []

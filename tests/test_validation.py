"""Dates are ISO `YYYY-MM-DD` and nothing else; every problem is collected."""

from __future__ import annotations

import datetime as dt

import pytest

from billing.errors import ValidationError
from billing.validation import Checker, parse_date


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

"""Money parsing and printing: exact, per currency, never rounded silently (SPEC §2)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.errors import ValidationError
from billing.money import (
    check_currency,
    currency_digits,
    display_amount,
    format_amount,
    parse_amount,
)


@pytest.mark.parametrize(("currency", "digits"), [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3)])
def test_currency_digits(currency: str, digits: int) -> None:
    assert currency_digits(currency) == digits


# ISO 4217 minor units where Babel (CLDR display digits) says 0.
@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("IQD", 3),
        ("AFN", 2),
        ("ALL", 2),
        ("IRR", 2),
        ("KPW", 2),
        ("LAK", 2),
        ("LBP", 2),
        ("MGA", 2),
        ("MMK", 2),
        ("RSD", 2),
        ("SLL", 2),
        ("SOS", 2),
        ("SYP", 2),
        ("YER", 2),
    ],
)
def test_currency_digits_follow_iso_not_cldr(currency: str, digits: int) -> None:
    assert currency_digits(currency) == digits


# Codes where Babel already agrees with ISO 4217: keep them that way.
@pytest.mark.parametrize(
    ("currency", "digits"),
    [
        ("CLP", 0),
        ("ISK", 0),
        ("UGX", 0),
        ("XAF", 0),
        ("XOF", 0),
        ("HUF", 2),
        ("TWD", 2),
        ("COP", 2),
        ("IDR", 2),
        ("RSD", 2),
        ("BHD", 3),
        ("JOD", 3),
        ("LYD", 3),
        ("OMR", 3),
        ("TND", 3),
        ("CLF", 4),
        ("UYW", 4),
    ],
)
def test_currency_digits_agreeing_with_iso(currency: str, digits: int) -> None:
    assert currency_digits(currency) == digits


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("1234.50", "USD", 123450),  # 1234 × 100 + 50
        ("1234.5", "USD", 123450),  # a missing trailing zero is fine
        ("0.01", "USD", 1),
        ("7", "USD", 700),
        ("1500", "JPY", 1500),  # no minor unit
        ("1.234", "KWD", 1234),  # three decimals: 1 × 1000 + 234
        (" 12.00 ", "USD", 1200),  # surrounding blanks are trimmed
        ("1.500", "IQD", 1500),  # ISO 4217: three decimals (CLDR displays none)
        ("1.5", "IQD", 1500),
        ("10.25", "AFN", 1025),  # ISO 4217: two decimals (CLDR displays none)
        ("10.25", "IRR", 1025),
    ],
)
def test_parse_amount(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency", "message"),
    [
        ("1.005", "USD", "more than 2 decimal places"),
        ("10.5", "JPY", "more than 0 decimal places"),
        ("1.2345", "KWD", "more than 3 decimal places"),
        ("9,99", "USD", "not an amount"),  # a decimal comma must never become 999
        ("1,000.00", "USD", "not an amount"),
        ("1e3", "USD", "not an amount"),
        ("-5.00", "USD", "must be positive"),
        ("0.00", "USD", "greater than zero"),
        ("", "USD", "required"),
        ("$5", "USD", "not an amount"),
        ("NaN", "USD", "not an amount"),
        ("1.2345", "IQD", "more than 3 decimal places"),
        ("1.005", "IRR", "more than 2 decimal places"),
        ("١٠.٠٠", "USD", "not an amount"),  # Arabic-Indic digits
        ("۱۰", "USD", "not an amount"),  # Extended Arabic-Indic (Persian) digits
        ("१०.००", "USD", "not an amount"),  # Devanagari digits
        ("１０.００", "USD", "not an amount"),  # fullwidth digits
    ],
)
def test_parse_amount_refuses(text: str, currency: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_amount(text, currency)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("9,99", "use a point for decimals and no thousands separators, like 1234.50"),
        ("1.234,56", "use a point for decimals and no thousands separators, like 1234.50"),
        ("1,234.56", "use a point for decimals and no thousands separators, like 1234.50"),
        ("١٢٣", "use the digits 0-9, like 1234.50"),
        ("1e3", "write it out without an exponent, like 1000.00"),
        ("+12", "leave out the + sign, like 1234.50"),
        ("12.", "put digits on both sides of the point, like 0.50 or 12.00"),
        (".5", "put digits on both sides of the point, like 0.50 or 12.00"),
        ("1 000", "no spaces or thousands separators, like 1234.50"),
        ("Infinity", "use digits and a point, like 1234.50"),
        ("12\x00", "use digits and a point, like 1234.50"),
    ],
)
def test_a_refused_amount_says_what_to_type(text: str, hint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_amount(text, "USD")
    [problem] = caught.value.problems
    assert problem.message == f"is not an amount: {hint}"


@pytest.mark.parametrize("text", ["9" * 31, "9" * 5000, "9223372036854775808", "10000000000000"])
def test_huge_amounts_refused_before_any_overflow(text: str) -> None:
    """Past 30 whole digits int() is never called: Python's own limit is 4,300 digits."""
    with pytest.raises(ValidationError, match=r"is too large: at most 9999999999999\.99"):
        parse_amount(text, "USD")


def test_the_largest_amount() -> None:
    # MAX_MINOR − 1 = 10**15 − 1 minor units = 9,999,999,999,999.99 USD or 999,999,999,999,999 JPY
    assert parse_amount("9999999999999.99", "USD") == 10**15 - 1
    assert parse_amount("999999999999999", "JPY") == 10**15 - 1
    with pytest.raises(ValidationError, match=r"at most 999999999999999$"):
        parse_amount("1000000000000000", "JPY")


def test_zero_allowed_only_when_asked() -> None:
    assert parse_amount("0", "USD", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("minor", "currency", "text"),
    [
        (123450, "USD", "1234.50"),
        (5, "USD", "0.05"),
        (0, "USD", "0.00"),
        (-2550, "USD", "-25.50"),
        (1500, "JPY", "1500"),
        (1234, "KWD", "1.234"),
    ],
)
def test_format_amount(minor: int, currency: str, text: str) -> None:
    assert format_amount(minor, currency) == text


def test_display_amount_uses_symbol_and_grouping() -> None:
    assert display_amount(123450, "USD") == "$1,234.50"
    assert display_amount(1500, "JPY") == "¥1,500"


@given(st.integers(min_value=1, max_value=10**14), st.sampled_from(["USD", "JPY", "KWD"]))
def test_format_then_parse_round_trips(minor: int, currency: str) -> None:
    assert parse_amount(format_amount(minor, currency), currency) == minor


def test_unknown_currency_refused() -> None:
    assert check_currency(" usd ") == "USD"
    for code in ("XXQ", "XXX", "XAU", "XTS", "US"):
        with pytest.raises(ValidationError, match="ISO 4217"):
            check_currency(code)


@pytest.mark.parametrize(
    "code", ["USD", "EUR", "JPY", "KWD", "GBP", "CHF", "IQD", "XOF", "XAF", "AFN", "IRR"]
)
def test_current_currency_accepted(code: str) -> None:
    assert check_currency(code.lower()) == code


@pytest.mark.parametrize("code", ["DEM", "FRF", "ITL", "VEB", "VEF", "YUM", "HRK", "XXX", "XAU"])
def test_withdrawn_or_non_money_currency_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="ISO 4217"):
        check_currency(code)

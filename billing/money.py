"""Money as integer minor units: parsing user text exactly, printing with the currency's digits.

A float never touches an amount. Text from users and CSV files is parsed with
`Decimal`; more fractional digits than the currency has is an error, never a
silent rounding (SPEC §2).
"""

from __future__ import annotations

import datetime
import re
from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import format_currency, get_currency_precision, get_territory_currencies

from billing.errors import Problem, ValidationError

# ASCII digits only: `\d` would also take "١٠.٠٠" (Arabic-Indic) and other scripts' digits.
_AMOUNT = re.compile(r"^(?P<sign>-)?(?P<int>[0-9]+)(?:\.(?P<frac>[0-9]+))?$")
MAX_MINOR = 10**15  # ten trillion dollars: far beyond any invoice, far inside int64
# More whole digits than this is refused before int(): Python's int() itself
# refuses over 4,300 digits, with an error that is not the project's.
_MAX_WHOLE_DIGITS = 30
_EXPONENT = re.compile(r"^[+-]?[0-9]*\.?[0-9]+[eE][+-]?[0-9]+$")
_NOT_NUMBERS = frozenset({"nan", "inf", "infinity"})


# Babel's `get_currency_precision` gives CLDR's *display* digits, which drop the
# minor unit where it is no longer used in practice; SPEC §2 wants ISO 4217's
# minor units. These are the codes (checked against Babel 2.18 and 2.19 / CLDR
# and the ISO 4217 list) where the two disagree in either release; CLDR says 0
# for every one. Babel 2.19 moved COP, HUF and IDR to 0 (and RSD to 2).
_ISO_MINOR_UNITS_DIFFERING_FROM_CLDR: dict[str, int] = {
    "AFN": 2,  # Afghani
    "ALL": 2,  # Lek
    "COP": 2,  # Colombian Peso (Babel 2.19)
    "HUF": 2,  # Forint (Babel 2.19)
    "IDR": 2,  # Rupiah (Babel 2.19)
    "IQD": 3,  # Iraqi Dinar
    "IRR": 2,  # Iranian Rial
    "KPW": 2,  # North Korean Won
    "LAK": 2,  # Lao Kip
    "LBP": 2,  # Lebanese Pound
    "MGA": 2,  # Malagasy Ariary
    "MMK": 2,  # Kyat
    "RSD": 2,  # Serbian Dinar
    "SLL": 2,  # Leone (old; replaced by SLE, which both give 2)
    "SOS": 2,  # Somali Shilling
    "SYP": 2,  # Syrian Pound
    "YER": 2,  # Yemeni Rial
}


@cache
def currency_digits(currency: str) -> int:
    """Number of fractional digits of an ISO 4217 currency (USD 2, JPY 0, KWD 3)."""
    if currency in _ISO_MINOR_UNITS_DIFFERING_FROM_CLDR:
        return _ISO_MINOR_UNITS_DIFFERING_FROM_CLDR[currency]
    return int(get_currency_precision(currency))


# ISO 4217 codes that are not money a customer is billed in: precious metals,
# fund and settlement units, the testing code and "no currency".
_NOT_BILLING_CURRENCIES = frozenset(
    [
        "XAG",
        "XAU",
        "XBA",
        "XBB",
        "XBC",
        "XBD",
        "XDR",
        "XFO",
        "XFU",
        "XPD",
        "XPT",
        "XRE",
        "XSU",
        "XTS",
        "XUA",
        "XXX",
    ]
)


@cache
def _known_currencies() -> frozenset[str]:
    """Currencies that are legal tender somewhere today, per CLDR's territory data.

    `babel.numbers.list_currencies()` also lists withdrawn codes (DEM, FRF, VEB,
    YUM, ...), so the set is built from each territory's tender currencies on the
    date of first use; it is cached for the life of the process.
    """
    today = datetime.date.today()
    in_use: set[str] = set()
    for territory in Locale("en").territories:
        if isinstance(territory, str):  # Babel types the keys loosely; all are codes
            in_use.update(get_territory_currencies(territory, start_date=today, tender=True))
    return frozenset(in_use) - _NOT_BILLING_CURRENCIES


@lru_cache(maxsize=1024)  # a 100k-row file names a handful of currencies 100k times
def check_currency(currency: str, *, field: str = "currency") -> str:
    """Return the upper-cased ISO code, or raise if it is not a known currency."""
    code = (currency or "").strip().upper()
    if len(code) != 3 or code not in _known_currencies():
        raise ValidationError(Problem(field, currency, "is not an ISO 4217 currency code"))
    return code


def parse_amount(
    text: str, currency: str, *, field: str = "amount", allow_zero: bool = False
) -> int:
    """Parse a decimal string like ``"1234.50"`` into minor units of `currency`.

    Accepts digits with an optional point; refuses thousands separators, decimal
    commas, exponents and signs, because each of them has been read two ways by
    someone (``"9,99"`` must never become 999).
    """
    raw = text.strip() if isinstance(text, str) else text
    if not isinstance(raw, str) or not raw:
        raise ValidationError(Problem(field, text, "is required"))
    match = _AMOUNT.match(raw)
    if match is None:
        raise ValidationError(Problem(field, text, _why_not_an_amount(raw)))
    if len(match["int"]) > _MAX_WHOLE_DIGITS:
        raise ValidationError(Problem(field, text, f"is too large: at most {_largest(currency)}"))
    if match["sign"]:
        raise ValidationError(Problem(field, text, "must be positive"))
    digits = currency_digits(currency)
    frac = match["frac"] or ""
    if len(frac) > digits:
        raise ValidationError(
            Problem(field, text, f"has more than {digits} decimal places for {currency}")
        )
    minor = int(match["int"]) * 10**digits + int(frac.ljust(digits, "0") or "0")
    if minor == 0 and not allow_zero:
        raise ValidationError(Problem(field, text, "must be greater than zero"))
    if minor >= MAX_MINOR:
        raise ValidationError(Problem(field, text, f"is too large: at most {_largest(currency)}"))
    return minor


def _largest(currency: str) -> str:
    return format_amount(MAX_MINOR - 1, currency)


def _why_not_an_amount(raw: str) -> str:
    """The most specific hint for text that is not plain digits with an optional point."""
    if "," in raw:
        hint = "use a point for decimals and no thousands separators, like 1234.50"
    elif any(c.isdigit() and not c.isascii() for c in raw):
        hint = "use the digits 0-9, like 1234.50"
    elif raw.lstrip("+-").lower() in _NOT_NUMBERS:
        hint = "use digits and a point, like 1234.50"
    elif _EXPONENT.match(raw):
        hint = "write it out without an exponent, like 1000.00"
    elif raw[0] == "+":
        hint = "leave out the + sign, like 1234.50"
    elif raw[0] == "." or raw[-1] == ".":
        hint = "put digits on both sides of the point, like 0.50 or 12.00"
    elif any(c.isspace() or c in "'_" for c in raw):
        hint = "no spaces or thousands separators, like 1234.50"
    else:
        hint = "use digits and a point, like 1234.50"
    return f"is not an amount: {hint}"


def format_amount(minor: int, currency: str) -> str:
    """Plain machine-readable amount with exactly the currency's digits: ``"1234.50"``."""
    digits = currency_digits(currency)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**digits)
    return f"{sign}{whole}.{frac:0{digits}d}" if digits else f"{sign}{whole}"


@lru_cache(maxsize=1 << 16)
def display_amount(minor: int, currency: str, *, locale: str = "en_US") -> str:
    """Human display with symbol and grouping (``"$1,234.50"``), for pages and PDFs.

    Remembered: Babel takes ~25 µs an amount, and a page of 3,000 invoices
    shows the same 6,000 amounts on every rerun (half the Invoices page's time
    in the load test before this cache).
    """
    value = Decimal(int(minor)).scaleb(-currency_digits(currency))
    return str(format_currency(value, currency, locale=locale))


def round_half_up(value: Decimal) -> int:
    """Round a Decimal amount of minor units to an integer, halves away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))

"""Collect every problem with an input before refusing it, with messages a clerk understands."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from billing.errors import Problem, ValidationError
from billing.money import MAX_MINOR

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# Control characters (NUL and friends), the invisible text-direction overrides
# that can make "Acme\u202eFDP" read backwards in a report, and lone surrogates,
# which no database can store as UTF-8. Tab, line feed and carriage return are
# judged by `Checker.text`'s `multiline`.
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_LINE_BREAK = re.compile(r"[\t\n\r\u2028\u2029]")
_DECIMAL = re.compile(r"^-?[0-9]+(?:\.[0-9]+)?$")
# The one range of dates the ledger accepts, from every form and every CSV file.
EARLIEST_DATE = dt.date(1970, 1, 1)
LATEST_DATE = dt.date(2099, 12, 31)


class Checker:
    """Gathers problems field by field; `done()` raises them all at once."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str, value: object, message: str) -> None:
        """Record one problem."""
        self.problems.append(Problem(field, value, message))

    def done(self) -> None:
        """Raise a `ValidationError` listing every recorded problem, if any."""
        if self.problems:
            raise ValidationError(list(self.problems))

    def text(
        self,
        field: str,
        value: str | None,
        *,
        max_len: int,
        required: bool = True,
        multiline: bool = True,
    ) -> str | None:
        """A trimmed, printable text of bounded length, otherwise kept exactly as given.

        Any script, emoji and combining mark is kept; what is refused is what a
        reader cannot see (control characters, direction overrides) and, for a
        one-line field such as a name, tabs and line breaks.
        """
        cleaned = (value or "").strip() if isinstance(value, str | None) else None
        if cleaned is None:
            self.add(field, value, "is not text")
            return None
        if not cleaned:
            if required:
                self.add(field, value, "is required")
            return None
        if len(cleaned) > max_len:
            self.add(field, value, f"is {len(cleaned):,} characters long; the limit is {max_len:,}")
        elif _CONTROL.search(cleaned):
            self.add(field, value, "contains an invisible control character; retype it")
        elif not multiline and _LINE_BREAK.search(cleaned):
            self.add(field, value, "must be on one line (no tabs or line breaks)")
        return cleaned

    def code(self, field: str, value: str | None, *, max_len: int = 40) -> str:
        """An identifier such as a customer code or invoice number: no spaces."""
        cleaned = (value or "").strip()
        if not cleaned:
            self.add(field, value, "is required")
        elif len(cleaned) > max_len:
            self.add(field, value, f"is longer than {max_len} characters")
        elif not _CODE.match(cleaned):
            self.add(field, value, "may use only letters, digits and . _ / -")
        return cleaned

    def date(self, field: str, value: dt.date | None, *, required: bool = True) -> None:
        """A calendar date inside the range the ledger accepts."""
        if value is None:
            if required:
                self.add(field, value, "is required")
            return
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            self.add(field, value, "is not a date")
        elif not EARLIEST_DATE <= value <= LATEST_DATE:
            self.add(
                field,
                value.isoformat(),
                f"is outside {EARLIEST_DATE} to {LATEST_DATE}, the dates the ledger accepts",
            )

    def positive_minor(self, field: str, value: int) -> None:
        """An amount in minor units that must be above zero."""
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(field, value, "must be a whole number of minor units")
        elif value <= 0:
            self.add(field, value, "must be greater than zero")
        elif value >= MAX_MINOR:  # would overflow a BIGINT column long before this
            self.add(field, value, "is too large")

    def decimal(
        self,
        field: str,
        value: Decimal | str | int,
        *,
        minimum: Decimal,
        maximum: Decimal,
        places: int,
        allow_minimum: bool = True,
    ) -> Decimal:
        """A decimal number (quantity, tax rate) in a range with bounded places."""
        number = value if isinstance(value, Decimal) else decimal_text(str(value))
        if number is None or not number.is_finite():
            self.add(field, value, "is not a number: use digits and a point, like 1.5")
            return Decimal(0)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            self.add(field, value, f"has more than {places} decimal places")
        too_low = number < minimum or (number == minimum and not allow_minimum)
        if too_low or number > maximum:
            bound = "at least" if allow_minimum else "more than"
            self.add(field, value, f"must be {bound} {minimum} and at most {maximum}")
        return number


def normalise_username(username: str | None) -> str:
    """A login as the ledger stores and compares it: trimmed and lower-cased.

    streamlit-authenticator lower-cases what is typed into its form, so every
    place that stores, looks up or counts a username uses this one rule.
    """
    return (username or "").strip().lower()


def decimal_text(text: str) -> Decimal | None:
    """`text` as a Decimal if it is plain ASCII digits with an optional sign and point, else None.

    `Decimal()` alone also reads "1e3", "1_000", "NaN" and Arabic-Indic digits;
    a clerk who typed one of those did not mean what Decimal would make of it.
    """
    raw = text.strip()
    if not _DECIMAL.match(raw):
        return None
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        return None


def parse_date(text: str, *, field: str) -> dt.date:
    """Parse an ISO `YYYY-MM-DD` date, the only date format the ledger reads."""
    raw = (text or "").strip() if isinstance(text, str | None) else ""
    if not _ISO_DATE.match(raw):  # fromisoformat alone also takes 2026-W10-1
        raise ValidationError(
            Problem(field, text, "is not a date in YYYY-MM-DD form, like 2026-12-31")
        )
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(
            Problem(field, text, "is not a date in YYYY-MM-DD form: there is no such day")
        ) from None

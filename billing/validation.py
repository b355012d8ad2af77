"""Collect every problem with an input before refusing it, with messages a clerk understands."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from billing.errors import Problem, ValidationError

_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
        self, field: str, value: str | None, *, max_len: int, required: bool = True
    ) -> str | None:
        """A trimmed, printable text of bounded length."""
        cleaned = (value or "").strip()
        if not cleaned:
            if required:
                self.add(field, value, "is required")
            return None
        if len(cleaned) > max_len:
            self.add(field, value, f"is longer than {max_len} characters")
        elif _CONTROL.search(cleaned):
            self.add(field, value, "contains control characters")
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
            self.add(field, value.isoformat(), f"is outside {EARLIEST_DATE} to {LATEST_DATE}")

    def positive_minor(self, field: str, value: int) -> None:
        """An amount in minor units that must be above zero."""
        if not isinstance(value, int) or isinstance(value, bool):
            self.add(field, value, "must be a whole number of minor units")
        elif value <= 0:
            self.add(field, value, "must be greater than zero")

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
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            self.add(field, value, "is not a number")
            return Decimal(0)
        if not number.is_finite():
            self.add(field, value, "is not a number")
            return Decimal(0)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            self.add(field, value, f"has more than {places} decimal places")
        too_low = number < minimum or (number == minimum and not allow_minimum)
        if too_low or number > maximum:
            bound = "at least" if allow_minimum else "more than"
            self.add(field, value, f"must be {bound} {minimum} and at most {maximum}")
        return number


def parse_date(text: str, *, field: str) -> dt.date:
    """Parse an ISO `YYYY-MM-DD` date, the only date format the ledger reads."""
    raw = (text or "").strip()
    try:
        if not _ISO_DATE.match(raw):  # fromisoformat alone also takes 2026-W10-1
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(Problem(field, text, "is not a date in YYYY-MM-DD form")) from None

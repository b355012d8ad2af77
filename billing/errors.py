"""One error family, so pages and the CLI catch exactly what a user may see.

Anything that is not a `BillingError` is a bug and must not be shown to a user
as if it were their fault; anything that is carries a message a clerk can act on.
"""

from __future__ import annotations

from dataclasses import dataclass


class BillingError(Exception):
    """Base of every error whose message is meant for the user."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input: which field, what value, and why."""

    field: str
    value: object
    message: str

    def __str__(self) -> str:
        # A pasted 10,000-character name is named by its start, not repeated whole.
        value = self.value
        if isinstance(value, str) and len(value) > 80:
            value = value[:80] + "…"
        return f"{self.field} {value!r}: {self.message}"


class ValidationError(BillingError):
    """Input that breaks a rule; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(str(p) for p in self.problems))


class BooksClosed(ValidationError):
    """A write dated on or before the lock date: that period's books are closed.

    A `ValidationError`, so forms and imports report it on the date's field;
    its message is the one whole sentence a clerk reads, naming both dates.
    """

    def __init__(self, *, field: str, day: object, message: str) -> None:
        super().__init__(Problem(field, day, message))
        self.args = (message,)


class PermissionDenied(BillingError):
    """The caller's role may not do this (SPEC §1), whatever the UI showed."""


class NotFound(BillingError):
    """A code, number or reference that does not exist."""


class Conflict(BillingError):
    """The request clashes with what is already recorded (duplicate key, wrong state)."""


class LedgerBusy(Conflict):
    """SQLite's write lock stayed taken past the busy timeout (a long import, say).

    Raised instead of sqlite3's "database is locked", which means nothing to a clerk
    and would otherwise look like the database had gone away.
    """

    def __init__(self) -> None:
        super().__init__(
            "The ledger is busy with another long change (an import, perhaps); "
            "nothing was saved. Try again in a minute."
        )


class WriteConflict(Conflict):
    """PostgreSQL broke a deadlock (40P01) or a serialization failure (40001) by aborting us.

    The whole transaction was rolled back, so nothing was saved; trying again
    normally succeeds. Raised instead of psycopg's error, which is an
    `OperationalError` and would otherwise look like the database had gone away.
    """

    def __init__(self) -> None:
        super().__init__("Another change got in the way; nothing was saved. Try again.")

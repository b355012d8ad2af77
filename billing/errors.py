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
        return f"{self.field} {self.value!r}: {self.message}"


class ValidationError(BillingError):
    """Input that breaks a rule; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems = problems if isinstance(problems, list) else [problems]
        super().__init__("; ".join(str(p) for p in self.problems))


class PermissionDenied(BillingError):
    """The caller's role may not do this (SPEC §1), whatever the UI showed."""


class NotFound(BillingError):
    """A code, number or reference that does not exist."""


class Conflict(BillingError):
    """The request clashes with what is already recorded (duplicate key, wrong state)."""

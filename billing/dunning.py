"""Dunning levels: how late an invoice must be before each reminder letter is due.

The office configures them on the Admin page as one line of text, stored in
the settings table (`7:Reminder; 30:Second notice; 60:Final notice`). Levels
are numbered 1..n in ascending days; a letter sent at a level is recorded
against each invoice it named (`DunningLetterItem`), so no invoice gets the
same level twice, and the last level is the final notice.

`due_level` is the one definition of "which level is an invoice at";
`queries.dunning` builds the same rule as a Polars expression (a test checks
they agree). Because letter items store only the level number, a level that
has letters on record keeps its days for good (`history_problems`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from itertools import pairwise

from billing.errors import Problem, ValidationError

MAX_LEVELS = 6
MAX_NAME_LENGTH = 60
# Ten years: far past any real dunning run, and safely inside every date type.
MAX_DAYS = 3650
EXAMPLE = "7:Reminder; 30:Second notice; 60:Final notice"
_DAYS = re.compile(r"^[0-9]+$")
# What a reader cannot see, or what would break the one-line stored form.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


@dataclass(frozen=True)
class DunningLevel:
    """One step of the dunning ladder: letter `level` is due `days` after the due date."""

    level: int
    days: int
    name: str


DEFAULT_DUNNING_LEVELS: tuple[DunningLevel, ...] = (
    DunningLevel(1, 7, "Reminder"),
    DunningLevel(2, 30, "Second notice"),
    DunningLevel(3, 60, "Final notice"),
)


def parse_dunning_levels(text: str, *, field: str = "dunning_levels") -> tuple[DunningLevel, ...]:
    """`"7:Reminder; 30:Second notice"` as levels, or a ValidationError naming `field` and `text`.

    Every problem is reported at once, each saying which part of the text is
    wrong, so an admin fixes the whole line in one go.
    """
    raw = text if isinstance(text, str) else ""
    pieces = [piece.strip() for piece in raw.split(";")]
    pieces = [piece for piece in pieces if piece]  # a trailing ";" is harmless
    problems: list[Problem] = []

    def problem(message: str) -> None:
        problems.append(Problem(field, text, message))

    if not pieces:
        problem(f"is required: days:name pairs separated by ';', e.g. {EXAMPLE}")
        raise ValidationError(problems)
    if len(pieces) > MAX_LEVELS:
        problem(f"has {len(pieces)} levels; at most {MAX_LEVELS} are allowed")
    parsed: list[tuple[int, str]] = []
    for number, piece in enumerate(pieces, start=1):
        days_text, colon, name = (part.strip() for part in piece.partition(":"))
        if not colon:
            problem(f"level {number} {piece!r} must be days:name, like 30:Second notice")
            continue
        if not (days_text.isascii() and _DAYS.match(days_text)):
            problem(f"level {number} days {days_text!r} is not a whole number of days")
            continue
        days = int(days_text)
        if days < 1:
            problem(f"level {number} days {days} must be 1 or more (days past the due date)")
        elif days > MAX_DAYS:
            problem(f"level {number} days {days} is more than {MAX_DAYS}")
        if not name:
            problem(f"level {number} ({days} days) needs a name, like Reminder")
        elif len(name) > MAX_NAME_LENGTH:
            problem(
                f"level {number} name is {len(name)} characters long; "
                f"the limit is {MAX_NAME_LENGTH}"
            )
        elif _UNPRINTABLE.search(name):
            problem(f"level {number} name contains an invisible control character; retype it")
        parsed.append((days, name))
    for (days_a, _), (days_b, _) in pairwise(parsed):
        if days_b <= days_a:
            problem(f"days must strictly increase from level to level: {days_b} after {days_a}")
    if problems:
        raise ValidationError(problems)
    return tuple(
        DunningLevel(level, days, name) for level, (days, name) in enumerate(parsed, start=1)
    )


def format_dunning_levels(levels: Sequence[DunningLevel]) -> str:
    """The levels as the settings table stores them and the Admin form shows them."""
    return "; ".join(f"{level.days}:{level.name}" for level in levels)


def level_by_number(
    levels: Sequence[DunningLevel], level: int, *, field: str = "level"
) -> DunningLevel:
    """The configured level numbered `level`, or a ValidationError listing the ones there are."""
    for candidate in levels:
        if candidate.level == level:
            return candidate
    known = ", ".join(f"{item.level} ({item.name})" for item in levels) or "none"
    raise ValidationError(Problem(field, level, f"is not a dunning level; the levels are {known}"))


def is_final(levels: Sequence[DunningLevel], level: int) -> bool:
    """True for the last level: its letter is the final notice before further steps."""
    return bool(levels) and level == max(item.level for item in levels)


def due_level(levels: Sequence[DunningLevel], days_past_due: int) -> int:
    """The highest level whose days have passed (`days <= days_past_due`), 0 when none has."""
    return max((item.level for item in levels if item.days <= days_past_due), default=0)


def level_label(levels: Sequence[DunningLevel], level: int) -> str:
    """A level's configured name, or "level N" for a number no longer configured."""
    for candidate in levels:
        if candidate.level == level:
            return candidate.name
    return f"level {level}"


def history_problems(
    before: Sequence[DunningLevel], after: Sequence[DunningLevel], used: Collection[int]
) -> list[str]:
    """Why `after` may not replace `before` when letters exist at the `used` levels (none: ok).

    A letter item stores only its level number, so levels 1..L (L the highest
    used) must keep their days: inserting a level before L, or moving or
    removing one, would make past letters count as another step and a letter
    could go twice. Names may change, and levels may be added after L.
    """
    if not used:
        return []
    top = max(used)
    old = {item.level: item for item in before}
    new = {item.level: item for item in after}
    problems: list[str] = []
    for number in range(1, top + 1):
        was = old.get(number)
        now = new.get(number)
        if was is None or (now is not None and now.days == was.days):
            continue
        if number in used:
            subject = f"level {number} ({was.days} days) has letters on record"
        else:
            subject = (
                f"level {number} ({was.days} days) comes before level {top}, "
                "which has letters on record"
            )
        if now is None:
            problems.append(
                f"{subject}; it cannot be removed, though its name can change, "
                f"and levels can be added after level {top}"
            )
        else:
            problems.append(
                f"{subject}; its days cannot change, though its name can, "
                f"and levels can be added after {'it' if number == top else f'level {top}'}"
            )
    return problems

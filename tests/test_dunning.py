"""Dunning: the levels setting, the dunning run at a date, and recording a letter as sent.

Level boundaries are days past due (as_of − due_date) with the default ladder
7 Reminder / 30 Second notice / 60 Final notice: 6 days is nothing yet, 7 is
level 1, 29 still level 1, 30 level 2, 60 and beyond level 3. A customer gets
one letter at a date, at the highest level due among its invoices, naming
every invoice due; each invoice is recorded at its own level.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, select

from billing.db import make_engine, read_session, write_session
from billing.dunning import (
    DEFAULT_DUNNING_LEVELS,
    DunningLevel,
    due_level,
    format_dunning_levels,
    history_problems,
    parse_dunning_levels,
)
from billing.errors import Conflict, NotFound, PermissionDenied, ValidationError
from billing.models import ActivityKind, AuditEntry, CollectionActivity, DunningLetterItem
from billing.repository import load_collection_frames, load_ledger_frames
from billing.roles import Actor
from billing.schema import upgrade_database
from billing.services import (
    DisputeOpen,
    SettingsUpdate,
    close_dispute,
    open_dispute,
    record_letter_sent,
    update_settings,
)
from queries.aging import aging_items
from queries.collections import CollectionFrames, collections_from_rows
from queries.dunning import due_level_expr, dunning_items, letters_due
from queries.ledger import LedgerFrames, ledger_from_rows
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER
from tests.helpers import customer, invoice, pay, table_counts

D = dt.date
AS_OF = D(2026, 3, 31)
LEVELS = DEFAULT_DUNNING_LEVELS


# --- the levels setting ------------------------------------------------------------------


def test_default_levels_are_reminder_second_and_final() -> None:
    assert [(level.level, level.days, level.name) for level in LEVELS] == [
        (1, 7, "Reminder"),
        (2, 30, "Second notice"),
        (3, 60, "Final notice"),
    ]
    assert format_dunning_levels(LEVELS) == "7:Reminder; 30:Second notice; 60:Final notice"


def test_levels_parse_numbered_in_order_and_round_trip() -> None:
    levels = parse_dunning_levels(" 10 : Friendly nudge ;45:Demand: pay now;  ")
    # Split on the first colon only, so a name may hold one; a trailing ';' is ignored.
    assert levels == (DunningLevel(1, 10, "Friendly nudge"), DunningLevel(2, 45, "Demand: pay now"))
    assert parse_dunning_levels(format_dunning_levels(levels)) == levels


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is required"),
        ("   ;  ", "is required"),
        ("seven:Reminder", "level 1 days 'seven' is not a whole number of days"),
        ("7.5:Reminder", "level 1 days '7.5' is not a whole number of days"),
        ("-7:Reminder", "level 1 days '-7' is not a whole number of days"),
        ("0:Reminder", "level 1 days 0 must be 1 or more"),
        ("7 Reminder", "level 1 '7 Reminder' must be days:name"),
        ("7:Reminder; 7:Again", "days must strictly increase from level to level: 7 after 7"),
        ("30:Second; 7:First", "days must strictly increase from level to level: 7 after 30"),
        ("7:Reminder; 30:  ", "level 2 (30 days) needs a name"),
        ("7:" + "x" * 61, "level 1 name is 61 characters long; the limit is 60"),
        ("1:a;2:b;3:c;4:d;5:e;6:f;7:g", "has 7 levels; at most 6 are allowed"),
        ("99999:Never", "level 1 days 99999 is more than 3650"),
    ],
)
def test_bad_levels_are_refused_naming_field_and_value(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_dunning_levels(text)
    problems = caught.value.problems
    assert {p.field for p in problems} == {"dunning_levels"}
    assert {p.value for p in problems} == {text}
    assert any(message in p.message for p in problems), [p.message for p in problems]


def test_sixty_characters_and_six_levels_are_the_limits() -> None:
    six = parse_dunning_levels("1:a;2:b;3:c;4:d;5:e;6:" + "f" * 60)
    assert [level.level for level in six] == [1, 2, 3, 4, 5, 6]
    assert six[-1].name == "f" * 60


def test_every_bad_level_is_reported_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        parse_dunning_levels("0:A; x:B; 30:", field="levels")
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "level 1 days 0 must be 1 or more (days past the due date)",
        "level 2 days 'x' is not a whole number of days",
        "level 3 (30 days) needs a name, like Reminder",
    ]
    assert {p.field for p in caught.value.problems} == {"levels"}


# --- the dunning run (pure Polars) -------------------------------------------------------

CUSTOMERS = [
    {
        "customer_id": 1,
        "customer_code": "C001",
        "customer_name": "Acme Ltd",
        "currency": "USD",
        "payment_terms_days": 30,
        "credit_limit_minor": 0,
    },
    {
        "customer_id": 2,
        "customer_code": "C002",
        "customer_name": "Beta KK",
        "currency": "JPY",
        "payment_terms_days": 30,
        "credit_limit_minor": 0,
    },
]


def inv(
    invoice_id: int, days_late: int, total: int, *, customer_id: int = 1, number: str = ""
) -> dict[str, Any]:
    """A posted invoice due `days_late` days before AS_OF, issued 30 days before its due date."""
    due = AS_OF - dt.timedelta(days=days_late)
    return {
        "invoice_id": invoice_id,
        "invoice_number": number or f"INV-{invoice_id}",
        "customer_id": customer_id,
        "currency": "USD" if customer_id == 1 else "JPY",
        "issue_date": due - dt.timedelta(days=30),
        "due_date": due,
        "total_minor": total,
    }


def ledger_of(invoices: list[dict[str, Any]], **tables: list[dict[str, Any]]) -> LedgerFrames:
    return ledger_from_rows(invoices=invoices, customers=CUSTOMERS, **tables)


def letter_item(invoice_id: int, level: int, sent: dt.date, open_minor: int = 1) -> dict[str, Any]:
    return {
        "activity_id": 100 + level,
        "invoice_id": invoice_id,
        "customer_id": 1,
        "dunning_level": level,
        "open_minor": open_minor,
        "sent_date": sent,
    }


def dispute(
    invoice_id: int, opened: dt.date, closed: dt.date | None = None, *, dispute_id: int = 1
) -> dict[str, Any]:
    return {
        "dispute_id": dispute_id,
        "invoice_id": invoice_id,
        "customer_id": 1,
        "opened_date": opened,
        "reason": "wrong quantity",
        "closed_date": closed,
        "resolution": None if closed is None else "closed",
    }


def due(
    ledger: LedgerFrames, collections: CollectionFrames | None = None, as_of: dt.date = AS_OF
) -> dict[str, int]:
    """invoice_number → level due at `as_of`."""
    frame = dunning_items(
        ledger, collections or collections_from_rows(), as_of=as_of, levels=LEVELS
    ).collect()
    return dict(zip(frame["invoice_number"], frame["level"], strict=True))


@pytest.mark.parametrize(
    ("days_late", "level"),
    [
        (-5, None),  # not yet due
        (0, None),  # due today: not late
        (6, None),  # one day short of the Reminder
        (7, 1),  # 7 ≥ 7: Reminder
        (29, 1),  # 29 < 30: still the Reminder
        (30, 2),  # 30 ≥ 30: Second notice
        (59, 2),  # 59 < 60
        (60, 3),  # 60 ≥ 60: Final notice
        (400, 3),  # past the last level: still the final notice
    ],
)
def test_level_boundaries(days_late: int, level: int | None) -> None:
    got = due(ledger_of([inv(1, days_late, 10_000)]))
    assert got == ({} if level is None else {"INV-1": level})


def test_an_invoice_first_seen_late_skips_to_its_level() -> None:
    # 45 days late, nothing sent: 30 ≤ 45 < 60, so the Second notice, not the Reminder.
    assert due(ledger_of([inv(1, 45, 10_000)])) == {"INV-1": 2}


def test_no_letter_twice_at_the_same_level() -> None:
    ledger = ledger_of([inv(1, 45, 10_000)])
    # The Second notice went out on 2026-03-20; on AS_OF (45 days late) it is not due again.
    sent = collections_from_rows(letter_items=[letter_item(1, 2, D(2026, 3, 20))])
    assert due(ledger, sent) == {}
    # 60 days late (on 2026-04-15, due date 2026-02-14 + 60) the Final notice is due.
    assert due(ledger, sent, as_of=D(2026, 4, 15)) == {"INV-1": 3}
    assert due(ledger, sent, as_of=D(2026, 4, 14)) == {}  # 59 days: nothing


def test_a_later_level_already_sent_covers_an_earlier_one() -> None:
    # A Final notice sent by hand at 45 days: neither level 2 nor 3 is due after it.
    ledger = ledger_of([inv(1, 70, 10_000)])
    sent = collections_from_rows(letter_items=[letter_item(1, 3, D(2026, 3, 1))])
    assert due(ledger, sent) == {}


def test_the_reminder_sent_leads_to_the_second_notice() -> None:
    ledger = ledger_of([inv(1, 30, 10_000)])
    sent = collections_from_rows(letter_items=[letter_item(1, 1, D(2026, 3, 8))])
    assert due(ledger, sent) == {"INV-1": 2}  # 30 days: level 2 > the 1 already sent


def test_a_letter_sent_after_the_date_does_not_count_yet() -> None:
    ledger = ledger_of([inv(1, 10, 10_000)])
    sent = collections_from_rows(letter_items=[letter_item(1, 1, AS_OF + dt.timedelta(days=1))])
    assert due(ledger, sent) == {"INV-1": 1}  # at AS_OF it had not been sent
    assert due(ledger, sent, as_of=AS_OF + dt.timedelta(days=1)) == {}


def test_settled_and_partly_paid_invoices() -> None:
    ledger = ledger_of(
        [inv(1, 10, 10_000), inv(2, 10, 5_000)],
        allocations=[
            {
                "payment_id": 1,
                "invoice_id": 1,
                "applied_date": D(2026, 3, 1),
                "amount_minor": 10_000,
            },
            {
                "payment_id": 1,
                "invoice_id": 2,
                "applied_date": D(2026, 3, 1),
                "amount_minor": 2_000,
            },
        ],
        adjustments=[
            {"invoice_id": 2, "kind": "credit_note", "date": D(2026, 3, 2), "amount_minor": 500}
        ],
    )
    items = dunning_items(ledger, collections_from_rows(), as_of=AS_OF, levels=LEVELS).collect()
    # INV-1 paid in full; INV-2: 5000 − 2000 paid − 500 credited = 2500 open.
    assert items.select("invoice_number", "open_minor").rows() == [("INV-2", 2_500)]


def test_disputed_invoices_leave_dunning_but_stay_in_the_aging() -> None:
    ledger = ledger_of([inv(1, 40, 10_000), inv(2, 40, 3_000)])
    disputed = collections_from_rows(disputes=[dispute(1, D(2026, 3, 10))])
    assert due(ledger, disputed) == {"INV-2": 2}
    aged = aging_items(ledger, as_of=AS_OF).collect()
    assert sorted(aged["invoice_number"]) == ["INV-1", "INV-2"]  # both still owed
    assert aged["open_minor"].sum() == 13_000  # 10000 + 3000


def test_a_closed_dispute_brings_the_invoice_back() -> None:
    ledger = ledger_of([inv(1, 40, 10_000)])
    closed = collections_from_rows(disputes=[dispute(1, D(2026, 3, 1), D(2026, 3, 20))])
    # Due 03-31 − 40 days = 02-19. Closed on 03-20, before AS_OF (40 days late): level 2.
    assert due(ledger, closed) == {"INV-1": 2}
    # On 2026-03-15 the dispute was still open: out of dunning then.
    assert due(ledger, closed, as_of=D(2026, 3, 15)) == {}
    # Closed on the day itself counts as closed that day: 03-20 − 02-19 = 29 days, level 1.
    assert due(ledger, closed, as_of=D(2026, 3, 20)) == {"INV-1": 1}
    # Opened 03-01, so on 02-28 not yet disputed: 02-28 − 02-19 = 9 days, level 1.
    assert due(ledger, closed, as_of=D(2026, 2, 28)) == {"INV-1": 1}


def test_one_letter_per_customer_at_its_highest_level() -> None:
    ledger = ledger_of(
        [
            inv(1, 8, 10_000),  # C001 level 1
            inv(2, 20, 2_550),  # C001 level 1
            inv(3, 35, 700),  # C001 level 2: C001's letter is the Second notice
            inv(4, 3, 999),  # C001 not late enough: not on the letter
            inv(5, 61, 12_345, customer_id=2),  # C002 level 3 (JPY)
        ]
    )
    letters = letters_due(ledger, collections_from_rows(), as_of=AS_OF, levels=LEVELS).collect()
    expected = pl.DataFrame(
        {
            "customer_id": [1, 2],
            "customer_code": ["C001", "C002"],
            "customer_name": ["Acme Ltd", "Beta KK"],
            "currency": ["USD", "JPY"],
            "level": [2, 3],  # max(1, 1, 2); 3
            "level_name": ["Second notice", "Final notice"],
            "invoices": [3, 1],
            "open_minor": [13_250, 12_345],  # 10000 + 2550 + 700; 12345
        },
        schema_overrides={"customer_id": pl.Int64, "level": pl.Int64, "invoices": pl.Int64},
    )
    assert_frame_equal(letters, expected)
    # Each invoice keeps its own level in the run, oldest due date first.
    items = dunning_items(ledger, collections_from_rows(), as_of=AS_OF, levels=LEVELS).collect()
    assert items.select("invoice_number", "level").rows() == [
        ("INV-3", 2),
        ("INV-2", 1),
        ("INV-1", 1),
        ("INV-5", 3),
    ]


def test_an_invoice_already_at_its_level_leaves_the_letter_but_the_rest_stay() -> None:
    # C001: INV-1 35 days (level 2, already sent), INV-2 10 days (level 1, not sent).
    ledger = ledger_of([inv(1, 35, 700), inv(2, 10, 300)])
    sent = collections_from_rows(letter_items=[letter_item(1, 2, D(2026, 3, 30))])
    letters = letters_due(ledger, sent, as_of=AS_OF, levels=LEVELS).collect()
    # Only INV-2 is due, so the letter is a Reminder for 300, not a Second notice.
    assert letters.select("customer_code", "level_name", "invoices", "open_minor").rows() == [
        ("C001", "Reminder", 1, 300)
    ]


def test_dunning_items_columns_and_order() -> None:
    ledger = ledger_of([inv(2, 20, 2_550), inv(1, 8, 10_000)])
    items = dunning_items(ledger, collections_from_rows(), as_of=AS_OF, levels=LEVELS).collect()
    assert items.columns == [
        "customer_id",
        "customer_code",
        "customer_name",
        "currency",
        "invoice_id",
        "invoice_number",
        "issue_date",
        "due_date",
        "days_past_due",
        "open_minor",
        "level",
        "level_name",
    ]
    # Oldest due date first within a level: INV-2 (20 days late) before INV-1 (8).
    assert items.select("invoice_number", "days_past_due", "level_name").rows() == [
        ("INV-2", 20, "Reminder"),
        ("INV-1", 8, "Reminder"),
    ]


def test_other_levels_from_the_settings() -> None:
    levels = parse_dunning_levels("15:Nudge; 45:Last call")
    ledger = ledger_of([inv(1, 14, 100), inv(2, 15, 100), inv(3, 44, 100), inv(4, 90, 100)])
    frame = dunning_items(ledger, collections_from_rows(), as_of=AS_OF, levels=levels).collect()
    assert dict(zip(frame["invoice_number"], frame["level_name"], strict=True)) == {
        "INV-2": "Nudge",  # 15 ≥ 15
        "INV-3": "Nudge",  # 44 < 45
        "INV-4": "Last call",  # 90 ≥ 45
    }


# A pure-Python reference for the run: one invoice per (days late, highest level sent, disputed).
CASE = st.tuples(
    st.integers(min_value=-20, max_value=120),
    st.sampled_from([None, 1, 2, 3]),
    st.booleans(),
)
LADDER = st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=6, unique=True)


@settings(max_examples=150, deadline=None)
@given(cases=st.lists(CASE, max_size=12), days=LADDER)
def test_the_run_matches_a_plain_python_reference(
    cases: list[tuple[int, int | None, bool]], days: list[int]
) -> None:
    levels = parse_dunning_levels("; ".join(f"{d}:L{d}" for d in sorted(days)))
    assert parse_dunning_levels(format_dunning_levels(levels)) == levels
    invoices = [inv(i, late, 100) for i, (late, _, _) in enumerate(cases, start=1)]
    letters = [
        letter_item(i, sent, AS_OF)
        for i, (_, sent, _) in enumerate(cases, start=1)
        if sent is not None and sent <= len(levels)
    ]
    disputes = [
        dispute(i, AS_OF, dispute_id=i)
        for i, (_, _, disputed) in enumerate(cases, start=1)
        if disputed
    ]
    got = dunning_items(
        ledger_of(invoices),
        collections_from_rows(letter_items=letters, disputes=disputes),
        as_of=AS_OF,
        levels=levels,
    ).collect()
    expected = {}
    for i, (late, sent, disputed) in enumerate(cases, start=1):
        reached = [level.level for level in levels if late >= level.days]
        already = sent if sent is not None and sent <= len(levels) else 0
        if reached and not disputed and max(reached) > already:
            expected[f"INV-{i}"] = max(reached)
    assert dict(zip(got["invoice_number"], got["level"], strict=True)) == expected


@settings(max_examples=200, deadline=None)
@given(
    days=LADDER,
    # Mostly near the levels' days (1..100), where an off-by-one would show.
    past_due=st.lists(
        st.integers(min_value=-2, max_value=102) | st.integers(min_value=-200, max_value=4000),
        min_size=1,
        max_size=30,
    ),
)
def test_the_polars_due_level_agrees_with_the_python_one(
    days: list[int], past_due: list[int]
) -> None:
    """The run (Polars) and the service (Python) must put an invoice at the same level."""
    levels = parse_dunning_levels("; ".join(f"{d}:L{d}" for d in sorted(days)))
    frame = pl.DataFrame({"days": past_due}, schema={"days": pl.Int64})
    got = frame.select(level=due_level_expr(pl.col("days"), levels))["level"].to_list()
    assert got == [due_level(levels, late) for late in past_due]
    # And both are "how many levels' days are reached" (levels ascend in days).
    assert got == [sum(1 for d in days if d <= late) for late in past_due]


def test_due_level_boundaries_in_python() -> None:
    # 7/30/60: 6 → 0, 7 → 1, 29 → 1, 30 → 2, 60 → 3; no levels → always 0.
    assert [due_level(LEVELS, d) for d in (-1, 0, 6, 7, 29, 30, 59, 60, 999)] == [
        0, 0, 0, 1, 1, 2, 2, 3, 3
    ]  # fmt: skip
    assert due_level((), 100) == 0


def test_levels_with_letters_keep_their_days() -> None:
    inserted = parse_dunning_levels("7:Reminder; 14:Call; 30:Second notice; 60:Final notice")
    # Letters at level 2 (30 days): inserting 14:Call makes level 2 mean 14 days.
    assert history_problems(LEVELS, inserted, {2}) == [
        "level 2 (30 days) has letters on record; its days cannot change, though its name "
        "can, and levels can be added after it"
    ]
    # Letters only at level 1 (7 days): level 2 onwards may change.
    assert history_problems(LEVELS, inserted, {1}) == []
    # No letters at all: anything goes.
    assert history_problems(LEVELS, parse_dunning_levels("3:Ping"), set()) == []


def test_renaming_and_adding_after_the_used_levels_is_allowed() -> None:
    renamed = parse_dunning_levels("7:Nudge; 30:Demand; 45:Final; 90:Lawyer")
    # Levels 1 and 2 keep 7 and 30 days; 3 moves 60 → 45 and 4 is new: no letters there.
    assert history_problems(LEVELS, renamed, {1, 2}) == []
    # With letters at level 3 too, its move from 60 to 45 days is refused.
    assert history_problems(LEVELS, renamed, {3}) == [
        "level 3 (60 days) has letters on record; its days cannot change, though its name "
        "can, and levels can be added after it"
    ]


def test_a_level_below_a_used_one_or_a_used_one_removed_is_refused() -> None:
    moved = parse_dunning_levels("10:Reminder; 30:Second notice")
    assert history_problems(LEVELS, moved, {2}) == [
        "level 1 (7 days) comes before level 2, which has letters on record; its days cannot "
        "change, though its name can, and levels can be added after level 2"
    ]
    shorter = parse_dunning_levels("7:Reminder")
    assert history_problems(LEVELS, shorter, {1, 2}) == [
        "level 2 (30 days) has letters on record; it cannot be removed, though its name can "
        "change, and levels can be added after level 2"
    ]


# --- record_letter_sent on both databases ---------------------------------------------------

SENT = D(2026, 2, 16)  # INV-1 (issued 01-10, due 02-09) is 7 days late: the Reminder


def send(
    engine: Engine,
    numbers: list[str],
    *,
    day: dt.date = SENT,
    actor: Actor = MANAGER,
    code: str = "C001",
    body: str = "Dear Acme Ltd, ...",
) -> CollectionActivity:
    with write_session(engine) as s:
        return record_letter_sent(
            s,
            actor=actor,
            customer_code=code,
            letter_date=day,
            invoice_numbers=numbers,
            body=body,
        )


def items(engine: Engine) -> list[tuple[int, int, int]]:
    """(invoice id, level, open_minor) of every letter item, in the order written."""
    with read_session(engine) as s:
        rows = s.execute(
            select(
                DunningLetterItem.invoice_id,
                DunningLetterItem.dunning_level,
                DunningLetterItem.open_minor,
            ).order_by(DunningLetterItem.id)
        )
        return [tuple(row) for row in rows]


def run_from_db(engine: Engine, as_of: dt.date) -> tuple[list[Any], list[Any]]:
    """(letters due: customer, level, invoices, open) and (items due: invoice, level) at `as_of`."""
    with read_session(engine) as s:
        frames = load_ledger_frames(s), load_collection_frames(s)
    letters = letters_due(*frames, as_of=as_of, levels=LEVELS).collect()
    due_items = dunning_items(*frames, as_of=as_of, levels=LEVELS).collect()
    return (
        letters.select("customer_code", "level", "invoices", "open_minor").rows(),
        due_items.select("invoice_number", "level").rows(),
    )


def test_a_letter_is_recorded_with_its_items_and_audited(ledger: Engine) -> None:
    invoice(ledger, "INV-2", "C001", D(2026, 1, 5), 2_550)  # due 02-04
    pay(ledger, "C001", "P1", D(2026, 2, 12), 3_000, invoice_number="INV-1")
    activity = send(ledger, ["INV-1", "INV-2"], body="the letter")
    with read_session(ledger) as s:
        stored = s.get_one(CollectionActivity, activity.id)
        assert (stored.kind, stored.dunning_level, stored.activity_date, stored.body) == (
            ActivityKind.LETTER,
            1,  # INV-1 7 days, INV-2 12 days: both the Reminder
            SENT,
            "the letter",
        )
        assert stored.created_by == MANAGER.name
        (entry,) = s.scalars(select(AuditEntry).where(AuditEntry.action == "send_dunning_letter"))
    # INV-1: 10000 − 3000 paid = 7000 open; INV-2 untouched, 2550.
    assert items(ledger) == [(1, 1, 7_000), (2, 1, 2_550)]
    after = json.loads(entry.after or "")
    assert (entry.entity, entry.entity_id, after["level_name"]) == ("customer", "C001", "Reminder")
    assert after["items"] == [
        {"invoice_number": "INV-1", "dunning_level": 1, "open_minor": 7_000},
        {"invoice_number": "INV-2", "dunning_level": 1, "open_minor": 2_550},
    ]


def test_one_letter_at_the_highest_level_each_item_at_its_own(ledger: Engine) -> None:
    """The review's case: one letter for two levels, then only the invoice that moved on."""
    invoice(ledger, "INV-2", "C001", D(2026, 1, 16), 2_550)  # due 02-15
    march_12 = D(2026, 3, 12)
    # On 03-12: INV-1 (due 02-09) is 19 + 12 = 31 days late → level 2 (30 ≤ 31 < 60);
    # INV-2 (due 02-15) is 13 + 12 = 25 days late → level 1 (7 ≤ 25 < 30).
    # One letter for C001 at level 2 naming both: 10000 + 2550 = 12550.
    assert run_from_db(ledger, march_12) == (
        [("C001", 2, 2, 12_550)],
        [("INV-1", 2), ("INV-2", 1)],
    )
    activity = send(ledger, ["INV-1", "INV-2"], day=march_12)
    assert activity.dunning_level == 2
    assert items(ledger) == [(1, 2, 10_000), (2, 1, 2_550)]  # each at its own level
    assert run_from_db(ledger, march_12) == ([], [])

    # Ten days later, 03-22: INV-1 is 41 days late, still level 2 (sent): not due.
    # INV-2 is 35 days late: level 2 > the 1 it had, so a Second notice for INV-2 alone.
    march_22 = D(2026, 3, 22)
    assert run_from_db(ledger, march_22) == ([("C001", 2, 1, 2_550)], [("INV-2", 2)])
    with pytest.raises(Conflict) as caught:
        send(ledger, ["INV-1", "INV-2"], day=march_22)
    assert str(caught.value) == (
        "INV-1 already had the Second notice on 2026-03-12; a level is sent once per invoice"
    )
    send(ledger, ["INV-2"], day=march_22)
    assert items(ledger) == [(1, 2, 10_000), (2, 1, 2_550), (2, 2, 2_550)]
    assert run_from_db(ledger, march_22) == ([], [])


def test_a_letter_dated_after_today_is_refused(ledger: Engine) -> None:
    today = dt.date.today()
    tomorrow = today + dt.timedelta(days=1)
    before = table_counts(ledger)
    with pytest.raises(ValidationError) as caught:
        send(ledger, ["INV-1"], day=tomorrow)
    assert [(p.field, p.value, p.message) for p in caught.value.problems] == [
        (
            "letter_date",
            tomorrow.isoformat(),
            "is in the future; a letter is recorded on the day it is sent, "
            f"today ({today.isoformat()}) at the latest",
        )
    ]
    assert table_counts(ledger) == before
    send(ledger, ["INV-1"], day=today)  # today itself is fine (INV-1 is long overdue by then)


def test_an_invoice_not_yet_at_the_first_level_is_refused(ledger: Engine) -> None:
    invoice(ledger, "INV-2", "C001", D(2026, 1, 12), 500)  # due 02-11
    invoice(ledger, "INV-3", "C001", D(2026, 1, 20), 500)  # due 02-19
    before = table_counts(ledger)
    with pytest.raises(ValidationError) as caught:
        # On 02-12: INV-1 (due 02-09) 3 days, INV-2 1 day, INV-3 not due for a week.
        send(ledger, ["INV-1", "INV-2", "INV-3"], day=D(2026, 2, 12))
    assert [(p.value, p.message) for p in caught.value.problems] == [
        (
            "INV-1",
            "is only 3 days past due on 2026-02-12; the first letter (Reminder) is at 7 days",
        ),
        ("INV-2", "is only 1 day past due on 2026-02-12; the first letter (Reminder) is at 7 days"),
        (
            "INV-3",
            "is not past due on 2026-02-12 (due 2026-02-19); the first letter (Reminder) "
            "is at 7 days",
        ),
    ]
    assert table_counts(ledger) == before
    send(ledger, ["INV-1"], day=D(2026, 2, 16))  # 7 days: the Reminder goes


def test_the_same_level_twice_is_refused_naming_when(ledger: Engine) -> None:
    send(ledger, ["INV-1"], day=D(2026, 3, 12))  # 31 days: Second notice
    invoice(ledger, "INV-2", "C001", D(2026, 1, 5), 2_550)  # due 02-04
    before = table_counts(ledger)
    with pytest.raises(Conflict) as caught:
        send(ledger, ["INV-2", "INV-1"], day=D(2026, 3, 20))  # INV-1 39 days: level 2 again
    assert str(caught.value) == (
        "INV-1 already had the Second notice on 2026-03-12; a level is sent once per invoice"
    )
    assert table_counts(ledger) == before  # INV-2's item was not written either
    # Back-dated to 02-20 (11 days, the Reminder): the later Second notice covers it.
    with pytest.raises(Conflict) as caught:
        send(ledger, ["INV-1"], day=D(2026, 2, 20))
    assert str(caught.value) == (
        "INV-1 already had the Second notice on 2026-03-12, past the Reminder it is at on "
        "2026-02-20; a level is sent once per invoice"
    )
    send(ledger, ["INV-1"], day=D(2026, 4, 10))  # 60 days: the Final notice goes
    assert [level for _, level, _ in items(ledger)] == [2, 3]


def test_the_levels_come_from_the_settings(ledger: Engine) -> None:
    with write_session(ledger) as s:
        update_settings(
            s,
            actor=ADMIN,
            data=SettingsUpdate("Office", "30,60,90", dunning_levels="5:Nudge; 20:Last call"),
        )
    with pytest.raises(ValidationError, match="the first letter \\(Nudge\\) is at 5 days"):
        send(ledger, ["INV-1"], day=D(2026, 2, 13))  # 4 days
    send(ledger, ["INV-1"], day=D(2026, 3, 1))  # 20 days: level 2, Last call
    assert items(ledger) == [(1, 2, 10_000)]
    with pytest.raises(Conflict, match="INV-1 already had the Last call on 2026-03-01"):
        send(ledger, ["INV-1"], day=D(2026, 3, 5))


@pytest.mark.parametrize("actor", [CLERK, FINANCE])
def test_only_managers_send_letters(ledger: Engine, actor: Actor) -> None:
    before = table_counts(ledger)
    with pytest.raises(PermissionDenied):
        send(ledger, ["INV-1"], actor=actor)
    assert table_counts(ledger) == before


def test_every_bad_input_is_reported(ledger: Engine) -> None:
    with pytest.raises(ValidationError) as caught:
        send(ledger, ["INV-1", "INV-1", ""], body=" ", code="")
    assert [(p.field, p.value, p.message) for p in caught.value.problems] == [
        ("customer_code", "", "is required"),
        ("invoice_numbers", "", "is required"),
        ("invoice_numbers", "INV-1", "is named twice"),
        ("body", " ", "is required"),
    ]
    with pytest.raises(ValidationError, match="invoice_numbers \\[\\]: name at least one invoice"):
        send(ledger, [])


def test_each_invoice_must_be_the_customers_posted_open_and_undisputed(ledger: Engine) -> None:
    customer(ledger, "C002")
    invoice(ledger, "OTHER", "C002", D(2026, 1, 5), 100)
    invoice(ledger, "DRAFT", "C001", D(2026, 1, 5), 100, post=False)
    invoice(ledger, "PAID", "C001", D(2026, 1, 5), 100)
    pay(ledger, "C001", "P1", D(2026, 1, 20), 100, invoice_number="PAID")
    invoice(ledger, "DISPUTED", "C001", D(2026, 1, 5), 100)
    with write_session(ledger) as s:
        open_dispute(s, actor=CLERK, data=DisputeOpen("DISPUTED", "never delivered", D(2026, 2, 1)))
    before = table_counts(ledger)
    with pytest.raises(ValidationError) as caught:
        send(ledger, ["OTHER", "DRAFT", "PAID", "DISPUTED", "INV-1"])
    assert [(p.value, p.message) for p in caught.value.problems] == [
        ("OTHER", "belongs to another customer, not C001"),
        ("DRAFT", "is draft, not posted"),
        ("PAID", "is fully settled; there is nothing to remind of"),
        ("DISPUTED", "is disputed: out of dunning until it is closed"),
    ]
    assert table_counts(ledger) == before
    with pytest.raises(NotFound, match="no invoice numbered 'NOPE'"):
        send(ledger, ["INV-1", "NOPE"])
    with write_session(ledger) as s:
        close_dispute(
            s, actor=MANAGER, invoice_number="DISPUTED", closed_date=D(2026, 2, 10), note="fine"
        )
    send(ledger, ["DISPUTED", "INV-1"])  # closed: back in dunning


def test_the_run_from_the_database_stops_offering_a_sent_letter(ledger: Engine) -> None:
    """The loop a manager goes through: what is due, send it, it is due no more."""
    assert run_from_db(ledger, SENT)[1] == [("INV-1", 1)]
    send(ledger, ["INV-1"])
    assert run_from_db(ledger, SENT) == ([], [])
    assert run_from_db(ledger, D(2026, 3, 11))[1] == [("INV-1", 2)]  # 02-09 + 30 days = 03-11
    with write_session(ledger) as s:
        open_dispute(s, actor=CLERK, data=DisputeOpen("INV-1", "price", D(2026, 3, 1)))
    assert run_from_db(ledger, D(2026, 3, 11)) == ([], [])


# --- two managers sending the same letter at once ------------------------------------------

THREADS = 6


@pytest.fixture
def contested(database_url: str) -> Iterator[Engine]:
    """A migrated ledger with one connection per thread."""
    engine = make_engine(database_url, pool_size=THREADS, max_overflow=0)
    upgrade_database(engine)
    yield engine
    engine.dispose()


def run_together(work: Any) -> list[BaseException | None]:
    """Run `work()` in THREADS threads released at once; each one's error, or None."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[BaseException | None] = [None] * THREADS

    def worker(i: int) -> None:
        barrier.wait()
        try:
            work()
        except BaseException as error:  # judged below, never swallowed
            outcomes[i] = error

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return outcomes


def test_the_same_letter_sent_at_once_goes_once(contested: Engine) -> None:
    customer(contested, "C001")
    invoice(contested, "INV-1", "C001", D(2026, 1, 10), 10_000)
    invoice(contested, "INV-2", "C001", D(2026, 1, 5), 5_000)  # due 02-04: 12 days on 02-16
    outcomes = run_together(lambda: send(contested, ["INV-1", "INV-2"]))
    refused = [error for error in outcomes if error is not None]
    assert len(refused) == THREADS - 1
    for error in refused:
        assert isinstance(error, Conflict), repr(error)
        # Refused by the check (it names the level and date) or, in a true race, the constraint.
        assert "already had the Reminder on 2026-02-16" in str(
            error
        ) or "recorded by someone else just now" in str(error)
        assert "sqlalchemy" not in str(error).lower()
    assert items(contested) == [(1, 1, 10_000), (2, 1, 5_000)]
    with read_session(contested) as s:
        letters = s.scalars(
            select(CollectionActivity).where(CollectionActivity.kind == ActivityKind.LETTER)
        ).all()
        audited = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "send_dunning_letter")
        ).all()
    assert (len(letters), len(audited)) == (1, 1)


def test_the_unique_constraint_backs_up_the_check(
    ledger: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race the check cannot see (both checked before either wrote) still ends in a Conflict."""
    send(ledger, ["INV-1"])
    monkeypatch.setattr("billing.services.dunning._already_sent", lambda *a: {})
    before = table_counts(ledger)
    with pytest.raises(Conflict) as caught:
        send(ledger, ["INV-1"])
    assert str(caught.value) == (
        "A letter for one of these invoices was recorded by someone else just now; "
        "nothing was saved. Reload to see it."
    )
    assert table_counts(ledger) == before

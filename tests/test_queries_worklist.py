"""The collections worklist (queries.worklist): who is on it, the score's four parts, filters.

Each test builds a tiny ledger where only the part under test differs between
customers, works the expected points out in the comments, and reads them back.
The last test compares the whole list with a plain-Python reading of the rules
over random ledgers, disputes, promises and follow-ups.
"""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from math import floor
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from queries.aging import bucket_labels
from queries.collections import collections_from_rows
from queries.ledger import ledger_from_rows
from queries.worklist import (
    AGE_POINTS_MAX,
    AMOUNT_POINTS,
    BEHAVIOUR_POINTS_MAX,
    PROMISE_POINTS_MAX,
    SCORE_FORMULA,
    SCORE_MAX,
    UNASSIGNED,
    filter_worklist,
    worklist,
)
from tests import reference as ref
from tests.reference import Ledger
from tests.strategies import DAY, as_of_dates, boundaries
from tests.test_queries_promises import (
    activity,
    allocation,
    customer,
    invoice,
    ledgers_with_promises,
    payment,
    promise,
    reference_status,
)

D = dt.date
AS_OF = D(2026, 6, 30)
BOUNDS = (30, 60, 90)
Row = dict[str, Any]


def run(
    ledger: Row,
    collections: Row | None = None,
    *,
    as_of: dt.date = AS_OF,
    bounds: tuple[int, ...] = BOUNDS,
) -> pl.DataFrame:
    return worklist(
        ledger_from_rows(**ledger),
        collections_from_rows(**(collections or {})),
        as_of=as_of,
        boundaries=bounds,
    ).collect()


def by_code(frame: pl.DataFrame, *columns: str) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in frame.select("customer_code", *columns).rows()}


def dispute(
    dispute_id: int, invoice_id: int, customer_id: int, opened: dt.date, closed: dt.date | None
) -> Row:
    return {
        "dispute_id": dispute_id,
        "invoice_id": invoice_id,
        "customer_id": customer_id,
        "opened_date": opened,
        "reason": "price",
        "closed_date": closed,
        "resolution": None if closed is None else "closed",
    }


def tied(days_past_due: int, *codes: str, amount: int = 100) -> Row:
    """One overdue invoice of `amount` per customer, all due the same day: equal amount and age."""
    due = AS_OF - days_past_due * DAY
    return {
        "customers": [customer(i, code) for i, code in enumerate(codes, 1)],
        "invoices": [invoice(i, i, due, amount) for i in range(1, len(codes) + 1)],
    }


# --- the columns ------------------------------------------------------------------------


def test_an_empty_book_gives_an_empty_list_with_every_column() -> None:
    got = run({})
    assert got.height == 0
    labels = bucket_labels(BOUNDS)
    assert got.schema == pl.Schema(
        {
            "customer_id": pl.Int64(),
            "customer_code": pl.String(),
            "customer_name": pl.String(),
            "currency": pl.String(),
            "owner": pl.String(),
            "overdue_minor": pl.Int64(),
            "disputed_minor": pl.Int64(),
            "max_days_past_due": pl.Int64(),
            "oldest_bucket": pl.Enum(labels),
            "days_late": pl.Float64(),
            "broken_promises": pl.Int64(),
            "open_promise_date": pl.Date(),
            "last_contact_date": pl.Date(),
            "follow_up_date": pl.Date(),
            "follow_up_due": pl.Boolean(),
            "snoozed_until": pl.Date(),
            "snoozed": pl.Boolean(),
            "amount_points": pl.Int64(),
            "age_points": pl.Int64(),
            "behaviour_points": pl.Int64(),
            "promise_points": pl.Int64(),
            "score": pl.Int64(),
        }
    )


def test_the_formula_text_and_the_weights_agree() -> None:
    # 35 + 30 + 15 + 20 = 100: the score is out of 100, and the text says every weight.
    assert SCORE_MAX == AMOUNT_POINTS + AGE_POINTS_MAX + BEHAVIOUR_POINTS_MAX + PROMISE_POINTS_MAX
    assert SCORE_MAX == 100
    for words in ("(0–100)", "(up to 35)", "(up to 30)", "(up to 15)", "(up to 20)"):
        assert words in SCORE_FORMULA
    for words in ("per 3 days", "90+ days = 30", "per 2 days", "30+ days = 15", "10 per promise"):
        assert words in SCORE_FORMULA
    assert "last 90 days" in SCORE_FORMULA


# --- age --------------------------------------------------------------------------------


def test_age_points_and_oldest_bucket_around_the_caps() -> None:
    # One 1.00 invoice each, all the same amount: amount points tie at 0 (nobody owes less).
    # Age points = min(30, days // 3); buckets (30, 60, 90): an upper bound belongs to its bucket.
    days = {"D001": 1, "D002": 2, "D003": 3, "D030": 30, "D031": 31, "D089": 89, "D090": 90}
    days |= {"D091": 91, "D200": 200}
    ledger: Row = {"customers": [], "invoices": []}
    for i, (code, late) in enumerate(days.items(), 1):
        ledger["customers"].append(customer(i, code))
        ledger["invoices"].append(invoice(i, i, AS_OF - late * DAY, 100))
    # D000: due today, not yet late: not on the list. D040: 10 and 40 days -> the older one counts.
    ledger["customers"] += [customer(20, "D000"), customer(21, "D040")]
    ledger["invoices"] += [
        invoice(20, 20, AS_OF, 100),
        invoice(21, 21, AS_OF - 10 * DAY, 60),
        invoice(22, 21, AS_OF - 40 * DAY, 40),
    ]
    got = run(ledger)
    assert by_code(got, "max_days_past_due", "oldest_bucket", "age_points", "amount_points") == {
        "D001": (1, "1-30", 0, 0),  # 1 // 3 = 0
        "D002": (2, "1-30", 0, 0),  # 2 // 3 = 0
        "D003": (3, "1-30", 1, 0),  # 3 // 3 = 1
        "D030": (30, "1-30", 10, 0),  # 30 // 3 = 10
        "D031": (31, "31-60", 10, 0),  # 31 // 3 = 10
        "D040": (40, "31-60", 13, 0),  # 40 // 3 = 13; overdue 60 + 40 = 100, a tie
        "D089": (89, "61-90", 29, 0),  # 89 // 3 = 29
        "D090": (90, "61-90", 30, 0),  # 90 // 3 = 30, the cap
        "D091": (91, "91+", 30, 0),  # 30 (capped)
        "D200": (200, "91+", 30, 0),  # 66 -> 30
    }
    # Other boundaries relabel the same ages: (15, 45) -> 31 is 16-45, 89 is 46+.
    other = run(ledger, bounds=(15, 45))
    assert other.schema["oldest_bucket"] == pl.Enum(["current", "1-15", "16-45", "46+"])
    assert by_code(other, "oldest_bucket")["D031"] == ("16-45",)
    assert by_code(other, "oldest_bucket")["D089"] == ("46+",)


# --- behaviour --------------------------------------------------------------------------


def test_behaviour_points_around_the_cap() -> None:
    # Everyone owes 1.00 ten days late (amount 0 points as a tie, age 10 // 3 = 3), and paid an
    # earlier 1.00 invoice (due 05-01) L days after its due date: days_late = L.
    # Behaviour points = min(15, max(0, days_late) // 2).
    late = {"B-5": [-5], "B01": [1], "B02": [2], "B03": [3], "B29": [29], "B30": [30]}
    late |= {"B45": [45], "B29.5": [29, 30], "BNONE": []}
    ledger: Row = {"customers": [], "invoices": [], "payments": [], "allocations": []}
    paid_due = D(2026, 5, 1)
    for i, (code, days) in enumerate(late.items(), 1):
        ledger["customers"].append(customer(i, code))
        ledger["invoices"].append(invoice(100 + i, i, AS_OF - 10 * DAY, 100))
        for k, d in enumerate(days):
            pid = 10 * i + k
            ledger["invoices"].append(invoice(pid, i, paid_due, 100))
            ledger["payments"].append(payment(pid, i, paid_due + d * DAY, 100))
            ledger["allocations"].append(allocation(pid, pid, paid_due + d * DAY, 100))
    got = run(ledger)
    assert by_code(got, "days_late", "behaviour_points", "age_points", "score") == {
        "B-5": (-5.0, 0, 3, 3),  # early: max(0, -5) = 0
        "B01": (1.0, 0, 3, 3),  # 1 // 2 = 0
        "B02": (2.0, 1, 3, 4),  # 2 // 2 = 1
        "B03": (3.0, 1, 3, 4),  # 3 // 2 = 1
        "B29": (29.0, 14, 3, 17),  # 29 // 2 = 14
        "B29.5": (29.5, 14, 3, 17),  # (100×29 + 100×30) / 200 = 29.5 -> 29 // 2 = 14
        "B30": (30.0, 15, 3, 18),  # 30 // 2 = 15, the cap
        "B45": (45.0, 15, 3, 18),  # 22 -> 15
        "BNONE": (None, 0, 3, 3),  # never paid anything: null -> 0
    }


# --- amount -----------------------------------------------------------------------------


def test_amount_points_rank_within_each_currency_with_ties() -> None:
    # All due 06-27: 3 days late, age 1 point each. Amount = round half up(35 × less / others).
    # USD (5 on the list, so 4 others each): U1 1000 -> 4 owe less: 35 × 4/4 = 35.
    #   U2, U3 500 (tie) -> U4 and U5 owe less: 35 × 2/4 = 17.5 -> 18. U4 100 -> 35 × 1/4 = 8.75
    #   -> 9. U5 owes nothing overdue but has a follow-up due: on the list, 0 points.
    # EUR: E1 alone with 50 -> 35. JPY: J1 = J2 = 700 -> nobody owes less: 0 each.
    # GBP: G1 300 over G2 200 -> G1 35 × 1/1 = 35, G2 0.
    due = AS_OF - 3 * DAY
    owed = {"U1": ("USD", 1000), "U2": ("USD", 500), "U3": ("USD", 500), "U4": ("USD", 100)}
    owed |= {"E1": ("EUR", 50), "J1": ("JPY", 700), "J2": ("JPY", 700)}
    owed |= {"G1": ("GBP", 300), "G2": ("GBP", 200)}
    ledger: Row = {"customers": [customer(99, "U5")], "invoices": []}
    for i, (code, (currency, amount)) in enumerate(owed.items(), 1):
        ledger["customers"].append(customer(i, code, currency))
        ledger["invoices"].append(invoice(i, i, due, amount, currency=currency))
    follow_up = {"activities": [activity(1, 99, D(2026, 6, 1), follow_up=AS_OF)]}
    got = run(ledger, follow_up)
    # Sorted by score, then overdue (as the brief orders it, even across currencies: it only
    # breaks ties of score), then code: U2 and U3 tie on both and go by code.
    assert got.select(
        "customer_code", "currency", "overdue_minor", "amount_points", "score"
    ).rows() == [
        ("U1", "USD", 1000, 35, 36),
        ("G1", "GBP", 300, 35, 36),
        ("E1", "EUR", 50, 35, 36),
        ("U2", "USD", 500, 18, 19),
        ("U3", "USD", 500, 18, 19),
        ("U4", "USD", 100, 9, 10),
        ("J1", "JPY", 700, 0, 1),
        ("J2", "JPY", 700, 0, 1),
        ("G2", "GBP", 200, 0, 1),
        ("U5", "USD", 0, 0, 0),
    ]
    u5 = got.filter(pl.col("customer_code") == "U5")
    assert u5.select("max_days_past_due", "oldest_bucket", "follow_up_due").row(0) == (
        None,
        None,
        True,
    )


# --- disputes ---------------------------------------------------------------------------


def test_disputed_invoices_leave_overdue_for_disputed() -> None:
    # S1: I1 400, 29 days late, dispute open since 06-10 -> disputed; I2 300, 10 days late;
    #     I3 200 not yet due, dispute open -> disputed too. Overdue 300, disputed 400 + 200 = 600,
    #     oldest 10 days (I1's 29 is left out), age 10 // 3 = 3.
    # S2: I4 500, 60 days late, dispute closed 06-15 -> counts again: overdue 500, 60 days.
    # S3: I5 250, dispute closed on as_of (06-30): closed by then -> overdue 250.
    # S4: I6 800, dispute opened 07-01, after as_of -> overdue 800.
    # S5: I7 900 in open dispute only, nothing else: not on the list.
    # S6: I8 100, dispute closing 07-05 is still open at 06-30: not on the list.
    ledger = {
        "customers": [customer(i, f"S{i}") for i in range(1, 7)],
        "invoices": [
            invoice(1, 1, AS_OF - 29 * DAY, 400),
            invoice(2, 1, AS_OF - 10 * DAY, 300),
            invoice(3, 1, D(2026, 7, 15), 200),
            invoice(4, 2, AS_OF - 60 * DAY, 500),
            invoice(5, 3, AS_OF - 5 * DAY, 250),
            invoice(6, 4, AS_OF - 5 * DAY, 800),
            invoice(7, 5, AS_OF - 5 * DAY, 900),
            invoice(8, 6, AS_OF - 5 * DAY, 100),
        ],
    }
    disputes = {
        "disputes": [
            dispute(1, 1, 1, D(2026, 6, 10), None),
            dispute(2, 3, 1, D(2026, 6, 25), None),
            dispute(3, 4, 2, D(2026, 5, 10), D(2026, 6, 15)),
            dispute(4, 5, 3, D(2026, 6, 1), AS_OF),
            dispute(5, 6, 4, D(2026, 7, 1), None),
            dispute(6, 7, 5, D(2026, 6, 1), None),
            dispute(7, 8, 6, D(2026, 6, 1), D(2026, 7, 5)),
        ]
    }
    got = run(ledger, disputes)
    assert by_code(
        got, "overdue_minor", "disputed_minor", "max_days_past_due", "oldest_bucket"
    ) == {
        "S1": (300, 600, 10, "1-30"),
        "S2": (500, 0, 60, "31-60"),
        "S3": (250, 0, 5, "1-30"),
        "S4": (800, 0, 5, "1-30"),
    }
    # Without the disputes S1 owes 400 + 300 overdue, 29 days; S5 and S6 are back.
    plain = run(ledger)
    assert by_code(plain, "overdue_minor", "disputed_minor", "max_days_past_due")["S1"] == (
        700,
        0,
        29,
    )
    assert set(plain["customer_code"]) == {"S1", "S2", "S3", "S4", "S5", "S6"}
    # On 07-05 S6's dispute is closed: it is back with its 100.
    assert by_code(run(ledger, disputes, as_of=D(2026, 7, 5)), "overdue_minor")["S6"] == (100,)


# --- promises ---------------------------------------------------------------------------


def test_a_broken_promise_lifts_an_otherwise_equal_customer() -> None:
    # P1 and P2 each owe 5.00, 10 days late: amount 0 (tie), age 3. P2 promised 2.00 by 06-10
    # (logged 06-01) and paid nothing: broken from 06-11 -> 1 broken promise, 10 points, 13 > 3.
    ledger = tied(10, "P1", "P2", amount=500)
    assert run(ledger)["customer_code"].to_list() == ["P1", "P2"]  # equal: by code
    promises = {"activities": [promise(1, 2, D(2026, 6, 1), D(2026, 6, 10), 200)]}
    got = run(ledger, promises)
    assert got.select("customer_code", "broken_promises", "promise_points", "score").rows() == [
        ("P2", 1, 10, 13),
        ("P1", 0, 0, 3),
    ]


def test_promise_points_count_promises_broken_in_the_last_90_days() -> None:
    # All owe 1.00, 10 days late: amount 0, age 3. 06-30 − 90 days = 04-01, so a promise counts
    # if broken_date (promise_date + 1) is in (04-01, 06-30]. Logged 03-01, nothing ever paid.
    # Q1: none -> 0. Q2: due 04-01, broken 04-02 -> counts: 10. Q3: due 03-31, broken 04-01 ->
    # too old: 0. Q4: two broken -> 20. Q5: three broken -> 30 capped at 20.
    # Q6: due 06-29, broken 06-30 (today) -> 10. Q7: one kept (1.00 paid 06-05 for 1.00 by
    # 06-10), one open (by 07-10): none broken -> 0.
    ledger = tied(10, "Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7")
    ledger["payments"] = [payment(1, 7, D(2026, 6, 5), 100)]
    logged = D(2026, 3, 1)
    dates = {
        2: [D(2026, 4, 1)],
        3: [D(2026, 3, 31)],
        4: [D(2026, 5, 1), D(2026, 6, 1)],
        5: [D(2026, 5, 1), D(2026, 5, 2), D(2026, 5, 3)],
        6: [D(2026, 6, 29)],
    }
    rows = [
        promise(10 * c + k, c, logged, by, 100)
        for c, bys in dates.items()
        for k, by in enumerate(bys)
    ]
    rows += [promise(71, 7, D(2026, 6, 1), D(2026, 6, 10), 100)]
    rows += [promise(72, 7, D(2026, 6, 1), D(2026, 7, 10), 100)]
    got = run(ledger, {"activities": rows})
    assert by_code(got, "broken_promises", "promise_points", "score") == {
        "Q1": (0, 0, 3),
        "Q2": (1, 10, 13),
        "Q3": (0, 0, 3),
        "Q4": (2, 20, 23),
        "Q5": (3, 20, 23),
        "Q6": (1, 10, 13),
        "Q7": (0, 0, 3),
    }


# --- snoozing and follow-ups ------------------------------------------------------------


def snooze_case() -> tuple[Row, Row]:
    # Z1..Z5 each owe 1.00, 10 days late (as of 06-30).
    # Z1: call 06-25, follow up 07-05.
    # Z2: promise logged 06-25 to pay 1.00 by 07-10; nothing paid.
    # Z3: promise by 06-10 broken (logged 06-01) and a call 06-25 to follow up 07-20.
    # Z4: promise by 07-10 and follow-up 07-03: snoozed until the later, 07-10.
    # Z5: nothing overdue (its invoice is due 07-31) but a follow-up due 06-30.
    ledger = tied(10, "Z1", "Z2", "Z3", "Z4", "Z5")
    ledger["invoices"][4] = invoice(5, 5, D(2026, 7, 31), 100)
    collections = {
        "activities": [
            activity(1, 1, D(2026, 6, 25), follow_up=D(2026, 7, 5)),
            promise(2, 2, D(2026, 6, 25), D(2026, 7, 10), 100),
            promise(3, 3, D(2026, 6, 1), D(2026, 6, 10), 100),
            activity(4, 3, D(2026, 6, 25), follow_up=D(2026, 7, 20)),
            promise(5, 4, D(2026, 6, 20), D(2026, 7, 10), 100),
            activity(6, 4, D(2026, 6, 20), follow_up=D(2026, 7, 3)),
            activity(7, 5, D(2026, 6, 1), "email", follow_up=AS_OF),
        ]
    }
    return ledger, collections


SNOOZE_COLUMNS = (
    "follow_up_date",
    "follow_up_due",
    "open_promise_date",
    "snoozed_until",
    "snoozed",
)


def test_a_future_follow_up_or_open_promise_snoozes() -> None:
    ledger, collections = snooze_case()
    got = run(ledger, collections)
    assert by_code(got, *SNOOZE_COLUMNS) == {
        "Z1": (D(2026, 7, 5), False, None, D(2026, 7, 5), True),
        "Z2": (None, False, D(2026, 7, 10), D(2026, 7, 10), True),
        # A broken promise always brings the customer back, whatever the follow-up says.
        "Z3": (D(2026, 7, 20), False, None, D(2026, 7, 20), False),
        "Z4": (D(2026, 7, 3), False, D(2026, 7, 10), D(2026, 7, 10), True),
        # Nothing overdue, on the list for its follow-up due today.
        "Z5": (AS_OF, True, None, None, False),
    }
    assert by_code(got, "last_contact_date", "overdue_minor", "score")["Z5"] == (
        D(2026, 6, 1),
        0,
        0,
    )
    # The day before, Z5's follow-up is not due and it owes nothing overdue: off the list.
    assert "Z5" not in set(run(ledger, collections, as_of=AS_OF - DAY)["customer_code"])


def test_snoozes_end_on_their_date() -> None:
    ledger, collections = snooze_case()
    # 07-05: Z1's follow-up is due -> back, follow_up_due. Z4's 07-03 follow-up is due too, but
    # its promise (07-10) still snoozes it.
    got = run(ledger, collections, as_of=D(2026, 7, 5))
    assert by_code(got, *SNOOZE_COLUMNS)["Z1"] == (D(2026, 7, 5), True, None, None, False)
    assert by_code(got, *SNOOZE_COLUMNS)["Z4"] == (
        D(2026, 7, 3),
        True,
        D(2026, 7, 10),
        D(2026, 7, 10),
        True,
    )
    # 07-10 is Z2's promise date: still open, but no longer after as_of -> not snoozed.
    got = run(ledger, collections, as_of=D(2026, 7, 10))
    assert by_code(got, *SNOOZE_COLUMNS, "broken_promises")["Z2"] == (
        None,
        False,
        D(2026, 7, 10),
        None,
        False,
        0,
    )
    # 07-11: broken -> counted, no open promise left.
    got = run(ledger, collections, as_of=D(2026, 7, 11))
    assert by_code(got, "open_promise_date", "snoozed", "broken_promises", "promise_points")[
        "Z2"
    ] == (None, False, 1, 10)


def test_a_follow_up_is_cleared_by_the_next_contact() -> None:
    # G1 owes nothing overdue; a call on 06-01 set a follow-up for 06-20.
    # At 06-20 it is due: back on the list. A call on 06-20 itself, setting no new date,
    # clears it: at 06-30 G1 is off the list (nothing overdue, no follow-up due).
    ledger = tied(10, "G1")
    ledger["invoices"] = []
    calls = [activity(1, 1, D(2026, 6, 1), follow_up=D(2026, 6, 20))]
    got = run(ledger, {"activities": calls}, as_of=D(2026, 6, 20))
    assert by_code(got, "follow_up_date", "follow_up_due") == {"G1": (D(2026, 6, 20), True)}
    calls.append(activity(2, 1, D(2026, 6, 20)))
    assert run(ledger, {"activities": calls}, as_of=D(2026, 6, 20)).is_empty()
    assert run(ledger, {"activities": calls}, as_of=D(2026, 6, 30)).is_empty()


def test_the_follow_up_comes_from_the_latest_activity_that_sets_one() -> None:
    # F1: 06-01 follow up 07-30, 06-10 follow up 06-20, 06-15 a note without one -> 06-20 (from
    #     06-10, the latest that sets one), due. A call on 07-02 is after as_of: unseen, so the
    #     last contact is 06-15.
    # F2: two calls on 06-12; the higher activity_id (21, follow up 06-29) wins over 20 (07-01),
    #     whatever the row order.
    ledger = tied(10, "F1", "F2")
    collections = {
        "activities": [
            activity(10, 1, D(2026, 6, 1), follow_up=D(2026, 7, 30)),
            activity(11, 1, D(2026, 6, 10), follow_up=D(2026, 6, 20)),
            activity(12, 1, D(2026, 6, 15), "note"),
            activity(13, 1, D(2026, 7, 2), follow_up=D(2026, 8, 1)),
            activity(21, 2, D(2026, 6, 12), follow_up=D(2026, 6, 29)),
            activity(20, 2, D(2026, 6, 12), follow_up=D(2026, 7, 1)),
        ]
    }
    got = run(ledger, collections)
    assert by_code(got, "last_contact_date", "follow_up_date", "follow_up_due", "snoozed") == {
        "F1": (D(2026, 6, 15), D(2026, 6, 20), True, False),
        "F2": (D(2026, 6, 12), D(2026, 6, 29), True, False),
    }


# --- filters ----------------------------------------------------------------------------


def filter_case() -> pl.DataFrame:
    # W1 ann, 1000 overdue 100 days (91+); W2 bob, 500, 40 days (31-60); W3 no owner row,
    # 200, 10 days (1-30); W4 owner null, 300, 10 days, snoozed by a follow-up on 07-15;
    # W5 ann, nothing overdue, follow-up due (no bucket).
    ledger = {
        "customers": [customer(i, f"W{i}") for i in range(1, 6)],
        "invoices": [
            invoice(1, 1, AS_OF - 100 * DAY, 1000),
            invoice(2, 2, AS_OF - 40 * DAY, 500),
            invoice(3, 3, AS_OF - 10 * DAY, 200),
            invoice(4, 4, AS_OF - 10 * DAY, 300),
        ],
    }
    collections = {
        "owners": [
            {"customer_id": 1, "owner": "ann"},
            {"customer_id": 2, "owner": "bob"},
            {"customer_id": 4, "owner": None},
            {"customer_id": 5, "owner": "ann"},
        ],
        "activities": [
            activity(1, 4, D(2026, 6, 20), follow_up=D(2026, 7, 15)),
            activity(2, 5, D(2026, 6, 20), follow_up=D(2026, 6, 29)),
        ],
    }
    return run(ledger, collections)


def codes(frame: pl.DataFrame | pl.LazyFrame) -> list[str]:
    return frame.lazy().collect()["customer_code"].to_list()


def test_filters_default_drops_only_snoozed() -> None:
    frame = filter_case()
    # Scores: W1 35 (4 others owe less) + 30; W2 35 × 3/4 = 26.25 -> 26, + 13; W4 35 × 2/4 = 18,
    # + 3; W3 35 × 1/4 = 8.75 -> 9, + 3; W5 0.
    assert codes(frame) == ["W1", "W2", "W4", "W3", "W5"]
    assert frame["score"].to_list() == [65, 39, 21, 12, 0]
    assert codes(filter_worklist(frame)) == ["W1", "W2", "W3", "W5"]
    assert codes(filter_worklist(frame, include_snoozed=True)) == ["W1", "W2", "W4", "W3", "W5"]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"owner": "ann"}, ["W1", "W5"]),
        ({"owner": "an"}, []),  # exact match only
        ({"owner": "bob"}, ["W2"]),
        ({"owner": UNASSIGNED}, ["W3"]),  # no owner row or a null owner; W4 is snoozed
        ({"owner": UNASSIGNED, "include_snoozed": True}, ["W4", "W3"]),
        ({"buckets": ["91+", "31-60"]}, ["W1", "W2"]),
        ({"buckets": ["1-30"], "include_snoozed": True}, ["W4", "W3"]),
        ({"buckets": ["current"]}, []),  # W5 owes nothing overdue: no bucket at all
        ({"min_overdue_minor": 300}, ["W1", "W2"]),
        ({"min_overdue_minor": 300, "include_snoozed": True}, ["W1", "W2", "W4"]),
        ({"min_overdue_minor": 1}, ["W1", "W2", "W3"]),
        ({"owner": "ann", "buckets": ["31-60"]}, []),
    ],
)
def test_filters(options: dict, expected: list[str]) -> None:
    frame = filter_case()
    got = filter_worklist(frame, **options)
    assert isinstance(got, pl.DataFrame)
    assert got.columns == frame.columns
    assert codes(got) == expected
    lazy = filter_worklist(frame.lazy(), **options)
    assert isinstance(lazy, pl.LazyFrame)
    assert codes(lazy) == expected


# --- against a plain-Python reading of the rules ----------------------------------------


def reference_worklist(
    ledger: Ledger,
    activities: list[Row],
    disputes: list[Row],
    as_of: dt.date,
    bounds: tuple[int, ...],
    days_late: dict[int, float | None],
) -> list[tuple]:
    """The worklist with loops; days_late (payment_behaviour's, tested on its own) is given."""
    open_at = ref.open_balances(ledger, as_of)
    disputed = {
        d["invoice_id"]
        for d in disputes
        if d["opened_date"] <= as_of and (d["closed_date"] is None or d["closed_date"] > as_of)
    }
    statuses = reference_status(ledger, activities, as_of)
    promise_of = {a["activity_id"]: a for a in activities}
    rows = []
    for cust in ledger["customers"]:
        cid = cust["customer_id"]
        overdue = in_dispute = 0
        oldest = None
        for inv in ledger["invoices"]:
            balance = open_at.get(inv["invoice_id"], 0)
            if inv["customer_id"] != cid or balance <= 0:
                continue
            late = (as_of - inv["due_date"]).days
            if inv["invoice_id"] in disputed:
                in_dispute += balance
            elif late > 0:
                overdue += balance
                oldest = late if oldest is None else max(oldest, late)
        broken = sum(
            1
            for aid, _, status, broken_date in statuses
            if promise_of[aid]["customer_id"] == cid
            and status == "broken"
            and as_of - 90 * DAY < broken_date <= as_of
        )
        open_dates = [
            promise_of[aid]["promise_date"]
            for aid, _, status, _ in statuses
            if promise_of[aid]["customer_id"] == cid and status == "open"
        ]
        seen = [a for a in activities if a["customer_id"] == cid and a["activity_date"] <= as_of]
        setting = [a for a in seen if a["follow_up_date"] is not None]
        latest = max(setting, key=lambda a: (a["activity_date"], a["activity_id"]), default=None)
        follow_up = latest["follow_up_date"] if latest else None
        last_contact = max((a["activity_date"] for a in seen), default=None)
        due = (
            follow_up is not None
            and follow_up <= as_of
            and last_contact is not None
            and last_contact < follow_up
        )
        if overdue <= 0 and not due:
            continue
        open_promise = min(open_dates, default=None)
        later = max((d for d in (follow_up, open_promise) if d is not None), default=None)
        snoozed_until = later if later is not None and later > as_of else None
        late_days = days_late.get(cid)
        behaviour = 0 if late_days is None else min(15, floor(max(0.0, late_days)) // 2)
        rows.append(
            {
                "customer_id": cid,
                "customer_code": cust["customer_code"],
                "currency": cust["currency"],
                "overdue_minor": overdue,
                "disputed_minor": in_dispute,
                "max_days_past_due": oldest,
                "oldest_bucket": None if oldest is None else ref.bucket_of(oldest, bounds),
                "broken_promises": broken,
                "open_promise_date": open_promise,
                "last_contact_date": max((a["activity_date"] for a in seen), default=None),
                "follow_up_date": follow_up,
                "follow_up_due": due,
                "snoozed_until": snoozed_until,
                "snoozed": snoozed_until is not None and broken == 0,
                "age_points": 0 if oldest is None else min(30, oldest // 3),
                "behaviour_points": behaviour,
                "promise_points": min(20, 10 * broken),
            }
        )
    for row in rows:
        others = [r for r in rows if r["currency"] == row["currency"] and r is not row]
        less = sum(1 for r in others if r["overdue_minor"] < row["overdue_minor"])
        if row["overdue_minor"] <= 0:
            row["amount_points"] = 0
        elif not others:
            row["amount_points"] = 35
        else:
            row["amount_points"] = floor(Fraction(35 * less, len(others)) + Fraction(1, 2))
        row["score"] = (
            row["amount_points"]
            + row["age_points"]
            + row["behaviour_points"]
            + row["promise_points"]
        )
    rows.sort(key=lambda r: (-r["score"], -r["overdue_minor"], r["customer_code"]))
    return [tuple(r.values()) for r in rows]


@st.composite
def disputes_for(draw: st.DrawFn, ledger: Ledger, as_of: dt.date) -> list[Row]:
    """Up to two disputes per invoice, open or closed, often opened or closed around as_of."""
    near = st.sampled_from([as_of - DAY, as_of, as_of + DAY])
    rows: list[Row] = []
    for inv in ledger["invoices"]:
        for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
            opened = draw(st.one_of(as_of_dates(ledger), near))
            later = st.just(opened + draw(st.integers(0, 60)) * DAY)
            closed = draw(st.one_of(st.none(), later, near))
            closed = None if closed is None else max(closed, opened)
            rows.append(
                dispute(len(rows) + 1, inv["invoice_id"], inv["customer_id"], opened, closed)
            )
    return rows


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_worklist_matches_the_reference(data: st.DataObject) -> None:
    ledger, activities = data.draw(ledgers_with_promises())
    for act in activities:
        if data.draw(st.booleans()):
            act["follow_up_date"] = act["activity_date"] + data.draw(st.integers(0, 30)) * DAY
    as_of = data.draw(as_of_dates(ledger))
    disputes = data.draw(disputes_for(ledger, as_of))
    bounds = data.draw(boundaries())
    got = worklist(
        ledger_from_rows(**ledger),
        collections_from_rows(activities=activities, disputes=disputes),
        as_of=as_of,
        boundaries=bounds,
    ).collect()
    days_late = dict(got.select("customer_id", "days_late").iter_rows())
    expected = reference_worklist(ledger, activities, disputes, as_of, bounds, days_late)
    columns = [
        "customer_id",
        "customer_code",
        "currency",
        "overdue_minor",
        "disputed_minor",
        "max_days_past_due",
        "oldest_bucket",
        "broken_promises",
        "open_promise_date",
        "last_contact_date",
        "follow_up_date",
        "follow_up_due",
        "snoozed_until",
        "snoozed",
        "age_points",
        "behaviour_points",
        "promise_points",
        "amount_points",
        "score",
    ]
    assert got.select(columns).rows() == expected

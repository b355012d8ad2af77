"""The collections worklist: whom to chase today, scored 0–100, with why.

One row per customer that, at the as-of date, owes overdue money on invoices
not under dispute or has a follow-up due. Each row carries the facts a
collector needs (what is overdue and how old, what is disputed, how the
customer pays, its promises, the last contact and the next follow-up) and a
score built from four parts, weighted by the constants below, which are also
what `SCORE_FORMULA` tells the managers, so the page and the code cannot drift.

Choices where a rule needs one:

- Ages are on the due basis and labelled by `queries.aging.bucket`, so the
  worklist's `oldest_bucket` is the aging page's column for the same invoice.
- An invoice is disputed at D by `queries.disputes.disputed_invoice_ids` (the
  one rule, shared with dunning and statements). Its whole open balance goes to
  `disputed_minor` (current or overdue) and never to `overdue_minor`.
- A customer with nothing overdue (only a follow-up due) has a null
  `max_days_past_due` and `oldest_bucket`, and 0 amount and age points.
- Activities, promises and disputes dated after D are not seen at D.
- `follow_up_due`: the follow-up date has come (≤ D) and nothing has been
  logged since the day before it (the last contact is before the follow-up
  date). The call made on the day clears it; a customer with nothing overdue
  then leaves the list until a new follow-up date comes.
- The amount rank counts every worklist customer of the currency (snoozed
  ones and those with nothing overdue included), so a score does not change
  when the page filters rows out; `filter_worklist` only hides rows.
- A customer's money is grouped by customer and currency, as in
  `queries.behaviour`: should a customer ever hold two currencies it shows two
  rows rather than adding them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import overload

import polars as pl

from queries.aging import aging_items, bucket
from queries.behaviour import payment_behaviour
from queries.collections import CollectionFrames
from queries.disputes import disputed_invoice_ids
from queries.ledger import LedgerFrames
from queries.promises import BROKEN, OPEN, promise_status

# The score's weights: the code below and SCORE_FORMULA both read these.
AMOUNT_POINTS = 35  # the customer owing the most overdue in its currency
AGE_DAYS_PER_POINT = 3
AGE_POINTS_MAX = 30  # reached at AGE_DAYS_PER_POINT × AGE_POINTS_MAX = 90 days past due
LATE_DAYS_PER_POINT = 2
BEHAVIOUR_POINTS_MAX = 15  # reached at 30 days late on average
POINTS_PER_BROKEN_PROMISE = 10
PROMISE_POINTS_MAX = 20
BROKEN_PROMISE_WINDOW_DAYS = 90
SCORE_MAX = AMOUNT_POINTS + AGE_POINTS_MAX + BEHAVIOUR_POINTS_MAX + PROMISE_POINTS_MAX

# filter_worklist(owner=UNASSIGNED) keeps the customers nobody is assigned to.
UNASSIGNED = ""

SCORE_FORMULA = f"""\
**Score** (0–{SCORE_MAX}) = amount + age + behaviour + promises, whole points:

- **Amount** (up to {AMOUNT_POINTS}): {AMOUNT_POINTS} × the share of the other customers \
on the list in the same currency who owe less overdue (disputed invoices left out): owing \
more than 3 of 4 others gives {(AMOUNT_POINTS * 3 * 2 + 4) // 8}; the largest debtor, or one \
alone in its currency, gets {AMOUNT_POINTS}; nothing overdue gets 0. Amounts in different \
currencies are never compared.
- **Age** (up to {AGE_POINTS_MAX}): 1 point per {AGE_DAYS_PER_POINT} days past due of the \
oldest overdue invoice not in dispute ({AGE_DAYS_PER_POINT * AGE_POINTS_MAX}+ days \
= {AGE_POINTS_MAX}).
- **Behaviour** (up to {BEHAVIOUR_POINTS_MAX}): 1 point per {LATE_DAYS_PER_POINT} days the \
customer pays late on average over the last year, weighted by amount \
({LATE_DAYS_PER_POINT * BEHAVIOUR_POINTS_MAX}+ days = {BEHAVIOUR_POINTS_MAX}; early or \
no history = 0).
- **Promises** (up to {PROMISE_POINTS_MAX}): {POINTS_PER_BROKEN_PROMISE} per promise to pay \
broken in the last {BROKEN_PROMISE_WINDOW_DAYS} days.

Fractions are rounded to the nearest point (halves up) for the amount, and down for age \
and behaviour.
"""

_COLUMNS = (
    "customer_id",
    "customer_code",
    "customer_name",
    "currency",
    "owner",
    "overdue_minor",
    "disputed_minor",
    "max_days_past_due",
    "oldest_bucket",
    "days_late",
    "broken_promises",
    "open_promise_date",
    "last_contact_date",
    "follow_up_date",
    "follow_up_due",
    "snoozed_until",
    "snoozed",
    "amount_points",
    "age_points",
    "behaviour_points",
    "promise_points",
    "score",
)
_KEYS = ["customer_id", "currency"]


def _money(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    as_of: dt.date,
    boundaries: tuple[int, ...],
) -> pl.LazyFrame:
    """Per customer and currency: overdue and disputed open balances, oldest overdue age."""
    disputed = disputed_invoice_ids(collections, as_of=as_of).with_columns(_disputed=pl.lit(True))
    overdue = (pl.col("days") > 0) & ~pl.col("_disputed")
    return (
        aging_items(ledger, as_of=as_of, basis="due", boundaries=boundaries)
        .join(disputed, on="invoice_id", how="left")
        .with_columns(pl.col("_disputed").fill_null(False))
        .group_by(_KEYS)
        .agg(
            overdue_minor=pl.col("open_minor").filter(overdue).sum(),
            disputed_minor=pl.col("open_minor").filter(pl.col("_disputed")).sum(),
            max_days_past_due=pl.col("days").filter(overdue).max(),
        )
        .with_columns(oldest_bucket=bucket(pl.col("max_days_past_due"), boundaries, basis="due"))
        .with_columns(
            oldest_bucket=pl.when(pl.col("max_days_past_due").is_not_null()).then("oldest_bucket")
        )
    )


def _promises(
    ledger: LedgerFrames, collections: CollectionFrames, *, as_of: dt.date
) -> pl.LazyFrame:
    """Per customer: promises broken in the last window of days, earliest open promise date."""
    since = as_of - dt.timedelta(days=BROKEN_PROMISE_WINDOW_DAYS)
    status = pl.col("status")
    recently_broken = (status == BROKEN) & pl.col("broken_date").is_between(
        since, as_of, closed="right"
    )
    return (
        promise_status(ledger, collections, as_of=as_of)
        .group_by("customer_id")
        .agg(
            broken_promises=recently_broken.sum().cast(pl.Int64),
            open_promise_date=pl.col("promise_date").filter(status == OPEN).min(),
        )
    )


def _contacts(collections: CollectionFrames, *, as_of: dt.date) -> pl.LazyFrame:
    """Per customer: last activity date; follow-up date of the latest activity setting one."""
    seen = collections.activities.filter(pl.col("activity_date") <= as_of)
    last = seen.group_by("customer_id").agg(last_contact_date=pl.col("activity_date").max())
    follow_up = (
        seen.filter(pl.col("follow_up_date").is_not_null())
        .group_by("customer_id")
        .agg(follow_up_date=pl.col("follow_up_date").sort_by("activity_date", "activity_id").last())
    )
    return last.join(follow_up, on="customer_id", how="left")


def _amount_points() -> pl.Expr:
    """AMOUNT_POINTS × (customers of the currency owing strictly less) ÷ (the others), half up.

    Integer arithmetic on counts: `rank("min") − 1` is how many owe strictly
    less. Alone in its currency a customer with something overdue gets full points.
    """
    overdue = pl.col("overdue_minor")
    less = (overdue.rank("min").over("currency") - 1).cast(pl.Int64)
    others = (pl.len().over("currency") - 1).cast(pl.Int64)
    share = (2 * AMOUNT_POINTS * less + others) // pl.max_horizontal(2 * others, 1)
    return (
        pl.when(overdue <= 0)
        .then(0)
        .when(others == 0)
        .then(AMOUNT_POINTS)
        .otherwise(share)
        .cast(pl.Int64)
    )


def _capped_points(days: pl.Expr, *, per_point: int, cap: int) -> pl.Expr:
    """One point per `per_point` whole days (`days` whole; negative or null: 0), at most `cap`."""
    whole = days.fill_null(0).clip(lower_bound=0).cast(pl.Int64)
    return pl.min_horizontal(whole // per_point, pl.lit(cap, pl.Int64))


def worklist(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    as_of: dt.date,
    boundaries: tuple[int, ...],
) -> pl.LazyFrame:
    """The worklist at `as_of`: customers to chase, highest score first.

    Columns: customer_id, customer_code, customer_name, currency, owner,
    overdue_minor, disputed_minor, max_days_past_due, oldest_bucket (an
    Enum of `bucket_labels(boundaries)`), days_late (from
    `payment_behaviour`), broken_promises (broken_date in (D − 90, D]),
    open_promise_date, last_contact_date, follow_up_date, follow_up_due,
    snoozed_until (the later of follow_up_date and open_promise_date, if after
    D), snoozed (snoozed_until set and no recently broken promise),
    amount_points, age_points, behaviour_points, promise_points, score.
    Sorted by score, then overdue_minor (both descending), then customer_code.
    """
    money = _money(ledger, collections, as_of=as_of, boundaries=boundaries)
    customers = ledger.customers.select("customer_id", "customer_code", "customer_name", "currency")
    keys = pl.concat([money.select(_KEYS), customers.select(_KEYS)]).unique()
    behaviour = payment_behaviour(ledger, as_of=as_of).select(*_KEYS, "days_late")
    follow_up = pl.col("follow_up_date")
    snoozed_until = pl.max_horizontal(follow_up, "open_promise_date")
    return (
        keys.join(money, on=_KEYS, how="left")
        .join(customers.drop("currency"), on="customer_id", how="left")
        .join(collections.owners.unique("customer_id"), on="customer_id", how="left")
        .join(behaviour, on=_KEYS, how="left")
        .join(_promises(ledger, collections, as_of=as_of), on="customer_id", how="left")
        .join(_contacts(collections, as_of=as_of), on="customer_id", how="left")
        .with_columns(
            pl.col("overdue_minor", "disputed_minor", "broken_promises").fill_null(0),
            # Due once its day has come, until someone logs an activity on or after that day.
            follow_up_due=(
                (follow_up <= as_of) & (pl.col("last_contact_date") < follow_up)
            ).fill_null(False),
        )
        .filter((pl.col("overdue_minor") > 0) | pl.col("follow_up_due"))
        .with_columns(snoozed_until=pl.when(snoozed_until > as_of).then(snoozed_until))
        .with_columns(
            snoozed=pl.col("snoozed_until").is_not_null() & (pl.col("broken_promises") == 0),
            amount_points=_amount_points(),
            age_points=_capped_points(
                pl.col("max_days_past_due"), per_point=AGE_DAYS_PER_POINT, cap=AGE_POINTS_MAX
            ),
            behaviour_points=_capped_points(
                pl.col("days_late").floor(), per_point=LATE_DAYS_PER_POINT, cap=BEHAVIOUR_POINTS_MAX
            ),
            promise_points=pl.min_horizontal(
                POINTS_PER_BROKEN_PROMISE * pl.col("broken_promises"),
                pl.lit(PROMISE_POINTS_MAX, pl.Int64),
            ),
        )
        .with_columns(
            score=pl.sum_horizontal(
                "amount_points", "age_points", "behaviour_points", "promise_points"
            )
        )
        .select(_COLUMNS)
        .sort(
            ["score", "overdue_minor", "customer_code", "currency", "customer_id"],
            descending=[True, True, False, False, False],
        )
    )


@overload
def filter_worklist(
    frame: pl.DataFrame,
    *,
    owner: str | None = ...,
    buckets: Collection[str] = ...,
    min_overdue_minor: int = ...,
    include_snoozed: bool = ...,
) -> pl.DataFrame: ...
@overload
def filter_worklist(
    frame: pl.LazyFrame,
    *,
    owner: str | None = ...,
    buckets: Collection[str] = ...,
    min_overdue_minor: int = ...,
    include_snoozed: bool = ...,
) -> pl.LazyFrame: ...
def filter_worklist(
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    owner: str | None = None,
    buckets: Collection[str] = (),
    min_overdue_minor: int = 0,
    include_snoozed: bool = False,
) -> pl.DataFrame | pl.LazyFrame:
    """The worklist rows a collector asked to see; same columns, same order, same kind of frame.

    `owner`: None keeps everyone; `UNASSIGNED` ("") keeps the customers with
    no owner; any other text keeps that owner's customers (exact match).
    `buckets`: keep rows whose oldest_bucket is one of them (empty: all; a
    customer with nothing overdue has no bucket and is dropped by any choice).
    `min_overdue_minor`: keep overdue_minor ≥ it. Snoozed rows are dropped
    unless `include_snoozed`. Scores are not recomputed: they rank against
    the whole list.
    """
    keep = pl.col("overdue_minor") >= min_overdue_minor
    if owner == UNASSIGNED:
        keep &= pl.col("owner").is_null() | (pl.col("owner") == UNASSIGNED)
    elif owner is not None:
        keep &= pl.col("owner") == owner
    if buckets:
        keep &= pl.col("oldest_bucket").cast(pl.String).is_in(list(buckets))
    if not include_snoozed:
        keep &= ~pl.col("snoozed")
    filtered = frame.lazy().filter(keep.fill_null(False))
    return filtered.collect() if isinstance(frame, pl.DataFrame) else filtered

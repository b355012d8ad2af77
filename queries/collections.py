"""The frames collections work reads: activities, disputes, dunning letters, owners.

The companion of `queries.ledger`: the data layer fills it
(`billing.repository.load_collection_frames`), tests build it from rows with
`collections_from_rows`, and the worklist, promise, dispute and dunning
queries read it beside the posted ledger. Column names and dtypes are fixed
here; ids join to the ledger's `customer_id` and `invoice_id`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from queries.ledger import checked_frames, frames_from_rows

ACTIVITIES: dict[str, pl.DataType] = {
    "activity_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "invoice_id": pl.Int64(),  # null: about the customer as a whole
    "kind": pl.String(),  # billing.models.ActivityKind values
    "activity_date": pl.Date(),
    "promise_date": pl.Date(),  # promises only
    "promise_amount_minor": pl.Int64(),  # promises only, in the customer's currency
    "follow_up_date": pl.Date(),
    "dunning_level": pl.Int64(),  # letters only
    "created_by": pl.String(),
}
DISPUTES: dict[str, pl.DataType] = {
    "dispute_id": pl.Int64(),
    "invoice_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "opened_date": pl.Date(),
    "reason": pl.String(),
    "closed_date": pl.Date(),  # null while open
    "resolution": pl.String(),  # null while open; billing.models.DisputeResolution values
}
LETTER_ITEMS: dict[str, pl.DataType] = {
    "activity_id": pl.Int64(),
    "invoice_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "dunning_level": pl.Int64(),
    "open_minor": pl.Int64(),
    "sent_date": pl.Date(),
}
OWNERS: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "owner": pl.String(),  # null: nobody assigned
}
COLLECTION_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "activities": ACTIVITIES,
    "disputes": DISPUTES,
    "letter_items": LETTER_ITEMS,
    "owners": OWNERS,
}


@dataclass(frozen=True)
class CollectionFrames:
    """Everything done to chase customers, as lazy frames in the dtypes above."""

    activities: pl.LazyFrame
    disputes: pl.LazyFrame
    letter_items: pl.LazyFrame
    owners: pl.LazyFrame

    @classmethod
    def from_frames(cls, frames: Mapping[str, pl.DataFrame | pl.LazyFrame]) -> CollectionFrames:
        """Wrap the four frames, checking each has exactly the contract's columns and dtypes."""
        return cls(**checked_frames(frames, COLLECTION_SCHEMAS))


def collections_from_rows(**tables: Iterable[Mapping[str, Any]]) -> CollectionFrames:
    """Build the frames from lists of row dicts (tests, examples); a missing table is empty."""
    return CollectionFrames.from_frames(frames_from_rows(tables, COLLECTION_SCHEMAS))

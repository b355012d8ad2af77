"""The frames every query reads: the posted ledger, one LazyFrame per table.

This is the contract between the data layer (`billing.repository.load_ledger_frames`
fills it from the database) and the analytics: column names and dtypes are fixed
here, money is Int64 minor units, dates are `pl.Date`. Only posted invoices are
in `invoices` (SPEC §2: a draft is not owed and a void invoice is as if never
posted), so no query has to remember to filter on status.

Tests and benchmarks build the same frames from plain rows with `ledger_from_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

INVOICES: dict[str, pl.DataType] = {
    "invoice_id": pl.Int64(),
    "invoice_number": pl.String(),
    "customer_id": pl.Int64(),
    "currency": pl.String(),
    "issue_date": pl.Date(),
    "due_date": pl.Date(),
    "total_minor": pl.Int64(),
}
ALLOCATIONS: dict[str, pl.DataType] = {
    "payment_id": pl.Int64(),
    "invoice_id": pl.Int64(),
    "applied_date": pl.Date(),
    "amount_minor": pl.Int64(),
}
ADJUSTMENTS: dict[str, pl.DataType] = {
    "invoice_id": pl.Int64(),
    "kind": pl.String(),
    "date": pl.Date(),
    "amount_minor": pl.Int64(),
}
PAYMENTS: dict[str, pl.DataType] = {
    "payment_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "currency": pl.String(),
    "received_date": pl.Date(),
    "amount_minor": pl.Int64(),
}
CUSTOMERS: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "customer_code": pl.String(),
    "customer_name": pl.String(),
    "currency": pl.String(),
    "payment_terms_days": pl.Int64(),
    "credit_limit_minor": pl.Int64(),
}
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "invoices": INVOICES,
    "allocations": ALLOCATIONS,
    "adjustments": ADJUSTMENTS,
    "payments": PAYMENTS,
    "customers": CUSTOMERS,
}


@dataclass(frozen=True)
class LedgerFrames:
    """The posted ledger as lazy frames, in the dtypes of the schemas above.

    `invoices` holds posted invoices only; `allocations` and `adjustments` are
    those of posted invoices; `payments` and `customers` are all of them.
    """

    invoices: pl.LazyFrame
    allocations: pl.LazyFrame
    adjustments: pl.LazyFrame
    payments: pl.LazyFrame
    customers: pl.LazyFrame

    @classmethod
    def from_frames(cls, frames: Mapping[str, pl.DataFrame | pl.LazyFrame]) -> LedgerFrames:
        """Wrap five frames, checking each has exactly the contract's columns and dtypes.

        A loader that drifts (an Int32 amount, a datetime for a date) would
        otherwise surface as a confusing error deep inside a join.
        """
        return cls(**checked_frames(frames, SCHEMAS))

    def collect(self) -> LedgerFrames:
        """The same ledger with every frame materialised once, for repeated querying."""
        collected = pl.collect_all(
            [self.invoices, self.allocations, self.adjustments, self.payments, self.customers]
        )
        return LedgerFrames(*(frame.lazy() for frame in collected))


def customer_names(ledger: LedgerFrames) -> pl.LazyFrame:
    """customer_id, customer_code, customer_name: what every per-customer result shows."""
    return ledger.customers.select("customer_id", "customer_code", "customer_name")


def ledger_from_rows(**tables: Iterable[Mapping[str, Any]]) -> LedgerFrames:
    """Build a ledger from lists of row dicts (tests, examples); a missing table is empty."""
    return LedgerFrames.from_frames(frames_from_rows(tables, SCHEMAS))


def checked_frames(
    frames: Mapping[str, pl.DataFrame | pl.LazyFrame], schemas: Mapping[str, dict[str, pl.DataType]]
) -> dict[str, pl.LazyFrame]:
    """Each frame in `schemas`, lazy, once checked to have exactly those columns and dtypes."""
    lazy = {}
    for name, schema in schemas.items():
        frame = frames[name].lazy()
        actual = dict(frame.collect_schema())
        if actual != schema:
            raise ValueError(f"{name} frame has columns {actual}, expected {schema}")
        lazy[name] = frame
    return lazy


def frames_from_rows(
    tables: Mapping[str, Iterable[Mapping[str, Any]]], schemas: Mapping[str, dict[str, pl.DataType]]
) -> dict[str, pl.DataFrame]:
    """Row dicts as frames in `schemas`' dtypes (tests, examples); a missing table is empty."""
    unknown = tables.keys() - schemas.keys()
    if unknown:
        raise TypeError(f"unknown tables: {sorted(unknown)}")
    return {
        name: pl.DataFrame(list(tables.get(name, ())), schema=schema, orient="row")
        for name, schema in schemas.items()
    }

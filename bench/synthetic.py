"""`python -m bench.synthetic N`: aging on an in-memory ledger of N invoices, in its own process.

Seeding 10M invoices into SQLite would take ~8 minutes and ~25 GB of memory in
the generator (measured 48 s and 0.93 GB at 1M), so the 10M point builds the
LedgerFrames directly with numpy: 50 customers, ~1.04 allocations per invoice
as the demo data has, dates over three years. Prints one JSON line: build
seconds, aging median/min/max over 3 runs, and the process's peak memory.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import sys
import time

import numpy as np
import polars as pl

from bench.measure import max_rss_mb, rss_mb
from queries.aging import aging_by_customer
from queries.ledger import LedgerFrames

AS_OF = dt.date(2025, 6, 30)


def synthetic_ledger(invoices: int, *, seed: int = 7) -> LedgerFrames:
    """N posted invoices, one allocation for 96% of them and a second for 8%, a few credits."""
    rng = np.random.default_rng(seed)
    last = (AS_OF - dt.date(1970, 1, 1)).days
    issue = rng.integers(last - 3 * 365, last + 1, invoices).astype(np.int32)
    terms = rng.choice(np.array([14, 30, 45, 60], dtype=np.int32), invoices)
    total = rng.integers(1_000, 2_000_000, invoices)
    ids = np.arange(1, invoices + 1)
    customer = rng.integers(1, 51, invoices)
    paid = np.flatnonzero(rng.random(invoices) < 0.96)
    second = paid[rng.random(paid.size) < 0.08]
    alloc_invoice = np.concatenate([paid, second])
    lag = rng.integers(0, 120, alloc_invoice.size).astype(np.int32)
    first_share = np.where(np.isin(paid, second), total[paid] // 2, total[paid])
    alloc_amount = np.concatenate([first_share, total[second] - total[second] // 2])
    credited = np.flatnonzero(rng.random(invoices) < 0.03)
    day = pl.Series(values=issue).cast(pl.Date)
    frames = {
        "invoices": pl.DataFrame(
            {
                "invoice_id": ids,
                "invoice_number": pl.Series(ids).cast(pl.String),
                "customer_id": customer,
                "currency": pl.Series(["USD"]).gather(np.zeros(invoices, dtype=np.int64)),
                "issue_date": day,
                "due_date": pl.Series(values=issue + terms).cast(pl.Date),
                "total_minor": total,
            }
        ),
        "allocations": pl.DataFrame(
            {
                "payment_id": np.arange(1, alloc_invoice.size + 1),
                "invoice_id": ids[alloc_invoice],
                "applied_date": pl.Series(values=issue[alloc_invoice] + lag).cast(pl.Date),
                "amount_minor": alloc_amount,
            }
        ),
        "adjustments": pl.DataFrame(
            {
                "invoice_id": ids[credited],
                "kind": pl.Series(["credit_note"]).gather(np.zeros(credited.size, dtype=np.int64)),
                "date": pl.Series(values=issue[credited] + 5).cast(pl.Date),
                "amount_minor": np.zeros(credited.size, dtype=np.int64),
            }
        ),
        "payments": pl.DataFrame(
            {
                "payment_id": np.arange(1, alloc_invoice.size + 1),
                "customer_id": customer[alloc_invoice],
                "currency": pl.Series(["USD"]).gather(np.zeros(alloc_invoice.size, dtype=np.int64)),
                "received_date": pl.Series(values=issue[alloc_invoice] + lag).cast(pl.Date),
                "amount_minor": alloc_amount,
            }
        ),
        "customers": pl.DataFrame(
            {
                "customer_id": np.arange(1, 51),
                "customer_code": [f"C{i:03d}" for i in range(1, 51)],
                "customer_name": [f"Customer {i}" for i in range(1, 51)],
                "currency": ["USD"] * 50,
                "payment_terms_days": [30] * 50,
                "credit_limit_minor": [0] * 50,
            }
        ),
    }
    from queries.ledger import SCHEMAS

    return LedgerFrames.from_frames({n: f.cast(SCHEMAS[n]) for n, f in frames.items()})


def main() -> None:
    """Build, time aging three times, print the JSON line."""
    invoices = int(sys.argv[1])
    start = time.perf_counter()
    ledger = synthetic_ledger(invoices)
    built = time.perf_counter() - start
    ledger_mb = rss_mb()
    times = []
    for _ in range(3):
        start = time.perf_counter()
        aging_by_customer(ledger, as_of=AS_OF).collect()
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "invoices": invoices,
                "build_seconds": round(built, 2),
                "ledger_rss_mb": round(ledger_mb),
                "aging": {
                    "median": statistics.median(times),
                    "low": min(times),
                    "high": max(times),
                    "runs": 3,
                },
                "peak_rss_mb": round(max_rss_mb()),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()

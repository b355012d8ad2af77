"""`python -m bench.load_child URL METHOD WORKERS RUNS`: time one columnar load in a clean process.

connectorx and ADBC bring their own SQLite library, which must not share a
process with other connections to the same file (`billing.fast_load`). The
benchmark's process holds SQLAlchemy connections to the ledger, so SQLite
loads are timed here instead; the frames are proved identical through a hash
of each one's sorted rows. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys

import polars as pl

from bench.measure import measure
from billing.fast_load import read_ledger
from queries.ledger import SCHEMAS, LedgerFrames


def frame_hashes(ledger: LedgerFrames) -> dict[str, int]:
    """A hash of each frame's rows, sorted on every column (the contract fixes no order)."""
    out = {}
    for name in SCHEMAS:
        frame: pl.DataFrame = getattr(ledger, name).collect()
        out[name] = int(frame.sort(frame.columns).hash_rows(seed=7).sum() or 0)
        out[f"{name}_rows"] = frame.height
    return out


def main() -> None:
    """Time the load `RUNS` times after a warm-up; print the Stat and the frame hashes."""
    url, method, workers, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    stat, ledger = measure(lambda: read_ledger(url, method=method, workers=workers), runs=runs)
    print(json.dumps({"stat": stat.as_dict(), "hashes": frame_hashes(ledger)}), flush=True)


if __name__ == "__main__":
    main()

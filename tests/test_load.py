"""Load: 25 clerks acting every 5 s keep p95 rerun time under 500 ms, on SQLite and PostgreSQL.

A real `streamlit run app.py` over the demo ledger `billing seed-demo` makes
(3,000 invoices), and 25 protocol-level websocket clients (no browser; see
`tests/load/`) logging in and then opening pages, changing filters and now
and then posting a payment, each every 5 s ± 20 %, for 30 s. Each rerun is
timed from the click's message to the run's end. `make loadtest` runs the
longer version (25 and 50 clerks, 60 s) and prints the table RELIABILITY.md
quotes.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from tests.app_server import seed_ledger, start_server, stop_server
from tests.load.load_test import (
    DEMO_INVOICES,
    conditions,
    failures_report,
    markdown_table,
    run_load,
    summarize,
)

pytestmark = pytest.mark.load

CLERKS = 25
INTERVAL_SECONDS = 5.0
DURATION_SECONDS = 30.0
P95_LIMIT_MS = 500.0
ATTEMPTS = 2


def test_25_clerks_every_5_seconds_keep_p95_under_500_ms(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that misses the limit is tried once more on the same server.

    The machine is shared: one 30 s window with another process busy can push
    p95 past the limit while the app is fine. Two misses in a row fail, and so
    does any error in any run.
    """
    seed_ledger(database_url, invoices=DEMO_INVOICES)
    process, base_url = start_server(database_url, tmp_path / "streamlit.log")
    backend = database_url.split(":", 1)[0]
    tables: list[str] = []
    try:
        for attempt in range(ATTEMPTS):
            result = asyncio.run(
                run_load(
                    base_url,
                    clerks=CLERKS,
                    interval=INTERVAL_SECONDS,
                    duration=DURATION_SECONDS,
                    server_pid=process.pid,
                    seed=attempt + 1,  # new payment references for a second run
                )
            )
            table = markdown_table([(backend, result)])
            tables.append(table)
            with capsys.disabled():  # the figures are the point: show them even on a pass
                print(f"\n{conditions(backend, result)}\n{table}")
            assert result.failures == [], failures_report(result)
            actions = summarize(result)[0]
            # Each clerk starts within the first 5 s, logs in, then acts every 4-6 s
            # until 30 s: at least floor((30 - 5 - 6) / 6) = 3 actions each, ≥ 75 in all.
            assert actions.count >= CLERKS * math.floor((DURATION_SECONDS - 5 - 6) / 6) == 75
            if actions.p95 < P95_LIMIT_MS:
                break
        else:
            pytest.fail(f"p95 ≥ {P95_LIMIT_MS:.0f} ms in {ATTEMPTS} runs:\n" + "\n".join(tables))
    finally:
        stop_server(process)

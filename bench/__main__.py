"""`python -m bench`: seed ledgers of each size, time every heavy path, write BENCHMARKS.md.

For each size: `billing seed-demo` into a new SQLite file (and into a new
PostgreSQL database `billing_bench` when the server answers), then, reading
only, the load paths, the queries with their pandas / SQL / numpy twins
(checked identical first), the Overview page under AppTest; then, writing,
10,000 payments through `post_payment` and a 100k-row invoice CSV through
`import_csv`. At the end, when 1M is among the sizes, the 10M attempt runs in
a child process (`bench.synthetic`). Results go to data/bench/results.json as
they come, so a crash keeps what was measured; BENCHMARKS.md is written from it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import reference as ref
from bench.load_child import frame_hashes
from bench.measure import Stat, from_samples, max_rss_mb, measure, rss_mb
from bench.report import write_report
from billing import fast_load
from billing.db import make_engine, read_session, write_session
from billing.repository import load_ledger_frames, load_ledger_rows
from billing.roles import Actor, Role
from queries.aging import aging_by_customer, aging_items
from queries.balances import daily_positions, owing, period_positions
from queries.cohorts import cohort_collection_rates
from queries.forecast import forecast_summary, receipts_forecast
from queries.kpis import countback_dso, period_kpis
from queries.ledger import SCHEMAS, LedgerFrames

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
AS_OF = dt.date(2025, 6, 30)
SEED = 7
BENCH_DB = "billing_bench"
ACTOR = Actor("bench", Role.ADMIN)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
CATCH_UPS = 100  # payments the ledger cache catches up with, one at a time


def main() -> None:
    """Parse options, run every size, write the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "10000,100000,1000000"))
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL")
        or os.environ.get("BILLING_TEST_POSTGRES_URL")
        or DEFAULT_POSTGRES,
        help="a server where database billing_bench may be dropped and created; 'none' to skip",
    )
    parser.add_argument("--payments", type=int, default=10_000, help="at the largest size")
    parser.add_argument(
        "--csv-rows",
        type=int,
        default=100_000,
        help="at the largest size, SQLite (a tenth on PostgreSQL)",
    )
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--results", default=str(ROOT / "data" / "bench" / "results.json"))
    parser.add_argument("--report-only", action="store_true", help="rewrite the report only")
    options = parser.parse_args()
    results_path = Path(options.results)
    if options.report_only:
        write_report(json.loads(results_path.read_text()), Path(options.out))
        return
    sizes = [int(s) for s in options.sizes.split(",") if s.strip()]
    results: dict[str, Any] = {
        "machine": machine(),
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "as_of": AS_OF.isoformat(),
        "runs": options.runs,
        "sizes": {},
    }
    results_path.parent.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        results_path.write_text(json.dumps(results, indent=1, default=str))

    postgres = None if options.postgres == "none" else reachable(options.postgres)
    if postgres is None:
        print("PostgreSQL not reachable: SQLite only", flush=True)
    for size in sizes:
        runs = options.runs if size < 1_000_000 else max(3, options.runs - 2)
        largest = size == max(sizes)
        # The writes are slow per row (4-6 ms a payment or an imported invoice): full counts
        # at the largest size only, or `make bench` would take most of an hour.
        writes = {
            "payments": options.payments if largest else options.payments // 10,
            "sqlite_csv": options.csv_rows if largest else 0,
            "postgresql_csv": options.csv_rows // 10 if largest else 0,
        }
        entry: dict[str, Any] = {}
        results["sizes"][str(size)] = entry
        with tempfile.TemporaryDirectory(prefix="billing-bench-") as folder:
            sqlite_url = f"sqlite:///{folder}/ledger.db"
            entry["sqlite"] = run_backend(sqlite_url, size, runs, writes, save)
            save()
        if postgres is not None:
            entry["postgresql"] = run_backend(fresh_database(postgres), size, runs, writes, save)
            drop_database(postgres)
            save()
        print(f"{size:,} done; process peak {max_rss_mb():.0f} MB", flush=True)
    if max(sizes) >= 1_000_000:
        results["ten_million"] = ten_million()
    results["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    save()
    write_report(results, Path(options.out))
    print(f"wrote {options.out}", flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    with open("/proc/meminfo") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    with open("/proc/cpuinfo") as cpuinfo:
        models = [
            line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")
        ]
    cpu = models[0] if models else platform.processor()
    packages = [
        "polars",
        "pandas",
        "numpy",
        "pyarrow",
        "connectorx",
        "adbc-driver-sqlite",
        "adbc-driver-postgresql",
        "sqlalchemy",
        "streamlit",
    ]
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(total_kb / 1e6, 1),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
        "packages": {name: _version(name) for name in packages},
    }


def _version(name: str) -> str:
    try:
        return version(name)
    except Exception:
        return "not installed"


# --- databases ---------------------------------------------------------------------------


def reachable(url: str) -> str | None:
    """The URL when a PostgreSQL server answers within 3 s, else None."""
    try:
        engine = make_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return url
    except Exception as error:
        print(f"PostgreSQL at {make_url(url).render_as_string()}: {error}", flush=True)
        return None


def fresh_database(server: str) -> str:
    """Drop and create database billing_bench on `server`; its URL. Nothing else is touched."""
    drop_database(server)
    engine = make_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    engine.dispose()
    return make_url(server).set(database=BENCH_DB).render_as_string(hide_password=False)


def drop_database(server: str) -> None:
    """Drop billing_bench (and only it) if it is there."""
    engine = make_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
    engine.dispose()


def seed(url: str, size: int) -> float:
    """`billing init-db` and `billing seed-demo` as a user runs them; the seeding seconds."""
    env = {**os.environ, "BILLING_DATABASE_URL": url}
    subprocess.run([str(BIN / "billing"), "init-db"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    done = subprocess.run(
        [
            str(BIN / "billing"),
            "seed-demo",
            "--invoices",
            str(size),
            "--seed",
            str(SEED),
            "--today",
            AS_OF.isoformat(),
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    print(f"  {done.stdout.strip()}", flush=True)
    return seconds


# --- one backend at one size ---------------------------------------------------------------


def run_backend(
    url: str, size: int, runs: int, writes: dict[str, int], save: Any
) -> dict[str, Any]:
    """Everything measured on one database; reads first, then the writes."""
    backend = make_url(url).get_backend_name()
    out: dict[str, Any] = {"timings": {}, "checks": []}
    timings: dict[str, Any] = out["timings"]

    def record(name: str, stat: Stat) -> None:
        timings[name] = stat.as_dict()
        print(
            f"  {backend:10} {size:>9,} {name:34} median {stat.median * 1e3:9.1f} ms "
            f"[{stat.low * 1e3:.1f}–{stat.high * 1e3:.1f}] cpu {stat.cpu * 1e3:.0f} ms "
            f"peak +{stat.peak_mb:.0f} MB",
            flush=True,
        )
        save()

    out["seed_seconds"] = seed(url, size)
    engine = make_engine(url)
    with read_session(engine) as session:
        counts = {
            name: session.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in ("invoices", "allocations", "payments", "adjustments")
        }
    out["rows"] = counts

    # Database -> Polars, every path; each gives the same frames (checked).
    slow_runs = 1 if size >= 1_000_000 else min(3, runs)

    def by_sqlalchemy() -> LedgerFrames:
        with read_session(engine) as session:
            return load_ledger_rows(session)

    stat, reference_ledger = measure(by_sqlalchemy, runs=slow_runs, warmup=False)
    record("load: SQLAlchemy rows", stat)
    expected = {n: _sorted(getattr(reference_ledger, n).collect()) for n in SCHEMAS}
    hashes = frame_hashes(reference_ledger)
    for method in fast_load.fast_methods(url, in_process=False):
        for workers in (1, 2) if method is fast_load.LoadMethod.CONNECTORX else (1,):
            label = f"load: {method}" + (f", {workers} threads" if workers > 1 else "")
            stat, got_hashes = load_in_child(url, method, workers, runs)
            record(label, stat)
            if got_hashes != hashes:
                raise AssertionError(f"{label} read other frames: {got_hashes} != {hashes}")
            out["checks"].append(f"{label}: all five frames identical to SQLAlchemy's")

    def as_the_app_does() -> LedgerFrames:
        with read_session(engine) as session:
            return load_ledger_frames(session)

    # PostgreSQL: ADBC in the app's process; SQLite: the session's own sqlite3 cursor.
    stat, got = measure(as_the_app_does, runs=runs)
    record("load: load_ledger_frames (the app's path)", stat)
    for name in SCHEMAS:
        got_frame = _sorted(getattr(got, name).collect())
        ref.check_same(f"app load {name}", expected[name], got_frame)
    out["checks"].append("load: load_ledger_frames (the app's path): all five frames identical")
    ledger = reference_ledger.collect()
    del reference_ledger, expected

    # Aging and the DSO series: Polars beside its twins.
    polars_aging = ref.compare_aging(ref.polars_aging(ledger, AS_OF))
    polars_dso = ref.compare_dso(ref.polars_dso(ledger, AS_OF))
    stat, _ = measure(lambda: ref.polars_aging(ledger, AS_OF), runs=runs)
    record("aging: Polars", stat)
    stat, _ = measure(lambda: ref.polars_dso(ledger, AS_OF), runs=runs)
    record("DSO series: Polars", stat)
    positions = daily_positions(ledger).collect()
    stat, _ = measure(lambda: daily_positions(ledger).collect(), runs=runs)
    record("daily positions: Polars", stat)
    stat, _ = measure(
        lambda: period_kpis(ledger, ref.dso_periods(AS_OF), positions=positions).collect(),
        runs=runs,
    )
    record("DSO series, positions cached: Polars", stat)
    sql_runs = 1 if size >= 1_000_000 else max(1, min(runs, 3))  # 3-10 s a run at 1M
    stat, got = measure(lambda: ref.sql_aging(engine, AS_OF), runs=sql_runs)
    ref.check_same(f"{backend} SQL aging", polars_aging, got)
    record(f"aging: SQL ({backend})", stat)
    stat, got = measure(lambda: ref.sql_dso(engine, AS_OF), runs=sql_runs)
    ref.check_same(f"{backend} SQL DSO", polars_dso, got)
    record(f"DSO series: SQL ({backend})", stat)
    out["checks"].append(f"SQL ({backend}) aging and DSO series identical to Polars")
    if backend == "sqlite":
        pandas_ledger = ref.to_pandas(ledger)
        stat, got = measure(lambda: ref.pandas_aging(pandas_ledger, AS_OF), runs=runs)
        ref.check_same("pandas aging", polars_aging, got)
        record("aging: pandas", stat)
        stat, got = measure(lambda: ref.pandas_dso(pandas_ledger, AS_OF), runs=runs)
        ref.check_same("pandas DSO", polars_dso, got)
        record("DSO series: pandas", stat)
        del pandas_ledger
        dense = ref.to_dense(ledger)
        stat, sums = measure(lambda: ref.numpy_aging(dense, AS_OF), runs=runs)
        ref.check_same("numpy aging", polars_aging, ref.numpy_aging_frame(dense, sums))
        record("aging: numpy dense (lower bound)", stat)
        del dense
        out["checks"].append("pandas aging and DSO, numpy aging identical to Polars")
        stat, _ = measure(lambda: cohort_collection_rates(ledger, as_of=AS_OF).collect(), runs=runs)
        record("cohort collection rates: Polars", stat)
        stat, _ = measure(
            lambda: pl.collect_all(
                [receipts_forecast(ledger, as_of=AS_OF), forecast_summary(ledger, as_of=AS_OF)]
            ),
            runs=runs,
        )
        record("13-week forecast: Polars", stat)
        out["profiles"] = profiles(ledger, runs)
    open_items = (
        aging_items(ledger, as_of=AS_OF)
        .filter(pl.col("open_minor") >= 100)
        .select("invoice_number", "customer_code")
        .collect()
    )
    customers = ledger.customers.select("customer_code", "currency").collect()
    page = overview_page(url, runs, open_items)
    for name, stat in page.items():
        record(name, stat)

    # Writes last: they change the ledger the reads above measured.
    count = writes["payments"]
    record(f"post one payment (of {count:,})", post_payments(engine, open_items, count))
    stat, check = ledger_after_payments(engine, open_items, CATCH_UPS, compare=size < 1_000_000)
    record(f"ledger cache: patch after one payment (of {CATCH_UPS})", stat)
    out["checks"].append(check)
    rows = writes[f"{backend}_csv"]
    if rows:
        stat = import_invoices(engine, customers, rows)
        record(f"import a {rows:,}-row invoice CSV", stat)
    engine.dispose()
    return out


def load_in_child(url: str, method: str, workers: int, runs: int) -> tuple[Stat, dict[str, int]]:
    """`bench.load_child` in its own process: no other SQLite library copy shares the file."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load_child", url, str(method), str(workers), str(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return Stat(**found["stat"]), found["hashes"]


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns)


def profiles(ledger: LedgerFrames, runs: int) -> dict[str, list[tuple[str, float]]]:
    """Where aging's and the DSO series' time goes: each stage collected on its own, median ms.

    Polars 2 removed `LazyFrame.profile()`; the stages are the functions the
    queries are built from, each including the ones before it.
    """
    periods = ref.dso_periods(AS_OF)
    positions = daily_positions(ledger).collect()
    stages = {
        "aging": {
            "owing (open balances > 0)": lambda: owing(ledger, as_of=AS_OF).collect(),
            "+ names, days, bucket (aging_items)": lambda: aging_items(
                ledger, as_of=AS_OF
            ).collect(),
            "+ group by customer (aging_by_customer)": lambda: ref.polars_aging(ledger, AS_OF),
            "same, in-memory engine": lambda: aging_by_customer(
                ledger, as_of=AS_OF, boundaries=ref.BOUNDARIES
            ).collect(engine="in-memory"),
        },
        "DSO series": {
            "daily_positions": lambda: daily_positions(ledger).collect(),
            "period_positions (positions cached)": lambda: period_positions(
                ledger, periods, positions=positions
            ).collect(),
            "countback_dso (positions cached)": lambda: countback_dso(
                ledger, periods, positions=positions
            ).collect(),
            "period_kpis, all of it": lambda: ref.polars_dso(ledger, AS_OF),
            "same, in-memory engine": lambda: period_kpis(ledger, periods).collect(
                engine="in-memory"
            ),
        },
    }
    out = {}
    for name, steps in stages.items():
        out[name] = [
            (step, round(measure(run, runs=runs)[0].median * 1e3, 1)) for step, run in steps.items()
        ]
    return out


# --- the page, the writes -------------------------------------------------------------------


def overview_page(url: str, runs: int, open_items: pl.DataFrame) -> dict[str, Stat]:
    """The Overview under AppTest as a logged-in manager: cold, warm, and after a write.

    After the warm reruns, `runs` payments are posted as another clerk would,
    each followed by a timed rerun: the ledger patched, the figures computed again.
    """
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from billing.services import PaymentCreate, post_payment
    from ui import data as ui_data

    os.environ.update(
        BILLING_DATABASE_URL=url,
        BILLING_DEMO="1",
        BILLING_COOKIE_KEY="a-bench-cookie-key-of-at-least-32-bytes",
    )
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.query_params["as_of"] = AS_OF.isoformat()
    at.run()
    next(w for w in at.text_input if w.label == "Username").input("manager")
    next(w for w in at.text_input if w.label == "Password").input("manager-demo")
    next(b for b in at.button if b.label == "Log in").click().run()
    # The login run may have loaded the ledger already: start cold.
    st.cache_data.clear()
    ui_data.forget_ledger()
    base = rss_mb()
    start = time.perf_counter()
    at.run()
    cold = time.perf_counter() - start
    if at.exception or not any(t.value == "Overview" for t in at.title):
        raise RuntimeError(f"the Overview did not render: {at.exception}")
    cold_stat = Stat(cold, cold, cold, float("nan"), rss_mb() - base, 1)
    warm, _ = measure(at.run, runs=runs, warmup=False)
    engine = make_engine(url)
    after_write = []
    for i, (number, code) in enumerate(open_items.head(runs).rows()):
        with write_session(engine) as session:
            post_payment(
                session,
                actor=ACTOR,
                data=PaymentCreate(code, f"PAGE-{i:03d}", AS_OF, 100, invoice_number=number),
            )
        start = time.perf_counter()
        at.run()
        after_write.append(time.perf_counter() - start)
    engine.dispose()
    if at.exception:
        raise RuntimeError(f"the Overview failed after a payment: {at.exception}")
    st.cache_data.clear()
    st.cache_resource.clear()
    return {
        "Overview page, cold (loads the ledger)": cold_stat,
        "Overview page, warm": warm,
        "Overview page, after a payment": from_samples(after_write, 0.0),
    }


def post_payments(engine: Any, open_items: pl.DataFrame, count: int) -> Stat:
    """`count` payments of 1.00 posted one transaction each, as clerks post remittances."""
    from billing.services import PaymentCreate, post_payment

    rows = open_items.rows()
    latencies = []
    base = rss_mb()
    for i in range(count):
        number, code = rows[i % len(rows)]
        start = time.perf_counter()
        with write_session(engine) as session:
            post_payment(
                session,
                actor=ACTOR,
                data=PaymentCreate(code, f"BENCH-{i:06d}", AS_OF, 100, invoice_number=number),
            )
        latencies.append(time.perf_counter() - start)
    return from_samples(latencies, rss_mb() - base)


def ledger_after_payments(
    engine: Any, open_items: pl.DataFrame, count: int, *, compare: bool
) -> tuple[Stat, str]:
    """What the app pays after a write: `LedgerCache` catching up with one more payment.

    Each payment is posted (not timed), then the cache's versions and ledger
    are brought up to date (timed): the patch that replaced a full reload.
    With `compare`, the patched frames are checked against a full read.
    """
    from billing.ledger_cache import LedgerCache
    from billing.services import PaymentCreate, post_payment

    cache = LedgerCache()
    cache.versions(engine)
    cache.ledger(engine)
    rows = open_items.rows()
    latencies = []
    base = rss_mb()
    for i in range(count):
        number, code = rows[(i * 7) % len(rows)]
        with write_session(engine) as session:
            post_payment(
                session,
                actor=ACTOR,
                data=PaymentCreate(code, f"CACHE-{i:04d}", AS_OF, 100, invoice_number=number),
            )
        start = time.perf_counter()
        cache.versions(engine)
        cache.ledger(engine).invoices.collect()
        latencies.append(time.perf_counter() - start)
    stat = from_samples(latencies, rss_mb() - base)
    if (cache.loads, cache.patches) != (1, count):
        raise AssertionError(f"loads {cache.loads}, patches {cache.patches}: expected 1, {count}")
    check = f"ledger cache: {count} payments patched in, never reloaded"
    if compare:
        with read_session(engine) as session:
            fresh = load_ledger_rows(session)
        patched = cache.ledger(engine)
        for name in SCHEMAS:
            ref.check_same(
                f"patched {name}",
                _sorted(getattr(fresh, name).collect()),
                _sorted(getattr(patched, name).collect()),
            )
        check += ", and identical to a full read after"
    return stat, check


def import_invoices(engine: Any, customers: pl.DataFrame, rows: int) -> Stat:
    """A `rows`-line invoice CSV through `import_csv`, timed once (it grows the ledger)."""
    from billing.csv_import import import_csv

    with tempfile.TemporaryDirectory(prefix="billing-bench-csv-") as folder:
        path = Path(folder) / "invoices.csv"
        pairs = customers.rows()
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["invoice_number", "customer_code", "issue_date", "currency", "amount"])
            for i in range(rows):
                code, currency = pairs[i % len(pairs)]
                amount = "123" if currency in ("JPY", "KRW") else "123.45"
                writer.writerow([f"CSV-{i:07d}", code, AS_OF.isoformat(), currency, amount])
        stat, report = measure(
            lambda: import_csv(engine, actor=ACTOR, kind="invoices", path=path),
            runs=1,
            warmup=False,
        )
    if report.created != rows:
        raise RuntimeError(f"the import created {report.created} invoices, not {rows}")
    return stat


def ten_million() -> dict[str, Any]:
    """Aging at 10M invoices in a child process (its own peak memory), or why it broke."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.synthetic", "10000000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    print(done.stdout + done.stderr, flush=True)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()

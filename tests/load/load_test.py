"""Load test: simulated clerks acting every few seconds on a running app, over the websocket.

Each clerk is one asyncio task with its own Streamlit session
(`tests.load.streamlit_client`): it starts at a random moment within the
first interval, logs in through the login form, then acts every `interval`
seconds (±20 % jitter) until the duration is over. An action is one rerun,
timed from sending the `BackMsg` to the run's final `script_finished`, which
is what the person waits for before the page is usable again. The mix:

- 50 %: open another page (Overview, Invoices, Aging, Payments);
- 45 %: change this page's filter: the as-of date on Overview and Aging, the
  search box on Invoices, the customer on Payments (which shows the
  suggested allocation);
- 5 % (`--payment-share`): post a payment through the Payments form, one
  step per tick as a person would: open Payments, choose a customer, type
  reference and amount, press "Post payment" (the app's toast must confirm
  it). Every payment is a write, so it also expires the cached ledger that
  every session reads: the next run after it loads the ledger again.

Logins are timed too but reported apart from the actions: their cost is the
deliberate bcrypt check, paid once per session.

Run against a server that is already up, or let the CLI seed and start one:

    python -m tests.load.load_test --url http://127.0.0.1:8501
    python -m tests.load.load_test --backend sqlite --backend postgres --clerks 25 --clerks 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.app_server import (
    SEED_TODAY,
    demo_password,
    postgres_schema_url,
    seed_database,
    seed_ledger,
    start_server,
    stop_server,
)
from tests.load.streamlit_client import Run, RunTimedOut, SessionClosed, StreamlitClient

PAGES = ("Overview", "Invoices", "Aging", "Payments")
# `billing seed-demo`'s default size: the ledger a demo office starts with.
DEMO_INVOICES = 3000
JITTER = 0.2
PAYMENT_SHARE = 0.05  # of actions that start a payment (each then takes 3-4 ticks)
PAGE_SHARE = 0.5
LOGIN_RERUNS = 3  # reruns after "Log in" before giving up on seeing "Log out"


class ScenarioError(Exception):
    """The app did not show what a clerk expected (no login, no payment confirmation)."""


@dataclass(frozen=True)
class Sample:
    """One timed rerun."""

    kind: str
    seconds: float


@dataclass(frozen=True)
class Failure:
    """One thing that went wrong for a clerk: an exception on the page, a lost session, …"""

    kind: str
    message: str


@dataclass
class LoadResult:
    """Everything one load run measured, plus the conditions it ran under."""

    clerks: int
    interval: float
    duration: float
    samples: list[Sample] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    client_cpu_seconds: float = 0.0
    server_cpu_seconds: float | None = None  # known when the server's pid is

    @property
    def server_cpu_ms_per_rerun(self) -> float | None:
        """The server's CPU time per action: what one rerun costs, whatever the machine's load."""
        actions = sum(sample.kind != "login" for sample in self.samples)
        if self.server_cpu_seconds is None or not actions:
            return None
        return self.server_cpu_seconds * 1000 / actions


@dataclass(frozen=True)
class Stats:
    """Percentiles of one kind of rerun, in milliseconds (nearest-rank)."""

    kind: str
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    errors: int


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence: the smallest value ≥ q % of them."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def stats(kind: str, seconds: Sequence[float], errors: int) -> Stats:
    """The table row for `kind`: count, p50/p95/p99/max in ms, and its error count."""
    ordered = sorted(s * 1000 for s in seconds)
    return Stats(
        kind=kind,
        count=len(ordered),
        p50=percentile(ordered, 50),
        p95=percentile(ordered, 95),
        p99=percentile(ordered, 99),
        max=ordered[-1] if ordered else math.nan,
        errors=errors,
    )


def summarize(result: LoadResult) -> list[Stats]:
    """One row for all actions, one per action kind, one for logins."""
    actions = [s for s in result.samples if s.kind != "login"]
    action_errors = [f for f in result.failures if f.kind != "login"]
    rows = [stats("actions", [s.seconds for s in actions], len(action_errors))]
    for kind in ("page", "filter", "payment", "login"):
        rows.append(
            stats(
                kind,
                [s.seconds for s in result.samples if s.kind == kind],
                sum(f.kind == kind for f in result.failures),
            )
        )
    return rows


class Clerk:
    """One simulated person: a session, a random generator and a queue of planned steps."""

    def __init__(
        self,
        number: int,
        client: StreamlitClient,
        result: LoadResult,
        rng: random.Random,
        *,
        payment_share: float = PAYMENT_SHARE,
    ) -> None:
        self.number = number
        self.client = client
        self.result = result
        self.rng = rng
        self.payment_share = payment_share
        self._planned: list[tuple[str, Callable[[], Awaitable[Run]]]] = []
        self._payments = 0

    @property
    def page(self) -> str:
        """The title of the page the session is on."""
        titles = {page_hash: title for title, page_hash in self.client.pages.items()}
        return titles.get(self.client.page_hash, "")

    async def timed(self, kind: str, step: Callable[[], Awaitable[Run]]) -> Run:
        """Run one step, record its time, and count an exception the page shows as a failure."""
        run = await step()
        self.result.samples.append(Sample(kind, run.seconds))
        for text in run.exceptions:
            self.result.failures.append(Failure(kind, f"clerk {self.number}: {text}"))
        return run

    async def log_in(self, username: str, password: str) -> None:
        """Fill the login form in one rerun, then rerun until the sidebar offers "Log out".

        In a browser the cookie component's answer makes that second run; here
        an empty rerun stands in for it.
        """
        form = await self.timed("login", self.client.rerun)
        fields = {
            form.find("text_input", "Username").id: username,
            form.find("text_input", "Password").id: password,
        }
        submit = form.find("button", "Log in").id
        run = await self.timed("login", lambda: self.client.rerun(fields, trigger=submit))
        for _ in range(LOGIN_RERUNS):
            if run.has("button", "Log out"):
                return
            run = await self.timed("login", self.client.rerun)
        if not run.has("button", "Log out"):
            raise ScenarioError(f"clerk {self.number} is not logged in; the page says {run.texts}")

    def give_up_plan(self) -> None:
        """Drop the rest of a payment after a failed step, as a person would start over."""
        self._planned.clear()

    def next_step(self) -> tuple[str, Callable[[], Awaitable[Run]]]:
        """The next action: a planned payment step, else a random page, filter or payment."""
        if self._planned:
            return self._planned.pop(0)
        roll = self.rng.random()
        if roll < PAGE_SHARE:
            return "page", self.open_page
        if roll < 1 - self.payment_share:
            return "filter", self.change_filter
        self._planned = [
            ("payment", self.choose_payment_customer),
            ("payment", self.type_payment),
            ("payment", self.press_post_payment),
        ]
        if self.page != "Payments":
            return "payment", lambda: self.client.rerun(page="Payments")
        return self._planned.pop(0)

    async def open_page(self) -> Run:
        """Switch to one of the other pages in the navigation."""
        return await self.client.rerun(page=self.rng.choice([p for p in PAGES if p != self.page]))

    async def change_filter(self) -> Run:
        """Change what this page shows, the way its main filter would be used."""
        last = self.client.last
        assert last is not None
        if self.page == "Invoices":
            return await self.client.rerun({last.find("text_input", "Search").id: self._search()})
        if self.page == "Payments":
            return await self.choose_payment_customer()
        # Overview and Aging: a month end within the demo ledger's last year.
        months_back = self.rng.randint(0, 11)
        as_of = _month_end(SEED_TODAY, months_back).isoformat()
        return await self.client.rerun({last.find("date_input", "As of").id: [as_of]})

    def _search(self) -> str:
        """A customer name word, a customer code or part of an invoice number; or nothing."""
        last = self.client.last
        assert last is not None
        options = list(last.find("selectbox", "Customer").proto.options)  # "C001 · Acme Ltd"
        code, _, name = self.rng.choice(options).partition(" · ")
        return self.rng.choice([name.split()[0], code, f"INV-00{self.rng.randint(0, 299):03d}", ""])

    async def choose_payment_customer(self) -> Run:
        """Pick a customer in "Post a payment": the page then suggests an allocation."""
        last = self.client.last
        assert last is not None
        customer = last.all("selectbox")[0]  # the form's "Customer" comes first on Payments
        return await self.client.rerun({customer.id: self.rng.choice(list(customer.proto.options))})

    async def type_payment(self) -> Run:
        """Type a unique reference and an amount (one rerun, as a form-less page commits both)."""
        last = self.client.last
        assert last is not None
        self._payments += 1
        # "Amount (USD)"; the page's other amount box is "Amount (USD, optional)".
        amounts = [e for e in last.all("text_input") if e.label.startswith("Amount (")]
        amount = min(amounts, key=lambda e: len(e.label), default=None)
        if amount is None:
            raise LookupError(f"no payment amount box; the page says {last.texts}")
        reference = f"LT-{self.number}-{self._payments}-{self.rng.randrange(16**6):06x}"
        cents = self.rng.randint(100, 5000)
        return await self.client.rerun(
            {
                last.find("text_input", "Payment reference").id: reference,
                amount.id: f"{cents // 100}.{cents % 100:02d}",
            }
        )

    async def press_post_payment(self) -> Run:
        """Press "Post payment"; the app must say the payment was posted."""
        last = self.client.last
        assert last is not None
        run = await self.client.rerun(trigger=last.find("button", "Post payment").id)
        if not any(text.startswith("Payment ") and " posted" in text for text in run.texts):
            raise ScenarioError(f"clerk {self.number}: no payment confirmation in {run.texts}")
        return run


def _month_end(day: dt.date, months_back: int) -> dt.date:
    first = dt.date(day.year, day.month, 1)
    for _ in range(months_back):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return min(following - dt.timedelta(days=1), day)


@dataclass
class Window:
    """The measured stretch: it opens once every clerk has logged in (or failed to)."""

    logged_in: asyncio.Barrier
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    deadline: float = 0.0


async def _clerk(
    number: int,
    base_url: str,
    result: LoadResult,
    window: Window,
    *,
    interval: float,
    ramp_up: float,
    username: str,
    payment_share: float,
    rng: random.Random,
) -> None:
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        clerk: Clerk | None = None
        try:
            await asyncio.sleep(rng.uniform(0, ramp_up))  # people arrive one by one
            client = await stack.enter_async_context(StreamlitClient.connect(base_url))
            clerk = Clerk(number, client, result, rng, payment_share=payment_share)
            await clerk.log_in(username, demo_password(username))
        except (SessionClosed, RunTimedOut, ScenarioError, LookupError, OSError) as error:
            result.failures.append(Failure("login", f"clerk {number}: {_named(error)}"))
            clerk = None
        finally:
            await window.logged_in.wait()
        await window.opened.wait()
        if clerk is None:
            return
        next_at = loop.time() + rng.uniform(0, interval)  # first actions spread out too
        kind = "page"
        try:
            while next_at < window.deadline:
                await asyncio.sleep(max(0.0, next_at - loop.time()))
                kind, step = clerk.next_step()
                try:
                    await clerk.timed(kind, step)
                except (LookupError, ScenarioError) as error:
                    result.failures.append(Failure(kind, f"clerk {number}: {_named(error)}"))
                    clerk.give_up_plan()
                next_at += interval * rng.uniform(1 - JITTER, 1 + JITTER)
        except (SessionClosed, RunTimedOut, OSError) as error:
            result.failures.append(Failure(kind, f"clerk {number}: {_named(error)}"))


def _named(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


async def warm_up(base_url: str, username: str = "clerk") -> None:
    """One session that logs in and opens each page: imports and caches are then warm.

    A server that has been up for a while is the state the office works in;
    the first run after a start imports Polars and Plotly and loads the ledger.
    """
    result = LoadResult(clerks=1, interval=0, duration=0)
    async with StreamlitClient.connect(base_url) as client:
        clerk = Clerk(0, client, result, random.Random(0))
        await clerk.log_in(username, demo_password(username))
        for page in PAGES:
            await client.rerun(page=page)
    if result.failures:
        raise ScenarioError(f"warm-up failed: {result.failures}")


async def run_load(
    base_url: str,
    *,
    clerks: int,
    interval: float = 5.0,
    duration: float = 60.0,
    ramp_up: float | None = None,
    username: str = "clerk",
    payment_share: float = PAYMENT_SHARE,
    seed: int = 1,
    server_pid: int | None = None,
) -> LoadResult:
    """Warm up, log `clerks` clerks in over `ramp_up` s, then measure `duration` s of actions.

    Logins are timed but kept out of the measured window, so a crowd logging in
    at once does not pass for the steady state (the table shows them apart).
    With `server_pid`, the server's CPU time during the window is measured too.
    """
    await warm_up(base_url, username)
    result = LoadResult(clerks=clerks, interval=interval, duration=duration)
    window = Window(asyncio.Barrier(clerks + 1))
    master = random.Random(seed)
    tasks = [
        asyncio.create_task(
            _clerk(
                number,
                base_url,
                result,
                window,
                interval=interval,
                ramp_up=interval if ramp_up is None else ramp_up,
                username=username,
                payment_share=payment_share,
                rng=random.Random(master.random()),
            )
        )
        for number in range(1, clerks + 1)
    ]
    await window.logged_in.wait()
    result.load_before = os.getloadavg()
    cpu_before = time.process_time()
    server_before = process_cpu_seconds(server_pid) if server_pid else 0.0
    window.deadline = asyncio.get_running_loop().time() + duration
    window.opened.set()
    await asyncio.gather(*tasks)
    result.client_cpu_seconds = time.process_time() - cpu_before
    if server_pid:
        result.server_cpu_seconds = process_cpu_seconds(server_pid) - server_before
    result.load_after = os.getloadavg()
    return result


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux `/proc/<pid>/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def markdown_table(rows: Sequence[tuple[str, LoadResult]]) -> str:
    """The results as a markdown table: one block of rows per (label, run)."""
    lines = [
        "| run | clerks | kind | count | p50 ms | p95 ms | p99 ms | max ms | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, result in rows:
        for row in summarize(result):
            if row.count == 0 and row.errors == 0:
                continue
            lines.append(
                f"| {label} | {result.clerks} | {row.kind} | {row.count} | {row.p50:.0f} | "
                f"{row.p95:.0f} | {row.p99:.0f} | {row.max:.0f} | {row.errors} |"
            )
    return "\n".join(lines)


def conditions(label: str, result: LoadResult) -> str:
    """One line on what the machine was doing: load averages, server and client CPU."""
    before = ", ".join(f"{x:.2f}" for x in result.load_before)
    after = ", ".join(f"{x:.2f}" for x in result.load_after)
    server = ""
    if result.server_cpu_seconds is not None:
        server = (
            f"server CPU {result.server_cpu_seconds:.1f} s "
            f"({result.server_cpu_seconds / result.duration:.0%} of one core, "
            f"{result.server_cpu_ms_per_rerun or 0:.0f} ms per rerun); "
        )
    return (
        f"{label}, {result.clerks} clerks every {result.interval:g} s for "
        f"{result.duration:g} s: load average before {before}, after {after}; "
        f"{server}load-test client CPU {result.client_cpu_seconds:.1f} s"
    )


def failures_report(result: LoadResult, limit: int = 10) -> str:
    """The distinct failures (first `limit`), each with how often it happened."""
    counts: dict[tuple[str, str], int] = {}
    for failure in result.failures:
        message = failure.message.split(": ", 1)[-1]  # without "clerk N" so repeats group
        counts[failure.kind, message] = counts.get((failure.kind, message), 0) + 1
    return "\n".join(
        f"  {n} × [{kind}] {message[:300]}" for (kind, message), n in list(counts.items())[:limit]
    )


@contextlib.contextmanager
def served(
    backend: str,
    *,
    invoices: int,
    postgres_url: str | None,
    options: Sequence[str] = (),
) -> Iterator[tuple[str, int]]:
    """A fresh demo database on `backend` with a server in front; yields its URL and pid.

    `options` are Streamlit config settings (`runner.postScriptGC=false`) for
    trying a change without editing `.streamlit/config.toml`.
    """
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="billing-load-")))
        if backend == "sqlite":
            url = seed_database(folder, invoices=invoices)
        else:
            if not postgres_url:
                raise SystemExit(
                    "--backend postgres needs --postgres-url or BILLING_TEST_POSTGRES_URL"
                )
            url = seed_ledger(
                stack.enter_context(postgres_schema_url(postgres_url)), invoices=invoices
            )
        flags = tuple(f"--{name}={value}" for name, value in (o.split("=", 1) for o in options))
        process, base_url = start_server(url, folder / "streamlit.log", extra_args=flags)
        stack.callback(stop_server, process)
        yield base_url, process.pid


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: run each (backend, clerk count) and print one table; 1 if anything failed."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.load.load_test",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--url", help="a running app (http://127.0.0.1:PORT); else one is started")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"])
    parser.add_argument("--clerks", type=int, action="append", help="repeatable; default 25")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between actions")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per run")
    parser.add_argument("--invoices", type=int, default=DEMO_INVOICES, help="seeded ledger size")
    parser.add_argument("--username", default="clerk", help="every clerk logs in as this user")
    parser.add_argument("--payment-share", type=float, default=PAYMENT_SHARE)
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        help="a Streamlit setting for the started server, e.g. runner.postScriptGC=false",
    )
    parser.add_argument(
        "--postgres-url", default=os.environ.get("BILLING_TEST_POSTGRES_URL"), help="server URL"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    runs: list[tuple[str, LoadResult]] = []
    targets = ["external"] if args.url else args.backend or ["sqlite"]
    for backend in targets:
        for clerks in args.clerks or [25]:
            with (
                contextlib.nullcontext((args.url, None))
                if args.url
                else served(
                    backend,
                    invoices=args.invoices,
                    postgres_url=args.postgres_url,
                    options=args.option,
                )
            ) as (base_url, pid):
                result = asyncio.run(
                    run_load(
                        base_url,
                        clerks=clerks,
                        interval=args.interval,
                        duration=args.duration,
                        username=args.username,
                        payment_share=args.payment_share,
                        server_pid=pid,
                    )
                )
            runs.append((backend, result))
            print(conditions(backend, result), file=sys.stderr)
            if result.failures:
                print(failures_report(result), file=sys.stderr)
    if not args.url:
        print(f"\nSeeded ledger: {args.invoices} demo invoices (seed 42, up to {SEED_TODAY})")
    print(markdown_table(runs))
    if args.json:
        args.json.write_text(
            json.dumps([as_json(label, result) for label, result in runs], indent=2)
        )
    return 1 if any(result.failures for _, result in runs) else 0


def as_json(label: str, result: LoadResult) -> dict[str, object]:
    """One run's conditions, statistics and failures, for `--json`."""
    return {
        "backend": label,
        "clerks": result.clerks,
        "interval": result.interval,
        "duration": result.duration,
        "load_before": result.load_before,
        "load_after": result.load_after,
        "client_cpu_seconds": result.client_cpu_seconds,
        "server_cpu_seconds": result.server_cpu_seconds,
        "server_cpu_ms_per_rerun": result.server_cpu_ms_per_rerun,
        "stats": [asdict(row) for row in summarize(result)],
        "failures": [asdict(f) for f in result.failures],
    }


if __name__ == "__main__":
    raise SystemExit(main())

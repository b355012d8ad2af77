"""Hypothesis fuzzes the CSV import: never a traceback, never a partial write.

For each kind of file, two generators feed the same entry point the CLI and
the Import page use (`billing.csv_import.import_csv`):

- arbitrary bytes, alone and under a valid header row, and
- near-valid files: a real header (columns shuffled, optional ones dropped)
  and rows whose cells come from a hostile alphabet mixed with valid values,
  written either through `csv.writer` (quoted) or joined raw with commas.

The property: the import either succeeds, or raises `ImportFailed` whose every
problem names a line and a column (problems with the whole file name neither;
problems with the header row name its line), and then every table, the audit
log included, is exactly as before. Any other exception fails the test. A dry
run changes nothing even when it succeeds.

One database per test function, not per example (a migrated schema costs far
more than an import): successful imports accumulate, which only makes later
examples meet more "already present" and "different" rows.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from billing.csv_import import ImportFailed, ImportReport, import_csv
from billing.csv_parse import KINDS, LAYOUTS
from tests.conftest import MANAGER
from tests.test_csv_import import CUSTOMERS, INVOICES, csv_file, run, state

EXAMPLES = int(os.environ.get("BILLING_FUZZ_EXAMPLES", "150"))


def fuzz_settings(engine: Engine) -> settings:
    """`EXAMPLES` on SQLite, a third of them on PostgreSQL, where each import costs more."""
    examples = EXAMPLES if engine.dialect.name == "sqlite" else max(10, EXAMPLES // 3)
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


HOSTILE_CHARS = ",;\"\n\r\t\x00 .-+=eE90١٣＝\ufeffé\u202e🚀'/_|@"
VALID = [
    "C1",
    "C2",
    "J1",
    "A",
    "B",
    "D",
    "Y",
    "USD",
    "JPY",
    "EUR",
    "usd",
    "2026-01-15",
    "2026-03-01",
    "1969-12-31",
    "2026-02-30",
    "credit_note",
    "write_off",
    "transfer",
    "12.50",
    "0.01",
    "100",
    "9,99",
    "1e3",
    "NaN",
    "-5",
    "9" * 40,
    "30",
    "",
    " ",
    '=HYPERLINK("x")',
]
cell = st.one_of(st.sampled_from(VALID), st.text(alphabet=HOSTILE_CHARS, max_size=12))

# Values that are right for a column, so some rows pass and reach the database.
NEW = [f"N{i}" for i in range(40)]  # keys not yet in the ledger: rows that get created
_RIGHT: dict[str, list[str]] = {
    "customer_code": ["C1", "C2"],  # the USD customers of `books`
    "name": ["Acme Tools", "Né & Co 🚀"],
    "currency": ["USD"],
    "email": ["", "a@b.example"],
    "payment_terms_days": ["30", "0"],
    "credit_limit": ["0", "100.00"],
    "invoice_number": ["A", "B", "D", *NEW],
    "issue_date": ["2026-01-01", "2026-04-01"],
    "due_date": ["", "2026-05-01"],
    "amount": ["1.00", "25", "100.00"],
    "description": ["", "two\nlines", "=1+1"],
    "payment_reference": NEW,
    "received_date": ["2026-04-02"],
    "method": ["", "card"],
    "date": ["2026-04-03"],
    "kind": ["credit_note", "write_off"],
    "reason": ["goodwill"],
}
# Per kind, where the file's own key must be new to create a row.
_RIGHT_FOR = {
    "customers": {**_RIGHT, "customer_code": NEW, "currency": ["USD", "JPY", "EUR"]},
    "invoices": _RIGHT,
    "payments": {**_RIGHT, "invoice_number": ["", "A", "B"]},
    "adjustments": {**_RIGHT, "invoice_number": ["A", "B", "C"], "amount": ["0.01", "1.00"]},
}


@st.composite
def one_wrong(draw: st.DrawFn, kind: str, columns: list[str]) -> list[str]:
    """A right row with one cell replaced by a hostile one."""
    row = [draw(st.sampled_from(_RIGHT_FOR[kind][c])) for c in columns]
    row[draw(st.integers(0, len(columns) - 1))] = draw(cell)
    return row


def right_row(kind: str, columns: list[str]) -> st.SearchStrategy[list[str]]:
    return st.tuples(*(st.sampled_from(_RIGHT_FOR[kind][c]) for c in columns)).map(list)


def cells_for(kind: str, columns: list[str]) -> st.SearchStrategy[list[str]]:
    """A right row, a row with one hostile cell, or hostile cells, maybe one too many or few."""
    wild = st.lists(cell, min_size=len(columns) - 1, max_size=len(columns) + 1)
    return right_row(kind, columns) | one_wrong(kind, columns) | wild


# Problems with the file as a whole, or with its header, carry no column.
HEADER_WORDS = ("semicolon-separated", "tab-separated", "these are the columns of")


@st.composite
def near_valid(draw: st.DrawFn, kind: str) -> bytes:
    layout = LAYOUTS[kind]
    optional = (
        draw(st.lists(st.sampled_from(layout.optional), unique=True)) if layout.optional else []
    )
    columns = draw(st.permutations([*layout.required, *optional]))
    # A third of the files are all right rows (those reach the services and write);
    # the rest mix right, nearly right and wild rows.
    rows = draw(
        st.lists(right_row(kind, columns), max_size=3)
        | st.lists(cells_for(kind, columns), max_size=6)
        | st.lists(cells_for(kind, columns), max_size=6)
    )
    if draw(st.booleans()):
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
        writer.writerow(columns)
        writer.writerows(rows)
        text = out.getvalue()
    else:
        text = "\n".join(",".join(r) for r in [columns, *rows]) + "\n"
    bom = draw(st.sampled_from(["", "\ufeff"]))
    return (bom + text).encode("utf-8")


def valid_file(kind: str) -> bytes:
    """A file of one right row with a key not yet in the ledger (the last of `NEW`)."""
    columns = list(LAYOUTS[kind].required)
    right = {**_RIGHT_FOR[kind], "invoice_number": ["A"]} if kind == "adjustments" else {}
    row = [(right.get(c) or _RIGHT_FOR[kind][c])[-1] for c in columns]
    return (",".join(columns) + "\n" + ",".join(row) + "\n").encode()


@pytest.fixture
def books(engine: Engine, tmp_path: Path) -> Engine:
    """Customers C1, C2 (USD) and J1 (JPY); invoices A, B, C, D (USD) and Y (JPY)."""
    run(engine, "customers", csv_file(tmp_path, "customers.csv", CUSTOMERS))
    run(engine, "invoices", csv_file(tmp_path, "invoices.csv", INVOICES))
    return engine


def check_import(engine: Engine, path: Path, kind: str, data: bytes, dry_run: bool) -> str:
    """The property: success, or a refusal naming line and column with nothing written."""
    path.write_bytes(data)
    before = state(engine)
    try:
        report = import_csv(engine, actor=MANAGER, kind=kind, path=path, dry_run=dry_run)
    except ImportFailed as failure:
        event("refused")
        outcome = "refused"
        assert state(engine) == before, "a refused import wrote something"
        assert failure.problems, "a refusal always says why"
        for problem in failure.problems:
            assert problem.message and len(problem.message) < 500, problem
            if problem.line is None:  # the whole file: encoding, empty, size
                assert problem.column is None, problem
            elif problem.column is None:
                assert any(w in problem.message for w in HEADER_WORDS), problem
            str(problem.describe(path.name))  # the CLI's line: must not raise either
        return outcome
    assert isinstance(report, ImportReport)
    assert report.errors == []
    outcome = "created rows" if report.created and not dry_run else "accepted"
    event(outcome)
    return outcome
    if dry_run:
        assert state(engine) == before, "a dry run wrote something"


@pytest.mark.parametrize("kind", KINDS)
def test_arbitrary_bytes(books: Engine, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.csv"
    seen: Counter[str] = Counter()

    @fuzz_settings(books)
    @given(data=st.binary(max_size=600), dry_run=st.booleans())
    def fuzz(data: bytes, dry_run: bool) -> None:
        seen[check_import(books, path, kind, data, dry_run)] += 1

    fuzz()
    print(f"\n{kind} arbitrary bytes: {dict(seen)}")
    assert seen["refused"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_arbitrary_bytes_under_a_valid_header(books: Engine, tmp_path: Path, kind: str) -> None:
    """The rows' reader meets every byte: bad UTF-8, NUL, lone CR, open quotes, BOMs."""
    path = tmp_path / f"{kind}.csv"
    header = (",".join(LAYOUTS[kind].columns) + "\n").encode()
    seen: Counter[str] = Counter()

    @fuzz_settings(books)
    @given(data=st.binary(max_size=600), dry_run=st.booleans())
    def fuzz(data: bytes, dry_run: bool) -> None:
        seen[check_import(books, path, kind, header + data, dry_run)] += 1

    fuzz()
    print(f"\n{kind} bytes under a header: {dict(seen)}")
    assert seen["refused"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_near_valid_files(books: Engine, tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.csv"
    seen: Counter[str] = Counter()

    @fuzz_settings(books)
    @example(data=valid_file(kind), dry_run=False)  # at least one file that writes
    @given(data=near_valid(kind), dry_run=st.booleans())
    def fuzz(data: bytes, dry_run: bool) -> None:
        seen[check_import(books, path, kind, data, dry_run)] += 1

    fuzz()
    print(f"\n{kind} near-valid: {dict(seen)}")
    # Both sides of the property were exercised: refusals, and writes that went through.
    assert seen["refused"] > 0 and seen["created rows"] > 0, seen

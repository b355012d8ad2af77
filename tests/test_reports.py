"""`billing report aging|kpis` (SPEC §4): the JSON contract, the table and CSV, currencies, errors.

Expected values are those worked out in tests/test_queries_aging.py and
tests/test_queries_kpis.py for the hand ledger (tests/hand_ledger.py).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from billing.cli import app, main
from billing.db import read_session, write_session
from billing.errors import BillingError, ValidationError
from billing.reports import (
    aging_csv,
    aging_report,
    aging_table,
    kpi_csv,
    kpi_report,
    kpi_table,
    parse_buckets,
    report_currency,
)
from billing.repository import load_ledger_frames
from billing.services import void_invoice
from queries.ledger import ledger_from_rows
from tests import hand_ledger
from tests.conftest import MANAGER
from tests.helpers import customer, invoice

D = dt.date

AGING_USD = {
    "as_of": "2026-06-30",
    "basis": "due",
    "currency": "USD",
    "buckets": ["current", "1-30", "31-60", "61-90", "91+"],
    "rows": [
        {"customer_code": "C001", "customer_name": "Acme", "current": "0.00", "1-30": "180.00",
         "31-60": "0.00", "61-90": "0.00", "91+": "0.00", "total": "180.00"},
        {"customer_code": "C002", "customer_name": "Beta", "current": "300.00", "1-30": "0.00",
         "31-60": "0.00", "61-90": "0.00", "91+": "0.00", "total": "300.00"},
    ],
    "totals": {"current": "300.00", "1-30": "180.00", "31-60": "0.00", "61-90": "0.00",
               "91+": "0.00", "total": "480.00"},
    "unapplied": "42.00",  # P2 80.00 - 50.00 + P3 12.00
}  # fmt: skip
KPIS_USD = {
    "from": "2026-04-01", "to": "2026-06-30", "days": 91, "currency": "USD",
    "ar_begin": "50.00", "ar": "480.00", "current_ar": "300.00", "overdue_ar": "180.00",
    "credit_sales": "600.00", "collections": "150.00", "cash_received": "192.00",
    "unapplied": "42.00", "dso": 72.8, "best_possible_dso": 45.5, "add": 27.3,
    "countback_dso": 57.9, "cei": 48.57,
}  # fmt: skip


def test_aging_report_matches_the_spec_shape() -> None:
    report = aging_report(hand_ledger.frames(), as_of=D(2026, 6, 30), currency="USD")
    assert report == AGING_USD
    assert list(report) == ["as_of", "basis", "currency", "buckets", "rows", "totals", "unapplied"]
    assert list(report["rows"][0]) == [
        "customer_code",
        "customer_name",
        *report["buckets"],
        "total",
    ]


def test_kpi_report_matches_the_spec_shape() -> None:
    report = kpi_report(
        hand_ledger.frames(), start=D(2026, 4, 1), end=D(2026, 6, 30), currency="USD"
    )
    assert report == KPIS_USD
    assert list(report) == list(KPIS_USD)  # the key order of SPEC §4


def test_amounts_use_the_currencys_digits() -> None:
    # JPY has no minor digits: 1234 yen prints "1234"; a zero-sales period has null ratios.
    ledger = ledger_from_rows(
        invoices=[{"invoice_id": 1, "invoice_number": "J1", "customer_id": 1, "currency": "JPY",
                   "issue_date": D(2026, 1, 5), "due_date": D(2026, 2, 4), "total_minor": 1234}],
        customers=[{"customer_id": 1, "customer_code": "J", "customer_name": "Sakura",
                    "currency": "JPY", "payment_terms_days": 30, "credit_limit_minor": 0}],
    )  # fmt: skip
    aging = aging_report(ledger, as_of=D(2026, 3, 10))  # due 02-04: 34 days late
    assert aging["totals"]["31-60"] == "1234"
    assert aging["unapplied"] == "0"
    kpis = kpi_report(ledger, start=D(2026, 2, 1), end=D(2026, 2, 28))
    assert (kpis["credit_sales"], kpis["dso"], kpis["cei"]) == ("0", None, 0.0)


def test_currency_choice() -> None:
    ledger = hand_ledger.frames()
    with pytest.raises(BillingError, match=r"several currencies \(EUR, USD\); choose one"):
        report_currency(ledger, None)
    assert report_currency(ledger, "eur") == "EUR"
    with pytest.raises(
        BillingError, match="no posted invoices or payments in GBP; the ledger has EUR, USD"
    ):
        report_currency(ledger, "GBP")
    with pytest.raises(ValidationError, match="XXQ"):
        report_currency(ledger, "XXQ")
    with pytest.raises(BillingError, match="nothing to report"):
        report_currency(ledger_from_rows(), None)


@pytest.mark.parametrize(
    ("text", "expected"), [("30,60,90", (30, 60, 90)), ("15, 45", (15, 45)), ("7", (7,))]
)
def test_buckets_parse(text: str, expected: tuple) -> None:
    assert parse_buckets(text) == expected


@pytest.mark.parametrize("text", ["", "30,,60", "30,x", "60,30", "0,30", "30.5", "-1", "٣٠"])
def test_bad_buckets_name_the_value(text: str) -> None:
    with pytest.raises(ValidationError, match="--buckets"):
        parse_buckets(text)


def test_table_and_csv_renderings() -> None:
    table = aging_table(AGING_USD)
    lines = table.splitlines()
    assert lines[0] == "Aging at 2026-06-30 (due date basis), amounts in USD"
    assert lines[1].split() == [
        "customer",
        "name",
        "current",
        "1-30",
        "31-60",
        "61-90",
        "91+",
        "total",
    ]
    assert lines[-2].split() == ["Total", "300.00", "180.00", "0.00", "0.00", "0.00", "480.00"]
    assert lines[-1] == "Unapplied cash: 42.00"
    rows = list(csv.reader(io.StringIO(aging_csv(AGING_USD))))
    assert rows[0] == [
        "customer_code",
        "customer_name",
        "current",
        "1-30",
        "31-60",
        "61-90",
        "91+",
        "total",
    ]
    assert rows[1] == ["C001", "Acme", "0.00", "180.00", "0.00", "0.00", "0.00", "180.00"]
    assert rows[-1] == ["", "Total", "300.00", "180.00", "0.00", "0.00", "0.00", "480.00"]
    assert "CEI (%)" in kpi_table(KPIS_USD)
    assert "n/a" in kpi_table({**KPIS_USD, "dso": None})
    header, values = list(csv.reader(io.StringIO(kpi_csv({**KPIS_USD, "cei": None}))))
    assert header == list(KPIS_USD)
    assert dict(zip(header, values, strict=True))["cei"] == ""


def test_csv_neutralises_formula_names() -> None:
    hostile = {**AGING_USD, "rows": [{**AGING_USD["rows"][0], "customer_name": '=HYPERLINK("x")'}]}
    rows = list(csv.reader(io.StringIO(aging_csv(hostile))))
    assert rows[1][1] == '\'=HYPERLINK("x")'


@pytest.fixture
def books(engine: Engine) -> Engine:
    hand_ledger.build_in_database(engine)
    return engine


def run(engine: Engine, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["report", *args], env={"BILLING_DATABASE_URL": engine.url.render_as_string(False)}
    )
    return result.exit_code, result.stdout, result.stderr


def test_cli_reports_from_the_database(books: Engine) -> None:
    code, out, err = run(
        books, "aging", "--as-of", "2026-06-30", "--currency", "USD", "--format", "json"
    )
    assert (code, err) == (0, "")
    assert json.loads(out) == AGING_USD
    code, out, _ = run(books, "kpis", "--from", "2026-04-01", "--to", "2026-06-30",
                       "--currency", "USD", "--format", "json")  # fmt: skip
    assert code == 0
    assert json.loads(out) == KPIS_USD
    code, out, _ = run(books, "aging", "--as-of", "2026-06-30", "--currency", "EUR", "--basis", "issue",
                       "--buckets", "15,45", "--format", "csv")  # fmt: skip
    assert code == 0
    assert out.splitlines() == [
        "customer_code,customer_name,0-15,16-45,46+,total",
        "C004,Delta,0.00,70.00,0.00,70.00",  # E1 issued 06-01: 29 days at 06-30
        ",Total,0.00,70.00,0.00,70.00",
    ]
    code, out, _ = run(
        books, "kpis", "--from", "2026-04-01", "--to", "2026-06-30", "--currency", "USD"
    )
    assert code == 0
    assert "DSO (days)                72.8" in out


def test_the_loader_leaves_out_drafts_and_voids(books: Engine) -> None:
    with read_session(books) as session:
        before = load_ledger_frames(session)
    invoice(books, "DRAFT-1", "C001", D(2026, 6, 1), 99900, post=False)
    invoice(books, "VOID-1", "C001", D(2026, 6, 1), 88800)
    with write_session(books) as session:
        void_invoice(session, actor=MANAGER, invoice_number="VOID-1", reason="entered twice")
    with read_session(books) as session:
        after = load_ledger_frames(session)
    assert after.invoices.collect().equals(before.invoices.collect())
    assert aging_report(after, as_of=D(2026, 6, 30), currency="USD") == AGING_USD


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["aging", "--as-of", "2026-06-30"],
            "several currencies (EUR, USD); choose one with --currency",
        ),
        (["aging", "--as-of", "30/06/2026", "--currency", "USD"], "--as-of '30/06/2026'"),
        (
            ["aging", "--as-of", "2026-06-30", "--buckets", "90,60", "--currency", "USD"],
            "must increase",
        ),
        (
            ["kpis", "--from", "2026-07-01", "--to", "2026-06-30", "--currency", "USD"],
            "before --from",
        ),
        (["kpis", "--from", "2026-04-01", "--to", "2026-06-30", "--currency", "GBP"], "in GBP"),
    ],
)
def test_cli_errors_are_one_line(books: Engine, args: list[str], message: str) -> None:
    code, out, err = run(books, *args)
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_cli_report_on_a_ledger_with_one_currency(engine: Engine) -> None:
    customer(engine, "C9", "EUR")
    invoice(engine, "X1", "C9", D(2026, 1, 10), 12345)
    code, out, _ = run(engine, "aging", "--as-of", "2026-03-01", "--format", "json")
    assert code == 0
    report = json.loads(out)
    # Due 2026-02-09 (30-day terms), 20 days late at 03-01.
    assert (report["currency"], report["totals"]["1-30"]) == ("EUR", "123.45")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["report", "aging"],
            "error: Missing option '--as-of'. (see: billing report aging --help)",
        ),
        (["report", "aging", "--as-of", "2026-06-30", "--format", "xml"], "'--format'"),
        (["report", "nosuch"], "No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_too(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_the_script_exits_with_the_commands_status(
    books: Engine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", books.url.render_as_string(False))
    with pytest.raises(SystemExit) as exited:
        main(["report", "aging", "--as-of", "2026-06-30", "--currency", "USD", "--format", "json"])
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out) == AGING_USD
    with pytest.raises(SystemExit) as exited:
        main(["report", "aging", "--as-of", "2026-06-30"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.startswith("error: the ledger holds several currencies")

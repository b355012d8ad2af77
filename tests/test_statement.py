"""Customer statements (SPEC §4 `billing statement`): the data, the PDF, the CSV and the command.

The small ledger below is worked out by hand; a random ledger is checked
against the plain-Python reading of SPEC §3 in tests/reference.py; and on a
real database (SQLite and PostgreSQL) every bucket and total of the statement
CSV is compared to the cent with `billing report aging --format json`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from pathlib import Path

import polars as pl
import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from billing.cli import app
from billing.db import write_session
from billing.errors import NotFound, ValidationError
from billing.reports import aging_report
from billing.services import SettingsUpdate, update_settings
from billing.statement import AgingBucket, Statement, build_statement
from billing.statement_render import CSV_COLUMNS, shown_amount, statement_csv, statement_pdf
from queries.collections import collections_from_rows
from queries.ledger import LedgerFrames, ledger_from_rows
from tests import reference
from tests.conftest import ADMIN
from tests.helpers import adjust, customer, invoice, pay
from tests.strategies import as_of_dates, boundaries, ledgers

D = dt.date
AS_OF = D(2026, 6, 30)
BOUNDS = (30, 60, 90)
SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"


def _customer(cid: int, code: str, name: str, currency: str = "USD") -> dict[str, object]:
    return {
        "customer_id": cid,
        "customer_code": code,
        "customer_name": name,
        "currency": currency,
        "payment_terms_days": 30,
        "credit_limit_minor": 0,
    }


def _invoice(
    iid: int, number: str, cid: int, issue: dt.date, due: dt.date, total: int, currency: str = "USD"
) -> dict[str, object]:
    return {
        "invoice_id": iid,
        "invoice_number": number,
        "customer_id": cid,
        "currency": currency,
        "issue_date": issue,
        "due_date": due,
        "total_minor": total,
    }


def _payment(
    pid: int, cid: int, received: dt.date, amount: int, currency: str = "USD"
) -> dict[str, object]:
    return {
        "payment_id": pid,
        "customer_id": cid,
        "currency": currency,
        "received_date": received,
        "amount_minor": amount,
    }


def _allocation(pid: int, iid: int, applied: dt.date, amount: int) -> dict[str, object]:
    return {"payment_id": pid, "invoice_id": iid, "applied_date": applied, "amount_minor": amount}


def _adjustment(iid: int, kind: str, day: dt.date, amount: int) -> dict[str, object]:
    return {"invoice_id": iid, "kind": kind, "date": day, "amount_minor": amount}


def _dispute(
    did: int, iid: int, opened: dt.date, closed: dt.date | None = None
) -> dict[str, object]:
    return {
        "dispute_id": did,
        "invoice_id": iid,
        "customer_id": 1,
        "opened_date": opened,
        "reason": "price",
        "closed_date": closed,
        "resolution": None if closed is None else "closed",
    }


# C1 Acme (USD, the customer of the statement) and C2 Other (must never show up in it).
HAND = ledger_from_rows(
    customers=[_customer(1, "C1", "Acme"), _customer(2, "C2", "Other")],
    invoices=[
        _invoice(1, "A1", 1, D(2026, 1, 10), D(2026, 2, 9), 50000),
        _invoice(2, "A2", 1, D(2026, 4, 15), D(2026, 5, 15), 12000),
        _invoice(3, "A3", 1, D(2026, 5, 20), D(2026, 6, 19), 7550),
        _invoice(4, "A4", 1, D(2026, 6, 10), D(2026, 7, 10), 25000),
        _invoice(5, "A5", 1, D(2026, 3, 1), D(2026, 3, 31), 8000),
        _invoice(6, "A6", 1, D(2026, 7, 5), D(2026, 8, 4), 99900),  # issued after D
        _invoice(7, "A7", 1, D(2026, 3, 16), D(2026, 4, 15), 9999),
        _invoice(8, "B1", 2, D(2026, 6, 1), D(2026, 7, 1), 11100),
    ],
    payments=[
        _payment(1, 1, D(2026, 3, 1), 20000),  # all on A1, before the activity window
        _payment(2, 1, D(2026, 6, 25), 10000),  # 3000 on A3 at 06-25, 2000 on A4 after D
        _payment(3, 1, D(2026, 7, 1), 5000),  # received after D
        _payment(4, 1, D(2026, 4, 1), 1000),  # on the window's open end; all on account
        _payment(5, 2, D(2026, 6, 15), 5000),  # the other customer's
    ],
    allocations=[
        _allocation(1, 1, D(2026, 3, 1), 20000),
        _allocation(2, 3, D(2026, 6, 25), 3000),
        _allocation(2, 4, D(2026, 7, 2), 2000),
    ],
    adjustments=[
        _adjustment(1, "credit_note", D(2026, 4, 1), 500),  # on the window's open end
        _adjustment(2, "credit_note", D(2026, 6, 5), 2000),
        _adjustment(5, "write_off", D(2026, 5, 10), 8000),  # A5 settled in full
        _adjustment(8, "credit_note", D(2026, 6, 20), 100),  # the other customer's
    ],
)
DISPUTES = collections_from_rows(
    disputes=[
        _dispute(1, 2, D(2026, 6, 1)),  # A2: open
        _dispute(2, 3, D(2026, 5, 25), D(2026, 6, 20)),  # A3: closed before D
        _dispute(3, 7, D(2026, 7, 1)),  # A7: opened after D
        _dispute(4, 1, D(2026, 2, 15), AS_OF),  # A1: closed on D itself, so not open at D
    ]
)
REFERENCES = {1: "TRF-1", 2: "TRF-2", 3: "TRF-3"}  # payment 4's reference left out on purpose


def hand_statement(**options: object) -> Statement:
    arguments: dict[str, object] = {
        "customer_code": "C1",
        "as_of": AS_OF,
        "boundaries": BOUNDS,
        "company_name": "Billing Office Ltd",
        "collections": DISPUTES,
        "payment_references": REFERENCES,
    }
    arguments.update(options)
    return build_statement(HAND, **arguments)  # type: ignore[arg-type]


# --- the statement as data --------------------------------------------------------------


def test_hand_computed_statement() -> None:
    s = hand_statement()
    assert (s.customer_code, s.customer_name, s.currency, s.company_name) == (
        "C1",
        "Acme",
        "USD",
        "Billing Office Ltd",
    )
    # Open at 06-30 and days past due (06-30 − due date):
    #   A1 50000 − 20000 (P1) − 500 (credit note 04-01) = 29500; due 02-09: 19+31+30+31+30 = 141
    #   A7  9999, nothing settled;                             due 04-15: 15+31+30 = 76
    #   A2 12000 − 2000 (credit note 06-05) = 10000;           due 05-15: 16+30 = 46
    #   A3  7550 − 3000 (P2 at 06-25) = 4550;                  due 06-19: 11
    #   A4 25000 (P2's 2000 is applied 07-02, after D);        due 07-10: −10, not yet due
    #   A5 written off in full, A6 issued after D: not open items.
    assert s.open_items.to_dicts() == [
        {"invoice_number": "A1", "issue_date": D(2026, 1, 10), "due_date": D(2026, 2, 9),
         "days_past_due": 141, "total_minor": 50000, "open_minor": 29500, "disputed": False},
        {"invoice_number": "A7", "issue_date": D(2026, 3, 16), "due_date": D(2026, 4, 15),
         "days_past_due": 76, "total_minor": 9999, "open_minor": 9999, "disputed": False},
        {"invoice_number": "A2", "issue_date": D(2026, 4, 15), "due_date": D(2026, 5, 15),
         "days_past_due": 46, "total_minor": 12000, "open_minor": 10000, "disputed": True},
        {"invoice_number": "A3", "issue_date": D(2026, 5, 20), "due_date": D(2026, 6, 19),
         "days_past_due": 11, "total_minor": 7550, "open_minor": 4550, "disputed": False},
        {"invoice_number": "A4", "issue_date": D(2026, 6, 10), "due_date": D(2026, 7, 10),
         "days_past_due": -10, "total_minor": 25000, "open_minor": 25000, "disputed": False},
    ]  # fmt: skip
    assert s.disputed_count == 1
    # Buckets: current A4, 1-30 A3, 31-60 A2, 61-90 A7, 91+ A1.
    assert s.aging == (
        AgingBucket("current", 25000),
        AgingBucket("1-30", 4550),
        AgingBucket("31-60", 10000),
        AgingBucket("61-90", 9999),
        AgingBucket("91+", 29500),
    )
    assert s.open_total_minor == 79049  # 25000 + 4550 + 10000 + 9999 + 29500
    # Unapplied at 06-30: P1 20000 − 20000 = 0; P2 10000 − 3000 = 7000 (the 2000 comes
    # after D); P3 received after D; P4 1000 − 0 = 1000. 0 + 7000 + 1000 = 8000.
    assert s.unapplied_minor == 8000
    assert s.balance_due_minor == 71049  # 79049 − 8000
    # Activity in (04-01, 06-30]: P4 and A1's credit note are dated 04-01, the window's
    # open end; P1 (03-01) is before it, P3 (07-01) after; C2's rows are not C1's.
    assert s.since == D(2026, 4, 1)  # 06-30 − 90 days
    assert s.activity.to_dicts() == [
        {"date": D(2026, 5, 10), "kind": "write_off", "reference": "A5", "amount_minor": 8000},
        {"date": D(2026, 6, 5), "kind": "credit_note", "reference": "A2", "amount_minor": 2000},
        {"date": D(2026, 6, 25), "kind": "payment", "reference": "TRF-2", "amount_minor": 10000},
    ]


def test_since_widens_the_activity_window_and_a_missing_reference_shows_the_id() -> None:
    s = hand_statement(since=D(2026, 3, 31))
    assert s.activity.select("date", "kind", "reference").rows()[:2] == [
        (D(2026, 4, 1), "credit_note", "A1"),
        (D(2026, 4, 1), "payment", "payment #4"),  # no reference given for payment 4
    ]
    assert s.activity.height == 5
    # The window only changes what is listed, never a balance.
    assert (s.open_total_minor, s.unapplied_minor) == (79049, 8000)


def test_statement_agrees_with_the_aging_report_row() -> None:
    s = hand_statement()
    report = aging_report(HAND, as_of=AS_OF, boundaries=BOUNDS, currency="USD")
    (row,) = [r for r in report["rows"] if r["customer_code"] == "C1"]
    assert {b.label: f"{b.amount_minor / 100:.2f}" for b in s.aging} == {
        label: row[label] for label in report["buckets"]
    }
    assert row["total"] == "790.49"


def test_disputes_are_those_open_at_the_statement_date() -> None:
    # At 06-29 the dispute on A1 (closed 06-30) is still open, the one on A3 (closed
    # 06-20) is not, A2's (opened 06-01) is; A7's opens only on 07-01.
    s = hand_statement(as_of=D(2026, 6, 29))
    flagged = s.open_items.filter(pl.col("disputed")).get_column("invoice_number").to_list()
    assert flagged == ["A1", "A2"]
    without = hand_statement(collections=None)
    assert without.disputed_count == 0


def test_other_boundaries_and_a_customer_who_only_paid() -> None:
    s = hand_statement(boundaries=(15, 45))
    # current A4 25000; 1-15 A3 (11 days) 4550; 16-45: none (A2 is 46 days);
    # 46+ A2 10000 + A7 9999 + A1 29500 = 49499.
    assert s.aging == (
        AgingBucket("current", 25000),
        AgingBucket("1-15", 4550),
        AgingBucket("16-45", 0),
        AgingBucket("46+", 49499),
    )
    payer = build_statement(
        HAND, customer_code="C2", as_of=D(2026, 6, 1), boundaries=BOUNDS, company_name="X"
    )
    # C2 at 06-01: B1 issued that day, 11100 open and current; Q1 (06-15) not received yet.
    assert payer.aging[0] == AgingBucket("current", 11100)
    assert (payer.unapplied_minor, payer.balance_due_minor) == (0, 11100)


def test_errors_name_what_is_wrong() -> None:
    with pytest.raises(NotFound, match="no customer with code 'C404'"):
        hand_statement(customer_code="C404")
    with pytest.raises(ValidationError, match="since '2026-07-01': is after the statement date"):
        hand_statement(since=D(2026, 7, 1))
    with pytest.raises(ValidationError, match="must increase"):
        hand_statement(boundaries=(60, 30))


def _reference_statement(
    ledger: reference.Ledger, cust: reference.Row, as_of: dt.date, bounds: tuple[int, ...]
) -> dict[str, object]:
    """The statement's figures for one customer, straight from SPEC §3 in plain Python."""
    mine = [inv for inv in ledger["invoices"] if inv["customer_id"] == cust["customer_id"]]
    items = []
    for inv in mine:
        if inv["issue_date"] <= as_of and (left := reference.open_balance(ledger, inv, as_of)) > 0:
            days = (as_of - inv["due_date"]).days
            items.append((inv["invoice_number"], days, left))
    buckets = dict.fromkeys(reference.bucket_labels(bounds), 0)
    for _, days, left in items:
        buckets[reference.bucket_of(days, bounds)] += left
    unapplied = 0
    for p in ledger["payments"]:
        if p["customer_id"] == cust["customer_id"] and p["received_date"] <= as_of:
            unapplied += p["amount_minor"] - sum(
                a["amount_minor"]
                for a in ledger["allocations"]
                if a["payment_id"] == p["payment_id"] and a["applied_date"] <= as_of
            )
    since = as_of - dt.timedelta(days=90)
    ids = {inv["invoice_id"] for inv in mine}
    activity = sorted(
        [
            (p["received_date"], "payment", p["amount_minor"])
            for p in ledger["payments"]
            if p["customer_id"] == cust["customer_id"] and since < p["received_date"] <= as_of
        ]
        + [
            (a["date"], a["kind"], a["amount_minor"])
            for a in ledger["adjustments"]
            if a["invoice_id"] in ids and since < a["date"] <= as_of
        ]
    )
    return {
        "items": sorted(items),
        "buckets": buckets,
        "unapplied": unapplied,
        "balance": sum(left for _, _, left in items) - unapplied,
        "activity": activity,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_statement_matches_the_plain_python_reference(data: st.DataObject) -> None:
    ledger = data.draw(ledgers())
    if not ledger["customers"]:
        return
    cust = data.draw(st.sampled_from(ledger["customers"]))
    as_of = data.draw(as_of_dates(ledger))
    bounds = data.draw(boundaries())
    s = build_statement(
        ledger_from_rows(**ledger),
        customer_code=cust["customer_code"],
        as_of=as_of,
        boundaries=bounds,
        company_name="Office",
    )
    expected = _reference_statement(ledger, cust, as_of, bounds)
    got_items = sorted(
        s.open_items.select("invoice_number", "days_past_due", "open_minor").iter_rows()
    )
    assert got_items == expected["items"]
    assert {b.label: b.amount_minor for b in s.aging} == expected["buckets"]
    assert s.unapplied_minor == expected["unapplied"]
    assert s.balance_due_minor == expected["balance"]
    assert (
        sorted(s.activity.select("date", "kind", "amount_minor").iter_rows())
        == (expected["activity"])
    )


# --- CSV ------------------------------------------------------------------------------


def _csv_rows(content: bytes) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(content.decode("utf-8")))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_csv_layout() -> None:
    rows = _csv_rows(statement_csv(hand_statement()))
    assert {r["customer_code"] for r in rows} == {"C1"}
    assert {r["statement_date"] for r in rows} == {"2026-06-30"}
    assert [(r["kind"], r["amount"]) for r in rows if r["section"] == "aging"] == [
        ("current", "250.00"),
        ("1-30", "45.50"),
        ("31-60", "100.00"),
        ("61-90", "99.99"),
        ("91+", "295.00"),
        ("total", "790.49"),
    ]
    items = [r for r in rows if r["section"] == "open_item"]
    assert [r["reference"] for r in items] == ["A1", "A7", "A2", "A3", "A4"]
    assert {k: v for k, v in items[2].items() if k not in ("section", *CSV_COLUMNS[:5])} == {
        "kind": "invoice",
        "reference": "A2",
        "date": "2026-04-15",
        "due_date": "2026-05-15",
        "days_past_due": "46",
        "disputed": "true",
        "original_amount": "120.00",
        "amount": "100.00",
    }
    assert items[4]["days_past_due"] == "-10"
    assert [(r["date"], r["kind"], r["reference"], r["amount"]) for r in rows
            if r["section"] == "activity"] == [
        ("2026-05-10", "write_off", "A5", "80.00"),
        ("2026-06-05", "credit_note", "A2", "20.00"),
        ("2026-06-25", "payment", "TRF-2", "100.00"),
    ]  # fmt: skip
    summary = {r["kind"]: (r["date"], r["amount"]) for r in rows if r["section"] == "summary"}
    assert summary == {
        "activity_from": ("2026-04-02", ""),
        "open_items_total": ("", "790.49"),
        "unapplied_cash": ("", "80.00"),
        "balance_due": ("", "710.49"),
    }


def _one_customer(name: str, currency: str, **extra: list[dict[str, object]]) -> LedgerFrames:
    return ledger_from_rows(customers=[_customer(1, "K1", name, currency)], **extra)


def test_csv_neutralises_user_text_but_not_amounts() -> None:
    name = '=HYPERLINK("http://evil.example","click")'
    ledger = _one_customer(
        name,
        "USD",
        invoices=[_invoice(1, "@SUM(A1)", 1, D(2026, 6, 1), D(2026, 7, 1), 1000)],
        payments=[_payment(1, 1, D(2026, 6, 2), 9000)],
    )
    s = build_statement(
        ledger,
        customer_code="K1",
        as_of=AS_OF,
        boundaries=BOUNDS,
        company_name="+Office",
        payment_references={1: "-1+1"},
    )
    rows = _csv_rows(statement_csv(s))
    assert {r["customer_name"] for r in rows} == {"'" + name}
    assert {r["company_name"] for r in rows} == {"'+Office"}
    (item,) = [r for r in rows if r["section"] == "open_item"]
    assert item["reference"] == "'@SUM(A1)"
    (paid,) = [r for r in rows if r["section"] == "activity"]
    assert paid["reference"] == "'-1+1"
    # 10.00 open − 90.00 unapplied: a credit balance, still a plain number.
    (balance,) = [r for r in rows if r["kind"] == "balance_due"]
    assert balance["amount"] == "-80.00"


# --- PDF ------------------------------------------------------------------------------


def _pdf_text(content: bytes) -> list[str]:
    assert content.startswith(b"%PDF-")
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages]


def test_shown_amount_keeps_the_currency_digits() -> None:
    assert shown_amount(123456789, "USD") == "1,234,567.89"
    assert shown_amount(-5, "USD") == "-0.05"
    assert shown_amount(1234567, "JPY") == "1,234,567"
    assert shown_amount(1234567, "KWD") == "1,234.567"


@pytest.mark.parametrize(
    ("currency", "total", "shown_total", "not_shown"),
    [
        ("JPY", 1234567, "1,234,567", "1,234,567.0"),  # no decimals at all
        ("KWD", 1234567, "1,234.567", "1,234.56 "),  # three, never rounded to two
    ],
)
def test_pdf_shows_the_customer_and_amounts_in_their_digits(
    currency: str, total: int, shown_total: str, not_shown: str
) -> None:
    name = "Zoë Łódź Sp. z o.o."
    ledger = _one_customer(
        name,
        currency,
        invoices=[
            _invoice(1, "ZL-0001", 1, D(2026, 3, 1), D(2026, 3, 31), total, currency),
            _invoice(2, "ZL-0002", 1, D(2026, 6, 1), D(2026, 7, 1), 2000, currency),
        ],
        payments=[_payment(1, 1, D(2026, 6, 20), 500, currency)],
    )
    s = build_statement(
        ledger,
        customer_code="K1",
        as_of=AS_OF,
        boundaries=BOUNDS,
        company_name="Billing Office Ltd",
        payment_references={1: "WIRE-77"},
    )
    text = "\n".join(_pdf_text(statement_pdf(s)))
    for expected in (name, "Billing Office Ltd", "Statement of account", "K1", "ZL-0001",
                     "ZL-0002", "WIRE-77", "2026-06-30", currency, shown_total):  # fmt: skip
        assert expected in text
    assert not_shown not in text
    # Balance due: total + 2000 − 500 unapplied.
    balance = shown_amount(total + 2000 - 500, currency)
    assert f"Balance due {balance}" in text
    assert "less unapplied cash" in text


def test_long_statements_run_over_pages_with_every_item_and_the_total_at_the_end() -> None:
    invoices = [
        _invoice(i, f"LONG-{i:04d}", 1, D(2026, 1, 1) + dt.timedelta(days=i // 2),
                 D(2026, 2, 1) + dt.timedelta(days=i // 2), 10000 + i)
        for i in range(1, 121)
    ]  # fmt: skip
    s = build_statement(
        _one_customer("Long Ltd", "USD", invoices=invoices),
        customer_code="K1",
        as_of=AS_OF,
        boundaries=BOUNDS,
        company_name="Office",
    )
    pages = _pdf_text(statement_pdf(s))
    assert len(pages) > 1
    text = "\n".join(pages)
    assert all(f"LONG-{i:04d}" in text for i in range(1, 121))
    # 120 × 10000 + (1 + … + 120) = 1,200,000 + 7,260 = 1,207,260 minor units.
    assert s.open_total_minor == 1207260
    assert "Balance due 12,072.60" in pages[-1]
    assert f"page {len(pages)} of {len(pages)}" in pages[-1]
    assert "Invoice" in pages[1]  # the table's headings repeat on the next page


def test_an_empty_statement_still_renders() -> None:
    s = build_statement(
        _one_customer("Quiet Ltd", "EUR"),
        customer_code="K1",
        as_of=AS_OF,
        boundaries=BOUNDS,
        company_name="Office",
    )
    text = "\n".join(_pdf_text(statement_pdf(s)))
    assert "No open items." in text
    assert "Balance due 0.00" in text
    rows = _csv_rows(statement_csv(s))
    assert [r["kind"] for r in rows if r["section"] == "aging"][-1] == "total"


# --- the command, on a real database (SQLite and PostgreSQL) -------------------------------


class Billing:
    """`billing …` against one database URL, in-process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, list(args), env={"BILLING_DATABASE_URL": self.url})


@pytest.fixture
def books(engine: Engine) -> Billing:
    """The sample files, plus a seeded random KWD customer and more USD business."""
    cli = Billing(engine.url.render_as_string(hide_password=False))
    for kind in ("customers", "invoices", "payments", "adjustments"):
        result = cli("import", kind, str(SAMPLES / f"{kind}.csv"))
        assert result.exit_code == 0, result.stderr
    rng = random.Random(6)
    customer(engine, "K001", "KWD", name="Al-Noor Trading W.L.L.")
    for n in range(12):
        code = "K001" if n % 2 else "C002"
        issue = D(2026, 1, 5) + dt.timedelta(days=rng.randrange(170))
        invoice(engine, f"R-{n:03d}", code, issue, rng.randrange(1000, 900000))
    for n in range(8):
        code = "K001" if n % 2 else "C002"
        received = D(2026, 2, 1) + dt.timedelta(days=rng.randrange(150))
        pay(engine, code, f"RP-{n:03d}", received, rng.randrange(1000, 400000))
    adjust(engine, "R-011", "credit_note", D(2026, 6, 29), 500)
    return cli


def _statement_rows(cli: Billing, tmp_path: Path, code: str, as_of: str) -> list[dict[str, str]]:
    out = tmp_path / f"{code}-{as_of}.csv"
    result = cli("statement", code, "--as-of", as_of, "--out", str(out))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"statement of {code} at {as_of} written to {out}")
    return _csv_rows(out.read_bytes())


def test_statement_totals_agree_with_the_aging_report(
    books: Billing, engine: Engine, tmp_path: Path
) -> None:
    customers = {
        "USD": ["C001", "C002", "C003", "C004", "C005"],
        "EUR": ["E001"],
        "JPY": ["J001"],
        "KWD": ["K001"],
    }
    checked = 0
    for buckets in ("30,60,90", "15,45"):
        if buckets != "30,60,90":  # the statement takes the office's buckets from settings
            with write_session(engine) as session:
                update_settings(
                    session,
                    actor=ADMIN,
                    data=SettingsUpdate(company_name="Statement Test Co", aging_buckets=buckets),
                )
        for as_of in ("2026-02-28", "2026-04-15", "2026-06-30"):
            for currency, codes in customers.items():
                result = books("report", "aging", "--as-of", as_of, "--buckets", buckets,
                               "--currency", currency, "--format", "json")  # fmt: skip
                assert result.exit_code == 0, result.stderr
                report = json.loads(result.stdout)
                rows = {row["customer_code"]: row for row in report["rows"]}
                unapplied = 0
                for code in codes:
                    lines = _statement_rows(books, tmp_path, code, as_of)
                    aging = {r["kind"]: r["amount"] for r in lines if r["section"] == "aging"}
                    zero = "0" if currency == "JPY" else "0.000" if currency == "KWD" else "0.00"
                    expected = rows.get(code, dict.fromkeys([*report["buckets"], "total"], zero))
                    assert aging == {k: expected[k] for k in [*report["buckets"], "total"]}, (
                        code,
                        as_of,
                        buckets,
                    )
                    summary = {r["kind"]: r["amount"] for r in lines if r["section"] == "summary"}
                    assert summary["open_items_total"] == expected["total"]
                    unapplied += int(summary["unapplied_cash"].replace(".", ""))
                    if buckets == "15,45":
                        assert {r["company_name"] for r in lines} == {"Statement Test Co"}
                    checked += 1
                # Each customer's unapplied cash adds up to the report's for the currency.
                assert unapplied == int(report["unapplied"].replace(".", "")), (currency, as_of)
                if (currency, as_of) == ("KWD", "2026-06-30"):
                    assert rows["K001"]["total"] != "0.000"  # the random customer owes
    assert checked == 2 * 3 * 8


def test_statement_buckets_option_overrides_the_office_buckets(
    books: Billing, tmp_path: Path
) -> None:
    out = tmp_path / "C001.csv"
    args = ("statement", "C001", "--as-of", "2026-06-30", "--out", str(out), "--buckets", "15,45")
    assert books(*args).exit_code == 0
    aging = [r for r in _csv_rows(out.read_bytes()) if r["section"] == "aging"]
    assert [r["kind"] for r in aging] == ["current", "1-15", "16-45", "46+", "total"]
    report = books("report", "aging", "--as-of", "2026-06-30", "--buckets", "15,45",
                   "--currency", "USD", "--format", "json")  # fmt: skip
    row = next(r for r in json.loads(report.stdout)["rows"] if r["customer_code"] == "C001")
    assert {r["kind"]: r["amount"] for r in aging} == {
        k: row[k] for k in [r["kind"] for r in aging]
    }
    bad = books("statement", "C001", "--as-of", "2026-06-30", "--out", str(out), "--buckets", "x")
    assert bad.exit_code != 0 and bad.stderr.startswith("error: --buckets 'x'")


def test_statement_pdf_from_the_command(books: Billing, tmp_path: Path) -> None:
    out = tmp_path / "J001.pdf"
    result = books("statement", "J001", "--as-of", "2026-06-30", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    text = "\n".join(_pdf_text(out.read_bytes()))
    assert "Sakura Precision K.K." in text
    assert "INV-1014" in text and "INV-1015" in text
    assert ".00" not in text  # JPY has no minor digits


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NOPE", "--as-of", "2026-06-30"], "no customer with code 'NOPE'"),
        (["C001", "--as-of", "2026-02-30"], "--as-of '2026-02-30'"),
        (["C001", "--as-of", "30/06/2026"], "--as-of '30/06/2026'"),
        (["C001", "--as-of", "2026-06-30", "--since", "2026-07-01"], "--since '2026-07-01'"),
    ],
)
def test_command_errors_are_one_line_and_write_nothing(
    books: Billing, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out" / "statement.pdf"
    out.parent.mkdir()
    out.write_bytes(b"the previous statement")
    result = books("statement", *args, "--out", str(out))
    _one_error_line(result, message)
    assert out.read_bytes() == b"the previous statement"
    assert sorted(p.name for p in out.parent.iterdir()) == ["statement.pdf"]


def test_command_refuses_other_extensions_and_unwritable_places(
    books: Billing, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    result = books("statement", "C001", "--as-of", "2026-06-30", "--out", str(folder / "s.txt"))
    _one_error_line(result, "--out")
    assert "must end in .pdf or .csv" in result.stderr
    missing = folder / "no such folder" / "s.pdf"
    result = books("statement", "C001", "--as-of", "2026-06-30", "--out", str(missing))
    _one_error_line(result, f"cannot write {missing}")
    # A directory where the file should go: the bytes are written aside, then the
    # rename fails, and the partial file is removed.
    taken = folder / "taken.pdf"
    taken.mkdir()
    result = books("statement", "C001", "--as-of", "2026-06-30", "--out", str(taken))
    _one_error_line(result, f"cannot write {taken}")
    assert sorted(p.name for p in folder.iterdir()) == ["taken.pdf"]


def _one_error_line(result: Result, message: str) -> None:
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert message in result.stderr

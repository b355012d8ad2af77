"""CSV import (SPEC §4): every refusal names line, column and value, and writes nothing.

Each refusal test takes a `state` of the database before and after (row count
of every table, newest audit id, running sums) and proves them equal.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from billing import csv_parse
from billing.csv_import import ImportFailed, ImportProblem, ImportReport, import_csv
from billing.db import read_session, write_session
from billing.errors import PermissionDenied
from billing.models import (
    Adjustment,
    AdjustmentKind,
    Allocation,
    AuditEntry,
    Base,
    Customer,
    Invoice,
    InvoiceStatus,
    Payment,
)
from billing.services import void_invoice
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"

CUSTOMERS = """\
customer_code,name,email,payment_terms_days,credit_limit,currency
C1,Acme Tools,ap@acme.example,30,1000.00,USD
C2,Bolt & Nut,,14,0,USD
J1,Kaizen K.K.,,30,500000,JPY
"""

INVOICES = """\
invoice_number,customer_code,issue_date,due_date,currency,amount,description
A,C1,2026-01-01,2026-01-31,USD,100.00,first
B,C1,2026-01-15,2026-02-14,USD,250.00,second
C,C1,2026-03-01,2026-03-31,USD,80.00,third
D,C2,2026-01-10,,USD,40.00,other customer
Y,J1,2026-01-05,,JPY,12000,yen
"""

INVOICE_HEADER = "invoice_number,customer_code,issue_date,due_date,currency,amount,description\n"
PAYMENT_HEADER = (
    "payment_reference,customer_code,received_date,amount,currency,method,invoice_number\n"
)
ADJUSTMENT_HEADER = "invoice_number,date,kind,amount,reason\n"


def state(engine: Engine) -> dict[str, int]:
    """Everything an import could change: equal before and after means nothing was written."""
    with read_session(engine) as s:
        counts = {
            t.name: s.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }
        counts["max_audit_id"] = s.scalar(select(func.max(AuditEntry.id))) or 0
        counts["settled"] = s.scalar(select(func.sum(Invoice.settled_minor))) or 0
        counts["allocated"] = s.scalar(select(func.sum(Payment.allocated_minor))) or 0
    return counts


def csv_file(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def run(engine: Engine, kind: str, path: Path, **options: object) -> ImportReport:
    return import_csv(engine, actor=MANAGER, kind=kind, path=path, **options)  # type: ignore[arg-type]


def refused(engine: Engine, kind: str, path: Path) -> list[ImportProblem]:
    """Import `path`, expect a refusal, prove the database unchanged, return the problems."""
    before = state(engine)
    with pytest.raises(ImportFailed) as failure:
        run(engine, kind, path)
    assert state(engine) == before
    assert failure.value.problems, "a refusal always says why"
    return failure.value.problems


@pytest.fixture
def office(engine: Engine, tmp_path: Path) -> Engine:
    """Customers C1, C2 (USD) and J1 (JPY) with invoices A, B, C (C1), D (C2), Y (J1)."""
    run(engine, "customers", csv_file(tmp_path, "customers.csv", CUSTOMERS))
    run(engine, "invoices", csv_file(tmp_path, "invoices.csv", INVOICES))
    return engine


# --- the happy path -------------------------------------------------------------------


def test_sample_files_import_and_rerun_safely(engine: Engine) -> None:
    kinds = ["customers", "invoices", "payments", "adjustments"]
    reports = [run(engine, kind, SAMPLES / f"{kind}.csv") for kind in kinds]
    assert [(r.rows, r.created, r.already_present) for r in reports] == [
        (7, 7, 0),
        (15, 15, 0),
        (10, 10, 0),
        (2, 2, 0),
    ]
    after_first = state(engine)
    again = [run(engine, kind, SAMPLES / f"{kind}.csv") for kind in kinds]
    assert [(r.created, r.already_present) for r in again] == [(0, 7), (0, 15), (0, 10), (0, 2)]
    assert state(engine) == after_first
    with read_session(engine) as s:
        jpy = s.scalars(select(Customer).where(Customer.customer_code == "J001")).one()
        assert (jpy.currency, jpy.credit_limit_minor) == ("JPY", 3_000_000)
        northwind = s.scalars(select(Invoice).where(Invoice.invoice_number == "INV-1003")).one()
        # 1350.50 − 800.00 (TRF-88102 after INV-1002) − 50.50 credit note = 500.00 open
        assert northwind.total_minor - northwind.settled_minor == 50000
        assert northwind.status is InvoiceStatus.POSTED


def test_imported_invoice_is_posted_with_one_line_and_default_due_date(office: Engine) -> None:
    with read_session(office) as s:
        d = s.scalars(select(Invoice).where(Invoice.invoice_number == "D")).one()
        assert d.status is InvoiceStatus.POSTED
        assert d.due_date == dt.date(2026, 1, 24)  # C2 has 14-day terms
        assert [(ln.quantity, ln.unit_price_minor, ln.tax_minor) for ln in d.lines] == [
            (1, 4000, 0)
        ]
        assert d.total_minor == 4000


def test_payments_allocate_as_computed_by_hand(office: Engine, tmp_path: Path) -> None:
    # C1's open invoices: A 100.00 due 01-31, B 250.00 due 02-14, C 80.00 issued 03-01.
    # P1 02-01 120.00 auto     → A 100.00, B 20.00            (B open 230.00)
    # P2 02-20 300.00 auto     → B 230.00; C not issued yet   → 70.00 unapplied
    # P3 03-05  50.00 target C → C 50.00                      (C open 30.00)
    # P4 03-10  45.00 auto     → C 30.00                      → 15.00 unapplied
    # D (C2) is never touched: another customer's invoice.
    path = csv_file(
        tmp_path,
        "payments.csv",
        PAYMENT_HEADER + "P1,C1,2026-02-01,120.00,USD,transfer,\n"
        "P2,C1,2026-02-20,300.00,USD,check,\n"
        "P3,C1,2026-03-05,50.00,USD,,C\n"
        "P4,C1,2026-03-10,45.00,USD,card,\n",
    )
    report = run(office, "payments", path)
    assert (report.rows, report.created, report.already_present) == (4, 4, 0)
    with read_session(office) as s:
        allocations = s.execute(
            select(Payment.payment_reference, Invoice.invoice_number, Allocation.amount_minor)
            .join(Payment, Allocation.payment_id == Payment.id)
            .join(Invoice, Allocation.invoice_id == Invoice.id)
            .order_by(Allocation.id)
        ).all()
        unapplied = dict(
            s.execute(
                select(Payment.payment_reference, Payment.amount_minor - Payment.allocated_minor)
            ).all()
        )
        settled = dict(s.execute(select(Invoice.invoice_number, Invoice.settled_minor)).all())
        methods = dict(s.execute(select(Payment.payment_reference, Payment.method)).all())
    assert [tuple(a) for a in allocations] == [
        ("P1", "A", 10000),
        ("P1", "B", 2000),
        ("P2", "B", 23000),
        ("P3", "C", 5000),
        ("P4", "C", 3000),
    ]
    assert unapplied == {"P1": 0, "P2": 7000, "P3": 0, "P4": 1500}
    assert settled == {"A": 10000, "B": 25000, "C": 8000, "D": 0, "Y": 0}
    assert methods["P3"] == "transfer"  # empty method: the default


def test_bom_and_crlf_are_accepted(engine: Engine, tmp_path: Path) -> None:
    text = 'customer_code,name,currency\r\nC1,Acme,USD\r\nC2,"Bolt, Nut",usd\r\n'
    report = run(engine, "customers", csv_file(tmp_path, "c.csv", b"\xef\xbb\xbf" + text.encode()))
    assert report.created == 2
    with read_session(engine) as s:
        names = s.scalars(select(Customer.name).order_by(Customer.customer_code)).all()
    assert names == ["Acme", "Bolt, Nut"]


def test_blank_lines_are_skipped_and_lines_still_counted(office: Engine, tmp_path: Path) -> None:
    text = (
        INVOICE_HEADER
        + "\nE1,C1,2026-04-01,,USD,10.00,\n\n,,,,,,\n   \nE2,C1,2026-04-02,,USD,1.5x,\n"
    )
    problems = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert [(p.line, p.column, p.value) for p in problems] == [(7, "amount", "1.5x")]
    good = INVOICE_HEADER + "\nE1,C1,2026-04-01,,USD,10.00,\n\n,,,,,,\n"
    report = run(office, "invoices", csv_file(tmp_path, "ok.csv", good))
    assert (report.rows, report.created) == (1, 1)


def test_columns_in_any_order_and_optional_ones_left_out(engine: Engine, tmp_path: Path) -> None:
    text = "Currency, Name ,customer_code\nEUR,Bremer Werft,E1\n"
    assert run(engine, "customers", csv_file(tmp_path, "c.csv", text)).created == 1
    with read_session(engine) as s:
        e1 = s.scalars(select(Customer)).one()
    assert (e1.currency, e1.payment_terms_days, e1.credit_limit_minor) == ("EUR", 30, 0)


def test_dry_run_counts_and_writes_nothing(office: Engine, tmp_path: Path) -> None:
    path = csv_file(
        tmp_path,
        "p.csv",
        PAYMENT_HEADER + "P1,C1,2026-02-01,120.00,USD,transfer,\nP2,C2,2026-02-01,1.00,USD,,D\n",
    )
    before = state(office)
    report = run(office, "payments", path, dry_run=True)
    assert (report.dry_run, report.rows, report.created, report.already_present) == (
        True,
        2,
        2,
        0,
    )
    assert "nothing was written" in report.summary()
    assert state(office) == before


def test_rerun_reports_already_present_and_changes_nothing(office: Engine, tmp_path: Path) -> None:
    before = state(office)
    report = run(office, "invoices", csv_file(tmp_path, "again.csv", INVOICES))
    assert (report.rows, report.created, report.already_present) == (5, 0, 5)
    assert state(office) == before


def test_mixed_new_and_present_rows(office: Engine, tmp_path: Path) -> None:
    text = INVOICES + "E,C2,2026-02-01,,USD,12.34,\n"
    report = run(office, "invoices", csv_file(tmp_path, "more.csv", text))
    assert (report.rows, report.created, report.already_present) == (6, 1, 5)


def test_an_import_is_audited_once_per_file(office: Engine, tmp_path: Path) -> None:
    with read_session(office) as s:
        entries = s.execute(
            select(AuditEntry.entity_id, AuditEntry.actor).where(AuditEntry.action == "import_csv")
        ).all()
    assert [tuple(e) for e in entries] == [
        ("customers:customers.csv", MANAGER.name),
        ("invoices:invoices.csv", MANAGER.name),
    ]


def test_progress_reaches_the_total(office: Engine, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    text = INVOICES + "".join(f"N{i},C1,2026-02-01,,USD,1.00,\n" for i in range(5))
    run(
        office,
        "invoices",
        csv_file(tmp_path, "i.csv", text),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert calls[-1] == (10, 10)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


# --- who may import ----------------------------------------------------------------------


@pytest.mark.parametrize("actor", [CLERK, FINANCE], ids=["clerk", "finance"])
def test_only_managers_and_admins_may_import(engine: Engine, tmp_path: Path, actor: object) -> None:
    path = csv_file(tmp_path, "c.csv", CUSTOMERS)
    before = state(engine)
    with pytest.raises(PermissionDenied, match="may not import csv"):
        import_csv(engine, actor=actor, kind="customers", path=path)  # type: ignore[arg-type]
    assert state(engine) == before
    assert import_csv(engine, actor=ADMIN, kind="customers", path=path).created == 3


# --- phase 1: the file alone -------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("9.999", "has more than 2 decimal places for USD"),
        ('"9,99"', "use a point for decimals and no thousands separators, like 1234.50"),
        ("1e3", "is not an amount"),
        ("1,000.00", None),  # unquoted: a thousands separator splits the row
        ("-5.00", "must be positive"),
        ("0.00", "must be greater than zero"),
        ("", "is required"),
        (" ", "is required"),
    ],
    ids=[
        "too-many-decimals",
        "decimal-comma",
        "exponent",
        "thousands",
        "negative",
        "zero",
        "empty",
        "blank",
    ],
)
def test_bad_invoice_amount(
    office: Engine, tmp_path: Path, amount: str, message: str | None
) -> None:
    text = INVOICE_HEADER + f"E1,C1,2026-04-01,,USD,{amount},desc\n"
    problems = refused(office, "invoices", csv_file(tmp_path, "bad.csv", text))
    assert len(problems) == 1
    problem = problems[0]
    assert problem.line == 2
    if message is None:
        assert (problem.column, problem.value) == ("#8", "desc")  # "1" and "000.00" took 6 and 7
        assert problem.message.startswith("has 8 fields; the header has 7")
    else:
        assert problem.column == "amount"
        assert problem.value == amount.strip('"')
        assert message in problem.message


def test_yen_amount_may_not_have_decimals(office: Engine, tmp_path: Path) -> None:
    text = INVOICE_HEADER + "Z,J1,2026-04-01,,JPY,100.5,\n"
    [problem] = refused(office, "invoices", csv_file(tmp_path, "bad.csv", text))
    assert (problem.column, problem.value) == ("amount", "100.5")
    assert "more than 0 decimal places for JPY" in problem.message


def test_failure_message_names_file_line_column_and_value(office: Engine, tmp_path: Path) -> None:
    text = INVOICE_HEADER + 'E1,C1,2026-04-01,,USD,1.00,\nE2,C1,2026-04-01,,USD,"9,99",\n'
    with pytest.raises(ImportFailed) as failure:
        run(office, "invoices", csv_file(tmp_path, "invoices.csv", text))
    assert str(failure.value) == (
        "invoices.csv line 3, column amount, value '9,99': "
        "is not an amount: use a point for decimals and no thousands separators, like 1234.50"
    )


@pytest.mark.parametrize(
    ("issue", "due", "column", "message"),
    [
        ("2026-02-30", "", "issue_date", "is not a date in YYYY-MM-DD form"),
        ("01/02/2026", "", "issue_date", "is not a date in YYYY-MM-DD form"),
        ("2026-4-1", "", "issue_date", "is not a date in YYYY-MM-DD form"),
        ("1900-01-01", "", "issue_date", "is outside"),
        ("2026-04-01", "2026-03-01", "due_date", "is before the issue date"),
    ],
)
def test_bad_date(
    office: Engine, tmp_path: Path, issue: str, due: str, column: str, message: str
) -> None:
    text = INVOICE_HEADER + f"E1,C1,{issue},{due},USD,1.00,\n"
    [problem] = refused(office, "invoices", csv_file(tmp_path, "bad.csv", text))
    assert (problem.line, problem.column) == (2, column)
    assert message in problem.message


def test_unknown_currency(engine: Engine, tmp_path: Path) -> None:
    text = "customer_code,name,currency,credit_limit\nC1,Acme,USX,10.00\nC2,Bolt,,\n"
    problems = refused(engine, "customers", csv_file(tmp_path, "c.csv", text))
    assert [(p.line, p.column, p.value) for p in problems] == [
        (2, "currency", "USX"),
        (3, "currency", ""),
    ]
    assert all(p.message == "is not an ISO 4217 currency code" for p in problems)


def test_missing_column(office: Engine, tmp_path: Path) -> None:
    text = "invoice_number,customer_code,issue_date,currency\nE1,C1,2026-04-01,USD\n"
    [problem] = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert (problem.line, problem.column) == (1, "amount")
    assert problem.message == "required column is missing from the header"


def test_extra_and_duplicate_columns(office: Engine, tmp_path: Path) -> None:
    text = INVOICE_HEADER.rstrip("\n") + ",Discount,amount\nE1,C1,2026-04-01,,USD,1.00,,5,1.00\n"
    problems = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert [(p.line, p.column, p.value, p.message) for p in problems] == [
        (
            1,
            "discount",
            "Discount",
            "is not a invoices column; expected: invoice_number, customer_code, issue_date, "
            "currency, amount, due_date, description",
        ),
        (1, "amount", None, "appears twice in the header"),
    ]


def test_a_file_of_another_kind_is_named(office: Engine, tmp_path: Path) -> None:
    problems = refused(office, "payments", csv_file(tmp_path, "c.csv", CUSTOMERS))
    assert (
        problems[0].message == "these are the columns of a customers file, not of a payments file"
    )


def test_wrong_field_count(office: Engine, tmp_path: Path) -> None:
    text = INVOICE_HEADER + "E1,C1,2026-04-01,,USD,1.00\nE2,C1,2026-04-01,,USD,1.00,x,y\n"
    problems = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert [(p.line, p.column, p.value, p.message) for p in problems] == [
        (2, "description", None, "has 6 fields; the header has 7: description missing"),
        (
            3,
            "#8",
            "y",
            "has 8 fields; the header has 7 (an extra comma? quote a value that contains one)",
        ),
    ]


def test_semicolon_file(engine: Engine, tmp_path: Path) -> None:
    text = "customer_code;name;currency\nC1;Acme;EUR\n"
    [problem] = refused(engine, "customers", csv_file(tmp_path, "c.csv", text))
    assert problem.line == 1
    assert "semicolon-separated" in problem.message


def test_non_utf8_file_names_the_line(engine: Engine, tmp_path: Path) -> None:
    data = "customer_code,name,currency\nC1,Acme,EUR\nC2,Müller GmbH,EUR\n".encode("latin-1")
    [problem] = refused(engine, "customers", csv_file(tmp_path, "c.csv", data))
    assert (problem.line, problem.column, problem.value) == (3, "name", "M\\xfcller GmbH")
    assert "is not UTF-8 text (byte 0xfc" in problem.message


def test_empty_file(engine: Engine, tmp_path: Path) -> None:
    [problem] = refused(engine, "customers", csv_file(tmp_path, "c.csv", "\n\n"))
    assert problem.line is None
    assert problem.message.startswith("is empty; expected a header row")


def test_file_over_the_size_limit(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_parse, "MAX_FILE_BYTES", 50)
    [problem] = refused(engine, "customers", csv_file(tmp_path, "c.csv", CUSTOMERS))
    assert problem.line is None
    assert "the limit is" in problem.message


def test_missing_file(engine: Engine, tmp_path: Path) -> None:
    [problem] = refused(engine, "customers", tmp_path / "nope.csv")
    assert problem.message == "cannot be read: No such file or directory"


def test_duplicate_key_within_the_file(office: Engine, tmp_path: Path) -> None:
    text = PAYMENT_HEADER + (
        "P1,C1,2026-02-01,1.00,USD,,\nP1,C2,2026-02-01,1.00,USD,,\nP1,C1,2026-02-02,2.00,USD,,\n"
    )
    [problem] = refused(office, "payments", csv_file(tmp_path, "p.csv", text))
    assert (problem.line, problem.column, problem.value) == (4, "payment_reference", "C1 / P1")
    assert problem.message == "duplicates line 2 (same customer_code, payment_reference)"


def test_one_bad_row_among_many_good_ones(office: Engine, tmp_path: Path) -> None:
    good = [f"N{i:03d},C1,2026-02-01,,USD,{i + 1}.25,work\n" for i in range(200)]
    good[50] = "N050,C1,2026-02-01,,USD,12.345,work\n"
    good[120] = "N120,C1,2026-13-01,,EUR,x,work\n"
    good[199] = "N050,C1,2026-02-01,,USD,1.00,work\n"
    problems = refused(
        office, "invoices", csv_file(tmp_path, "i.csv", INVOICE_HEADER + "".join(good))
    )
    assert [(p.line, p.column, p.value) for p in problems] == [
        (52, "amount", "12.345"),
        (122, "issue_date", "2026-13-01"),
        (122, "amount", "x"),
        (201, "invoice_number", "N050"),
    ]


# --- phase 2: against the ledger ---------------------------------------------------------


def test_unknown_customer_on_every_row_it_occurs(office: Engine, tmp_path: Path) -> None:
    text = INVOICE_HEADER + (
        "E1,C1,2026-04-01,,USD,1.00,\nE2,NOPE,2026-04-01,,USD,1.00,\nE3,NOPE,2026-04-01,,USD,2.00,\n"
    )
    problems = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert [(p.line, p.column, p.value, p.message) for p in problems] == [
        (3, "customer_code", "NOPE", "no customer has this code"),
        (4, "customer_code", "NOPE", "no customer has this code"),
    ]


def test_currency_must_be_the_customers(office: Engine, tmp_path: Path) -> None:
    text = INVOICE_HEADER + "E1,C1,2026-04-01,,EUR,1.00,\n"
    [problem] = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert (problem.line, problem.column, problem.value) == (2, "currency", "EUR")
    assert problem.message == "must be customer C1's currency USD"


def test_existing_invoice_with_different_content(office: Engine, tmp_path: Path) -> None:
    text = (
        INVOICE_HEADER
        + "A,C1,2026-01-01,2026-02-15,USD,100.01,first\nB,C1,2026-01-15,,USD,250.00,\n"
    )
    problems = refused(office, "invoices", csv_file(tmp_path, "i.csv", text))
    assert [(p.line, p.column, p.value, p.message) for p in problems] == [
        (2, "amount", "100.01", "invoice A already exists with amount 100.00"),
        (2, "due_date", "2026-02-15", "invoice A already exists with due_date 2026-01-31"),
    ]


def test_existing_customer_with_different_content(office: Engine, tmp_path: Path) -> None:
    text = "customer_code,name,email,currency\nC1,Acme Tools,other@acme.example,USD\nC2,Bolt & Nut,,USD\n"
    [problem] = refused(office, "customers", csv_file(tmp_path, "c.csv", text))
    assert (problem.line, problem.column, problem.value) == (2, "email", "other@acme.example")
    assert problem.message == "customer C1 already exists with email ap@acme.example"


def test_existing_payment_with_different_amount(office: Engine, tmp_path: Path) -> None:
    run(
        office,
        "payments",
        csv_file(tmp_path, "p.csv", PAYMENT_HEADER + "P1,C1,2026-02-01,5.00,USD,,\n"),
    )
    text = PAYMENT_HEADER + "P1,C1,2026-02-01,5.50,USD,,\n"
    [problem] = refused(office, "payments", csv_file(tmp_path, "p2.csv", text))
    assert (problem.column, problem.value) == ("amount", "5.50")
    assert problem.message == "payment P1 of customer C1 already exists with amount 5.00"


def test_voided_invoice_is_not_already_present(office: Engine, tmp_path: Path) -> None:
    with write_session(office) as s:
        void_invoice(s, actor=MANAGER, invoice_number="C", reason="entered twice")
    [problem] = refused(office, "invoices", csv_file(tmp_path, "i.csv", INVOICES))
    assert (problem.line, problem.column) == (4, "invoice_number")
    assert problem.message == "invoice C already exists and is void"


def test_targeted_payment_to_another_customers_invoice(office: Engine, tmp_path: Path) -> None:
    text = PAYMENT_HEADER + "P1,C1,2026-02-01,10.00,USD,,A\nP2,C1,2026-02-01,10.00,USD,,D\n"
    [problem] = refused(office, "payments", csv_file(tmp_path, "p.csv", text))
    assert (problem.line, problem.column, problem.value) == (3, "invoice_number", "D")
    assert problem.message == "belongs to customer C2, not C1"


def test_targeted_payment_to_unknown_invoice(office: Engine, tmp_path: Path) -> None:
    text = PAYMENT_HEADER + "P1,C1,2026-02-01,10.00,USD,,ZZZ\n"
    [problem] = refused(office, "payments", csv_file(tmp_path, "p.csv", text))
    assert (problem.column, problem.message) == ("invoice_number", "no invoice has this number")


def test_adjustment_larger_than_open_balance(office: Engine, tmp_path: Path) -> None:
    # A: 100.00; the first credit leaves 40.00 open, so the second (40.01) is too much.
    text = ADJUSTMENT_HEADER + (
        "A,2026-02-01,credit_note,60.00,price agreed\nA,2026-02-02,write_off,40.01,rest\n"
    )
    [problem] = refused(office, "adjustments", csv_file(tmp_path, "a.csv", text))
    assert (problem.line, problem.column, problem.value) == (3, "amount", "40.01")
    assert problem.message == "is more than invoice A's open balance 40.00 USD"


def test_adjustment_refused_by_the_service_rolls_back_earlier_rows(
    office: Engine, tmp_path: Path
) -> None:
    text = ADJUSTMENT_HEADER + (
        "A,2026-02-01,credit_note,10.00,ok\nB,2026-01-01,write_off,5.00,dated before issue\n"
    )
    [problem] = refused(office, "adjustments", csv_file(tmp_path, "a.csv", text))
    assert (problem.line, problem.column, problem.value) == (3, "date", "2026-01-01")
    assert problem.message == "is before the invoice's issue date"


def test_adjustment_amount_uses_the_invoices_currency(office: Engine, tmp_path: Path) -> None:
    text = ADJUSTMENT_HEADER + "Y,2026-02-01,credit_note,10.5,yen have no cents\n"
    [problem] = refused(office, "adjustments", csv_file(tmp_path, "a.csv", text))
    assert (problem.column, problem.value) == ("amount", "10.5")
    assert "more than 0 decimal places for JPY" in problem.message


def test_adjustment_kind_is_checked(office: Engine, tmp_path: Path) -> None:
    text = ADJUSTMENT_HEADER + "A,2026-02-01,discount,1.00,why\n"
    [problem] = refused(office, "adjustments", csv_file(tmp_path, "a.csv", text))
    assert (problem.column, problem.value) == ("kind", "discount")
    assert problem.message == "must be one of credit_note, write_off"


def test_adjustment_rerun_same_and_different(office: Engine, tmp_path: Path) -> None:
    text = ADJUSTMENT_HEADER + "A,2026-02-01,Credit_Note,10.00,price agreed\n"
    assert run(office, "adjustments", csv_file(tmp_path, "a.csv", text)).created == 1
    before = state(office)
    assert run(office, "adjustments", csv_file(tmp_path, "a.csv", text)).already_present == 1
    assert state(office) == before
    changed = ADJUSTMENT_HEADER + "A,2026-02-01,credit_note,12.00,price agreed\n"
    [problem] = refused(office, "adjustments", csv_file(tmp_path, "b.csv", changed))
    assert (problem.column, problem.value) == ("amount", "12.00")
    assert problem.message == "invoice A already has a credit_note dated 2026-02-01 of 10.00 USD"
    with read_session(office) as s:
        [adjustment] = s.scalars(select(Adjustment)).all()
        assert adjustment.kind is AdjustmentKind.CREDIT_NOTE


def test_service_refusal_is_reported_with_line_and_column(engine: Engine, tmp_path: Path) -> None:
    # The e-mail rule lives in the service only: its refusal still names line and column.
    text = "customer_code,name,email,currency\nC1,Acme,ap@acme.example,USD\nC2,Bolt,not-an-address,USD\n"
    [problem] = refused(engine, "customers", csv_file(tmp_path, "c.csv", text))
    assert (problem.line, problem.column, problem.value) == (3, "email", "not-an-address")
    assert problem.message == "is not an e-mail address"

"""Phase 1 of a CSV import: read and check a whole file without touching the database.

Everything that can be judged from the file alone is judged here, for every row,
so a user sees all of a file's problems at once and a bad 100k-row file is
refused in a fraction of a second (SPEC §4). Phase 2 (`billing.csv_import`)
then applies the parsed rows through the services.

Decisions where SPEC §4 is silent:

- Columns are matched by name, in any order; names are compared trimmed and
  case-insensitively. A duplicated, unnamed, unknown or missing column refuses
  the file before any row is read.
- Blank lines, and rows whose every field is empty (spreadsheets leave
  ``,,,,`` rows behind), are skipped silently and do not count as rows.
- Cells are trimmed. An empty optional cell means "the default" when a row is
  created and "no opinion" when a row is compared with what is already stored.
- Line numbers are the file's physical lines (the header is line 1; a quoted
  cell spanning lines counts them all), as an editor shows them.
- A key repeated within the file is refused on its second line, naming the
  first. Adjustment amounts are read in phase 2, before anything is written:
  their digits depend on the invoice's currency, which only the ledger knows.
- A file over `MAX_FILE_BYTES` is refused unread.
- Encoding problems are reported for the first `MAX_ENCODING_PROBLEMS` lines
  only: a file saved in another encoding is wrong everywhere, and the fix is
  the same for every line.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from billing.errors import ValidationError
from billing.models import AdjustmentKind
from billing.money import check_currency, parse_amount
from billing.services.customers import DEFAULT_TERMS_DAYS, MAX_TERMS_DAYS, CustomerCreate
from billing.services.invoices import InvoiceCreate, LineCreate
from billing.services.payments import PaymentCreate
from billing.validation import Checker, parse_date

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_ENCODING_PROBLEMS = 10
KINDS = ("customers", "invoices", "payments", "adjustments")
_SHOWN_VALUE_CHARS = 80


@dataclass(frozen=True)
class ImportProblem:
    """One thing wrong with an import: where (file line, column), what value, and why.

    `line` is the physical line in the file (the header is line 1); it is None
    for problems with the file as a whole, as `column` is for whole-row problems.
    """

    line: int | None
    column: str | None
    value: str | None
    message: str

    def describe(self, filename: str) -> str:
        """One line a user can act on: ``invoices.csv line 7, column amount, value '9,99': …``."""
        where = [filename if self.line is None else f"{filename} line {self.line}"]
        if self.column is not None:
            where.append(f"column {self.column}")
        if self.value is not None:
            where.append(f"value {_shown(self.value)!r}")
        return f"{', '.join(where)}: {self.message}"


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_VALUE_CHARS else value[:_SHOWN_VALUE_CHARS] + "…"


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of file, and the columns that identify a row."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the file may have."""
        return self.required + self.optional


LAYOUTS: dict[str, Layout] = {
    "customers": Layout(
        required=("customer_code", "name", "currency"),
        optional=("email", "payment_terms_days", "credit_limit"),
        key=("customer_code",),
    ),
    "invoices": Layout(
        required=("invoice_number", "customer_code", "issue_date", "currency", "amount"),
        optional=("due_date", "description"),
        key=("invoice_number",),
    ),
    "payments": Layout(
        required=("payment_reference", "customer_code", "received_date", "amount", "currency"),
        optional=("method", "invoice_number"),
        key=("customer_code", "payment_reference"),
    ),
    # An adjustment has no number of its own. Its key is (invoice, kind, date):
    # a re-run with a corrected amount or reason must be refused as "different",
    # never booked as a second credit on the same invoice.
    "adjustments": Layout(
        required=("invoice_number", "date", "kind", "amount", "reason"),
        optional=(),
        key=("invoice_number", "kind", "date"),
    ),
}


@dataclass(frozen=True)
class AdjustmentDraft:
    """An adjustment row before its amount is read: the digits depend on the invoice's currency."""

    invoice_number: str
    kind: AdjustmentKind
    date: dt.date
    amount_text: str
    reason: str


Record = CustomerCreate | InvoiceCreate | PaymentCreate | AdjustmentDraft


class ParsedRow(NamedTuple):
    """One data row that passed phase 1: its line in the file and its raw fields.

    Only strings are kept, in a tuple, which the garbage collector stops
    scanning; `record` re-reads them when phase 2 needs the values. Keeping
    100k parsed records alive instead made phase 1 up to twice as slow.
    """

    kind: str
    line: int
    columns: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def cells(self) -> dict[str, str]:
        """The raw cells by column name."""
        return dict(zip(self.columns, self.fields, strict=True))

    def given(self, column: str) -> bool:
        """Whether the row has a non-empty value in `column` (else the default applies)."""
        return column in self.columns and bool(self.fields[self.columns.index(column)].strip())

    def record(self) -> Any:
        """What the row says, as the service input (or `AdjustmentDraft`) it becomes."""
        check = Checker()
        record = _ROW_PARSERS[self.kind](check, self.cells, True)
        if isinstance(record, bool) or check.problems:  # phase 1 let it through: cannot happen
            raise ValidationError(check.problems)
        return record


@dataclass
class ParsedFile:
    """A whole file after phase 1: rows that parsed, and every problem found."""

    kind: str
    filename: str
    sha256: str = ""
    row_count: int = 0  # data rows, blank lines not counted
    columns: tuple[str, ...] = ()
    rows: list[ParsedRow] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)


def parse_csv_file(kind: str, path: Path) -> ParsedFile:
    """Read `path` as a `kind` file and check every row; never raises for bad content."""
    parsed = ParsedFile(kind=kind, filename=path.name)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            limit = MAX_FILE_BYTES // (1024 * 1024)
            parsed.problems.append(
                ImportProblem(None, None, None, f"is {size:,} bytes; the limit is {limit} MB")
            )
            return parsed
        data = path.read_bytes()
    except OSError as error:
        parsed.problems.append(
            ImportProblem(None, None, None, f"cannot be read: {error.strerror or error}")
        )
        return parsed
    parsed.sha256 = hashlib.sha256(data).hexdigest()
    parse_csv_bytes(parsed, data)
    return parsed


def parse_csv_bytes(parsed: ParsedFile, data: bytes) -> None:
    """Fill `parsed` from the file's bytes (split out so tests can skip the file system)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        parsed.problems.extend(_encoding_problems(data))
        return
    if not text.strip():
        parsed.problems.append(
            ImportProblem(
                None,
                None,
                None,
                "is empty; expected a header row: " + ", ".join(LAYOUTS[parsed.kind].columns),
            )
        )
        return
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = _read_header(parsed, reader)
        if columns is not None:
            parsed.columns = columns
            _read_rows(parsed, reader, columns)
    except csv.Error as error:
        parsed.problems.append(
            ImportProblem(reader.line_num, None, None, f"is not valid CSV: {error}")
        )


def _encoding_problems(data: bytes) -> list[ImportProblem]:
    problems: list[ImportProblem] = []
    bad_lines = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            bad_lines += 1
            if bad_lines <= MAX_ENCODING_PROBLEMS:
                byte = raw[error.start]
                problems.append(
                    ImportProblem(
                        number,
                        None,
                        raw.decode("utf-8", "backslashreplace").rstrip("\r"),
                        f"is not UTF-8 text (byte 0x{byte:02x} at position {error.start + 1}); "
                        "save the file as UTF-8",
                    )
                )
    if bad_lines > MAX_ENCODING_PROBLEMS:
        problems.append(
            ImportProblem(
                None,
                None,
                None,
                f"… and {bad_lines - MAX_ENCODING_PROBLEMS} more lines that are not UTF-8",
            )
        )
    return problems


def _read_header(parsed: ParsedFile, reader: Any) -> tuple[str, ...] | None:
    layout = LAYOUTS[parsed.kind]
    header: list[str] = []
    for header in reader:
        if any(cell.strip() for cell in header):
            break
    line = reader.line_num
    if len(header) == 1 and ";" in header[0]:
        parsed.problems.append(
            ImportProblem(
                line,
                None,
                _shown(header[0]),
                "the file looks semicolon-separated; save it with commas (,) between columns",
            )
        )
        return None
    if len(header) == 1 and "\t" in header[0]:
        parsed.problems.append(
            ImportProblem(
                line,
                None,
                _shown(header[0]),
                "the file looks tab-separated; save it with commas (,) between columns",
            )
        )
        return None
    columns = tuple(cell.strip().lower() for cell in header)
    problems: list[ImportProblem] = []
    seen: set[str] = set()
    for position, (raw, name) in enumerate(zip(header, columns, strict=True), start=1):
        shown = None if raw == name else raw
        if not name:
            problems.append(
                ImportProblem(line, f"#{position}", raw, "has no name (a stray comma?)")
            )
        elif name in seen:
            problems.append(ImportProblem(line, name, shown, "appears twice in the header"))
        elif name not in layout.columns:
            problems.append(
                ImportProblem(
                    line,
                    name,
                    shown,
                    f"is not a {parsed.kind} column; expected: " + ", ".join(layout.columns),
                )
            )
        seen.add(name)
    problems.extend(
        ImportProblem(line, name, None, "required column is missing from the header")
        for name in layout.required
        if name not in seen
    )
    if problems:
        problems[:0] = [
            ImportProblem(
                line,
                None,
                None,
                f"these are the columns of a {other} file, not of a {parsed.kind} file",
            )
            for other, its in LAYOUTS.items()
            if other != parsed.kind and set(its.required) <= seen <= set(its.columns)
        ]
    parsed.problems.extend(problems)
    return None if problems else columns


def _read_rows(parsed: ParsedFile, reader: Any, columns: tuple[str, ...]) -> None:
    kind = parsed.kind
    layout = LAYOUTS[kind]
    parse_row = _ROW_PARSERS[kind]
    width = len(columns)
    first_line_of: dict[str, int] = {}
    problems = parsed.problems
    rows = parsed.rows
    end = reader.line_num
    for fields in reader:
        line, end = end + 1, reader.line_num
        if len(fields) != width:
            if not any(f.strip() for f in fields):
                continue  # a blank line
            parsed.row_count += 1
            problems.append(
                ImportProblem(line, None, None, f"has {len(fields)} fields; the header has {width}")
            )
            continue
        cells = dict(zip(columns, fields, strict=True))
        # The key as one string, not a tuple: 100k tuples kept alive slow the collector.
        parts = [cells[column].strip() for column in layout.key]
        if not all(parts) and not "".join(fields).strip():
            continue  # an empty spreadsheet row
        parsed.row_count += 1
        check = Checker()
        good = parse_row(check, cells, False)
        for problem in check.problems:
            column = problem.field if problem.field in cells else None
            value = cells[column] if column is not None else _text(problem.value)
            problems.append(ImportProblem(line, column, value, problem.message))
        if all(parts):
            if kind == "adjustments":  # the kind is read case-insensitively
                parts[1] = parts[1].lower()
            key = " / ".join(parts)
            first = first_line_of.setdefault(key, line)
            if first != line:
                problems.append(
                    ImportProblem(
                        line,
                        layout.key[-1] if kind == "payments" else layout.key[0],
                        key,
                        f"duplicates line {first} (same {', '.join(layout.key)})",
                    )
                )
                continue
        if good and not check.problems:
            rows.append(ParsedRow(kind, line, columns, tuple(fields)))


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# Field readers: each records its problems on the Checker and returns None when
# the value is unusable, so one row reports every bad cell, not just the first.


def _date(check: Checker, column: str, text: str, *, required: bool = True) -> dt.date | None:
    if not text.strip():
        if required:
            check.add(column, text, "is required")
        return None
    try:
        value = parse_date(text, field=column)
    except ValidationError as error:
        check.problems.extend(error.problems)
        return None
    before = len(check.problems)
    check.date(column, value)
    return value if len(check.problems) == before else None


def _currency(check: Checker, text: str) -> str | None:
    try:
        return check_currency(text)
    except ValidationError as error:
        check.problems.extend(error.problems)
        return None


def _amount(
    check: Checker, column: str, text: str, currency: str | None, *, allow_zero: bool = False
) -> int | None:
    if currency is None:
        return None  # judged once the currency is right: its digits decide
    try:
        return parse_amount(text, currency, field=column, allow_zero=allow_zero)
    except ValidationError as error:
        check.problems.extend(error.problems)
        return None


def _whole_number(check: Checker, column: str, text: str, *, maximum: int) -> int | None:
    raw = text.strip()
    if not raw.isascii() or not raw.isdigit() or int(raw) > maximum:
        check.add(column, text, f"must be a whole number from 0 to {maximum}")
        return None
    return int(raw)


def _parse_customer(check: Checker, cells: dict[str, str], build: bool) -> CustomerCreate | bool:
    code = check.code("customer_code", cells["customer_code"])
    name = check.text("name", cells["name"], max_len=200)
    email = check.text("email", cells.get("email"), max_len=320, required=False)
    currency = _currency(check, cells["currency"])
    terms: int | None = DEFAULT_TERMS_DAYS
    if cells.get("payment_terms_days", "").strip():
        terms = _whole_number(
            check, "payment_terms_days", cells["payment_terms_days"], maximum=MAX_TERMS_DAYS
        )
    limit: int | None = 0
    if cells.get("credit_limit", "").strip():
        limit = _amount(check, "credit_limit", cells["credit_limit"], currency, allow_zero=True)
    if check.problems or currency is None or terms is None or limit is None:
        return False
    if not build:
        return True
    return CustomerCreate(
        customer_code=code,
        name=name or "",
        currency=currency,
        email=email,
        payment_terms_days=terms,
        credit_limit_minor=limit,
    )


def _parse_invoice(check: Checker, cells: dict[str, str], build: bool) -> InvoiceCreate | bool:
    number = check.code("invoice_number", cells["invoice_number"])
    customer_code = check.code("customer_code", cells["customer_code"])
    issue = _date(check, "issue_date", cells["issue_date"])
    due = _date(check, "due_date", cells.get("due_date", ""), required=False)
    currency = _currency(check, cells["currency"])
    amount = _amount(check, "amount", cells["amount"], currency)
    description = check.text("description", cells.get("description"), max_len=1000, required=False)
    if issue is not None and due is not None and due < issue:
        check.add("due_date", cells["due_date"], "is before the issue date")
    if check.problems or issue is None or amount is None:
        return False
    if not build:
        return True
    line = LineCreate(description or f"Invoice {number}", Decimal(1), amount, Decimal(0))
    return InvoiceCreate(
        invoice_number=number,
        customer_code=customer_code,
        issue_date=issue,
        lines=[line],
        due_date=due,
        currency=currency,
        description=description,
    )


def _parse_payment(check: Checker, cells: dict[str, str], build: bool) -> PaymentCreate | bool:
    reference = check.code("payment_reference", cells["payment_reference"], max_len=80)
    customer_code = check.code("customer_code", cells["customer_code"])
    received = _date(check, "received_date", cells["received_date"])
    currency = _currency(check, cells["currency"])
    amount = _amount(check, "amount", cells["amount"], currency)
    method = check.text("method", cells.get("method"), max_len=40, required=False)
    target = None
    if cells.get("invoice_number", "").strip():
        target = check.code("invoice_number", cells["invoice_number"])
    if check.problems or received is None or amount is None:
        return False
    if not build:
        return True
    return PaymentCreate(
        customer_code=customer_code,
        payment_reference=reference,
        received_date=received,
        amount_minor=amount,
        currency=currency,
        method=method or "transfer",
        invoice_number=target,
    )


_KINDS_OF_ADJUSTMENT = ", ".join(k.value for k in AdjustmentKind)


def _parse_adjustment(check: Checker, cells: dict[str, str], build: bool) -> AdjustmentDraft | bool:
    number = check.code("invoice_number", cells["invoice_number"])
    when = _date(check, "date", cells["date"])
    kind: AdjustmentKind | None = None
    try:
        kind = AdjustmentKind(cells["kind"].strip().lower())
    except ValueError:
        check.add("kind", cells["kind"], f"must be one of {_KINDS_OF_ADJUSTMENT}")
    amount_text = cells["amount"].strip()
    if not amount_text:
        check.add("amount", cells["amount"], "is required")
    reason = check.text("reason", cells["reason"], max_len=1000)
    if check.problems or when is None or kind is None:
        return False
    if not build:
        return True
    return AdjustmentDraft(number, kind, when, amount_text, reason or "")


# Each parser checks a row's cells (phase 1: `build` False, returns whether the
# row is good) or builds its record (phase 2: `build` True).
_ROW_PARSERS: dict[str, Callable[[Checker, dict[str, str], bool], Record | bool]] = {
    "customers": _parse_customer,
    "invoices": _parse_invoice,
    "payments": _parse_payment,
    "adjustments": _parse_adjustment,
}

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
- A file over `MAX_FILE_BYTES` is refused unread; a cell over `MAX_CELL_CHARS`
  is refused with its line and column (no column of any kind holds more than
  5,000 characters, so a longer cell is a broken file, not data).
- A file with NUL characters, or saved as UTF-16, is refused: the fix is to
  save it again as "CSV UTF-8", which every spreadsheet offers.
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
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from billing.errors import Problem, ValidationError
from billing.models import AdjustmentKind
from billing.money import check_currency, parse_amount
from billing.services.customers import DEFAULT_TERMS_DAYS, MAX_TERMS_DAYS, CustomerCreate
from billing.services.invoices import InvoiceCreate, LineCreate
from billing.services.payments import PaymentCreate
from billing.validation import Checker, parse_date

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_CELL_CHARS = 10_000
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

    def key(self, column: str) -> str:
        """A key or reference cell as the record will hold it (trimmed), without building it.

        Phase 2 resolves a whole file by these before it builds any record.
        """
        return self.fields[self.columns.index(column)].strip()

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
    head = data[:4096]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(0) > len(head) // 4:
        parsed.problems.append(
            ImportProblem(
                None, None, None, 'is saved as UTF-16; save it as "CSV UTF-8" (comma delimited)'
            )
        )
        return
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
    # The csv module's own limit (128 KiB a cell, process-wide) would stop the
    # reader with no column named; ours is lower and is judged per cell below.
    if csv.field_size_limit() < MAX_FILE_BYTES:
        csv.field_size_limit(MAX_FILE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        columns = _read_header(parsed, reader)
        if columns is not None:
            parsed.columns = columns
            _read_rows(parsed, reader, columns, nul="\x00" in text)
    except csv.Error as error:
        parsed.problems.append(
            ImportProblem(reader.line_num, None, None, f"is not valid CSV: {error}")
        )


def _encoding_problems(data: bytes) -> list[ImportProblem]:
    problems: list[ImportProblem] = []
    bad_lines = 0
    # Split as the csv reader counts lines (\n, \r\n and a lone \r all end one).
    lines = data.removeprefix(b"\xef\xbb\xbf").splitlines() or [b""]
    header = _cells(lines[0].decode("utf-8", "replace"))
    for number, raw in enumerate(lines, start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            bad_lines += 1
            if bad_lines <= MAX_ENCODING_PROBLEMS:
                byte = raw[error.start]
                column, value = _undecodable_cell(raw, header if number > 1 else [])
                problems.append(
                    ImportProblem(
                        number,
                        column,
                        value,
                        f"is not UTF-8 text (byte 0x{byte:02x} at position {error.start + 1}); "
                        'save the file as "CSV UTF-8"',
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


def _undecodable_cell(raw: bytes, header: list[str]) -> tuple[str, str]:
    """The column (by the header's name, else its position) and value of a line's first bad cell.

    The line is read on its own, so a cell continued from a quoted line break
    above may be cut differently than the whole file would; the line is still right.
    """
    cells = _cells(raw.decode("utf-8", "surrogateescape"))
    position = next(
        (i for i, cell in enumerate(cells) if any("\udc80" <= c <= "\udcff" for c in cell)), 0
    )
    value = cells[position] if cells else ""
    shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    name = header[position].strip().lower() if position < len(header) else ""
    return name or f"#{position + 1}", shown


def _cells(line: str) -> list[str]:
    """One line's cells as the csv module reads them, or split at commas if it cannot."""
    try:
        return next(csv.reader([line]), [])
    except csv.Error:
        return line.split(",")


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


def _read_rows(parsed: ParsedFile, reader: Any, columns: tuple[str, ...], *, nul: bool) -> None:
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
            problems.append(_wrong_width(line, fields, columns, spans=end > line))
            continue
        if nul or sum(map(len, fields)) > MAX_CELL_CHARS:
            unreadable = _unreadable_cells(line, fields, columns)
            if unreadable:
                parsed.row_count += 1
                problems.extend(unreadable)
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


def _wrong_width(
    line: int, fields: list[str], columns: tuple[str, ...], *, spans: bool
) -> ImportProblem:
    """A row with more or fewer fields than the header, naming the first column affected.

    `spans` says the row ran over several lines: a quote left open swallows the
    lines after it, which is the likelier mistake then.
    """
    count, width = len(fields), len(columns)
    hint = ' (a quote (") left open runs on to the next lines)' if spans else ""
    if count > width:
        extra = next((i for i in range(width, count) if fields[i].strip()), width)
        return ImportProblem(
            line,
            f"#{extra + 1}",
            fields[extra],
            f"has {count} fields; the header has {width} "
            "(an extra comma? quote a value that contains one)",
        )
    return ImportProblem(
        line,
        columns[count],
        None,
        f"has {count} fields; the header has {width}: {', '.join(columns[count:])} missing" + hint,
    )


def _unreadable_cells(
    line: int, fields: list[str], columns: tuple[str, ...]
) -> list[ImportProblem]:
    """Cells too long to be data, or holding NUL characters: each named, the row not read."""
    problems = []
    for column, value in zip(columns, fields, strict=True):
        if len(value) > MAX_CELL_CHARS:
            problems.append(
                ImportProblem(
                    line,
                    column,
                    _shown(value),
                    f"is {len(value):,} characters long; a cell holds at most {MAX_CELL_CHARS:,}",
                )
            )
        elif "\x00" in value:
            problems.append(
                ImportProblem(
                    line,
                    column,
                    value.replace("\x00", "\\0"),
                    'contains a NUL character; save the file as "CSV UTF-8"',
                )
            )
    return problems


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# Field readers: each records its problems on the Checker and returns None when
# the value is unusable, so one row reports every bad cell, not just the first.


def _date(check: Checker, column: str, text: str, *, required: bool = True) -> dt.date | None:
    if not text.strip():
        if required:
            check.add(column, text, "is required")
        return None
    value, problems = _judged_date(column, text)
    check.problems.extend(problems)
    return value


@lru_cache(maxsize=4096)
def _judged_date(column: str, text: str) -> tuple[dt.date | None, tuple[Problem, ...]]:
    """A date cell read and range-checked once per distinct text: a file repeats its dates."""
    check = Checker()
    try:
        value: dt.date | None = parse_date(text, field=column)
    except ValidationError as error:
        return None, tuple(error.problems)
    check.date(column, value)
    return (None if check.problems else value), tuple(check.problems)


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
    # The length test comes before int(), which refuses over 4,300 digits with its own error.
    too_long = len(raw.lstrip("0")) > len(str(maximum))
    if not raw.isascii() or not raw.isdigit() or too_long or int(raw) > maximum:
        check.add(column, text, f"must be a whole number from 0 to {maximum}")
        return None
    return int(raw)


def _parse_customer(check: Checker, cells: dict[str, str], build: bool) -> CustomerCreate | bool:
    code = check.code("customer_code", cells["customer_code"])
    name = check.text("name", cells["name"], max_len=200, multiline=False)
    email = check.text("email", cells.get("email"), max_len=320, required=False, multiline=False)
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
    method = check.text("method", cells.get("method"), max_len=40, required=False, multiline=False)
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

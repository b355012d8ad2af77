"""Entry forms' helpers: editor rows to service inputs, live totals, the allocation editor.

`st.data_editor` checks nothing on the server (its column types are enforced
in the browser only), so every editable cell here is text and is parsed with
the services' own rules: amounts with `billing.money.parse_amount` (never a
float), line arithmetic with `billing.invoice_math.line_amounts`. The totals a
clerk sees while typing are then exactly what the service will store. The
service checks everything again; these checks only say early, and per line,
what it would refuse.

The conversions are pure functions (rows in, values and problems out) so they
are tested directly; the two editor widgets are thin wrappers around them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import streamlit as st

from billing.allocation import OpenItem, plan_auto_allocation
from billing.errors import ValidationError
from billing.invoice_math import line_amounts
from billing.money import parse_amount
from billing.services import LineCreate
from billing.validation import decimal_text
from ui.format import amount_text

LINE_COLUMNS = ("description", "quantity", "unit_price", "tax_rate")
MAX_QUANTITY = Decimal(10**9)
DECIMAL_PLACES = 4  # quantity and tax rate, as `billing.services.invoices` accepts them
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<digits>[0-9]+)$")


# --- Invoice lines -----------------------------------------------------------------


@dataclass(frozen=True)
class ParsedLines:
    """The editor's rows as service lines, and every problem found, each naming its line."""

    lines: tuple[LineCreate, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """At least one line and nothing wrong: the invoice may be saved."""
        return bool(self.lines) and not self.problems


@dataclass(frozen=True)
class InvoiceTotals:
    """Net, tax and total of an invoice's lines, in minor units."""

    net_minor: int
    tax_minor: int

    @property
    def total_minor(self) -> int:
        """Net plus tax."""
        return self.net_minor + self.tax_minor


def _cell(value: object) -> str:
    """A cell as text: empty for None/NaN (an untouched cell), else its text trimmed."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _decimal(text: str, *, label: str, maximum: Decimal, positive: bool) -> tuple[Decimal, str]:
    """Parse a quantity or rate; returns (value, problem or "")."""
    value = decimal_text(text)
    if value is None:  # "1e3", "1,5", "NaN", "١٢" all refused: Decimal() would read three
        return Decimal(0), f"{label} {text!r} is not a number: use digits and a point, like 1.5"
    if positive and value <= 0:
        return value, f"{label} {text!r} must be greater than zero"
    if value < 0:
        return value, f"{label} {text!r} must not be negative"
    if value > maximum:
        return value, f"{label} {text!r} is more than {maximum}"
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > DECIMAL_PLACES:
        return value, f"{label} {text!r} has more than {DECIMAL_PLACES} decimal places"
    return value, ""


def lines_from_rows(rows: Iterable[Mapping[str, object]], currency: str) -> ParsedLines:
    """Turn the line editor's rows into `LineCreate`s, collecting every problem.

    Rows left entirely blank (the editor's spare row) are skipped; the others
    are numbered as the clerk sees them, from 1. Quantity and tax rate are
    decimal text (tax rate blank means 0 %); the unit price is an amount in
    `currency` parsed exactly (`"12.345"` in USD is an error, not 12.35).
    """
    lines: list[LineCreate] = []
    problems: list[str] = []
    for no, row in enumerate(rows, start=1):
        cells = {column: _cell(row.get(column)) for column in LINE_COLUMNS}
        if not any(cells.values()):
            continue
        found: list[str] = []
        description = cells["description"]
        if not description:
            found.append("description is required")
        elif len(description) > 1000:
            found.append("description is longer than 1000 characters")
        quantity, problem = Decimal(0), "quantity is required"
        if cells["quantity"]:
            quantity, problem = _decimal(
                cells["quantity"], label="quantity", maximum=MAX_QUANTITY, positive=True
            )
        found += [problem] if problem else []
        rate, problem = Decimal(0), ""
        if cells["tax_rate"]:
            rate, problem = _decimal(
                cells["tax_rate"], label="tax rate %", maximum=Decimal(100), positive=False
            )
        found += [problem] if problem else []
        price = 0
        try:
            price = parse_amount(cells["unit_price"], currency, allow_zero=True)
        except ValidationError as error:
            found += [f"unit price {p.value!r} {p.message}" for p in error.problems]
        if found:
            problems += [f"Line {no}: {problem}" for problem in found]
        else:
            lines.append(LineCreate(description, quantity, price, rate))
    return ParsedLines(tuple(lines), tuple(problems))


def invoice_totals(lines: Iterable[LineCreate]) -> InvoiceTotals:
    """Net and tax summed line by line, each line rounded as the service rounds it."""
    amounts = [line_amounts(line.quantity, line.unit_price_minor, line.tax_rate) for line in lines]
    return InvoiceTotals(sum(a.net_minor for a in amounts), sum(a.tax_minor for a in amounts))


def default_due_date(issue_date: dt.date, terms_days: int) -> dt.date:
    """Issue date plus the customer's payment terms: the due date when none is given."""
    return issue_date + dt.timedelta(days=terms_days)


def suggest_invoice_number(latest: str | None, *, taken: Iterable[str] = ()) -> str:
    """The number after `latest` with its prefix and width kept (INV-2001 → INV-2002).

    A suggestion only: the clerk may type another, and the service refuses a
    number in use. `taken` skips numbers known to be used already.
    """
    used = set(taken)
    match = _NUMBERED.match(latest or "")
    if match:
        prefix, digits = match["prefix"], match["digits"]
    elif latest:
        prefix, digits = f"{latest}-", "0"
    else:
        prefix, digits = "INV-", "0000"
    number = int(digits) + 1
    while True:
        candidate = f"{prefix}{number:0{len(digits)}d}"
        if candidate not in used:
            return candidate
        number += 1


def empty_lines() -> pl.DataFrame:
    """The line editor's starting table: the four text columns, no rows."""
    return pl.DataFrame(schema=dict.fromkeys(LINE_COLUMNS, pl.String()))


def line_editor(*, key: str, currency: str) -> list[dict[str, object]]:
    """The invoice-lines editor (rows added and removed freely); returns its rows as dicts."""
    edited = st.data_editor(
        empty_lines(),
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        key=key,
        column_config={
            "description": st.column_config.TextColumn("Description", required=True),
            "quantity": st.column_config.TextColumn("Quantity", help="For example 3 or 1.5"),
            "unit_price": st.column_config.TextColumn(
                f"Unit price ({currency})", help="An amount like 1234.50; no thousands separators"
            ),
            "tax_rate": st.column_config.TextColumn("Tax rate %", help="Blank means 0"),
        },
    )
    return _rows(edited)


def _rows(edited: object) -> list[dict[str, object]]:
    if isinstance(edited, pl.DataFrame):
        return edited.to_dicts()
    to_dict = getattr(edited, "to_dict", None)  # pandas, should the editor hand one back
    return list(to_dict("records")) if callable(to_dict) else []


# --- Payment allocation ------------------------------------------------------------


@dataclass(frozen=True)
class AllocationChoice:
    """What the clerk's allocation table asks for.

    `allocations` holds the (invoice_number, amount_minor) pairs above zero,
    in table order; `changed` says whether they differ from the suggestion
    (unchanged means: post with the service's own auto-allocation).
    """

    allocations: tuple[tuple[str, int], ...]
    changed: bool
    problems: tuple[str, ...]

    @property
    def applied_minor(self) -> int:
        """The sum of the amounts to apply."""
        return sum(amount for _, amount in self.allocations)


def eligible_invoices(open_invoices: pl.DataFrame, *, received_date: dt.date) -> pl.DataFrame:
    """The open invoices a payment received on `received_date` may pay (issued by then)."""
    return open_invoices.filter(pl.col("issue_date") <= received_date)


def suggest_allocation(
    open_invoices: pl.DataFrame, amount_minor: int, *, received_date: dt.date
) -> dict[str, int]:
    """SPEC §2's auto-allocation of `amount_minor`, by invoice number (oldest first)."""
    items = [
        OpenItem(
            invoice_id=row["invoice_id"],
            invoice_number=row["invoice_number"],
            issue_date=row["issue_date"],
            due_date=row["due_date"],
            open_minor=row["open_minor"],
        )
        for row in open_invoices.iter_rows(named=True)
    ]
    plan = plan_auto_allocation(amount_minor, items, received_date=received_date)
    return {item.invoice_number: amount for item, amount in plan if amount > 0}


def allocation_rows(
    invoices: pl.DataFrame, suggestion: Mapping[str, int], currency: str
) -> pl.DataFrame:
    """The allocation editor's table: invoice, dates, open amount and the amount to apply (text)."""
    return pl.DataFrame(
        {
            "invoice_number": invoices.get_column("invoice_number"),
            "issue_date": invoices.get_column("issue_date"),
            "due_date": invoices.get_column("due_date"),
            "open": [amount_text(m, currency) for m in invoices.get_column("open_minor")],
            "apply": [
                amount_text(suggestion.get(n, 0), currency)
                for n in invoices.get_column("invoice_number")
            ],
        },
        schema={
            "invoice_number": pl.String(),
            "issue_date": pl.Date(),
            "due_date": pl.Date(),
            "open": pl.String(),
            "apply": pl.String(),
        },
    )


def allocation_from_rows(
    rows: Iterable[Mapping[str, object]],
    *,
    open_minor: Mapping[str, int],
    suggestion: Mapping[str, int],
    currency: str,
    amount_minor: int | None,
) -> AllocationChoice:
    """Read the allocation editor back: amounts parsed exactly, every problem named.

    A blank or zero amount applies nothing to that invoice. Each amount may
    not exceed the invoice's open balance, and together they may not exceed
    the payment (when its amount is known).
    """
    allocations: list[tuple[str, int]] = []
    problems: list[str] = []
    for row in rows:
        number = _cell(row.get("invoice_number"))
        text = _cell(row.get("apply")) or "0"
        try:
            amount = parse_amount(text, currency, field="apply", allow_zero=True)
        except ValidationError as error:
            problems += [f"{number}: apply {p.value!r} {p.message}" for p in error.problems]
            continue
        if amount > open_minor.get(number, 0):
            problems.append(
                f"{number}: apply {amount_text(amount, currency)} is more than its open balance "
                f"{amount_text(open_minor.get(number, 0), currency)}"
            )
        if amount > 0:
            allocations.append((number, amount))
    total = sum(amount for _, amount in allocations)
    if amount_minor is not None and total > amount_minor:
        problems.append(
            f"The amounts to apply add up to {amount_text(total, currency)}, "
            f"more than the payment's {amount_text(amount_minor, currency)}"
        )
    changed = dict(allocations) != {n: a for n, a in suggestion.items() if a > 0}
    return AllocationChoice(tuple(allocations), changed, tuple(problems))


def allocation_editor(rows: pl.DataFrame, *, key: str, currency: str) -> list[dict[str, object]]:
    """The allocation table with only "Apply" editable; returns its rows as dicts."""
    edited = st.data_editor(
        rows,
        num_rows="fixed",
        hide_index=True,
        width="stretch",
        key=key,
        disabled=["invoice_number", "issue_date", "due_date", "open"],
        column_config={
            "invoice_number": st.column_config.TextColumn("Invoice"),
            "issue_date": st.column_config.DateColumn("Issued", format="YYYY-MM-DD"),
            "due_date": st.column_config.DateColumn("Due", format="YYYY-MM-DD"),
            "open": st.column_config.TextColumn(f"Open ({currency})"),
            "apply": st.column_config.TextColumn(
                f"Apply ({currency})", help="The amount to apply; blank or 0 applies nothing"
            ),
        },
    )
    return _rows(edited)

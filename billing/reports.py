"""The aging and KPI reports of SPEC §4, as plain dicts ready for JSON, tables and CSV.

The figures come from `queries/`; this module only picks the currency, turns
minor units into amount strings with the currency's digits and lays the
result out in SPEC §4's keys and order. `billing report` prints them; the
app and tests use the same dicts, so every surface shows the same numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from typing import Any

import polars as pl

from billing.errors import BillingError, Problem, ValidationError
from billing.export import neutralise
from billing.money import check_currency, format_amount
from queries.aging import (
    DEFAULT_BOUNDARIES,
    Basis,
    aging_by_customer,
    aging_totals,
    bucket_labels,
    check_boundaries,
)
from queries.balances import currencies, payment_balances
from queries.kpis import kpis
from queries.ledger import LedgerFrames

Report = dict[str, Any]
KPI_AMOUNTS = (
    ("ar_begin", "ar_begin_minor"),
    ("ar", "ar_minor"),
    ("current_ar", "current_ar_minor"),
    ("overdue_ar", "overdue_ar_minor"),
    ("credit_sales", "credit_sales_minor"),
    ("collections", "collections_minor"),
    ("cash_received", "cash_received_minor"),
    ("unapplied", "unapplied_minor"),
)
KPI_RATIOS = ("dso", "best_possible_dso", "add", "countback_dso", "cei")


def report_currency(ledger: LedgerFrames, requested: str | None) -> str:
    """The currency to report: the one asked for, else the only one in the ledger.

    Amounts in two currencies are never added, so a ledger with several needs
    `--currency`; the error lists what there is to choose from.
    """
    present = currencies(ledger).collect()["currency"].to_list()
    if requested is not None:
        currency = check_currency(requested.strip().upper())
        if currency not in present:
            raise BillingError(
                f"no posted invoices or payments in {currency}; "
                f"the ledger has {', '.join(present) or 'none yet'}"
            )
        return currency
    if not present:
        raise BillingError("the ledger has no posted invoices or payments yet: nothing to report")
    if len(present) > 1:
        raise BillingError(
            f"the ledger holds several currencies ({', '.join(present)}); "
            "choose one with --currency"
        )
    return str(present[0])


def parse_buckets(text: str, *, field: str = "--buckets") -> tuple[int, ...]:
    """`"30,60,90"` as boundaries, or a ValidationError naming `field` and the value."""
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValidationError(
            Problem(field, text, "must be whole days separated by commas, e.g. 30,60,90")
        )
    try:
        return check_boundaries([int(part) for part in parts])
    except ValueError as error:
        raise ValidationError(Problem(field, text, str(error))) from error


def aging_report(
    ledger: LedgerFrames,
    *,
    as_of: date,
    basis: Basis | str = Basis.DUE,
    boundaries: Sequence[int] = DEFAULT_BOUNDARIES,
    currency: str | None = None,
) -> Report:
    """`billing report aging` as SPEC §4's JSON object (amounts as strings)."""
    currency = report_currency(ledger, currency)
    labels = bucket_labels(boundaries, basis=basis)
    in_currency = pl.col("currency") == currency
    rows, totals, unapplied = pl.collect_all(
        [
            aging_by_customer(ledger, as_of=as_of, basis=basis, boundaries=boundaries).filter(
                in_currency
            ),
            aging_totals(ledger, as_of=as_of, basis=basis, boundaries=boundaries).filter(
                in_currency
            ),
            payment_balances(ledger, as_of=as_of)
            .filter(in_currency)
            .select(pl.col("unapplied_minor").sum()),
        ]
    )

    def amounts(row: dict[str, Any]) -> dict[str, str]:
        return {key: format_amount(row[key], currency) for key in (*labels, "total")}

    return {
        "as_of": as_of.isoformat(),
        "basis": Basis(basis).value,
        "currency": currency,
        "buckets": labels,
        "rows": [
            {
                "customer_code": row["customer_code"],
                "customer_name": row["customer_name"],
                **amounts(row),
            }
            for row in rows.iter_rows(named=True)
        ],
        "totals": amounts(totals.row(0, named=True)),
        "unapplied": format_amount(unapplied.item(), currency),
    }


def kpi_report(
    ledger: LedgerFrames, *, start: date, end: date, currency: str | None = None
) -> Report:
    """`billing report kpis` as SPEC §4's JSON object: amounts as strings, ratios or null."""
    currency = report_currency(ledger, currency)
    row = kpis(ledger, start=start, end=end).filter(pl.col("currency") == currency).collect()
    figures = row.row(0, named=True)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": figures["days"],
        "currency": currency,
        **{key: format_amount(figures[column], currency) for key, column in KPI_AMOUNTS},
        **{key: figures[key] for key in KPI_RATIOS},
    }


def aging_table(report: Report) -> str:
    """The aging report for people: aligned columns, a total row and unapplied cash."""
    labels = report["buckets"]
    header = ["customer", "name", *labels, "total"]
    body = [
        [row["customer_code"], row["customer_name"], *(row[k] for k in (*labels, "total"))]
        for row in report["rows"]
    ]
    totals = report["totals"]
    footer = ["Total", "", *(totals[k] for k in (*labels, "total"))]
    title = (
        f"Aging at {report['as_of']} ({report['basis']} date basis), "
        f"amounts in {report['currency']}"
    )
    table = _aligned([header, *body, footer], numeric_from=2)
    return f"{title}\n{table}\nUnapplied cash: {report['unapplied']}"


def kpi_table(report: Report) -> str:
    """The KPI report for people: one figure per line."""
    lines = [
        f"KPIs {report['from']} to {report['to']} ({report['days']} days), "
        f"amounts in {report['currency']}"
    ]
    names = {
        "ar_begin": "AR at start",
        "ar": "AR at end",
        "current_ar": "current AR",
        "overdue_ar": "overdue AR",
        "credit_sales": "credit sales",
        "collections": "collections",
        "cash_received": "cash received",
        "unapplied": "unapplied cash",
        "dso": "DSO (days)",
        "best_possible_dso": "best possible DSO (days)",
        "add": "ADD (days)",
        "countback_dso": "countback DSO (days)",
        "cei": "CEI (%)",
    }
    width = max(len(n) for n in names.values())
    for key, name in names.items():
        value = report[key]
        shown = "n/a (zero denominator)" if value is None else str(value)
        lines.append(f"{name:<{width}}  {shown}")
    return "\n".join(lines)


def aging_csv(report: Report) -> str:
    """The aging rows for a spreadsheet, then one Total row; text cells neutralised."""
    labels = report["buckets"]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["customer_code", "customer_name", *labels, "total"])
    for row in report["rows"]:
        writer.writerow(
            [
                neutralise(row["customer_code"]),
                neutralise(row["customer_name"]),
                *(row[k] for k in (*labels, "total")),
            ]
        )
    writer.writerow(["", "Total", *(report["totals"][k] for k in (*labels, "total"))])
    return out.getvalue()


def kpi_csv(report: Report) -> str:
    """The KPI report as one header row and one data row, keys as in the JSON."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(report.keys())
    writer.writerow("" if v is None else v for v in report.values())
    return out.getvalue()


def _aligned(rows: list[list[str]], *, numeric_from: int) -> str:
    """Rows as text columns: text left-aligned, amounts (from `numeric_from` on) right-aligned."""
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            str(cell).rjust(width) if i >= numeric_from else str(cell).ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )

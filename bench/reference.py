"""The same aging and DSO figures computed three other ways, to put the Polars times in proportion.

- pandas: what an analyst would write with merges and group-bys;
- SQL: run by the database itself (SQLite or PostgreSQL), the same rules in
  CTEs, with a window function for the running totals;
- numpy (aging only): dense arrays indexed by invoice id, prepared before the
  clock starts: a lower bound, the cost of the arithmetic alone.

Each returns a Polars frame with the columns `compare_*` select from the
Polars query's result, so `check_same` can prove the four agree before any
ratio is printed. Rules (SPEC §3, `queries/aging.py`, `queries/balances.py`):
an invoice is open at D by its total less allocations applied and
adjustments dated on or before D; a settlement counts from the invoice's
issue date at the earliest; current AR is what is open on invoices not yet
past due; ratios are rounded half away from zero to whole hundredths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, text

from queries.aging import aging_by_customer
from queries.calendar import periods
from queries.kpis import period_kpis
from queries.ledger import LedgerFrames

BOUNDARIES = (30, 60, 90)
LABELS = ["current", "1-30", "31-60", "61-90", "91+"]
BREAKS = [0, *BOUNDARIES]
AGING_COLUMNS = ["currency", "customer_id", *LABELS, "total"]
DSO_COLUMNS = ["currency", "period_start", "period_end", "dso", "best_possible_dso", "add", "cei"]
_EPOCH = dt.date(1970, 1, 1)


# --- Polars (the product) ---------------------------------------------------------------


def polars_aging(ledger: LedgerFrames, as_of: dt.date) -> pl.DataFrame:
    """The app's aging table (`queries.aging.aging_by_customer`), collected."""
    return aging_by_customer(ledger, as_of=as_of, boundaries=BOUNDARIES).collect()


def dso_periods(as_of: dt.date, months: int = 36) -> pl.LazyFrame:
    """The last `months` calendar months up to `as_of`, the last one month-to-date."""
    index = as_of.year * 12 + as_of.month - 1 - (months - 1)
    return periods(start=dt.date(index // 12, index % 12 + 1, 1), end=as_of, every="1mo")


def polars_dso(ledger: LedgerFrames, as_of: dt.date) -> pl.DataFrame:
    """The app's 36-month KPI series (`queries.kpis.period_kpis`, countback included)."""
    return period_kpis(ledger, dso_periods(as_of)).collect()


def compare_aging(frame: pl.DataFrame) -> pl.DataFrame:
    """The columns every implementation must agree on, in one order."""
    return frame.select(
        pl.col("currency").cast(pl.String),
        pl.col("customer_id").cast(pl.Int64),
        *(pl.col(c).cast(pl.Int64) for c in [*LABELS, "total"]),
    ).sort("currency", "customer_id")


def compare_dso(frame: pl.DataFrame) -> pl.DataFrame:
    """DSO, BPDSO, ADD and CEI per currency and month, as whole hundredths (exact)."""
    return frame.select(
        pl.col("currency").cast(pl.String),
        pl.col("period_start").cast(pl.Date),
        pl.col("period_end").cast(pl.Date),
        *((pl.col(c) * 100).round(0).cast(pl.Int64) for c in DSO_COLUMNS[3:]),
    ).sort("currency", "period_start")


def check_same(name: str, expected: pl.DataFrame, got: pl.DataFrame) -> None:
    """Raise (with both frames' first differing rows) unless the two results are identical."""
    try:
        assert_frame_equal(expected, got, check_dtypes=True)
    except AssertionError as error:
        raise AssertionError(f"{name} differs from Polars: {error}") from error


# --- pandas ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PandasLedger:
    """The ledger as pandas frames (datetime64[s] dates), converted before timing."""

    invoices: pd.DataFrame
    allocations: pd.DataFrame
    adjustments: pd.DataFrame
    payments: pd.DataFrame


def to_pandas(ledger: LedgerFrames) -> PandasLedger:
    """Each frame via Arrow, dates as numpy datetime64 (what `pd.read_sql` would give)."""

    def convert(frame: pl.LazyFrame) -> pd.DataFrame:
        collected = frame.collect()
        dates = [c for c, t in collected.schema.items() if t == pl.Date]
        return collected.with_columns(pl.col(dates).cast(pl.Datetime("ms"))).to_pandas()

    return PandasLedger(
        convert(ledger.invoices),
        convert(ledger.allocations),
        convert(ledger.adjustments),
        convert(ledger.payments),
    )


def pandas_aging(ledger: PandasLedger, as_of: dt.date) -> pl.DataFrame:
    """Aging by customer with merges and group-bys."""
    day = pd.Timestamp(as_of)
    alloc = ledger.allocations
    alloc = alloc[alloc["applied_date"] <= day].groupby("invoice_id")["amount_minor"].sum()
    adj = ledger.adjustments
    adj = adj[adj["date"] <= day].groupby("invoice_id")["amount_minor"].sum()
    inv = ledger.invoices[ledger.invoices["issue_date"] <= day]
    inv = inv.set_index("invoice_id")
    open_minor = (
        inv["total_minor"]
        - alloc.reindex(inv.index, fill_value=0)
        - adj.reindex(inv.index, fill_value=0)
    )
    owing = inv.assign(open_minor=open_minor)[open_minor > 0]
    days = (day - owing["due_date"]).dt.days
    bucket = sum((days > b).astype("int64") for b in BREAKS)
    owing = owing.assign(bucket=bucket.map(dict(enumerate(LABELS))))
    table = owing.pivot_table(
        index=["currency", "customer_id"],
        columns="bucket",
        values="open_minor",
        aggfunc="sum",
        fill_value=0,
    ).reindex(columns=LABELS, fill_value=0)
    table["total"] = table.sum(axis=1)
    return compare_aging(pl.from_pandas(table.reset_index()))


def _round_half_away(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Num ÷ den in whole units, half away from zero; NaN where den is 0 (int64 inputs)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        safe = np.where(den == 0, 1, den)
        magnitude = (np.abs(num) * 2 + np.abs(safe)) // (np.abs(safe) * 2)
        signed = np.where((num < 0) != (safe < 0), -magnitude, magnitude)
    return np.where(den == 0, np.nan, signed)


def pandas_dso(ledger: PandasLedger, as_of: dt.date) -> pl.DataFrame:
    """Daily changes per currency, cumulated, read at each month's ends: DSO, BPDSO, ADD, CEI."""
    one = pd.Timedelta(days=1)
    inv = ledger.invoices[["invoice_id", "currency", "issue_date", "due_date", "total_minor"]]
    settle = pd.concat(
        [
            ledger.allocations[["invoice_id", "applied_date", "amount_minor"]].rename(
                columns={"applied_date": "date"}
            ),
            ledger.adjustments[["invoice_id", "date", "amount_minor"]],
        ]
    ).merge(inv.drop(columns="total_minor"), on="invoice_id")
    effective = settle[["date", "issue_date"]].max(axis=1)
    while_current = effective <= settle["due_date"]
    parts = [
        pd.DataFrame(
            {
                "currency": inv["currency"],
                "date": inv["issue_date"],
                "sales": inv["total_minor"],
                "ar": inv["total_minor"],
                "cur": inv["total_minor"],
            }
        ),
        pd.DataFrame(
            {"currency": inv["currency"], "date": inv["due_date"] + one, "cur": -inv["total_minor"]}
        ),
        pd.DataFrame(
            {
                "currency": settle["currency"],
                "date": effective,
                "ar": -settle["amount_minor"],
                "cur": np.where(while_current, -settle["amount_minor"], 0),
            }
        ),
        pd.DataFrame(
            {
                "currency": settle["currency"][while_current],
                "date": settle["due_date"][while_current] + one,
                "cur": settle["amount_minor"][while_current],
            }
        ),
    ]
    changes = pd.concat(parts).fillna(0).astype({"sales": "int64", "ar": "int64", "cur": "int64"})
    daily = changes.groupby(["currency", "date"], sort=True)[["sales", "ar", "cur"]].sum()
    running = daily.groupby(level="currency").cumsum().reset_index()
    grid = dso_periods(as_of).collect().to_pandas()
    currencies = sorted(set(ledger.invoices["currency"]) | set(ledger.payments["currency"]))
    rows = []
    for currency in currencies:
        mine = running[running["currency"] == currency]
        days_index = mine["date"].to_numpy()

        def at(days: pd.Series, mine: pd.DataFrame = mine, index: Any = days_index) -> pd.DataFrame:
            position = np.searchsorted(index, days.to_numpy(dtype="datetime64[ns]"), side="right")
            values = mine[["sales", "ar", "cur"]].to_numpy()
            padded = np.vstack([np.zeros((1, 3), dtype=np.int64), values])
            return pd.DataFrame(padded[position], columns=["sales", "ar", "cur"])

        end = at(pd.to_datetime(grid["period_end"]))
        begin = at(pd.to_datetime(grid["period_start"]) - one)
        n = (pd.to_datetime(grid["period_end"]) - pd.to_datetime(grid["period_start"])).dt.days + 1
        sales = (end["sales"] - begin["sales"]).to_numpy()
        ar, cur, ar_begin = end["ar"].to_numpy(), end["cur"].to_numpy(), begin["ar"].to_numpy()
        dso = _round_half_away(ar * n.to_numpy() * 100, sales)
        best = _round_half_away(cur * n.to_numpy() * 100, sales)
        cei = _round_half_away((ar_begin + sales - ar) * 10_000, ar_begin + sales - cur)
        rows.append(
            pd.DataFrame(
                {
                    "currency": currency,
                    "period_start": grid["period_start"],
                    "period_end": grid["period_end"],
                    "dso": dso,
                    "best_possible_dso": best,
                    "add": dso - best,
                    "cei": cei,
                }
            )
        )
    result = pl.from_pandas(pd.concat(rows, ignore_index=True))
    return result.select(
        "currency",
        pl.col("period_start").cast(pl.Date),
        pl.col("period_end").cast(pl.Date),
        *(pl.col(c).fill_nan(None).cast(pl.Int64) for c in DSO_COLUMNS[3:]),
    ).sort("currency", "period_start")


# --- SQL, run by the database ---------------------------------------------------------------


def _sql_dialect(engine: Engine) -> dict[str, str]:
    if engine.dialect.name == "sqlite":
        return {
            "days": "CAST(julianday({a}) - julianday({b}) AS INTEGER)",
            "next_day": "date({a}, '+1 day')",
            "later": "max({a}, {b})",
            "date": "'{a}'",
            "idiv": "({a}) / ({b})",
        }
    return {
        "days": "({a} - {b})",
        "next_day": "({a} + 1)",
        "later": "greatest({a}, {b})",
        "date": "DATE '{a}'",
        "idiv": "div({a}, {b})",
    }


def sql_aging(engine: Engine, as_of: dt.date) -> pl.DataFrame:
    """Aging by customer in one SQL statement (date literals only: nothing typed by a user)."""
    d = _sql_dialect(engine)
    day = d["date"].format(a=as_of.isoformat())
    days = d["days"].format(a=day, b="i.due_date")
    bucket_sums = ",\n".join(
        f'SUM(CASE WHEN {cond} THEN open_minor ELSE 0 END) AS "{label}"'
        for label, cond in zip(
            LABELS,
            [
                "days <= 0",
                "days > 0 AND days <= 30",
                "days > 30 AND days <= 60",
                "days > 60 AND days <= 90",
                "days > 90",
            ],
            strict=True,
        )
    )
    statement = f"""
WITH a AS (SELECT invoice_id, SUM(amount_minor) AS s FROM allocations
           WHERE applied_date <= {day} GROUP BY invoice_id),
     j AS (SELECT invoice_id, SUM(amount_minor) AS s FROM adjustments
           WHERE date <= {day} GROUP BY invoice_id),
     o AS (SELECT i.customer_id, i.currency,
                  i.total_minor - COALESCE(a.s, 0) - COALESCE(j.s, 0) AS open_minor,
                  {days} AS days
           FROM invoices i LEFT JOIN a ON a.invoice_id = i.id LEFT JOIN j ON j.invoice_id = i.id
           WHERE i.status = 'posted' AND i.issue_date <= {day})
SELECT currency, customer_id, {bucket_sums}, SUM(open_minor) AS total
FROM o WHERE open_minor > 0 GROUP BY currency, customer_id"""
    return compare_aging(_run(engine, statement))


def sql_dso(engine: Engine, as_of: dt.date) -> pl.DataFrame:
    """The DSO family per currency and month in SQL: daily changes, a running SUM, lookups."""
    d = _sql_dialect(engine)
    grid = dso_periods(as_of).collect()

    def literal(day: dt.date) -> str:
        return d["date"].format(a=day.isoformat())

    values = " UNION ALL ".join(
        f"SELECT {literal(s)} AS ps, {literal(e)} AS pe, {literal(s - dt.timedelta(days=1))} AS pb,"
        f" {(e - s).days + 1} AS n"
        for s, e in grid.iter_rows()
    )

    def rounded(num: str, den: str) -> str:
        return _rounded(num, den, d["idiv"])

    eff = d["later"].format(a="st.date", b="i.issue_date")
    after_due = d["next_day"].format(a="i.due_date")
    statement = f"""
WITH st AS (SELECT invoice_id, applied_date AS date, amount_minor FROM allocations
            UNION ALL SELECT invoice_id, date, amount_minor FROM adjustments),
inv AS (SELECT id, currency, issue_date, due_date, total_minor FROM invoices
        WHERE status = 'posted'),
changes AS (
    SELECT currency, issue_date AS day, total_minor AS sales, total_minor AS ar, total_minor AS cur
    FROM inv
    UNION ALL SELECT currency, {d["next_day"].format(a="due_date")}, 0, 0, -total_minor FROM inv
    UNION ALL SELECT i.currency, {eff}, 0, -st.amount_minor,
           CASE WHEN {eff} <= i.due_date THEN -st.amount_minor ELSE 0 END
    FROM st JOIN inv i ON i.id = st.invoice_id
    UNION ALL SELECT i.currency, {after_due}, 0, 0, st.amount_minor
    FROM st JOIN inv i ON i.id = st.invoice_id WHERE {eff} <= i.due_date),
daily AS (SELECT currency, day, SUM(sales) AS sales, SUM(ar) AS ar, SUM(cur) AS cur
          FROM changes GROUP BY currency, day),
running AS (SELECT currency, day,
                   SUM(sales) OVER w AS sales, SUM(ar) OVER w AS ar, SUM(cur) OVER w AS cur
            FROM daily WINDOW w AS (PARTITION BY currency ORDER BY day)),
cur AS (SELECT currency FROM invoices WHERE status = 'posted'
        UNION SELECT currency FROM payments),
grid AS ({values}),
points AS (SELECT c.currency, g.pe AS d FROM cur c CROSS JOIN grid g
           UNION SELECT c.currency, g.pb FROM cur c CROSS JOIN grid g),
pick AS (SELECT p.currency, p.d, MAX(r.day) AS day FROM points p
         LEFT JOIN running r ON r.currency = p.currency AND r.day <= p.d
         GROUP BY p.currency, p.d),
val AS (SELECT p.currency, p.d, COALESCE(r.sales, 0) AS sales, COALESCE(r.ar, 0) AS ar,
               COALESCE(r.cur, 0) AS cur
        FROM pick p LEFT JOIN running r ON r.currency = p.currency AND r.day = p.day),
at AS (SELECT c.currency, g.ps, g.pe, g.n, e.sales AS sales_e, e.ar AS ar_e, e.cur AS cur_e,
              b.sales AS sales_b, b.ar AS ar_b
       FROM cur c CROSS JOIN grid g
       JOIN val e ON e.currency = c.currency AND e.d = g.pe
       JOIN val b ON b.currency = c.currency AND b.d = g.pb),
f AS (SELECT currency, ps, pe, ar_e * n * 100 AS dso_n, cur_e * n * 100 AS best_n,
             sales_e - sales_b AS sales,
             (ar_b + sales_e - sales_b - ar_e) * 10000 AS cei_n,
             ar_b + sales_e - sales_b - cur_e AS cei_d
      FROM at)
SELECT currency, ps AS period_start, pe AS period_end,
       {rounded("dso_n", "sales")} AS dso,
       {rounded("best_n", "sales")} AS best_possible_dso,
       {rounded("dso_n", "sales")} - {rounded("best_n", "sales")} AS "add",
       {rounded("cei_n", "cei_d")} AS cei
FROM f"""
    frame = _run(engine, statement)
    return frame.select(
        pl.col("currency").cast(pl.String),
        pl.col("period_start").cast(pl.Date),
        pl.col("period_end").cast(pl.Date),
        *(pl.col(c).cast(pl.Int64) for c in DSO_COLUMNS[3:]),
    ).sort("currency", "period_start")


def _rounded(num: str, den: str, idiv: str) -> str:
    """Num ÷ den rounded half away from zero in integer SQL; NULL when den is 0.

    PostgreSQL's SUM of bigints is numeric, whose `/` keeps the fraction: `div` truncates.
    """
    magnitude = "(" + idiv.format(a=f"abs({num}) * 2 + abs({den})", b=f"abs({den}) * 2") + ")"
    return (
        f"(CASE WHEN {den} = 0 THEN NULL WHEN ({num} < 0) <> ({den} < 0) "
        f"THEN -{magnitude} ELSE {magnitude} END)"
    )


def _run(engine: Engine, statement: str) -> pl.DataFrame:
    with engine.connect() as connection:
        result = connection.execute(text(statement))
        columns = list(result.keys())
        rows = [tuple(r) for r in result]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    dates = [c for c in ("period_start", "period_end") if c in columns]
    if dates and frame.schema[dates[0]] == pl.String:
        frame = frame.with_columns(pl.col(dates).str.to_date())
    return frame


# --- numpy: the lower bound ---------------------------------------------------------------


@dataclass(frozen=True)
class DenseLedger:
    """Aging's inputs as dense arrays indexed by invoice id (0 = no invoice), days since 1970."""

    total: np.ndarray
    issue: np.ndarray
    due: np.ndarray
    customer: np.ndarray
    currency_code: np.ndarray
    currencies: list[str]
    alloc_invoice: np.ndarray
    alloc_day: np.ndarray
    alloc_amount: np.ndarray
    adj_invoice: np.ndarray
    adj_day: np.ndarray
    adj_amount: np.ndarray


def to_dense(ledger: LedgerFrames) -> DenseLedger:
    """Scatter the invoices into arrays by id; settlements stay as columns."""
    inv = ledger.invoices.collect()
    size = int(inv["invoice_id"].max() or 0) + 1
    ids = inv["invoice_id"].to_numpy()
    currencies = sorted(inv["currency"].unique().to_list())

    def dense(values: np.ndarray, fill: int) -> np.ndarray:
        out = np.full(size, fill, dtype=np.int64)
        out[ids] = values
        return out

    never = np.iinfo(np.int64).max // 4  # not issued yet: id gaps (drafts, voids)
    codes = inv["currency"].replace_strict({c: i for i, c in enumerate(currencies)})
    alloc = ledger.allocations.collect()
    adj = ledger.adjustments.collect()
    return DenseLedger(
        total=dense(inv["total_minor"].to_numpy(), 0),
        issue=dense(inv["issue_date"].cast(pl.Int32).to_numpy(), never),
        due=dense(inv["due_date"].cast(pl.Int32).to_numpy(), 0),
        customer=dense(inv["customer_id"].to_numpy(), 0),
        currency_code=dense(codes.to_numpy(), 0),
        currencies=currencies,
        alloc_invoice=alloc["invoice_id"].to_numpy(),
        alloc_day=alloc["applied_date"].cast(pl.Int32).to_numpy(),
        alloc_amount=alloc["amount_minor"].to_numpy(),
        adj_invoice=adj["invoice_id"].to_numpy(),
        adj_day=adj["date"].cast(pl.Int32).to_numpy(),
        adj_amount=adj["amount_minor"].to_numpy(),
    )


def numpy_aging(dense: DenseLedger, as_of: dt.date) -> np.ndarray:
    """Open balance per (currency, customer, bucket): a (currencies, customers, 5) int64 array.

    bincount sums in float64, exact while every sum stays below 2**53 minor
    units (checked against Polars by the caller).
    """
    day = (as_of - _EPOCH).days
    size = dense.total.size
    keep = dense.alloc_day <= day
    settled = np.bincount(dense.alloc_invoice[keep], dense.alloc_amount[keep], minlength=size)
    keep = dense.adj_day <= day
    settled += np.bincount(dense.adj_invoice[keep], dense.adj_amount[keep], minlength=size)
    open_minor = dense.total - settled.astype(np.int64)
    owing = (open_minor > 0) & (dense.issue <= day)
    late = day - dense.due[owing]
    bucket = np.searchsorted(np.array(BREAKS), late, side="left")
    customers = int(dense.customer.max()) + 1
    key = (dense.currency_code[owing] * customers + dense.customer[owing]) * len(LABELS) + bucket
    sums = np.bincount(
        key, open_minor[owing], minlength=len(dense.currencies) * customers * len(LABELS)
    )
    return sums.astype(np.int64).reshape(len(dense.currencies), customers, len(LABELS))


def numpy_aging_frame(dense: DenseLedger, sums: np.ndarray) -> pl.DataFrame:
    """The numpy result in `compare_aging`'s shape (outside the timed part)."""
    rows = []
    for c, currency in enumerate(dense.currencies):
        for customer in range(sums.shape[1]):
            buckets = sums[c, customer].tolist()
            if sum(buckets):
                rows.append((currency, customer, *buckets, sum(buckets)))
    return compare_aging(pl.DataFrame(rows, schema=AGING_COLUMNS, orient="row"))

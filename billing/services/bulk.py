"""Bulk loading of a whole generated ledger: the one write that skips row-by-row posting.

`billing seed-demo` fills an empty database with up to millions of rows in a few
minutes; posting them one at a time through `post_payment` would take hours. So
the demo generator (`sample_data.generator`) computes every row itself,
running sums included, and this service, still the only code that writes:

1. checks the role (admin only) and that the ledger is empty, because a demo load
   beside real data would mix invented customers into real receivables;
2. checks the rows against the SPEC §2 rules in Polars before touching the
   database, so a generator bug is refused with a clear message instead of
   being found later by `billing check` (unique keys are left to the
   database's own unique constraints: a duplicate aborts the whole load);
3. inserts with each driver's fast path (SQLite `executemany` of plain tuples,
   PostgreSQL `COPY FROM STDIN`) inside the caller's transaction, with the ids
   the generator chose, so allocations reference invoices without reading back;
4. writes one audit row for the whole load (per-row audit would double its size
   and say nothing a reader could use).

`assign_demo_owners` then hands the demo customers to the demo users who chase
them, in one UPDATE, when `seed-demo` has just created those users.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields

import polars as pl
from psycopg import sql as pg_sql
from sqlalchemy import Connection, Table, case, exists, func, insert, select, text, update
from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Conflict, Problem, ValidationError
from billing.models import (
    ActivityKind,
    Adjustment,
    AdjustmentKind,
    Allocation,
    CollectionActivity,
    Customer,
    Dispute,
    DisputeResolution,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Payment,
    User,
)
from billing.roles import Action, Actor, Role, require
from billing.services.customers import OWNER_ROLES
from billing.validation import Checker

# Rows per executemany / COPY chunk: large enough to amortise the call, small
# enough that one chunk's Python tuples stay a few tens of megabytes.
SQLITE_CHUNK_ROWS = 50_000
POSTGRES_CHUNK_ROWS = 100_000

# The ledger's tables in foreign-key order (parents first).
LEDGER_MODELS = (
    Customer,
    Invoice,
    InvoiceLine,
    Payment,
    Allocation,
    Adjustment,
    CollectionActivity,
    Dispute,
)
# Columns the loader fills itself with the actor's name, the way every service stamps its
# rows: always (None), or only where the named column is set (a dispute's closer).
_STAMPED: dict[str, str | None] = {
    "created_by": None,
    "opened_by": None,
    "closed_by": "closed_date",
}


@dataclass(frozen=True)
class DemoLedger:
    """A complete ledger as columns, one Polars frame per table, ids included (ascending).

    Column names are the tables' column names; dates are `pl.Date`, timestamps
    `pl.Datetime` in UTC, money integer minor units, enums their text values.
    `created_by`, `opened_by` and `closed_by` are left out: the loader stamps
    them with the actor's name (`closed_by` on closed disputes only).
    """

    customers: pl.DataFrame
    invoices: pl.DataFrame
    invoice_lines: pl.DataFrame
    payments: pl.DataFrame
    allocations: pl.DataFrame
    adjustments: pl.DataFrame
    collection_activities: pl.DataFrame
    disputes: pl.DataFrame
    seed: int
    today: dt.date

    def frames(self) -> Iterator[tuple[Table, pl.DataFrame]]:
        """Each table with its rows, in the order they must be inserted."""
        for model in LEDGER_MODELS:
            table = model.__table__
            assert isinstance(table, Table)
            yield table, getattr(self, table.name)

    def counts(self) -> dict[str, int]:
        """Rows per table, for the audit entry and the seed summary."""
        return {
            f.name: getattr(self, f.name).height
            for f in fields(self)
            if isinstance(getattr(self, f.name), pl.DataFrame)
        }


def ensure_empty_ledger(session: Session) -> None:
    """Raise `Conflict` unless the ledger tables hold no rows (users and settings may exist)."""
    found = {
        model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Customer, Invoice, Payment)
    }
    others = session.scalar(
        select(
            exists(select(Allocation.id))
            | exists(select(Adjustment.id))
            | exists(select(CollectionActivity.id))
            | exists(select(InvoiceLine.id))
            | exists(select(Dispute.id))
        )
    )
    if any(found.values()) or others:
        held = (
            ", ".join(f"{n} {name if n != 1 else name[:-1]}" for name, n in found.items() if n)
            or "ledger rows"
        )
        raise Conflict(
            f"seed-demo only fills an empty database; this one already holds {held}. "
            "Use a new database (BILLING_DATABASE_URL) for the demo."
        )


def load_demo_ledger(session: Session, *, actor: Actor, rows: DemoLedger) -> None:
    """Insert a generated ledger into an empty database, in the caller's transaction."""
    require(actor, Action.LOAD_DEMO_DATA)
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # Two concurrent loads would both see an empty ledger; the second must wait and
        # then find it full. (SQLite's BEGIN IMMEDIATE already serialises writers.)
        session.execute(text("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE"))
    ensure_empty_ledger(session)
    problems = check_demo_ledger(rows)
    if problems:
        raise ValidationError(problems)
    session.flush()
    for table, frame in rows.frames():
        if frame.is_empty():
            continue
        stamped = frame.with_columns(_stamps(table, actor.name))
        if postgres:
            _copy_postgres(connection, table, stamped)
        else:
            _executemany(connection, table, stamped)
    if postgres:
        _reset_sequences(session)
    first, last = _date_range(rows)
    audit.record(
        session,
        actor=actor,
        action="load_demo_data",
        entity="ledger",
        entity_id=f"seed {rows.seed}",
        before=None,
        after={
            "seed": rows.seed,
            "today": rows.today.isoformat(),
            "first_issue_date": first,
            "last_issue_date": last,
            **rows.counts(),
        },
    )
    session.flush()


def _stamps(table: Table, name: str) -> list[pl.Expr]:
    stamp = pl.lit(name, dtype=pl.String)
    return [
        (stamp if when is None else pl.when(pl.col(when).is_not_null()).then(stamp)).alias(column)
        for column, when in _STAMPED.items()
        if column in table.c
    ]


def assign_demo_owners(session: Session, *, actor: Actor, owners: Mapping[int, str]) -> int:
    """Give customers (by id) their owners in one UPDATE, right after a demo load.

    `assign_owner` takes one customer at a time, each with a row lock and an
    audit row; the demo hands out all of its customers at once, so this checks
    the owners the same way (active users who may chase), writes one statement
    and one audit row. Customers not in `owners` are left as they are.
    """
    require(actor, Action.LOAD_DEMO_DATA)
    require(actor, Action.ASSIGN_OWNER)
    if not owners:
        return 0
    names = sorted(set(owners.values()))
    roles = dict(
        session.execute(
            select(User.username, User.role).where(User.username.in_(names), User.active)
        ).all()
    )
    ids = sorted(owners)
    known = set(session.scalars(select(Customer.id).where(Customer.id.in_(ids))))
    check = Checker()
    for name in names:
        if name not in roles:
            check.add("owner", name, "is not an active user of this office")
        elif Role(roles[name]) not in OWNER_ROLES:
            check.add("owner", name, f"is {roles[name]}, a read-only role; pick someone who chases")
    missing = [i for i in ids if i not in known]
    if missing:
        check.add("customer_id", missing[0], f"no such customer ({len(missing)} ids)")
    check.done()
    session.execute(
        update(Customer)
        .where(Customer.id.in_(ids))
        .values(owner=case(dict(owners), value=Customer.id))
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        actor=actor,
        action="assign_demo_owners",
        entity="customers",
        entity_id=f"{len(ids)} customers",
        before=None,
        after=dict(sorted(Counter(owners.values()).items())),
    )
    session.flush()
    return len(ids)


def _date_range(rows: DemoLedger) -> tuple[str | None, str | None]:
    issue = rows.invoices.get_column("issue_date") if rows.invoices.height else None
    if issue is None:
        return None, None
    return str(issue.min()), str(issue.max())


# -- writing ----------------------------------------------------------------------------------


def _executemany(connection: Connection, table: Table, frame: pl.DataFrame) -> None:
    """SQLite: one prepared INSERT, executed over chunks of plain tuples."""
    compiled = insert(table).compile(dialect=connection.dialect, column_keys=frame.columns)
    order = list(compiled.positiontup or [])
    if sorted(order) != sorted(frame.columns):
        raise ValueError(f"{table.name}: columns {sorted(frame.columns)} do not fill {order}")
    as_stored = (
        # The text SQLAlchemy's SQLite types store: ISO dates, naive UTC timestamps.
        pl.col(pl.Date).dt.strftime("%Y-%m-%d"),
        pl.col(pl.Datetime).dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%d %H:%M:%S%.6f"),
    )
    statement = str(compiled)
    for chunk in frame.select(order).iter_slices(SQLITE_CHUNK_ROWS):
        connection.exec_driver_sql(statement, chunk.with_columns(*as_stored).rows())


def _copy_postgres(connection: Connection, table: Table, frame: pl.DataFrame) -> None:
    """PostgreSQL: COPY FROM STDIN in CSV, written by Polars chunk by chunk."""
    unknown = set(frame.columns) - set(table.c.keys())
    if unknown:
        raise ValueError(f"{table.name}: unknown columns {sorted(unknown)}")
    statement = pg_sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(
        pg_sql.Identifier(table.name),
        pg_sql.SQL(", ").join(pg_sql.Identifier(c) for c in frame.columns),
    )
    ready = frame.with_columns(pl.col(pl.Datetime).dt.convert_time_zone("UTC"))
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for chunk in ready.iter_slices(POSTGRES_CHUNK_ROWS):
            # Polars writes NULL as an empty field and "" quoted: exactly COPY's CSV rules.
            copy.write(
                chunk.write_csv(
                    include_header=False,
                    date_format="%Y-%m-%d",
                    datetime_format="%Y-%m-%d %H:%M:%S%.6f+00",
                )
            )


def _reset_sequences(session: Session) -> None:
    """Move each id sequence past the ids loaded, so the services' next insert gets a new one."""
    for model in LEDGER_MODELS:
        table = model.__table__
        assert isinstance(table, Table)
        sequence = func.pg_get_serial_sequence(table.name, "id")
        last = select(func.max(table.c.id)).scalar_subquery()
        session.execute(select(func.setval(sequence, func.coalesce(last, 1), last.is_not(None))))


# -- checking ---------------------------------------------------------------------------------


class _Findings:
    """Collects rule breaches as `Problem`s: the rule, an example key, how many rows."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def check(self, field: str, bad: pl.LazyFrame, key: str, message: str) -> None:
        # Lazy, so each rule reads only the columns it needs through its joins.
        found = bad.select(pl.len().alias("rows"), pl.col(key).first().alias("key")).collect()
        rows, example = found.row(0)
        if rows:
            self.problems.append(Problem(field, example, f"{message} ({rows} rows)"))


def _sum_by(frame: pl.LazyFrame, key: str, name: str) -> pl.LazyFrame:
    return frame.group_by(key).agg(pl.col("amount_minor").sum().alias(name))


def check_demo_ledger(rows: DemoLedger) -> list[Problem]:
    """Every SPEC §2 rule the rows break, checked in memory before anything is written."""
    f = _Findings()
    for table, frame in rows.frames():
        missing = [
            c.name
            for c in table.columns
            if not c.nullable and c.name not in frame.columns and c.name not in _STAMPED
        ]
        if missing:
            f.problems.append(Problem(table.name, missing, "required columns are missing"))
        else:
            # Ascending ids are unique ids (checked without a hash table), and insert fastest.
            f.check(
                f"{table.name}.id",
                frame.lazy().filter(pl.col("id").diff() <= 0),
                "id",
                "must be strictly increasing",
            )
    if f.problems:
        return f.problems
    customers, invoices, lines = (
        rows.customers.lazy(),
        rows.invoices.lazy(),
        rows.invoice_lines.lazy(),
    )
    payments, allocations, adjustments = (
        rows.payments.lazy(),
        rows.allocations.lazy(),
        rows.adjustments.lazy(),
    )
    activities, disputes = rows.collection_activities.lazy(), rows.disputes.lazy()
    # Unique keys (invoice numbers, payment references, line numbers) are left to the
    # database's unique constraints: a duplicate aborts the insert and rolls the load back,
    # and hashing millions of keys here would cost a third of the loader's peak memory.

    owner = customers.select(pl.col("id").alias("customer_id"), pl.col("currency").alias("cc"))
    inv = invoices.join(owner, on="customer_id", how="left")
    f.check(
        "invoices.customer_id",
        inv.filter(pl.col("cc").is_null()),
        "invoice_number",
        "no such customer",
    )
    f.check(
        "invoices.currency",
        inv.filter(pl.col("cc").is_not_null() & (pl.col("currency") != pl.col("cc"))),
        "invoice_number",
        "differs from the customer's currency",
    )
    f.check(
        "invoices.due_date",
        invoices.filter(pl.col("due_date") < pl.col("issue_date")),
        "invoice_number",
        "is before the issue date",
    )
    statuses = [s.value for s in InvoiceStatus]
    f.check(
        "invoices.status",
        invoices.filter(~pl.col("status").is_in(statuses)),
        "invoice_number",
        f"is not one of {statuses}",
    )
    f.check(
        "invoices.total_minor",
        invoices.filter(
            (pl.col("status") != InvoiceStatus.DRAFT.value) & (pl.col("total_minor") <= 0)
        ),
        "invoice_number",
        "a posted invoice must total more than zero",
    )

    f.check(
        "invoice_lines.amounts",
        lines.filter(
            (pl.col("net_minor") < 0) | (pl.col("tax_minor") < 0) | (pl.col("unit_price_minor") < 0)
        ),
        "id",
        "net, tax and unit price must not be negative",
    )
    line_totals = lines.group_by("invoice_id").agg(
        (pl.col("net_minor") + pl.col("tax_minor")).sum().alias("lines_minor")
    )
    f.check(
        "invoice_lines.invoice_id",
        lines.join(invoices.select(pl.col("id").alias("invoice_id")), on="invoice_id", how="anti"),
        "id",
        "no such invoice",
    )
    settled = (
        invoices.join(line_totals, left_on="id", right_on="invoice_id", how="left")
        .join(
            _sum_by(allocations, "invoice_id", "allocated"),
            left_on="id",
            right_on="invoice_id",
            how="left",
        )
        .join(
            _sum_by(adjustments, "invoice_id", "adjusted"),
            left_on="id",
            right_on="invoice_id",
            how="left",
        )
        .with_columns(pl.col("lines_minor", "allocated", "adjusted").fill_null(0))
    )
    f.check(
        "invoices.total_minor",
        settled.filter(pl.col("total_minor") != pl.col("lines_minor")),
        "invoice_number",
        "differs from the sum of its lines",
    )
    f.check(
        "invoices.settled_minor",
        settled.filter(pl.col("settled_minor") != pl.col("allocated") + pl.col("adjusted")),
        "invoice_number",
        "differs from its allocations plus adjustments",
    )
    f.check(
        "invoices.settled_minor",
        settled.filter(pl.col("allocated") + pl.col("adjusted") > pl.col("total_minor")),
        "invoice_number",
        "allocations plus adjustments exceed the total",
    )

    pay = payments.join(owner, on="customer_id", how="left")
    f.check(
        "payments.customer_id",
        pay.filter(pl.col("cc").is_null()),
        "payment_reference",
        "no such customer",
    )
    f.check(
        "payments.currency",
        pay.filter(pl.col("cc").is_not_null() & (pl.col("currency") != pl.col("cc"))),
        "payment_reference",
        "differs from the customer's currency",
    )
    used = pay.join(
        _sum_by(allocations, "payment_id", "used"), left_on="id", right_on="payment_id", how="left"
    ).with_columns(pl.col("used").fill_null(0))
    f.check(
        "payments.allocated_minor",
        used.filter(pl.col("allocated_minor") != pl.col("used")),
        "payment_reference",
        "differs from the sum of its allocations",
    )
    f.check(
        "payments.allocated_minor",
        used.filter(pl.col("used") > pl.col("amount_minor")),
        "payment_reference",
        "allocations exceed the payment",
    )

    target = invoices.select(
        pl.col("id").alias("invoice_id"),
        pl.col("customer_id").alias("invoice_customer"),
        pl.col("currency").alias("invoice_currency"),
        "status",
        "issue_date",
    )
    source = payments.select(
        pl.col("id").alias("payment_id"),
        pl.col("customer_id").alias("payment_customer"),
        pl.col("currency").alias("payment_currency"),
        "received_date",
    )
    alloc = allocations.join(target, on="invoice_id", how="left").join(
        source, on="payment_id", how="left"
    )
    f.check(
        "allocations.invoice_id",
        alloc.filter(pl.col("status").is_null() | (pl.col("status") != InvoiceStatus.POSTED.value)),
        "id",
        "is not a posted invoice",
    )
    f.check(
        "allocations.payment_id",
        alloc.filter(
            pl.col("payment_customer").is_null()
            | (pl.col("payment_customer") != pl.col("invoice_customer"))
            | (pl.col("payment_currency") != pl.col("invoice_currency"))
        ),
        "id",
        "is not a payment of the invoice's customer and currency",
    )
    f.check(
        "allocations.applied_date",
        alloc.filter(
            (pl.col("applied_date") < pl.col("received_date"))
            | (pl.col("applied_date") < pl.col("issue_date"))
        ),
        "id",
        "is before the payment was received or the invoice issued",
    )

    adj = adjustments.join(target, on="invoice_id", how="left")
    f.check(
        "adjustments.invoice_id",
        adj.filter(pl.col("status").is_null() | (pl.col("status") != InvoiceStatus.POSTED.value)),
        "id",
        "is not a posted invoice",
    )
    f.check(
        "adjustments.date",
        adj.filter(pl.col("date") < pl.col("issue_date")),
        "id",
        "is before the invoice's issue date",
    )
    kinds = [k.value for k in AdjustmentKind]
    f.check(
        "adjustments.kind",
        adjustments.filter(~pl.col("kind").is_in(kinds)),
        "id",
        f"is not one of {kinds}",
    )

    for name, amounts in (
        ("payments", payments),
        ("allocations", allocations),
        ("adjustments", adjustments),
    ):
        f.check(
            f"{name}.amount_minor",
            amounts.filter(pl.col("amount_minor") <= 0),
            "id",
            "must be positive",
        )

    act = activities.join(target, on="invoice_id", how="left")
    f.check(
        "collection_activities.invoice_id",
        act.filter(
            pl.col("invoice_id").is_not_null()
            & (
                pl.col("invoice_customer").is_null()
                | (pl.col("invoice_customer") != pl.col("customer_id"))
            )
        ),
        "id",
        "is not an invoice of the activity's customer",
    )
    f.check(
        "collection_activities.customer_id",
        activities.join(owner, on="customer_id", how="anti"),
        "id",
        "no such customer",
    )
    activity_kinds = [k.value for k in ActivityKind]
    f.check(
        "collection_activities.kind",
        activities.filter(~pl.col("kind").is_in(activity_kinds)),
        "id",
        f"is not one of {activity_kinds}",
    )
    f.check(
        "collection_activities.promise_amount_minor",
        activities.filter(pl.col("promise_amount_minor") <= 0),
        "id",
        "must be positive",
    )
    _check_disputes(f, disputes, target=target, owner=owner, adjustments=adjustments)
    return f.problems


def _check_disputes(
    f: _Findings,
    disputes: pl.LazyFrame,
    *,
    target: pl.LazyFrame,
    owner: pl.LazyFrame,
    adjustments: pl.LazyFrame,
) -> None:
    """The rules `open_dispute` and the closing services keep, and the table's constraints."""
    disp = disputes.join(target, on="invoice_id", how="left")
    f.check(
        "disputes.invoice_id",
        disp.filter(
            pl.col("invoice_customer").is_null()
            | (pl.col("invoice_customer") != pl.col("customer_id"))
            | (pl.col("status") != InvoiceStatus.POSTED.value)
        ),
        "id",
        "is not a posted invoice of the dispute's customer",
    )
    f.check(
        "disputes.customer_id",
        disputes.join(owner, on="customer_id", how="anti"),
        "id",
        "no such customer",
    )
    f.check(
        "disputes.opened_date",
        disp.filter(pl.col("opened_date") < pl.col("issue_date")),
        "id",
        "is before the invoice's issue date",
    )
    resolutions = [r.value for r in DisputeResolution]
    f.check(
        "disputes.resolution",
        disputes.filter(~pl.col("resolution").is_in(resolutions)),
        "id",
        f"is not one of {resolutions}",
    )
    f.check(
        "disputes.closed_date",
        disputes.filter(pl.col("closed_date").is_null() != pl.col("resolution").is_null()),
        "id",
        "a closed dispute needs a resolution, an open one neither",
    )
    f.check(
        "disputes.closed_date",
        disputes.filter(pl.col("closed_date") < pl.col("opened_date")),
        "id",
        "is before the dispute was opened",
    )
    credit = adjustments.select(
        pl.col("id").alias("adjustment_id"),
        pl.col("invoice_id").alias("credited_invoice"),
        pl.col("kind").alias("adjustment_kind"),
    )
    settled_by_credit = (pl.col("resolution") == DisputeResolution.CREDIT_NOTE.value).fill_null(
        value=False
    )
    f.check(
        "disputes.adjustment_id",
        disputes.join(credit, on="adjustment_id", how="left").filter(
            (settled_by_credit != pl.col("adjustment_id").is_not_null())
            | (pl.col("credited_invoice") != pl.col("invoice_id"))
            | (pl.col("adjustment_kind") != AdjustmentKind.CREDIT_NOTE.value)
            | (pl.col("adjustment_id").is_not_null() & pl.col("credited_invoice").is_null())
        ),
        "id",
        "a credit-note resolution needs a credit note on the disputed invoice, others none",
    )
    f.check(
        "disputes.invoice_id",
        disputes.filter(pl.col("closed_date").is_null())
        .group_by("invoice_id")
        .agg(pl.len().alias("open"), pl.col("id").min())
        .filter(pl.col("open") > 1),
        "id",
        "more than one open dispute on the invoice",
    )

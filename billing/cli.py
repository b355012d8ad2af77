"""The `billing` command line (SPEC §4): schema, demo data, CSV import, ledger check, users, backup.

Who is acting: the CLI runs as ``Actor("cli:<os user>", Role.ADMIN)``. Whoever
can run it against the database (can read and write the SQLite file, or holds
the PostgreSQL credentials in `BILLING_DATABASE_URL`) already controls the
data, so the CLI is the operator's tool and asks for no login; the OS user name
is what the audit log records.

The database is `BILLING_DATABASE_URL` (default: SQLite ``data/billing.db``
under the working directory), resolved by `billing.db.database_url`.

Every command exits 0 on success and 1 with one line ``error: …`` on stderr
otherwise; user errors never show a traceback. Usage errors (a missing or
mistyped option) are one line too and exit 2, Click's convention. An import
refused for several problems prints one line per problem, then the one-line
summary.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from typer.exceptions import TyperException

from billing.backup import (
    backup_database,
    inspect_backup,
    postgres_commands,
    restore_database,
    sqlite_path,
)
from billing.checks import check_ledger
from billing.csv_import import ImportFailed, import_csv
from billing.db import (
    database_url,
    make_engine,
    read_session,
    verify_connection_settings,
    write_session,
)
from billing.errors import BillingError, Problem, ValidationError
from billing.models import Allocation, Invoice, Payment
from billing.money import format_amount
from billing.reports import (
    aging_csv,
    aging_report,
    aging_table,
    kpi_csv,
    kpi_report,
    kpi_table,
    parse_buckets,
)
from billing.repository import (
    load_collection_frames,
    load_ledger_frames,
    load_payment_references,
    load_settings,
)
from billing.roles import Actor, Role
from billing.schema import current_revision, upgrade_database
from billing.services import add_user
from billing.statement import build_statement
from billing.statement_render import statement_csv, statement_pdf
from billing.validation import parse_date
from queries.aging import Basis
from queries.ledger import LedgerFrames

PROGRESS_MIN_ROWS = 1000

app = typer.Typer(
    name="billing",
    help="Billing Office: receivables ledger administration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
users_app = typer.Typer(help="Manage the people who log in.", no_args_is_help=True)
app.add_typer(users_app, name="users")
report_app = typer.Typer(help="Receivables reports (SPEC §3 figures).", no_args_is_help=True)
app.add_typer(report_app, name="report")


class ReportFormat(StrEnum):
    """How a report is printed: aligned text for people, CSV for spreadsheets, JSON for scripts."""

    TABLE = "table"
    CSV = "csv"
    JSON = "json"


class ImportKind(StrEnum):
    """The four kinds of CSV file (SPEC §4)."""

    CUSTOMERS = "customers"
    INVOICES = "invoices"
    PAYMENTS = "payments"
    ADJUSTMENTS = "adjustments"


def cli_actor() -> Actor:
    """The operator: the OS user, with every permission (see the module docstring)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no USER variable and no passwd entry (some containers)
        user = "unknown"
    return Actor(f"cli:{user}"[:64], Role.ADMIN)


def shown_url(url: str) -> str:
    """The database URL with any password masked, fit to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a valid URL)"


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    raise typer.Exit(1)


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into one line on stderr and exit status 1."""
    url = database_url()
    try:
        yield
    except ImportFailed as failure:
        for problem in failure.problems:
            typer.echo(problem.describe(failure.report.filename), err=True)
        count = len(failure.problems)
        _fail(f"import refused: {count} problem{'s' if count != 1 else ''}; nothing was written")
    except BillingError as error:
        _fail(str(error))
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        _fail(f"cannot reach the database at {shown_url(url)}: {reason}")
    except DatabaseError as error:  # not a database file, a constraint, a server refusal
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        _fail(f"the database at {shown_url(url)} refused: {reason}")
    except ArgumentError as error:
        _fail(f"BILLING_DATABASE_URL {shown_url(url)} is not usable: {error}")
    except OSError as error:
        _fail(f"cannot open the database at {shown_url(url)}: {error}")


def _engine(*, need_schema: bool = True) -> Engine:
    try:
        engine = make_engine(database_url())
    except ImportError as error:  # the URL names a driver that is not installed
        _fail(f"no database driver for {shown_url(database_url())}: {error}")
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if need_schema and path and path != ":memory:" and not Path(path).exists():
        _fail(f"there is no database at {path}; run: billing init-db")
    if need_schema and current_revision(engine) is None:
        _fail(f"the database at {shown_url(database_url())} has no tables; run: billing init-db")
    if path is None or path == ":memory:" or Path(path).exists():  # init-db makes a new file
        verify_connection_settings(engine)
    return engine


@app.command("init-db")
def init_db() -> None:
    """Create the schema, or upgrade it to this version; safe to run again."""
    with _user_errors():
        engine = _engine(need_schema=False)
        upgrade_database(engine)
        typer.echo(
            f"database ready at {shown_url(database_url())} "
            f"(schema revision {current_revision(engine)})"
        )


@app.command("seed-demo")
def seed_demo(
    invoices: Annotated[int, typer.Option(min=1, help="How many invoices to generate.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same data.")] = 42,
    today: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of the data (default: today)."),
    ] = None,
) -> None:
    """Fill an empty database with realistic demo data: the same for the same seed and day."""
    try:
        from sample_data.generator import seed_demo as generate  # noqa: PLC0415 (heavy)
    except ImportError as error:
        _fail(f"the demo data generator is not available: {error}")
    with _user_errors():
        summary = generate(
            _engine(need_schema=False),
            invoices=invoices,
            seed=seed,
            today=today.date() if today else None,
        )
        typer.echo(str(summary))


class _ProgressBar:
    """Feeds `import_csv` progress to a bar on stderr, shown only for large files."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._bar: Any = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if total < PROGRESS_MIN_ROWS:
            return
        if self._bar is None:
            bar = typer.progressbar(length=total, label="importing", file=sys.stderr)
            self._bar = self._stack.enter_context(bar)
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        """Finish the bar's line, if one was drawn."""
        self._stack.close()


@app.command("import")
def import_file(
    kind: Annotated[ImportKind, typer.Argument(help="What the file holds.")],
    file: Annotated[
        Path, typer.Argument(help="The CSV file (UTF-8, header row, comma-separated).")
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and count everything, then write nothing.")
    ] = False,
) -> None:
    """Import a CSV file: all or nothing; safe to run again (rows already present are skipped)."""
    progress = _ProgressBar()
    with _user_errors():
        try:
            report = import_csv(
                _engine(),
                actor=cli_actor(),
                kind=kind.value,
                path=file,
                dry_run=dry_run,
                progress=progress,
            )
        finally:
            progress.close()
        typer.echo(report.summary())


@app.command("check")
def check() -> None:
    """Recompute every ledger invariant; exit 1 and list what is broken, if anything."""
    with _user_errors():
        with read_session(_engine()) as session:
            findings = check_ledger(session)
            counts = [
                session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Invoice, Payment, Allocation)
            ]
        if findings:
            for finding in findings:
                typer.echo(finding)
            count = len(findings)
            _fail(f"ledger check failed: {count} finding{'s' if count != 1 else ''}")
        invoices, payments, allocations = counts
        typer.echo(
            f"ledger OK ({invoices} invoices, {payments} payments, {allocations} allocations)"
        )


YesOption = Annotated[
    bool, typer.Option("--yes", help="Go ahead without asking: replace what is there.")
]


def _sqlite_only(command: str, file: Path) -> Engine:
    """The SQLite engine; on PostgreSQL, print the tool to use and fail."""
    url = database_url()
    if make_url(url).get_backend_name() != "sqlite":
        dump, restore = postgres_commands(url, str(file))
        typer.echo(dump if command == "backup" else restore)
        _fail(
            f"billing {command} works on the SQLite database; for PostgreSQL "
            f"use {'pg_dump' if command == 'backup' else 'pg_restore'} as printed above"
        )
    return _engine()


@app.command("backup")
def backup(
    file: Annotated[Path, typer.Argument(help="Where to write the backup (one .db file).")],
    yes: YesOption = False,
) -> None:
    """Copy the SQLite database to FILE, safely while the app is in use."""
    with _user_errors():
        done = backup_database(_sqlite_only("backup", file), file, overwrite=yes)
        typer.echo(
            f"backed up {done.summary.describe()} to {done.path} "
            f"({done.size_bytes / 1e6:.1f} MB in {done.seconds:.2f} s)"
        )


@app.command("restore")
def restore(
    file: Annotated[Path, typer.Argument(help="A backup made by `billing backup`.")],
    yes: YesOption = False,
) -> None:
    """Replace the SQLite database with the backup FILE (the current one is kept beside it)."""
    with _user_errors():
        engine = _sqlite_only("restore", file)
        found = inspect_backup(file)
        if not yes:
            _fail(
                f"{file} holds {found.describe()}; restoring replaces everything in "
                f"{sqlite_path(engine)} (a copy of it is kept); add --yes to go ahead"
            )
        done = restore_database(engine, file, actor=cli_actor())
        typer.echo(
            f"restored {done.restored.describe()} from {done.source} in {done.seconds:.2f} s; "
            f"the ledger it replaced ({done.replaced.describe()}) is kept at {done.safety_copy}"
        )
        typer.echo(
            f"warning: every login was ended ({done.sessions_revoked} open sessions revoked); "
            "everyone must log in again",
            err=True,
        )


def _ledger() -> LedgerFrames:
    with read_session(_engine()) as session:
        return load_ledger_frames(session)


CurrencyOption = Annotated[
    str | None,
    typer.Option(help="Report this currency (needed when the ledger holds several)."),
]
FormatOption = Annotated[ReportFormat, typer.Option("--format", help="Output format.")]


@report_app.command("aging")
def report_aging(
    as_of: Annotated[str, typer.Option("--as-of", help="The date to age at (YYYY-MM-DD).")],
    basis: Annotated[
        Basis, typer.Option(help="Count days past the due date or since the issue date.")
    ] = Basis.DUE,
    buckets: Annotated[
        str, typer.Option(help="Bucket boundaries in days, increasing, comma-separated.")
    ] = "30,60,90",
    output: FormatOption = ReportFormat.TABLE,
    currency: CurrencyOption = None,
) -> None:
    """Open balances by customer and age bucket at a date, with unapplied cash."""
    with _user_errors():
        report = aging_report(
            _ledger(),
            as_of=parse_date(as_of, field="--as-of"),
            basis=basis,
            boundaries=parse_buckets(buckets),
            currency=currency,
        )
        _print_report(report, output, table=aging_table, csv=aging_csv)


@report_app.command("kpis")
def report_kpis(
    start: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period, inclusive.")],
    output: FormatOption = ReportFormat.TABLE,
    currency: CurrencyOption = None,
) -> None:
    """AR, DSO, best possible DSO, ADD, countback DSO, CEI and cash for a period."""
    with _user_errors():
        first = parse_date(start, field="--from")
        last = parse_date(end, field="--to")
        if last < first:
            _fail(f"--to {end} is before --from {start}")
        report = kpi_report(_ledger(), start=first, end=last, currency=currency)
        _print_report(report, output, table=kpi_table, csv=kpi_csv)


def _print_report(
    report: dict[str, Any],
    output: ReportFormat,
    *,
    table: Callable[[dict[str, Any]], str],
    csv: Callable[[dict[str, Any]], str],
) -> None:
    if output is ReportFormat.JSON:
        typer.echo(json.dumps(report, ensure_ascii=False))
    elif output is ReportFormat.CSV:
        typer.echo(csv(report), nl=False)
    else:
        typer.echo(table(report))


STATEMENT_FORMATS = {".pdf": statement_pdf, ".csv": statement_csv}


@app.command("statement")
def statement(
    customer_code: Annotated[
        str, typer.Argument(metavar="CUSTOMER_CODE", help="The customer's code.")
    ],
    as_of: Annotated[str, typer.Option("--as-of", help="The statement date (YYYY-MM-DD).")],
    out: Annotated[
        Path, typer.Option("--out", help="The file to write: FILE.pdf, or FILE.csv for CSV.")
    ],
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="List activity dated after this day (default: 90 days before --as-of).",
        ),
    ] = None,
    buckets: Annotated[
        str | None,
        typer.Option(
            "--buckets",
            help="Aging bucket boundaries in days, e.g. 30,60,90 (default: the office's).",
        ),
    ] = None,
) -> None:
    """Write one customer's statement of account at a date: PDF, or CSV for a .csv file."""
    with _user_errors():
        render = STATEMENT_FORMATS.get(out.suffix.lower())
        if render is None:
            raise ValidationError(Problem("--out", str(out), "must end in .pdf or .csv"))
        day = parse_date(as_of, field="--as-of")
        start = parse_date(since, field="--since") if since is not None else None
        if start is not None and start > day:
            raise ValidationError(Problem("--since", since, f"is after --as-of {as_of}"))
        boundaries = parse_buckets(buckets) if buckets is not None else None
        with read_session(_engine()) as session:
            ledger = load_ledger_frames(session)
            collections = load_collection_frames(session)
            settings = load_settings(session)
            references = load_payment_references(session, customer_code=customer_code)
        built = build_statement(
            ledger,
            customer_code=customer_code,
            as_of=day,
            boundaries=boundaries or settings.aging_buckets,
            company_name=settings.company_name,
            collections=collections,
            since=start,
            payment_references=references,
        )
        _write_whole(out, render(built))
        typer.echo(
            f"statement of {built.customer_code} at {day.isoformat()} written to {out}: "
            f"{built.open_items.height} open item{'' if built.open_items.height == 1 else 's'}, "
            "balance due "
            f"{format_amount(built.balance_due_minor, built.currency)} {built.currency}"
        )


def _write_whole(path: Path, content: bytes) -> None:
    """Write `content` to `path` in one step: a failure leaves no half-written file behind.

    The bytes go to a hidden file beside `path` (created with the usual
    permissions), which then takes `path`'s name at once.
    """
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with partial.open("xb") as file:
            file.write(content)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        _fail(f"cannot write {path}: {error.strerror or error}")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(metavar="NAME", help="The login name.")],
    role: Annotated[Role, typer.Option(help="What the user may do (SPEC §1).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Full name shown in the app (default: NAME).")
    ] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
) -> None:
    """Create a login; the password is asked twice (hidden), or read from stdin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _user_errors():
        engine = _engine()
        with write_session(engine) as session:
            user = add_user(
                session,
                actor=cli_actor(),
                username=username,
                role=role,
                password=password,
                name=name,
                email=email,
            )
            login, user_role = user.username, user.role
        typer.echo(f"user {login} added with role {user_role.value}")


def main(argv: list[str] | None = None) -> NoReturn:
    """The `billing` script: every failure is one `error:` line, usage mistakes included.

    Typer would draw a framed, multi-line box for a missing or mistyped
    option; SPEC §4 promises one line on stderr, which scripts can log. Usage
    errors keep Click's exit status 2; `billing` alone still prints the help.
    """
    try:
        status = app(args=argv, prog_name="billing", standalone_mode=False)
    except TyperException as error:  # Click's usage errors: missing, unknown or bad options
        if type(error).__name__ == "NoArgsIsHelpError":
            typer.echo(error.format_message(), err=True)
        else:
            context = getattr(error, "ctx", None)
            hint = f" (see: {context.command_path} --help)" if context is not None else ""
            typer.echo(f"error: {' '.join(error.format_message().split())}{hint}", err=True)
        sys.exit(error.exit_code)
    except typer.Abort:
        typer.echo("error: interrupted", err=True)
        sys.exit(1)
    sys.exit(status if isinstance(status, int) else 0)


if __name__ == "__main__":
    main()

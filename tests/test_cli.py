"""The `billing` command line (SPEC §4): exit codes, one-line errors, the sample files end to end."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from typer.testing import CliRunner, Result

from billing.cli import app
from billing.db import make_engine, read_session
from billing.models import AuditEntry, Invoice, User
from billing.roles import Role
from billing.services import verify_password

SAMPLES = Path(__file__).resolve().parent.parent / "sample_data"
KINDS = ["customers", "invoices", "payments", "adjustments"]


@pytest.fixture
def cli(database_url: str) -> CliRunnerFor:
    """Runs `billing …` against an empty database on each backend."""
    return CliRunnerFor(database_url)


class CliRunnerFor:
    """A CliRunner bound to one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(
            app, list(args), input=input, env={"BILLING_DATABASE_URL": self.url}
        )

    def ready(self) -> None:
        result = self("init-db")
        assert result.exit_code == 0, result.stderr

    def loaded(self) -> None:
        self.ready()
        for kind in KINDS:
            result = self("import", kind, str(SAMPLES / f"{kind}.csv"))
            assert result.exit_code == 0, result.stderr


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines, "an error is reported on stderr"
    assert lines[-1].startswith("error: ")
    assert "Traceback" not in result.output + result.stderr
    return lines[-1]


def test_init_db_twice(cli: CliRunnerFor) -> None:
    for _ in range(2):
        result = cli("init-db")
        assert result.exit_code == 0, result.stderr
        assert result.stdout.startswith("database ready at ")


def test_sample_files_then_check(cli: CliRunnerFor) -> None:
    cli.ready()
    summaries = []
    for kind in KINDS:
        result = cli("import", kind, str(SAMPLES / f"{kind}.csv"))
        assert result.exit_code == 0, result.stderr
        summaries.append(result.stdout.strip())
    assert summaries == [
        "customers.csv: 7 rows of customers, 7 created, 0 already present",
        "invoices.csv: 15 rows of invoices, 15 created, 0 already present",
        "payments.csv: 10 rows of payments, 10 created, 0 already present",
        "adjustments.csv: 2 rows of adjustments, 2 created, 0 already present",
    ]
    result = cli("check")
    assert result.exit_code == 0, result.stderr
    # 12 allocations: 10 payments, of which TRF-88102 and CHK-1190 split over two invoices.
    assert result.stdout.strip() == "ledger OK (15 invoices, 10 payments, 12 allocations)"
    again = cli("import", "payments", str(SAMPLES / "payments.csv"))
    assert (
        again.stdout.strip() == "payments.csv: 10 rows of payments, 0 created, 10 already present"
    )
    with read_session(make_engine(cli.url)) as s:
        actors = set(s.scalars(select(AuditEntry.actor)))
    assert all(a.startswith("cli:") for a in actors)


def test_dry_run_writes_nothing(cli: CliRunnerFor) -> None:
    cli.ready()
    result = cli("import", "customers", str(SAMPLES / "customers.csv"), "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "customers.csv: 7 rows of customers, 7 would be created, 0 already present "
        "(dry run: nothing was written)"
    )
    with read_session(make_engine(cli.url)) as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_import_refused_prints_each_problem_then_one_summary(
    cli: CliRunnerFor, tmp_path: Path
) -> None:
    cli.ready()
    bad = tmp_path / "customers.csv"
    bad.write_text("customer_code,name,currency\nC1,Acme,USD\nC2,Bolt,US$\nC3,,USD\n")
    result = cli("import", "customers", str(bad))
    assert one_error_line(result) == "error: import refused: 2 problems; nothing was written"
    assert result.stderr.splitlines()[:-1] == [
        "customers.csv line 3, column currency, value 'US$': is not an ISO 4217 currency code",
        "customers.csv line 4, column name, value '': is required",
    ]
    assert result.stdout == ""


def test_business_error_is_one_line(cli: CliRunnerFor) -> None:
    cli.ready()
    result = cli("users", "add", "bob", "--role", "clerk", "--password-stdin", input="short\n")
    assert one_error_line(result) == "error: password '…': must be at least 8 characters"


def test_database_without_schema(cli: CliRunnerFor, database_url: str) -> None:
    result = cli("check")
    if database_url.startswith("sqlite"):
        # A read never creates the file it was pointed at.
        path = database_url.removeprefix("sqlite:///")
        assert (
            one_error_line(result) == f"error: there is no database at {path}; run: billing init-db"
        )
        assert not Path(path).exists()
    else:
        assert one_error_line(result).endswith("has no tables; run: billing init-db")


def test_a_file_that_is_not_a_database_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_bytes(b"these are not the pages of a database" * 200)
    result = CliRunner().invoke(
        app, ["check"], env={"BILLING_DATABASE_URL": f"sqlite:///{garbage}"}
    )
    assert one_error_line(result) == (
        f"error: the database at sqlite:///{garbage} refused: file is not a database"
    )


def test_unreachable_database_hides_the_password() -> None:
    runner = CliRunner()
    url = "postgresql://ops:s3cret@127.0.0.1:1/billing"
    result = runner.invoke(app, ["check"], env={"BILLING_DATABASE_URL": url})
    line = one_error_line(result)
    assert line.startswith("error: cannot reach the database at postgresql://ops:***@127.0.0.1:1/")
    assert "s3cret" not in result.stderr


def test_usage_error_exits_non_zero(cli: CliRunnerFor) -> None:
    result = cli("import", "vendors", "x.csv")
    assert result.exit_code == 2


def test_users_add_from_stdin(cli: CliRunnerFor) -> None:
    cli.ready()
    result = cli(
        "users",
        "add",
        "alice",
        "--role",
        "manager",
        "--password-stdin",
        "--name",
        "Alice Moreau",
        input="correct horse battery\nignored second line\n",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "user alice added with role manager"
    with read_session(make_engine(cli.url)) as s:
        user = s.scalars(select(User).where(User.username == "alice")).one()
    assert (user.role, user.name) == (Role.MANAGER, "Alice Moreau")
    assert verify_password("correct horse battery", user.password_hash)
    assert not verify_password("ignored second line", user.password_hash)
    again = cli("users", "add", "alice", "--role", "clerk", "--password-stdin", input="x" * 9)
    assert one_error_line(again) == "error: user 'alice' already exists"


def test_users_add_with_prompt(cli: CliRunnerFor) -> None:
    cli.ready()
    result = cli("users", "add", "carol", "--role", "finance", input="pass-word-1\npass-word-1\n")
    assert result.exit_code == 0, result.stderr
    assert "pass-word-1" not in result.stdout
    with read_session(make_engine(cli.url)) as s:
        user = s.scalars(select(User).where(User.username == "carol")).one()
    assert verify_password("pass-word-1", user.password_hash)


def test_broken_ledger_fails_the_check(cli: CliRunnerFor) -> None:
    cli.loaded()
    engine = make_engine(cli.url)
    with engine.begin() as connection:  # a hand edit behind the services' back
        connection.execute(
            text("UPDATE invoices SET settled_minor = settled_minor + 1 WHERE invoice_number = :n"),
            {"n": "INV-1011"},
        )
    engine.dispose()
    result = cli("check")
    assert one_error_line(result) == "error: ledger check failed: 1 finding"
    assert result.stdout.splitlines() == [
        "invoice running sum wrong: INV-1011: settled_minor 1 but rows sum to 0"
    ]


def test_seed_demo(cli: CliRunnerFor) -> None:
    cli.ready()
    result = cli("seed-demo", "--invoices", "40", "--seed", "7")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip()
    assert cli("check").exit_code == 0
    with read_session(make_engine(cli.url)) as s:
        assert (s.scalar(select(func.count()).select_from(Invoice)) or 0) >= 40


def test_seed_demo_on_a_fresh_database_up_to_a_given_day(cli: CliRunnerFor) -> None:
    result = cli("seed-demo", "--invoices", "40", "--seed", "7", "--today", "2025-06-30")
    assert result.exit_code == 0, result.stderr
    with read_session(make_engine(cli.url)) as s:
        assert s.scalar(select(func.max(Invoice.issue_date))) <= dt.date(2025, 6, 30)
    assert cli("check").exit_code == 0
    again = cli("seed-demo")
    assert one_error_line(again).startswith("error: ")  # only an empty ledger is seeded


def test_large_import_shows_progress(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/big.db"
    cli = CliRunnerFor(url)
    cli.ready()
    rows = "".join(f"K{i:04d},Customer {i},USD\n" for i in range(1200))
    path = tmp_path / "customers.csv"
    path.write_text("customer_code,name,currency\n" + rows)
    result = cli("import", "customers", str(path))
    assert result.exit_code == 0, result.stderr
    assert "importing" in result.stderr
    assert (
        result.stdout.strip()
        == "customers.csv: 1200 rows of customers, 1200 created, 0 already present"
    )


def test_installed_command_end_to_end(tmp_path: Path) -> None:
    billing = Path(sys.executable).parent / "billing"
    if not billing.exists():
        pytest.skip("the billing script is not installed in this environment")
    env = {**os.environ, "BILLING_DATABASE_URL": f"sqlite:///{tmp_path}/e2e.db"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(billing), *args],
            check=False,
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run("init-db").returncode == 0
    imported = run("import", "customers", str(SAMPLES / "customers.csv"))
    assert imported.returncode == 0, imported.stderr
    checked = run("check")
    assert (checked.returncode, checked.stdout.strip()) == (
        0,
        "ledger OK (0 invoices, 0 payments, 0 allocations)",
    )
    refused = run("import", "invoices", str(SAMPLES / "customers.csv"))
    assert refused.returncode == 1
    assert (
        refused.stderr.splitlines()[-1] == "error: import refused: 8 problems; nothing was written"
    )
    assert "Traceback" not in refused.stderr

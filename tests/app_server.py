"""A real `streamlit run app.py` over a seeded demo ledger, for the browser and load tests.

The browser tests drive it with chromium, the load tests with protocol-level
websocket clients; both need the same thing first: a migrated database holding
the demo ledger of `billing seed-demo` (fixed seed and `today`, so every run
sees the same rows) and a server on a free port that answers `/_stcore/health`.
Kept free of pytest so `docs/screenshots.py` and the load-test CLI can use it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text

from billing.db import make_engine
from billing.schema import upgrade_database
from sample_data.generator import seed_demo

REPO = Path(__file__).resolve().parents[1]
STREAMLIT = Path(sys.executable).parent / "streamlit"
# The demo ledger: small, and dated up to a fixed day so runs are identical.
SEED_INVOICES = 300
SEED_TODAY = dt.date(2026, 6, 30)
SERVER_START_SECONDS = 60


class ServerStartError(RuntimeError):
    """`streamlit run` exited or stayed unhealthy; the message holds its output."""


def demo_password(username: str) -> str:
    """Demo logins' passwords are `<username>-demo` (README, "Demo logins")."""
    return f"{username}-demo"


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def seed_ledger(
    database_url: str, *, invoices: int = SEED_INVOICES, today: dt.date = SEED_TODAY
) -> str:
    """Migrate the empty database at `database_url` and fill it with the demo ledger and logins.

    The same call as `billing init-db` then `billing seed-demo` (with a fixed seed).
    """
    engine = make_engine(database_url)
    try:
        upgrade_database(engine)
        seed_demo(engine, invoices=invoices, seed=42, today=today)
    finally:
        engine.dispose()
    return database_url


def seed_database(
    directory: Path, *, invoices: int = SEED_INVOICES, today: dt.date = SEED_TODAY
) -> str:
    """A migrated SQLite file in `directory` holding the demo ledger and the four demo logins."""
    return seed_ledger(f"sqlite:///{directory}/billing.db", invoices=invoices, today=today)


@contextlib.contextmanager
def postgres_schema_url(server_url: str) -> Iterator[str]:
    """A URL on `server_url` whose search_path is a new, empty schema, dropped afterwards.

    For callers outside pytest (the load-test CLI); tests use the `postgres_schema`
    fixture in `tests/conftest.py`, which builds the same URL.
    """
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(server_url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        separator = "&" if "?" in server_url else "?"
        try:
            yield f"{server_url}{separator}options=-csearch_path%3D{schema}"
        finally:
            with admin.begin() as connection:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def start_server(
    database_url: str, log: Path, *, extra_args: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[bytes], str]:
    """`streamlit run app.py` on a free port; returns the process and its base URL once healthy.

    Raises `ServerStartError` (with the server's output) if it exits or is not
    healthy within `SERVER_START_SECONDS`.
    """
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        # The demo ledger's demo logins are allowed only in demo mode (`make run` sets it too).
        "BILLING_DEMO": "1",
        "BILLING_DATABASE_URL": database_url,
        "BILLING_COOKIE_KEY": secrets.token_urlsafe(32),
        "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    }
    command = [
        str(STREAMLIT),
        "run",
        "app.py",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        *extra_args,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, ended as one
        )
    deadline = time.monotonic() + SERVER_START_SECONDS
    while not _healthy(base_url):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(process)
            raise ServerStartError(
                f"streamlit did not become healthy on {base_url} within "
                f"{SERVER_START_SECONDS} s (exit {process.returncode}); its output:\n"
                + log.read_text(errors="replace")
            )
        time.sleep(0.25)
    return process, base_url


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

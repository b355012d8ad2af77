"""Cached loaders: each read runs once per ledger version, then comes from memory.

`st.cache_data` keys on plain arguments only, so every loader is keyed by the
database URL and `billing.audit.ledger_version` (the audit log's size and newest id,
which every write moves). A write anywhere, from any session, the CLI or an import,
makes the next page run read fresh data; until then reruns cost one tiny
query. Loaders return collected frames or frozen values, never a session.
"""

from __future__ import annotations

import polars as pl
import streamlit as st

from billing.audit import ledger_version
from billing.db import read_session
from billing.repository import (
    LedgerSummary,
    load_customers,
    load_invoices,
    load_ledger_frames,
    load_ledger_summary,
    load_settings,
)
from billing.settings import OfficeSettings
from queries.balances import daily_positions
from queries.ledger import SCHEMAS, LedgerFrames
from ui.db import database_url, engine_for

CACHE_ENTRIES = 32


def current_version(url: str) -> tuple[int, int]:
    """The ledger version now: the cache key that expires every loader after a write."""
    with read_session(engine_for(url)) as session:
        return ledger_version(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _ledger_summary(url: str, version: tuple[int, int]) -> LedgerSummary:
    with read_session(engine_for(url)) as session:
        return load_ledger_summary(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _customers(url: str, version: tuple[int, int]) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_customers(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _invoices(
    url: str,
    version: tuple[int, int],
    customer_code: str | None,
    statuses: tuple[str, ...],
    limit: int | None,
) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_invoices(session, customer_code=customer_code, statuses=statuses, limit=limit)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _settings(url: str, version: tuple[int, int]) -> OfficeSettings:
    with read_session(engine_for(url)) as session:
        return load_settings(session)


# The posted ledger is the largest thing the app holds: keep only a few versions.
@st.cache_data(show_spinner="Loading the ledger…", max_entries=2)
def _ledger_frames(url: str, version: tuple[int, int]) -> dict[str, pl.DataFrame]:
    with read_session(engine_for(url)) as session:
        ledger = load_ledger_frames(session)
    return {name: getattr(ledger, name).collect() for name in SCHEMAS}


@st.cache_data(show_spinner=False, max_entries=2)
def _positions(url: str, version: tuple[int, int]) -> pl.DataFrame:
    return daily_positions(_ledger(url, version)).collect()


def _ledger(url: str, version: tuple[int, int]) -> LedgerFrames:
    return LedgerFrames.from_frames(_ledger_frames(url, version))


def ledger() -> LedgerFrames:
    """The posted ledger as lazy frames for `queries/`, loaded once per ledger version."""
    url = database_url()
    return _ledger(url, current_version(url))


def positions() -> pl.DataFrame:
    """`queries.balances.daily_positions`, collected once per ledger version.

    Every period figure (KPIs, countback, cash flow) reads these running
    totals; pass them as `positions=` so no page recomputes them.
    """
    url = database_url()
    return _positions(url, current_version(url))


def settings() -> OfficeSettings:
    """The office settings as of the latest write (company name, buckets, base currency)."""
    url = database_url()
    return _settings(url, current_version(url))


def ledger_summary() -> LedgerSummary:
    """Per-currency totals and the ledger checks, as of the latest write."""
    url = database_url()
    return _ledger_summary(url, current_version(url))


def customers() -> pl.DataFrame:
    """Customer codes, names and currencies, for filters."""
    url = database_url()
    return _customers(url, current_version(url))


def invoices(
    *, customer_code: str | None, statuses: tuple[str, ...], limit: int | None = None
) -> pl.DataFrame:
    """Invoices newest first with the page's filters (see `billing.repository.load_invoices`)."""
    url = database_url()
    return _invoices(url, current_version(url), customer_code, tuple(sorted(statuses)), limit)

"""Cached loaders: each read runs once per ledger version, then comes from memory.

`st.cache_data` keys on plain arguments only, so every loader is keyed by the
database URL and `billing.audit.ledger_version` (the audit log's size and newest id,
which every write moves). A write anywhere, from any session, the CLI or an import,
makes the next page run read fresh data; until then reruns cost one tiny
query. Loaders return collected frames or frozen values, never a session.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from billing.audit import ledger_version
from billing.db import read_session
from billing.repository import (
    AuditChoices,
    CustomerProfile,
    InvoiceDetail,
    LedgerSummary,
    load_activities,
    load_audit_choices,
    load_audit_log,
    load_customer,
    load_customers,
    load_invoice_detail,
    load_invoices,
    load_latest_invoice_number,
    load_ledger_frames,
    load_ledger_summary,
    load_open_invoices,
    load_payment_terms,
    load_settings,
    load_unapplied_payments,
    load_users,
)
from billing.settings import OfficeSettings
from queries.aging import aging_totals
from queries.balances import daily_positions
from queries.calendar import periods
from queries.cashflow import billings_vs_collections
from queries.expressions import rounded_ratio
from queries.forecast import forecast_summary, receipts_forecast
from queries.kpis import period_kpis
from queries.ledger import SCHEMAS, LedgerFrames
from ui.db import database_url, engine_for

CACHE_ENTRIES = 32


# The version this run read, so a page's several loaders ask the database once a run.
_RUN_VERSION = "_billing_ledger_version_this_run"


def begin_run() -> None:
    """Forget the version the previous run read; `app.py` calls this first on every run."""
    st.session_state.pop(_RUN_VERSION, None)


def forget_version() -> None:
    """After a write in this run (`ui.actions.run_write`): the next loader reads afresh."""
    st.session_state.pop(_RUN_VERSION, None)


def current_version(url: str) -> tuple[int, int]:
    """The ledger version now: the cache key that expires every loader after a write.

    Read once per run (then remembered until `begin_run` or a write), not once
    per loader call: on PostgreSQL each read is a connection check-out, a
    ping, the query and a rollback, and the Overview calls five loaders.
    """
    remembered = st.session_state.get(_RUN_VERSION)
    if remembered is not None and remembered[0] == url:
        return remembered[1]
    with read_session(engine_for(url)) as session:
        version = ledger_version(session)
    st.session_state[_RUN_VERSION] = (url, version)
    return version


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
    *,
    search: str | None = None,
) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_invoices(
            session, customer_code=customer_code, statuses=statuses, limit=limit, search=search
        )


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


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _overview(
    url: str,
    version: tuple[int, int],
    *,
    start: dt.date,
    as_of: dt.date,
    currency: str,
    boundaries: tuple[int, ...],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ledger = _ledger(url, version)
    in_currency = pl.col("currency") == currency
    months, aging = pl.collect_all(
        [
            period_kpis(
                ledger,
                periods(start=start, end=as_of, every="1mo"),
                positions=_positions(url, version),
            )
            .filter(in_currency)
            .with_columns(
                overdue_pct=rounded_ratio(pl.col("overdue_ar_minor"), pl.col("ar_minor"), scale=100)
            ),
            aging_totals(ledger, as_of=as_of, boundaries=boundaries).filter(in_currency),
        ]
    )
    return months, aging


def overview(
    *, start: dt.date, as_of: dt.date, currency: str, boundaries: tuple[int, ...]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The Overview's monthly KPIs from `start` to `as_of` and its aging totals, in `currency`.

    Computed once per ledger version and filter, then shared by every session:
    the Overview is the page everyone lands on, and these figures were half of
    its run time (the load test in `tests/load/`).
    """
    url = database_url()
    return _overview(
        url,
        current_version(url),
        start=start,
        as_of=as_of,
        currency=currency,
        boundaries=boundaries,
    )


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
    *,
    customer_code: str | None,
    statuses: tuple[str, ...],
    limit: int | None = None,
    search: str | None = None,
) -> pl.DataFrame:
    """Invoices newest first with the page's filters (see `billing.repository.load_invoices`)."""
    url = database_url()
    return _invoices(
        url,
        current_version(url),
        customer_code,
        tuple(sorted(statuses)),
        limit,
        search=search.strip() or None if search else None,
    )


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _customer(url: str, version: tuple[int, int], code: str) -> CustomerProfile:
    with read_session(engine_for(url)) as session:
        return load_customer(session, code)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _activities(url: str, version: tuple[int, int], code: str) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_activities(session, customer_code=code)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _users(url: str, version: tuple[int, int]) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_users(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _audit_choices(url: str, version: tuple[int, int]) -> AuditChoices:
    with read_session(engine_for(url)) as session:
        return load_audit_choices(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _audit_log(
    url: str,
    version: tuple[int, int],
    *,
    start: dt.date | None,
    end: dt.date | None,
    actor: str | None,
    entity: str | None,
    action: str | None,
    search: str | None,
    limit: int | None,
) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_audit_log(
            session,
            start=start,
            end=end,
            actor=actor,
            entity=entity,
            action=action,
            search=search,
            limit=limit,
        )


def customer(code: str) -> CustomerProfile:
    """One customer's master data (terms, credit limit, e-mail); `NotFound` for a wrong code."""
    url = database_url()
    return _customer(url, current_version(url), code)


def activities(code: str) -> pl.DataFrame:
    """A customer's collection activities, newest first (`billing.repository.load_activities`)."""
    url = database_url()
    return _activities(url, current_version(url), code)


def users() -> pl.DataFrame:
    """Every user with role and whether they may log in (no password hashes)."""
    url = database_url()
    return _users(url, current_version(url))


def audit_choices() -> AuditChoices:
    """The actors, entities and actions present in the audit log, for its filters."""
    url = database_url()
    return _audit_choices(url, current_version(url))


def audit_log(
    *,
    start: dt.date | None,
    end: dt.date | None,
    actor: str | None,
    entity: str | None,
    action: str | None,
    search: str | None,
    limit: int | None,
) -> pl.DataFrame:
    """Audit rows newest first, filtered (see `billing.repository.load_audit_log`)."""
    url = database_url()
    return _audit_log(
        url,
        current_version(url),
        start=start,
        end=end,
        actor=actor,
        entity=entity,
        action=action,
        search=search,
        limit=limit,
    )


# --- Invoices and Payments pages -------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _invoice_detail(url: str, version: tuple[int, int], number: str) -> InvoiceDetail:
    with read_session(engine_for(url)) as session:
        return load_invoice_detail(session, number)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _open_invoices(
    url: str, version: tuple[int, int], code: str, currency: str | None
) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_open_invoices(session, customer_code=code, currency=currency)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _unapplied_payments(url: str, version: tuple[int, int], code: str | None) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_unapplied_payments(session, customer_code=code)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _payment_terms(url: str, version: tuple[int, int]) -> dict[str, int]:
    with read_session(engine_for(url)) as session:
        return load_payment_terms(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _latest_invoice_number(url: str, version: tuple[int, int]) -> str | None:
    with read_session(engine_for(url)) as session:
        return load_latest_invoice_number(session)


def invoice_detail(number: str) -> InvoiceDetail:
    """One invoice's header, lines, allocations, adjustments and audit history."""
    url = database_url()
    return _invoice_detail(url, current_version(url), number)


def open_invoices(customer_code: str, *, currency: str | None = None) -> pl.DataFrame:
    """A customer's posted invoices still open, oldest first (what a payment may pay)."""
    url = database_url()
    return _open_invoices(url, current_version(url), customer_code, currency)


def unapplied_payments(customer_code: str | None = None) -> pl.DataFrame:
    """Payments with cash on account, oldest first, for one customer or all."""
    url = database_url()
    return _unapplied_payments(url, current_version(url), customer_code)


def payment_terms() -> dict[str, int]:
    """Each customer's payment terms in days, by code."""
    url = database_url()
    return _payment_terms(url, current_version(url))


def latest_invoice_number() -> str | None:
    """The invoice number entered last, to suggest the next one."""
    url = database_url()
    return _latest_invoice_number(url, current_version(url))


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _billings_vs_collections(
    url: str, version: tuple[int, int], start: dt.date, end: dt.date
) -> pl.DataFrame:
    return billings_vs_collections(_ledger(url, version), start=start, end=end).collect()


@st.cache_data(show_spinner="Forecasting receipts…", max_entries=CACHE_ENTRIES)
def _receipts_forecast(
    url: str, version: tuple[int, int], as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ledger = _ledger(url, version)
    weekly, summary = pl.collect_all(
        [receipts_forecast(ledger, as_of=as_of), forecast_summary(ledger, as_of=as_of)]
    )
    return weekly, summary


def cash_flow(*, start: dt.date, end: dt.date) -> pl.DataFrame:
    """`queries.cashflow.billings_vs_collections` for [start, end], every currency.

    Cached per ledger version and period: that query builds its own running
    positions, so a rerun of the Cash flow page should not pay for them again.
    """
    url = database_url()
    return _billings_vs_collections(url, current_version(url), start, end)


def receipts_forecast_at(as_of: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The 13-week receipts forecast at `as_of`: (weekly per currency, summary per currency).

    `queries.forecast.receipts_forecast` and `forecast_summary`, collected
    together and cached per ledger version and date (the spread is the
    costliest query of the app).
    """
    url = database_url()
    return _receipts_forecast(url, current_version(url), as_of)

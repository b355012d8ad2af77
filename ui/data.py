"""Cached loaders: each read runs once per version of what it reads, then comes from memory.

Every write adds audit rows that say what it touched; `billing.ledger_cache`
turns them into a version per `Area` (the ledger, collections, customers,
settings, users). `st.cache_data` keys on plain arguments only, so every loader
is keyed by the database URL and the versions of the areas it reads: a call
note expires the worklist but not the Overview, a failed login nothing but the
users. A write from any session, the CLI or an import is seen on the next run;
until then a rerun costs two tiny queries.

The posted ledger itself is not reloaded after a write: the shared
`LedgerCache` re-reads only the invoices and payments the write touched.
Loaders return collected frames or frozen values, never a session.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from billing.db import read_session
from billing.dunning import DunningLevel
from billing.ledger_cache import Area, LedgerCache, Version, Versions
from billing.repository import (
    AuditChoices,
    CustomerProfile,
    InvoiceDetail,
    LedgerSummary,
    load_activities,
    load_audit_choices,
    load_audit_log,
    load_collection_frames,
    load_customer,
    load_customers,
    load_invoice_detail,
    load_invoices,
    load_latest_invoice_number,
    load_ledger_summary,
    load_open_invoices,
    load_owner_choices,
    load_payment_references,
    load_payment_terms,
    load_settings,
    load_unapplied_payments,
    load_users,
)
from billing.settings import OfficeSettings
from billing.statement import Statement, build_statement
from queries.aging import aging_totals
from queries.balances import daily_positions
from queries.calendar import periods
from queries.cashflow import billings_vs_collections
from queries.collections import COLLECTION_SCHEMAS, CollectionFrames
from queries.disputes import disputes_list
from queries.dunning import letters_due
from queries.expressions import rounded_ratio
from queries.forecast import forecast_summary, receipts_forecast
from queries.kpis import period_kpis
from queries.ledger import LedgerFrames
from queries.promises import promise_status
from queries.worklist import worklist
from ui.db import database_url, engine_for

CACHE_ENTRIES = 32

Key = tuple[Version, ...]
"""The versions of the areas a loader reads: its cache entry lives until one of them moves."""

AUDIT = "audit"
"""For `_key`: the audit log itself, which every write moves (the Admin page's audit view)."""

# The versions this run read, so a page's several loaders ask the database once a run.
_RUN_VERSIONS = "_billing_versions_this_run"


def begin_run() -> None:
    """Forget the versions the previous run read; `app.py` calls this first on every run."""
    st.session_state.pop(_RUN_VERSIONS, None)


def forget_version() -> None:
    """After a write in this run (`ui.actions.run_write`): the next loader reads afresh."""
    st.session_state.pop(_RUN_VERSIONS, None)


@st.cache_resource(show_spinner=False)
def _ledger_cache(url: str) -> LedgerCache:
    """One per database and process, shared by every session (it holds the posted ledger)."""
    return LedgerCache()


def forget_ledger() -> None:
    """Drop the shared ledger: the next page reads it whole (`make bench`'s cold start)."""
    _ledger_cache.clear()
    _load_ledger.clear()


def current_versions(url: str) -> Versions:
    """The versions now: the cache keys that expire a loader after a write to what it reads.

    Read once per run (then remembered until `begin_run` or a write), not once
    per loader call: on PostgreSQL each read is a connection check-out, a
    ping, the queries and a rollback, and the Overview calls five loaders.
    """
    remembered = st.session_state.get(_RUN_VERSIONS)
    if remembered is not None and remembered[0] == url:
        versions: Versions = remembered[1]
        return versions
    versions = _ledger_cache(url).versions(engine_for(url))
    st.session_state[_RUN_VERSIONS] = (url, versions)
    return versions


def _key(url: str, *areas: Area | str) -> Key:
    versions = current_versions(url)
    return tuple(versions.audit if area == AUDIT else versions[Area(area)] for area in areas)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _ledger_summary(url: str, version: Key) -> LedgerSummary:
    with read_session(engine_for(url)) as session:
        return load_ledger_summary(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _customers(url: str, version: Key) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_customers(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _invoices(
    url: str,
    version: Key,
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
def _settings(url: str, version: Key) -> OfficeSettings:
    with read_session(engine_for(url)) as session:
        return load_settings(session)


@st.cache_data(show_spinner=False, max_entries=2)
def _positions(url: str, version: Key) -> pl.DataFrame:
    return daily_positions(_ledger(url, version)).collect()


def _ledger(url: str, version: Key) -> LedgerFrames:
    """The shared ledger, at least as new as `version` (see `LedgerCache.ledger`)."""
    cache = _ledger_cache(url)
    if not cache.loaded:
        _load_ledger(url, cache.loads)
    return cache.ledger(engine_for(url))


@st.cache_resource(show_spinner="Loading the ledger…", max_entries=1)
def _load_ledger(url: str, loads_so_far: int) -> None:
    """A first load (seconds at a million invoices) behind a spinner; patches need none."""
    _ledger_cache(url).ledger(engine_for(url))


def ledger() -> LedgerFrames:
    """The posted ledger as lazy frames for `queries/`: loaded once, then patched after writes."""
    url = database_url()
    return _ledger(url, _key(url, Area.LEDGER))


@st.cache_data(show_spinner=False, max_entries=2)
def _collection_frames(url: str, version: Key) -> dict[str, pl.DataFrame]:
    with read_session(engine_for(url)) as session:
        frames = load_collection_frames(session)
    return {name: getattr(frames, name).collect() for name in COLLECTION_SCHEMAS}


def _collections(url: str, version: Key) -> CollectionFrames:
    return CollectionFrames.from_frames(_collection_frames(url, version))


def collections() -> CollectionFrames:
    """Activities, disputes, dunning letters and owners, loaded once per ledger version."""
    url = database_url()
    return _collections(url, _key(url, Area.COLLECTIONS))


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _worklist(url: str, version: Key, as_of: dt.date, boundaries: tuple[int, ...]) -> pl.DataFrame:
    return worklist(
        _ledger(url, version), _collections(url, version), as_of=as_of, boundaries=boundaries
    ).collect()


def worklist_at(as_of: dt.date, boundaries: tuple[int, ...]) -> pl.DataFrame:
    """Every customer to chase at `as_of`, scored (`queries.worklist`), once per ledger version."""
    url = database_url()
    return _worklist(url, _key(url, Area.LEDGER, Area.COLLECTIONS), as_of, boundaries)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _disputes(url: str, version: Key, as_of: dt.date, include_closed: bool) -> pl.DataFrame:
    return disputes_list(
        _ledger(url, version),
        _collections(url, version),
        as_of=as_of,
        include_closed=include_closed,
    ).collect()


def disputes_at(as_of: dt.date, *, include_closed: bool = False) -> pl.DataFrame:
    """Disputes with their age and open balance at `as_of` (`queries.disputes`)."""
    url = database_url()
    return _disputes(url, _key(url, Area.LEDGER, Area.COLLECTIONS), as_of, include_closed)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _letters_due(
    url: str, version: Key, as_of: dt.date, levels: tuple[DunningLevel, ...]
) -> pl.DataFrame:
    return letters_due(
        _ledger(url, version), _collections(url, version), as_of=as_of, levels=levels
    ).collect()


def letters_due_at(as_of: dt.date, levels: tuple[DunningLevel, ...]) -> pl.DataFrame:
    """The dunning letters due at `as_of` for the office's levels (`queries.dunning`)."""
    url = database_url()
    return _letters_due(url, _key(url, Area.LEDGER, Area.COLLECTIONS), as_of, levels)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _promises(url: str, version: Key, as_of: dt.date) -> pl.DataFrame:
    ledger = _ledger(url, version)
    return (
        promise_status(ledger, _collections(url, version), as_of=as_of)
        .join(ledger.customers.select("customer_id", "customer_code"), on="customer_id")
        .collect()
    )


def promises_at(as_of: dt.date) -> pl.DataFrame:
    """Every promise to pay made by `as_of`, with its status then and the customer's code."""
    url = database_url()
    return _promises(url, _key(url, Area.LEDGER, Area.COLLECTIONS), as_of)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _statement(
    url: str,
    version: Key,
    code: str,
    as_of: dt.date,
    *,
    boundaries: tuple[int, ...],
    company_name: str,
) -> Statement:
    return build_statement(
        _ledger(url, version),
        customer_code=code,
        as_of=as_of,
        boundaries=boundaries,
        company_name=company_name,
        collections=_collections(url, version),
        payment_references=_payment_references(url, version, code),
    )


def statement_at(
    code: str, as_of: dt.date, *, boundaries: tuple[int, ...], company_name: str
) -> Statement:
    """A customer's statement of account at `as_of` (`billing.statement`)."""
    url = database_url()
    return _statement(
        url,
        _key(url, Area.LEDGER, Area.COLLECTIONS),
        code,
        as_of,
        boundaries=boundaries,
        company_name=company_name,
    )


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _owner_choices(url: str, version: Key) -> tuple[str, ...]:
    with read_session(engine_for(url)) as session:
        return load_owner_choices(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _payment_references(url: str, version: Key, code: str) -> dict[int, str]:
    with read_session(engine_for(url)) as session:
        return load_payment_references(session, customer_code=code)


def payment_references(customer_code: str) -> dict[int, str]:
    """A customer's payment ids → references, for their statement."""
    url = database_url()
    return _payment_references(url, _key(url, Area.LEDGER), customer_code)


def owner_choices() -> tuple[str, ...]:
    """Users a customer may be assigned to (active, not finance)."""
    url = database_url()
    return _owner_choices(url, _key(url, Area.USERS))


def positions() -> pl.DataFrame:
    """`queries.balances.daily_positions`, collected once per ledger version.

    Every period figure (KPIs, countback, cash flow) reads these running
    totals; pass them as `positions=` so no page recomputes them.
    """
    url = database_url()
    return _positions(url, _key(url, Area.LEDGER))


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _overview(
    url: str,
    version: Key,
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
        _key(url, Area.LEDGER),
        start=start,
        as_of=as_of,
        currency=currency,
        boundaries=boundaries,
    )


def settings() -> OfficeSettings:
    """The office settings as of the latest write (company name, buckets, base currency)."""
    url = database_url()
    return _settings(url, _key(url, Area.SETTINGS))


def ledger_summary() -> LedgerSummary:
    """Per-currency totals and the ledger checks, as of the latest write."""
    url = database_url()
    return _ledger_summary(url, _key(url, Area.LEDGER))


def customers() -> pl.DataFrame:
    """Customer codes, names and currencies, for filters."""
    url = database_url()
    return _customers(url, _key(url, Area.CUSTOMERS))


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
        _key(url, Area.LEDGER),
        customer_code,
        tuple(sorted(statuses)),
        limit,
        search=search.strip() or None if search else None,
    )


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _customer(url: str, version: Key, code: str) -> CustomerProfile:
    with read_session(engine_for(url)) as session:
        return load_customer(session, code)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _activities(url: str, version: Key, code: str) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_activities(session, customer_code=code)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _users(url: str, version: Key) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_users(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _audit_choices(url: str, version: Key) -> AuditChoices:
    with read_session(engine_for(url)) as session:
        return load_audit_choices(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _audit_log(
    url: str,
    version: Key,
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
    return _customer(url, _key(url, Area.CUSTOMERS), code)


def activities(code: str) -> pl.DataFrame:
    """A customer's collection activities, newest first (`billing.repository.load_activities`)."""
    url = database_url()
    return _activities(url, _key(url, Area.COLLECTIONS), code)


def users() -> pl.DataFrame:
    """Every user with role and whether they may log in (no password hashes)."""
    url = database_url()
    return _users(url, _key(url, Area.USERS))


def audit_choices() -> AuditChoices:
    """The actors, entities and actions present in the audit log, for its filters."""
    url = database_url()
    return _audit_choices(url, _key(url, AUDIT))


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
        _key(url, AUDIT),
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
def _invoice_detail(url: str, version: Key, number: str) -> InvoiceDetail:
    with read_session(engine_for(url)) as session:
        return load_invoice_detail(session, number)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _open_invoices(url: str, version: Key, code: str, currency: str | None) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_open_invoices(session, customer_code=code, currency=currency)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _unapplied_payments(url: str, version: Key, code: str | None) -> pl.DataFrame:
    with read_session(engine_for(url)) as session:
        return load_unapplied_payments(session, customer_code=code)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _payment_terms(url: str, version: Key) -> dict[str, int]:
    with read_session(engine_for(url)) as session:
        return load_payment_terms(session)


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _latest_invoice_number(url: str, version: Key) -> str | None:
    with read_session(engine_for(url)) as session:
        return load_latest_invoice_number(session)


def invoice_detail(number: str) -> InvoiceDetail:
    """One invoice's header, lines, allocations, adjustments and audit history."""
    url = database_url()
    return _invoice_detail(url, _key(url, Area.LEDGER), number)


def open_invoices(customer_code: str, *, currency: str | None = None) -> pl.DataFrame:
    """A customer's posted invoices still open, oldest first (what a payment may pay)."""
    url = database_url()
    return _open_invoices(url, _key(url, Area.LEDGER), customer_code, currency)


def unapplied_payments(customer_code: str | None = None) -> pl.DataFrame:
    """Payments with cash on account, oldest first, for one customer or all."""
    url = database_url()
    return _unapplied_payments(url, _key(url, Area.LEDGER), customer_code)


def payment_terms() -> dict[str, int]:
    """Each customer's payment terms in days, by code."""
    url = database_url()
    return _payment_terms(url, _key(url, Area.CUSTOMERS))


def latest_invoice_number() -> str | None:
    """The invoice number entered last, to suggest the next one."""
    url = database_url()
    return _latest_invoice_number(url, _key(url, Area.LEDGER))


@st.cache_data(show_spinner=False, max_entries=CACHE_ENTRIES)
def _billings_vs_collections(url: str, version: Key, start: dt.date, end: dt.date) -> pl.DataFrame:
    return billings_vs_collections(_ledger(url, version), start=start, end=end).collect()


@st.cache_data(show_spinner="Forecasting receipts…", max_entries=CACHE_ENTRIES)
def _receipts_forecast(url: str, version: Key, as_of: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
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
    return _billings_vs_collections(url, _key(url, Area.LEDGER), start, end)


def receipts_forecast_at(as_of: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The 13-week receipts forecast at `as_of`: (weekly per currency, summary per currency).

    `queries.forecast.receipts_forecast` and `forecast_summary`, collected
    together and cached per ledger version and date (the spread is the
    costliest query of the app).
    """
    url = database_url()
    return _receipts_forecast(url, _key(url, Area.LEDGER), as_of)

"""Deterministic demo data: fifty customers with distinct payment habits over three years.

`seed_demo` is what `billing seed-demo` runs. It builds every row in memory with
numpy (one `np.random.default_rng(seed)`, columns at a time, no loop per
invoice), then hands the rows to `billing.services.bulk.load_demo_ledger`, the
service that checks and writes them in one transaction. The same seed and the
same `today` give the same rows, byte for byte, on SQLite and on PostgreSQL:
even `created_at` is derived from the business dates, not the clock.

The cast is fixed (customer C011 is always the one who disputes); the seed
drives volumes, dates and amounts. Habits, by customer behaviour:

- prompt: pays on or before the due date;
- typical: a few days late, now and then after a small credit note;
- chronic late: 30 to 90 days late, sometimes short-paying a little that is written off;
- partial: pays most invoices in 2 or 3 instalments;
- disputer: disputes about a third of its invoices: long unpaid, some credit notes;
  each dispute is also a `disputes` row, closed by its credit note or when the
  invoice is paid in full, else still open;
- overpayer: often pays a bit more than billed, leaving unapplied cash;
- stopped: paid normally, then stopped; old unpaid invoices written off, recent ones open.

Every payment is targeted at one invoice, as a clerk posts a remittance, and is
allocated by the targeted rule of SPEC §2: min(amount, open balance) on its
received date. Nothing is dated after `today`.

When `seed_demo` creates the demo logins, it also hands the customers to the
two who chase (the clerk and the manager), leaving one in eight unassigned, so
the Collections worklist's owner filter has something to show.

Money: every amount is an integer number of minor units. The only floats are
the log-normal draws that pick a line's *unit price*; `_unit_prices` turns them
into integers with `np.rint` (to a whole currency unit or cent) before anything
is computed from them. Net and tax then follow `billing.invoice_math.line_amounts`
in exact integer arithmetic (quantity in hundredths, tax rate in hundredths of a
percent, round half up), and every other amount is an integer fraction of a
total (`total * permille // 1000`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import IntEnum, StrEnum
from functools import cache

import numpy as np
import numpy.typing as npt
import polars as pl
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from billing.db import read_session, write_session
from billing.errors import Problem, ValidationError
from billing.models import ActivityKind, AdjustmentKind, DisputeResolution, InvoiceStatus, User
from billing.money import currency_digits
from billing.roles import Actor, Role
from billing.schema import upgrade_database
from billing.services.bulk import (
    DemoLedger,
    assign_demo_owners,
    ensure_empty_ledger,
    load_demo_ledger,
)
from billing.services.users import add_user

Ints = npt.NDArray[np.int64]

SEED_ACTOR = Actor("seed-demo", Role.ADMIN)
HISTORY_DAYS = 3 * 365
# Demo logins, one per role; each password is "<username>-demo".
DEMO_USERS: tuple[tuple[str, Role, str], ...] = (
    ("clerk", Role.CLERK, "Casey Clerk"),
    ("manager", Role.MANAGER, "Morgan Manager"),
    ("finance", Role.FINANCE, "Frankie Finance"),
    ("admin", Role.ADMIN, "Alex Admin"),
)
# Demo users who chase customers (and so own some); every UNASSIGNED_EVERY-th customer owns nobody.
CHASER_ROLES = frozenset({Role.CLERK, Role.MANAGER})
UNASSIGNED_EVERY = 8
_EPOCH = dt.date(1970, 1, 1)
_NEVER = np.iinfo(np.int64).max // 4  # a day number later than any real one
_US_PER_DAY = 86_400_000_000
_US_PER_HOUR = 3_600_000_000


class Behaviour(StrEnum):
    """How a demo customer pays."""

    PROMPT = "prompt"
    TYPICAL = "typical"
    CHRONIC_LATE = "chronic_late"
    PARTIAL = "partial"
    DISPUTER = "disputer"
    OVERPAYER = "overpayer"
    STOPPED = "stopped"


_B = list(Behaviour)  # behaviour codes in arrays are indexes into this list


@dataclass(frozen=True)
class CustomerProfile:
    """One demo customer: who it is, how big, and how it pays."""

    code: str
    name: str
    behaviour: Behaviour
    currency: str
    terms_days: int
    size: str  # "S", "M" or "L": see _SIZES
    tax_rate: Decimal  # percent, on every line
    method: str
    stopped_days_ago: int | None = None


# (name, behaviour, currency, terms, size, tax %, method); codes C001… in this order.
_ROSTER: tuple[tuple[str, Behaviour, str, int, str, str, str], ...] = (
    ("Acme Tools Inc.", Behaviour.PROMPT, "USD", 30, "M", "0", "ach"),
    ("Northwind Traders", Behaviour.TYPICAL, "USD", 30, "L", "8.25", "transfer"),
    ("Bluebird Bakery Co.", Behaviour.PROMPT, "USD", 14, "S", "8.25", "card"),
    ("Cedar & Pine Builders", Behaviour.CHRONIC_LATE, "USD", 45, "L", "0", "check"),
    ("Summit Outdoor Supply", Behaviour.TYPICAL, "USD", 30, "M", "8.25", "ach"),
    ("Harbor Freight Lines", Behaviour.PARTIAL, "USD", 30, "M", "0", "transfer"),
    ("Ironwood Furniture", Behaviour.TYPICAL, "USD", 45, "M", "8.25", "check"),
    ("Müller Maschinenbau GmbH", Behaviour.PROMPT, "EUR", 30, "L", "19", "transfer"),
    ("Maple Leaf Dental", Behaviour.PROMPT, "USD", 14, "S", "0", "card"),
    ("Pioneer Grain Cooperative", Behaviour.STOPPED, "USD", 60, "M", "0", "check"),
    ("Silverline Media Group", Behaviour.DISPUTER, "USD", 30, "L", "8.25", "transfer"),
    ("Granite State Realty", Behaviour.TYPICAL, "USD", 30, "S", "0", "ach"),
    ("Lakeside Veterinary Clinic", Behaviour.PROMPT, "USD", 14, "S", "8.25", "card"),
    ("Redwood Analytics", Behaviour.CHRONIC_LATE, "USD", 30, "M", "0", "transfer"),
    ("Orchid Spa & Wellness", Behaviour.TYPICAL, "USD", 14, "S", "8.25", "card"),
    ("Beacon Health Partners", Behaviour.PROMPT, "USD", 45, "L", "0", "ach"),
    ("Falcon Aerospace Parts", Behaviour.PARTIAL, "USD", 60, "L", "0", "transfer"),
    ("Evergreen Landscaping", Behaviour.TYPICAL, "USD", 30, "S", "8.25", "check"),
    ("Copper Kettle Restaurants", Behaviour.CHRONIC_LATE, "USD", 30, "M", "8.25", "check"),
    ("Riverside Community College", Behaviour.PROMPT, "USD", 60, "M", "0", "ach"),
    ("Meridian Logistics", Behaviour.OVERPAYER, "USD", 30, "L", "0", "transfer"),
    ("Atlas Office Interiors", Behaviour.TYPICAL, "USD", 30, "M", "8.25", "ach"),
    ("Rossi Logistica S.r.l.", Behaviour.PARTIAL, "EUR", 60, "M", "22", "transfer"),
    ("Sterling Legal LLP", Behaviour.PROMPT, "USD", 30, "M", "0", "transfer"),
    ("Juniper Organic Farms", Behaviour.TYPICAL, "USD", 14, "S", "0", "check"),
    ("Oakridge Property Management", Behaviour.CHRONIC_LATE, "USD", 45, "M", "0", "check"),
    ("Horizon Solar Installers", Behaviour.TYPICAL, "USD", 30, "L", "8.25", "ach"),
    ("Sakura Trading K.K.", Behaviour.TYPICAL, "JPY", 30, "L", "10", "transfer"),
    ("Keystone Printing", Behaviour.PROMPT, "USD", 30, "S", "8.25", "card"),
    ("Bright Path Tutoring", Behaviour.TYPICAL, "USD", 14, "S", "0", "card"),
    ("Blue Ridge Brewing", Behaviour.PARTIAL, "USD", 30, "S", "8.25", "ach"),
    ("Trident Marine Services", Behaviour.STOPPED, "USD", 45, "S", "8.25", "check"),
    ("Polaris Data Centers", Behaviour.PROMPT, "USD", 30, "L", "0", "transfer"),
    ("Willow Creek Senior Living", Behaviour.TYPICAL, "USD", 45, "M", "0", "ach"),
    ("Quarry Stone Works", Behaviour.CHRONIC_LATE, "USD", 60, "M", "0", "check"),
    ("Lumen Lighting Design", Behaviour.TYPICAL, "USD", 30, "S", "8.25", "card"),
    ("Greenfield Municipal Utility", Behaviour.PROMPT, "USD", 60, "L", "0", "ach"),
    ("Vantage Retail Group", Behaviour.TYPICAL, "USD", 45, "L", "8.25", "transfer"),
    ("Crescent Catering", Behaviour.PARTIAL, "USD", 14, "S", "8.25", "card"),
    ("Pinnacle Fitness Clubs", Behaviour.TYPICAL, "USD", 30, "M", "8.25", "ach"),
    ("Harvest Moon Grocers", Behaviour.PROMPT, "USD", 14, "M", "8.25", "ach"),
    ("Nimbus Software Labs", Behaviour.TYPICAL, "USD", 30, "M", "0", "card"),
    ("Old Mill Antiques", Behaviour.CHRONIC_LATE, "USD", 30, "S", "8.25", "check"),
    ("Starlight Event Rentals", Behaviour.PARTIAL, "USD", 30, "M", "8.25", "ach"),
    ("Coastal Insurance Brokers", Behaviour.PROMPT, "USD", 30, "M", "0", "transfer"),
    ("Ridgeway Auto Repair", Behaviour.TYPICAL, "USD", 14, "S", "8.25", "card"),
    ("Aurora Pediatrics", Behaviour.PROMPT, "USD", 45, "S", "0", "ach"),
    ("Fulcrum Engineering", Behaviour.TYPICAL, "USD", 60, "L", "0", "transfer"),
    ("Bayview Hotel", Behaviour.PROMPT, "USD", 30, "M", "8.25", "card"),
    ("Kestrel Security Systems", Behaviour.TYPICAL, "USD", 30, "M", "8.25", "ach"),
)
# When the customers who stopped paying stopped, in days before `today`.
_STOPPED_DAYS_AGO = {"C010": 330, "C032": 210}
# Size class: median invoice in US dollars, log-normal sigma, relative invoice volume.
_SIZES = {"S": (400.0, 0.7, 0.6), "M": (2_500.0, 0.8, 1.0), "L": (12_000.0, 0.9, 1.6)}
# Minor units of the currency per US cent, to price every customer alike.
_PER_US_CENT = {"USD": 1.0, "EUR": 0.92, "JPY": 1.5}
# Line items: (description, billed by the hour?).
_CATALOG: tuple[tuple[str, bool], ...] = (
    ("Consulting services", True),
    ("Implementation services", True),
    ("Support hours", True),
    ("Training", True),
    ("Software licence", False),
    ("Annual support plan", False),
    ("Hardware", False),
    ("Installation", False),
    ("Freight and handling", False),
    ("Maintenance visit", False),
    ("Cloud hosting", False),
    ("Spare parts", False),
)
# Activity bodies: text before and after the invoice number (a promise adds its date).
_ACTIVITY_TEXT = {
    ActivityKind.NOTE: ("No reply about ", "; account on credit hold, escalated to the manager"),
    ActivityKind.CALL: ("Called accounts payable about ", ", now overdue"),
    ActivityKind.EMAIL: ("E-mailed a payment reminder for ", ""),
    ActivityKind.PROMISE: ("Customer promised to pay ", " by "),
    ActivityKind.DISPUTE: ("Customer disputes the quantities billed on ", ""),
}
# What the disputer contests (its credit notes are "Credit for disputed quantities").
_DISPUTE_REASONS = (
    "Quantities billed do not match the signed delivery note",
    "Customer says part of the order was never delivered",
    "Hours billed exceed the hours approved on the timesheets",
    "Items returned as damaged were billed in full",
    "More units billed than the purchase order allows",
)
_DISPUTE_CLOSING = {
    DisputeResolution.CREDIT_NOTE: "Credit note for the disputed quantities",
    DisputeResolution.CLOSED: "Customer accepted the invoice and paid",
}
_VOID_REASONS = ("Issued in error", "Duplicate invoice", "Billed to the wrong customer")


class _Reason(IntEnum):
    PRICING = 0
    DISPUTE = 1
    SHORT_PAYMENT = 2
    UNCOLLECTIBLE = 3


_REASON_TEXT = {
    _Reason.PRICING: "Pricing correction agreed with the customer",
    _Reason.DISPUTE: "Credit for disputed quantities",
    _Reason.SHORT_PAYMENT: "Short payment (bank charges) written off",
    _Reason.UNCOLLECTIBLE: "Customer stopped paying; balance uncollectible",
}


@cache
def demo_customers() -> tuple[CustomerProfile, ...]:
    """The fixed cast of demo customers, C001 to C050 (the same for every seed)."""
    out = []
    for n, (name, behaviour, currency, terms, size, tax, method) in enumerate(_ROSTER, start=1):
        code = f"C{n:03d}"
        out.append(
            CustomerProfile(
                code=code,
                name=name,
                behaviour=behaviour,
                currency=currency,
                terms_days=terms,
                size=size,
                tax_rate=Decimal(tax),
                method=method,
                stopped_days_ago=_STOPPED_DAYS_AGO.get(code),
            )
        )
    return tuple(out)


def customer_behaviours() -> dict[str, Behaviour]:
    """Customer code → behaviour, for tests and for explaining the demo."""
    return {c.code: c.behaviour for c in demo_customers()}


@dataclass(frozen=True)
class SeedSummary:
    """What `seed_demo` wrote, for the CLI to print."""

    customers: int
    invoices: int
    payments: int
    allocations: int
    adjustments: int
    activities: int
    disputes: int
    users: int
    first_date: dt.date
    last_date: dt.date
    elapsed_seconds: float

    def __str__(self) -> str:
        return (
            f"Seeded {self.customers:,} customers, {self.invoices:,} invoices, "
            f"{self.payments:,} payments, {self.allocations:,} allocations, "
            f"{self.adjustments:,} adjustments, {self.activities:,} collection activities "
            f"and {self.disputes:,} disputes "
            f"from {self.first_date} to {self.last_date}; {self.users} demo users "
            f"in {self.elapsed_seconds:.1f} s."
        )


def seed_demo(
    engine: Engine, *, invoices: int = 3000, seed: int = 42, today: dt.date | None = None
) -> SeedSummary:
    """Fill an empty database with demo data (and demo logins if there are no users yet).

    Creates or upgrades the schema first, so it works on a brand-new database.
    Raises `Conflict` if the ledger already holds data.
    """
    started = time.perf_counter()
    today = today or dt.date.today()
    upgrade_database(engine)
    with read_session(engine) as session:
        ensure_empty_ledger(session)  # fail before the work of building the rows
    rows = build_demo_ledger(invoices=invoices, seed=seed, today=today)
    with write_session(engine) as session:
        load_demo_ledger(session, actor=SEED_ACTOR, rows=rows)
        users = _add_demo_users(session)
        if users:  # a fresh office: the demo clerk and manager share the customers
            assign_demo_owners(session, actor=SEED_ACTOR, owners=demo_owners())
    counts = rows.counts()
    first = rows.invoices.get_column("issue_date").min()
    return SeedSummary(
        customers=counts["customers"],
        invoices=counts["invoices"],
        payments=counts["payments"],
        allocations=counts["allocations"],
        adjustments=counts["adjustments"],
        activities=counts["collection_activities"],
        disputes=counts["disputes"],
        users=users,
        first_date=first if isinstance(first, dt.date) else today,
        last_date=today,
        elapsed_seconds=time.perf_counter() - started,
    )


def _add_demo_users(session: Session) -> int:
    """The four demo logins, unless someone already set up users (then leave them alone)."""
    if session.scalar(select(func.count()).select_from(User)):
        return 0
    for username, role, name in DEMO_USERS:
        add_user(
            session,
            actor=SEED_ACTOR,
            username=username,
            role=role,
            password=f"{username}-demo",
            name=name,
            email=f"{username}@billing-office.example",
        )
    return len(DEMO_USERS)


def demo_owners() -> dict[int, str]:
    """Customer id → the demo user who chases it: clerk and manager by turns, 1 in 8 nobody's.

    By position in the fixed roster, so the same customers belong to the same
    user for every seed.
    """
    chasers = [name for name, role, _ in DEMO_USERS if role in CHASER_ROLES]
    return {
        position: chasers[position % len(chasers)]
        for position in range(1, len(demo_customers()) + 1)
        if position % UNASSIGNED_EVERY != 0
    }


# -- building the rows --------------------------------------------------------------------------


@dataclass
class _Customers:
    """The roster as arrays indexed by customer position (customer id − 1)."""

    profiles: tuple[CustomerProfile, ...]
    behaviour: Ints = field(init=False)
    terms: Ints = field(init=False)
    tax_bp: Ints = field(init=False)  # tax rate in hundredths of a percent (8.25 % → 825)
    digits: Ints = field(init=False)
    median_minor: npt.NDArray[np.float64] = field(init=False)
    sigma: npt.NDArray[np.float64] = field(init=False)
    volume: npt.NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        p = self.profiles
        self.behaviour = np.array([_B.index(c.behaviour) for c in p], dtype=np.int64)
        self.terms = np.array([c.terms_days for c in p], dtype=np.int64)
        self.tax_bp = np.array([int(c.tax_rate * 100) for c in p], dtype=np.int64)
        self.digits = np.array([currency_digits(c.currency) for c in p], dtype=np.int64)
        self.median_minor = np.array(
            [_SIZES[c.size][0] * 100 * _PER_US_CENT[c.currency] for c in p]
        )
        self.sigma = np.array([_SIZES[c.size][1] for c in p])
        self.volume = np.array([_SIZES[c.size][2] for c in p])


@dataclass
class _Invoices:
    """Invoice columns, index i is invoice id i + 1, in issue-date order."""

    customer: Ints
    issue: Ints  # day numbers (days since 1970-01-01)
    due: Ints
    behaviour: Ints
    total: Ints = field(default_factory=lambda: np.zeros(0, np.int64))
    status: npt.NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, "<U6"))


@dataclass
class _Events:
    """Payments and adjustments as they happen, before dropping the ones after `today`."""

    pay_invoice: list[Ints] = field(default_factory=list)
    pay_day: list[Ints] = field(default_factory=list)
    pay_applied: list[Ints] = field(default_factory=list)
    pay_amount: list[Ints] = field(default_factory=list)
    pay_seq: list[Ints] = field(default_factory=list)
    adj_invoice: list[Ints] = field(default_factory=list)
    adj_day: list[Ints] = field(default_factory=list)
    adj_amount: list[Ints] = field(default_factory=list)
    adj_kind: list[Ints] = field(default_factory=list)  # 0 credit note, 1 write-off
    adj_reason: list[Ints] = field(default_factory=list)
    disputed: Ints = field(default_factory=lambda: np.zeros(0, np.int64))

    def pay(
        self, invoice: Ints, day: Ints, applied: Ints, amount: Ints | None = None, seq: int = 0
    ) -> None:
        """A payment targeted at `invoice`; `amount` defaults to what it applies."""
        self.pay_invoice.append(invoice)
        self.pay_day.append(day)
        self.pay_applied.append(applied)
        self.pay_amount.append(applied if amount is None else amount)
        self.pay_seq.append(np.full(invoice.size, seq, np.int64))

    def adjust(
        self, invoice: Ints, day: Ints, amount: Ints, kind: AdjustmentKind, reason: _Reason
    ) -> None:
        """Credit notes or write-offs; rows with a zero amount are dropped."""
        keep = amount > 0
        self.adj_invoice.append(invoice[keep])
        self.adj_day.append(day[keep])
        self.adj_amount.append(amount[keep])
        code = 0 if kind is AdjustmentKind.CREDIT_NOTE else 1
        self.adj_kind.append(np.full(int(keep.sum()), code, np.int64))
        self.adj_reason.append(np.full(int(keep.sum()), int(reason), np.int64))


def build_demo_ledger(*, invoices: int = 3000, seed: int = 42, today: dt.date) -> DemoLedger:
    """Every row of the demo ledger, computed in memory (no database needed)."""
    if isinstance(invoices, bool) or not isinstance(invoices, int) or invoices < 1:
        raise ValidationError(Problem("invoices", invoices, "must be a whole number, 1 or more"))
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError(Problem("seed", seed, "must be a whole number, 0 or more"))
    rng = np.random.default_rng(seed)
    customers = _Customers(demo_customers())
    today_day = (today - _EPOCH).days
    inv = _invoice_headers(rng, customers, invoices, today_day)
    lines = _invoice_lines(rng, customers, inv)
    inv.status = _statuses(rng, inv, today_day)
    events = _settlements(rng, customers, inv, today_day)
    return _frames(rng, customers, inv, lines, events, seed=seed, today=today)


def _day_weights(start_day: int, today_day: int) -> tuple[Ints, npt.NDArray[np.float64]]:
    """Relative invoice volume per calendar day: yearly wave, December dip, quiet weekends."""
    days = np.arange(start_day, today_day + 1, dtype=np.int64)
    dates = days.astype("datetime64[D]")
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    month = dates.astype("datetime64[M]").astype(np.int64) % 12 + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    weight = 1.0 + 0.22 * np.sin(2 * np.pi * (day_of_year - 60) / 365.25)
    weight *= np.where(month == 12, 0.7, 1.0)
    weight *= np.where(weekday >= 5, 0.1, 1.0)
    weight *= 1.0 + 0.1 * (days - start_day) / 365.0  # the business grows a little
    return days, weight / weight.sum()


def _invoice_headers(
    rng: np.random.Generator, customers: _Customers, n: int, today_day: int
) -> _Invoices:
    days, p_day = _day_weights(today_day - HISTORY_DAYS + 1, today_day)
    p_customer = customers.volume / customers.volume.sum()
    customer = rng.choice(len(customers.profiles), size=n, p=p_customer).astype(np.int64)
    issue = rng.choice(days, size=n, p=p_day).astype(np.int64)
    order = np.lexsort((customer, issue))  # invoice numbers follow issue dates
    customer, issue = customer[order], issue[order]
    return _Invoices(
        customer=customer,
        issue=issue,
        due=issue + customers.terms[customer],
        behaviour=customers.behaviour[customer],
    )


def _invoice_lines(rng: np.random.Generator, customers: _Customers, inv: _Invoices) -> pl.DataFrame:
    """One to three lines per invoice; sets each invoice's total to the sum of net + tax."""
    n = inv.customer.size
    count = rng.choice(np.array([1, 2, 3]), size=n, p=[0.55, 0.3, 0.15]).astype(np.int64)
    starts = np.cumsum(count) - count
    invoice = np.repeat(np.arange(n, dtype=np.int64), count)
    line_no = np.arange(invoice.size, dtype=np.int64) - np.repeat(starts, count) + 1
    cust = inv.customer[invoice]
    # A log-normal invoice amount per customer size, shared between the lines.
    target = np.exp(
        rng.normal(np.log(customers.median_minor[inv.customer]), customers.sigma[inv.customer])
    )
    share = rng.gamma(2.0, size=invoice.size)
    share /= np.repeat(np.add.reduceat(share, starts), count)
    item = rng.integers(0, len(_CATALOG), size=invoice.size)
    hourly = np.array([h for _, h in _CATALOG])[item]
    quantity_c = np.where(
        hourly,
        25 * rng.integers(4, 161, size=invoice.size),  # 1.00 to 40.00 hours, in quarters
        100 * rng.integers(1, 13, size=invoice.size),  # 1 to 12 units
    ).astype(np.int64)
    unit_price = _unit_prices(
        rng, target[invoice] * share / (quantity_c / 100), customers.digits[cust]
    )
    tax_bp = customers.tax_bp[cust]
    # billing.invoice_math.line_amounts in integers: halves round up (all values are ≥ 0).
    net = (quantity_c * unit_price + 50) // 100
    tax = (net * tax_bp + 5_000) // 10_000
    inv.total = np.add.reduceat(net + tax, starts)
    return pl.DataFrame(
        {
            "id": np.arange(1, invoice.size + 1, dtype=np.int64),
            "invoice_id": invoice + 1,
            "line_no": line_no,
            "description": pl.Series([d for d, _ in _CATALOG], dtype=pl.String).gather(item),
            "quantity": _decimal_text(quantity_c),
            "unit_price_minor": unit_price,
            "tax_rate": _decimal_text(tax_bp),
            "net_minor": net,
            "tax_minor": tax,
        }
    )


def _unit_prices(rng: np.random.Generator, wanted: npt.NDArray[np.float64], digits: Ints) -> Ints:
    """Round wanted prices to integers: whole currency units mostly, exact cents sometimes.

    This is the one place a float becomes money: `np.rint` to a multiple of the
    step, then int64, never below one currency unit.
    """
    unit = 10**digits
    step = np.where(rng.random(wanted.size) < 0.3, 1, unit)
    price = np.rint(wanted / step).astype(np.int64) * step
    return np.maximum(price, unit)


def _statuses(rng: np.random.Generator, inv: _Invoices, today_day: int) -> npt.NDArray[np.str_]:
    """Mostly posted; a few recent drafts; a few voids among customers who pay normally."""
    n = inv.customer.size
    status = np.full(n, InvoiceStatus.POSTED.value, dtype="<U6")
    recent = np.flatnonzero(inv.issue >= today_day - 10)
    drafts = rng.choice(recent, size=min(recent.size, max(3, n // 1000)), replace=False)
    status[drafts] = InvoiceStatus.DRAFT.value
    normal = np.isin(inv.behaviour, [_B.index(Behaviour.PROMPT), _B.index(Behaviour.TYPICAL)])
    candidates = np.flatnonzero(
        normal & (status == InvoiceStatus.POSTED.value) & (inv.issue <= today_day - 5)
    )
    voids = rng.choice(candidates, size=min(candidates.size, max(3, n // 250)), replace=False)
    status[voids] = InvoiceStatus.VOID.value
    return status


def _permille(rng: np.random.Generator, low: int, high: int, size: int) -> Ints:
    return rng.integers(low, high + 1, size=size, dtype=np.int64)


def _settlements(
    rng: np.random.Generator, customers: _Customers, inv: _Invoices, today_day: int
) -> _Events:
    """Each posted invoice's payments and adjustments, by its customer's behaviour."""
    ev = _Events()
    posted = inv.status == InvoiceStatus.POSTED.value
    total, issue, due = inv.total, inv.issue, inv.due

    def pick(behaviour: Behaviour) -> Ints:
        return np.flatnonzero(posted & (inv.behaviour == _B.index(behaviour)))

    # Prompt: on the due date or a few days before it.
    i = pick(Behaviour.PROMPT)
    early = np.minimum(rng.geometric(0.4, size=i.size) - 1, 10)
    ev.pay(i, np.maximum(issue[i], due[i] - early), total[i])

    # Typical: a few days late; 3 % get a small pricing credit note first.
    i = pick(Behaviour.TYPICAL)
    late = np.clip(np.rint(rng.normal(5, 5, size=i.size)), -3, 25).astype(np.int64)
    day = np.maximum(issue[i], due[i] + late)
    credit = np.where(
        rng.random(i.size) < 0.03, total[i] * _permille(rng, 50, 200, i.size) // 1000, 0
    )
    credit_day = np.minimum(issue[i] + rng.integers(2, 16, size=i.size), day)
    ev.adjust(i, credit_day, credit, AdjustmentKind.CREDIT_NOTE, _Reason.PRICING)
    ev.pay(i, day, total[i] - credit)

    # Chronic late: 30 to 90 days late; 6 % short-pay up to 3 %, written off the same day.
    i = pick(Behaviour.CHRONIC_LATE)
    day = due[i] + rng.integers(30, 91, size=i.size)
    short = np.where(rng.random(i.size) < 0.06, total[i] * _permille(rng, 5, 30, i.size) // 1000, 0)
    ev.pay(i, day, total[i] - short)
    ev.adjust(i, day, short, AdjustmentKind.WRITE_OFF, _Reason.SHORT_PAYMENT)

    # Partial: 3 in 4 invoices paid in 2 or 3 instalments, two to six weeks apart.
    i = pick(Behaviour.PARTIAL)
    t = total[i]
    parts = np.where(rng.random(i.size) < 0.75, rng.integers(2, 4, size=i.size), 1)
    parts = np.minimum(parts, t)  # every instalment at least one minor unit
    first = np.clip(t * _permille(rng, 300, 600, i.size) // 1000, 1, t - (parts - 1))
    first = np.where(parts == 1, t, first)
    rest = t - first
    second = np.where(
        parts == 3, np.clip(rest * _permille(rng, 400, 700, i.size) // 1000, 1, rest - 1), rest
    )
    third = rest - second
    day1 = np.maximum(issue[i], due[i] + rng.integers(-3, 11, size=i.size))
    day2 = day1 + rng.integers(14, 46, size=i.size)
    day3 = day2 + rng.integers(14, 46, size=i.size)
    ev.pay(i, day1, first, seq=0)
    two = parts >= 2
    ev.pay(i[two], day2[two], second[two], seq=1)
    three = parts == 3
    ev.pay(i[three], day3[three], third[three], seq=2)

    # Disputer: a third disputed; of those, 60 % get a credit note, half are never paid.
    i = pick(Behaviour.DISPUTER)
    disputed = rng.random(i.size) < 0.35
    ok = i[~disputed]
    ev.pay(ok, due[ok] + rng.integers(5, 31, size=ok.size), total[ok])
    d = i[disputed]
    credit = np.where(
        rng.random(d.size) < 0.6, total[d] * _permille(rng, 100, 500, d.size) // 1000, 0
    )
    credit_day = due[d] + rng.integers(20, 91, size=d.size)
    ev.adjust(d, credit_day, credit, AdjustmentKind.CREDIT_NOTE, _Reason.DISPUTE)
    settles = rng.random(d.size) < 0.5
    pay_day = credit_day + rng.integers(30, 151, size=d.size)
    ev.pay(d[settles], pay_day[settles], (total[d] - credit)[settles])
    ev.disputed = d

    # Overpayer: on time; 30 % of payments are 1–12 % more than billed (unapplied cash).
    i = pick(Behaviour.OVERPAYER)
    day = np.maximum(issue[i], due[i] + rng.integers(-5, 4, size=i.size))
    extra = np.where(
        rng.random(i.size) < 0.3,
        np.maximum(1, total[i] * _permille(rng, 10, 120, i.size) // 1000),
        0,
    )
    ev.pay(i, day, total[i], amount=total[i] + extra)

    # Stopped: paid 5–40 days late until the stop; unpaid ones written off 150 days past due.
    i = pick(Behaviour.STOPPED)
    stop_days = np.array([today_day - (c.stopped_days_ago or 0) for c in customers.profiles])
    day = due[i] + rng.integers(5, 41, size=i.size)
    paid = day < stop_days[inv.customer[i]]
    ev.pay(i[paid], day[paid], total[i][paid])
    unpaid = i[~paid]
    ev.adjust(
        unpaid, due[unpaid] + 150, total[unpaid], AdjustmentKind.WRITE_OFF, _Reason.UNCOLLECTIBLE
    )
    return ev


def _cat(parts: Sequence[Ints]) -> Ints:
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)


def _frames(
    rng: np.random.Generator,
    customers: _Customers,
    inv: _Invoices,
    lines: pl.DataFrame,
    ev: _Events,
    *,
    seed: int,
    today: dt.date,
) -> DemoLedger:
    today_day = (today - _EPOCH).days
    n = inv.customer.size
    width = max(6, len(str(n)))

    # Payments: drop those after today; number them in received-date order.
    p_inv, p_day = _cat(ev.pay_invoice), _cat(ev.pay_day)
    p_applied, p_amount, p_seq = _cat(ev.pay_applied), _cat(ev.pay_amount), _cat(ev.pay_seq)
    first_pay = np.full(n, _NEVER, np.int64)
    np.minimum.at(first_pay, p_inv, p_day)  # including payments still to come
    keep = p_day <= today_day
    p_inv, p_day, p_applied, p_amount, p_seq = (
        a[keep] for a in (p_inv, p_day, p_applied, p_amount, p_seq)
    )
    order = np.lexsort((p_seq, p_inv, p_day))
    p_inv, p_day, p_applied, p_amount = (a[order] for a in (p_inv, p_day, p_applied, p_amount))

    a_inv, a_day, a_amount = _cat(ev.adj_invoice), _cat(ev.adj_day), _cat(ev.adj_amount)
    a_kind, a_reason = _cat(ev.adj_kind), _cat(ev.adj_reason)
    keep = a_day <= today_day
    a_inv, a_day, a_amount, a_kind, a_reason = (
        a[keep] for a in (a_inv, a_day, a_amount, a_kind, a_reason)
    )
    order = np.lexsort((a_inv, a_day))
    a_inv, a_day, a_amount, a_kind, a_reason = (
        a[order] for a in (a_inv, a_day, a_amount, a_kind, a_reason)
    )

    settled = np.zeros(n, np.int64)
    np.add.at(settled, p_inv, p_applied)
    np.add.at(settled, a_inv, a_amount)

    customer_frame = _customer_frame(customers, inv, today_day)
    currency = customer_frame.get_column("currency").to_numpy()[inv.customer]
    ids = np.arange(1, n + 1, dtype=np.int64)
    voided = inv.status == InvoiceStatus.VOID.value
    void_day = np.minimum(inv.issue + rng.integers(1, 5, size=n), today_day)
    void_reason = pl.Series(_VOID_REASONS).gather(rng.integers(0, len(_VOID_REASONS), size=n))
    invoices = pl.DataFrame(
        {
            "id": ids,
            "customer_id": inv.customer + 1,
            "issue_date": _dates(inv.issue),
            "due_date": _dates(inv.due),
            "currency": currency,
            "total_minor": inv.total,
            "settled_minor": settled,
            "status": inv.status,
            "void_reason": _where(void_reason, voided),
            "created_at": _stamps(inv.issue, 9),
            "posted_at": _stamps(inv.issue, 9, keep=inv.status != InvoiceStatus.DRAFT.value),
            "voided_at": _stamps(void_day, 12, keep=voided),
        },
    ).with_columns(_numbered("INV-", width).alias("invoice_number"))

    p_count = p_inv.size
    p_width = max(7, len(str(p_count)))
    methods = np.array([c.method for c in customers.profiles])
    p_ids = np.arange(1, p_count + 1, dtype=np.int64)
    payments = pl.DataFrame(
        {
            "id": p_ids,
            "customer_id": inv.customer[p_inv] + 1,
            "received_date": _dates(p_day),
            "amount_minor": p_amount,
            "allocated_minor": p_applied,
            "currency": currency[p_inv],
            "method": methods[inv.customer[p_inv]],
            "created_at": _stamps(p_day, 10),
        },
    ).with_columns(_numbered("PAY-", p_width).alias("payment_reference"))
    allocations = pl.DataFrame(
        {
            "id": p_ids,
            "payment_id": p_ids,
            "invoice_id": p_inv + 1,
            "amount_minor": p_applied,
            "applied_date": _dates(p_day),
            "created_at": _stamps(p_day, 10),
        }
    )
    kinds = pl.Series([AdjustmentKind.CREDIT_NOTE.value, AdjustmentKind.WRITE_OFF.value])
    reasons = pl.Series([_REASON_TEXT[r] for r in _Reason])
    adjustments = pl.DataFrame(
        {
            "id": np.arange(1, a_inv.size + 1, dtype=np.int64),
            "invoice_id": a_inv + 1,
            "kind": kinds.gather(a_kind),
            "date": _dates(a_day),
            "amount_minor": a_amount,
            "reason": reasons.gather(a_reason),
            "created_at": _stamps(a_day, 11),
        }
    )
    activities = _activities(
        rng,
        inv,
        ev=ev,
        first_pay=first_pay,
        p_inv=p_inv,
        p_applied=p_applied,
        today_day=today_day,
        width=width,
    )
    disputes = _disputes(
        rng,
        inv,
        activities=activities,
        settled=settled,
        payments=(p_inv, p_day),
        adjustments=(a_inv, a_day, a_reason),
    )
    return DemoLedger(
        customers=customer_frame,
        invoices=invoices,
        invoice_lines=lines,
        payments=payments,
        allocations=allocations,
        adjustments=adjustments,
        collection_activities=activities,
        disputes=disputes,
        seed=seed,
        today=today,
    )


def _customer_frame(customers: _Customers, inv: _Invoices, today_day: int) -> pl.DataFrame:
    """Customers with credit limits sized to their expected balance, in two significant digits."""
    n_customers = len(customers.profiles)
    months = HISTORY_DAYS / 30.4
    invoices_per_month = np.bincount(inv.customer, minlength=n_customers) / months
    mean_invoice = customers.median_minor * np.exp(customers.sigma**2 / 2)
    exposure = invoices_per_month * mean_invoice * (customers.terms / 30 + 1) * 1.5
    limits = []
    for value, digits in zip(exposure.tolist(), customers.digits.tolist(), strict=True):
        # Round to two significant digits of whole currency units (an integer from here on).
        major = max(1000.0, value / 10**digits)
        magnitude = 10 ** max(0, math.floor(math.log10(major)) - 1)
        limits.append(round(major / magnitude) * magnitude * 10**digits)
    p = customers.profiles
    return pl.DataFrame(
        {
            "id": np.arange(1, n_customers + 1, dtype=np.int64),
            "customer_code": [c.code for c in p],
            "name": [c.name for c in p],
            "email": [f"accounts@{_slug(c.name)}.example" for c in p],
            "payment_terms_days": customers.terms,
            "credit_limit_minor": np.array(limits, dtype=np.int64),
            "currency": [c.currency for c in p],
            "created_at": _stamps(np.full(n_customers, today_day - HISTORY_DAYS - 30), 8),
        }
    )


def _activities(
    rng: np.random.Generator,
    inv: _Invoices,
    *,
    ev: _Events,
    first_pay: Ints,
    p_inv: Ints,
    p_applied: Ints,
    today_day: int,
    width: int,
) -> pl.DataFrame:
    """Chasing the slow payers' overdue invoices: reminders, promises, notes, disputes."""
    n = inv.customer.size
    slow = np.isin(
        inv.behaviour,
        [
            _B.index(b)
            for b in (
                Behaviour.CHRONIC_LATE,
                Behaviour.PARTIAL,
                Behaviour.DISPUTER,
                Behaviour.STOPPED,
            )
        ],
    )
    chased = np.flatnonzero(
        slow & (inv.status == InvoiceStatus.POSTED.value) & (first_pay > inv.due + 10)
    )
    first_amount = np.zeros(n, np.int64)
    order = np.argsort(p_inv, kind="stable")  # payments are in date order: first per invoice
    seen, index = np.unique(p_inv[order], return_index=True)
    first_amount[seen] = p_applied[order][index]

    kind, invoice, day, promise_day, promise_amount = [], [], [], [], []

    def add(
        k: ActivityKind, i: Ints, d: Ints, pd: Ints | None = None, pa: Ints | None = None
    ) -> None:
        keep = d <= today_day
        kind.append(np.full(int(keep.sum()), list(ActivityKind).index(k), np.int64))
        invoice.append(i[keep])
        day.append(d[keep])
        promise_day.append((pd if pd is not None else np.full(i.size, -1))[keep])
        promise_amount.append((pa if pa is not None else np.zeros(i.size, np.int64))[keep])

    reminder = inv.due[chased] + rng.integers(3, 11, size=chased.size)
    by_phone = rng.random(chased.size) < 0.6
    add(ActivityKind.CALL, chased[by_phone], reminder[by_phone])
    add(ActivityKind.EMAIL, chased[~by_phone], reminder[~by_phone])

    # A promise to pay before the (first) payment; one in five is broken (promised earlier).
    paid = chased[(first_pay[chased] < _NEVER) & (first_pay[chased] - inv.due[chased] > 20)]
    said = np.maximum(inv.due[paid] + 12, first_pay[paid] - rng.integers(5, 15, size=paid.size))
    broken = rng.random(paid.size) < 0.2
    promised = np.where(broken, said + rng.integers(3, 8, size=paid.size), first_pay[paid])
    amount = np.where(first_amount[paid] > 0, first_amount[paid], inv.total[paid])
    add(ActivityKind.PROMISE, paid, said, promised, amount)

    never = chased[first_pay[chased] == _NEVER]
    add(ActivityKind.NOTE, never, inv.due[never] + 45)
    disputed = ev.disputed
    add(ActivityKind.DISPUTE, disputed, inv.due[disputed] + rng.integers(5, 15, size=disputed.size))

    k, i, d = _cat(kind), _cat(invoice), _cat(day)
    pd, pa = _cat(promise_day), _cat(promise_amount)
    order = np.lexsort((k, i, d))
    k, i, d, pd, pa = (a[order] for a in (k, i, d, pd, pa))
    is_promise = k == list(ActivityKind).index(ActivityKind.PROMISE)
    text = [_ACTIVITY_TEXT.get(a, ("", "")) for a in ActivityKind]  # letters: not generated
    frame = pl.DataFrame(
        {
            "id": np.arange(1, i.size + 1, dtype=np.int64),
            "customer_id": inv.customer[i] + 1,
            "invoice_id": i + 1,
            "kind": pl.Series([a.value for a in ActivityKind]).gather(k),
            "activity_date": _dates(d),
            "promise_date": _where(_dates(pd), is_promise),
            "promise_amount_minor": _where(pl.Series(pa), is_promise),
            "follow_up_date": _dates(np.where(is_promise, pd + 2, d + 7)),
            "created_at": _stamps(d, 14),
            "before": pl.Series([b for b, _ in text]).gather(k),
            "after": pl.Series([a for _, a in text]).gather(k),
        }
    )
    number = pl.lit("INV-") + pl.col("invoice_id").cast(pl.String).str.zfill(width)
    body = pl.concat_str(
        "before", number, "after", pl.col("promise_date").dt.strftime("%Y-%m-%d"), ignore_nulls=True
    )
    return frame.with_columns(body.alias("body")).drop("before", "after")


def _disputes(
    rng: np.random.Generator,
    inv: _Invoices,
    *,
    activities: pl.DataFrame,
    settled: Ints,
    payments: tuple[Ints, Ints],
    adjustments: tuple[Ints, Ints, Ints],
) -> pl.DataFrame:
    """One dispute per `dispute` activity, closed the way the invoice's story went by `today`.

    Closed by its credit note ("Credit for disputed quantities") if one was
    issued, else closed with the invoice standing on the day it was paid in
    full, else still open. `payments` and `adjustments` are the events up to
    `today`, adjustments in id order. The generator dates a dispute 5 to 14 days
    after the due date and its credit note 20 to 90 (the payment later still), so
    a closing never comes before the opening; `np.maximum` only guards that.
    """
    p_inv, p_day = payments
    a_inv, a_day, a_reason = adjustments
    n = inv.customer.size
    opened_rows = activities.filter(pl.col("kind") == ActivityKind.DISPUTE.value)
    i = opened_rows.get_column("invoice_id").to_numpy().astype(np.int64) - 1
    opened = opened_rows.get_column("activity_date").cast(pl.Int64).to_numpy()

    credit_id = np.zeros(n, np.int64)  # 0: no dispute credit note (yet)
    credit_day = np.full(n, _NEVER, np.int64)
    by_credit = np.flatnonzero(a_reason == _Reason.DISPUTE)
    credit_id[a_inv[by_credit]] = by_credit + 1  # adjustment ids follow their order
    credit_day[a_inv[by_credit]] = a_day[by_credit]

    # The day each disputed invoice was settled in full: its last payment or adjustment.
    disputed = np.zeros(n, np.bool_)
    disputed[i] = True
    last_day = np.full(n, -1, np.int64)
    mine = disputed[p_inv]
    np.maximum.at(last_day, p_inv[mine], p_day[mine])
    mine = disputed[a_inv]
    np.maximum.at(last_day, a_inv[mine], a_day[mine])

    credited = credit_id[i] > 0
    paid = ~credited & (settled[i] >= inv.total[i])
    closed = credited | paid
    closed_day = np.maximum(np.where(credited, credit_day[i], last_day[i]), opened)
    codes = np.where(credited, 0, 1)  # index into `resolutions`
    resolutions = [DisputeResolution.CREDIT_NOTE, DisputeResolution.CLOSED]
    # Drawn last, after every other table's draws: adding disputes left those rows unchanged.
    reason = rng.integers(0, len(_DISPUTE_REASONS), size=i.size)
    return pl.DataFrame(
        {
            "id": np.arange(1, i.size + 1, dtype=np.int64),
            "invoice_id": i + 1,
            "customer_id": inv.customer[i] + 1,
            "opened_date": _dates(opened),
            "reason": pl.Series(_DISPUTE_REASONS, dtype=pl.String).gather(reason),
            "closed_date": _where(_dates(closed_day), closed),
            "resolution": _where(pl.Series([r.value for r in resolutions]).gather(codes), closed),
            "resolution_note": _where(
                pl.Series([_DISPUTE_CLOSING[r] for r in resolutions]).gather(codes), closed
            ),
            "adjustment_id": _where(pl.Series(credit_id[i]), credited),
            "created_at": _stamps(opened, 14),
        }
    )


# -- column helpers -----------------------------------------------------------------------------


def _dates(days: Ints) -> pl.Series:
    return pl.Series(days.astype(np.int32)).cast(pl.Date)


def _stamps(days: Ints, hour: int, *, keep: npt.NDArray[np.bool_] | None = None) -> pl.Series:
    """UTC timestamps on business dates (null where not `keep`).

    `created_at` and friends follow the story, not the clock, so that a seed
    gives the same rows whenever it runs.
    """
    micros = pl.Series(days.astype(np.int64) * _US_PER_DAY + hour * _US_PER_HOUR)
    stamps = micros.cast(pl.Datetime("us", "UTC"))
    return stamps if keep is None else _where(stamps, keep)


def _where(values: pl.Series, keep: npt.NDArray[np.bool_]) -> pl.Series:
    """`values` where `keep`, else null."""
    return pl.DataFrame({"v": values, "k": keep}).select(pl.when("k").then("v")).to_series()


def _numbered(prefix: str, width: int) -> pl.Expr:
    return pl.lit(prefix) + pl.col("id").cast(pl.String).str.zfill(width)


def _decimal_text(hundredths: Ints) -> pl.Series:
    """Exact decimals from hundredths, as `ExactDecimal` stores them ("1.5", "20", "8.25")."""
    unique, inverse = np.unique(hundredths, return_inverse=True)
    text = [format((Decimal(int(v)) / 100).normalize(), "f") for v in unique.tolist()]
    return pl.Series(text, dtype=pl.String).gather(inverse.ravel())


def _slug(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")

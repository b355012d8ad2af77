"""Careless and hostile form input, with no UI: each gets a message naming the field, or is
stored exactly as typed.

The forms hand their values to the services' data classes (through the UI's
entry parsers for the editable tables), so both are driven here directly.

What is stored exactly: any script, emoji, right-to-left text and combining
marks (trimmed at the ends, never normalised), and line breaks in multi-line
fields (invoice and line descriptions, notes, reasons). What is refused, with
the field named: control characters such as NUL, the invisible text-direction
overrides (U+202A-202E, U+2066-2069), tabs and line breaks in one-line fields
(customer name, e-mail), text over the field's limit, zero or negative amounts,
more decimals than the currency or field allows, and dates outside
1970-01-01..2099-12-31 (`billing.validation`, the same range as CSV files).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from billing.db import read_session, write_session
from billing.errors import ValidationError
from billing.models import ActivityKind, AdjustmentKind, CollectionActivity, Customer, Invoice
from billing.money import parse_amount
from billing.services import (
    ActivityCreate,
    AdjustmentCreate,
    CustomerCreate,
    CustomerUpdate,
    InvoiceCreate,
    LineCreate,
    PaymentCreate,
    add_activity,
    adjust_invoice,
    create_customer,
    create_invoice,
    post_payment,
    update_customer,
    void_invoice,
)
from tests.conftest import MANAGER
from tests.test_csv_import import state
from ui.entry import allocation_from_rows, lines_from_rows

D = dt.date(2026, 2, 1)
LONG = "x" * 10_000
EMOJI = "Café 🚀 ☕"
RTL = "شركة الأمل للتجارة"  # Arabic: "Hope Trading Company"
COMBINING = "e\u0301clair Zo\u0308e"  # é and ë as letter + combining mark, kept as typed
FAMILY = "👩‍👩‍👧‍👦 Family Ltd"  # one emoji of seven code points joined by ZWJ


def refused(engine: Engine, write: Callable[[Session], object]) -> list[tuple[str, str]]:
    """Run a service call, expect a ValidationError, prove nothing was written."""
    before = state(engine)
    with pytest.raises(ValidationError) as error, write_session(engine) as session:
        write(session)
    assert state(engine) == before
    return [(p.field, p.message) for p in error.value.problems]


def customer(name: str = "Acme", email: str | None = None, **more: object) -> Callable:
    data = CustomerCreate("C9", name, "USD", email=email, **more)  # type: ignore[arg-type]
    return lambda s: create_customer(s, actor=MANAGER, data=data)


def invoice_with(
    description: str = "Services", *, issue: dt.date = D, note: str | None = None, **line: object
) -> Callable:
    fields: dict[str, object] = {"quantity": Decimal(1), "unit_price_minor": 100, **line}
    lines = [LineCreate(description, **fields)]  # type: ignore[arg-type]
    data = InvoiceCreate("INV-9", "C001", issue, lines, description=note)
    return lambda s: create_invoice(s, actor=MANAGER, data=data, post=True)


def payment(amount: int = 100, *, received: dt.date = D, **more: object) -> Callable:
    data = PaymentCreate("C001", "P9", received, amount, **more)  # type: ignore[arg-type]
    return lambda s: post_payment(s, actor=MANAGER, data=data)


def note(body: str, *, when: dt.date = D, kind: ActivityKind = ActivityKind.NOTE, **more: object):
    data = ActivityCreate("C001", kind, when, body, **more)  # type: ignore[arg-type]
    return lambda s: add_activity(s, actor=MANAGER, data=data)


def adjustment(amount: int = 100, reason: str = "goodwill", when: dt.date = D) -> Callable:
    data = AdjustmentCreate("INV-1", AdjustmentKind.CREDIT_NOTE, when, amount, reason)
    return lambda s: adjust_invoice(s, actor=MANAGER, data=data)


# (id, call, the one (field, message) expected)
REFUSALS = [
    # customer name: a one-line field of at most 200 characters
    ("name-10k", customer(LONG), ("name", "is 10,000 characters long; the limit is 200")),
    ("name-nul", customer("Acme\x00Ltd"), ("name", "contains an invisible control character")),
    ("name-bell", customer("Acme\x07"), ("name", "contains an invisible control character")),
    (
        "name-rlo",
        customer("Acme\u202eexe.pdf"),
        ("name", "contains an invisible control character"),
    ),
    (
        "name-lone-surrogate",
        customer("Acme\ud800"),
        ("name", "contains an invisible control character"),
    ),
    (
        "name-newline",
        customer("Acme\nLtd"),
        ("name", "must be on one line (no tabs or line breaks)"),
    ),
    ("name-tab", customer("Acme\tLtd"), ("name", "must be on one line (no tabs or line breaks)")),
    ("name-blank", customer("   "), ("name", "is required")),
    ("email-newline", customer(email="a@b.example\nBcc: x@y"), ("email", "must be on one line")),
    ("terms-negative", customer(payment_terms_days=-1), ("payment_terms_days", "must be a whole")),
    ("terms-huge", customer(payment_terms_days=10**6), ("payment_terms_days", "must be a whole")),
    ("limit-negative", customer(credit_limit_minor=-1), ("credit_limit", "must be zero or more")),
    ("limit-past-bigint", customer(credit_limit_minor=2**63), ("credit_limit", "is too large")),
    # invoice lines and dates
    ("line-10k", invoice_with(LONG), ("line 1 description", "is 10,000 characters long")),
    ("line-nul", invoice_with("a\x00b"), ("line 1 description", "invisible control character")),
    ("note-10k", invoice_with(note=LONG), ("description", "is 10,000 characters long")),
    (
        "quantity-zero",
        invoice_with(quantity=Decimal(0)),
        ("line 1 quantity", "must be more than 0"),
    ),
    ("quantity-negative", invoice_with(quantity=Decimal(-1)), ("line 1 quantity", "more than 0")),
    (
        "quantity-5-places",
        invoice_with(quantity=Decimal("1.00001")),
        ("line 1 quantity", "has more than 4 decimal places"),
    ),
    ("quantity-nan", invoice_with(quantity=Decimal("NaN")), ("line 1 quantity", "is not a number")),
    ("price-negative", invoice_with(unit_price_minor=-1), ("line 1 unit_price", "zero or more")),
    ("tax-101", invoice_with(tax_rate=Decimal(101)), ("line 1 tax_rate", "at most 100")),
    (
        "issued-year-1",
        invoice_with(issue=dt.date(1, 1, 1)),
        ("issue_date", "is outside 1970-01-01"),
    ),
    ("issued-1969", invoice_with(issue=dt.date(1969, 12, 31)), ("issue_date", "is outside")),
    ("issued-2100", invoice_with(issue=dt.date(2100, 1, 1)), ("issue_date", "is outside")),
    ("issued-9999", invoice_with(issue=dt.date(9999, 12, 31)), ("issue_date", "is outside")),
    # payments
    ("payment-zero", payment(0), ("amount", "must be greater than zero")),
    ("payment-negative", payment(-100), ("amount", "must be greater than zero")),
    ("payment-past-bigint", payment(2**63), ("amount", "is too large")),
    ("payment-2100", payment(received=dt.date(2100, 1, 1)), ("received_date", "is outside")),
    ("payment-method-nul", payment(method="card\x00"), ("method", "invisible control character")),
    ("payment-method-long", payment(method=LONG), ("method", "the limit is 40")),
    # collection notes and promises
    ("note-body-10k", note(LONG), ("body", "is 10,000 characters long; the limit is 5,000")),
    ("note-body-nul", note("called\x00"), ("body", "invisible control character")),
    ("note-1969", note("called", when=dt.date(1969, 1, 1)), ("activity_date", "is outside")),
    (
        "promise-zero",
        note("will pay", kind=ActivityKind.PROMISE, promise_date=D, promise_amount_minor=0),
        ("promise_amount", "must be greater than zero"),
    ),
    (
        "promise-past-bigint",
        note("will pay", kind=ActivityKind.PROMISE, promise_date=D, promise_amount_minor=2**63),
        ("promise_amount", "is too large"),
    ),
    # credit notes
    ("credit-zero", adjustment(0), ("amount", "must be greater than zero")),
    ("credit-negative", adjustment(-5), ("amount", "must be greater than zero")),
    ("credit-reason-nul", adjustment(reason="x\x00"), ("reason", "invisible control character")),
    ("credit-reason-10k", adjustment(reason=LONG), ("reason", "the limit is 1,000")),
    ("credit-year-1", adjustment(when=dt.date(1, 1, 1)), ("date", "is outside")),
]


@pytest.mark.parametrize(
    ("call", "expected"),
    [pytest.param(call, expected, id=name) for name, call, expected in REFUSALS],
)
def test_refused_with_the_field_named(
    ledger: Engine, call: Callable, expected: tuple[str, str]
) -> None:
    problems = refused(ledger, call)
    assert len(problems) == 1, problems
    [(field, message)] = problems
    assert field == expected[0]
    assert expected[1] in message, message


@pytest.mark.parametrize("name", [EMOJI, RTL, COMBINING, FAMILY, "O'Brien & Söhne", "x" * 200])
def test_unicode_names_stored_exactly(ledger: Engine, name: str) -> None:
    with write_session(ledger) as s:
        customer(f"  {name}  ")(s)
    with read_session(ledger) as s:
        stored = s.scalars(select(Customer.name).where(Customer.customer_code == "C9")).one()
    assert stored == name  # trimmed at the ends, otherwise byte for byte (no normalisation)


@pytest.mark.parametrize("text", [EMOJI, RTL, COMBINING, FAMILY, "line one\nline two"])
def test_unicode_descriptions_and_notes_stored_exactly(ledger: Engine, text: str) -> None:
    with write_session(ledger) as s:
        invoice_with(text, note=text)(s)
        note(text)(s)
    with read_session(ledger) as s:
        stored = s.scalars(select(Invoice).where(Invoice.invoice_number == "INV-9")).one()
        assert (stored.description, stored.lines[0].description) == (text, text)
        body = s.scalars(select(CollectionActivity.body)).one()
    assert body == text


def test_renaming_a_customer_follows_the_same_rules(ledger: Engine) -> None:
    def rename(name: str) -> Callable:
        return lambda s: update_customer(
            s, actor=MANAGER, customer_code="C001", changes=CustomerUpdate(name=name)
        )

    assert refused(ledger, rename("a\nb")) == [
        ("name", "must be on one line (no tabs or line breaks)")
    ]
    assert refused(ledger, rename(LONG)) == [
        ("name", "is 10,000 characters long; the limit is 200")
    ]


def test_void_reason_over_the_limit(ledger: Engine) -> None:
    problems = refused(
        ledger, lambda s: void_invoice(s, actor=MANAGER, invoice_number="INV-1", reason=LONG)
    )
    assert problems == [("reason", "is 10,000 characters long; the limit is 1,000")]


def test_every_problem_of_a_form_at_once(ledger: Engine) -> None:
    """A clerk sees all of a form's mistakes in one go, not one per submit."""
    data = InvoiceCreate(
        "INV 9",  # a space: not a code
        "C001",
        dt.date(2100, 1, 1),
        [LineCreate("a\x00", Decimal("0.00001"), -1)],
        description=LONG,
    )
    problems = refused(ledger, lambda s: create_invoice(s, actor=MANAGER, data=data))
    assert [field for field, _ in problems] == [
        "invoice_number",
        "issue_date",
        "description",
        "line 1 description",
        "line 1 quantity",
        "line 1 unit_price",
    ]


# --- the UI's entry parsers (the invoice line editor and the allocation editor) -------


def line(quantity: str, price: str, tax: str = "", description: str = "Work") -> dict[str, str]:
    return {"description": description, "quantity": quantity, "unit_price": price, "tax_rate": tax}


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (line("0", "1.00"), "Line 1: quantity '0' must be greater than zero"),
        (line("-1", "1.00"), "Line 1: quantity '-1' must be greater than zero"),
        (line("1.00001", "1.00"), "Line 1: quantity '1.00001' has more than 4 decimal places"),
        (line("1e3", "1.00"), "Line 1: quantity '1e3' is not a number: use digits and a point"),
        (line("1,5", "1.00"), "Line 1: quantity '1,5' is not a number: use digits and a point"),
        (line("١٢", "1.00"), "Line 1: quantity '١٢' is not a number: use digits and a point"),
        (line("NaN", "1.00"), "Line 1: quantity 'NaN' is not a number: use digits and a point"),
        (line("1_000", "1.00"), "Line 1: quantity '1_000' is not a number: use digits and a point"),
        (line("1", "-5"), "Line 1: unit price '-5' must be positive"),
        (line("1", "12.345"), "Line 1: unit price '12.345' has more than 2 decimal places for USD"),
        (line("1", "9,99"), "Line 1: unit price '9,99' is not an amount: use a point for decimals"),
        (line("1", "1e3"), "Line 1: unit price '1e3' is not an amount: write it out without"),
        (line("1", "9" * 40), "Line 1: unit price '" + "9" * 40 + "' is too large"),
        (line("1", "1.00", "101"), "Line 1: tax rate % '101' is more than 100"),
        (line("1", "1.00", "-1"), "Line 1: tax rate % '-1' must not be negative"),
        (line("1", "1.00", description=LONG), "Line 1: description is longer than 1000"),
    ],
    ids=lambda v: repr(v)[:30] if isinstance(v, str) else None,
)
def test_line_editor_names_line_field_and_value(row: dict[str, str], problem: str) -> None:
    parsed = lines_from_rows([row], "USD")
    assert parsed.lines == ()
    assert len(parsed.problems) == 1
    assert parsed.problems[0].startswith(problem), parsed.problems[0]


def test_line_editor_reads_exact_values() -> None:
    parsed = lines_from_rows([line(" 2.5 ", " 12.50 ", "7.5", description=RTL)], "USD")
    assert parsed.problems == ()
    assert parsed.lines == (LineCreate(RTL, Decimal("2.5"), 1250, Decimal("7.5")),)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("-5", "must be positive"),
        ("1e3", "without an exponent"),
        ("9,99", "use a point for decimals and no thousands separators"),
        ("12.345", "has more than 2 decimal places"),
    ],
)
def test_allocation_editor_refuses_with_invoice_and_value(text: str, words: str) -> None:
    choice = allocation_from_rows(
        [{"invoice_number": "INV-1", "apply": text}],
        open_minor={"INV-1": 10000},
        suggestion={},
        currency="USD",
        amount_minor=10000,
    )
    assert choice.allocations == ()
    [problem] = choice.problems
    assert problem.startswith(f"INV-1: apply {text!r} ")
    assert words in problem


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [("0.10", "USD", 10), ("1234.50", "USD", 123450), ("500", "JPY", 500), ("0.001", "KWD", 1)],
)
def test_form_amounts_parse_to_exact_minor_units(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


def test_a_long_value_is_shown_by_its_start(ledger: Engine) -> None:
    """The message a clerk reads names the first 80 characters, not all 10,000."""
    with pytest.raises(ValidationError) as error, write_session(ledger) as s:
        customer(LONG)(s)
    assert str(error.value) == (f"name '{'x' * 80}…': is 10,000 characters long; the limit is 200")

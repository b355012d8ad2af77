"""Creating and editing customers."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit
from billing.errors import Conflict, ValidationError
from billing.models import Customer, User
from billing.money import MAX_MINOR, check_currency
from billing.roles import Action, Actor, Role, require
from billing.services._common import customer_by_code, unique_or_conflict
from billing.validation import Checker

DEFAULT_TERMS_DAYS = 30
MAX_TERMS_DAYS = 3650


@dataclass(frozen=True)
class CustomerCreate:
    """A new customer as entered; the credit limit is in the currency's minor units."""

    customer_code: str
    name: str
    currency: str
    email: str | None = None
    payment_terms_days: int = DEFAULT_TERMS_DAYS
    credit_limit_minor: int = 0


@dataclass(frozen=True)
class CustomerUpdate:
    """Fields to change on a customer; None leaves a field as it is."""

    name: str | None = None
    email: str | None = None
    payment_terms_days: int | None = None
    credit_limit_minor: int | None = None


def _check_terms(check: Checker, terms: int) -> None:
    if isinstance(terms, bool) or not isinstance(terms, int) or not 0 <= terms <= MAX_TERMS_DAYS:
        check.add("payment_terms_days", terms, f"must be a whole number from 0 to {MAX_TERMS_DAYS}")


def _check_limit(check: Checker, limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        check.add("credit_limit", limit, "must be zero or more")
    elif limit >= MAX_MINOR:
        check.add("credit_limit", limit, "is too large")


def _check_email(check: Checker, email: str | None) -> str | None:
    before = len(check.problems)
    cleaned = check.text("email", email, max_len=320, required=False, multiline=False)
    if cleaned and len(check.problems) == before and ("@" not in cleaned or " " in cleaned):
        check.add("email", email, "is not an e-mail address")
    return cleaned


def create_customer(session: Session, *, actor: Actor, data: CustomerCreate) -> Customer:
    """Add a customer; the code must be new."""
    require(actor, Action.CREATE_CUSTOMER)
    check = Checker()
    code = check.code("customer_code", data.customer_code)
    name = check.text("name", data.name, max_len=200, multiline=False)
    email = _check_email(check, data.email)
    _check_terms(check, data.payment_terms_days)
    _check_limit(check, data.credit_limit_minor)
    try:
        currency = check_currency(data.currency)
    except ValidationError as error:
        check.problems.extend(error.problems)
        currency = ""
    check.done()
    if session.scalar(select(Customer.id).where(Customer.customer_code == code)) is not None:
        raise Conflict(f"customer code {code!r} is already in use")
    customer = Customer(
        customer_code=code,
        name=name,
        email=email,
        payment_terms_days=data.payment_terms_days,
        credit_limit_minor=data.credit_limit_minor,
        currency=currency,
    )
    with unique_or_conflict(session, f"customer code {code!r} is already in use"):
        session.add(customer)
    audit.record(
        session,
        actor=actor,
        action="create_customer",
        entity="customer",
        entity_id=code,
        before=None,
        after=audit.snapshot(customer),
    )
    return customer


def update_customer(
    session: Session, *, actor: Actor, customer_code: str, changes: CustomerUpdate
) -> Customer:
    """Edit a customer. Name and e-mail are a clerk's; terms and credit limit a manager's."""
    require(actor, Action.EDIT_CUSTOMER)
    if changes.payment_terms_days is not None or changes.credit_limit_minor is not None:
        require(actor, Action.EDIT_CUSTOMER_TERMS)
    customer = customer_by_code(session, customer_code, lock=True)
    before = audit.snapshot(customer)
    check = Checker()
    name = (
        check.text("name", changes.name, max_len=200, multiline=False)
        if changes.name is not None
        else None
    )
    email = _check_email(check, changes.email) if changes.email is not None else None
    if changes.payment_terms_days is not None:
        _check_terms(check, changes.payment_terms_days)
    if changes.credit_limit_minor is not None:
        _check_limit(check, changes.credit_limit_minor)
    check.done()
    if name is not None:
        customer.name = name
    if changes.email is not None:
        customer.email = email
    if changes.payment_terms_days is not None:
        customer.payment_terms_days = changes.payment_terms_days
    if changes.credit_limit_minor is not None:
        customer.credit_limit_minor = changes.credit_limit_minor
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update_customer",
        entity="customer",
        entity_id=customer.customer_code,
        before=before,
        after=audit.snapshot(customer),
    )
    return customer


# Finance only reads (SPEC §1): a customer cannot be put in the hands of someone who may not chase.
OWNER_ROLES = frozenset({Role.CLERK, Role.MANAGER, Role.ADMIN})


def assign_owner(
    session: Session, *, actor: Actor, customer_code: str, owner: str | None
) -> Customer:
    """Put a customer in the hands of the user who chases it (None: nobody).

    The worklist filters on it, so it must name an active user who may log
    calls and promises; a typo would silently hide the customer from everyone's list.
    """
    require(actor, Action.ASSIGN_OWNER)
    customer = customer_by_code(session, customer_code, lock=True)
    username = None
    if owner is not None and owner.strip():
        username = owner.strip()
        user = session.scalars(select(User).where(User.username == username)).first()
        check = Checker()
        if user is None:
            check.add("owner", owner, "is not a user of this office")
        elif not user.active:
            check.add("owner", owner, "is deactivated; pick an active user")
        elif Role(user.role) not in OWNER_ROLES:
            check.add("owner", owner, f"is {user.role}, a read-only role; pick someone who chases")
        check.done()
    before = audit.snapshot(customer)
    customer.owner = username
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="assign_owner",
        entity="customer",
        entity_id=customer.customer_code,
        before=before,
        after=audit.snapshot(customer),
    )
    return customer

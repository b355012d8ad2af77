"""Payments: post a payment with its suggested (editable) allocation, and apply cash on account.

Everyone reads the unapplied cash; posting and allocating appear for roles
that may. The suggestion is SPEC §2's auto-allocation, computed here with the
same pure rule the service uses; left as suggested, the payment is posted
with auto-allocation; edited, it is posted with exactly the amounts shown.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from billing.errors import BillingError, ValidationError
from billing.money import parse_amount
from billing.roles import Action, may
from billing.services import PaymentCreate, PaymentPosted, allocate_payment, post_payment
from ui import data, downloads, entry
from ui.actions import SubmitGuard, run_write
from ui.auth import current_actor, current_user
from ui.format import money, money_table

METHODS = ("transfer", "card", "cheque", "cash", "direct debit", "other")
OLDEST_FIRST = "Oldest first"
PAYMENT_RESET = ("payment_reference", "payment_amount", "payment_allocation")
_BASIS = "_payment_allocation_basis"

st.title("Payments")
actor = current_actor()
role = current_user().role


def where_it_went(result: PaymentPosted) -> str:
    """The toast's second half: each invoice paid and what is left on account."""
    parts = [
        f"{money(a.amount_minor, result.currency)} to {a.invoice_number}" for a in result.applied
    ]
    if result.unapplied_minor:
        parts.append(f"{money(result.unapplied_minor, result.currency)} unapplied")
    return ", ".join(parts)


try:
    customers = data.customers()
    unapplied = data.unapplied_payments()
except BillingError as error:
    st.error(str(error))
    st.stop()

if customers.is_empty():
    st.info(
        "No customers yet. Enter a customer on the Customers page first, "
        "or load demo data with `billing seed-demo`."
    )
    st.stop()

names = dict(zip(customers.get_column("customer_code"), customers.get_column("name"), strict=True))
currencies = dict(
    zip(customers.get_column("customer_code"), customers.get_column("currency"), strict=True)
)

# --- Post a payment ------------------------------------------------------------------

if may(role, Action.POST_PAYMENT):
    st.subheader("Post a payment")
    left, right = st.columns(2)
    code = left.selectbox(
        "Customer",
        options=list(names),
        index=None,
        placeholder="Choose a customer",
        format_func=lambda c: f"{c} · {names[c]}",
        key="payment_customer",
    )
    reference = right.text_input("Payment reference", key="payment_reference").strip()
    left, middle, right = st.columns(3)
    received = left.date_input(
        "Received", value=dt.date.today(), format="YYYY-MM-DD", key="payment_received_date"
    )
    if not isinstance(received, dt.date):
        received = dt.date.today()
    currency = currencies[code] if code else None
    amount_raw = middle.text_input(
        f"Amount ({currency})" if currency else "Amount",
        placeholder="1234.50",
        key="payment_amount",
    )
    method = right.selectbox("Method", options=METHODS, key="payment_method")

    problems: list[str] = []
    amount: int | None = None
    if currency is not None and amount_raw.strip():
        try:
            amount = parse_amount(amount_raw, currency)
        except ValidationError as error:
            problems += [f"Amount {p.value!r} {p.message}" for p in error.problems]

    choice: entry.AllocationChoice | None = None
    if code is not None and currency is not None:
        open_invoices = data.open_invoices(code, currency=currency)
        eligible = entry.eligible_invoices(open_invoices, received_date=received)
        suggestion = entry.suggest_allocation(eligible, amount or 0, received_date=received)
        # A new customer, date or amount is a new suggestion: drop the edits made to the old one.
        basis = (code, received, amount, tuple(eligible.get_column("invoice_number")))
        if st.session_state.get(_BASIS) != basis:
            st.session_state.pop("payment_allocation", None)
            st.session_state[_BASIS] = basis
        later = open_invoices.height - eligible.height
        if eligible.is_empty():
            st.info(
                f"{names[code]} has no open invoices issued by {received.isoformat()}: "
                "the whole payment will be unapplied (on account)."
            )
            choice = entry.AllocationChoice((), False, ())
        else:
            st.caption(
                "Suggested allocation: oldest due first. Change the amounts to apply "
                "before posting if the customer said otherwise."
            )
            rows = entry.allocation_rows(eligible, suggestion, currency)
            edited = entry.allocation_editor(rows, key="payment_allocation", currency=currency)
            choice = entry.allocation_from_rows(
                edited,
                open_minor=dict(
                    zip(
                        eligible.get_column("invoice_number"),
                        eligible.get_column("open_minor"),
                        strict=True,
                    )
                ),
                suggestion=suggestion,
                currency=currency,
                amount_minor=amount,
            )
            problems += choice.problems
        if later:
            st.caption(
                f"{later} open invoice(s) issued after {received.isoformat()} are not shown: "
                "a payment pays only invoices issued by the day it was received."
            )
        if amount is not None:
            applied = choice.applied_minor
            shown_applied, shown_unapplied = st.columns(2)
            shown_applied.metric("To apply", money(applied, currency))
            shown_unapplied.metric("Unapplied", money(max(amount - applied, 0), currency))
    if problems:
        st.warning("Please fix:\n" + "\n".join(f"- {p}" for p in problems))

    guard = SubmitGuard("payment")
    if guard.button("Post payment", key="payment_submit", disabled=code is None):
        missing = [
            text
            for text, absent in (
                ("Choose a customer", code is None),
                ("Payment reference is required", not reference),
                ("Amount is required", amount is None and not amount_raw.strip()),
            )
            if absent
        ]
        if missing or problems or code is None or amount is None or choice is None:
            listed = "\n".join(f"- {p}" for p in [*missing, *problems])
            guard.finish(None, problem=f"Please fix:\n{listed}")
        else:
            payment = PaymentCreate(
                customer_code=code,
                payment_reference=reference,
                received_date=received,
                amount_minor=amount,
                currency=currency,
                method=method,
                idempotency_key=guard.token,
                allocations=choice.allocations if choice.changed else None,
            )
            result = run_write(lambda s: post_payment(s, actor=actor, data=payment))
            guard.finish(
                result,
                toast=None
                if result is None
                else f"Payment {result.payment_reference} of "
                f"{money(result.amount_minor, result.currency)} posted: {where_it_went(result)}",
                reset=PAYMENT_RESET,
            )

# --- Unapplied cash ------------------------------------------------------------------

st.subheader("Unapplied cash")
if unapplied.is_empty():
    st.info("No unapplied cash: every payment received is applied to invoices.")
    st.stop()

shown = unapplied.select(
    "customer_code",
    "customer_name",
    "payment_reference",
    "received_date",
    "method",
    "currency",
    "amount_minor",
    "unapplied_minor",
)
table, config = money_table(shown, {"amount_minor": "Amount", "unapplied_minor": "Unapplied"})
config |= {
    "customer_code": st.column_config.TextColumn("Customer"),
    "customer_name": st.column_config.TextColumn("Name"),
    "payment_reference": st.column_config.TextColumn("Reference"),
    "received_date": st.column_config.DateColumn("Received", format="YYYY-MM-DD"),
    "method": st.column_config.TextColumn("Method"),
    "currency": st.column_config.TextColumn("Currency"),
}
downloads.table(table, config, name="unapplied_cash", key="unapplied_table")

if not may(role, Action.ALLOCATE_PAYMENT):
    st.stop()

st.markdown("**Apply cash on account**")
payments = {row["payment_id"]: row for row in unapplied.iter_rows(named=True)}
if st.session_state.get("allocate_payment") not in payments:
    st.session_state.pop("allocate_payment", None)  # fully applied since: start over
left, right = st.columns(2)
payment_id = left.selectbox(
    "Payment",
    options=list(payments),
    format_func=lambda i: (
        f"{payments[i]['customer_code']} · {payments[i]['payment_reference']} · "
        f"{payments[i]['received_date'].isoformat()} · "
        f"{money(payments[i]['unapplied_minor'], payments[i]['currency'])} unapplied"
    ),
    key="allocate_payment",
)
chosen = payments[payment_id]
targets = data.open_invoices(chosen["customer_code"], currency=chosen["currency"])
if st.session_state.get("allocate_invoice") not in {OLDEST_FIRST, *targets["invoice_number"]}:
    st.session_state.pop("allocate_invoice", None)  # another customer's, or paid meanwhile
target = right.selectbox(
    "Invoice",
    options=[OLDEST_FIRST, *targets.get_column("invoice_number").to_list()],
    key="allocate_invoice",
)
amount_raw = st.text_input(
    f"Amount ({chosen['currency']}, optional)",
    placeholder="As much as fits",
    key="allocate_amount",
)
if targets.is_empty():
    st.caption(f"{chosen['customer_code']} has no open invoices to apply this cash to.")
guard = SubmitGuard("allocate")
if guard.button("Apply", key="allocate_submit", disabled=targets.is_empty()):
    budget: int | None = None
    if amount_raw.strip():
        try:
            budget = parse_amount(amount_raw, chosen["currency"])
        except ValidationError as error:
            guard.finish(None, problem=str(error))
    invoice_number = None if target == OLDEST_FIRST else target
    result = run_write(
        lambda s: allocate_payment(
            s,
            actor=actor,
            payment_id=payment_id,
            invoice_number=invoice_number,
            amount_minor=budget,
        )
    )
    guard.finish(
        result,
        toast=None
        if result is None
        else f"Applied from payment {result.payment_reference}: {where_it_went(result)}",
        reset=("allocate_amount",),
    )

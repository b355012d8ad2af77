"""Customers: one customer's profile, balances, paying habits, open items and notes.

Everyone reads; clerks add customers and notes and edit names and e-mails;
managers also change payment terms and credit limits. The services check
every role again, whatever this page shows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import streamlit as st

from billing.errors import BillingError
from billing.models import ActivityKind
from billing.money import format_amount, parse_amount
from billing.roles import Action, may
from billing.services import (
    ActivityCreate,
    CustomerCreate,
    CustomerUpdate,
    add_activity,
    create_customer,
    update_customer,
)
from billing.services.customers import DEFAULT_TERMS_DAYS, MAX_TERMS_DAYS
from queries.aging import aging_items
from queries.behaviour import payment_behaviour
from ui import data
from ui.actions import SubmitGuard, run_write
from ui.auth import current_actor, current_user
from ui.filters import as_of_filter, keep_in_url, url_state
from ui.format import credit_used, days, money, money_table, percent

NOTE_KINDS = [ActivityKind.NOTE.value, ActivityKind.CALL.value, ActivityKind.EMAIL.value]
EDIT_FIELDS = ("edit_name", "edit_email", "edit_terms", "edit_credit_limit")

st.title("Customers")

user = current_user()
actor = current_actor()
as_of = as_of_filter(default=dt.date.today())
settings = data.settings()

# --- New customer (drawn first, so the picker below can open the new one) ---------
if may(user.role, Action.CREATE_CUSTOMER):
    with st.expander("New customer", icon=":material/person_add:"), st.form("new_customer"):
        left, right = st.columns(2)
        new_code = left.text_input("Customer code", key="new_code", placeholder="C001")
        new_name = right.text_input("Name", key="new_name")
        new_email = left.text_input("E-mail", key="new_email")
        new_currency = right.text_input(
            "Currency", value=settings.base_currency or "USD", max_chars=3, key="new_currency"
        )
        new_terms = left.number_input(
            "Payment terms (days)",
            min_value=0,
            max_value=MAX_TERMS_DAYS,
            value=DEFAULT_TERMS_DAYS,
            step=1,
            key="new_terms",
        )
        new_limit = right.text_input("Credit limit", value="0", key="new_credit_limit")
        guard = SubmitGuard("new_customer")
        if guard.submit_button("Create customer"):
            currency = new_currency.strip().upper()
            created = run_write(
                lambda s: (
                    create_customer(
                        s,
                        actor=actor,
                        data=CustomerCreate(
                            customer_code=new_code,
                            name=new_name,
                            currency=currency,
                            email=new_email or None,
                            payment_terms_days=int(new_terms),
                            credit_limit_minor=parse_amount(
                                new_limit, currency, field="credit_limit", allow_zero=True
                            ),
                        ),
                    ).customer_code
                )
            )
            if created is not None:
                st.session_state["customer_pick"] = created
            guard.finish(created, toast=f"Customer {created} created.")

customers = data.customers()
if customers.is_empty():
    st.info(
        "No customers yet. Add one with **New customer** above (clerks and managers), "
        "import a customers CSV on the Import page, or load demo data with `billing seed-demo`."
    )
    st.stop()

# --- Which customer (kept in the URL as ?customer=) -------------------------------
names = dict(zip(customers.get_column("customer_code"), customers.get_column("name"), strict=True))
codes = list(names)
url_state("customer_pick", param="customer", parse=str, default=codes[0])
if st.session_state["customer_pick"] not in names:
    st.session_state["customer_pick"] = codes[0]
code = st.selectbox(
    "Customer", options=codes, format_func=lambda c: f"{c} · {names[c]}", key="customer_pick"
)
keep_in_url("customer_pick", param="customer", text=code)

try:
    profile = data.customer(code)
except BillingError as error:
    st.error(str(error))
    st.stop()
currency = profile.currency

# --- Edit ------------------------------------------------------------------------------
may_edit = may(user.role, Action.EDIT_CUSTOMER)
may_terms = may(user.role, Action.EDIT_CUSTOMER_TERMS)
if may_edit:
    # Fill the form from the customer shown, and again whenever another one is picked.
    if st.session_state.get("_edit_customer_for") != code or "edit_name" not in st.session_state:
        st.session_state["edit_name"] = profile.name
        st.session_state["edit_email"] = profile.email or ""
        st.session_state["edit_terms"] = profile.payment_terms_days
        st.session_state["edit_credit_limit"] = format_amount(profile.credit_limit_minor, currency)
        st.session_state["_edit_customer_for"] = code
    with st.expander("Edit customer", icon=":material/edit:"), st.form("edit_customer"):
        name = st.text_input("Name", key="edit_name")
        email = st.text_input("E-mail", key="edit_email")
        if may_terms:
            terms = st.number_input(
                "Payment terms (days)",
                min_value=0,
                max_value=MAX_TERMS_DAYS,
                step=1,
                key="edit_terms",
            )
            limit_text = st.text_input(
                f"Credit limit ({currency})",
                key="edit_credit_limit",
                help="Only managers and admins change terms and credit limits.",
            )
        else:
            st.caption("Payment terms and credit limit are changed by a manager.")
        if st.form_submit_button("Save changes", key="edit_customer_submit"):

            def save(session: Any) -> str:
                limit = profile.credit_limit_minor
                if may_terms:
                    limit = parse_amount(
                        limit_text, currency, field="credit_limit", allow_zero=True
                    )
                changes = CustomerUpdate(
                    name=name if name != profile.name else None,
                    email=email if email != (profile.email or "") else None,
                    payment_terms_days=(
                        int(terms)
                        if may_terms and int(terms) != profile.payment_terms_days
                        else None
                    ),
                    credit_limit_minor=limit if limit != profile.credit_limit_minor else None,
                )
                if changes == CustomerUpdate():
                    return ""
                return update_customer(
                    session, actor=actor, customer_code=code, changes=changes
                ).customer_code

            saved = run_write(save)
            if saved == "":
                st.info("Nothing changed.")
            elif saved is not None:
                st.toast(f"Customer {saved} updated.", icon=":material/check:")

try:
    profile = data.customer(code)  # again: the form above may just have changed it
    ledger = data.ledger()
    behaviour = payment_behaviour(ledger, as_of=as_of).filter(pl.col("customer_code") == code)
    items = (
        aging_items(ledger, as_of=as_of, boundaries=settings.aging_buckets)
        .filter(pl.col("customer_code") == code)
        .sort("due_date", "invoice_number")
        .collect()
    )
    habits = behaviour.collect()
except BillingError as error:
    st.error(str(error))
    st.stop()

row = habits.row(0, named=True) if habits.height else {}
open_minor = int(row.get("open_minor", 0))

# --- Profile and balances -------------------------------------------------------------
st.subheader(f"{profile.customer_code} · {profile.name}")
st.caption(
    f"E-mail: {profile.email or '—'} · Currency: {currency} · "
    f"Terms: {profile.payment_terms_days} days · "
    f"Credit limit: {money(profile.credit_limit_minor, currency)} · as of {as_of.isoformat()}"
)
cols = st.columns(4)
cols[0].metric("Open AR", money(open_minor, currency))
cols[1].metric("Overdue", money(int(row.get("overdue_minor", 0)), currency))
cols[2].metric("Unapplied cash", money(int(row.get("unapplied_minor", 0)), currency))
cols[3].metric("Credit used", credit_used(open_minor, profile.credit_limit_minor, currency))

# --- Payment behaviour ------------------------------------------------------------------
st.subheader("Payment behaviour")
st.caption("Over the last 365 days, weighted by amount; trend: last 90 days against the 90 before.")
cols = st.columns(4)
cols[0].metric("Days to pay", days(row.get("days_to_pay")))
cols[1].metric("Days late", days(row.get("days_late")))
cols[2].metric("On time", percent(row.get("on_time_pct")))
change = row.get("days_to_pay_change")
cols[3].metric(
    "Trend",
    "—" if change is None else f"{change:+,.1f} days",
    help="Positive: paying slower than in the 90 days before.",
)

# --- Open items -------------------------------------------------------------------------
st.subheader("Open items")
if items.is_empty():
    st.info(f"{profile.name} owes nothing as of {as_of.isoformat()}.")
else:
    shown = items.select(
        "invoice_number",
        "issue_date",
        "due_date",
        "currency",
        "total_minor",
        "open_minor",
        pl.col("days").alias("days_past_due"),
        pl.col("bucket").cast(pl.String),
    )
    table, config = money_table(shown, {"total_minor": "Total", "open_minor": "Open"})
    config |= {
        "invoice_number": st.column_config.TextColumn("Invoice"),
        "issue_date": st.column_config.DateColumn("Issued"),
        "due_date": st.column_config.DateColumn("Due"),
        "days_past_due": st.column_config.NumberColumn("Days past due"),
        "bucket": st.column_config.TextColumn("Bucket"),
    }
    st.dataframe(table, hide_index=True, column_config=config, key="customer_items")

# --- Notes -----------------------------------------------------------------------------
st.subheader("Notes")
if may(user.role, Action.ADD_NOTE):
    with st.form("note_form", clear_on_submit=True):
        left, right = st.columns([1, 1])
        kind = left.selectbox("Kind", options=NOTE_KINDS, key="note_kind")
        when = right.date_input("Date", value=dt.date.today(), format="YYYY-MM-DD", key="note_date")
        body = st.text_area("Note", key="note_text")
        note_guard = SubmitGuard("note")
        if note_guard.submit_button("Add note"):
            added = run_write(
                lambda s: (
                    add_activity(
                        s,
                        actor=actor,
                        data=ActivityCreate(
                            customer_code=code,
                            kind=ActivityKind(kind),
                            activity_date=when if isinstance(when, dt.date) else dt.date.today(),
                            body=body,
                        ),
                    ).id
                )
            )
            note_guard.finish(added, toast=f"{kind.title()} added for {code}.")

try:
    notes = data.activities(code)
except BillingError as error:
    st.error(str(error))
    st.stop()
if notes.is_empty():
    st.caption("No notes, calls or e-mails logged for this customer yet.")
else:
    st.dataframe(
        notes.select("activity_date", "kind", "body", "invoice_number", "created_by"),
        hide_index=True,
        column_config={
            "activity_date": st.column_config.DateColumn("Date"),
            "kind": st.column_config.TextColumn("Kind"),
            "body": st.column_config.TextColumn("Note", width="large"),
            "invoice_number": st.column_config.TextColumn("Invoice"),
            "created_by": st.column_config.TextColumn("By"),
        },
        key="customer_notes",
    )

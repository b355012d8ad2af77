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
    DisputeOpen,
    add_activity,
    assign_owner,
    create_customer,
    open_dispute,
    update_customer,
)
from billing.services.customers import DEFAULT_TERMS_DAYS, MAX_TERMS_DAYS
from queries.aging import aging_items
from queries.behaviour import payment_behaviour
from ui import data
from ui.actions import SubmitGuard, run_write
from ui.auth import current_actor, current_user
from ui.collections import disputes_table, letter_panel, statement_downloads
from ui.downloads import table
from ui.filters import as_of_filter, keep_in_url, url_state
from ui.format import credit_used, days, money, money_table, percent

LOGGED_KINDS = [
    ActivityKind.CALL.value,
    ActivityKind.EMAIL.value,
    ActivityKind.NOTE.value,
    ActivityKind.PROMISE.value,
]
KIND_LABELS = {"call": "Call", "email": "E-mail", "note": "Note", "promise": "Promise to pay"}
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

if may(user.role, Action.ASSIGN_OWNER):
    chasers = list(data.owner_choices())
    current = profile.owner if profile.owner in chasers else None
    with st.expander("Owner", icon=":material/assignment_ind:"), st.form("owner_form"):
        picked_owner = st.selectbox(
            "Chased by",
            chasers,
            index=None if current is None else chasers.index(current),
            placeholder="Nobody",
            key=f"owner_pick_{code}",
            help="The worklist can be filtered to one owner's customers.",
        )
        if st.form_submit_button("Assign", key="owner_submit"):
            assigned = run_write(
                lambda s: (
                    assign_owner(s, actor=actor, customer_code=code, owner=picked_owner).owner
                    or "nobody"
                )
            )
            if assigned is not None:
                st.toast(f"{code} is now chased by {assigned}.", icon=":material/check:")

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
    f"Credit limit: {money(profile.credit_limit_minor, currency)} · "
    f"Owner: {profile.owner or 'nobody yet'} · as of {as_of.isoformat()}"
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
    frame, config = money_table(shown, {"total_minor": "Total", "open_minor": "Open"})
    config |= {
        "invoice_number": st.column_config.TextColumn("Invoice"),
        "issue_date": st.column_config.DateColumn("Issued"),
        "due_date": st.column_config.DateColumn("Due"),
        "days_past_due": st.column_config.NumberColumn("Days past due"),
        "bucket": st.column_config.TextColumn("Bucket"),
    }
    table(frame, config, name=f"open_items_{code}_{as_of}", key="customer_items")

# --- Collections: statement, letters due, activities, disputes ---------------------------
st.subheader("Collections")
collections = data.collections()
st.caption(f"Statement of account at {as_of.isoformat()}, with the office's aging buckets.")
statement_downloads(customer_code=code, as_of=as_of, settings=settings, key="statement")

due = data.letters_due_at(as_of, settings.dunning_levels).filter(pl.col("customer_code") == code)
# One letter per customer (at its highest level due), so at most one row.
for level_name, count in due.select("level_name", "invoices").iter_rows():
    with st.expander(f"{level_name} due ({count} invoice{'s' if count != 1 else ''})"):
        letter_panel(
            ledger,
            collections,
            customer_code=code,
            as_of=as_of,
            settings=settings,
            role=user.role,
            actor=actor,
            key="customer_letter",
        )

open_numbers = items.get_column("invoice_number").to_list() if not items.is_empty() else []
if may(user.role, Action.ADD_NOTE):
    with (
        st.expander("Log a call, e-mail, note or promise", icon=":material/call:", expanded=True),
        st.form("note_form"),
    ):
        left, middle, right = st.columns(3)
        kind = left.selectbox(
            "Kind", options=LOGGED_KINDS, format_func=KIND_LABELS.get, key="note_kind"
        )
        when = middle.date_input(
            "Date", value=dt.date.today(), format="YYYY-MM-DD", key="note_date"
        )
        about = right.selectbox(
            "Invoice",
            open_numbers,
            index=None,
            placeholder="The customer as a whole",
            key="note_invoice",
        )
        body = st.text_area("Note", key="note_text")
        left, middle, right = st.columns(3)
        promise_date = left.date_input(
            "Promised payment date",
            value=None,
            format="YYYY-MM-DD",
            key="promise_date",
            help="Promises only.",
        )
        promise_amount = middle.text_input(
            f"Promised amount ({currency})", key="promise_amount", help="Promises only."
        )
        follow_up = right.date_input(
            "Follow up on",
            value=None,
            format="YYYY-MM-DD",
            key="follow_up_date",
            help="The customer leaves the worklist until this day, then comes back.",
        )
        note_guard = SubmitGuard("note")
        if note_guard.submit_button("Save"):
            is_promise = kind == ActivityKind.PROMISE.value
            stray = not is_promise and (promise_date is not None or promise_amount.strip())
            if stray:
                note_guard.finish(
                    None,
                    problem="A promised date and amount belong to a promise: "
                    "choose Promise to pay as the kind, or clear them.",
                )

            def log(session: object) -> int:
                amount = (
                    parse_amount(promise_amount, currency, field="promised amount")
                    if is_promise
                    else None
                )
                return add_activity(
                    session,
                    actor=actor,
                    data=ActivityCreate(
                        customer_code=code,
                        kind=ActivityKind(kind),
                        activity_date=when if isinstance(when, dt.date) else dt.date.today(),
                        body=body,
                        invoice_number=about,
                        promise_date=promise_date if is_promise else None,
                        promise_amount_minor=amount,
                        follow_up_date=follow_up,
                    ),
                ).id

            added = run_write(log)
            # On a refusal the form keeps what was typed; on success it starts afresh.
            note_guard.finish(
                added,
                toast=f"{KIND_LABELS[kind]} logged for {code}.",
                reset=[
                    "note_text",
                    "note_invoice",
                    "promise_date",
                    "promise_amount",
                    "follow_up_date",
                ],
            )

if open_numbers and may(user.role, Action.OPEN_DISPUTE):
    with (
        st.expander("Dispute an invoice", icon=":material/gavel:"),
        st.form("dispute_form"),
    ):
        left, right = st.columns(2)
        disputed = left.selectbox("Invoice", open_numbers, key="dispute_invoice")
        opened = right.date_input(
            "Opened", value=dt.date.today(), format="YYYY-MM-DD", key="dispute_date"
        )
        reason = st.text_area("Reason", key="dispute_reason")
        dispute_guard = SubmitGuard("dispute")
        st.caption("A disputed invoice stays in the aging but gets no dunning letters.")
        if dispute_guard.submit_button("Open dispute"):
            opened_day = opened if isinstance(opened, dt.date) else dt.date.today()
            result = run_write(
                lambda s: (
                    open_dispute(
                        s,
                        actor=actor,
                        data=DisputeOpen(
                            invoice_number=disputed, reason=reason, opened_date=opened_day
                        ),
                    ).id
                )
            )
            dispute_guard.finish(
                result, toast=f"{disputed} marked as disputed.", reset=["dispute_reason"]
            )

try:
    notes = data.activities(code)
except BillingError as error:
    st.error(str(error))
    st.stop()

promises = (
    data.promises_at(as_of)
    .filter(pl.col("customer_code") == code)
    .sort("promise_date", descending=True)
)
if not promises.is_empty():
    st.markdown("**Promises to pay**")
    shown, config = money_table(
        promises.with_columns(pl.lit(currency).alias("currency")).select(
            "currency",
            "activity_date",
            "promise_date",
            "promise_amount_minor",
            "paid_minor",
            "status",
        ),
        {"promise_amount_minor": "Promised", "paid_minor": "Paid towards it"},
    )
    config |= {
        "activity_date": st.column_config.DateColumn("Made on"),
        "promise_date": st.column_config.DateColumn("Pay by"),
        "status": st.column_config.TextColumn("Status"),
    }
    table(shown.drop("currency"), config, name=f"promises_{code}_{as_of}", key="promises")

customer_disputes = data.disputes_at(as_of, include_closed=True).filter(
    pl.col("customer_code") == code
)
if not customer_disputes.is_empty():
    st.markdown("**Disputes**")
    disputes_table(
        customer_disputes,
        name=f"disputes_{code}_{as_of}",
        key="customer_disputes",
        customers=False,
    )

st.markdown("**Activity**")
if notes.is_empty():
    st.caption("No calls, e-mails, notes, promises or letters logged for this customer yet.")
else:
    table(
        notes.select(
            "activity_date", "kind", "body", "invoice_number", "follow_up_date", "created_by"
        ),
        {
            "activity_date": st.column_config.DateColumn("Date"),
            "kind": st.column_config.TextColumn("Kind"),
            "body": st.column_config.TextColumn("Note", width="large"),
            "invoice_number": st.column_config.TextColumn("Invoice"),
            "follow_up_date": st.column_config.DateColumn("Follow up"),
            "created_by": st.column_config.TextColumn("By"),
        },
        name=f"activity_{code}",
        key="customer_notes",
    )

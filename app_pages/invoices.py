"""Invoices: the searchable list, entering a new invoice, and one invoice's detail and actions.

Everyone reads; the forms appear only for roles that may use them (the
services refuse the others anyway). The new-invoice form is deliberately not
an `st.form`, so its totals follow every keystroke, computed line by line
exactly as the service will store them.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from billing.errors import BillingError, ValidationError
from billing.models import AdjustmentKind, InvoiceStatus
from billing.money import parse_amount
from billing.roles import Action, may
from billing.services import (
    AdjustmentCreate,
    InvoiceCreate,
    adjust_invoice,
    create_invoice,
    post_invoice,
    void_invoice,
)
from ui import data, downloads, entry
from ui.actions import SubmitGuard, run_write
from ui.auth import current_actor, current_user
from ui.filters import invoice_filters
from ui.format import invoice_table, money, money_table

LIST_LIMIT = 5_000
NEW_INVOICE_RESET = ("new_invoice_number", "new_invoice_due_date", "new_invoice_lines")
_SHOW = "_invoices_show"  # the invoice to open in the detail after a save

st.title("Invoices")
actor = current_actor()
role = current_user().role

try:
    customers = data.customers()
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

# --- The list ------------------------------------------------------------------------

search = st.text_input(
    "Search", placeholder="Invoice number or customer", key="invoices_search"
).strip()
try:
    filters = invoice_filters(customers)
    invoices = data.invoices(
        customer_code=filters.customer_code,
        statuses=filters.statuses,
        limit=LIST_LIMIT + 1,
        search=search or None,
    )
except BillingError as error:
    st.error(str(error))
    st.stop()

if invoices.is_empty():
    st.info("No invoices match these filters.")
else:
    if invoices.height > LIST_LIMIT:
        st.caption(
            f"Showing the newest {LIST_LIMIT:,}; search, or choose a customer or status, "
            "to see others."
        )
        invoices = invoices.head(LIST_LIMIT)
    else:
        st.caption(f"{invoices.height:,} invoices")
    listed, columns = invoice_table(invoices)
    downloads.table(listed, columns, name="invoices", key="invoices_table")

# --- New invoice ---------------------------------------------------------------------

if may(role, Action.ENTER_INVOICE):
    with st.expander("New invoice", expanded=False, icon=":material/add:"):
        if "new_invoice_number" not in st.session_state:
            st.session_state["new_invoice_number"] = entry.suggest_invoice_number(
                data.latest_invoice_number()
            )
        left, right = st.columns(2)
        code = left.selectbox(
            "Customer",
            options=list(names),
            index=None,
            placeholder="Choose a customer",
            format_func=lambda c: f"{c} · {names[c]}",
            key="new_invoice_customer",
        )
        number = right.text_input("Invoice number", key="new_invoice_number").strip()
        left, right = st.columns(2)
        issue_date = left.date_input(
            "Issue date", value=dt.date.today(), format="YYYY-MM-DD", key="new_invoice_issue_date"
        )
        due_date = right.date_input(
            "Due date", value=None, format="YYYY-MM-DD", key="new_invoice_due_date"
        )
        if not isinstance(issue_date, dt.date):
            issue_date = dt.date.today()
        if not isinstance(due_date, dt.date):
            due_date = None
        currency = currencies[code] if code else (data.settings().base_currency or "USD")
        if code is not None:
            terms = data.payment_terms().get(code, 30)
            shown_due = due_date or entry.default_due_date(issue_date, terms)
            how = "as entered" if due_date else f"issue date + {terms} days' terms"
            right.caption(f"Due {shown_due.isoformat()} ({how})")

        rows = entry.line_editor(key="new_invoice_lines", currency=currency)
        parsed = entry.lines_from_rows(rows, currency)
        totals = entry.invoice_totals(parsed.lines)
        net, tax, total = st.columns(3)
        net.metric("Net", money(totals.net_minor, currency))
        tax.metric("Tax", money(totals.tax_minor, currency))
        total.metric("Total", money(totals.total_minor, currency))
        if parsed.problems:
            st.warning("Please fix:\n" + "\n".join(f"- {p}" for p in parsed.problems))

        post_now = st.checkbox(
            "Post now",
            value=True,
            help="Posted invoices count in receivables; a draft can be posted later.",
            key="new_invoice_post",
        )
        guard = SubmitGuard("new_invoice")
        if guard.button(
            "Save invoice",
            key="new_invoice_submit",
            disabled=code is None or not (parsed.lines or parsed.problems),
        ):
            problems = list(parsed.problems)
            if code is None:
                problems.insert(0, "Choose a customer")
            if not number:
                problems.insert(0, "Invoice number is required")
            if not parsed.lines and not parsed.problems:
                problems.append("Add at least one line")
            if problems:
                guard.finish(None, problem="Please fix:\n" + "\n".join(f"- {p}" for p in problems))
            else:
                invoice = InvoiceCreate(
                    invoice_number=number,
                    customer_code=str(code),
                    issue_date=issue_date,
                    lines=list(parsed.lines),
                    due_date=due_date,
                )
                created = run_write(
                    lambda s: create_invoice(s, actor=actor, data=invoice, post=post_now)
                )
                if created is not None:
                    st.session_state[_SHOW] = number
                guard.finish(
                    created,
                    toast=f"Invoice {number} {'posted' if post_now else 'saved as a draft'}: "
                    f"{money(totals.total_minor, currency)}",
                    reset=NEW_INVOICE_RESET,
                )

# --- One invoice ---------------------------------------------------------------------

st.subheader("Invoice detail")
choices = invoices.get_column("invoice_number").to_list()
if _SHOW in st.session_state:
    shown = st.session_state.pop(_SHOW)
    st.session_state["invoice_detail"] = shown if shown in choices else None
if st.session_state.get("invoice_detail") not in choices:
    st.session_state["invoice_detail"] = None  # nothing chosen yet (no `index=`: state rules)
selected = st.selectbox(
    "Invoice",
    options=choices,
    placeholder="Choose an invoice from the list",
    key="invoice_detail",
)
if selected is None:
    st.caption("Choose an invoice to see its lines, payments, credits and history.")
    st.stop()

try:
    detail = data.invoice_detail(selected)
except BillingError as error:
    st.error(str(error))
    st.stop()

cur = detail.currency
st.markdown(
    f"**{detail.invoice_number}** · {detail.customer_code} · {detail.customer_name} · "
    f"**{detail.status}**"
)
issued, due, total, still_open = st.columns(4)
issued.metric("Issued", detail.issue_date.isoformat())
due.metric("Due", detail.due_date.isoformat())
total.metric("Invoice total", money(detail.total_minor, cur))
still_open.metric("Open", money(detail.open_minor, cur))
if detail.description:
    st.caption(detail.description)
if detail.void_reason:
    st.caption(f"Voided: {detail.void_reason}")


def _with_currency(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(currency=pl.lit(cur))


lines, config = money_table(
    _with_currency(detail.lines),
    {
        "unit_price_minor": "Unit price",
        "net_minor": "Net",
        "tax_minor": "Tax",
        "total_minor": "Line",
    },
)
config |= {
    "line_no": st.column_config.NumberColumn("#"),
    "description": st.column_config.TextColumn("Description"),
    "quantity": st.column_config.TextColumn("Quantity"),
    "tax_rate": st.column_config.TextColumn("Tax %"),
}
st.dataframe(
    lines.drop("currency"), hide_index=True, column_config=config, key="invoice_lines_table"
)

st.markdown("**Payments applied**")
if detail.allocations.is_empty():
    st.caption("No payments applied.")
else:
    applied, config = money_table(_with_currency(detail.allocations), {"amount_minor": "Amount"})
    config |= {
        "payment_reference": st.column_config.TextColumn("Payment"),
        "received_date": st.column_config.DateColumn("Received"),
        "applied_date": st.column_config.DateColumn("Applied"),
        "created_by": st.column_config.TextColumn("By"),
    }
    st.dataframe(
        applied.drop("currency"),
        hide_index=True,
        column_config=config,
        key="invoice_allocations_table",
    )

st.markdown("**Credit notes and write-offs**")
if detail.adjustments.is_empty():
    st.caption("No credit notes or write-offs.")
else:
    adjusted, config = money_table(_with_currency(detail.adjustments), {"amount_minor": "Amount"})
    config |= {
        "kind": st.column_config.TextColumn("Kind"),
        "date": st.column_config.DateColumn("Date"),
        "reason": st.column_config.TextColumn("Reason"),
        "created_by": st.column_config.TextColumn("By"),
    }
    st.dataframe(
        adjusted.drop("currency"),
        hide_index=True,
        column_config=config,
        key="invoice_adjustments_table",
    )

st.markdown("**History**")
st.dataframe(
    detail.history,
    hide_index=True,
    column_config={
        "occurred_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm"),
        "actor": st.column_config.TextColumn("Who"),
        "action": st.column_config.TextColumn("What"),
    },
    key="invoice_history_table",
)

# --- Actions on it, by role ------------------------------------------------------------

if detail.status == InvoiceStatus.DRAFT.value and may(role, Action.POST_INVOICE):
    guard = SubmitGuard("invoice_post")
    if guard.button("Post invoice", key="invoice_post"):
        posted = run_write(
            lambda s: post_invoice(s, actor=actor, invoice_number=detail.invoice_number)
        )
        guard.finish(posted, toast=f"Invoice {detail.invoice_number} posted")

if detail.status == InvoiceStatus.POSTED.value and may(role, Action.VOID_INVOICE):
    with st.expander("Void this invoice", icon=":material/block:"):
        st.caption("Only an invoice with no payments or credits applied can be voided.")
        reason = st.text_input("Reason for voiding", key="void_reason")
        guard = SubmitGuard("invoice_void")
        if guard.button("Void invoice", key="invoice_void"):
            voided = run_write(
                lambda s: void_invoice(
                    s, actor=actor, invoice_number=detail.invoice_number, reason=reason
                )
            )
            guard.finish(
                voided, toast=f"Invoice {detail.invoice_number} voided", reset=("void_reason",)
            )

kinds = [
    kind
    for kind, action in (
        (AdjustmentKind.CREDIT_NOTE, Action.ISSUE_CREDIT_NOTE),
        (AdjustmentKind.WRITE_OFF, Action.WRITE_OFF),
    )
    if may(role, action)
]
if detail.status == InvoiceStatus.POSTED.value and kinds:
    with st.expander("Credit note or write-off", icon=":material/remove_circle:"):
        kind = st.radio(
            "Kind",
            options=[k.value for k in kinds],
            format_func=lambda k: k.replace("_", " ").capitalize(),
            horizontal=True,
            key="adjust_kind",
        )
        left, right = st.columns(2)
        amount_text = left.text_input(
            f"Amount ({cur})",
            placeholder=f"at most {money(detail.open_minor, cur)}",
            key="adjust_amount",
        )
        when = right.date_input(
            "Date",
            value=max(dt.date.today(), detail.issue_date),
            format="YYYY-MM-DD",
            key="adjust_date",
        )
        why = st.text_input("Reason", key="adjust_reason")
        guard = SubmitGuard("adjust")
        if guard.button("Record adjustment", key="adjust_submit"):
            try:
                amount = parse_amount(amount_text, cur)
            except ValidationError as error:
                guard.finish(None, problem=str(error))
            else:
                change = AdjustmentCreate(
                    invoice_number=detail.invoice_number,
                    kind=AdjustmentKind(kind),
                    date=when if isinstance(when, dt.date) else dt.date.today(),
                    amount_minor=amount,
                    reason=why,
                )
                adjusted_row = run_write(lambda s: adjust_invoice(s, actor=actor, data=change))
                label = AdjustmentKind(kind).value.replace("_", " ").capitalize()
                guard.finish(
                    adjusted_row,
                    toast=f"{label} of {money(amount, cur)} recorded on {detail.invoice_number}",
                    reset=("adjust_amount", "adjust_reason"),
                )

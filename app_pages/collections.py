"""Collections: whom to chase today, the open disputes, and the dunning letters due.

Everyone reads (finance included: these are reports too). Each worklist row
opens the customer's page, where calls, promises, disputes, letters and the
statement are. Managers close disputes and send letters here; the services
check every role again, whatever this page shows.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from billing.errors import BillingError
from billing.money import parse_amount
from billing.roles import Action, may
from billing.services import close_dispute, resolve_dispute_with_credit_note
from queries.aging import bucket_labels
from queries.worklist import SCORE_FORMULA, SCORE_MAX, filter_worklist
from ui import data
from ui.actions import SubmitGuard, run_write
from ui.auth import current_actor, current_user
from ui.collections import disputes_table, letter_panel
from ui.downloads import download_buttons, table
from ui.filters import as_of_filter
from ui.format import money_table
from ui.widgets import report_currency

ANYONE = "Everyone"
UNASSIGNED = "Unassigned"

st.title("Collections")

user = current_user()
actor = current_actor()
as_of = as_of_filter(default=dt.date.today())
settings = data.settings()
ledger = data.ledger()
collections = data.collections()
currency = report_currency(ledger, preferred=settings.base_currency)
boundaries = settings.aging_buckets
in_currency = pl.col("currency") == currency

worklist_tab, disputes_tab, dunning_tab = st.tabs(["Worklist", "Disputes", "Dunning letters"])

# --- Worklist ----------------------------------------------------------------------------
with worklist_tab:
    ranked = data.worklist_at(as_of, boundaries).filter(in_currency)
    with st.expander("How the score is worked out", icon=":material/calculate:"):
        st.markdown(SCORE_FORMULA)
    owners = sorted({o for o in ranked.get_column("owner").to_list() if o})
    choices = [ANYONE, UNASSIGNED, *owners]
    default_owner = user.username if user.username in owners else ANYONE
    left, middle, right, far = st.columns([2, 3, 2, 1], vertical_alignment="bottom")
    owner = left.selectbox(
        "Owner", choices, index=choices.index(default_owner), key="worklist_owner"
    )
    buckets = middle.multiselect(
        "Oldest overdue bucket",
        [label for label in bucket_labels(boundaries) if label != "current"],
        key="worklist_buckets",
        placeholder="All buckets",
    )
    minimum_text = right.text_input(
        f"Overdue at least ({currency})", value="0", key="worklist_minimum"
    )
    include_snoozed = far.toggle(
        "Snoozed",
        key="worklist_snoozed",
        help="Also show customers waiting for a follow-up date or a promise that is not yet due.",
    )
    try:
        minimum = parse_amount(minimum_text, currency, field="Overdue at least", allow_zero=True)
    except BillingError as error:
        st.error(str(error))
        minimum = 0
    shown = filter_worklist(
        ranked,
        owner=None if owner == ANYONE else ("" if owner == UNASSIGNED else owner),
        buckets=buckets,
        min_overdue_minor=minimum,
        include_snoozed=include_snoozed,
    )
    if shown.is_empty():
        st.success(f"Nobody to chase in {currency} at {as_of} with these filters.")
    else:
        st.caption(
            f"{shown.height:,} customers, highest score first. "
            "Select a row to open the customer and log a call, a promise or a dispute."
        )
        frame, config = money_table(
            shown.select(
                "currency",
                "score",
                "customer_code",
                "customer_name",
                "owner",
                "overdue_minor",
                "disputed_minor",
                "max_days_past_due",
                "oldest_bucket",
                "days_late",
                "broken_promises",
                "open_promise_date",
                "follow_up_date",
                "last_contact_date",
                "amount_points",
                "age_points",
                "behaviour_points",
                "promise_points",
            ),
            {"overdue_minor": "Overdue", "disputed_minor": "Disputed"},
        )
        config |= {
            "score": st.column_config.ProgressColumn(
                "Score", min_value=0, max_value=SCORE_MAX, format="%d"
            ),
            "customer_code": st.column_config.TextColumn("Customer"),
            "customer_name": st.column_config.TextColumn("Name"),
            "owner": st.column_config.TextColumn("Owner"),
            "max_days_past_due": st.column_config.NumberColumn("Days past due"),
            "oldest_bucket": st.column_config.TextColumn("Oldest bucket"),
            "days_late": st.column_config.NumberColumn("Pays late (days)", format="%.1f"),
            "broken_promises": st.column_config.NumberColumn("Broken promises"),
            "open_promise_date": st.column_config.DateColumn("Promised for"),
            "follow_up_date": st.column_config.DateColumn("Follow up"),
            "last_contact_date": st.column_config.DateColumn("Last contact"),
            "amount_points": st.column_config.NumberColumn("Amount pts"),
            "age_points": st.column_config.NumberColumn("Age pts"),
            "behaviour_points": st.column_config.NumberColumn("Behaviour pts"),
            "promise_points": st.column_config.NumberColumn("Promise pts"),
        }
        frame = frame.drop("currency")
        # The selection is kept by row number: a key per filter and day starts it afresh
        # whenever the rows change, so a row number never points at another customer.
        view = f"{as_of}_{currency}_{owner}_{'+'.join(buckets)}_{minimum}_{include_snoozed}"
        picked = st.dataframe(
            frame,
            hide_index=True,
            column_config=config,
            key=f"worklist_table_{view}",
            on_select="rerun",
            selection_mode="single-row",
        )
        rows = [r for r in picked.selection.rows if r < frame.height] if picked else []
        if rows:
            code = frame.item(rows[0], "customer_code")
            st.page_link(
                "app_pages/customers.py",
                label=f"Open {code} · {frame.item(rows[0], 'customer_name')}",
                icon=":material/arrow_forward:",
                query_params={"customer": code, "as_of": as_of.isoformat()},
            )
        download_buttons(frame, name=f"worklist_{as_of}_{currency}", key="worklist")

# --- Disputes ----------------------------------------------------------------------------
with disputes_tab:
    include_closed = st.toggle("Include closed disputes", key="disputes_closed")
    disputes = data.disputes_at(as_of, include_closed=include_closed).filter(in_currency)
    if disputes.is_empty():
        st.info(f"No {'' if include_closed else 'open '}disputes in {currency} at {as_of}.")
    else:
        disputes_table(disputes, name=f"disputes_{as_of}", key="disputes_table", customers=True)

    open_numbers = (
        disputes.filter(pl.col("status") == "open").get_column("invoice_number").to_list()
    )
    if open_numbers and may(user.role, Action.CLOSE_DISPUTE):
        st.subheader("Resolve a dispute")
        with st.form("resolve_dispute"):
            number = st.selectbox("Invoice", open_numbers, key="resolve_invoice")
            how = st.radio(
                "Resolution",
                ["Close: the invoice stands", "Credit note"],
                key="resolve_how",
                horizontal=True,
            )
            left, right = st.columns(2)
            credit_text = left.text_input(
                f"Credit note amount ({currency})",
                key="resolve_amount",
                help="Only for a credit note; at most the invoice's open balance.",
            )
            when = right.date_input("Date", value=as_of, format="YYYY-MM-DD", key="resolve_date")
            note = st.text_area("Note", key="resolve_note", placeholder="What was agreed, and why")
            guard = SubmitGuard("resolve_dispute")
            if guard.submit_button("Resolve dispute"):
                day = when if isinstance(when, dt.date) else as_of
                if how == "Credit note":

                    def resolve(session: object) -> str:
                        amount = parse_amount(credit_text, currency, field="credit note amount")
                        resolve_dispute_with_credit_note(
                            session,
                            actor=actor,
                            invoice_number=number,
                            amount_minor=amount,
                            credit_date=day,
                            note=note,
                        )
                        return number

                else:

                    def resolve(session: object) -> str:
                        close_dispute(
                            session, actor=actor, invoice_number=number, closed_date=day, note=note
                        )
                        return number

                done = run_write(resolve)
                guard.finish(
                    done,
                    toast=f"Dispute on {done} resolved.",
                    reset=["resolve_amount", "resolve_note"],
                )

# --- Dunning -----------------------------------------------------------------------------
with dunning_tab:
    levels = settings.dunning_levels
    st.caption(
        "Levels (Admin → Settings): "
        + "; ".join(f"{level.name} at {level.days} days past due" for level in levels)
        + ". One letter per customer, at the highest level due, listing every invoice due."
        + " Disputed invoices are left out; no invoice gets the same level twice."
    )
    due = data.letters_due_at(as_of, levels).filter(in_currency)
    if due.is_empty():
        st.success(f"No letters due in {currency} at {as_of}.")
        st.stop()
    frame, config = money_table(
        due.select(
            "currency",
            "customer_code",
            "customer_name",
            "level",
            "level_name",
            "invoices",
            "open_minor",
        ),
        {"open_minor": "Open"},
    )
    config |= {
        "customer_code": st.column_config.TextColumn("Customer"),
        "customer_name": st.column_config.TextColumn("Name"),
        "level": st.column_config.NumberColumn("Level"),
        "level_name": st.column_config.TextColumn("Letter"),
        "invoices": st.column_config.NumberColumn("Invoices"),
    }
    table(frame.drop("currency"), config, name=f"letters_due_{as_of}", key="letters_table")

    codes = due.get_column("customer_code").to_list()
    names = dict(zip(codes, due.get_column("customer_name"), strict=True))
    level_names = dict(zip(codes, due.get_column("level_name"), strict=True))
    if st.session_state.get("letter_pick") not in codes:  # sent meanwhile: no longer due
        st.session_state.pop("letter_pick", None)
    code = st.selectbox(
        "Letter",
        codes,
        format_func=lambda c: f"{c} · {names[c]} — {level_names[c]}",
        key="letter_pick",
    )
    letter_panel(
        ledger,
        collections,
        customer_code=code,
        as_of=as_of,
        settings=settings,
        role=user.role,
        actor=actor,
        key="letter",
    )

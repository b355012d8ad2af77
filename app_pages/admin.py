"""Admin: users and their roles, the office settings, ledger health and the audit log (admins).

Every change here goes through an admin-only service that audits it; the
services also refuse what would lock the office out (an admin demoting or
deactivating themself, or the last active admin going).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import polars as pl
import streamlit as st

from billing.dunning import format_dunning_levels
from billing.errors import BillingError
from billing.roles import Action, Role, may
from billing.services import (
    SettingsUpdate,
    add_user,
    reset_password,
    set_lock_date,
    set_user_active,
    set_user_role,
    update_settings,
)
from ui import data
from ui.actions import SubmitGuard, rerun_with_toast, run_write
from ui.auth import current_actor, current_user
from ui.downloads import table
from ui.format import money

AUDIT_LIMIT = 1_000
NO_LOCK, LOCKED = "No lock", "Closed up to"
ROLES = [role.value for role in Role]
st.title("Admin")

user = current_user()
actor = current_actor()
if not may(user.role, Action.MANAGE_USERS):
    st.info("The Admin page is for admins.")
    st.stop()

users_tab, settings_tab, health_tab, audit_tab = st.tabs(
    ["Users", "Settings", "Ledger health", "Audit log"]
)

# --- Users -----------------------------------------------------------------------------
with users_tab:
    with (
        st.expander("Add user", icon=":material/person_add:"),
        st.form("add_user", clear_on_submit=True),
    ):
        left, right = st.columns(2)
        username = left.text_input("Username", key="add_user_username")
        name = right.text_input("Full name", key="add_user_name")
        email = left.text_input("E-mail", key="add_user_email")
        role = right.selectbox("Role", options=ROLES, key="add_user_role")
        password = left.text_input(
            "Password", type="password", key="add_user_password", help="8 characters or more"
        )
        add_guard = SubmitGuard("add_user")
        if add_guard.submit_button("Add user"):
            added = run_write(
                lambda s: (
                    add_user(
                        s,
                        actor=actor,
                        username=username,
                        role=Role(role),
                        password=password,
                        name=name or None,
                        email=email or None,
                    ).username
                )
            )
            add_guard.finish(added, toast=f"User {added} added as {role}.")

    people = data.users()
    st.dataframe(
        people.select("username", "name", "role", "active", "created_at"),
        hide_index=True,
        column_config={
            "username": st.column_config.TextColumn("Username"),
            "name": st.column_config.TextColumn("Name"),
            "role": st.column_config.TextColumn("Role"),
            "active": st.column_config.CheckboxColumn("Active"),
            "created_at": st.column_config.DatetimeColumn("Created", format="YYYY-MM-DD HH:mm"),
        },
        key="users_table",
    )

    st.subheader("Change a user")
    usernames = people.get_column("username").to_list()
    roles = dict(zip(usernames, people.get_column("role"), strict=True))
    active = dict(zip(usernames, people.get_column("active"), strict=True))
    picked = st.selectbox(
        "User",
        options=usernames,
        format_func=lambda u: f"{u} ({roles[u]}{'' if active[u] else ', inactive'})",
        key="user_pick",
    )
    if picked is not None:
        # The role picker starts at the chosen user's role, again whenever another is chosen.
        if st.session_state.get("_user_role_for") != picked or "user_role" not in st.session_state:
            st.session_state["user_role"] = roles[picked]
            st.session_state["_user_role_for"] = picked
        left, middle, right = st.columns(3)
        new_role = left.selectbox("New role", options=ROLES, key="user_role")
        if left.button("Change role", key="user_role_submit"):
            changed = run_write(
                lambda s: set_user_role(s, actor=actor, username=picked, role=Role(new_role)).role
            )
            if changed is not None:
                rerun_with_toast(f"{picked} is now {changed}.")
        label = "Deactivate" if active[picked] else "Reactivate"
        middle.caption("Can log in." if active[picked] else "Cannot log in.")
        if middle.button(label, key="user_active_submit"):
            now_active = run_write(
                lambda s: (
                    set_user_active(
                        s, actor=actor, username=picked, active=not active[picked]
                    ).active
                )
            )
            if now_active is not None:
                rerun_with_toast(f"{picked} {'reactivated' if now_active else 'deactivated'}.")
        new_password = right.text_input("New password", type="password", key="user_password")
        if right.button("Reset password", key="user_password_submit"):
            reset = run_write(
                lambda s: (
                    reset_password(s, actor=actor, username=picked, password=new_password).username
                )
            )
            if reset is not None:
                st.toast(f"Password of {reset} reset.", icon=":material/check:")

# --- Settings --------------------------------------------------------------------------
with settings_tab:
    current = data.settings()
    if "settings_company" not in st.session_state:
        st.session_state["settings_company"] = current.company_name
        st.session_state["settings_buckets"] = ",".join(str(b) for b in current.aging_buckets)
        st.session_state["settings_currency"] = current.base_currency or ""
    if "settings_dunning" not in st.session_state:
        st.session_state["settings_dunning"] = format_dunning_levels(current.dunning_levels)
    with st.form("settings_form"):
        company = st.text_input("Company name", key="settings_company")
        buckets = st.text_input(
            "Aging buckets (days)",
            key="settings_buckets",
            help="Bucket boundaries in days, increasing, e.g. 30,60,90 gives "
            "current, 1-30, 31-60, 61-90, 91+.",
        )
        base = st.text_input(
            "Base currency",
            key="settings_currency",
            max_chars=3,
            help="The currency report pages show first; blank: the first present.",
        )
        dunning = st.text_input(
            "Dunning levels (days past due:letter)",
            key="settings_dunning",
            help="Reminder letters and when each falls due, separated by ';', e.g. "
            "7:Reminder; 30:Second notice; 60:Final notice. The last is the final notice.",
        )
        if st.form_submit_button("Save settings", type="primary", key="settings_submit"):
            saved = run_write(
                lambda s: update_settings(
                    s,
                    actor=actor,
                    data=SettingsUpdate(
                        company_name=company,
                        aging_buckets=buckets,
                        base_currency=base,
                        dunning_levels=dunning,
                    ),
                )
            )
            if saved is not None:
                st.toast("Settings saved.", icon=":material/check:")
                current = saved

    # The lock date has its own form, which sends the lock it showed: the service
    # refuses if another admin moved it since (a stale page must not reopen the books).
    # `lock_shown` is that value; it is seeded with the form, and again after a save
    # or a refusal, so the next run shows what is stored.
    if "lock_shown" not in st.session_state or st.session_state.pop("_lock_reseed", False):
        st.session_state["lock_shown"] = current.lock_date
        st.session_state["lock_mode"] = LOCKED if current.lock_date else NO_LOCK
        # Without a lock, the date offered is the end of last month: the usual close.
        st.session_state["lock_day"] = current.lock_date or (
            dt.date.today().replace(day=1) - dt.timedelta(days=1)
        )
    shown: dt.date | None = st.session_state["lock_shown"]
    with st.form("lock_date_form"):
        st.markdown(
            f"**Lock date** · now: books closed up to {shown.isoformat()}"
            if shown
            else "**Lock date** · now: no lock date"
        )
        lock_left, lock_right = st.columns(2)
        lock_mode = lock_left.radio(
            "Lock date",
            options=[NO_LOCK, LOCKED],
            horizontal=True,
            key="lock_mode",
            label_visibility="collapsed",
            help="Closing the books: nothing dated on or before the lock date can be "
            "entered, posted, voided or adjusted. Move it back to reopen a period.",
        )
        lock_day = lock_right.date_input(
            "Books closed up to (inclusive)",
            format="YYYY-MM-DD",
            max_value=dt.date.today(),
            key="lock_day",
        )
        if st.form_submit_button("Save lock date", key="lock_submit"):
            wanted = lock_day if lock_mode == LOCKED and isinstance(lock_day, dt.date) else None
            outcome = run_write(
                lambda s: (set_lock_date(s, actor=actor, lock_date=wanted, expected_current=shown),)
            )
            st.session_state["_lock_reseed"] = True
            if outcome is not None:
                st.toast("Lock date saved.", icon=":material/check:")
                current = replace(current, lock_date=outcome[0])
    st.caption(
        f"In use: {current.company_name} · aging buckets "
        f"{','.join(str(b) for b in current.aging_buckets)} · base currency "
        f"{current.base_currency or 'first present'} · "
        + (f"books closed up to {current.lock_date}" if current.lock_date else "no lock date")
    )

# --- Ledger health ---------------------------------------------------------------------
with health_tab:
    try:
        summary = data.ledger_summary()
    except BillingError as error:
        st.error(str(error))
        summary = None
    if summary is not None and summary.is_empty:
        st.info(
            "The ledger is empty. Load demo data with `billing seed-demo`, or import files "
            "on the Import page: customers first, then invoices, payments and adjustments."
        )
    elif summary is not None:
        st.caption(
            f"{summary.customers:,} customers · {summary.draft_invoices:,} draft invoices "
            "not yet posted · only posted invoices count below."
        )
        for totals in summary.currencies:
            st.subheader(totals.currency)
            top = st.columns(3)
            top[0].metric("Posted invoices", f"{totals.posted_invoices:,}")
            top[1].metric("Invoiced", money(totals.invoiced_minor, totals.currency))
            top[2].metric("Settled", money(totals.settled_minor, totals.currency))
            bottom = st.columns(3)
            bottom[0].metric("Open", money(totals.open_minor, totals.currency))
            bottom[1].metric("Cash received", money(totals.received_minor, totals.currency))
            bottom[2].metric("Unapplied cash", money(totals.unapplied_minor, totals.currency))
        st.subheader("Ledger checks")
        if summary.findings:
            st.error(f"{len(summary.findings)} problems found; `billing check` lists the same.")
            st.dataframe(
                pl.DataFrame({"finding": list(summary.findings)}),
                hide_index=True,
                key="ledger_findings",
            )
        else:
            st.success("Every ledger invariant holds.")

# --- Audit log -------------------------------------------------------------------------
with audit_tab:
    if not may(user.role, Action.READ_AUDIT_LOG):
        st.info("Only admins read the audit log.")
    else:
        choices = data.audit_choices()
        row1 = st.columns(3)
        start = row1[0].date_input("From", value=None, format="YYYY-MM-DD", key="audit_from")
        end = row1[1].date_input("To", value=None, format="YYYY-MM-DD", key="audit_to")
        search = row1[2].text_input(
            "Entity id contains", key="audit_search", placeholder="C001, INV-1001…"
        )
        row2 = st.columns(3)
        who = row2[0].selectbox(
            "Actor", options=choices.actors, index=None, placeholder="Anyone", key="audit_actor"
        )
        entity = row2[1].selectbox(
            "Entity", options=choices.entities, index=None, placeholder="All", key="audit_entity"
        )
        action = row2[2].selectbox(
            "Action", options=choices.actions, index=None, placeholder="All", key="audit_action"
        )
        log = data.audit_log(
            start=start if isinstance(start, dt.date) else None,
            end=end if isinstance(end, dt.date) else None,
            actor=who,
            entity=entity,
            action=action,
            search=search or None,
            limit=AUDIT_LIMIT + 1,
        )
        if log.is_empty():
            st.info("No audit entries match these filters.")
        else:
            if log.height > AUDIT_LIMIT:
                st.caption(f"Showing the newest {AUDIT_LIMIT:,}; narrow the filters to see others.")
                log = log.head(AUDIT_LIMIT)
            else:
                st.caption(f"{log.height:,} entries, newest first (times in UTC)")
            table(
                log,
                {
                    "id": st.column_config.NumberColumn("#", format="%d"),
                    "occurred_at": st.column_config.DatetimeColumn(
                        "When (UTC)", format="YYYY-MM-DD HH:mm:ss"
                    ),
                    "actor": st.column_config.TextColumn("Actor"),
                    "action": st.column_config.TextColumn("Action"),
                    "entity": st.column_config.TextColumn("Entity"),
                    "entity_id": st.column_config.TextColumn("Entity id"),
                    "before": st.column_config.TextColumn("Before"),
                    "after": st.column_config.TextColumn("After"),
                },
                name="audit-log",
                key="audit_table",
            )
            entries = {row["id"]: row for row in log.iter_rows(named=True)}
            shown = st.selectbox(
                "Show the values before and after of entry",
                options=list(entries),
                format_func=lambda i: (
                    f"#{i} · {entries[i]['action']} {entries[i]['entity']} "
                    f"{entries[i]['entity_id']} by {entries[i]['actor']}"
                ),
                key="audit_row",
            )
            if shown is not None:
                before_col, after_col = st.columns(2)
                before_col.caption("Before")
                before_col.json(json.loads(entries[shown]["before"] or "null"))
                after_col.caption("After")
                after_col.json(json.loads(entries[shown]["after"] or "null"))

"""Collections widgets the Collections and Customers pages share: a dunning letter, a statement.

Each builds its document from the cached ledger only when shown, and its
files only when a download is clicked.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from billing.errors import BillingError
from billing.letters import build_letter, letter_pdf, letter_text
from billing.roles import Action, Actor, Role, may
from billing.services import record_letter_sent
from billing.settings import OfficeSettings
from billing.statement_render import statement_csv, statement_pdf
from queries.collections import CollectionFrames
from queries.ledger import LedgerFrames
from ui import data
from ui.actions import SubmitGuard, run_write
from ui.downloads import PDF_MIME, table
from ui.format import money, money_table


def letter_panel(
    ledger: LedgerFrames,
    collections: CollectionFrames,
    *,
    customer_code: str,
    as_of: dt.date,
    settings: OfficeSettings,
    role: Role,
    actor: Actor,
    key: str,
) -> None:
    """The customer's due letter: its e-mail text, its PDF, and (managers) "Mark as sent"."""
    try:
        letter = build_letter(
            ledger,
            collections,
            customer_code=customer_code,
            as_of=as_of,
            levels=settings.dunning_levels,
            company_name=settings.company_name,
        )
    except BillingError as error:
        st.error(str(error))
        return
    text = letter_text(letter)
    # Shown as code (with its copy button), not a keyed text area: a keyed widget keeps
    # its first value, so the text would go stale after a payment or a settings change.
    st.caption("E-mail text")
    st.code(text, language=None, wrap_lines=True)
    buttons = st.container(horizontal=True, vertical_alignment="center")
    slug = letter.level_name.replace(" ", "_").lower()
    buttons.download_button(
        "Letter PDF",
        data=lambda: letter_pdf(letter),
        file_name=f"{customer_code}_{slug}_{as_of}.pdf",
        mime=PDF_MIME,
        key=f"{key}_pdf",
        on_click="ignore",
        icon=":material/picture_as_pdf:",
    )
    if may(role, Action.SEND_DUNNING_LETTER):
        # One guard per letter: a pending click must never carry over to another letter.
        guard = SubmitGuard(f"{key}_send_{customer_code}_{letter.level}")
        with buttons:
            send = guard.button("Mark as sent", key=f"{key}_send")
        if send:

            def record(session: object) -> str:
                record_letter_sent(
                    session,
                    actor=actor,
                    customer_code=customer_code,
                    letter_date=as_of,
                    invoice_numbers=[item.invoice_number for item in letter.items],
                    body=text,
                )
                return customer_code

            sent = run_write(record)
            guard.finish(sent, toast=f"{letter.level_name} to {customer_code} recorded as sent.")
    buttons.caption(f"Total on this letter: {money(letter.total_minor, letter.currency)}")


def statement_downloads(
    *,
    customer_code: str,
    as_of: dt.date,
    settings: OfficeSettings,
    key: str,
) -> None:
    """The customer's statement at `as_of` as PDF and CSV (SPEC §4's `billing statement`)."""
    try:
        statement = data.statement_at(
            customer_code,
            as_of,
            boundaries=settings.aging_buckets,
            company_name=settings.company_name,
        )
    except BillingError as error:
        st.error(str(error))
        return
    buttons = st.container(horizontal=True)
    buttons.download_button(
        "Statement PDF",
        data=lambda: statement_pdf(statement),
        file_name=f"statement_{customer_code}_{as_of}.pdf",
        mime=PDF_MIME,
        key=f"{key}_pdf",
        on_click="ignore",
        icon=":material/picture_as_pdf:",
    )
    buttons.download_button(
        "Statement CSV",
        data=lambda: statement_csv(statement),
        file_name=f"statement_{customer_code}_{as_of}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        on_click="ignore",
        icon=":material/download:",
    )


def disputes_table(disputes: pl.DataFrame, *, name: str, key: str, customers: bool) -> None:
    """`queries.disputes.disputes_list` rows as a table with downloads, one currency's amounts.

    The Collections page lists every customer's (`customers=True` adds the
    code and name columns); a customer's page lists only theirs.
    """
    who = ["customer_code", "customer_name"] if customers else []
    frame, config = money_table(
        disputes.select(
            "currency",
            "invoice_number",
            *who,
            "opened_date",
            "age_days",
            "reason",
            "open_minor",
            "status",
            "resolution",
        ),
        {"open_minor": "Open"},
    )
    config |= {
        "invoice_number": st.column_config.TextColumn("Invoice"),
        "customer_code": st.column_config.TextColumn("Customer"),
        "customer_name": st.column_config.TextColumn("Name"),
        "opened_date": st.column_config.DateColumn("Opened"),
        "age_days": st.column_config.NumberColumn("Age (days)"),
        "reason": st.column_config.TextColumn("Reason", width="large"),
        "status": st.column_config.TextColumn("Status"),
        "resolution": st.column_config.TextColumn("Resolution"),
    }
    table(frame.drop("currency"), config, name=name, key=key)

"""Billing Office: log in, then the pages your role may open.

Run with `make run` (or `streamlit run app.py`). Each run: build the
authenticator once from the users table, restore a login from its cookie
without drawing anything, and only then decide the page list, so a returning
user never sees the login form flash and a logged-out one never sees a page.
All of it runs inside `database_guard`: with the database unreachable, a
clear message and an automatic retry instead of an error (`ui/outage.py`).
"""

from __future__ import annotations

import streamlit as st

from ui import actions, auth, data
from ui.db import get_engine
from ui.navigation import PAGES, pages_for
from ui.outage import database_guard

st.set_page_config(page_title="Billing Office", page_icon=":material/receipt_long:", layout="wide")

# Everything below reads the database; an outage shows a message, not an error.
with database_guard():
    data.begin_run()
    auth.refuse_unsafe_start(get_engine())
    credentials = auth.load_credentials(get_engine())
    authenticator = auth.build_authenticator(credentials)
    auth.restore_login(authenticator)
    auth.enforce_session(authenticator, get_engine())
    auth.end_stale_session(authenticator, credentials)
    auth.demo_notice()  # in the sidebar of every page, the login page included

    user = auth.signed_in_user(credentials)
    if user is not None:
        auth.logout_button(authenticator, user, get_engine())
        user = auth.signed_in_user(credentials)  # None right after "Log out" was clicked
    auth.remember(user)

    if user is None:

        def log_in() -> None:
            """The only page before login: the form itself."""
            st.title("Billing Office")
            auth.login_form(authenticator, get_engine())

        # A bookmarked /invoices shows the same form (not "page not found") and,
        # once logged in, opens that page: hidden stand-ins hold the pages' addresses.
        pages = [
            st.Page(
                log_in, title="Log in", url_path="login", icon=":material/login:", default=True
            ),
            *(
                st.Page(log_in, title=spec.title, url_path=spec.url_path, visibility="hidden")
                for spec in PAGES
            ),
        ]
    else:
        actions.show_pending_toast()
        st.sidebar.markdown(f"**{data.settings().company_name}**")
        pages = [
            st.Page(spec.path, title=spec.title, icon=spec.icon, default=index == 0)
            for index, spec in enumerate(pages_for(user.role))
        ]

    st.navigation(pages).run()

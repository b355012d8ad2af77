"""Writes from a page: one transaction per click, user errors shown, double submits stopped.

`run_write` is the only way a page writes: it opens `billing.db.write_session`,
calls the service, and turns a `BillingError` into a message beside the form
(anything else is a bug and goes to the server log, not to the clerk).

`SubmitGuard` closes the double-submit hole (three fast clicks would post three
times): the button disables itself through an `on_click` flag the moment it is
pressed, and each render of the form carries a fresh idempotency key that the
payment service stores in a unique column, so a replayed click returns the
first result instead of a second payment.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypeVar

import streamlit as st
from sqlalchemy.orm import Session

from billing.db import write_session
from billing.errors import BillingError, ValidationError
from ui.db import get_engine

T = TypeVar("T")


def show_error(error: BillingError) -> None:
    """A service's refusal as a clerk reads it: one line per problem."""
    if isinstance(error, ValidationError) and len(error.problems) > 1:
        st.error("Please fix:\n" + "\n".join(f"- {problem}" for problem in error.problems))
    else:
        st.error(str(error))


def run_write(action: Callable[[Session], T]) -> T | None:
    """Run one service call in its own transaction; on refusal show why and return None."""
    try:
        with write_session(get_engine()) as session:
            return action(session)
    except BillingError as error:
        show_error(error)
        return None


class SubmitGuard:
    """A submit button that can fire once per form render, and the key that makes it idempotent.

    Use: `guard = SubmitGuard("payment")`; `if guard.submit_button("Post"):`
    write with `idempotency_key=guard.token`, then `guard.finish(result)`.

    The click sets the pending flag before the run starts, so the form comes
    back with its button disabled. A second click that slips in before that
    interrupts the first run: the next run finds the flag still set and
    carries on the same submission with the same key (so at most one write).
    `finish` then gives a success a new key (the next form is a new one) and
    lets the clerk correct a refused form and press again.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._token = f"_guard_{name}_token"
        self._pending = f"_guard_{name}_pending"
        if self._token not in st.session_state:
            st.session_state[self._token] = uuid.uuid4().hex
        st.session_state.setdefault(self._pending, False)

    @property
    def token(self) -> str:
        """The idempotency key of this render of the form."""
        return str(st.session_state[self._token])

    @property
    def pending(self) -> bool:
        """True from the click until the write has finished."""
        return bool(st.session_state[self._pending])

    def _press(self) -> None:
        st.session_state[self._pending] = True

    def submit_button(self, label: str, *, key: str | None = None) -> bool:
        """Inside an `st.form`: its submit button; True on the click and while pending."""
        clicked = st.form_submit_button(
            label,
            type="primary",
            on_click=self._press,
            disabled=self.pending,
            key=key or f"{self.name}_submit",
        )
        return bool(clicked) or self.pending

    def button(self, label: str, *, key: str | None = None, disabled: bool = False) -> bool:
        """Outside a form (widgets that must rerun live): a plain button, same guard."""
        clicked = st.button(
            label,
            type="primary",
            on_click=self._press,
            disabled=disabled or self.pending,
            key=key or f"{self.name}_submit",
        )
        return bool(clicked) or self.pending

    def finish(self, result: object | None) -> None:
        """End the submission: a result (success) starts a new form; None (refused) re-arms."""
        if result is not None:
            st.session_state[self._token] = uuid.uuid4().hex
        st.session_state[self._pending] = False

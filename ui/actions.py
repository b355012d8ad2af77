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
from collections.abc import Callable, Iterable
from typing import NoReturn, TypeVar

import streamlit as st
from sqlalchemy.orm import Session

from billing.db import write_session
from billing.errors import BillingError, ValidationError
from ui import data
from ui.db import get_engine

T = TypeVar("T")


def show_error(error: BillingError) -> None:
    """A service's refusal as a clerk reads it: one line per problem."""
    if isinstance(error, ValidationError) and len(error.problems) > 1:
        st.error("Please fix:\n" + "\n".join(f"- {problem}" for problem in error.problems))
    else:
        st.error(str(error))


_REFUSAL = "_last_refusal"
_TOAST = "_pending_toast"


def run_write(action: Callable[[Session], T]) -> T | None:
    """Run one service call in its own transaction; on refusal show why and return None."""
    try:
        with write_session(get_engine()) as session:
            result = action(session)
    except BillingError as error:
        refuse(error)
        return None
    data.forget_version()  # what this run shows from here on includes the write
    return result


def refuse(error: BillingError) -> None:
    """Show a refusal now, and keep it for `SubmitGuard.finish` to show again after its rerun."""
    show_error(error)
    st.session_state[_REFUSAL] = error


def show_pending_toast() -> None:
    """Show, once, the toast a write left for this run (`app.py` calls it on every run)."""
    message = st.session_state.pop(_TOAST, None)
    if message:
        st.toast(message, icon=":material/check_circle:")


def rerun_with_toast(message: str) -> NoReturn:
    """Rerun the page (so it reads the ledger as a write left it) and toast `message` there."""
    st.session_state[_TOAST] = message
    st.rerun()


class SubmitGuard:
    """A submit button that can fire once per form render, and the key that makes it idempotent.

    Use: `guard = SubmitGuard("payment")`; `if guard.submit_button("Post"):`
    (in an `st.form`) or `if guard.button("Post"):` (outside one), write with
    `run_write(..., idempotency_key=guard.token)`, then
    `guard.finish(result, toast="Payment … posted", reset=[widget keys])`.

    The click sets the pending flag before the run starts, so the form comes
    back with its button disabled. A second click that slips in before that
    interrupts the first run: the next run finds the flag still set and
    carries on the same submission with the same key (so at most one write).
    `finish` ends the submission with a rerun, so the page redraws from the
    ledger as the write left it and the button is enabled again (in a form,
    a button left disabled could never be pressed: typing there does not
    rerun). A success gets a new key and its toast; a refusal's message is
    shown again under the button on that rerun.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._token = f"_guard_{name}_token"
        self._pending = f"_guard_{name}_pending"
        self._refused = f"_guard_{name}_refused"
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
        st.session_state.pop(self._refused, None)

    def _show_refusal(self) -> None:
        refusal = st.session_state.pop(self._refused, None)
        if isinstance(refusal, BillingError):
            show_error(refusal)
        elif refusal:
            st.error(str(refusal))

    def submit_button(self, label: str, *, key: str | None = None) -> bool:
        """Inside an `st.form`: its submit button; True on the click and while pending."""
        clicked = st.form_submit_button(
            label,
            type="primary",
            on_click=self._press,
            disabled=self.pending,
            key=key or f"{self.name}_submit",
        )
        self._show_refusal()
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
        self._show_refusal()
        return bool(clicked) or self.pending

    def finish(
        self,
        result: object | None,
        *,
        toast: str | None = None,
        reset: Iterable[str] = (),
        problem: str | None = None,
    ) -> NoReturn:
        """End the submission and rerun the page.

        `result` None means refused: the refusal `run_write` recorded (or
        `problem`, for a check the page made itself) is shown under the
        button on the rerun, and the form keeps what was typed. Otherwise
        `toast` is shown, the widgets named in `reset` start afresh, and the
        next submission gets a new idempotency key.
        """
        refusal = st.session_state.pop(_REFUSAL, None)
        if result is None:
            st.session_state[self._refused] = problem or refusal or "Nothing was saved."
        else:
            st.session_state[self._token] = uuid.uuid4().hex
            for key in reset:
                st.session_state.pop(key, None)
            if toast:
                st.session_state[_TOAST] = toast
        st.session_state[self._pending] = False
        st.rerun()

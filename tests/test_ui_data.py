"""The ledger version is read once per run, and again after a write in that run."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from billing.db import make_engine, write_session
from billing.services import CustomerCreate, create_customer
from tests.app_support import TIMEOUT
from tests.conftest import CLERK


def _script() -> None:
    """One run: read the version, write past the cache's back, read it again, then "write"."""
    import streamlit as st

    from billing.db import write_session
    from billing.services import CustomerCreate, create_customer
    from tests.conftest import CLERK
    from ui import data
    from ui.db import database_url, get_engine

    url = database_url()
    data.begin_run()
    first = data.current_version(url)
    with write_session(get_engine()) as session:  # as another session or the CLI would
        create_customer(session, actor=CLERK, data=CustomerCreate("C777", "Late Co", "USD"))
    remembered = data.current_version(url)
    data.forget_version()  # what `ui.actions.run_write` does after its write
    fresh = data.current_version(url)
    st.write(f"{first == remembered} {fresh != first}")


def test_the_version_is_read_once_a_run_and_again_after_a_write(app_db: str) -> None:
    at = AppTest.from_function(_script, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    # Within the run the first reading stands (one query for all loaders); after the
    # write is forgotten the next reading sees the new customer's audit row.
    assert at.markdown[0].value == "True True"


def _show_version() -> None:
    """One run as `app.py` starts it: forget the last reading, then read the version."""
    import streamlit as st

    from ui import data
    from ui.db import database_url

    data.begin_run()
    st.write(repr(data.current_version(database_url())))


def test_the_next_run_reads_the_version_again(app_db: str) -> None:
    """A write from elsewhere between two runs is seen by the second (`begin_run`)."""
    at = AppTest.from_function(_show_version, default_timeout=TIMEOUT).run()
    before = at.markdown[0].value
    engine = make_engine(app_db)
    with write_session(engine) as session:
        create_customer(session, actor=CLERK, data=CustomerCreate("C778", "Later Co", "USD"))
    engine.dispose()
    at.run()
    assert not at.exception, at.exception
    # One more audit row: the count and the newest id both move.
    assert at.markdown[0].value != before

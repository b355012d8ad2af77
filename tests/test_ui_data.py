"""The versions are read once per run, again after a write in that run, and move by area."""

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
    first = data.current_versions(url).audit
    with write_session(get_engine()) as session:  # as another session or the CLI would
        create_customer(session, actor=CLERK, data=CustomerCreate("C777", "Late Co", "USD"))
    remembered = data.current_versions(url).audit
    data.forget_version()  # what `ui.actions.run_write` does after its write
    fresh = data.current_versions(url).audit
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
    st.write(repr(data.current_versions(database_url()).audit))


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


def _note_between_two_readings() -> None:
    """Versions and the shared ledger, a call note logged, then both again."""
    import datetime as dt

    import streamlit as st

    from billing.db import write_session
    from billing.ledger_cache import Area
    from billing.models import ActivityKind
    from billing.services import ActivityCreate, add_activity
    from tests.conftest import CLERK
    from ui import data
    from ui.db import database_url, get_engine

    url = database_url()
    data.begin_run()
    before = data.current_versions(url)
    data.ledger()
    with write_session(get_engine()) as session:
        add_activity(
            session,
            actor=CLERK,
            data=ActivityCreate("C001", ActivityKind.CALL, dt.date(2026, 3, 2), body="Called"),
        )
    data.forget_version()
    after = data.current_versions(url)
    data.ledger()
    cache = data._ledger_cache(url)
    st.write(
        f"{before[Area.LEDGER] == after[Area.LEDGER]} "
        f"{before[Area.COLLECTIONS] != after[Area.COLLECTIONS]} {cache.loads} {cache.patches}"
    )


def test_a_call_note_moves_the_collections_version_only(app_db: str) -> None:
    at = AppTest.from_function(_note_between_two_readings, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    # Ledger version kept (the Overview's cache stands), collections moved; the ledger was
    # read once and not patched, since the note touched none of its rows.
    assert at.markdown[0].value == "True True 1 0"

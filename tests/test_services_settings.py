"""Office settings: stored as text rows, read back with defaults, changed only by an admin."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import Conflict, PermissionDenied, ValidationError
from billing.models import AuditEntry, Setting
from billing.repository import load_settings
from billing.roles import Actor
from billing.services import SettingsUpdate, set_lock_date, update_settings
from billing.settings import DEFAULT_COMPANY_NAME, OfficeSettings
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER

D = dt.date


def read(engine: Engine) -> OfficeSettings:
    with read_session(engine) as s:
        return load_settings(s)


def rows(engine: Engine) -> dict[str, str]:
    with read_session(engine) as s:
        return {r.key: r.value for r in s.scalars(select(Setting))}


def entries(engine: Engine, action: str = "update_settings") -> list[AuditEntry]:
    with read_session(engine) as s:
        return list(
            s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )


def lock(engine: Engine, day: dt.date | None, expected: dt.date | None) -> dt.date | None:
    with write_session(engine) as s:
        return set_lock_date(s, actor=ADMIN, lock_date=day, expected_current=expected)


# --- OfficeSettings (no database) -------------------------------------------------------


def test_defaults_when_nothing_is_stored() -> None:
    assert OfficeSettings.from_rows({}) == OfficeSettings(DEFAULT_COMPANY_NAME, (30, 60, 90), None)


def test_blank_rows_keep_their_defaults() -> None:
    stored = {"company_name": "  ", "aging_buckets": "", "base_currency": " ", "lock_date": " "}
    assert OfficeSettings.from_rows(stored) == OfficeSettings()


def test_rows_round_trip() -> None:
    settings = OfficeSettings("Acme Billing", (15, 45), "EUR", dt.date(2026, 3, 31))
    assert settings.as_rows() == {
        "company_name": "Acme Billing",
        "aging_buckets": "15,45",
        "base_currency": "EUR",
        "lock_date": "2026-03-31",
    }
    assert OfficeSettings.from_rows(settings.as_rows()) == settings
    assert OfficeSettings().as_rows()["base_currency"] == ""
    assert OfficeSettings().as_rows()["lock_date"] == ""  # blank: the books are open


# --- update_settings on both databases ------------------------------------------------


def test_a_new_ledger_reads_the_defaults(engine: Engine) -> None:
    assert read(engine) == OfficeSettings()


def test_update_stores_every_field_and_audits(engine: Engine) -> None:
    with write_session(engine) as s:
        result = update_settings(
            s,
            actor=ADMIN,
            data=SettingsUpdate(" Acme Billing ", " 15, 45 ", base_currency="eur"),
        )
    expected = OfficeSettings("Acme Billing", (15, 45), "EUR")
    assert result == expected
    assert read(engine) == expected
    stored = {"company_name": "Acme Billing", "aging_buckets": "15,45", "base_currency": "EUR"}
    assert rows(engine) == stored  # no lock_date row: this form never writes one
    (entry,) = entries(engine)
    assert (entry.actor, entry.entity, entry.entity_id) == ("test-admin", "settings", "office")
    assert entry.before is None  # nothing was stored before
    assert json.loads(entry.after or "") == stored


def test_second_update_overwrites_and_audits_before(engine: Engine) -> None:
    with write_session(engine) as s:
        update_settings(s, actor=ADMIN, data=SettingsUpdate("First", "30,60,90", "USD"))
    with write_session(engine) as s:
        update_settings(s, actor=ADMIN, data=SettingsUpdate("Second", "10,20"))
    assert read(engine) == OfficeSettings("Second", (10, 20), None)  # blank currency: none
    assert len(rows(engine)) == 3  # updated in place, not added again
    _, second = sorted(entries(engine), key=lambda e: e.id)
    assert json.loads(second.before or "")["company_name"] == "First"
    assert json.loads(second.after or "")["aging_buckets"] == "10,20"


def test_every_bad_field_is_reported_and_nothing_stored(engine: Engine) -> None:
    with pytest.raises(ValidationError) as caught, write_session(engine) as s:
        update_settings(s, actor=ADMIN, data=SettingsUpdate("", "60,30", "ZZZ"))
    fields = [p.field for p in caught.value.problems]
    assert fields == ["company_name", "aging_buckets", "base_currency"]
    assert "must increase" in str(caught.value)
    assert rows(engine) == {}
    assert entries(engine) == []


@pytest.mark.parametrize("buckets", ["30;60", "thirty", "0,30", "", "30,-60"])
def test_unreadable_buckets_are_refused(engine: Engine, buckets: str) -> None:
    with pytest.raises(ValidationError, match="aging_buckets"), write_session(engine) as s:
        update_settings(s, actor=ADMIN, data=SettingsUpdate("Office", buckets))
    assert read(engine) == OfficeSettings()


@pytest.mark.parametrize("actor", [CLERK, MANAGER, FINANCE])
def test_only_admins_change_settings(engine: Engine, actor: Actor) -> None:
    with pytest.raises(PermissionDenied), write_session(engine) as s:
        update_settings(s, actor=actor, data=SettingsUpdate("Office", "30"))
    assert rows(engine) == {}


# --- the lock date: its own action, refused when the form showed a stale value -----------


def test_lock_date_is_stored_audited_and_cleared(engine: Engine) -> None:
    assert lock(engine, D(2026, 3, 31), expected=None) == D(2026, 3, 31)
    assert read(engine).lock_date == D(2026, 3, 31)
    assert rows(engine) == {"lock_date": "2026-03-31"}
    assert lock(engine, None, expected=D(2026, 3, 31)) is None  # None reopens the books
    assert read(engine).lock_date is None
    assert rows(engine) == {"lock_date": ""}
    first, second = entries(engine, "set_lock_date")
    assert (first.actor, first.entity, first.entity_id) == ("test-admin", "settings", "lock_date")
    assert (first.before, json.loads(first.after or "")) == (None, {"lock_date": "2026-03-31"})
    assert json.loads(second.before or "") == {"lock_date": "2026-03-31"}
    assert json.loads(second.after or "") == {"lock_date": ""}


def test_saving_the_other_settings_leaves_the_lock_date_alone(engine: Engine) -> None:
    """The stale-form bug: a settings save from a page opened before the lock was set."""
    lock(engine, D(2026, 3, 31), expected=None)
    with write_session(engine) as s:
        result = update_settings(s, actor=ADMIN, data=SettingsUpdate("Renamed", "30,60,90"))
    assert result.lock_date == D(2026, 3, 31)  # what is in force, as read
    assert read(engine) == OfficeSettings("Renamed", (30, 60, 90), None, D(2026, 3, 31))
    (entry,) = entries(engine)
    assert "lock_date" not in json.loads(entry.after or "")


@pytest.mark.parametrize(
    ("stored", "shown", "named"),
    [
        (D(2026, 3, 31), None, "2026-03-31"),  # B closed March; A's page showed no lock
        (D(2026, 3, 31), D(2026, 2, 28), "2026-03-31"),  # B moved it on
        (None, D(2026, 3, 31), "none (books open)"),  # B reopened everything
    ],
)
def test_a_lock_date_changed_since_the_form_was_shown_is_refused(
    engine: Engine, stored: dt.date | None, shown: dt.date | None, named: str
) -> None:
    lock(engine, D(2026, 3, 31), expected=None)
    if stored is None:
        lock(engine, None, expected=D(2026, 3, 31))
    before = rows(engine)
    audited = len(entries(engine, "set_lock_date"))
    with pytest.raises(Conflict) as caught:
        lock(engine, D(2026, 1, 31), expected=shown)
    assert str(caught.value) == (
        f"The lock date was changed to {named} by someone else since you opened this page; "
        "nothing was saved. Reload to see it."
    )
    assert rows(engine) == before
    assert len(entries(engine, "set_lock_date")) == audited


def test_a_future_lock_date_is_refused(engine: Engine) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        lock(engine, tomorrow, expected=None)
    assert [p.field for p in caught.value.problems] == ["lock_date"]
    assert "is in the future" in str(caught.value)
    assert rows(engine) == {}


def test_today_is_the_latest_lock_date(engine: Engine) -> None:
    today = dt.date.today()
    lock(engine, today, expected=None)
    assert read(engine).lock_date == today


@pytest.mark.parametrize("actor", [CLERK, MANAGER, FINANCE])
def test_only_admins_set_the_lock_date(engine: Engine, actor: Actor) -> None:
    with pytest.raises(PermissionDenied), write_session(engine) as s:
        set_lock_date(s, actor=actor, lock_date=D(2026, 3, 31), expected_current=None)
    assert rows(engine) == {}

"""Office settings: stored as text rows, read back with defaults, changed only by an admin."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.dunning import DEFAULT_DUNNING_LEVELS, DunningLevel
from billing.errors import Conflict, PermissionDenied, ValidationError
from billing.models import AuditEntry, Setting
from billing.repository import load_settings
from billing.roles import Actor
from billing.services import SettingsUpdate, record_letter_sent, set_lock_date, update_settings
from billing.settings import DEFAULT_COMPANY_NAME, OfficeSettings
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER
from tests.helpers import customer, invoice

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
        "dunning_levels": "7:Reminder; 30:Second notice; 60:Final notice",  # the default
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


# --- the dunning levels ---------------------------------------------------------------------

LEVELS_TEXT = "10:Friendly nudge; 40:Demand"
LEVELS = (DunningLevel(1, 10, "Friendly nudge"), DunningLevel(2, 40, "Demand"))


def test_dunning_levels_default_and_round_trip_through_rows() -> None:
    assert OfficeSettings.from_rows({}).dunning_levels == DEFAULT_DUNNING_LEVELS
    assert OfficeSettings.from_rows({"dunning_levels": " "}).dunning_levels == (
        DEFAULT_DUNNING_LEVELS
    )
    settings = OfficeSettings(dunning_levels=LEVELS)
    assert settings.as_rows()["dunning_levels"] == LEVELS_TEXT
    assert OfficeSettings.from_rows(settings.as_rows()) == settings


def test_dunning_levels_are_stored_read_back_and_audited(engine: Engine) -> None:
    with write_session(engine) as s:
        result = update_settings(
            s,
            actor=ADMIN,
            data=SettingsUpdate(
                "Office", "30,60,90", dunning_levels=" 10 : Friendly nudge;40:Demand "
            ),
        )
    assert result.dunning_levels == LEVELS
    assert read(engine).dunning_levels == LEVELS
    assert rows(engine)["dunning_levels"] == LEVELS_TEXT  # stored in its tidy form
    (entry,) = entries(engine)
    assert json.loads(entry.after or "")["dunning_levels"] == LEVELS_TEXT


def test_no_dunning_levels_leaves_the_stored_ones_alone(engine: Engine) -> None:
    with write_session(engine) as s:
        update_settings(
            s, actor=ADMIN, data=SettingsUpdate("Office", "30", dunning_levels=LEVELS_TEXT)
        )
    with write_session(engine) as s:
        result = update_settings(s, actor=ADMIN, data=SettingsUpdate("Renamed", "30"))
    assert result.dunning_levels == LEVELS  # what is in force, as read
    assert read(engine) == OfficeSettings("Renamed", (30,), None, None, LEVELS)
    _, second = entries(engine)
    assert "dunning_levels" not in json.loads(second.after or "")


def test_bad_dunning_levels_are_refused_with_the_other_fields(engine: Engine) -> None:
    with pytest.raises(ValidationError) as caught, write_session(engine) as s:
        update_settings(s, actor=ADMIN, data=SettingsUpdate("", "30", dunning_levels="30:B; 7:A"))
    assert [(p.field, p.value) for p in caught.value.problems] == [
        ("company_name", ""),
        ("dunning_levels", "30:B; 7:A"),
    ]
    assert str(caught.value).endswith(
        "dunning_levels '30:B; 7:A': days must strictly increase from level to level: 7 after 30"
    )
    assert rows(engine) == {}
    assert entries(engine) == []


@pytest.mark.parametrize("text", ["", "seven:Reminder", "0:Now", "7:", "7:Reminder; 7:Again"])
def test_unreadable_dunning_levels_are_refused(engine: Engine, text: str) -> None:
    with pytest.raises(ValidationError, match="dunning_levels"), write_session(engine) as s:
        update_settings(s, actor=ADMIN, data=SettingsUpdate("Office", "30", dunning_levels=text))
    assert read(engine) == OfficeSettings()


# --- dunning levels once letters are on record -----------------------------------------------


def letters_at_level_2(engine: Engine) -> None:
    """C001's INV-1 (due 02-09) had the Second notice on 03-12 (31 days late)."""
    customer(engine, "C001")
    invoice(engine, "INV-1", "C001", D(2026, 1, 10), 10_000)
    with write_session(engine) as s:
        record_letter_sent(
            s,
            actor=MANAGER,
            customer_code="C001",
            letter_date=D(2026, 3, 12),
            invoice_numbers=["INV-1"],
            body="Dear customer",
        )


def set_levels(engine: Engine, text: str) -> OfficeSettings:
    with write_session(engine) as s:
        return update_settings(
            s, actor=ADMIN, data=SettingsUpdate("Office", "30", dunning_levels=text)
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (  # inserting 14:Call makes level 2 mean 14 days: past Second notices would count as Calls
            "7:Reminder; 14:Call; 30:Second notice; 60:Final notice",
            "level 2 (30 days) has letters on record; its days cannot change, though its name "
            "can, and levels can be added after it",
        ),
        (
            "10:Reminder; 30:Second notice; 60:Final notice",
            "level 1 (7 days) comes before level 2, which has letters on record; its days "
            "cannot change, though its name can, and levels can be added after level 2",
        ),
        (
            "7:Reminder",
            "level 2 (30 days) has letters on record; it cannot be removed, though its name can "
            "change, and levels can be added after level 2",
        ),
    ],
)
def test_levels_with_letters_on_record_keep_their_days(
    engine: Engine, text: str, message: str
) -> None:
    letters_at_level_2(engine)
    stored = rows(engine)
    with pytest.raises(ValidationError) as caught:
        set_levels(engine, text)
    assert [(p.field, p.value, p.message) for p in caught.value.problems] == [
        ("dunning_levels", text, message)
    ]
    assert str(caught.value) == f"dunning_levels {text!r}: {message}"
    assert rows(engine) == stored
    assert read(engine).dunning_levels == DEFAULT_DUNNING_LEVELS


def test_renaming_moving_later_levels_and_adding_levels_is_allowed(engine: Engine) -> None:
    letters_at_level_2(engine)
    # Levels 1 and 2 keep 7 and 30 days (new names); level 3 moves 60 → 45; level 4 is new.
    result = set_levels(engine, "7:Nudge; 30:Demand; 45:Final; 90:Lawyer")
    assert [(level.level, level.days, level.name) for level in result.dunning_levels] == [
        (1, 7, "Nudge"),
        (2, 30, "Demand"),
        (3, 45, "Final"),
        (4, 90, "Lawyer"),
    ]
    assert rows(engine)["dunning_levels"] == "7:Nudge; 30:Demand; 45:Final; 90:Lawyer"
    # The letter on record is still level 2, now called Demand: not sent twice.
    with (
        pytest.raises(Conflict, match="INV-1 already had the Demand on 2026-03-12"),
        write_session(engine) as s,
    ):
        record_letter_sent(
            s,
            actor=MANAGER,
            customer_code="C001",
            letter_date=D(2026, 3, 20),  # 39 days: level 2
            invoice_numbers=["INV-1"],
            body="Dear customer",
        )


def test_without_letters_any_levels_may_be_set(engine: Engine) -> None:
    customer(engine, "C001")
    invoice(engine, "INV-1", "C001", D(2026, 1, 10), 10_000)  # an invoice, but no letter yet
    result = set_levels(engine, "3:Ping; 14:Call; 30:Demand")
    assert [level.days for level in result.dunning_levels] == [3, 14, 30]

"""Office settings: stored as text rows, read back with defaults, changed only by an admin."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select

from billing.db import read_session, write_session
from billing.errors import PermissionDenied, ValidationError
from billing.models import AuditEntry, Setting
from billing.repository import load_settings
from billing.roles import Actor
from billing.services import SettingsUpdate, update_settings
from billing.settings import DEFAULT_COMPANY_NAME, OfficeSettings
from tests.conftest import ADMIN, CLERK, FINANCE, MANAGER


def read(engine: Engine) -> OfficeSettings:
    with read_session(engine) as s:
        return load_settings(s)


def rows(engine: Engine) -> dict[str, str]:
    with read_session(engine) as s:
        return {r.key: r.value for r in s.scalars(select(Setting))}


def entries(engine: Engine) -> list[AuditEntry]:
    with read_session(engine) as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "update_settings")))


# --- OfficeSettings (no database) -------------------------------------------------------


def test_defaults_when_nothing_is_stored() -> None:
    assert OfficeSettings.from_rows({}) == OfficeSettings(DEFAULT_COMPANY_NAME, (30, 60, 90), None)


def test_blank_rows_keep_their_defaults() -> None:
    stored = {"company_name": "  ", "aging_buckets": "", "base_currency": " "}
    assert OfficeSettings.from_rows(stored) == OfficeSettings()


def test_rows_round_trip() -> None:
    settings = OfficeSettings("Acme Billing", (15, 45), "EUR")
    assert settings.as_rows() == {
        "company_name": "Acme Billing",
        "aging_buckets": "15,45",
        "base_currency": "EUR",
    }
    assert OfficeSettings.from_rows(settings.as_rows()) == settings
    assert OfficeSettings().as_rows()["base_currency"] == ""


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
    assert rows(engine) == {
        "company_name": "Acme Billing",
        "aging_buckets": "15,45",
        "base_currency": "EUR",
    }
    (entry,) = entries(engine)
    assert (entry.actor, entry.entity, entry.entity_id) == ("test-admin", "settings", "office")
    assert entry.before is None  # nothing was stored before
    assert json.loads(entry.after or "") == expected.as_rows()


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

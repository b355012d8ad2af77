"""Changing the office settings (admin only), one audited transaction for the whole form."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit
from billing.errors import ValidationError
from billing.models import Setting
from billing.money import check_currency
from billing.reports import parse_buckets
from billing.roles import Action, Actor, require
from billing.settings import OfficeSettings
from billing.validation import Checker


@dataclass(frozen=True)
class SettingsUpdate:
    """The Admin page's settings form as typed: buckets as `30,60,90`, currency may be blank."""

    company_name: str
    aging_buckets: str
    base_currency: str = ""


def update_settings(session: Session, *, actor: Actor, data: SettingsUpdate) -> OfficeSettings:
    """Check every field, then store the settings and audit what changed."""
    require(actor, Action.EDIT_SETTINGS)
    check = Checker()
    name = check.text("company_name", data.company_name, max_len=200)
    buckets: tuple[int, ...] = ()
    try:
        buckets = parse_buckets(data.aging_buckets.strip(), field="aging_buckets")
    except ValidationError as error:
        check.problems.extend(error.problems)
    currency: str | None = None
    if data.base_currency.strip():
        try:
            currency = check_currency(data.base_currency.strip().upper(), field="base_currency")
        except ValidationError as error:
            check.problems.extend(error.problems)
    check.done()

    settings = OfficeSettings(
        company_name=name or "", aging_buckets=buckets, base_currency=currency
    )
    stored = {row.key: row for row in session.scalars(select(Setting).with_for_update())}
    before = {key: row.value for key, row in stored.items()}
    for key, value in settings.as_rows().items():
        if key in stored:
            stored[key].value = value
        else:
            session.add(Setting(key=key, value=value))
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="update_settings",
        entity="settings",
        entity_id="office",
        before=before or None,
        after=settings.as_rows(),
    )
    return settings

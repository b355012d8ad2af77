"""Changing the office settings (admin only): the settings form, and the lock date on its own.

The lock date is not part of `update_settings`: a form that carried it would
write back whatever it showed when it was opened, so an admin saving the
company name on a page opened before a colleague closed March would silently
reopen March. `set_lock_date` instead takes the value its form showed and
refuses if the stored one has moved since.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import audit
from billing.dunning import DunningLevel, history_problems, parse_dunning_levels
from billing.errors import Conflict, ValidationError
from billing.models import DunningLetterItem, Setting
from billing.money import check_currency
from billing.reports import parse_buckets
from billing.roles import Action, Actor, require
from billing.services._common import forget_lock_date, unique_or_conflict
from billing.settings import (
    DUNNING_LEVELS_KEY,
    LOCK_DATE_KEY,
    OfficeSettings,
    parse_lock_date,
    parse_stored_dunning_levels,
)
from billing.validation import Checker


@dataclass(frozen=True)
class SettingsUpdate:
    """The Admin page's settings form as typed: buckets as `30,60,90`, currency may be blank.

    A blank currency is a value ("first present"), not "leave unchanged": the
    form always sends what it shows. The lock date is not here (`set_lock_date`).
    `dunning_levels` is typed as `7:Reminder; 30:Second notice; 60:Final notice`;
    None leaves the stored levels as they are (a caller that does not show them).
    """

    company_name: str
    aging_buckets: str
    base_currency: str = ""
    dunning_levels: str | None = None


def update_settings(session: Session, *, actor: Actor, data: SettingsUpdate) -> OfficeSettings:
    """Check every field, then store the settings and audit what changed; the lock date stays.

    New dunning levels are refused if they would renumber letters on record:
    levels up to the highest one with letters keep their days (names may
    change, levels may be added after it; `billing.dunning.history_problems`).
    """
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
    levels: tuple[DunningLevel, ...] | None = None
    if data.dunning_levels is not None:
        try:
            levels = parse_dunning_levels(data.dunning_levels, field="dunning_levels")
        except ValidationError as error:
            check.problems.extend(error.problems)
    check.done()

    stored = {row.key: row for row in session.scalars(select(Setting).with_for_update())}
    lock = parse_lock_date(stored[LOCK_DATE_KEY].value if LOCK_DATE_KEY in stored else None)
    row = stored.get(DUNNING_LEVELS_KEY)
    in_force = parse_stored_dunning_levels(row.value if row is not None else None)
    if levels is None:
        levels = in_force
    elif levels != in_force:
        # Letter items store only the level number: levels with letters keep their days.
        used = set(session.scalars(select(DunningLetterItem.dunning_level).distinct()))
        for message in history_problems(in_force, levels, used):
            check.add("dunning_levels", data.dunning_levels, message)
        check.done()
    settings = OfficeSettings(
        company_name=name or "",
        aging_buckets=buckets,
        base_currency=currency,
        lock_date=lock,
        dunning_levels=levels,
    )
    untouched = {LOCK_DATE_KEY} | ({DUNNING_LEVELS_KEY} if data.dunning_levels is None else set())
    rows = {key: value for key, value in settings.as_rows().items() if key not in untouched}
    before = {key: stored[key].value for key in rows if key in stored}
    for key, value in rows.items():
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
        after=rows,
    )
    return settings


def set_lock_date(
    session: Session,
    *,
    actor: Actor,
    lock_date: dt.date | None,
    expected_current: dt.date | None,
) -> dt.date | None:
    """Close the books up to `lock_date` (None reopens them all), if nobody moved it meanwhile.

    `expected_current` is the lock date the admin's form showed. If the stored
    one differs, another admin changed it since that page was opened, and
    writing over it would undo their close (or reopen) unseen: refused with a
    `Conflict` naming the stored date. A lock date may not lie in the future:
    closing tomorrow's books would stop today's work. Moving it back reopens a
    period; the audit row shows who did. On PostgreSQL the settings row is
    locked `FOR UPDATE`, so this waits for postings that read it `FOR SHARE`.
    """
    require(actor, Action.EDIT_SETTINGS)
    check = Checker()
    check.date("lock_date", lock_date, required=False)
    today = dt.date.today()
    if type(lock_date) is dt.date and lock_date > today:  # a datetime is refused above
        check.add(
            "lock_date",
            lock_date.isoformat(),
            f"is in the future; the books can be closed up to today ({today.isoformat()})",
        )
    check.done()

    row = session.scalars(
        select(Setting).where(Setting.key == LOCK_DATE_KEY).with_for_update()
    ).first()
    stored = parse_lock_date(row.value if row is not None else None)
    if stored != expected_current:
        shown = stored.isoformat() if stored else "none (books open)"
        raise Conflict(
            f"The lock date was changed to {shown} by someone else since you opened this "
            "page; nothing was saved. Reload to see it."
        )
    value = lock_date.isoformat() if lock_date else ""
    before = None if row is None else {LOCK_DATE_KEY: row.value}
    if row is None:
        with unique_or_conflict(session, "The lock date was set by someone else just now; reload."):
            session.add(Setting(key=LOCK_DATE_KEY, value=value))
            session.flush()
    else:
        row.value = value
        session.flush()
    forget_lock_date(session)
    audit.record(
        session,
        actor=actor,
        action="set_lock_date",
        entity="settings",
        entity_id=LOCK_DATE_KEY,
        before=before,
        after={LOCK_DATE_KEY: value},
    )
    return lock_date

"""Who may do what (SPEC §1), checked by every service before it writes.

The table lives here and nowhere else: pages ask it what to show, services ask
it what to allow, and a test walks every action × role.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from billing.errors import PermissionDenied


class Role(StrEnum):
    """The four roles of SPEC §1."""

    CLERK = "clerk"
    MANAGER = "manager"
    FINANCE = "finance"
    ADMIN = "admin"


class Action(StrEnum):
    """Every kind of write the services perform."""

    CREATE_CUSTOMER = "create_customer"
    EDIT_CUSTOMER = "edit_customer"
    EDIT_CUSTOMER_TERMS = "edit_customer_terms"
    ENTER_INVOICE = "enter_invoice"
    POST_INVOICE = "post_invoice"
    VOID_INVOICE = "void_invoice"
    POST_PAYMENT = "post_payment"
    ALLOCATE_PAYMENT = "allocate_payment"
    ADD_NOTE = "add_note"
    OPEN_DISPUTE = "open_dispute"
    CLOSE_DISPUTE = "close_dispute"
    SEND_DUNNING_LETTER = "send_dunning_letter"
    ASSIGN_OWNER = "assign_owner"
    ISSUE_CREDIT_NOTE = "issue_credit_note"
    WRITE_OFF = "write_off"
    IMPORT_CSV = "import_csv"
    MANAGE_USERS = "manage_users"
    EDIT_SETTINGS = "edit_settings"
    READ_AUDIT_LOG = "read_audit_log"
    LOAD_DEMO_DATA = "load_demo_data"


_CLERK = {
    Action.CREATE_CUSTOMER,
    Action.EDIT_CUSTOMER,
    Action.ENTER_INVOICE,
    Action.POST_INVOICE,
    Action.POST_PAYMENT,
    Action.ALLOCATE_PAYMENT,
    Action.ADD_NOTE,
    Action.OPEN_DISPUTE,
}
_MANAGER = _CLERK | {
    Action.CLOSE_DISPUTE,
    Action.SEND_DUNNING_LETTER,
    Action.ASSIGN_OWNER,
    Action.VOID_INVOICE,
    Action.ISSUE_CREDIT_NOTE,
    Action.WRITE_OFF,
    Action.EDIT_CUSTOMER_TERMS,
    Action.IMPORT_CSV,
}

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.CLERK: frozenset(_CLERK),
    Role.MANAGER: frozenset(_MANAGER),
    Role.FINANCE: frozenset(),
    Role.ADMIN: frozenset(Action),
}


@dataclass(frozen=True)
class Actor:
    """The person (or script) on whose behalf a service runs; named in the audit log."""

    name: str
    role: Role


def may(role: Role, action: Action) -> bool:
    """Whether `role` may perform `action`; pages use it to hide what would be refused."""
    return action in PERMISSIONS[role]


def require(actor: Actor, action: Action) -> None:
    """Raise `PermissionDenied` unless the actor's role allows the action."""
    if not may(actor.role, action):
        raise PermissionDenied(
            f"{actor.name} ({actor.role}) may not {action.value.replace('_', ' ')}"
        )

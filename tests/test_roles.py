"""SPEC §1's role table, action by action."""

from __future__ import annotations

import pytest

from billing.errors import PermissionDenied
from billing.roles import Action, Actor, Role, may, require

CLERK_ACTIONS = {
    Action.CREATE_CUSTOMER,
    Action.EDIT_CUSTOMER,
    Action.ENTER_INVOICE,
    Action.POST_INVOICE,
    Action.POST_PAYMENT,
    Action.ALLOCATE_PAYMENT,
    Action.ADD_NOTE,
    Action.OPEN_DISPUTE,  # a customer rings a clerk to contest an invoice
}
MANAGER_ONLY = {
    Action.VOID_INVOICE,
    Action.ISSUE_CREDIT_NOTE,
    Action.WRITE_OFF,
    Action.EDIT_CUSTOMER_TERMS,
    Action.IMPORT_CSV,
    Action.CLOSE_DISPUTE,  # closing without a credit note is a decision, as a credit note is
    Action.SEND_DUNNING_LETTER,
    Action.ASSIGN_OWNER,
}


@pytest.mark.parametrize("action", list(Action))
def test_role_table(action: Action) -> None:
    assert may(Role.CLERK, action) == (action in CLERK_ACTIONS)
    assert may(Role.MANAGER, action) == (action in CLERK_ACTIONS | MANAGER_ONLY)
    assert not may(Role.FINANCE, action)  # read-only: no writes at all
    assert may(Role.ADMIN, action)


def test_require_names_the_actor_and_action() -> None:
    with pytest.raises(PermissionDenied, match=r"fay \(finance\) may not post payment"):
        require(Actor("fay", Role.FINANCE), Action.POST_PAYMENT)

"""Which pages each role gets: decided by the page registry and `billing.roles`."""

from __future__ import annotations

import pytest

from billing.roles import Action, Role
from ui.navigation import PAGES, PageSpec, pages_for

OPERATIONAL = ["Overview", "Invoices", "Payments", "Aging", "Collections"]
ANALYSIS = ["DSO & collections", "Cash flow"]


@pytest.mark.parametrize(
    ("role", "titles"),
    [
        (Role.CLERK, [*OPERATIONAL, "Customers"]),
        (Role.MANAGER, [*OPERATIONAL, *ANALYSIS, "Customers", "Import"]),
        (Role.FINANCE, [*OPERATIONAL, *ANALYSIS, "Customers"]),
        (Role.ADMIN, [*OPERATIONAL, *ANALYSIS, "Customers", "Import", "Admin"]),
    ],
)
def test_each_role_sees_its_pages(role: Role, titles: list[str]) -> None:
    assert [p.title for p in pages_for(role)] == titles


def test_page_addresses_and_titles_are_unique() -> None:
    assert len({p.url_path for p in PAGES}) == len(PAGES)
    assert len({p.title for p in PAGES}) == len(PAGES)
    assert [p.url_path for p in PAGES] == [
        "overview",
        "invoices",
        "payments",
        "aging",
        "collections",
        "dso",
        "cash_flow",
        "customers",
        "import_csv",
        "admin",
    ]


def test_a_page_for_a_write_is_hidden_from_roles_that_may_not_do_it() -> None:
    imports = PageSpec(
        "app_pages/imports.py", "Import", ":material/upload:", requires=Action.IMPORT_CSV
    )
    assert [r for r in Role if imports.visible_to(r)] == [Role.MANAGER, Role.ADMIN]


def test_a_page_can_be_limited_to_some_roles() -> None:
    audit = PageSpec(
        "app_pages/audit.py", "Audit log", ":material/history:", roles=frozenset({Role.ADMIN})
    )
    assert [r for r in Role if audit.visible_to(r)] == [Role.ADMIN]

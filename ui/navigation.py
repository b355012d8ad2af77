"""The app's pages as data: which file, what title, and who may open it.

`app.py` builds `st.navigation` from this list, the README documents it, and
`tests/test_docs.py` checks the two agree. Kept free of Streamlit so a test
can import it without running the app.

The page files live in `app_pages/`, deliberately not `pages/`: a folder named
`pages` beside the entry script puts Streamlit in its legacy multipage mode
until some session first calls `st.navigation`, and in that mode a URL such
as `/invoices` runs the page file directly, without `app.py` and its login.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from billing.roles import Action, Role, may


@dataclass(frozen=True)
class PageSpec:
    """One page: its file under `app_pages/`, its title, and the roles that see it.

    `requires` names the write a page exists for (a page for a write nobody in
    the role may perform would only show refusals); read pages leave it None.
    """

    path: str
    title: str
    icon: str
    roles: frozenset[Role] = frozenset(Role)
    requires: Action | None = None

    @property
    def url_path(self) -> str:
        """The page's address (`/invoices`), as `st.Page` derives it from the file name."""
        return PurePosixPath(self.path).stem

    def visible_to(self, role: Role) -> bool:
        """Whether a user with `role` gets this page in the navigation."""
        return role in self.roles and (self.requires is None or may(role, self.requires))


PAGES: tuple[PageSpec, ...] = (
    PageSpec("app_pages/overview.py", "Overview", ":material/dashboard:"),
    PageSpec("app_pages/invoices.py", "Invoices", ":material/receipt_long:"),
    PageSpec("app_pages/payments.py", "Payments", ":material/payments:"),
    PageSpec("app_pages/aging.py", "Aging", ":material/hourglass_bottom:"),
    PageSpec("app_pages/collections.py", "Collections", ":material/support_agent:"),
    PageSpec(
        "app_pages/dso.py",
        "DSO & collections",
        ":material/monitoring:",
        roles=frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN}),
    ),
    PageSpec(
        "app_pages/cash_flow.py",
        "Cash flow",
        ":material/waterfall_chart:",
        roles=frozenset({Role.MANAGER, Role.FINANCE, Role.ADMIN}),
    ),
    PageSpec("app_pages/customers.py", "Customers", ":material/groups:"),
    PageSpec(
        "app_pages/import_csv.py", "Import", ":material/upload_file:", requires=Action.IMPORT_CSV
    ),
    PageSpec(
        "app_pages/admin.py",
        "Admin",
        ":material/admin_panel_settings:",
        requires=Action.MANAGE_USERS,
    ),
)


def pages_for(role: Role) -> list[PageSpec]:
    """The pages a role may open, in menu order."""
    return [page for page in PAGES if page.visible_to(role)]

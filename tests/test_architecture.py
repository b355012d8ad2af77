"""The layering of STYLE.md, checked by walking the syntax tree of every module.

Dependencies run one way: pages -> ui -> billing / queries. These tests fail
the build the moment a module reaches the wrong way (Fava's one leak, a core
module importing the web framework, is the cautionary tale).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STREAMLIT = ("streamlit", "streamlit_authenticator", "extra_streamlit_components")
DATABASE = ("sqlalchemy", "billing.db", "billing.models", "billing.repository", "billing.schema")


def modules(*folders: str) -> list[Path]:
    found = sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))
    assert found, f"no modules under {folders}"
    return found


def imported_names(path: Path) -> Iterator[tuple[int, str]]:
    """Every module an import statement names, with its line (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def violations(paths: list[Path], banned: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in paths
        for line, name in imported_names(path)
        if any(name == b or name.startswith(b + ".") for b in banned)
    ]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("folder", ["billing", "queries", "sample_data"])
def test_core_never_imports_streamlit(folder: str) -> None:
    if not any((ROOT / folder).rglob("*.py")):
        pytest.skip(f"{folder}/ has no modules yet")
    assert violations(modules(folder), STREAMLIT) == []


def test_queries_stay_pure_polars() -> None:
    assert violations(modules("queries"), DATABASE) == []


def test_pages_have_no_sql() -> None:
    pages = modules("app_pages")
    assert violations(pages, ("sqlalchemy",)) == []
    calls = [
        f"{rel(path)}:{node.lineno} calls text()"
        for path in pages
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Name) and node.func.id == "text")
            or (isinstance(node.func, ast.Attribute) and node.func.attr == "text")
        )
    ]
    assert calls == []


def test_pages_catch_only_billing_errors() -> None:
    broad = [
        f"{rel(path)}:{node.lineno}"
        for path in [*modules("app_pages"), ROOT / "app.py"]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ExceptHandler)
        and (
            node.type is None
            or (isinstance(node.type, ast.Name) and node.type.id in {"Exception", "BaseException"})
        )
    ]
    assert broad == []


@pytest.mark.parametrize("folder", ["billing", "queries", "ui", "app_pages"])
def test_every_module_says_what_it_is_for(folder: str) -> None:
    missing = [
        rel(path)
        for path in modules(folder)
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []


def test_app_entry_point_has_a_docstring() -> None:
    assert ast.get_docstring(ast.parse((ROOT / "app.py").read_text(encoding="utf-8")))


def test_no_legacy_pages_folder_beside_app() -> None:
    # A `pages/` folder beside app.py switches Streamlit to its legacy multipage
    # mode until st.navigation first runs; in that mode a deep link runs a page
    # file without app.py, so without the login. Page files live in app_pages/.
    assert not (ROOT / "pages").exists()

"""README stays true: its page list is the app's, and it shows every CLI command.

Datasette's `test_docs.py` is the model: documentation that can drift is
checked by a cheap test, so a new page or command without a README line
fails the build instead of going unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from billing.cli import app as cli_app
from ui.navigation import PAGES

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command as its words after `billing`, groups expanded.

    Duck-typed on `.commands` because typer now ships its own copy of click.
    """
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        return [prefix]
    return [
        path
        for name, sub in sorted(subcommands.items())
        if not getattr(sub, "hidden", False)
        for path in command_paths(sub, (*prefix, name))
    ]


def test_readme_lists_exactly_the_apps_pages_in_order() -> None:
    listed = re.findall(r"^- \*\*(.+?)\*\*", section("Pages"), re.M)
    assert listed == [page.title for page in PAGES]


def test_every_page_file_exists() -> None:
    for page in PAGES:
        assert (ROOT / page.path).is_file(), page.path


def test_readme_shows_every_cli_command() -> None:
    runner = CliRunner()
    top = runner.invoke(cli_app, ["--help"])
    assert top.exit_code == 0, top.output
    paths = command_paths(typer.main.get_command(cli_app))
    assert paths, "the CLI lists no commands"
    for path in paths:
        assert path[0] in top.output, f"`billing --help` does not list {path[0]}"
        help_result = runner.invoke(cli_app, [*path, "--help"])
        assert help_result.exit_code == 0, help_result.output
    missing = [" ".join(p) for p in paths if f"billing {' '.join(p)}" not in README]
    assert missing == [], f"README never shows: {missing}"

"""Every command that takes ``--store`` describes it the same way: what it is (a file or a
folder) and where it is when not given ($RENGO_STORE, else ./rengo-runs/runs.db)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from rengo.cli.main import app
from rengo.cli.store_option import STORE_HELP


def _commands(command: Any, path: str = "rengo") -> Iterator[tuple[str, Any]]:
    """Every command under ``command`` (typer's own click classes: looked at, not isinstance)."""
    yield path, command
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            yield from _commands(sub, f"{path} {name}")


def test_every_store_option_has_the_one_help_text() -> None:
    root = typer.main.get_command(app)
    helps = {
        path: param.help
        for path, command in _commands(root)
        for param in command.params
        if "--store" in getattr(param, "opts", ())
    }
    assert {"rengo coordinator", "rengo ui", "rengo vfl coordinator", "rengo run"} <= set(helps)
    assert {path: text for path, text in helps.items() if text != STORE_HELP} == {}

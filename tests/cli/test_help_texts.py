"""What --help says: every command that takes ``--store`` describes it the same way (a file or a
folder) and where it is when not given ($RENGO_STORE, else ./rengo-runs/runs.db), and no help
text shows the reStructuredText markup of the docstring it came from."""

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


def test_no_help_text_shows_restructuredtext_markup() -> None:
    """Docstrings become --help: ``literal`` or :func: roles print as they are typed."""
    root = typer.main.get_command(app)
    marked = {
        path: text
        for path, command in _commands(root)
        for text in [command.help or ""] + [getattr(p, "help", "") or "" for p in command.params]
        if "``" in text or ":func:" in text or ":class:" in text
    }
    assert marked == {}


def test_python_dash_m_rengo_is_the_rengo_command(capsys: Any) -> None:
    """``python -m rengo --help`` said 'No module named rengo.__main__'."""
    import runpy
    import sys

    argv = sys.argv
    sys.argv = ["rengo", "tournament", "--help"]
    try:
        runpy.run_module("rengo", run_name="__main__")
    except SystemExit as exc:
        assert exc.code in (0, None)
    finally:
        sys.argv = argv
    out = capsys.readouterr().out
    assert "Usage: rengo tournament" in out
    assert "leaderboard" in out


def test_help_breaks_lines_only_where_the_terminal_ends() -> None:
    """Typer's rich help kept a docstring's line breaks in a group's command list and in
    every paragraph but a page's first, so text wrapped at the source's width broke
    mid-sentence ("align rows by" / "PSI, train, score.") however wide the terminal."""
    root = typer.main.get_command(app)
    wrapped = {
        path: text
        for path, command in _commands(root)
        if path != "rengo"
        for text in (command.help or "", command.short_help or "")
        if any("\n" in p for p in text.split("\n\n") if not p.startswith("\b"))
    }
    assert wrapped == {}
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, ["vfl", "--help"], env={"COLUMNS": "300"}).output
    party = next(line for line in shown.splitlines() if "Join a vertical run" in line)
    assert "align rows by PSI, train, score." in party, shown

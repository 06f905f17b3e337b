"""``rengo vfl`` is a deferred group: ``rengo --help`` lists it by its one-line help without
importing it, and anything that reaches into it (a command line, its ``--help``, a walk
over the command tree) sees all its commands, with the logging options every command has."""

from __future__ import annotations

import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from rengo.cli.deferred_groups import DeferredCommands
from rengo.cli.main import app

two_commands = typer.Typer(add_completion=False)
with_callback = typer.Typer(add_completion=False)


@two_commands.command()
def hello() -> None:
    """Say hello."""


@two_commands.command()
def bye() -> None:
    """Say goodbye."""


@with_callback.callback()
def _setup() -> None:
    """A group callback a deferred group would never run."""


@with_callback.command()
def other() -> None:
    """Another command."""


def test_rengo_help_lists_vfl_without_importing_it() -> None:
    code = (
        "import sys\nfrom rengo.cli.main import app\n"
        "try:\n    app(['--help'], prog_name='rengo')\nexcept SystemExit:\n    pass\n"
        "print('imported' if 'rengo.cli.vfl' in sys.modules else 'not imported')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert "Vertical federated learning." in done.stdout
    assert done.stdout.strip().endswith("not imported")


def test_the_command_tree_holds_every_vfl_command_with_the_logging_options() -> None:
    vfl = typer.main.get_command(app).commands["vfl"]  # type: ignore[attr-defined]
    assert sorted(vfl.commands) == ["align", "coordinator", "delete-checkpoints", "iv", "party"]
    for command in vfl.commands.values():
        assert "--log-level" in {o for p in command.params for o in getattr(p, "opts", ())}


def test_vfl_help_lists_its_commands() -> None:
    result = CliRunner().invoke(app, ["vfl", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("coordinator", "party", "align", "iv", "delete-checkpoints"):
        assert name in result.output


def test_deferred_commands_load_once_when_first_looked_at() -> None:
    commands = DeferredCommands(f"{__name__}:two_commands")
    assert not commands.loaded and dict.keys(commands) == set()
    assert "hello" in commands
    assert commands.loaded and list(commands) == ["hello", "bye"]


def test_an_app_with_a_callback_is_refused_by_name() -> None:
    commands = DeferredCommands(f"{__name__}:with_callback")
    with pytest.raises(TypeError, match="with_callback must be a typer app of several commands"):
        commands.get("other")

"""Every rengo command takes -v / --log-level, wherever it is typed."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from rengo.cli.main import app

runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(autouse=True)
def _restore_rengo_logger() -> Iterator[None]:
    logger = logging.getLogger("rengo")
    level, handlers = logger.level, list(logger.handlers)
    yield
    logger.setLevel(level)
    logger.handlers[:] = handlers


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    children = getattr(command, "commands", None)
    if not children:
        yield path, command
        return
    for name, sub in children.items():
        yield from _leaves(sub, (*path, name))


def test_every_command_has_verbose_and_log_level() -> None:
    root = typer.main.get_command(app)
    leaves = list(_leaves(root))
    assert len(leaves) > 20
    for path, command in [((), root), *leaves]:
        flags = {flag for p in command.params for flag in getattr(p, "opts", [])}
        assert {"-v", "--verbose", "--log-level"} <= flags, " ".join(path)


@pytest.mark.parametrize(
    ("args", "level"),
    [
        (["runs", "list", "-vv"], logging.DEBUG),
        (["-v", "runs", "list"], logging.INFO),
        (["runs", "list", "--log-level", "ERROR"], logging.ERROR),
    ],
)
def test_the_level_applies_before_the_command_runs(
    args: list[str], level: int, tmp_path: Any
) -> None:
    result = runner.invoke(app, [*args, "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "no run store" in result.output
    assert logging.getLogger("rengo").level == level


def test_a_bad_level_is_refused_with_the_choices() -> None:
    result = runner.invoke(app, ["runs", "list", "--log-level", "loud"])
    assert result.exit_code == 2 and "debug" in result.output


def test_a_command_run_in_process_after_another_carries_none_of_its_run_or_party(
    tmp_path: Any,
) -> None:
    """The run and party a command names for its log records (``rengo party`` its name) stayed
    on every record of the next command run in the same process (a notebook, a test)."""
    from rengo.cli.log_formats import record_fields, set_log_context
    from rengo.tracking import RunStore

    RunStore(tmp_path / "r.db").close()
    set_log_context(party="hospital-a", run_id="20261206-000000-abcdef")
    result = CliRunner().invoke(app, ["runs", "list", "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    record = logging.LogRecord("rengo.cli", logging.INFO, __file__, 1, "hello", None, None)
    assert record_fields(record) == {}

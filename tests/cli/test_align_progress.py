"""``rengo vfl align`` says how far it is: reading a bank's millions of IDs, matching them and
writing the shared rows each take minutes, and before it said nothing until the end. Off a
terminal each stage that ends is one line with its count and time; on one a spinner names
the stage running, and the same lines are printed as stages end."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rengo.cli.main import app


def _tables(tmp_path: Path) -> list[str]:
    (tmp_path / "bank.csv").write_text("id,balance\na,1\nb,2\nc,3\nd,4\n")
    (tmp_path / "telco.csv").write_text("id,usage\nd,5\nx,6\nb,7\na,8\n")
    return [f"bank={tmp_path / 'bank.csv'}", f"telco={tmp_path / 'telco.csv'}"]


STAGE_LINES = [
    r"bank: 4 IDs read \(\d+\.\d s\)",
    r"telco: 4 IDs read \(\d+\.\d s\)",
    r"PSI: 3 IDs shared by all 2 parties \(\d+\.\d s\)",
    r"bank: 3 shared rows written \(\d+\.\d s\)",
    r"telco: 3 shared rows written \(\d+\.\d s\)",
]


def _stage_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.search(r"\(\d+\.\d s\)$", line)]


def test_align_says_each_stage_off_a_terminal_as_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["vfl", "align", *_tables(tmp_path), "--out", str(tmp_path / "out"), "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    lines = _stage_lines(result.output)
    assert len(lines) == len(STAGE_LINES), result.output
    for line, pattern in zip(lines, STAGE_LINES, strict=True):
        assert re.fullmatch(pattern, line), line


def test_align_shows_a_spinner_and_the_same_lines_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr("rengo.cli.vfl.console", terminal)
    result = CliRunner().invoke(
        app, ["vfl", "align", *_tables(tmp_path), "--out", str(tmp_path / "out"), "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    for pattern in STAGE_LINES:
        assert re.search(pattern, shown), shown

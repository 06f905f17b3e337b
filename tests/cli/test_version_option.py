"""``rengo --version`` names what an operator compares before upgrading one machine of a
consortium: every build of rengo 0.1.0 printed ``rengo 0.1.0`` alone, so two installs whose
coordinator and party could not understand each other, or whose run stores differed in
schema, looked the same."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rengo import __version__
from rengo.cli.main import app
from rengo.tracking.schema import SCHEMA_VERSION

runner = CliRunner(env={"COLUMNS": "200"})


def _wire_format() -> int:
    import rengo.transport.grpc_wire as grpc_wire

    return int(getattr(grpc_wire, "WIRE_FORMAT", -1))  # -1: a build that names none


def test_version_names_the_release_wire_format_and_run_store_schema() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"rengo {__version__}"
    wire = [line for line in lines if line.startswith("wire format ")]
    assert wire == [
        f"wire format {_wire_format()} (a coordinator and its parties must speak the same)"
    ]
    assert f"run store schema {SCHEMA_VERSION}" in lines


def test_version_of_an_install_without_a_source_commit_leaves_the_commit_line_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An installed wheel, or a copy with no git, knows no source commit: --version still
    names the release, wire format and schema, and prints no commit line."""
    import rengo.tracking.source_commit as source_commit_module

    monkeypatch.setattr(source_commit_module, "source_commit", lambda: None)
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"rengo {__version__}"
    assert f"run store schema {SCHEMA_VERSION}" in lines
    assert not any(line.startswith("source commit") for line in lines), lines


def test_version_names_the_source_commit_when_one_is_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import rengo.tracking.source_commit as source_commit_module

    monkeypatch.setattr(source_commit_module, "source_commit", lambda: "0123abcd")
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert "source commit 0123abcd" in result.output.splitlines()

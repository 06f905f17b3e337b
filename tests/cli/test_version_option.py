"""``rengo --version`` names what an operator compares before upgrading one machine of a
consortium: every build of rengo 0.1.0 printed ``rengo 0.1.0`` alone, so two installs whose
coordinator and party could not understand each other, or whose run stores differed in
schema, looked the same."""

from __future__ import annotations

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

"""`rengo runs`: the per-client view of a run, deleting runs, and where the store lives."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})

JOB = """
[job]
name = "spread"
rounds = 2
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 4
[model]
type = "logistic"
[strategy]
name = "fedavg"
fraction_evaluate = 1.0
"""


def _recorded_run(tmp_path: Path) -> tuple[Path, str]:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        return store, s.list_runs()[0].run_id


def test_runs_show_and_plot_clients_show_the_spread_over_clients(tmp_path: Path) -> None:
    store, run_id = _recorded_run(tmp_path)
    shown = runner.invoke(app, ["runs", "show", run_id, "--store", str(store)])
    assert shown.exit_code == 0
    assert "evaluate accuracy" in shown.output and "worst 10 %" in shown.output
    png = tmp_path / "clients.png"
    plotted = runner.invoke(
        app, ["runs", "plot", run_id, "--clients", "--store", str(store), "-o", str(png)]
    )
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    two = runner.invoke(app, ["runs", "plot", run_id, run_id, "--clients", "--store", str(store)])
    assert two.exit_code == 2 and "exactly one run" in two.output

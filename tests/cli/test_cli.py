"""The rengo command: demo, run, runs list/show/plot, and clear errors with exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore

runner = CliRunner(env={"COLUMNS": "200"})

JOB = """
[job]
name = "cli-job"
rounds = 2
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[strategy]
name = "fedavg"
"""


def test_version_and_help():
    assert "rengo" in runner.invoke(app, ["--version"]).output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "run", "runs"):
        assert command in result.output


def test_run_records_a_run_that_runs_list_show_and_plot_can_read(tmp_path: Path):
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output
    listed = runner.invoke(app, ["runs", "list", "--store", str(store)])
    assert listed.exit_code == 0 and "cli-job" in listed.output
    with RunStore(store) as s:
        run_id = s.list_runs()[0].run_id
    shown = runner.invoke(app, ["runs", "show", run_id[:12], "--store", str(store)])
    assert shown.exit_code == 0 and "central_" in shown.output
    png = tmp_path / "run.png"
    plotted = runner.invoke(app, ["runs", "plot", run_id, "--store", str(store), "-o", str(png)])
    assert plotted.exit_code == 0, plotted.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_job_file_exits_2_with_one_line_error(tmp_path: Path):
    job = tmp_path / "job.toml"
    job.write_text(JOB.replace("rounds = 2", "rounds = -1"))
    result = runner.invoke(app, ["run", str(job), "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 2
    assert "job.rounds must be in [1, 1000000], got -1" in result.output
    assert "Traceback" not in result.output


def test_runs_show_unknown_id_is_a_clear_error(tmp_path: Path):
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    store = tmp_path / "runs.db"
    runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    result = runner.invoke(app, ["runs", "show", "nope", "--store", str(store)])
    assert result.exit_code == 2 and "nope" in result.output


def test_runs_list_without_store_explains_what_to_do(tmp_path: Path):
    result = runner.invoke(app, ["runs", "list", "--store", str(tmp_path / "none.db")])
    assert result.exit_code == 2 and "rengo demo" in result.output


@pytest.mark.slow
def test_demo_runs_end_to_end_on_a_small_setting(tmp_path: Path):
    pytest.importorskip("torch")
    result = runner.invoke(
        app,
        [
            "demo",
            "--rounds",
            "2",
            "--clients",
            "4",
            "--store",
            str(tmp_path / "d.db"),
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "centralised" in result.output
    assert "SecureBoost" in result.output and "central gradient boosting" in result.output
    assert (tmp_path / "demo-hfl-accuracy.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("security", "said"),
    [("plaintext", "plaintext (no encryption)"), ("homomorphic", "1024-bit Paillier")],
)
def test_the_vertical_banner_names_the_security_the_run_uses(
    tmp_path: Path, security: str, said: str
) -> None:
    """A plaintext FTL run was announced as '2048-bit Paillier'."""
    job = tmp_path / "ftl.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "f"\n[vfl]\nalgorithm = "ftl"\nlabel_party = "bank"\n'
        f'security = "{security}"\nkey_bits = 1024\nepochs = 1\n'
        '[vfl.parties]\nbank = "bank.csv"\nshop = "shop.csv"\n'  # absent: stops after the banner
    )
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(tmp_path / "r.db")])
    banner = " ".join(result.output.split())
    assert result.exit_code == 2 and "bank.csv" in banner, result.output
    assert said in banner and ("Paillier" in banner) == (security == "homomorphic")

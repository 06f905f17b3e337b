"""`rengo sweep` over a vertical job (hetero LR, SecureBoost) runs each cell as `rengo run`
simulates it, records it with its study and settings, continues after a stop without running
a completed cell again (an interrupted vertical cell runs anew), and `rengo runs compare`
sums the study up by the held-out metric, each row's command repeating its run."""

from __future__ import annotations

import csv
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

import rengo.cli.run_job as run_job_module
from rengo.cli.main import app
from rengo.cli.sweep import run_sweep
from rengo.jobs import run_vertical_job
from rengo.tracking import RunStore
from rengo.tracking.study_tag import study_of

runner = CliRunner(env={"COLUMNS": "250"})

HETERO_LR = """
[job]
kind = "vfl"
name = "columns"
seed = 9
[vfl]
label_party = "card"
label = "y"
key_bits = 512
epochs = 2
test_size = 0.25
[vfl.parties]
card = "card.csv"
bank = "bank.csv"
"""
SECUREBOOST = HETERO_LR.replace('name = "columns"', 'name = "trees"').replace(
    "epochs = 2", 'algorithm = "secureboost"\nn_trees = 2'
)
LR_GRID = ("--set", "vfl.learning_rate=0.1,0.3", "--set", "job.seed=0..1")


def _files(tmp_path: Path, job_text: str = HETERO_LR) -> tuple[Path, Path]:
    """Two parties' tables (the label a noisy sum of both parties' columns), the job, and
    where the store goes."""
    rng = np.random.default_rng(1)
    n = 120
    a, b = rng.normal(size=n), rng.normal(size=n)
    y = (a + b + rng.normal(scale=0.8, size=n) > 0).astype(int)
    (tmp_path / "card.csv").write_text(
        "id,a,y\n" + "".join(f"c{i},{a[i]:.4f},{y[i]}\n" for i in range(n))
    )
    (tmp_path / "bank.csv").write_text("id,b\n" + "".join(f"c{i},{b[i]:.4f}\n" for i in range(n)))
    job = tmp_path / "job.toml"
    job.write_text(job_text)
    return job, tmp_path / "runs.db"


def _sweep(job: Path, store: Path, *options: str) -> Any:
    return runner.invoke(app, ["sweep", str(job), "--store", str(store), "--no-progress", *options])


def test_a_vertical_sweep_records_each_cell_as_a_run_of_its_study_and_a_second_one_runs_none(
    tmp_path: Path,
) -> None:
    job, store_path = _files(tmp_path)
    first = _sweep(job, store_path, *LR_GRID)
    assert first.exit_code == 0, first.output
    assert "cell 4/4 vfl.learning_rate=0.3 job.seed=1" in first.output
    with RunStore(store_path) as store:
        runs = store.list_runs(limit=None)
        rounds = {r.run_id: store.rounds(r.run_id) for r in runs}
    assert len(runs) == 4 and {(r.kind, r.status) for r in runs} == {("vfl", "completed")}
    assert {study_of(r) for r in runs} == {"columns"}
    settings = {(r.config["job_settings"]["vfl"]["learning_rate"], r.seed) for r in runs}
    assert settings == {(lr, k) for lr in (0.1, 0.3) for k in (0, 1)}
    assert {r.config["job_settings"]["job"]["seed"] for r in runs} == {0, 1}
    assert sorted(r.name or "" for r in runs)[0] == "columns vfl.learning_rate=0.1 job.seed=0"
    assert all("test_auc" in rounds[r.run_id][-1].metrics for r in runs)  # as rengo run records

    again = _sweep(job, store_path, *LR_GRID)
    assert again.exit_code == 0, again.output
    assert again.output.count("completed before, run") == 4
    with RunStore(store_path) as store:
        assert len(store.list_runs(limit=None)) == 4


def test_a_secureboost_study_over_depth_and_key_length_compares_by_held_out_auc(
    tmp_path: Path,
) -> None:
    job, store_path = _files(tmp_path, SECUREBOOST)
    grid = ("--set", "vfl.max_depth=2,3", "--set", "vfl.key_bits=512,1024")
    swept = _sweep(job, store_path, *grid)
    assert swept.exit_code == 0, swept.output
    per_run = tmp_path / "runs.csv"
    result = runner.invoke(
        app,
        [
            *("runs", "compare", "--study", "trees", "--store", str(store_path)),
            *("--runs-csv", str(per_run)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "test_auc (best = max)" in result.output  # no --metric needed for a vertical study
    with open(per_run, newline="") as file:
        rows = list(csv.DictReader(file))
    assert {(r["vfl.max_depth"], r["vfl.key_bits"]) for r in rows} == {
        (d, k) for d in ("2", "3") for k in ("512", "1024")
    }
    words = shlex.split(rows[0]["command"])
    assert words[:3] == ["rengo", "run", str(job.resolve())] and "--same-as" in words
    repeated = runner.invoke(app, [*words[1:], "--no-progress"])
    assert repeated.exit_code == 0, repeated.output
    assert f"same final metrics as run {rows[0]['run_id']}" in repeated.output


def test_repeating_a_vertical_run_with_another_setting_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    job, store_path = _files(tmp_path)
    assert _sweep(job, store_path, "--set", "vfl.learning_rate=0.1,0.3").exit_code == 0
    with RunStore(store_path) as store:
        run_id = store.list_runs()[0].run_id  # learning_rate 0.3
    result = runner.invoke(
        app,
        [
            *("run", str(job), "--store", str(store_path), "--no-progress"),
            *("--set", "vfl.learning_rate=0.2", "--same-as", run_id),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "job_settings.vfl.learning_rate 0.3, now 0.2" in " ".join(result.output.split())


def _interrupting_cell(cell: int) -> Callable[..., Any]:
    """``run_vertical_job`` that stops with Ctrl-C as the ``cell``-th run it starts fits."""
    started = [0]

    def interrupted(job: Any, *args: Any, **kwargs: Any) -> Any:
        started[0] += 1
        if started[0] == cell:

            def stop(*_args: Any, **_kwargs: Any) -> None:
                raise KeyboardInterrupt

            job.model.fit = stop
        return run_vertical_job(job, *args, **kwargs)

    return interrupted


def test_an_interrupted_vertical_cell_is_run_anew_and_completed_cells_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, store_path = _files(tmp_path)
    console = Console(file=(tmp_path / "out.txt").open("w"), width=250)
    options = list(LR_GRID[1::2])
    with monkeypatch.context() as patched:
        patched.setattr(run_job_module, "run_vertical_job", _interrupting_cell(2))
        with pytest.raises(KeyboardInterrupt):
            run_sweep(console, job, options, store_path=store_path, progress=False)
    with RunStore(store_path) as store:
        before = {r.run_id: r.status for r in store.list_runs(limit=None)}
    assert sorted(before.values()) == ["completed", "interrupted"]
    stopped = next(run_id for run_id, status in before.items() if status == "interrupted")

    ids = run_sweep(console, job, options, store_path=store_path, progress=False)
    said = (tmp_path / "out.txt").read_text()
    assert f"run {stopped} was interrupted; a vertical cell is run anew" in said
    assert ids[0] in before and stopped not in ids and len(set(ids)) == 4
    with RunStore(store_path) as store:
        after = {r.run_id: r.status for r in store.list_runs(limit=None)}
    assert after[stopped] == "interrupted"  # kept, as rengo run leaves it
    assert [after[i] for i in ids] == ["completed"] * 4


def test_a_vertical_cell_whose_party_table_changed_since_is_run_again(tmp_path: Path) -> None:
    job, store_path = _files(tmp_path)
    options = ("--set", "vfl.learning_rate=0.1,0.3")
    assert _sweep(job, store_path, *options).exit_code == 0
    bank = tmp_path / "bank.csv"
    header, *rows = bank.read_text().splitlines(keepends=True)
    bank.write_text(header + "".join(reversed(rows)))  # the same rows in another order
    again = _sweep(job, store_path, *options)
    assert again.exit_code == 0, again.output
    assert "completed before" not in again.output
    with RunStore(store_path) as store:
        assert len(store.list_runs(limit=None)) == 4


def test_a_vertical_sweep_with_an_executor_is_refused_before_any_cell_runs(
    tmp_path: Path,
) -> None:
    job, store_path = _files(tmp_path)
    result = _sweep(job, store_path, "--executor", "process", *LR_GRID)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "is a vertical job, whose parties are simulated in this process" in lines[0]
    assert "leave --executor out" in lines[0]
    assert not store_path.exists()


@pytest.mark.parametrize("where", ["file", "set"])
def test_a_vertical_sweep_with_job_executor_set_is_refused_before_any_cell_runs(
    tmp_path: Path, where: str
) -> None:
    """Before, `[job] executor = "process"` (or `--set job.executor=process`) in a vertical
    job was accepted and ignored: the parties ran in threads of this process all the same."""
    text = HETERO_LR.replace("seed = 9", 'seed = 9\nexecutor = "process"')
    job, store_path = _files(tmp_path, text if where == "file" else HETERO_LR)
    extra = () if where == "file" else ("--set", "job.executor=process")
    result = _sweep(job, store_path, *extra, *LR_GRID)
    assert result.exit_code != 0, result.output
    assert "job.executor = 'process'" in result.output and "vertical job" in result.output
    assert not store_path.exists() or RunStore(store_path).list_runs() == []

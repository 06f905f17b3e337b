"""`rengo sweep` runs a grid of settings x seeds as ordinary runs tagged with their study,
checks every cell before any runs, continues after a stop without running a finished cell
again, and `rengo runs compare` sums the study up; bad input is one line and exit 2."""

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
from rengo.hfl import simulate
from rengo.tracking import RunStore
from rengo.tracking.study_tag import study_of

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
name = "tiny"
rounds = 3
seed = 0
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 3
[model]
type = "logistic"
[train]
lr = 0.2
[strategy]
name = "fedavg"
"""
GRID = ("--set", "strategy.name=fedavg,fedprox", "--set", "job.seed=0..1")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    job = tmp_path / "job.toml"
    job.write_text(JOB)
    return job, tmp_path / "runs.db"


def _sweep(job: Path, store: Path, *extra: str) -> Any:
    return runner.invoke(
        app, ["sweep", str(job), "--store", str(store), "--no-progress", *GRID, *extra]
    )


def _one_line_error(result: Any) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return str(lines[0])


def test_a_sweep_records_each_cell_as_a_run_of_its_study_and_a_second_one_runs_none(
    tmp_path: Path,
) -> None:
    job, store_path = _files(tmp_path)
    first = _sweep(job, store_path)
    assert first.exit_code == 0, first.output
    assert "cell 4/4 strategy.name=fedprox job.seed=1" in first.output
    with RunStore(store_path) as store:
        runs = store.list_runs(limit=None)
    assert len(runs) == 4 and {r.status for r in runs} == {"completed"}
    assert {study_of(r) for r in runs} == {"tiny"}
    assert {(r.config["job_settings"]["strategy"]["name"], r.seed) for r in runs} == {
        (s, k) for s in ("fedavg", "fedprox") for k in (0, 1)
    }
    assert sorted(r.name or "" for r in runs)[0] == "tiny strategy.name=fedavg job.seed=0"

    again = _sweep(job, store_path)
    assert again.exit_code == 0, again.output
    assert again.output.count("completed before, run") == 4
    with RunStore(store_path) as store:
        assert len(store.list_runs(limit=None)) == 4


def test_every_cell_is_checked_before_any_runs(tmp_path: Path) -> None:
    job, store_path = _files(tmp_path)
    result = runner.invoke(
        app,
        [
            *("sweep", str(job), "--store", str(store_path), "--no-progress"),
            *("--set", "job.seed=0..1", "--set", "strategy.name=fedavg,fedprox,fedpox"),
        ],
    )
    line = _one_line_error(result)
    assert "--set strategy.name=fedpox, --set job.seed=0" not in line  # the option order
    assert "--set job.seed=0, --set strategy.name=fedpox" in line
    assert "strategy.name = 'fedpox'" in line
    assert not store_path.exists()  # nothing ran, no store made


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--set", "job.seed=2..0"], "the range 2..0 ends below its start"),
        (["--set", "partition=iid"], "a section takes tables of its keys"),
        (["--set", "job.seed=0", "--set", "job.seed=1"], "job.seed is set by both"),
        (["--executor", "gpu"], "--executor"),
        (["--set", "train.lr=0.1,0.10"], "have the same settings"),
    ],
)
def test_bad_sweeps_are_one_line_and_exit_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    job, store_path = _files(tmp_path)
    result = runner.invoke(
        app, ["sweep", str(job), "--store", str(store_path), "--no-progress", *options]
    )
    assert message in _one_line_error(result)


def _interrupting_cell(cell: int) -> Callable[..., Any]:
    """``simulate`` that stops with Ctrl-C after round 1 of the ``cell``-th run it starts."""
    started = [0]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        started[0] += 1
        if started[0] != cell:
            return simulate(*args, **kwargs)

        def stop(record: Any) -> None:
            if record.server_round == 1:
                raise KeyboardInterrupt

        return simulate(*args, **{**kwargs, "progress": stop})

    return interrupted


def _sweep_stopped_at(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cell: int
) -> tuple[Path, Path, Console]:
    """The job, store and console of the sweep of ``GRID`` stopped with Ctrl-C after round 1
    of its ``cell``-th cell."""
    job, store_path = _files(tmp_path)
    console = Console(file=(tmp_path / "out.txt").open("w"))
    with monkeypatch.context() as patched:
        patched.setattr(run_job_module, "simulate", _interrupting_cell(cell))
        with pytest.raises(KeyboardInterrupt):
            run_sweep(console, job, list(GRID[1::2]), store_path=store_path, progress=False)
    return job, store_path, console


def test_a_study_stopped_mid_cell_continues_without_rerunning_finished_cells(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, store_path, console = _sweep_stopped_at(tmp_path, monkeypatch, 3)
    options = list(GRID[1::2])
    with RunStore(store_path) as store:
        before = {r.run_id: r.status for r in store.list_runs(limit=None)}
    assert sorted(before.values()) == ["completed", "completed", "interrupted"]
    stopped = next(run_id for run_id, status in before.items() if status == "interrupted")

    calls: list[str | None] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs.get("resume"))
        return simulate(*args, **kwargs)

    monkeypatch.setattr(run_job_module, "simulate", counted)
    ids = run_sweep(console, job, options, store_path=store_path, progress=False)
    assert calls == [stopped, None]  # the interrupted cell resumed, the last one run, no other
    assert ids[2] == stopped and set(ids[:2]) <= set(before)
    with RunStore(store_path) as store:
        after = store.list_runs(limit=None)
        assert len(after) == 4 and {r.status for r in after} == {"completed"}
        assert [r.round for r in store.rounds(stopped)] == [1, 2, 3]


def test_compare_sums_up_the_study_and_each_row_repeats_its_run(tmp_path: Path) -> None:
    job, store_path = _files(tmp_path)
    assert _sweep(job, store_path).exit_code == 0
    table, per_run = tmp_path / "table.csv", tmp_path / "runs.csv"
    result = runner.invoke(
        app,
        [
            *("runs", "compare", "--study", "tiny", "--store", str(store_path)),
            *("--csv", str(table), "--runs-csv", str(per_run), "--plot", str(tmp_path / "c.png")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "central_accuracy (best = max)" in result.output
    with open(table, newline="") as file:
        groups = list(csv.DictReader(file))
    with RunStore(store_path) as store:
        finals = {
            r.run_id: store.rounds(r.run_id)[-1].metrics["central_accuracy"]
            for r in store.list_runs(limit=None)
        }
        names = {r.run_id: r.config["job_settings"]["strategy"]["name"] for r in store.list_runs()}
    assert [g["strategy.name"] for g in groups] == ["fedavg", "fedprox"]
    for group in groups:
        values = [finals[i] for i in group["run_ids"].split()]
        assert {names[i] for i in group["run_ids"].split()} == {group["strategy.name"]}
        assert float(group["final_mean"]) == pytest.approx(np.mean(values))
        assert float(group["final_sd"]) == pytest.approx(np.std(values, ddof=1))
    with open(per_run, newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 4
    words = shlex.split(rows[0]["command"])
    assert words[:3] == ["rengo", "run", str(job.resolve())]
    repeated = runner.invoke(app, [*words[1:], "--no-progress"])
    assert repeated.exit_code == 0, repeated.output
    assert f"same final metrics as run {rows[0]['run_id']}" in repeated.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "name the runs to compare, or pick them with --study"),
        (["--study", "nope"], "no run matches --study 'nope'"),
        (["--study", "tiny", "--metric", "f1"], "has no metric 'f1'; every run compared has"),
        (["--study", "tiny", "--goal", "up"], "goal 'up': choose max or min"),
        (["--study", "tiny", "--csv", "same.csv", "--runs-csv", "same.csv"], "a file of their"),
        (["--study", "tiny", "--since", "yesterday"], "--since must be a date"),
    ],
)
def test_bad_comparisons_are_one_line_and_exit_2(
    tmp_path: Path, options: list[str], message: str
) -> None:
    job, store_path = _files(tmp_path)
    assert _sweep(job, store_path).exit_code == 0
    result = runner.invoke(app, ["runs", "compare", "--store", str(store_path), *options])
    assert message in _one_line_error(result)


def test_compare_refuses_to_replace_a_file_and_writes_nothing(tmp_path: Path) -> None:
    job, store_path = _files(tmp_path)
    assert _sweep(job, store_path).exit_code == 0
    table, plot = tmp_path / "table.csv", tmp_path / "c.png"
    table.write_text("mine\n")
    result = runner.invoke(
        app,
        [
            *("runs", "compare", "--study", "tiny", "--store", str(store_path)),
            *("--csv", str(table), "--plot", str(plot)),
        ],
    )
    assert "already exists; give --overwrite" in _one_line_error(result)
    assert table.read_text() == "mine\n" and not plot.exists()


def test_a_cell_whose_data_file_changed_since_is_run_again(tmp_path: Path) -> None:
    from sklearn.datasets import load_wine

    table = tmp_path / "wine.csv"
    frame = load_wine(as_frame=True).frame
    frame.to_csv(table, index=False)
    job = tmp_path / "job.toml"
    job.write_text(
        JOB.replace('dataset = "wine"', 'dataset = "csv"\npath = "wine.csv"\nlabel = "target"')
    )
    store_path = tmp_path / "runs.db"
    options = ["--set", "job.seed=0..1"]
    first = runner.invoke(
        app, ["sweep", str(job), "--store", str(store_path), "--no-progress", *options]
    )
    assert first.exit_code == 0, first.output
    frame.iloc[::-1].to_csv(table, index=False)  # the same rows in another order
    again = runner.invoke(
        app, ["sweep", str(job), "--store", str(store_path), "--no-progress", *options]
    )
    assert again.exit_code == 0, again.output
    assert "completed before" not in again.output
    with RunStore(store_path) as store:
        assert len(store.list_runs(limit=None)) == 4


def test_the_line_after_a_stop_is_the_command_that_continues_the_study() -> None:
    from rengo.cli.sweep import sweep_command

    line = sweep_command(
        Path("my job.toml"), ["job.seed=0..1"], "s 1", Path("runs.db"), executor="process"
    )
    assert shlex.split(line) == [
        *("rengo", "sweep", "my job.toml", "--store", "runs.db", "--study", "s 1"),
        *("--executor", "process", "--set", "job.seed=0..1"),
    ]


def _listed_rows(output: str) -> dict[str, list[str]]:
    """The rows of a `rengo runs list` table by run id (each row's words after the id)."""
    rows = {}
    for line in output.splitlines():
        words = line.split()
        if words and words[0][:8].isdigit() and "-" in words[0]:
            rows[words[0]] = words[1:]
    return rows


def test_runs_list_study_lists_every_cell_with_its_varied_settings_and_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job, store_path, _ = _sweep_stopped_at(tmp_path, monkeypatch, 4)
    alone = runner.invoke(app, ["run", str(job), "--store", str(store_path), "--no-progress"])
    assert alone.exit_code == 0, alone.output  # the same job, but no cell of the study
    result = runner.invoke(
        app, ["runs", "list", "--study", "tiny", "--store", str(store_path), "--limit", "100"]
    )
    assert result.exit_code == 0, result.output
    assert "study tiny" in result.output and " name " in result.output
    rows = _listed_rows(result.output)
    with RunStore(store_path) as store:
        cells = [r for r in reversed(store.list_runs(limit=None)) if study_of(r) == "tiny"]
    assert list(rows) == [r.run_id for r in cells]  # oldest first, the lone run left out
    for run in cells:
        status, seed, name = rows[run.run_id][:3]  # the settings in key order
        assert (status, name, seed) == (
            run.status,
            run.config["job_settings"]["strategy"]["name"],
            str(run.seed),
        )
    assert [rows[r.run_id][0] for r in cells] == ["completed"] * 3 + ["interrupted"]


def test_runs_list_of_an_unknown_study_names_the_studies_the_store_holds(tmp_path: Path) -> None:
    job, store_path = _files(tmp_path)
    assert _sweep(job, store_path).exit_code == 0
    result = runner.invoke(app, ["runs", "list", "--study", "tin", "--store", str(store_path)])
    assert result.exit_code == 0, result.output
    assert "no run of study 'tin'; studies in this store: tiny" in result.output


def test_a_sweep_reads_its_job_file_once_and_records_each_cell_as_rengo_run_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rengo.jobs import load_job
    from rengo.jobs.build import job_settings

    job, store_path = _files(tmp_path)
    reads: list[Path] = []
    read_text = Path.read_text

    def counted(path: Path, *args: Any, **kwargs: Any) -> str:
        if path.resolve() == job.resolve():
            reads.append(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    console = Console(file=(tmp_path / "out.txt").open("w"))
    options = ["strategy.name=fedavg,fedprox", "job.seed=0..1"]
    ids = run_sweep(console, job, options, store_path=store_path, progress=False)
    assert reads == [job]
    monkeypatch.undo()
    with RunStore(store_path) as store:
        runs = [store.get_run(run_id) for run_id in ids]
    for run in runs:  # each as `rengo run JOB --set ...` loads it
        expected = job_settings(load_job(job, run.config["overrides"]))
        assert run.config["job_settings"] == json_round_trip(expected)
    again = run_sweep(console, job, options, store_path=store_path, progress=False)
    assert again == ids  # every cell found completed with the same settings


def json_round_trip(value: Any) -> Any:
    """``value`` as the run store gives it back (tuples as lists)."""
    import json

    return json.loads(json.dumps(value))

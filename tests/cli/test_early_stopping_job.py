"""A job file's ``[early_stopping]``: `rengo run` ends the run once the watched metric stops
improving, keeps the best round's checkpoint, and `rengo runs export --round best` writes
that round's model; bad settings are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import ConfigError
from rengo.hfl.early_stopping import best_round
from rengo.jobs import build_strategy, load_job
from rengo.tracking import RunStore
from rengo.tracking.model_export import load_model

runner = CliRunner(env={"COLUMNS": "200"})

ROUNDS = 40
JOB = f"""
[job]
name = "stops"
rounds = {ROUNDS}
seed = 1
[data]
dataset = "wine"
[partition]
scheme = "iid"
num_clients = 4
[model]
type = "logistic"
[train]
lr = 0.05
[strategy]
name = "fedavg"
"""
EARLY = """
[early_stopping]
metric = "central_loss"
patience = 2
min_delta = 0.02
"""


def _run(tmp_path: Path, text: str) -> tuple[Path, str, str]:
    job = tmp_path / "job.toml"
    job.write_text(text)
    store = tmp_path / "runs.db"
    result = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    with RunStore(store) as s:
        return store, s.list_runs()[0].run_id, result.output


def test_a_job_stops_early_and_exports_its_best_round(tmp_path: Path) -> None:
    store, run_id, output = _run(tmp_path, JOB + EARLY)
    with RunStore(store) as s:
        rounds = s.rounds(run_id)
        kept = sorted(s.checkpoint_rounds(run_id))
        status = s.get_run(run_id).status
    curve = [(r.round, r.metrics["central_loss"]) for r in rounds]
    best = best_round(curve, lower=True, min_delta=0.02)
    assert best is not None
    last = rounds[-1].round
    assert status == "completed" and "stopped early" in output
    assert last == best[0] + 2 < ROUNDS  # two rounds without a 0.02 lower loss, then stop
    assert best[0] > 1
    assert kept == sorted({best[0], last})  # the best round's checkpoint beside the latest

    out = tmp_path / "best.npz"
    exported = runner.invoke(
        app, ["runs", "export", run_id, "--round", "best", "--store", str(store), "-o", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert f"after round {best[0]} " in exported.output
    numbered = tmp_path / "numbered.npz"
    again = runner.invoke(
        app,
        [
            "runs",
            "export",
            run_id,
            "--round",
            str(best[0]),
            "--store",
            str(store),
            "-o",
            str(numbered),
        ],
    )
    assert again.exit_code == 0, again.output
    written, expected = np.load(out), np.load(numbered)
    assert written.files == expected.files
    for name in written.files:
        np.testing.assert_array_equal(written[name], expected[name])
    with RunStore(store) as s:
        last_model = load_model(s, run_id).parameters
    assert not np.array_equal(written[written.files[0]].T, last_model[0])  # not the last round's


def test_round_best_needs_a_run_with_early_stopping(tmp_path: Path) -> None:
    store, run_id, _ = _run(tmp_path, JOB.replace(f"rounds = {ROUNDS}", "rounds = 2"))
    out = str(tmp_path / "m.npz")
    best = runner.invoke(
        app, ["runs", "export", run_id, "--round", "best", "--store", str(store), "-o", out]
    )
    assert best.exit_code != 0 and "no [early_stopping]" in best.output
    typo = runner.invoke(
        app, ["runs", "export", run_id, "--round", "last", "--store", str(store), "-o", out]
    )
    assert typo.exit_code != 0 and "a round number or 'best'" in typo.output
    numbered = runner.invoke(
        app, ["runs", "export", run_id, "--round", "2", "--store", str(store), "-o", out]
    )
    assert numbered.exit_code == 0, numbered.output


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("[early_stopping]\npatience = 0\n", "early_stopping.patience"),
        ("[early_stopping]\npatiance = 3\n", "patience"),
        ('[early_stopping]\nmetric = "eval_loss"\n', "does not run"),
        ('[early_stopping]\nmetric = "eval_loss"\n[strategy]\n', "does not run"),
    ],
)
def test_bad_early_stopping_settings_are_refused_naming_the_key(
    tmp_path: Path, section: str, expected: str
) -> None:
    job = tmp_path / "job.toml"
    text = JOB + section.replace("[strategy]\n", "")
    if section.endswith("[strategy]\n"):  # explicitly off; the other case: fedavg's default
        text = text.replace('name = "fedavg"', 'name = "fedavg"\nfraction_evaluate = 0.0')
    job.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        build_strategy(load_job(job))


def test_the_settings_are_recorded_so_a_repeat_with_others_is_refused(tmp_path: Path) -> None:
    from rengo.jobs.build import job_settings

    short = JOB.replace(f"rounds = {ROUNDS}", "rounds = 2") + EARLY
    store, run_id, _ = _run(tmp_path, short)
    job = tmp_path / "job.toml"
    assert job_settings(load_job(job))["early_stopping"] == {
        "metric": "central_loss",
        "patience": 2,
        "min_delta": 0.02,
        "mode": "auto",
    }
    other = runner.invoke(
        app,
        ["run", str(job), "--store", str(store), "--no-progress", "--same-as", run_id,
         "--set", "early_stopping.patience=3"],
    )  # fmt: skip
    assert other.exit_code != 0 and "early_stopping.patience" in other.output
    job.write_text(JOB)
    assert "early_stopping" not in job_settings(load_job(job))  # older runs compare equal


def test_a_served_model_cannot_watch_a_central_metric() -> None:
    """A job whose model is the user's own has no held-out split at the coordinator: a
    central_* metric would never be recorded (refused when the job is served, not after its
    first round)."""
    from rengo.jobs.build import build_served_job, run_observers
    from rengo.jobs.spec import parse_job

    served = {"model": {"app": "m:init"}, "early_stopping": {"patience": 3}}
    with pytest.raises(ConfigError, match="eval_loss"):
        build_served_job(parse_job(served, "served.toml"), [np.zeros(3)], ["p0", "p1"])
    served["early_stopping"] = {"metric": "eval_loss"}
    served["strategy"] = {"fraction_evaluate": 1.0}
    spec = parse_job(served, "served.toml")
    build_served_job(spec, [np.zeros(3)], ["p0", "p1"])
    first, second = run_observers(spec), run_observers(spec, None)
    assert first == second and first[0] is not second[0]  # each run watches with its own copy

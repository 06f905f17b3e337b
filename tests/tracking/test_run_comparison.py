"""Runs compared as a study: grouped by the settings they differ in (the seed apart), each
group's final and best value as numpy's mean and sample standard deviation over its runs,
written as CSV with the command that repeats each run, and drawn with bands."""

from __future__ import annotations

import csv
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.tracking import (
    RunStore,
    compare_runs,
    comparison_table,
    plot_comparison,
    write_comparison_csv,
)
from rengo.tracking.run_comparison import best_point, goal_of, mean_sd_n, short_names

CURVES = {  # (strategy, seed) -> accuracy per round
    ("fedavg", 0): [0.50, 0.70, 0.65],
    ("fedavg", 1): [0.55, 0.60, 0.80],
    ("fedavg", 2): [0.40, 0.90, 0.85],
    ("fedprox", 0): [0.30, 0.35, 0.50],
    ("fedprox", 1): [0.20, 0.60, 0.45],
}


def _settings(strategy: str, seed: int, options: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "job": {"rounds": 3, "seed": seed},
        "strategy": {"name": strategy, "options": options or {}},
        "train": {"lr": 0.1},
    }


def _record(
    store: RunStore,
    strategy: str,
    seed: int,
    curve: list[float],
    *,
    options: dict[str, Any] | None = None,
    status: str = "completed",
) -> str:
    config = {
        "job_settings": _settings(strategy, seed, options),
        "job_file": "/jobs/job.toml",
        "overrides": [f"strategy.name={strategy}", f"job.seed={seed}"],
    }
    run_id = store.start_run("hfl", config, name=f"study {strategy} {seed}", seed=seed)
    for k, value in enumerate(curve, 1):
        store.log_round(run_id, k, {"acc": value, "loss": 1 - value}, 0.1, 2, 0)
    if status != "running":
        store.finish_run(run_id, status)
    return run_id


@pytest.fixture
def study(tmp_path: Path) -> tuple[RunStore, dict[tuple[str, int], str]]:
    store = RunStore(tmp_path / "runs.db")
    ids = {key: _record(store, *key, curve) for key, curve in CURVES.items()}
    return store, ids


def test_groups_are_the_settings_that_differ_and_the_figures_are_numpys(
    study: tuple[RunStore, dict[tuple[str, int], str]],
) -> None:
    store, ids = study
    comparison = compare_runs(store, list(ids.values()), "acc")
    assert comparison.varied == ("strategy.name",)  # job.seed is what repeats a group
    assert comparison.goal == "max"
    assert [g.settings for g in comparison.groups] == [
        {"strategy.name": "fedavg"},
        {"strategy.name": "fedprox"},
    ]
    for group in comparison.groups:
        name = group.settings["strategy.name"]
        curves = np.array([c for (s, _), c in CURVES.items() if s == name])
        final_mean, final_sd, n = group.final_stats()
        assert n == len(curves)
        assert final_mean == pytest.approx(np.mean(curves[:, -1]))
        assert final_sd == pytest.approx(np.std(curves[:, -1], ddof=1))
        best_mean, best_sd, _ = group.best_stats()
        assert best_mean == pytest.approx(np.mean(curves.max(axis=1)))
        assert best_sd == pytest.approx(np.std(curves.max(axis=1), ddof=1))
        rounds, mean, sd = group.band()
        assert rounds == [1, 2, 3]
        np.testing.assert_allclose(mean, curves.mean(axis=0))
        np.testing.assert_allclose(sd, curves.std(axis=0, ddof=1))
    fedavg_seed_2 = comparison.groups[0].runs[2]
    assert (fedavg_seed_2.best_round, fedavg_seed_2.best) == (2, 0.90)
    assert (fedavg_seed_2.final_round, fedavg_seed_2.final) == (3, 0.85)


def test_a_loss_is_best_at_its_lowest(study: tuple[RunStore, dict[tuple[str, int], str]]) -> None:
    store, ids = study
    comparison = compare_runs(store, [ids["fedavg", 2]], "loss")
    assert comparison.goal == "min"
    run = comparison.groups[0].runs[0]
    assert (run.best_round, run.best) == (2, pytest.approx(0.10))
    assert goal_of("central_loss") == "min" and goal_of("central_accuracy") == "max"
    # as the dashboard ranks them: a smaller epsilon, error, norm or time is better
    for smaller in ("train_dp_epsilon", "central_error_rate", "update_norm", "fit_seconds"):
        assert goal_of(smaller) == "min", smaller
    assert goal_of("central_r2") == "max"
    assert best_point([(1, 0.2), (2, float("nan")), (3, 0.2)], "max") == (1, 0.2)


def test_mean_sd_n_is_numpys_sample_deviation_and_nan_for_one_run() -> None:
    values = [0.91, 0.87, 0.95, 0.90]
    mean, sd, n = mean_sd_n(values)
    assert (mean, sd, n) == (np.mean(values), np.std(values, ddof=1), 4)
    one = mean_sd_n([0.5])
    assert one[0] == 0.5 and np.isnan(one[1]) and one[2] == 1
    assert np.isnan(mean_sd_n([0.5, float("nan")])[0])  # a diverged run shows, not averaged away


def test_runs_not_completed_are_left_out_and_named(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.db")
    done = _record(store, "fedavg", 0, [0.5, 0.6, 0.7])
    stopped = _record(store, "fedavg", 1, [0.5], status="interrupted")
    comparison = compare_runs(store, [done, stopped], "acc")
    assert [r.run_id for g in comparison.groups for r in g.runs] == [done]
    assert comparison.left_out == (f"{stopped} is interrupted",)
    with pytest.raises(DataError, match=f"no run to compare \\({stopped} is interrupted\\)"):
        compare_runs(store, [stopped], "acc")


def test_a_metric_a_run_lacks_is_refused_naming_the_shared_ones(
    study: tuple[RunStore, dict[tuple[str, int], str]],
) -> None:
    store, ids = study
    with pytest.raises(DataError, match="has no metric 'f1'; every run compared has: acc, loss"):
        compare_runs(store, list(ids.values()), "f1")
    with pytest.raises(DataError, match="goal 'up': choose max or min"):
        compare_runs(store, list(ids.values()), "acc", goal="up")


def test_an_empty_options_table_reads_as_absent_beside_another_runs_option(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.db")
    plain = _record(store, "fedavg", 0, [0.5])
    proximal = _record(store, "fedprox", 0, [0.4], options={"mu": 0.1})
    comparison = compare_runs(store, [plain, proximal], "acc")
    assert comparison.varied == ("strategy.name", "strategy.options.mu")
    assert [g.settings for g in comparison.groups] == [
        {"strategy.name": "fedavg", "strategy.options.mu": None},
        {"strategy.name": "fedprox", "strategy.options.mu": 0.1},
    ]
    assert comparison.labels() == ["name=fedavg", "name=fedprox mu=0.1"]
    assert short_names(("partition.options.alpha", "job.name", "strategy.name")) == [
        "alpha",
        "job.name",
        "strategy.name",
    ]


def test_the_csvs_hold_each_group_and_each_run_with_the_command_that_repeats_it(
    study: tuple[RunStore, dict[tuple[str, int], str]], tmp_path: Path
) -> None:
    store, ids = study
    comparison = compare_runs(store, list(ids.values()), "acc", store_path=Path("/s/runs.db"))
    assert write_comparison_csv(comparison, tmp_path / "groups.csv") == 2
    with open(tmp_path / "groups.csv", newline="") as file:
        groups = list(csv.DictReader(file))
    finals = [0.65, 0.80, 0.85]
    assert groups[0]["strategy.name"] == "fedavg"
    assert groups[0]["n"] == "3"
    assert float(groups[0]["final_mean"]) == pytest.approx(np.mean(finals))
    assert float(groups[0]["final_sd"]) == pytest.approx(np.std(finals, ddof=1))
    assert float(groups[0]["best_mean"]) == pytest.approx(np.mean([0.70, 0.80, 0.90]))
    assert groups[0]["run_ids"].split() == [ids["fedavg", s] for s in range(3)]
    assert write_comparison_csv(comparison, tmp_path / "runs.csv", per_run=True) == 5
    with open(tmp_path / "runs.csv", newline="") as file:
        runs = list(csv.DictReader(file))
    row = runs[3]
    assert (row["strategy.name"], row["seed"], row["run_id"]) == ("fedprox", "0", ids["fedprox", 0])
    assert (row["final"], row["best_round"], row["best"]) == ("0.5", "3", "0.5")
    assert shlex.split(row["command"]) == [
        *("rengo", "run", "/jobs/job.toml", "--store", "/s/runs.db"),
        *("--set", "strategy.name=fedprox", "--set", "job.seed=0"),
        *("--same-as", ids["fedprox", 0]),
    ]


def test_a_run_without_a_job_file_is_repeated_through_its_written_back_job(
    tmp_path: Path,
) -> None:
    store = RunStore(tmp_path / "runs.db")
    run_id = store.start_run("hfl", {"job_settings": _settings("fedavg", 0)})
    store.log_round(run_id, 1, {"acc": 0.5}, 0.1, 2, 0)
    store.finish_run(run_id, "completed")
    command = compare_runs(store, [run_id], "acc").groups[0].runs[0].command
    assert command == (
        f"rengo runs job {run_id} -o {run_id}.toml && rengo run {run_id}.toml --same-as {run_id}"
    )


def test_the_table_and_the_plot_show_every_group(
    study: tuple[RunStore, dict[tuple[str, int], str]], tmp_path: Path
) -> None:
    from rich.console import Console

    store, ids = study
    comparison = compare_runs(store, list(ids.values()), "acc")
    console = Console(width=120, record=True)
    console.print(comparison_table(comparison))
    text = console.export_text()
    assert "fedavg" in text and "fedprox" in text
    assert f"{np.mean([0.65, 0.80, 0.85]):.4f} ± {np.std([0.65, 0.80, 0.85], ddof=1):.4f}" in text
    path = plot_comparison(comparison, tmp_path / "curves.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

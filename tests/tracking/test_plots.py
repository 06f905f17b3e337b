"""Plots write real PNG files, grouping metrics by family, and refuse to mislead."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import DataError
from rengo.tracking import RunStore, metric_family, plot_run, plot_runs
from rengo.tracking.plots import MAX_PANELS, drawn_panels

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run_with_metrics(store: RunStore, name: str, scale: float) -> str:
    run_id = store.start_run("horizontal", {"strategy": name}, name=name)
    for number in range(1, 6):
        store.log_round(
            run_id,
            number,
            {
                "eval_loss": scale / number,
                "train_loss": 2 * scale / number,
                "eval_accuracy": 1 - scale / number,
                "central_accuracy": 1 - scale / (number + 1),
                "eval_auc": 0.5 + number / 20,
            },
            0.1,
            3,
            0,
        )
    return run_id


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000


def test_plot_run_writes_a_png(store: RunStore, tmp_path: Path) -> None:
    run_id = _run_with_metrics(store, "fedavg", 0.5)
    written = plot_run(store, run_id[:12], tmp_path / "plots" / "run.png")
    assert written == tmp_path / "plots" / "run.png"
    _assert_png(written)


def test_plot_runs_compares_runs_on_one_metric(store: RunStore, tmp_path: Path) -> None:
    runs = [_run_with_metrics(store, "fedavg", 0.5), _run_with_metrics(store, "fedadam", 0.3)]
    _assert_png(plot_runs(store, runs, "eval_accuracy", tmp_path / "compare.png"))


def test_plot_runs_names_the_run_missing_the_metric(store: RunStore, tmp_path: Path) -> None:
    good = _run_with_metrics(store, "fedavg", 0.5)
    bare = store.start_run("horizontal", {})
    store.log_round(bare, 1, {"train_loss": 1.0}, 0.1, 1, 0)
    with pytest.raises(DataError, match=f"{bare}.*eval_accuracy.*train_loss"):
        plot_runs(store, [good, bare], "eval_accuracy", tmp_path / "compare.png")
    assert not (tmp_path / "compare.png").exists()


def test_plot_run_without_metrics_is_a_clear_error(store: RunStore, tmp_path: Path) -> None:
    run_id = store.start_run("horizontal", {})
    with pytest.raises(DataError, match="no per-round metrics"):
        plot_run(store, run_id, tmp_path / "empty.png")


@pytest.mark.parametrize(
    ("key", "family"),
    [
        ("eval_loss", "loss"),
        ("train_loss", "loss"),
        ("eval_accuracy", "accuracy"),
        ("central_accuracy", "accuracy"),
        ("val_acc", "accuracy"),
        ("eval_f1_macro", "f1"),
        ("throughput", "throughput"),
    ],
)
def test_metric_family_groups_by_measure(key: str, family: str) -> None:
    assert metric_family(key) == family


def test_a_comparison_draws_its_baselines(store: RunStore, tmp_path: Path) -> None:
    runs = [_run_with_metrics(store, "fedavg", 0.5), _run_with_metrics(store, "fedadam", 0.3)]
    plain = plot_runs(store, runs, "central_accuracy", tmp_path / "plain.png")
    marked = plot_runs(
        store,
        runs,
        "central_accuracy",
        tmp_path / "marked.png",
        baselines={"centralised (0.975)": 0.975},
    )
    _assert_png(marked)
    assert marked.read_bytes() != plain.read_bytes()


def _png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` in pixels, from the PNG's header."""
    data = path.read_bytes()
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_a_run_with_hundreds_of_metric_families_plots_the_known_ones_first_within_a_bound(
    store: RunStore, tmp_path: Path
) -> None:
    """A run recorded with 2,563 families (one party's invented metric names) kept
    ``rengo runs plot`` busy past five minutes at 5.4 GB: one subplot each."""
    run_id = store.start_run("horizontal", {}, name="many")
    for number in (1, 2):
        metrics = {f"train_m{i:03d}": float(i) for i in range(100)}
        store.log_round(run_id, number, {**metrics, "zeta_loss": 0.5}, 0.1, 3, 0)
    written = plot_run(store, run_id, tmp_path / "many.png")
    width, height = _png_size(written)
    assert width <= 2 * 5.0 * 110 + 1  # two columns
    assert height <= (MAX_PANELS // 2) * 3.6 * 110 + 0.4 * 110 + 1  # MAX_PANELS subplots
    drawn, left_out = drawn_panels(["train_m000", "zeta_loss", "fit accuracy", "b"])
    assert drawn == ["zeta_loss", "fit accuracy", "train_m000", "b"] and left_out == 0
    many, left_out = drawn_panels([f"m{i}" for i in range(30)] + ["loss"])
    assert many[0] == "loss" and len(many) == MAX_PANELS and left_out == 31 - MAX_PANELS

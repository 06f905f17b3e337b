"""Vertical job files for hetero linear and Poisson regression: the examples parse and run,
regression labels stay numbers (counts are not turned into class codes), the held-out
metrics are the regression ones, and bad labels are refused naming the party."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import tomllib

from rengo.core.errors import DataError, PeerFailure
from rengo.jobs import build_vertical_job, load_job, parse_job, run_vertical_job
from rengo.metrics import poisson_deviance
from rengo.tracking import RunStore
from rengo.vfl import HeteroLinearRegression, HeteroPoissonRegression

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "vertical_regression"


def _fast(path: Path, tmp_path: Path, **changes: object) -> Path:
    """The example job with a test-sized key and fewer epochs, its tables beside it."""
    text = path.read_text().replace("key_bits = 1024", "key_bits = 512")
    for key, value in changes.items():
        lines = [ln for ln in text.splitlines() if not ln.startswith(f"{key} =")]
        at = lines.index("[vfl]") + 1
        lines.insert(at, f"{key} = {value!r}".replace("'", '"'))
        text = "\n".join(lines) + "\n"
    target = tmp_path / path.name
    target.write_text(text.replace('"data/', f'"{EXAMPLES}/data/'))
    return target


def test_the_linear_example_job_trains_a_hetero_linear_regression(tmp_path: Path) -> None:
    # 23 epochs: the ~45 SGD steps 15 took before whole batches (about 350 rows: two
    # whole batches of 128 an epoch, where the remainder made a third)
    job = build_vertical_job(load_job(_fast(EXAMPLES / "linear.toml", tmp_path, epochs=23)))
    assert isinstance(job.model, HeteroLinearRegression)
    with RunStore(tmp_path / "runs.db") as store:
        result = run_vertical_job(job, store, log=lambda _m: None)
        assert {"rmse", "mae", "r2"} <= set(result) and "auc" not in result
        assert result["r2"] > 0.3  # diabetes, ten standardised columns over three parties
        assert "test_r2" in store.round_metrics(result["run_id"])


def test_the_poisson_example_job_keeps_counts_and_reports_deviance(tmp_path: Path) -> None:
    job = build_vertical_job(load_job(_fast(EXAMPLES / "poisson.toml", tmp_path, epochs=8)))
    assert isinstance(job.model, HeteroPoissonRegression)
    labels = np.asarray(job.train.labels)
    with (EXAMPLES / "data" / "insurer.csv").open(newline="") as handle:
        raw = sorted({int(row["claims"]) for row in csv.DictReader(handle)})
    assert sorted(np.unique(labels).astype(int).tolist()) == raw[: len(np.unique(labels))]
    result = run_vertical_job(job, log=lambda _m: None)
    assert {"poisson_deviance", "d2_poisson", "gini", "rmse", "mae"} <= set(result)
    mean_only = poisson_deviance(job.test_labels, np.full(len(job.test_labels), labels.mean()))
    assert result["poisson_deviance"] < mean_only  # the columns help beyond the mean count
    # the frequency metrics: deviance explained beyond the mean, and a ranking of risks
    assert 0 < result["d2_poisson"] < 1 and 0 < result["gini"] < 1


def test_whole_number_targets_are_not_turned_into_class_codes(tmp_path: Path) -> None:
    """Counts {0, 3, 7} must reach the model as 0, 3, 7, not as the codes 0, 1, 2."""
    for name, header, rows in (
        ("g", ["id", "a", "y"], [[f"i{k}", str(k % 5), str((0, 3, 7)[k % 3])] for k in range(60)]),
        ("h", ["id", "b"], [[f"i{k}", str(k % 7)] for k in range(60)]),
    ):
        with (tmp_path / f"{name}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    spec = parse_job(
        tomllib.loads(
            f"""
[job]
kind = "vfl"
seed = 1
[vfl]
algorithm = "hetero_poisson"
label_party = "g"
key_bits = 512
[vfl.parties]
g = "{tmp_path / "g.csv"}"
h = "{tmp_path / "h.csv"}"
"""
        )
    )
    job = build_vertical_job(spec)
    assert set(np.unique(np.asarray(job.train.labels)).tolist()) == {0.0, 3.0, 7.0}


def test_a_fractional_count_is_refused_naming_the_label_party(tmp_path: Path) -> None:
    for name, header, rows in (
        ("g", ["id", "a", "y"], [[f"i{k}", str(k % 5), str(k % 3 + 0.5)] for k in range(40)]),
        ("h", ["id", "b"], [[f"i{k}", str(k % 7)] for k in range(40)]),
    ):
        with (tmp_path / f"{name}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *rows])
    spec = parse_job(
        tomllib.loads(
            f"""
[job]
kind = "vfl"
seed = 1
[vfl]
algorithm = "hetero_poisson"
label_party = "g"
key_bits = 512
epochs = 1
[vfl.parties]
g = "{tmp_path / "g.csv"}"
h = "{tmp_path / "h.csv"}"
"""
        )
    )
    job = build_vertical_job(spec)
    with pytest.raises((DataError, PeerFailure), match=r"g: Poisson regression needs counts"):
        run_vertical_job(job, log=lambda _m: None)


def test_an_unknown_algorithm_name_suggests_the_regressions() -> None:
    from rengo.core import ConfigError

    raw = tomllib.loads('[job]\nkind="vfl"\n[vfl]\nalgorithm="hetero_linaer"\ndataset="diabetes"')
    with pytest.raises(ConfigError, match="hetero_linear"):
        parse_job(raw)

"""`rengo runs importance RUN --party NAME`: one party's own view of which of its columns
drive a simulated vertical run's model, read from the model the run stored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.tracking import RunStore, load_secureboost, load_vertical_parts, party_importance
from rengo.tracking.column_importance import FEATURE_NAMES

runner = CliRunner(env={"COLUMNS": "250"})

JOB = """
[job]
kind = "vfl"
name = "{algorithm}"
seed = 0
[vfl]
algorithm = "{algorithm}"
dataset = "breast_cancer"
key_bits = 512
{rounds}
"""


def _run(folder: Path, algorithm: str, rounds: str) -> tuple[Path, str]:
    job, store = folder / f"{algorithm}.toml", folder / "runs.db"
    job.write_text(JOB.format(algorithm=algorithm, rounds=rounds))
    ran = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        return store, s.list_runs(limit=1)[0].run_id


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("importance")
    return {
        "linear": _run(folder, "hetero_lr", "epochs = 2"),
        "trees": _run(folder, "secureboost", "n_trees = 2\nmax_depth = 2"),
    }


def test_a_linear_partys_view_is_its_own_coefficients_by_column_name(
    runs: dict[str, tuple[Path, str]],
) -> None:
    store, run_id = runs["linear"]
    with RunStore(store) as s:
        parts = load_vertical_parts(s, run_id)
        view = party_importance(s, run_id, "party1")
    assert "z-scored" in view.measure
    weights = {c.column: c.value for c in view.columns}
    assert len(weights) == parts.parts["party1"].size == 10
    assert weights["radius error"] == parts.parts["party1"][0]  # breast_cancer's 11th column
    magnitudes = [abs(c.value or 0.0) for c in view.columns]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert not any(c.column.startswith("mean ") for c in view.columns)  # the guest's


def test_a_one_vs_rest_partys_view_names_each_coefficient_by_its_column_and_class(
    tmp_path: Path,
) -> None:
    """Wine's 3 classes: party1 holds a (columns x 3) matrix; each coefficient is one column's
    for one class model, named so, never a made-up x<j> mixing the two."""
    job, store = tmp_path / "wine.toml", tmp_path / "runs.db"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "wine"\nseed = 0\n[vfl]\ndataset = "wine"\n'
        'key_bits = 512\nepochs = 2\nmulti_class = "ovr"\n'
    )
    ran = runner.invoke(app, ["run", str(job), "--store", str(store), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    with RunStore(store) as s:
        run = s.list_runs(limit=1)[0]
        matrix = load_vertical_parts(s, run.run_id).parts["party1"]
        view = party_importance(s, run.run_id, "party1")
    names = run.summary[FEATURE_NAMES]["party1"]
    assert matrix.shape == (len(names), 3)
    weights = {c.column: c.value for c in view.columns}
    assert weights == {
        f"{name} (class {k})": matrix[j, k] for j, name in enumerate(names) for k in range(3)
    }


def test_a_feature_partys_split_counts_match_the_label_partys_counts_of_its_ids(
    runs: dict[str, tuple[Path, str]],
) -> None:
    store, run_id = runs["trees"]
    with RunStore(store) as s:
        guest = party_importance(s, run_id, "guest")
        host = party_importance(s, run_id, "party2")
        models = {m.party: m.model for m in load_secureboost(s, run_id).models()}
    host_model = models["party2"]
    names = [c.column for c in host.columns]
    assert all(not n.startswith("party2#") for n in names)  # its own names, not the ids
    by_id = {c.column: c.splits for c in guest.columns if c.column.startswith("party2#")}
    assert sum(c.splits or 0 for c in host.columns) == sum(v or 0 for v in by_id.values())
    assert sum(by_id.values()) == len(host_model.splits)
    assert all(c.value is None for c in host.columns)  # the gains stay with the label party
    assert all(c.value is not None and c.value > 0 for c in guest.columns)


def test_the_cli_shows_one_partys_view_and_refuses_an_unknown_party(
    runs: dict[str, tuple[Path, str]],
) -> None:
    store, run_id = runs["linear"]
    shown = runner.invoke(
        app, ["runs", "importance", run_id, "--party", "party2", "--store", str(store)]
    )
    assert shown.exit_code == 0, shown.output
    assert "worst radius" in shown.output and "mean radius" not in shown.output
    refused = runner.invoke(
        app, ["runs", "importance", run_id, "--party", "bank", "--store", str(store)]
    )
    assert refused.exit_code == 2
    assert "guest, party1, party2" in " ".join(refused.output.split())


def test_a_run_without_a_vertical_model_is_refused_saying_which_runs_have_one(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as s, s.run("hfl", {}) as run:
        s.save_checkpoint(run.run_id, 1, np.zeros(1).tobytes())
    refused = runner.invoke(
        app, ["runs", "importance", run.run_id, "-p", "a", "--store", str(tmp_path / "runs.db")]
    )
    assert refused.exit_code != 0
    assert "simulated vertical run" in " ".join(refused.output.split())

"""A deployed vertical party (``rengo vfl party --score-csv``, after training or with
``--load-model``) reads its CSV of rows to score in two passes: every cell checked and the
IDs (and labels) kept before scoring's PSI, only the rows every party holds read after it.
Its scores are bit for bit those of a whole read; it refuses the same files with the same
messages, a file changed between the passes, and holds no unshared row's features."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_shared_rows_later import assert_only_the_shared_rows_are_held, write_party

from rengo.core.errors import DataError
from rengo.deploy.vertical_data import load_party_data, load_scoring_data
from rengo.vfl import (
    HeteroLRConfig,
    HeteroPoissonConfig,
    PartyData,
    VerticalPlan,
    simulate_vertical,
)
from rengo.vfl.common import FeaturesAfterPsi
from rengo.vfl.registry import get_algorithm
from rengo.vfl.runner import SimulatedRun, _read_after_psi, check_party_columns
from rengo.vfl.secureboost import SecureBoostConfig
from rengo.vfl.splitnn import SplitNNConfig


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A bank of 600 customers and a telecom of 500 (300 shared) to train on; 250 new bank
    customers and 200 new telecom customers to score, 120 of them shared, in other orders."""
    folder = tmp_path_factory.mktemp("scoring-rows")
    rng = np.random.default_rng(11)
    bank_ids = [f"{i:09d}" for i in range(600)]
    telecom_ids = [f"{i:09d}" for i in range(300, 800)]
    new_bank = [f"{i:09d}" for i in range(5000, 5250)]
    new_tel = [f"{i:09d}" for i in range(5130, 5330)]
    for ids in (bank_ids, telecom_ids, new_bank, new_tel):
        rng.shuffle(ids)
    paths = {name: folder / f"{name}.csv" for name in ("bank", "telecom", "new_bank", "new_tel")}
    write_party(paths["bank"], bank_ids, 5, rng, label=True)
    write_party(paths["telecom"], telecom_ids, 3, rng)
    write_party(paths["new_bank"], new_bank, 5, rng, label=True)
    write_party(paths["new_tel"], new_tel, 3, rng)
    return paths


def trained_inputs(tables: dict[str, Path], later: bool) -> dict[str, PartyData]:
    """``rengo vfl party --csv T --score-csv S`` of both parties (``later``: as deployed)."""
    return {
        "bank": load_party_data(
            tables["bank"], "id", label="y", score_csv=tables["new_bank"], shared_rows_later=later
        ),
        "telecom": load_party_data(
            tables["telecom"], "id", score_csv=tables["new_tel"], shared_rows_later=later
        ),
    }


CONFIGS = [
    ("hetero_lr", HeteroLRConfig(epochs=2, batch_size=64, key_bits=512, missing="mean")),
    ("secureboost", SecureBoostConfig(n_trees=2, max_depth=2, key_bits=512)),
    # split learning runs its networks over the rows in table order: the same batches
    ("splitnn", SplitNNConfig(epochs=2, batch_size=48)),
]


@pytest.fixture(scope="module")
def full_tables(
    tables: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """The tables with their empty cells filled (split learning takes no empty cell)."""
    folder = tmp_path_factory.mktemp("scoring-rows-full")
    out = {}
    for name, path in tables.items():
        lines = [
            ",".join(c or "0.5" for c in line.split(",")) for line in path.read_text().splitlines()
        ]
        out[name] = folder / path.name
        out[name].write_text("\n".join(lines) + "\n")
    return out


Case = tuple[str, Any, dict[str, Path]]


@pytest.fixture(params=CONFIGS, ids=[name for name, _ in CONFIGS])
def case(
    request: pytest.FixtureRequest, tables: dict[str, Path], full_tables: dict[str, Path]
) -> Case:
    """An algorithm, its settings and the tables it trains on."""
    algorithm, config = request.param
    return algorithm, config, full_tables if algorithm == "splitnn" else tables


def trained(tables: dict[str, Path], algorithm: str, config: Any, later: bool) -> SimulatedRun:
    """A run of ``algorithm`` that trains on the tables and scores the new rows."""
    plan = VerticalPlan("bank", ("telecom",), config, 3, algorithm=algorithm)
    return simulate_vertical(plan, trained_inputs(tables, later), psi_workers=1)


def assert_same_scores(whole: SimulatedRun, later: SimulatedRun) -> None:
    """The bank's 120 shared new rows scored alike, bit for bit, in the same row order."""
    a, b = whole.parties["bank"], later.parties["bank"]
    assert a.scores is not None and b.scores is not None and len(a.scores) == 120
    np.testing.assert_array_equal(a.score_ids, b.score_ids)
    assert a.scores.tobytes() == b.scores.tobytes()


def test_scores_after_training_are_bit_for_bit_those_of_a_whole_read(case: Case) -> None:
    algorithm, config, tables = case
    for data in trained_inputs(tables, later=True).values():  # no features held before PSI
        assert data.score_table is not None and data.score_table.features.size == 0
        assert data.score_later is not None
    whole, later = (trained(tables, algorithm, config, x) for x in (False, True))
    assert_same_scores(whole, later)


def scoring_inputs(tables: dict[str, Path], later: bool) -> dict[str, PartyData]:
    """``rengo vfl party --load-model M --score-csv S`` of both parties: the columns and
    scaling each kept from training on ``tables`` (``later``: as deployed)."""
    kept = trained_inputs(tables, later=False)
    out = {}
    for name, path, label in (("bank", "new_bank", "y"), ("telecom", "new_tel", None)):
        trained = kept[name]
        out[name] = load_scoring_data(
            tables[path],
            "id",
            list(trained.feature_names),
            trained.mean,
            trained.scale,
            label=label,
            classes=trained.classes if label else None,
            shared_rows_later=later,
        )
    return out


def test_a_scoring_only_run_scores_bit_for_bit_as_a_whole_read(case: Case) -> None:
    algorithm, config, tables = case
    run = trained(tables, algorithm, config, later=False)
    models = {name: result.model for name, result in run.parties.items()}
    models["coordinator"] = run.coordinator.training
    keys = {name: result.keys for name, result in run.parties.items() if result.keys}
    if run.coordinator.keys is not None:
        keys["coordinator"] = run.coordinator.keys
    scoring = VerticalPlan("bank", ("telecom",), config, 3, train=False, algorithm=algorithm)
    runs = []
    for later in (False, True):
        data = scoring_inputs(tables, later)
        assert (data["bank"].score_later is not None) == later
        runs.append(simulate_vertical(scoring, data, keys=keys, models=models, psi_workers=1))
    assert_same_scores(*runs)
    whole, later_read = (scoring_inputs(tables, x)["bank"] for x in (False, True))
    assert whole.score_labels is not None and later_read.score_labels is not None
    assert whole.score_labels.tobytes() == later_read.score_labels.tobytes()


def test_before_psi_no_scoring_features_are_held_and_after_it_only_the_shared_rows(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(2)
    names = [f"f{j}" for j in range(100)]
    mean, scale = rng.normal(size=100), rng.uniform(0.5, 2.0, 100)
    kwargs: dict[str, Any] = {"label": "y", "classes": ["0", "1"]}

    def whole(path: Path) -> np.ndarray:
        table = load_scoring_data(path, "id", names, mean, scale, **kwargs).score_table
        assert table is not None
        return table.features

    def later(path: Path) -> FeaturesAfterPsi:
        data = load_scoring_data(path, "id", names, mean, scale, shared_rows_later=True, **kwargs)
        assert data.score_later is not None
        return data.score_later

    assert_only_the_shared_rows_are_held(tmp_path / "new.csv", whole, later)


@pytest.mark.parametrize(
    "text",
    [
        "id,a,y\n1,2,0\n2,x,1\n3,4,1\n",  # a cell that is not a number
        "id,a,y\n1,2,0\n1,3,1\n3,4,1\n",  # a repeated ID
        "id,a,y\n1,2,0\n2,3,1\n3,NA,1\n",  # a missing-value marker
        "id,b,y\n1,2,0\n2,3,1\n3,4,1\n",  # no column 'a'
        "id,a,y\n1,2,0\n2,3,2\n3,4,1\n",  # a class training did not have
        "id,a,y\n1,2,0\n2,3,1\n3,4\n",  # a short row
        "id,a\n1,2\n2,3\n3,4\n",  # no label: scored without
    ],
    ids=["text-cell", "repeated-id", "missing-marker", "no-column", "new-class", "ragged", "ok"],
)
def test_the_first_pass_refuses_a_scoring_file_with_the_whole_reads_message(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "new.csv"
    path.write_text(text)
    messages = []
    for later in (False, True):
        try:
            load_scoring_data(
                path, "id", ["a"], label="y", classes=["0", "1"], shared_rows_later=later
            )
        except DataError as exc:
            messages.append(str(exc))
        else:
            messages.append("read")
    assert messages[0] == messages[1]
    assert (messages[0] == "read") == text.startswith("id,a\n")


def test_scoring_cells_an_algorithm_refuses_are_named_as_for_a_whole_table(
    tmp_path: Path,
) -> None:
    new = tmp_path / "new.csv"
    algorithm = get_algorithm("hetero_lr")
    config = HeteroLRConfig(epochs=1, key_bits=512, missing="refuse")
    new.write_text("id,a,b\n1,2,\n2,3,5\n3,4,\n")
    messages = []
    for later in (False, True):
        data = load_scoring_data(new, "id", ["a", "b"], shared_rows_later=later)
        with pytest.raises(DataError) as caught:
            check_party_columns(algorithm, config, "label_party", "bank", data, train=False)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert (
        "column 'b' of its scoring table has 2 empty cells (the first at ID 1, row 1)"
        in (messages[0])
    )


def test_a_scoring_file_changed_between_the_passes_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "new.csv"
    path.write_text("id,a\n1,2\n2,3\n3,4\n")
    data = load_scoring_data(path, "id", ["a"], shared_rows_later=True)
    path.write_text("id,a\n1,2\n2,9\n3,4\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert data.score_later is not None
    with pytest.raises(DataError, match=r"new\.csv: it.* changed while the run used it"):
        data.score_later.read(np.array([0, 2]))


def test_a_role_given_rows_read_after_psi_sees_them_as_from_the_whole_table(
    tmp_path: Path,
) -> None:
    """Split learning scores its rows in their table order (``AlignedData.rows``, so that
    the same rows give the same batches bit for bit in every PSI order): the rows read after
    PSI kept only the agreed order (0, 1, 2, ...), and a deployed SplitNN scored the same
    customers one bit differently in two runs."""
    path = tmp_path / "new.csv"
    path.write_text("id,a,b\n" + "".join(f"c{i},{i},{i * i}\n" for i in range(8)))
    rows = np.array([5, 1, 7, 2])  # PSI's agreed order
    aligned = []
    for later in (False, True):
        data = load_scoring_data(path, "id", ["a", "b"], shared_rows_later=later)
        assert data.score_table is not None
        aligned.append(_read_after_psi(data.score_table, rows, None, (), data.score_later))
    whole, read = aligned
    assert read.features.tobytes() == whole.features.tobytes()
    np.testing.assert_array_equal(read.ids, whole.ids)
    np.testing.assert_array_equal(np.argsort(read.rows), np.argsort(whole.rows))


def test_a_label_partys_exposure_follows_its_rows_read_after_psi(
    tables: dict[str, Path],
) -> None:
    """A label party that reads its features after PSI (``later``) and brings an exposure:
    the exposure of the shared rows, in table order as its labels, trains the same model
    as a whole read (the runner's branch for it had no test and no caller in rengo)."""
    config = HeteroPoissonConfig(epochs=3, batch_size=64, key_bits=512, missing="mean", tol=0.0)
    plan = VerticalPlan("bank", ("telecom",), config, seed=3, algorithm="hetero_poisson")
    models = []
    for later in (False, True):
        inputs = trained_inputs(tables, later)
        bank = inputs["bank"]
        assert bank.table is not None and (bank.later is not None) == later
        rows = len(bank.table.ids)
        exposure = 0.1 + (np.arange(rows) % 7) / 7.0
        inputs["bank"] = replace(bank, exposure=exposure, score_table=None, score_labels=None)
        inputs["telecom"] = replace(inputs["telecom"], score_table=None)
        run = simulate_vertical(replace(plan, score=False), inputs, timeout=120)
        models.append(run.parties["bank"].model)
    whole, after_psi = models
    np.testing.assert_array_equal(after_psi.weights, whole.weights)
    assert after_psi.intercept == whole.intercept

"""A deployed vertical party (``rengo vfl party --csv``) reads its training CSV in two
passes: every cell checked and the IDs kept before PSI, only the shared rows' features
after it. It trains the same model, bit for bit, as a party that read its table whole,
refuses the same files with the same messages, and holds no unshared row's features."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.deploy.vertical_data import load_party_data
from rengo.jobs import load_job, party_data
from rengo.jobs.vertical import job_plan
from rengo.vfl import HeteroLRConfig, PartyData, VerticalPlan, simulate_vertical
from rengo.vfl.common import FeaturesAfterPsi
from rengo.vfl.registry import get_algorithm
from rengo.vfl.runner import check_party_columns
from rengo.vfl.secureboost import SecureBoostConfig, SecureBoostHostModel


def write_party(
    path: Path, ids: list[str], columns: int, rng: np.random.Generator, label: bool = False
) -> None:
    """A party's CSV: an ``id`` column, ``columns`` features with a few empty cells, and
    (``label``) a 0/1 ``y``."""
    x = rng.normal(size=(len(ids), columns)) * rng.uniform(0.5, 50, columns) + 3.0
    header = ["id", *[f"f{j}" for j in range(columns)], *(["y"] if label else [])]
    lines = [",".join(header)]
    for i, row_id in enumerate(ids):
        cells = ["" if rng.random() < 0.03 else f"{v:.6g}" for v in x[i]]
        if label:
            cells.append(str(int(x[i, 0] + rng.normal() > 3.0)))
        lines.append(",".join([row_id, *cells]))
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A bank of 700 customers and a telecom of 500, 300 of them shared, the files in
    different orders; the bank also has 80 new customers to score."""
    folder = tmp_path_factory.mktemp("shared-rows")
    rng = np.random.default_rng(5)
    bank_ids = [f"{i:09d}" for i in range(700)]
    telecom_ids = [f"{i:09d}" for i in range(400, 900)]
    rng.shuffle(bank_ids)
    rng.shuffle(telecom_ids)
    paths = {name: folder / f"{name}.csv" for name in ("bank", "telecom", "new_bank", "new_tel")}
    write_party(paths["bank"], bank_ids, 6, rng, label=True)
    write_party(paths["telecom"], telecom_ids, 4, rng)
    new = [f"{i:09d}" for i in range(2000, 2080)]
    write_party(paths["new_bank"], new, 6, rng, label=True)
    write_party(paths["new_tel"], new[::-1], 4, rng)
    return paths


def party_inputs(tables: dict[str, Path], later: bool) -> dict[str, PartyData]:
    return {
        "bank": load_party_data(
            tables["bank"], "id", label="y", score_csv=tables["new_bank"], shared_rows_later=later
        ),
        "telecom": load_party_data(
            tables["telecom"], "id", score_csv=tables["new_tel"], shared_rows_later=later
        ),
    }


def fields(model: Any) -> dict[str, bytes]:
    """A model's arrays and numbers as bytes (bit-for-bit comparison)."""
    out = {}
    for key, value in vars(model).items():
        if isinstance(value, (np.ndarray, float, int, list)):
            out[key] = np.asarray(value, dtype=np.float64).tobytes()
    return out


def canonical(model: Any) -> str:
    """A SecureBoost model's repr without the host's columns' anonymous ids (a secret
    permutation each run draws afresh)."""
    if isinstance(model, SecureBoostHostModel):
        return repr(model.splits)
    trees = [
        [replace(n, feature=-1, feature_label="") if n.owner != "bank" else n for n in tree]
        for tree in model.trees
    ]
    return repr(replace(model, trees=tuple(tuple(t) for t in trees)))


@pytest.mark.parametrize(
    ("algorithm", "config"),
    [
        ("hetero_lr", HeteroLRConfig(epochs=2, batch_size=64, key_bits=512, missing="mean")),
        ("secureboost", SecureBoostConfig(n_trees=2, max_depth=2, key_bits=512)),
    ],
    ids=["hetero_lr", "secureboost"],
)
def test_a_party_that_reads_its_shared_rows_after_psi_trains_the_same_model_bit_for_bit(
    tables: dict[str, Path], algorithm: str, config: Any
) -> None:
    plan = VerticalPlan("bank", ("telecom",), config, 7, algorithm=algorithm)
    whole = simulate_vertical(plan, party_inputs(tables, later=False), psi_workers=1)
    inputs = party_inputs(tables, later=True)
    assert all(d.table is not None and d.table.features.size == 0 for d in inputs.values())
    later = simulate_vertical(plan, inputs, psi_workers=1)
    for name in ("bank", "telecom"):
        a, b = whole.parties[name], later.parties[name]
        np.testing.assert_array_equal(a.train_rows, b.train_rows)
        assert len(b.train_rows) == 300
        if isinstance(config, HeteroLRConfig):
            assert fields(a.model) == fields(b.model), name
        else:
            assert canonical(a.model) == canonical(b.model), name
    bank = whole.parties["bank"]
    assert bank.scores is not None
    np.testing.assert_array_equal(bank.score_ids, later.parties["bank"].score_ids)
    assert bank.scores.tobytes() == later.parties["bank"].scores.tobytes()
    # the scaling kept with the model: every training row's, bit for bit
    read_whole = load_party_data(tables["bank"], "id", label="y")
    assert inputs["bank"].later is not None
    mean, scale = inputs["bank"].later.scaling()  # type: ignore[attr-defined]
    assert read_whole.mean is not None and read_whole.scale is not None
    assert mean.tobytes() == read_whole.mean.tobytes()
    assert scale.tobytes() == read_whole.scale.tobytes()


def assert_only_the_shared_rows_are_held(
    path: Path,
    whole: Callable[[Path], np.ndarray],
    later: Callable[[Path], FeaturesAfterPsi],
) -> None:
    """Write 20,000 rows x 100 columns (a 0/1 ``y``) to ``path``; its features read by
    ``whole`` (the whole table) and ``later`` (a first pass, then a tenth of the rows in
    another order) are the same bit for bit, and the first pass holds no features, the
    second only the rows it reads."""
    write_party(path, [f"{i:07d}" for i in range(20_000)], 100, np.random.default_rng(1), True)
    cells_bytes = 20_000 * 100 * 8
    rows = np.arange(0, 20_000, 10)[::-1]
    tracemalloc.start()
    try:
        expected = whole(path)[rows]
        _, whole_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        source = later(path)
        _, read_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        shared = source.read(rows)
        _, shared_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert shared.tobytes() == expected.tobytes()
    # the whole read holds every cell (16 MB); the first pass the IDs, the labels and one
    # chunk of text, the second as much and a tenth of the cells
    assert read_peak < whole_peak - 0.8 * cells_bytes
    assert shared_peak < read_peak + 0.25 * cells_bytes


def test_before_psi_a_party_holds_no_features_and_after_it_only_the_shared_rows(
    tmp_path: Path,
) -> None:
    def whole(path: Path) -> np.ndarray:
        table = load_party_data(path, "id", label="y").table
        assert table is not None
        return table.features

    def later(path: Path) -> FeaturesAfterPsi:
        source = load_party_data(path, "id", label="y", shared_rows_later=True).later
        assert source is not None
        return source

    assert_only_the_shared_rows_are_held(tmp_path / "bank.csv", whole, later)


@pytest.mark.parametrize(
    ("text", "kwargs"),
    [
        ("id,a,y\n1,2,0\n2,x,1\n3,4,1\n", {"label": "y"}),
        ("id,a,y\n1,2,0\n1,3,1\n3,4,1\n", {"label": "y"}),
        ("id,a,y\n1,2,0\n2,3,0\n3,4,0\n", {"label": "y"}),
        ("id,a,y\n1,2,0\n2,3,1\n3,NA,1\n", {"label": "y"}),
        ("id,a,y\n1,2,0\n2,3,1\n3,4,1\n", {"label": "z"}),
        ("id,a,b\n1,2,0\n2,3,1\n3,4,1\n", {"features": ["a", "c"]}),
        ("id,a,y\n1,2,0\n2,3,1\n3,4,\n", {"label": "y"}),  # a few labels: read
        ("id,a,y\n1,2,0\n2,3,1\n3,4\n", {"label": "y"}),
    ],
    ids=[
        "text-cell",
        "repeated-id",
        "one-class",
        "missing-marker",
        "no-label",
        "no-feature",
        "blank-label",
        "ragged",
    ],
)
def test_the_first_pass_refuses_a_file_with_the_whole_reads_message(
    tmp_path: Path, text: str, kwargs: dict[str, Any]
) -> None:
    path = tmp_path / "party.csv"
    path.write_text(text)
    messages = []
    for later in (False, True):
        try:
            load_party_data(path, "id", shared_rows_later=later, **kwargs)
        except DataError as exc:
            messages.append(str(exc))
        else:
            messages.append("read")
    assert messages[0] == messages[1]
    assert (messages[0] == "read") == text.endswith(",4,\n")


def test_empty_cells_an_algorithm_refuses_are_named_as_for_a_whole_table(
    tables: dict[str, Path],
) -> None:
    algorithm = get_algorithm("hetero_lr")
    config = HeteroLRConfig(epochs=1, key_bits=512, missing="refuse")
    for name, kind in (("bank", "label_party"), ("telecom", "feature_party")):
        messages = []
        for later in (False, True):
            data = party_inputs(tables, later)[name]
            with pytest.raises(DataError) as caught:
                check_party_columns(algorithm, config, kind, name, data)  # type: ignore[arg-type]
            messages.append(str(caught.value))
        assert messages[0] == messages[1]
        assert f"{name}: column 'f0' of its training table has" in messages[0]
        assert "empty cells (the first at ID" in messages[0]


@pytest.mark.parametrize(
    "rewritten",
    [
        "id,a,y\n1,2,0\n7,3,1\n3,4,1\n",  # another ID
        # the same IDs, another cell: the scaling summed before PSI would not fit the
        # features read after it (the model would be trained on mismatched columns)
        "id,a,y\n1,2,0\n2,9,1\n3,4,1\n",
    ],
)
def test_a_file_changed_between_the_passes_is_refused_naming_it(
    rewritten: str, tmp_path: Path
) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("id,a,y\n1,2,0\n2,3,1\n3,4,1\n")
    data = load_party_data(path, "id", label="y", shared_rows_later=True)
    path.write_text(rewritten)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert data.later is not None
    with pytest.raises(DataError, match=r"bank\.csv: it.* changed while the run used it"):
        data.later.read(np.array([0, 2]))


def test_a_label_party_without_feature_columns_reads_no_columns_after_psi(
    tmp_path: Path,
) -> None:
    """A label party that brings only IDs and labels (split learning's top model alone):
    the second read took the label column for a feature and failed with numpy's
    "all the input array dimensions ... must match exactly"; a whole read gave 0 columns."""
    path = tmp_path / "card.csv"
    path.write_text("id,y\n" + "".join(f"c{i},{i % 2}\n" for i in range(10)))
    whole = load_party_data(path, "id", label="y")
    later = load_party_data(path, "id", label="y", shared_rows_later=True)
    assert whole.table is not None and whole.table.features.shape == (10, 0)
    assert later.later is not None
    assert later.later.read(np.array([3, 0, 7])).shape == (3, 0)


def test_the_second_read_is_announced_as_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text("id,a,y\n1,2,0\n2,3,1\n3,4,1\n")
    said: list[str] = []
    data = load_party_data(path, "id", label="y", shared_rows_later=True, say=said.append)
    assert said == []  # the first pass is the read line rengo vfl party already says
    assert data.later is not None
    data.later.read(np.array([2, 0]))
    assert said[0] == f"reading the 2 shared rows' columns of {path} ..."


def test_a_job_party_that_reads_its_shared_rows_after_psi_trains_and_scores_the_same(
    tables: dict[str, Path], tmp_path: Path
) -> None:
    """``rengo vfl party --job``: the job's held-out customers are its scoring rows, read
    in the first pass; its training rows' features after PSI; the same model and scores."""
    job = tmp_path / "job.toml"
    job.write_text(
        f"""
[job]
kind = "vfl"
seed = 4
[vfl]
label_party = "bank"
label = "y"
key_bits = 512
epochs = 2
batch_size = 64
missing = "mean"
test_size = 0.25
[vfl.parties]
bank = "{tables["bank"]}"
telecom = "{tables["telecom"]}"
"""
    )
    spec = load_job(job)
    assert spec.vfl is not None
    vfl = spec.vfl
    runs = []
    for later in (False, True):
        data = {n: party_data(vfl, n, spec.job.seed, shared_rows_later=later) for n in vfl.parties}
        assert (data["bank"].later is not None) == later
        runs.append(simulate_vertical(job_plan(spec), data, psi_workers=1))
    whole, later_run = runs
    for name in vfl.parties:
        assert fields(whole.parties[name].model) == fields(later_run.parties[name].model), name
    bank, again = whole.parties["bank"], later_run.parties["bank"]
    assert bank.scores is not None and len(bank.scores) > 0
    np.testing.assert_array_equal(bank.score_ids, again.score_ids)
    assert bank.scores.tobytes() == again.scores.tobytes()

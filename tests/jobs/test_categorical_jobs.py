"""Job files with text columns: ``[data] categorical`` / ``[data.categories]`` for a
horizontal job, ``[vfl] categorical`` for a vertical one, where each party encodes its own
columns and no category name crosses the wire; a kept vertical model encodes new rows into
its training columns."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core import ConfigError, DataError
from rengo.data import load_csv
from rengo.data.csv_export import write_csv
from rengo.data.csv_table import CsvFormat
from rengo.jobs import build_vertical_job, load_job, party_data, run_vertical_job
from rengo.tracking import RunStore

REGIONS = ("northqx", "southqx", "eastqx")
TIERS = ("goldqx", "silverqx")
"""Category names no message could hold by chance (searched for in the transcripts)."""


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    write_csv(path, header, rows)
    return path


def _horizontal(tmp_path: Path, extra: str = "") -> Path:
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(120):
        region, tier = rng.choice(REGIONS), rng.choice(TIERS)
        y = int((region == "northqx") != (rng.random() < 0.1))
        rows.append([int(rng.integers(20, 70)), region, tier, y])
    _write(tmp_path / "h.csv", ["age", "region", "tier", "y"], rows)
    job = tmp_path / "h.toml"
    job.write_text(
        '[job]\nname = "text-columns"\nrounds = 3\n[data]\ndataset = "csv"\npath = "h.csv"\n'
        f'categorical = ["tier"]\n{extra}\n[data.categories]\nregion = ["northqx", "southqx", '
        '"eastqx"]\n[partition]\nnum_clients = 2\n[model]\ntype = "logistic"\n'
    )
    return job


def test_a_horizontal_job_with_text_columns_runs_and_records_its_categories(
    tmp_path: Path,
) -> None:
    job = _horizontal(tmp_path)
    store = tmp_path / "r.db"
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert "central_accuracy" in result.output
    with RunStore(store, read_only=True) as runs:
        (run,) = runs.list_runs()
        data = run.config["job_settings"]["data"]
    assert data["categorical"] == ["tier"]
    assert data["categories"] == {"region": list(REGIONS)}
    out = tmp_path / "model.npz"
    exported = CliRunner().invoke(
        app, ["runs", "export", run.run_id, "--store", str(store), "-o", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    written = json.loads((tmp_path / "model.npz.categories.json").read_text())
    assert written["categories"] == {"region": list(REGIONS), "tier": sorted(TIERS)}
    # the exported file encodes new rows into the columns the model was trained on
    new = _write(tmp_path / "new.csv", ["age", "region", "tier"], [[30, "eastqx", "goldqx"]])
    rows = load_csv(new, label=None, categories=written["categories"])
    assert rows.feature_names == (
        "age",
        *(f"region={r}" for r in REGIONS),
        *(f"tier={t}" for t in sorted(TIERS)),
    )
    assert rows.X.tolist() == [[30, 0, 0, 1, 1, 0]]
    # a scoring file whose columns come in another order is read in the model's order
    assert written["features"] == ["age", "region", "tier"]
    shuffled = _write(tmp_path / "new2.csv", ["tier", "region", "age"], [["goldqx", "eastqx", 30]])
    again = load_csv(
        shuffled,
        label=None,
        features=written["features"],
        categories=written["categories"],
        unseen=written["unseen"],
    )
    assert again.feature_names == rows.feature_names and again.X.tolist() == rows.X.tolist()


def test_clients_cells_outside_the_declared_categories_follow_the_unseen_policy(
    tmp_path: Path,
) -> None:
    job = _horizontal(tmp_path, 'unseen_category = "error"')
    text = (tmp_path / "h.csv").read_text().replace("eastqx", "westqx", 1)
    (tmp_path / "h.csv").write_text(text)
    refused = CliRunner().invoke(app, ["run", str(job), "--store", str(tmp_path / "r.db")])
    said = " ".join(refused.output.split())
    assert refused.exit_code != 0
    assert "h.csv:" in said and "'region' is 'westqx'" in said and "not one of" in said


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ('categorical = ["a"]\ncategorical_auto = true', "give one of them"),
        ("[data.categories]\nregion = []", "[data.categories] categories of 'region'"),
        ('categories = "north"', "data.categories must be a table"),
        ('unseen_category = "drop"', "data.unseen_category = 'drop'; choose one of 'zeros'"),
    ],
)
def test_malformed_categorical_keys_are_refused_naming_the_key(
    tmp_path: Path, data: str, words: str
) -> None:
    job = tmp_path / "bad.toml"
    job.write_text(f'[data]\ndataset = "csv"\npath = "h.csv"\n{data}\n')
    with pytest.raises(ConfigError) as caught:
        load_job(job)
    assert words in str(caught.value) and "bad.toml" in str(caught.value)


LOGISTIC = "key_bits = 512\nepochs = 3\nbatch_size = 64\nlearning_rate = 0.3\n"
SECUREBOOST = 'algorithm = "secureboost"\nkey_bits = 512\nn_trees = 3\nmax_depth = 3\n'


def _vertical(
    tmp_path: Path, categorical: str = '["tier", "region"]', algorithm: str = LOGISTIC
) -> Path:
    rng = np.random.default_rng(1)
    card, bank = [], []
    for i in range(200):
        tier, region = rng.choice(TIERS), rng.choice(REGIONS)
        a, b = rng.normal(), rng.normal()
        score = a + 1.5 * (region == "northqx") + (tier == "goldqx") - 0.8 + 0.3 * rng.normal()
        card.append([f"c{i}", a, tier, int(score > 0)])
        bank.append([f"c{i}", region, b])
    _write(tmp_path / "card.csv", ["id", "a", "tier", "y"], card)
    _write(tmp_path / "bank.csv", ["id", "region", "b"], bank)
    job = tmp_path / "v.toml"
    job.write_text(
        '[job]\nkind = "vfl"\nname = "text-vertical"\n[vfl]\nlabel_party = "card"\n'
        f"{algorithm}"
        f'categorical = {categorical}\n[vfl.parties]\ncard = "card.csv"\nbank = "bank.csv"\n'
    )
    return job


def test_a_vertical_job_with_text_columns_runs_from_the_cli(tmp_path: Path) -> None:
    job = _vertical(tmp_path)
    result = CliRunner().invoke(app, ["run", str(job), "--store", str(tmp_path / "r.db")])
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output


@pytest.mark.parametrize("algorithm", [LOGISTIC, SECUREBOOST], ids=["hetero_lr", "secureboost"])
def test_each_vertical_party_encodes_its_own_columns_and_no_category_leaves_it(
    tmp_path: Path, algorithm: str
) -> None:
    """Every message of the run (PSI, training, scoring's PSI and scoring) is searched, as
    bytes, for every category name: none is there, though each party trains on them."""
    spec = load_job(_vertical(tmp_path, algorithm=algorithm))
    job = build_vertical_job(spec)
    regions = [f"region={r}" for r in sorted(REGIONS)]
    assert job.train.feature_names["bank"] == (*regions, "b")
    assert job.train.feature_names["card"] == ("a", "tier=goldqx", "tier=silverqx")
    with RunStore(tmp_path / "r.db") as store, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hetero_lr: not converged in 3 epochs
        result = run_vertical_job(job, store, log=lambda _m: None)
    assert result["auc"] > 0.8  # the one-hot columns carry the signal
    model = job.model
    entries = [
        *model.psi_.transcript,  # type: ignore[union-attr]
        *model.transcript_,
        *model.predict_psi_.transcript,  # type: ignore[union-attr]
        *model.predict_bus_.transcript,
    ]
    assert entries and all(e.payload for e in entries)
    for entry in entries:
        for name in (*REGIONS, *TIERS):
            assert name.encode() not in entry.payload, (entry.sender, entry.receiver, name)


def test_a_vertical_categorical_column_no_party_holds_is_refused(tmp_path: Path) -> None:
    spec = load_job(_vertical(tmp_path, '["tier", "regoin"]'))
    with pytest.raises(ConfigError) as caught:
        build_vertical_job(spec)
    said = str(caught.value)
    assert "v.toml" in said and "['regoin']" in said and "bank.csv" in said


def test_a_kept_vertical_model_encodes_new_rows_into_its_training_columns(
    tmp_path: Path,
) -> None:
    """The party file keeps the categories; scoring new rows (some categories absent,
    one unseen) gives the training columns, scaled as in training."""
    from rengo.cli.vfl_deploy import _scoring_inputs, _write_model

    spec = load_job(_vertical(tmp_path))
    job = build_vertical_job(spec, shared_rows_later=False)
    with pytest.warns(UserWarning, match="not converged"):  # 3 epochs: a short test
        job.model.fit(job.train)
    bank = party_data(spec.vfl, "bank", spec.job.seed)  # type: ignore[arg-type]
    assert bank.categories is not None
    plan = SimpleNamespace(
        algorithm="hetero_lr", label_party="card", parties=("card", "bank"), training_run=None
    )
    result = SimpleNamespace(model=job.model.models_["bank"], plan=plan, is_label_party=False)
    kept = tmp_path / "bank.json"
    _write_model(kept, "bank", result, bank)
    document = json.loads(kept.read_text())
    assert document["categories"]["categories"] == {"region": sorted(REGIONS)}
    new = _write(
        tmp_path / "new.csv",
        ["b", "region", "id"],  # another column order than training's
        [[0.5, "southqx", "n1"], [-1.0, "westqx", "n2"]],
    )
    with pytest.warns(UserWarning, match="'region' is 'westqx'"):
        _, _, scoring, _ = _scoring_inputs(kept, "bank", "id", new, None, CsvFormat())
    assert scoring.feature_names == bank.feature_names
    raw = scoring.score_table.features * bank.scale + bank.mean  # type: ignore[union-attr,operator]
    np.testing.assert_allclose(raw, [[0, 0, 1, 0.5], [0, 0, 0, -1.0]], atol=1e-12)


def test_a_kept_vertical_model_refuses_an_unseen_category_under_the_error_policy(
    tmp_path: Path,
) -> None:
    from rengo.cli.vfl_deploy import _scoring_inputs, _write_model

    job_file = _vertical(tmp_path)
    job_file.write_text(
        job_file.read_text().replace("[vfl.parties]", 'unseen_category = "error"\n[vfl.parties]')
    )
    spec = load_job(job_file)
    job = build_vertical_job(spec, shared_rows_later=False)
    with pytest.warns(UserWarning, match="not converged"):  # 3 epochs: a short test
        job.model.fit(job.train)
    bank = party_data(spec.vfl, "bank", spec.job.seed)  # type: ignore[arg-type]
    plan = SimpleNamespace(
        algorithm="hetero_lr", label_party="card", parties=("card", "bank"), training_run=None
    )
    result = SimpleNamespace(model=job.model.models_["bank"], plan=plan, is_label_party=False)
    _write_model(tmp_path / "bank.json", "bank", result, bank)
    new = _write(tmp_path / "new.csv", ["id", "region", "b"], [["n1", "westqx", 0.5]])
    with pytest.raises(DataError, match=r"new.csv:2: categorical column 'region' is 'westqx'"):
        _scoring_inputs(tmp_path / "bank.json", "bank", "id", new, None, CsvFormat())


@pytest.mark.parametrize("algorithm", [LOGISTIC, SECUREBOOST], ids=["hetero_lr", "secureboost"])
def test_an_exported_vertical_model_carries_each_partys_own_categories(
    tmp_path: Path, algorithm: str
) -> None:
    """`rengo runs export` of a simulated vertical run writes, beside each party's model
    file, that party's categories and the table columns its part reads (as a horizontal
    export does): new rows read with them are encoded into the part's columns, whatever
    their column order. No file holds another party's category names. Before, the export
    wrote no categories file: the one-hot columns could not be rebuilt from it."""
    job = _vertical(tmp_path, algorithm=algorithm)
    suffix = ".npz" if algorithm == LOGISTIC else ".json"
    store = tmp_path / "r.db"
    ran = CliRunner().invoke(app, ["run", str(job), "--store", str(store)])
    assert ran.exit_code == 0, ran.output
    with RunStore(store, read_only=True) as runs:
        (run,) = runs.list_runs()
    out = tmp_path / "export"
    out.mkdir()
    exported = CliRunner(env={"COLUMNS": "300"}).invoke(
        app, ["runs", "export", run.run_id, "--store", str(store), "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    documents = {
        party: json.loads((out / f"{party}{suffix}.categories.json").read_text())
        for party in ("card", "bank")
    }
    assert documents["card"] == {
        "unseen": "zeros", "categories": {"tier": sorted(TIERS)}, "features": ["a", "tier"],
    }  # fmt: skip
    assert documents["bank"] == {
        "unseen": "zeros", "categories": {"region": sorted(REGIONS)}, "features": ["region", "b"],
    }  # fmt: skip
    for party, others in (("card", REGIONS), ("bank", TIERS)):
        for path in out.glob(f"{party}.*"):
            assert not any(name.encode() in path.read_bytes() for name in others), path
    new = _write(tmp_path / "new.csv", ["b", "id", "region"], [[0.5, "n1", "southqx"]])
    doc = documents["bank"]
    rows = load_csv(
        new, label=None, features=doc["features"], categories=doc["categories"],
        unseen=doc["unseen"],
    )  # fmt: skip
    np.testing.assert_array_equal(rows.X, [[0, 0, 1, 0.5]])  # eastqx northqx southqx, b
    if algorithm == LOGISTIC:
        weight = np.load(out / "bank.npz")["weight"]
        assert weight.shape == (rows.X.shape[1],)

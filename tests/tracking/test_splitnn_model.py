"""A simulated SplitNN run's stored model: the label party's document and its feature
parties', refused when the store lost one, and exported as every party's file or none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import DataError
from rengo.tracking import RunStore
from rengo.tracking.splitnn_model import load_splitnn, splitnn_blob
from rengo.vfl.splitnn import SplitNNFeatureModel, SplitNNLabelModel
from rengo.vfl.splitnn.model_file import kept_document

RUN = "20261207-131833-446516"


def _layer(rows: int, columns: int) -> list[np.ndarray]:
    weight = np.arange(rows * columns, dtype=np.float32).reshape(rows, columns) / 10
    return [weight, np.zeros(rows, dtype=np.float32)]


def _documents() -> dict[str, dict[str, object]]:
    label = SplitNNLabelModel(
        _layer(2, 2), _layer(1, 4), np.array([0, 1]), "binary", ("shop",), [0.6], 1, 3
    )
    shop = SplitNNFeatureModel(_layer(2, 3), 1)
    return {
        "bank": kept_document(label, "bank", "bank", RUN, ["b0", "b1"], None, ["no", "yes"]),
        "shop": kept_document(shop, "shop", "bank", RUN, ["s0", "s1", "s2"], None),
    }


def _stored(store: RunStore, documents: dict[str, dict[str, object]]) -> str:
    """A run of ``documents``, each naming the run as its training run where it names
    ``RUN`` (as ``rengo run`` stores them)."""
    with store.run("vfl", {"kind": "vfl", "algorithm": "splitnn"}) as run:
        pass
    ours = {
        name: {**doc, "training_run": run.run_id} if doc.get("training_run") == RUN else doc
        for name, doc in documents.items()
    }
    store.save_checkpoint(run.run_id, 1, splitnn_blob(1, "bank", ours))
    return run.run_id


def _export(store_path: Path, run_id: str, out: Path, *more: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["runs", "export", run_id, "--store", str(store_path), "--out", str(out), *more]
    )
    return result.exit_code, " ".join(result.output.split())


def test_each_partys_document_is_exported_as_its_file_with_its_own_columns(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, _documents())
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code == 0, said
    assert "wrote" in said and "--no-train" in said and "--load-model" in said, said
    from rengo.vfl.splitnn.model_file import read_party_model

    bank = read_party_model(tmp_path / "out" / "bank.json", "bank")
    shop = read_party_model(tmp_path / "out" / "shop.json", "shop")
    assert isinstance(bank.model, SplitNNLabelModel) and bank.model.hosts == ("shop",)
    assert bank.prepared["classes"] == ["no", "yes"] and bank.prepared["features"] == ["b0", "b1"]
    assert shop.prepared["features"] == ["s0", "s1", "s2"] and "classes" not in shop.prepared
    assert bank.training_run == shop.training_run == run_id
    np.testing.assert_array_equal(shop.model.bottom[0], _layer(2, 3)[0])


@pytest.mark.parametrize("lost", ["bank", "shop"])
def test_a_stored_model_missing_a_partys_document_is_refused_and_nothing_is_written(
    tmp_path: Path, lost: str
) -> None:
    documents = {k: v for k, v in _documents().items() if k != lost}
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, documents)
        with pytest.raises(DataError, match="store is damaged"):
            load_splitnn(store, run_id)
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code != 0 and "store is damaged" in said and "Traceback" not in said, said
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_torch_export_is_refused_naming_the_json_format(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, _documents())
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out", "--format", "torch")
    assert code != 0 and "a SplitNN model is kept as JSON documents" in said, said
    assert not (tmp_path / "out").exists()


def test_the_stored_model_is_named_with_its_export_command(tmp_path: Path) -> None:
    """rengo runs show said 'none kept (`rengo runs export` says why)' of a SplitNN run."""
    from rengo.tracking.model_export import stored_model

    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, _documents())
        described = stored_model(store, run_id)
    assert described is not None
    assert described.startswith("SplitNN: the label party bank's bottom and top models"), described
    assert described.endswith(f"(rengo runs export {run_id} --out DIR)")
    result = CliRunner().invoke(app, ["runs", "show", run_id, "--store", str(tmp_path / "runs.db")])
    assert result.exit_code == 0 and "none kept" not in result.output, result.output


@pytest.mark.parametrize("party", ["bank", "shop"])
def test_a_document_of_another_training_run_is_refused_naming_its_party(
    tmp_path: Path, party: str
) -> None:
    """A document whose training run is another run's was exported as this run's."""
    documents = _documents()
    documents[party] = {**documents[party], "training_run": "20260101-000000-000000"}
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, documents)
        with pytest.raises(DataError, match=f"model of '{party}' names '20260101-000000-000000'"):
            load_splitnn(store, run_id)
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code != 0 and "store is damaged" in said and "Traceback" not in said, said
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_a_top_model_reading_other_embedding_widths_is_refused_naming_each_party(
    tmp_path: Path,
) -> None:
    """A feature party whose bottom model embeds 5 where the top model reads 2 of it was
    exported, to fail only at a scoring run after the party had sent its embeddings."""
    documents = _documents()
    wide = SplitNNFeatureModel(_layer(5, 3), 1)
    documents["shop"] = kept_document(wide, "shop", "bank", RUN, ["s0", "s1", "s2"], None)
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, documents)
        with pytest.raises(
            DataError, match=r"reads 4 embedding columns, .* 2 \(bank\) \+ 5 \(shop\) = 7"
        ):
            load_splitnn(store, run_id)
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code != 0 and "2 (bank) + 5 (shop)" in said and "Traceback" not in said, said
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []

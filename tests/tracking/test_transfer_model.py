"""A simulated transfer-learning run's stored model: the source's document and one
target's, refused otherwise, and exported as every party's file or none."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.cli.main import app
from rengo.core.errors import DataError
from rengo.ftl import SourceModel, TargetModel
from rengo.ftl.model_file import party_document
from rengo.ftl.roles import EncoderSpec
from rengo.tracking import RunStore
from rengo.tracking.transfer_model import load_transfer, transfer_blob

SPEC = EncoderSpec(in_features=2, hidden=(), activation="tanh", dim=2)
CLASSES = ("no", "yes")


def _documents() -> dict[str, dict[str, object]]:
    weights = [np.eye(2), np.zeros(2)]
    source = SourceModel(SPEC, weights, np.ones((1, 2)), CLASSES, "binary", [0.5], 1, 1)
    target = TargetModel(SPEC, weights, CLASSES, "binary", 4, 1)
    return {
        "bank": party_document(source, "bank", "bank", "20261207-071530-4929f9"),
        "shop": party_document(target, "shop", "bank", "20261207-071530-4929f9"),
    }


def _stored(store: RunStore, documents: dict[str, dict[str, object]]) -> str:
    with store.run("vfl", {"kind": "vfl", "algorithm": "ftl"}) as run:
        pass
    store.save_checkpoint(run.run_id, 1, transfer_blob(1, "bank", documents))
    return run.run_id


def _export(store_path: Path, run_id: str, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["runs", "export", run_id, "--store", str(store_path), "--out", str(out)]
    )
    return result.exit_code, " ".join(result.output.split())


def test_a_stored_model_holding_only_the_sources_document_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    """The loader took the source's document alone: the export wrote it, then failed
    looking for the target (StopIteration), leaving one party's file behind."""
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, {"bank": _documents()["bank"]})
        with pytest.raises(DataError, match="holds the documents of bank; a model is the"):
            load_transfer(store, run_id)
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code != 0 and "holds the documents of bank" in said, said
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="names a file by /proc/self/fd")
def test_an_export_that_cannot_write_one_party_file_writes_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files were written one after the other: one that failed left the other."""
    real_fsync = os.fsync

    def failing_for_the_target(fd: int) -> None:
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".shop.json."):
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    with RunStore(tmp_path / "runs.db") as store:
        run_id = _stored(store, _documents())
        assert sorted(load_transfer(store, run_id).documents) == ["bank", "shop"]
    monkeypatch.setattr(os, "fsync", failing_for_the_target)
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code != 0 and "No space left on device (nothing was written)" in said, said
    assert list((tmp_path / "out").iterdir()) == []  # no file, no temporary file
    monkeypatch.setattr(os, "fsync", real_fsync)
    code, said = _export(tmp_path / "runs.db", run_id, tmp_path / "out")
    assert code == 0, said
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["bank.json", "shop.json"]


def test_a_checkpoint_written_in_the_earlier_layout_still_reads(tmp_path: Path) -> None:
    """The transfer and SecureBoost checkpoints share one writer and one reader now: the
    bytes are those the earlier transfer_blob wrote, and a checkpoint of that layout (JSON
    text per party) reads back to the same documents."""
    import json

    from rengo.core.codec import encode

    documents = _documents()
    earlier = encode(
        {
            "kind": "ftl-party-models",
            "round": 1,
            "label_party": "bank",
            "documents": {n: json.dumps(d, allow_nan=False) for n, d in documents.items()},
        }
    )
    assert transfer_blob(1, "bank", documents) == earlier
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl", {"kind": "vfl", "algorithm": "ftl"}) as run:
            pass
        store.save_checkpoint(run.run_id, 1, earlier)
        stored = load_transfer(store, run.run_id)
    assert stored.label_party == "bank" and stored.epochs == 1
    assert stored.documents == json.loads(json.dumps(documents))


def test_a_stored_model_of_another_kind_is_named(tmp_path: Path) -> None:
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl", {"kind": "vfl", "algorithm": "ftl"}) as run:
            pass
        store.save_checkpoint(run.run_id, 1, transfer_blob(1, "bank", _documents()))
        from rengo.tracking.model_export import load_secureboost

        with pytest.raises(DataError, match="holds no SecureBoost model \\(it holds 'ftl-party"):
            load_secureboost(store, run.run_id)


def test_a_stored_document_nested_too_deeply_is_a_clear_error_and_a_failed_export(
    tmp_path: Path,
) -> None:
    """A 5,000-deep JSON list under 'documents' raised RecursionError out of the loader:
    the export printed a traceback instead of naming the party whose model is corrupt."""
    import json

    from rengo.core.codec import encode

    deep = "[" * 5000 + "]" * 5000
    texts = {"bank": json.dumps(_documents()["bank"]), "shop": deep}
    blob = encode(
        {"kind": "ftl-party-models", "round": 1, "label_party": "bank", "documents": texts}
    )
    with RunStore(tmp_path / "runs.db") as store:
        with store.run("vfl", {"kind": "vfl", "algorithm": "ftl"}) as run:
            pass
        store.save_checkpoint(run.run_id, 1, blob)
        with pytest.raises(DataError, match="stored model of 'shop' is corrupt: nested too deep"):
            load_transfer(store, run.run_id)
    code, said = _export(tmp_path / "runs.db", run.run_id, tmp_path / "out")
    assert code == 2 and "'shop' is corrupt" in said and "Traceback" not in said, said
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []

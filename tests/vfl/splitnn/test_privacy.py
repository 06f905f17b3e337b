"""What crosses the bus in SplitNN: embeddings and gradients, never a raw feature, a label or
an ID; and the byte search that says so can find a leaked feature (positive control)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from transcript_search import decoded, plain_arrays

from rengo.vfl import SplitNNClassifier

EARLY_STOPPING_AND_CLASS_WEIGHTS = {
    "validation_fraction": 0.2,
    "n_iter_no_change": 1,
    "tol": 10.0,  # stops after epoch 2, so the 'go on' and 'stop' words both cross
    "class_weight": "balanced",
}


@pytest.fixture(
    scope="module",
    params=[{}, EARLY_STOPPING_AND_CLASS_WEIGHTS],
    ids=["defaults", "validation-share-early-stopping-class-weights"],
)
def run(cancer: dict[str, Any], request: pytest.FixtureRequest) -> dict[str, Any]:
    model = SplitNNClassifier(epochs=2 if not request.param else 4, batch_size=64, seed=3)
    model.set_params(**request.param)
    model.fit(cancer["parties"], "card", cancer["labels"])
    ids, _ = model.predict_raw(cancer["parties"])
    transcripts = [
        model.psi_.transcript,  # type: ignore[union-attr]
        model.transcript_,
        model.predict_psi_.transcript,  # type: ignore[union-attr]
        model.predict_bus_.transcript,
    ]
    return {
        "model": model,
        "entries": [e for t in transcripts if t for e in t],
        "scored_ids": ids,
    }


def test_the_transcript_covers_training_and_scoring(run: dict[str, Any]) -> None:
    keys = {e.key for e in run["entries"]}
    assert "train/splitnn/epoch=0/batch=0/embedding" in keys
    assert "train/splitnn/epoch=1/batch=0/gradient" in keys
    assert "score/splitnn-predict/embedding" in keys
    assert {e.sender for e in run["entries"]} == {"card", "bank", "telecom", "coordinator"}
    if run["model"].config.validation_fraction:
        assert "train/splitnn/epoch=1/held_out_embedding" in keys
        assert "train/splitnn/epoch=1/go_on" in keys
        assert run["model"].n_epochs_ == 2


def test_no_raw_feature_crosses_the_bus(run: dict[str, Any], cancer: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    plain = np.concatenate([a for e in run["entries"] for a in plain_arrays(decoded(e))])
    plain64 = set(plain.astype(np.float64).tolist())
    for _, features in cancer["parties"].values():
        for value in features.ravel():
            assert np.float64(value).tobytes() not in wire
            assert float(value) not in plain64


def test_no_column_sent_is_a_feature_column_even_in_float32(
    run: dict[str, Any], cancer: dict[str, Any]
) -> None:
    """Single float32 values collide by chance among ~10^5 embeddings, so this compares whole
    columns: no column of any array sent holds most of a feature column's values."""
    columns = [
        set(features[:, j].astype(np.float32).tolist())
        for _, features in cancer["parties"].values()
        for j in range(features.shape[1])
    ]
    for entry in run["entries"]:
        value = decoded(entry)
        if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.ndim != 2:
            continue
        for sent in value.T:
            for column in columns:
                overlap = np.mean([v in column for v in sent.astype(np.float32).tolist()])
                assert overlap < 0.5, f"{entry.key} carries a feature column"


def test_no_label_crosses_the_bus(run: dict[str, Any], cancer: dict[str, Any]) -> None:
    labels = cancer["labels"]
    wire = b"".join(e.payload for e in run["entries"])
    for rows in (labels, run["model"].train_labels_):
        for dtype in (np.float64, np.int64, np.uint8, np.bool_, np.float32):
            assert np.asarray(rows).astype(dtype).tobytes() not in wire
    for entry in run["entries"]:
        for values in plain_arrays(decoded(entry)):
            if len(values) >= 8:
                assert not np.isin(values, (0, 1)).all(), f"0/1 array in {entry.key}"


def test_no_raw_id_crosses_the_bus(run: dict[str, Any], cancer: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    for identifier in cancer["ids"]:
        assert identifier.encode() not in wire
    shared = set.intersection(*(set(ids) for ids, _ in cancer["parties"].values()))
    assert set(run["scored_ids"]) == shared


def test_the_search_finds_what_does_cross_the_bus(
    run: dict[str, Any], cancer: dict[str, Any]
) -> None:
    """Positive control: the bank's scoring embeddings (its bottom model applied to its rows
    in PSI's order, z-scored as it reads them) are on the wire, and the same searches find
    them, so the checks above can fail."""
    import torch

    from rengo.vfl.common import standardised
    from rengo.vfl.splitnn.network import build_mlp

    model = run["model"]
    rows = model.predict_psi_.rows("bank")
    kept = model.feature_models_["bank"]
    features = standardised(cancer["parties"]["bank"][1][rows], kept.inputs).astype(np.float32)
    with torch.no_grad():
        bottom = build_mlp(kept.bottom, final_relu=True)
        embeddings = bottom(torch.from_numpy(features)).numpy()
    wire = b"".join(e.payload for e in run["entries"] if e.sender == "bank")
    assert embeddings.tobytes() in wire
    plain = np.concatenate(
        [a for e in run["entries"] if e.sender == "bank" for a in plain_arrays(decoded(e))]
    )
    assert set(embeddings[embeddings > 0].astype(np.float32).tolist()) <= set(
        plain.astype(np.float32).tolist()
    )

"""A scoring-only transfer-learning target (``rengo vfl party --load-model FILE
--score-csv NEW.csv --label y``) codes its new rows' labels by its model's classes: the
source's, which the target's own training labels may not all name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rengo.cli.vfl_deploy import _scoring_inputs
from rengo.data.csv_table import CsvFormat
from rengo.ftl import TargetModel
from rengo.ftl.model_file import write_party_model
from rengo.ftl.roles import EncoderSpec

CLASSES = ("a", "b", "c")  # the source's; the target's training labels named a and b only


def _target_file(folder: Path, **prepared: object) -> Path:
    spec = EncoderSpec(in_features=2, hidden=(), activation="tanh", dim=2)
    model = TargetModel(spec, [np.eye(2), np.zeros(2)], CLASSES, "multiclass", 4, 1)
    return write_party_model(
        folder / "shop.json", model, "shop", "bank", "a" * 32,
        features=["x0", "x1"], mean=None, scale=None, **prepared,
    )  # fmt: skip


@pytest.mark.parametrize(
    "prepared",
    [{}, {"classes": ["a", "b"]}],  # this rengo's file; an older one naming the target's seen
    ids=["current", "older-file-with-the-targets-classes"],
)
def test_new_rows_labels_are_coded_by_the_models_classes(
    prepared: dict[str, object], tmp_path: Path
) -> None:
    """The deployed --model file named the target's own classes (a, b): a new row of
    class c was refused as unseen, and with classes a/c it would have got b's code."""
    path = _target_file(tmp_path, **prepared)
    rows = tmp_path / "new.csv"
    rows.write_text("id,x0,x1,y\nr1,0.5,1.0,a\nr2,0.1,0.2,c\nr3,1.5,0.3,c\n")
    _, _, data, _ = _scoring_inputs(path, "shop", "id", rows, "y", CsvFormat())
    assert data.score_labels is not None
    assert data.score_labels.tolist() == [0, 2, 2]  # a and c as the model's columns order them

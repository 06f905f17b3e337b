"""A transfer-learning target deployed with its own CSV (``rengo vfl party --csv T.csv
--label y``) brings its few labels in the label column, blank where it has none, as a job
file's table does; both parties' labels are read as class names, so text classes
(``sick``/``well``) name the same classes at source and target. Before, ``--label y``
refused the blank cells ("every row needs a label") and, without ``--label``, the label
column trained as a feature and was refused as a column with empty cells, advising
SecureBoost: a deployed target could not use its labels at all. A label party's blank
label is still refused, naming the party."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.deploy.vertical_data import load_party_data
from rengo.ftl import TransferConfig
from rengo.vfl import VerticalPlan, simulate_vertical

CONFIG = TransferConfig(security="plaintext", dim=2, source_hidden="", target_hidden="", epochs=1)


def _write(path: Path, ids: list[str], x: np.ndarray, labels: list[str]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(f"f{j}" for j in range(x.shape[1])), "y"])
        for i, row, label in zip(ids, x, labels, strict=True):
            writer.writerow([i, *(repr(float(v)) for v in row), label])
    return path


def _tables(tmp_path: Path, bank_blank: bool = False) -> tuple[Path, Path]:
    """A bank (every customer labelled sick or well) and a clinic sharing 30 of its 60
    customers, 10 of the clinic's own labelled, the rest blank."""
    rng = np.random.default_rng(1)
    bank_ids = [f"patient-{i:03d}" for i in range(60)]
    clinic_ids = [f"patient-{i:03d}" for i in range(30, 90)]
    names = ["sick", "well"]
    bank_labels = [names[i % 2] for i in range(60)]
    if bank_blank:
        bank_labels[7] = ""
    clinic_labels = [names[i % 2] if 40 <= i < 50 else "" for i in range(60)]
    return (
        _write(tmp_path / "bank.csv", bank_ids, rng.normal(size=(60, 3)), bank_labels),
        _write(tmp_path / "clinic.csv", clinic_ids, rng.normal(size=(60, 2)), clinic_labels),
    )


def test_a_target_csv_with_few_labels_trains_with_them(tmp_path: Path) -> None:
    bank, clinic = _tables(tmp_path)
    data = {
        "bank": load_party_data(bank, "id", label="y"),
        "clinic": load_party_data(clinic, "id", label="y"),
    }
    assert data["clinic"].feature_names == ("f0", "f1")  # the label column is no feature
    plan = VerticalPlan("bank", ("clinic",), CONFIG, 3, algorithm="ftl", score=False)
    run = simulate_vertical(plan, data)
    target = run.parties["clinic"].model
    assert target.labelled_rows == 10
    assert target.classes == ("sick", "well")


def test_a_label_partys_blank_label_is_refused_naming_it(tmp_path: Path) -> None:
    bank, clinic = _tables(tmp_path, bank_blank=True)
    data = {
        "bank": load_party_data(bank, "id", label="y"),
        "clinic": load_party_data(clinic, "id", label="y"),
    }
    plan = VerticalPlan("bank", ("clinic",), CONFIG, 3, algorithm="ftl", score=False)
    with pytest.raises(
        DataError, match=r"^bank: 1 of its 60 rows have no label \(the first at ID patient-007\)"
    ):
        simulate_vertical(plan, data)

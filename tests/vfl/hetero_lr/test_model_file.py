"""A linear party's model document: strict, versioned JSON that reads back bit for bit, a
feature party's holding only its own weights."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.vfl.hetero_lr import GuestModel, HostModel
from rengo.vfl.hetero_lr.model_file import (
    FORMAT,
    party_document,
    read_party_model,
    write_party_model,
)

PARTIES = ("bank", "telecom")


def _no_constants(name: str) -> float:
    raise ValueError(f"not strict JSON: {name}")


def _models() -> tuple[GuestModel, HostModel]:
    rng = np.random.default_rng(0)
    guest = GuestModel(
        rng.normal(size=4) / 3,
        float(rng.normal() / 7),
        [0.6931471805599453, float("nan")],
        2,
        False,
        np.array([0.1, 0.0, -1 / 3, 2.0]),
    )
    return guest, HostModel(rng.normal(size=3) / 7, 2, None)


def test_each_partys_linear_model_reads_back_bit_for_bit_from_strict_versioned_json(
    tmp_path: Path,
) -> None:
    guest, host = _models()
    write_party_model(tmp_path / "bank.json", guest, "bank", "bank", "hetero_lr", PARTIES)
    write_party_model(
        tmp_path / "telecom.json", host, "telecom", "bank", "hetero_lr", PARTIES, mean=[1.5]
    )
    for name, model in (("bank", guest), ("telecom", host)):
        document = json.loads((tmp_path / f"{name}.json").read_text(), parse_constant=_no_constants)
        assert (document["format"], document["version"]) == (FORMAT, 1)
        assert (document["party"], document["label_party"]) == (name, "bank")
        read = read_party_model(tmp_path / f"{name}.json", party=name)
        assert read.algorithm == "hetero_lr" and read.parties == PARTIES
        np.testing.assert_array_equal(read.model.weights, model.weights)
        assert party_document(read.model, name, "bank", "hetero_lr", PARTIES) == party_document(
            model, name, "bank", "hetero_lr", PARTIES
        )
    bank = read_party_model(tmp_path / "bank.json").model
    assert isinstance(bank, GuestModel) and bank.intercept == guest.intercept
    assert bank.fill is not None and bank.fill.tolist() == [0.1, 0.0, -1 / 3, 2.0]
    telecom = json.loads((tmp_path / "telecom.json").read_text())
    # a feature party keeps its own weights and column preparation, never the intercept
    assert "intercept" not in telecom and telecom["role"] == "feature_party"
    assert read_party_model(tmp_path / "telecom.json").prepared == {"mean": [1.5]}


def test_a_party_model_file_is_its_owners_only(tmp_path: Path) -> None:
    """A party's weights and the means and scales of its columns are its own: before, the
    file took the umask's mode (0644 under 022), readable by every user of the machine."""
    guest, _ = _models()
    previous = os.umask(0o022)
    try:
        write_party_model(tmp_path / "bank.json", guest, "bank", "bank", "hetero_lr", PARTIES)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "bank.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["bank.json"]  # no temporary file left


def test_a_one_vs_rest_model_reads_back_bit_for_bit_and_a_binary_document_is_unchanged(
    tmp_path: Path,
) -> None:
    """K = 3 class models: each document names ``class_models``, the label party's its
    three intercepts; a binary model's document has neither field."""
    rng = np.random.default_rng(1)
    guest = GuestModel(
        rng.normal(size=2 * 3) / 3, 0.0, [0.5], 1, False, np.array([0.25, -1.0]), 3,
        rng.normal(size=3) / 7,
    )  # fmt: skip
    host = HostModel(rng.normal(size=4 * 3) / 7, 1, None, 3)
    for name, model in (("bank", guest), ("telecom", host)):
        write_party_model(tmp_path / f"{name}.json", model, name, "bank", "hetero_lr", PARTIES)
        read = read_party_model(tmp_path / f"{name}.json", party=name).model
        assert read.classes == 3
        np.testing.assert_array_equal(read.weights, model.weights)
        assert json.loads((tmp_path / f"{name}.json").read_text())["class_models"] == 3
    bank = read_party_model(tmp_path / "bank.json").model
    assert isinstance(bank, GuestModel) and bank.intercepts is not None
    np.testing.assert_array_equal(bank.intercepts, guest.intercepts)
    binary, _ = _models()
    document = party_document(binary, "bank", "bank", "hetero_lr", PARTIES)
    assert "class_models" not in document and "intercepts" not in document


def test_a_one_vs_rest_document_whose_weights_do_not_fit_its_class_models_is_refused(
    tmp_path: Path,
) -> None:
    host = HostModel(np.arange(6.0), 1, None, 3)
    write_party_model(tmp_path / "telecom.json", host, "telecom", "bank", "hetero_lr", PARTIES)
    document = json.loads((tmp_path / "telecom.json").read_text())
    document["class_models"] = 4
    (tmp_path / "telecom.json").write_text(json.dumps(document))
    with pytest.raises(DataError, match=r"telecom\.json.*6 weights are not 4 per column"):
        read_party_model(tmp_path / "telecom.json")

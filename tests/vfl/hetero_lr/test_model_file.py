"""A linear party's model document: strict, versioned JSON that reads back bit for bit, a
feature party's holding only its own weights."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np

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

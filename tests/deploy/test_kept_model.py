"""A deployed party's kept model file (``rengo vfl party --load-model``) is refused with
the file and the fault named: corrupt, another version, role or party, an unversioned file
of an older rengo, a run of another algorithm or other parties."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rengo.core.errors import ConfigError, DataError
from rengo.deploy.kept_model import read_kept_model
from rengo.vfl.hetero_lr import GuestModel
from rengo.vfl.hetero_lr.model_file import read_party_model, write_party_model
from rengo.vfl.party_model_file import training_runs_differ

PARTIES = ("bank", "telecom")


def _guest() -> GuestModel:
    return GuestModel(np.array([0.25, -1 / 3, 0.1, 2.0]), 0.125, [0.69], 1)


def test_a_linear_model_file_is_refused_naming_the_file_and_the_fault(tmp_path: Path) -> None:
    guest = _guest()
    path = write_party_model(tmp_path / "bank.json", guest, "bank", "bank", "hetero_lr", PARTIES)
    document = json.loads(path.read_text())
    with pytest.raises(DataError, match=r"bank\.json: the model of party 'bank', not of 'tel"):
        read_party_model(path, party="telecom")
    cases = {
        "corrupt": (path.read_text()[:40], r"bank2\.json: not JSON \(corrupt"),
        "version": (json.dumps({**document, "version": 2}), r"bank2\.json: linear model version 2"),
        "role": (json.dumps({**document, "role": "feature_party"}), r"is a label_party"),
        "weights": (json.dumps({**document, "fill": [0.0]}), r"1 fill values for 4 columns"),
        "older rengo": (
            json.dumps({k: v for k, v in document.items() if k not in ("format", "version")}),
            r"bank2\.json: a linear model file without format or version .* train again",
        ),
    }
    for text, message in cases.values():
        (tmp_path / "bank2.json").write_text(text)
        with pytest.raises(DataError, match=message):
            read_kept_model(tmp_path / "bank2.json", party="bank")


def test_a_kept_linear_model_refuses_a_run_of_another_algorithm_or_parties(
    tmp_path: Path,
) -> None:
    guest = _guest()
    path = write_party_model(tmp_path / "bank.json", guest, "bank", "bank", "hetero_lr", PARTIES)
    origin = read_kept_model(path, party="bank").origin
    origin.check("hetero_lr", "bank", ["telecom", "bank"])
    with pytest.raises(ConfigError, match=r"bank\.json: a hetero_lr model, but .* hetero_poisson"):
        origin.check("hetero_poisson", "bank", PARTIES)
    with pytest.raises(ConfigError, match=r"bank\.json: a model of a run of parties"):
        origin.check("hetero_lr", "bank", ["bank", "shop"])


def test_a_kept_models_training_run_reads_back_and_another_partys_other_run_is_refused(
    tmp_path: Path,
) -> None:
    """Before, a kept file named no training run, so nothing could tell last month's bank
    file from this month's telecom file."""
    guest, token = _guest(), "a" * 32
    path = write_party_model(
        tmp_path / "bank.json", guest, "bank", "bank", "hetero_lr", PARTIES, token
    )
    origin = read_kept_model(path, party="bank").origin
    assert origin.training_run == token
    origin.check_same_training_run("bank", {"bank": token, "telecom": token})
    refused = r"bank\.json: bank's model is from training run a{8}, but telecom \(run b{8}\)"
    with pytest.raises(ConfigError, match=refused):
        origin.check_same_training_run("bank", {"bank": token, "telecom": "b" * 32})
    document = json.loads(path.read_text())
    (tmp_path / "bad.json").write_text(json.dumps({**document, "training_run": 5}))
    with pytest.raises(DataError, match=r"bad\.json: training_run 5 is not a run token"):
        read_kept_model(tmp_path / "bad.json", party="bank")


def test_kept_models_of_two_simulated_runs_of_one_day_are_named_apart(tmp_path: Path) -> None:
    """A simulated run's files (`rengo runs export`) name its run id, whose first 8
    characters are its date: the refusal named both runs "run 20261207"."""
    first, second = "20261207-071530-4929f9", "20261207-093012-0b1c2d"
    path = write_party_model(
        tmp_path / "bank.json", _guest(), "bank", "bank", "hetero_lr", PARTIES, first
    )
    origin = read_kept_model(path, party="bank").origin
    refused = f"training run {first}, but telecom \\(run {second}\\)"
    with pytest.raises(ConfigError, match=refused):
        origin.check_same_training_run("bank", {"bank": first, "telecom": second})
    assert training_runs_differ({"bank": first, "shop": first, "telecom": second}) == (
        f"bank, shop: run {first}; telecom: run {second}"
    )


def test_a_kept_model_file_naming_no_training_run_scores_only_beside_files_naming_none(
    tmp_path: Path,
) -> None:
    """A version-1 file written before files named their training run is still read (its
    token is None); it passes beside files naming none, and is refused beside a file that
    names one."""
    path = write_party_model(tmp_path / "bank.json", _guest(), "bank", "bank", "hetero_lr", PARTIES)
    assert "training_run" not in json.loads(path.read_text())
    origin = read_kept_model(path, party="bank").origin
    assert origin.training_run is None
    origin.check_same_training_run("bank", {"bank": None, "telecom": None})
    with pytest.raises(ConfigError, match=r"from training run none, but telecom \(run c{8}\)"):
        origin.check_same_training_run("bank", {"bank": None, "telecom": "c" * 32})

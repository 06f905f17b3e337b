"""`rengo vfl party --model FILE` of a SecureBoost party writes its versioned party document
(strict JSON, read back by ``read_party_model``), with how its columns were prepared."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sklearn.datasets import load_breast_cancer

from rengo.cli.vfl_deploy import _write_model
from rengo.deploy.kept_model import read_kept_model
from rengo.vfl import HeteroSecureBoost
from rengo.vfl.secureboost import party_document, read_party_model


def _no_constants(name: str) -> float:
    raise ValueError(f"not strict JSON: {name}")


def test_a_secureboost_partys_model_file_is_strict_versioned_json_that_reads_back(
    tmp_path: Path,
) -> None:
    """Before, the label party's file held a bare NaN for every feature party's threshold
    (not JSON) and no format or version, and nothing read it back; nor did it name the
    training run that wrote it."""
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i}" for i in range(len(x))])
    model = HeteroSecureBoost(key_bits=512, key_seed=2, seed=0, n_trees=2, max_depth=3)
    parties = {"card": (ids, x[:, :15]), "bank": (ids, x[:, 15:])}
    model.fit(parties, label_party="card", y=y)
    token = "5e" * 16
    plan = SimpleNamespace(algorithm="secureboost", label_party="card", training_run=token)
    for name, part in {"card": model.guest_model_, "bank": model.host_models_["bank"]}.items():
        columns = 15
        data = SimpleNamespace(
            feature_names=[f"f{j}" for j in range(columns)],
            mean=np.zeros(columns),
            scale=np.ones(columns),
            classes=np.array([0, 1]) if name == "card" else None,
        )
        result = SimpleNamespace(model=part, plan=plan, is_label_party=name == "card")
        path = tmp_path / f"{name}.json"
        _write_model(path, name, result, data)
        document = json.loads(path.read_text(), parse_constant=_no_constants)
        assert document["version"] == 1 and document["features"][0] == "f0"
        read = read_party_model(path, party=name).model
        assert party_document(read, name, "card") == party_document(part, name, "card")
        # the training run's token, which a scoring-only run compares across the parties
        assert document["training_run"] == token
        assert read_kept_model(path, party=name).origin.training_run == token

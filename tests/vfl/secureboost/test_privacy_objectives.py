"""What crosses the bus in multiclass and regression SecureBoost, with early stopping's
held-out rows, row subsampling and customers some parties lack, training and scoring: no
host sees a label, gradient or hessian in clear, the label party sees no host value or
threshold, no ID crosses (shared or not), and every ciphertext sent is freshly randomised
(the binary objective: test_privacy.py beside this file)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_wine
from transcript_search import decoded_leaves, plain_numbers, randomness_problems, sent_arrays

from rengo.crypto import PaillierPrivateKey
from rengo.vfl.secureboost import HeteroSecureBoost, boosting
from rengo.vfl.secureboost.encoding import quantize

ROWS = 150
HOSTS = ("bank", "telco")


def _table(objective: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = (load_wine if objective == "multiclass" else load_diabetes)(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0) + 1e-9 * np.pi  # no feature value is a short decimal
    return x[:ROWS], y[:ROWS].astype(np.float64)


@pytest.fixture(scope="module", params=["multiclass", "regression"])
def run(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Train and score; every gradient, hessian and key pair that decrypted recorded."""
    x, y = _table(request.param)
    ids = np.array([f"customer-{i:06d}" for i in range(ROWS)])
    data = {
        "card": (ids[:140], x[:140, :4]),
        "bank": (ids[5:], x[5:, 4:8]),
        "telco": (ids, x[:, 8:]),
    }
    secrets: list[np.ndarray] = []
    keys: dict[Any, PaillierPrivateKey] = {}
    lock = threading.Lock()
    gradients, decrypt = boosting.gradients, PaillierPrivateKey.raw_decrypt_array

    def recording_gradients(objective: Any, labels: Any, raw: Any) -> Any:
        g, h = gradients(objective, labels, raw)
        with lock:
            secrets.extend([g.ravel(), h.ravel()])
        return g, h

    def recording_decrypt(self: PaillierPrivateKey, ciphertexts: np.ndarray) -> np.ndarray:
        keys[self.public_key.n] = self
        return decrypt(self, ciphertexts)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(boosting, "gradients", recording_gradients)
        patch.setattr(PaillierPrivateKey, "raw_decrypt_array", recording_decrypt)
        model = HeteroSecureBoost(
            key_bits=512,
            n_trees=3,
            max_depth=2,
            max_bin=8,
            objective=request.param,
            validation_fraction=0.2,
            n_iter_no_change=2,
            subsample=0.8,
            seed=3,
            key_seed=8,
        )
        model.fit(data, label_party="card", y=y[:140])
        model.predict_raw(data)
    entries = [
        *model.psi_.transcript,  # type: ignore[union-attr]
        *model.transcript_,
        *model.predict_psi_.transcript,  # type: ignore[union-attr]
        *model.predict_bus_.transcript,
    ]
    values = np.concatenate(secrets)
    return {
        "model": model,
        "data": data,
        "ids": ids,
        "labels": y[:140],
        "entries": entries,
        "secrets": values[(np.abs(values) > 1e-6) & (values != 1.0)],  # 1: regression's h
        "keys": list(keys.values()),
    }


def test_the_transcript_covers_training_and_scoring(run: dict[str, Any]) -> None:
    keys = {e.key.rsplit("/", 1)[-1] for e in run["entries"]}
    assert {"gh", "hist", "chosen", "partition", "route", "directions"} <= keys
    assert {e.sender for e in run["entries"]} == {"card", *HOSTS, "coordinator"}
    assert len(run["secrets"]) > 200


def test_no_host_sees_a_label_gradient_or_hessian_in_clear(run: dict[str, Any]) -> None:
    entries = [e for e in run["entries"] if e.receiver in HOSTS]
    wire = b"".join(e.payload for e in entries)
    numbers = set(plain_numbers(entries).tolist())
    for dtype in (np.float64, np.float32, np.int64, np.int32, np.uint8):
        assert run["labels"].astype(dtype).tobytes() not in wire
    leaked = [v for v in run["secrets"] if v in numbers or np.float64(v).tobytes() in wire]
    assert leaked == []
    # as the label party packs them: fixed point with precision_bits fractional bits
    fixed = quantize(run["secrets"], run["model"].config.precision_bits)
    assert not [v for v in fixed.tolist() if v in numbers or np.int64(v).tobytes() in wire]


def test_the_label_party_sees_no_host_value_or_threshold(run: dict[str, Any]) -> None:
    entries = [e for e in run["entries"] if e.receiver == "card"]
    wire = b"".join(e.payload for e in entries)
    numbers = set(plain_numbers(entries).tolist())
    thresholds = [s.threshold for h in HOSTS for s in run["model"].host_models_[h].splits]
    assert thresholds  # the hosts' splits won somewhere
    assert not [t for t in thresholds if t in numbers or np.float64(t).tobytes() in wire]
    for host in HOSTS:
        values = run["data"][host][1].ravel()
        assert not [v for v in values if v in numbers or np.float64(v).tobytes() in wire]
    column_labels = tuple(f"{host}:" for host in HOSTS)  # a host column's name, "bank:x3"
    for leaf in (v for e in entries for v in decoded_leaves(e)):
        assert not isinstance(leaf, str) or not leaf.startswith(column_labels), leaf


def test_no_id_crosses_the_bus_shared_or_not(run: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    assert [i for i in run["ids"] if i.encode() in wire] == []


def test_every_ciphertext_sent_is_freshly_randomised(run: dict[str, Any]) -> None:
    sent = list(sent_arrays(run["entries"]))
    assert sum(array.size for _, array in sent) > 100 and run["keys"]
    assert randomness_problems(sent, run["keys"]) == []

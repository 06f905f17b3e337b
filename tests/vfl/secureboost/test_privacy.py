"""What crosses the bus in SecureBoost: no host sees a label, gradient or hessian in clear,
the label party sees no host value or threshold, every ciphertext sent is fresh, and a
coordinator holding the key decrypts only masked values."""

from __future__ import annotations

import threading
from typing import Any

import gmpy2
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from transcript_search import decoded_leaves, plain_numbers

from rengo.crypto import EncryptedArray, PaillierPrivateKey, UnrandomizedCiphertextError
from rengo.transport.channel import TranscriptEntry
from rengo.vfl.secureboost import HeteroSecureBoost, boosting

ROWS = 160
HOSTS = ("bank", "telco")


def run(key_holder: str) -> dict[str, Any]:
    """Train and score with every gradient and every decryption recorded."""
    x, y = load_breast_cancer(return_X_y=True)
    x, y = x[:ROWS], y[:ROWS]
    x[::7, 4] = np.nan
    ids = np.array([f"customer-{i:06d}-{i * 7919 % 1000:03d}" for i in range(ROWS)])
    data = {"card": (ids, x[:, :8]), "bank": (ids, x[:, 8:18]), "telco": (ids, x[:, 18:])}
    gradients: list[np.ndarray] = []
    decrypted: list[np.ndarray] = []
    lock = threading.Lock()
    original_gradients = boosting.gradients
    original_decrypt = PaillierPrivateKey.raw_decrypt_array

    def recording_gradients(objective: Any, labels: Any, raw: Any) -> Any:
        g, h = original_gradients(objective, labels, raw)
        with lock:
            gradients.extend([g.ravel(), h.ravel()])
        return g, h

    def recording_decrypt(self: PaillierPrivateKey, ciphertexts: np.ndarray) -> np.ndarray:
        out = original_decrypt(self, ciphertexts)
        with lock:
            decrypted.append(out.copy())
        return out

    patch = pytest.MonkeyPatch()
    patch.setattr(boosting, "gradients", recording_gradients)
    patch.setattr(PaillierPrivateKey, "raw_decrypt_array", recording_decrypt)
    try:
        model = HeteroSecureBoost(
            key_bits=512, n_trees=3, max_depth=3, seed=3, key_seed=8, key_holder=key_holder
        )
        model.fit(data, label_party="card", y=y)
        model.predict_raw(data)
    finally:
        patch.undo()
    transcripts = [
        model.psi_.transcript,  # type: ignore[union-attr]
        model.transcript_,
        model.predict_psi_.transcript,  # type: ignore[union-attr]
        model.predict_bus_.transcript,
    ]
    return {
        "model": model,
        "data": data,
        "labels": y,
        "ids": ids,
        "entries": [e for t in transcripts for e in t],
        "gradients": np.concatenate(gradients),
        "decrypted": decrypted,
    }


@pytest.fixture(scope="module")
def guest_keys() -> dict[str, Any]:
    return run("label_party")


@pytest.fixture(scope="module")
def coordinator_keys() -> dict[str, Any]:
    return run("coordinator")


def _received_by(run_: dict[str, Any], names: set[str]) -> list[TranscriptEntry]:
    return [e for e in run_["entries"] if e.receiver in names]


@pytest.mark.parametrize("which", ["guest_keys", "coordinator_keys"])
def test_no_host_sees_a_label_gradient_or_hessian_in_clear(
    which: str, request: pytest.FixtureRequest
) -> None:
    r = request.getfixturevalue(which)
    entries = _received_by(r, set(HOSTS))
    assert entries
    wire = b"".join(e.payload for e in entries)
    labels = r["labels"]
    for dtype in (np.float64, np.int64, np.uint8, np.bool_, np.float32, np.int32):
        assert labels.astype(dtype).tobytes() not in wire
    assert np.packbits(labels.astype(bool)).tobytes() not in wire
    numbers = set(plain_numbers(entries).tolist())
    secrets_ = r["gradients"]
    for value in secrets_[np.abs(secrets_) > 1e-6]:
        assert float(value) not in numbers
        assert np.float64(value).tobytes() not in wire
        fixed = int(np.rint(value * 2**32))
        assert fixed.to_bytes(8, "little", signed=True) not in wire
    for entry in entries:
        for v in decoded_leaves(entry):
            if isinstance(v, np.ndarray) and v.shape == labels.shape and v.std() > 0:
                assert abs(np.corrcoef(v.astype(float), labels)[0, 1]) < 0.999, entry.key


@pytest.mark.parametrize("which", ["guest_keys", "coordinator_keys"])
def test_the_label_party_sees_no_host_value_or_threshold(
    which: str, request: pytest.FixtureRequest
) -> None:
    r = request.getfixturevalue(which)
    entries = _received_by(r, {"card"})
    wire = b"".join(e.payload for e in entries)
    numbers = set(plain_numbers(entries).tolist())
    model: HeteroSecureBoost = r["model"]
    for host in HOSTS:
        _, x = r["data"][host]
        for value in x[np.isfinite(x)].ravel():
            assert np.float64(value).tobytes() not in wire
            assert float(value) not in numbers or float(value) == int(value)
        for split in model.host_models_[host].splits:
            assert np.float64(split.threshold).tobytes() not in wire
            assert np.float32(split.threshold).tobytes() not in wire
            assert split.threshold not in numbers
    for tree in model.guest_model_.trees:
        for node in tree:
            if node.owner in HOSTS:
                assert np.isnan(node.threshold) and node.feature == -1


def test_every_ciphertext_sent_is_fresh(guest_keys: dict[str, Any]) -> None:
    """No ciphertext has the unrandomised form 1 + m n, and none repeats across messages
    (a host's histogram is re-randomised, so it is not the product the guest could form)."""
    seen: dict[int, str] = {}
    for entry in guest_keys["entries"]:
        for v in decoded_leaves(entry):
            if isinstance(v, EncryptedArray):
                n = v.public_key.n
                for c in v.ciphertexts.ravel().tolist():
                    assert (c - 1) % n != 0, entry.key
                    assert seen.setdefault(c, entry.key) == entry.key or entry.key.endswith("/gh")
    assert len(seen) > 100


def test_a_host_that_skips_re_randomisation_cannot_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positive control for the test above: the codec refuses unrandomised sums."""
    monkeypatch.setattr(EncryptedArray, "rerandomize", lambda self, pool=None: self)
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i}" for i in range(80)])
    data = {"card": (ids, x[:80, :5]), "bank": (ids, x[:80, 5:10])}
    with pytest.raises(UnrandomizedCiphertextError):
        HeteroSecureBoost(key_bits=512, n_trees=1, seed=1, key_seed=1).fit(data, "card", y[:80])


def test_no_raw_id_crosses_the_bus(guest_keys: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in guest_keys["entries"])
    for identifier in guest_keys["ids"]:
        assert identifier.encode() not in wire


def test_a_coordinator_holding_the_key_decrypts_only_masked_values(
    coordinator_keys: dict[str, Any],
) -> None:
    model: HeteroSecureBoost = coordinator_keys["model"]
    private = model._keys["coordinator"][1]
    threshold = gmpy2.mpz(1) << (private.public_key.bits // 2)
    count = 0
    for residues in coordinator_keys["decrypted"]:
        for m in residues.tolist():
            assert min(m, private.public_key.n - m) > threshold  # noise, not a packed sum
            count += 1
    assert count == model.coordinator_report_.decrypted_values > 0
    assert model._keys.keys() == {"coordinator"}  # the label party held no key


def test_the_guest_holds_the_key_and_the_coordinator_decrypts_nothing(
    guest_keys: dict[str, Any],
) -> None:
    model: HeteroSecureBoost = guest_keys["model"]
    assert model._keys.keys() == {"card"}
    assert model.coordinator_report_.decrypted_values == 0
    to_coordinator = [e for e in guest_keys["entries"] if e.receiver == "coordinator"]
    sent = [v for e in to_coordinator for v in decoded_leaves(e)]
    assert sent and not any(isinstance(v, EncryptedArray) for v in sent)


def test_feature_parties_cannot_tell_the_minority_share_from_balanced_class_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rengo.vfl.secureboost import host as host_module

    received: list[int] = []
    original = host_module.GradientLayout.from_wire.__func__  # type: ignore[attr-defined]

    def recording(cls: Any, tree: Any, public: Any) -> Any:
        layout = original(cls, tree, public)
        received.append(layout.width)
        return layout

    monkeypatch.setattr(host_module.GradientLayout, "from_wire", classmethod(recording))
    x, y = load_breast_cancer(return_X_y=True)
    positives, negatives = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    widths = {}
    for share in (0.4, 0.05):  # both refitted with "balanced": weights 1.25 and 10
        rows = np.sort(np.r_[positives[: int(200 * share)], negatives[: 200 - int(200 * share)]])
        ids = np.array([f"c{i:03d}" for i in range(len(rows))])
        received.clear()
        HeteroSecureBoost(
            key_bits=512, seed=1, key_seed=1, n_trees=3, max_depth=2, class_weight="balanced"
        ).fit({"card": (ids, x[rows, :10]), "bank": (ids, x[rows, 10:])}, "card", y[rows])
        widths[share] = list(received)
    assert len(widths[0.4]) == 3
    assert widths[0.4] == widths[0.05], widths

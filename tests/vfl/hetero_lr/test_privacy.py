"""What crosses the bus in hetero LR: no features, labels or IDs, and only masked decryptions
(with Adam, with the Newton-CG option, whose extra rounds are checked the same way, and with
balanced class weights, which never leave the label party)."""

from __future__ import annotations

import threading
from typing import Any

import gmpy2
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from transcript_search import decoded, plain_arrays

from rengo.crypto import EncryptedArray, PaillierPrivateKey
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.hetero_lr import predict as hetero_lr_predict
from rengo.vfl.hetero_lr import roles as hetero_lr_roles

ROWS = 90


@pytest.fixture(scope="module", params=["adam", "newton", "balanced"])
def run(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Train and score with every decryption and every mask recorded."""
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)[:ROWS]
    y = y[:ROWS]
    ids = np.array([f"customer-{i:06d}-{i * 7919 % 1000:03d}" for i in range(ROWS)])
    bank_rows, card_rows = np.arange(0, ROWS - 6), np.arange(4, ROWS)  # each drops some rows
    data = {
        "bank": (ids[bank_rows], x[bank_rows, :8]),
        "card": (ids[card_rows], x[card_rows, 8:14]),
        "telco": (ids, x[:, 14:20]),
    }
    labels = y[card_rows]
    decrypted: list[tuple[np.ndarray, np.ndarray]] = []
    masks: list[tuple[EncryptedArray, EncryptedArray, Any]] = []
    lock = threading.Lock()
    original_decrypt = PaillierPrivateKey.raw_decrypt_array

    def recording_decrypt(self: PaillierPrivateKey, ciphertexts: np.ndarray) -> np.ndarray:
        out = original_decrypt(self, ciphertexts)
        with lock:
            decrypted.append((ciphertexts.copy(), out.copy()))
        return out

    def recording_mask(module: Any) -> Any:
        original = module.mask_encrypted

        def wrapper(encrypted: EncryptedArray, rng: Any, pool: Any) -> Any:
            masked, mask = original(encrypted, rng, pool)
            with lock:
                masks.append((encrypted, masked, mask))
            return masked, mask

        return wrapper

    patch = pytest.MonkeyPatch()
    patch.setattr(PaillierPrivateKey, "raw_decrypt_array", recording_decrypt)
    for module in (hetero_lr_roles, hetero_lr_predict):
        patch.setattr(module, "mask_encrypted", recording_mask(module))
    try:
        model = HeteroLogisticRegression(
            key_bits=512,
            epochs=2,
            batch_size=32,
            learning_rate=0.1,
            l2=0.01,
            seed=3,
            key_seed=8,
            optimizer="adam" if request.param == "balanced" else request.param,
            class_weight="balanced" if request.param == "balanced" else None,
        )
        model.fit(data, label_party="card", y=labels)
        scored_ids, _ = model.predict_scores(data)
    finally:
        patch.undo()
    transcripts = [
        model.psi_.transcript,
        model.transcript_,
        model.predict_psi_.transcript,
        model.predict_bus_.transcript,
    ]
    return {
        "model": model,
        "x": x,
        "data": data,
        "labels": labels,
        "ids": ids,
        "entries": [e for t in transcripts for e in t],
        "decrypted": decrypted,
        "masks": masks,
        "scored_ids": scored_ids,
        "optimizer": request.param,
    }


def test_transcripts_cover_psi_training_and_scoring(run: dict[str, Any]) -> None:
    senders = {e.sender for e in run["entries"]}
    assert senders == {"bank", "card", "telco", "coordinator"}
    assert len(run["entries"]) > 50


def test_no_feature_value_crosses_the_bus(run: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    plain = np.concatenate([a for e in run["entries"] for a in plain_arrays(decoded(e))])
    plain64 = set(plain.astype(np.float64).tolist())
    plain32 = set(plain.astype(np.float32).tolist())
    for _, features in run["data"].values():
        for value in features.ravel():
            assert np.float64(value).tobytes() not in wire
            for bits in (16, 32):
                fixed = int(np.rint(value * 2**bits))
                if abs(fixed) < 2**28:  # too few significant bytes to tell from small ints
                    continue
                assert fixed.to_bytes(8, "little", signed=True) not in wire
                assert fixed.to_bytes(8, "big", signed=True) not in wire
            assert float(value) not in plain64
            assert float(np.float32(value)) not in plain32


def test_no_label_pattern_crosses_the_bus(run: dict[str, Any]) -> None:
    labels = run["labels"]
    wire = b"".join(e.payload for e in run["entries"])
    for dtype in (np.float64, np.int64, np.uint8, np.bool_, np.float32):
        assert labels.astype(dtype).tobytes() not in wire
    for entry in run["entries"]:
        for values in plain_arrays(decoded(entry)):
            if len(values) >= 8:
                assert not np.isin(values, (0, 1)).all(), f"0/1 array in {entry.key}"


def test_no_raw_id_crosses_the_bus(run: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    for identifier in run["ids"]:
        assert identifier.encode() not in wire
    shared = set(run["ids"][4 : ROWS - 6])
    assert set(run["scored_ids"]) == shared


def test_coordinator_decrypts_only_masked_values(run: dict[str, Any]) -> None:
    model = run["model"]
    private = model._keypair[1]
    public = private.public_key
    by_ciphertext = {}
    for encrypted, masked, mask in run["masks"]:
        for c, before, r in zip(
            masked.ciphertexts.ravel(),
            encrypted.ciphertexts.ravel(),
            mask.residues.ravel(),
            strict=True,
        ):
            by_ciphertext[c] = (before, r)
    seen = 0
    threshold = gmpy2.mpz(1) << (public.bits // 2)
    for ciphertexts, residues in run["decrypted"]:
        for c, m in zip(ciphertexts.tolist(), residues.tolist(), strict=True):
            assert c in by_ciphertext, "the coordinator decrypted a ciphertext nobody masked"
            before, r = by_ciphertext[c]
            true = private.raw_decrypt(before)
            assert m != true
            assert (m - r) % public.n == true  # it differs from the true value by the mask
            assert min(m, public.n - m) > threshold  # and looks nothing like a small number
            seen += 1
    training = model.coordinator_report_.decrypted_values
    assert seen == training + len(run["scored_ids"])


def test_plain_scoring_shows_host_partial_scores_which_the_byte_search_finds(
    run: dict[str, Any],
) -> None:
    """Positive control: the FATE-style plain mode reveals partial scores, and the same
    byte search used above spots them, so the checks above can fail."""
    model = run["model"]
    model.predict_mode = "plain"
    try:
        ids, _ = model.predict_scores(run["data"])
    finally:
        model.predict_mode = "encrypted"
    _, bank_x = run["data"]["bank"]
    rows = model.predict_psi_.rows("bank")  # the bank scores its rows in PSI's agreed order
    assert len(rows) == len(ids)
    partials = bank_x[rows] @ model.host_models_["bank"].weights
    sent = [
        v
        for e in model.predict_bus_.transcript
        if e.sender == "bank"
        for v in plain_arrays(decoded(e))
        if len(v) == len(ids)
    ]
    assert len(sent) == 1
    np.testing.assert_allclose(sent[0], partials, rtol=1e-12)
    wire = b"".join(e.payload for e in model.predict_bus_.transcript)
    assert sent[0].astype(np.float64).tobytes() in wire


def test_newton_rounds_send_only_ciphertexts_from_hosts_and_two_scalars_to_them(
    run: dict[str, Any],
) -> None:
    """Newton-CG's extra rounds: hosts send only fresh ciphertexts (their ``r^T z``, their
    ``X_k p_k``, squares, cross terms and slopes); the guest sends each host only the two
    step coefficients; the coordinator sees only masked values (checked above)."""
    training = run["model"].transcript_
    newton = [e for e in training if "newton=" in e.key]
    if run["optimizer"] != "newton":
        assert not newton
        return
    assert {e.key.rsplit("/", 1)[-1] for e in newton} >= {"rz", "beta", "u", "alpha", "masked"}
    for entry in newton:
        payload = decoded(entry)
        if entry.sender in ("bank", "telco"):
            leaves = list(payload.values()) if isinstance(payload, dict) else [payload]
            flat = [
                v for leaf in leaves for v in (leaf.values() if isinstance(leaf, dict) else [leaf])
            ]
            assert all(isinstance(v, EncryptedArray) for v in flat), entry.key
        elif entry.sender == "card" and entry.receiver != "coordinator":
            assert isinstance(payload, float), entry.key


def test_class_weights_never_leave_the_label_party(run: dict[str, Any]) -> None:
    """Balanced weights are counts of the label party's labels: no message carries them (or
    any row's weight) in clear; the hosts get them only as ciphertexts."""
    if run["optimizer"] != "balanced":
        return
    labels = run["labels"]
    rate = labels.mean()
    weights = [1 / (2 * rate), 1 / (2 * (1 - rate))]
    quantised = [np.rint(w * 2**16) / 2**16 for w in weights]
    wire = b"".join(e.payload for e in run["entries"])
    plain = np.concatenate([a for e in run["entries"] for a in plain_arrays(decoded(e))])
    for weight in [*weights, *quantised]:
        assert np.float64(weight).tobytes() not in wire
        assert np.float32(weight).tobytes() not in wire
        assert not np.isclose(plain, weight, rtol=1e-6, atol=0).any()
        fixed = int(np.rint(weight * 2**16))
        assert fixed.to_bytes(8, "little", signed=True) not in wire
    row_weights = [
        e for e in run["model"].transcript_ if e.key.endswith("row-weights")
    ]  # Enc(s) once to each host, for their weighted loss terms
    assert {e.receiver for e in row_weights} == {"bank", "telco"}
    assert all(isinstance(decoded(e), EncryptedArray) for e in row_weights)


def test_a_feature_partys_coefficients_its_importances_never_reach_the_others(
    run: dict[str, Any],
) -> None:
    """A host's feature importance is its own coefficients (``rengo runs importance RUN
    --party bank``): no message to the label party or the coordinator carries one, in
    plaintext or as its raw bytes, in training or scoring."""
    model = run["model"]
    for host in ("bank", "telco"):
        weights = np.asarray(model.host_models_[host].weights, dtype=np.float64)
        assert weights.size and np.abs(weights).max() > 0
        for receiver in ("card", "coordinator", *({"bank", "telco"} - {host})):
            received = [e for e in run["entries"] if e.receiver == receiver]
            assert received, receiver
            wire = b"".join(e.payload for e in received)
            plain = [a for e in received for a in plain_arrays(decoded(e))]
            values = np.concatenate(plain) if plain else np.zeros(0)
            for w in weights:
                assert np.float64(w).tobytes() not in wire, (host, receiver)
                assert not np.isin(values, [w, -w, abs(w)]).any(), (host, receiver)

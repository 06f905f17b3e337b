"""What crosses the bus in hetero linear and Poisson regression: no feature value, label,
exposure (Poisson's, the label party's like its labels) or raw ID, every ciphertext freshly
randomised, and the coordinator decrypts only masked values (as for hetero LR,
tests/vfl/hetero_lr/test_privacy.py)."""

from __future__ import annotations

import threading
from typing import Any

import gmpy2
import numpy as np
import pytest
from transcript_search import decoded, plain_arrays, sent_arrays

from rengo.crypto import EncryptedArray, PaillierPrivateKey
from rengo.vfl import HeteroLinearRegression, HeteroPoissonRegression
from rengo.vfl.hetero_lr import predict as hetero_lr_predict
from rengo.vfl.hetero_lr import roles as hetero_lr_roles
from rengo.vfl.hetero_lr.estimator import CoordinatedLinearModel

ROWS = 90


def _labels(kind: str, x: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    if kind == "linear":
        return x[:, :4] @ np.array([0.5, -0.3, 0.2, 0.1]) + rng.normal(0, 0.1, len(x))
    return rng.poisson(np.exp(0.3 * x[:, 0] - 0.2 * x[:, 5])).astype(float)


@pytest.fixture(scope="module", params=["linear", "linear-newton", "poisson", "poisson-exposure"])
def run(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Train and score with every decryption and every mask recorded (``linear-newton``:
    Newton-CG, the default on a one-batch table, with its extra rounds; ``poisson-exposure``:
    the label party brings an exposure per row)."""
    kind, newton = request.param.split("-")[0], request.param.endswith("-newton")
    exposed = request.param.endswith("-exposure")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 18))
    y = _labels(kind, x)
    ids = np.array([f"customer-{i:06d}-{i * 7919 % 1000:03d}" for i in range(ROWS)])
    bank_rows, card_rows = np.arange(0, ROWS - 6), np.arange(4, ROWS)
    data = {
        "bank": (ids[bank_rows], x[bank_rows, :8]),
        "card": (ids[card_rows], x[card_rows, 8:14]),
        "telco": (ids, x[:, 14:18]),
    }
    labels = y[card_rows]
    exposure = 1.0 - rng.uniform(0.0, 0.9, len(card_rows)) if exposed else None
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
    estimator = HeteroLinearRegression if kind == "linear" else HeteroPoissonRegression
    batches = {"batch_size": ROWS, "optimizer": "newton"} if newton else {"batch_size": 32}
    try:
        model: CoordinatedLinearModel = estimator(
            key_bits=512, epochs=2, learning_rate=0.05, seed=3, key_seed=8, **batches
        )
        if exposure is None:
            model.fit(data, label_party="card", y=labels)
        else:
            assert isinstance(model, HeteroPoissonRegression)
            model.fit(data, label_party="card", y=labels, exposure=exposure)
        scored_ids, _ = model.predict_raw(data)
    finally:
        patch.undo()
    transcripts = [
        model.psi_.transcript,
        model.transcript_,
        model.predict_psi_.transcript,
        model.predict_bus_.transcript,
    ]
    return {
        "kind": kind,
        "newton": newton,
        "model": model,
        "data": data,
        "labels": labels,
        "exposure": exposure,
        "ids": ids,
        "entries": [e for t in transcripts for e in t],
        "decrypted": decrypted,
        "masks": masks,
        "scored_ids": scored_ids,
    }


def test_every_role_and_phase_is_recorded(run: dict[str, Any]) -> None:
    assert {e.sender for e in run["entries"]} == {"bank", "card", "telco", "coordinator"}
    keys = {e.key for e in run["entries"]}
    if run["kind"] == "poisson":
        assert any(k.endswith("/chain") for k in keys)  # the exp chain crossed the bus
    if run["newton"]:  # Newton-CG's rounds crossed the bus
        assert {k.rsplit("/", 1)[-1] for k in keys if "newton=" in k} >= {"rz", "alpha", "beta"}


def test_no_feature_value_crosses_the_bus(run: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    plain = np.concatenate([a for e in run["entries"] for a in plain_arrays(decoded(e))])
    plain64 = set(plain.astype(np.float64).tolist())
    for _, features in run["data"].values():
        for value in features.ravel():
            assert np.float64(value).tobytes() not in wire
            assert float(value) not in plain64
            for bits in (16, 32):
                fixed = int(np.rint(value * 2**bits))
                if abs(fixed) >= 2**28:
                    assert fixed.to_bytes(8, "little", signed=True) not in wire
                    assert fixed.to_bytes(8, "big", signed=True) not in wire


def test_no_label_crosses_the_bus(run: dict[str, Any]) -> None:
    labels = run["labels"]
    wire = b"".join(e.payload for e in run["entries"])
    for dtype in (np.float64, np.int64, np.float32):
        assert labels.astype(dtype).tobytes() not in wire
    plain = [v for e in run["entries"] for v in plain_arrays(decoded(e)) if len(v) >= 8]
    for values in plain:
        assert not np.isin(values, np.unique(labels)).all(), "an array of label values"
    if run["kind"] == "linear":  # continuous targets: no single one is on the wire
        for value in labels:
            assert np.float64(value).tobytes() not in wire


def test_no_exposure_crosses_the_bus(run: dict[str, Any]) -> None:
    """The label party's exposure (and its log, the offset) stays with it: no value of it as
    float, nor as a fixed-point integer at the protocol's precisions, nor any array of
    them in plain."""
    exposure = run["exposure"]
    if exposure is None:
        pytest.skip("this run has no exposure")
    wire = b"".join(e.payload for e in run["entries"])
    plain = np.concatenate([a for e in run["entries"] for a in plain_arrays(decoded(e))])
    plain64 = set(plain.astype(np.float64).tolist())
    for value in np.concatenate([exposure, np.log(exposure)]):
        assert np.float64(value).tobytes() not in wire
        assert np.float32(value).tobytes() not in wire
        assert float(value) not in plain64
        for bits in (16, 32):
            fixed = int(np.rint(value * 2**bits))
            if abs(fixed) >= 2**28:
                assert fixed.to_bytes(8, "little", signed=True) not in wire
                assert fixed.to_bytes(8, "big", signed=True) not in wire


def test_no_raw_id_crosses_the_bus(run: dict[str, Any]) -> None:
    wire = b"".join(e.payload for e in run["entries"])
    for identifier in run["ids"]:
        assert identifier.encode() not in wire
    assert set(run["scored_ids"]) == set(run["ids"][4 : ROWS - 6])


def test_every_ciphertext_sent_is_freshly_randomised(run: dict[str, Any]) -> None:
    """No ciphertext is ``1 + m n`` (no randomness), and no two different ciphertexts share
    their randomness ``r^n`` (their quotient would reveal a plaintext difference)."""
    private = run["model"]._keypair[1]
    n, nsquare = private.public_key.n, private.public_key.nsquare
    owner: dict[Any, Any] = {}
    count = 0
    for entry in run["entries"]:
        for _, array in sent_arrays([entry]):
            for c in set(array.ciphertexts.ravel().tolist()):
                r = c * (1 - private.raw_decrypt(c) * n) % nsquare
                assert r != 1, f"{entry.key}: a ciphertext without randomness"
                assert owner.setdefault(r, c) == c, f"{entry.key} reuses randomness"
                count += 1
    assert count > 500


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
            assert (m - r) % public.n == private.raw_decrypt(before)
            assert min(m, public.n - m) > threshold
            seen += 1
    assert seen == model.coordinator_report_.decrypted_values + len(run["scored_ids"])

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
from transcript_search import decoded_leaves, plain_numbers, sent_arrays

from rengo.core.codec import encode
from rengo.core.envelope import Envelope, envelope_to_bytes
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


def _sent_thresholds(entries: list[TranscriptEntry], thresholds: list[float]) -> list[float]:
    """The thresholds the entries carry: a float64 encoding anywhere in the payload bytes
    (an 8-byte pattern turns up in ~400 KB of random ciphertext bytes with odds ~1e-14),
    or the value at float64 or float32 precision among the decoded plaintext numbers. A
    4-byte float32 pattern is searched only there: in the raw bytes it turns up in random
    ciphertext or PSI bytes about once in 1,150 runs of this fixture."""
    wire = b"".join(e.payload for e in entries)
    numbers = plain_numbers(entries)
    with np.errstate(over="ignore"):
        as_float32 = set(numbers.astype(np.float32).tolist())
    as_float64 = set(numbers.tolist())
    return [
        t
        for t in thresholds
        if np.float64(t).tobytes() in wire
        or float(t) in as_float64
        or float(np.float32(t)) in as_float32
    ]


def _entry(value: Any) -> TranscriptEntry:
    """A message from a host to the label party carrying ``value``, as the bus records it."""
    payload = envelope_to_bytes(Envelope("bank", "card", "leak", encode(value)))
    return TranscriptEntry("bank", "card", "leak", payload)


def test_the_threshold_search_finds_a_sent_threshold_and_not_one_in_random_bytes(
    guest_keys: dict[str, Any],
) -> None:
    """Positive control for the test below: a threshold sent as a float32 or float64 array
    or number is found; the same float32 bytes inside an opaque random byte string (as in
    a ciphertext or a blinded PSI value) are not a sent value."""
    entries = _received_by(guest_keys, {"card"})
    thresholds = [s.threshold for s in guest_keys["model"].host_models_["bank"].splits]
    assert _sent_thresholds(entries, thresholds) == []
    for sent in (
        {"t": np.array(thresholds, dtype=np.float32)},
        [np.array(thresholds, dtype=np.float64).reshape(-1, 1)],
        {"nodes": [float(np.float32(t)) for t in thresholds]},
    ):
        assert _sent_thresholds([*entries, _entry(sent)], thresholds) == thresholds
    noise = np.random.default_rng(0).bytes(64)
    by_chance = _entry({"blinded": noise + np.float32(thresholds[0]).tobytes() + noise})
    assert np.float32(thresholds[0]).tobytes() in by_chance.payload  # the old search's match
    assert _sent_thresholds([*entries, by_chance], thresholds) == []


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
        thresholds = [split.threshold for split in model.host_models_[host].splits]
        assert thresholds and _sent_thresholds(entries, thresholds) == []
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


def _shape_of(entry: TranscriptEntry) -> tuple[str, list[tuple[str, tuple[int, ...]]]]:
    """A message as a host sees its form: its key and each decoded leaf's kind and shape
    (how many ciphertexts an encrypted array holds; a plain array's dtype and shape)."""
    form: list[tuple[str, tuple[int, ...]]] = []
    for leaf in decoded_leaves(entry):
        if isinstance(leaf, EncryptedArray):
            form.append(("ciphertexts", tuple(leaf.ciphertexts.shape)))
        elif isinstance(leaf, np.ndarray):
            form.append((str(leaf.dtype), tuple(leaf.shape)))
        else:
            form.append((type(leaf).__name__, ()))
    return entry.key, form


def test_feature_parties_see_the_same_layout_and_ciphertext_counts_whatever_the_class_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same rows trained with mild and with extreme class weights: every layout field
    the hosts decode, and the form (keys, ciphertext counts, plain shapes) and byte size of
    every message whose content the weights could shape, are the same: the encrypted
    gradients each tree sends the host and the host's root histograms (over every row;
    deeper histograms follow the tree's row partition, which the host sees anyway)."""
    from rengo.vfl.secureboost import host as host_module

    received: list[tuple[int, int, int, int]] = []
    original = host_module.GradientLayout.from_wire.__func__  # type: ignore[attr-defined]

    def recording(cls: Any, tree: Any, public: Any) -> Any:
        layout = original(cls, tree, public)
        fields = (layout.outputs, layout.width, layout.outputs_per_chunk, layout.precision_bits)
        received.append(fields)
        return layout

    monkeypatch.setattr(host_module.GradientLayout, "from_wire", classmethod(recording))
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i:03d}" for i in range(200)])
    tables = {"card": (ids, x[:200, :10]), "bank": (ids, x[:200, 10:])}
    layouts, forms, sizes, ciphertexts = {}, {}, {}, {}
    for weight in (1.25, 40.0):
        received.clear()
        fitted = HeteroSecureBoost(
            key_bits=512, seed=1, key_seed=1, n_trees=3, max_depth=2, class_weight={1: weight}
        ).fit(tables, "card", y[:200])
        layouts[weight] = list(received)
        shaped = [
            e
            for e in fitted.transcript_
            if "bank" in (e.sender, e.receiver) and e.key.endswith(("/gh", "depth=0/hist"))
        ]
        forms[weight] = [_shape_of(e) for e in shaped]
        sizes[weight] = [len(e.payload) for e in shaped]
        ciphertexts[weight] = sum(a.ciphertexts.size for _, a in sent_arrays(shaped))
    assert len(layouts[1.25]) == 3 and layouts[1.25] == layouts[40.0]
    assert len(forms[1.25]) == 6 and forms[1.25] == forms[40.0]
    assert ciphertexts[1.25] > 0 and ciphertexts[1.25] == ciphertexts[40.0]
    assert sizes[1.25] == sizes[40.0]


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

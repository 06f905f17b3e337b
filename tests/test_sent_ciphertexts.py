"""Every Paillier ciphertext rengo sends is freshly randomised — never ``g^m = 1 + m*n mod
n^2``, which anyone holding the public key reads — and no two ciphertexts share their
randomness (their quotient would reveal the difference of the plaintexts). Checked on the
recorded transcripts (every message each party sent over the LocalBus, training and
scoring) of hetero LR, SecureBoost and federated transfer learning, for every obfuscator
scheme a party can make its own randomness with (``obfuscator_scheme="djn"`` short
exponents, the default, and ``"full"`` ``r^n``), in worker processes, and with dealt
randomness and a coordinator holding the key."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from transcript_search import randomness_problems, sent_arrays

from rengo.crypto import EncryptedArray, PaillierPrivateKey, encrypt_array
from rengo.transport.channel import TranscriptEntry
from rengo.vfl import HeteroLinearRegression, HeteroLogisticRegression, HeteroPoissonRegression
from rengo.vfl.secureboost import HeteroSecureBoost

ROWS = 120


def table(rows: int = ROWS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = ((x - x.mean(0)) / x.std(0))[:rows]
    ids = np.array([f"customer-{i:05d}" for i in range(rows)])
    return ids, x, y[:rows]


def private_keys(model: Any) -> list[PaillierPrivateKey]:
    """The private keys of a fitted vertical estimator's run (whoever held them)."""
    found = []
    for keys in model._keys.values():
        for item in keys if isinstance(keys, (tuple, list)) else [keys]:
            if isinstance(item, PaillierPrivateKey):
                found.append(item)
    assert found, "the run kept no private key"
    return found


def transcript(model: Any) -> list[TranscriptEntry]:
    return list(model.transcript_) + list(model.predict_bus_.transcript)


def check(model: Any, expected_keys: set[str]) -> None:
    sent = list(sent_arrays(transcript(model)))
    assert {key.rsplit("/", 1)[-1] for key, _ in sent} >= expected_keys
    assert sum(array.size for _, array in sent) > 100
    assert randomness_problems(sent, private_keys(model)) == []


@pytest.mark.parametrize(
    ("source", "scheme", "processes"),
    [
        ("local", "djn", 0),
        ("local", "djn-short", 0),
        ("local", "full", 0),
        ("local", "djn", 1),
        ("coordinator", "djn", 0),
    ],
    ids=["djn", "djn-short", "full", "djn-in-a-worker-process", "dealt"],
)
def test_hetero_lr_sends_only_fresh_unshared_randomness(
    source: str, scheme: str, processes: int
) -> None:
    ids, x, y = table()
    data = {"g": (ids, x[:, :4]), "h1": (ids, x[:, 4:7]), "h2": (ids, x[:, 7:9])}
    model = HeteroLogisticRegression(
        key_bits=512,
        epochs=2,
        batch_size=50,
        tol=0.0,
        seed=1,
        key_seed=2,
        obfuscator_source=source,
        obfuscator_scheme=scheme,
        obfuscator_processes=processes,
    )
    model.fit(data, "g", y)
    model.predict_scores(data)
    check(model, {"u", "peer-u", "d", "masked", "partial"})


def test_hetero_lr_newton_rounds_send_only_fresh_unshared_randomness() -> None:
    """Newton-CG (the default on a one-batch table) adds its own ciphertexts: every host's
    Enc(r^T z), Enc(X p) with its squares and slopes. They are randomised too."""
    ids, x, y = table()
    data = {"g": (ids, x[:, :4]), "h1": (ids, x[:, 4:7]), "h2": (ids, x[:, 7:9])}
    model = HeteroLogisticRegression(key_bits=512, epochs=3, seed=1, key_seed=2)
    model.fit(data, "g", y)
    model.predict_scores(data)
    check(model, {"u", "peer-u", "d", "masked", "rz"})  # rz: sent in Newton rounds only


@pytest.mark.parametrize("source", ["local", "coordinator"], ids=["djn", "dealt"])
def test_scoring_twice_with_one_key_pair_never_reuses_randomness(source: str) -> None:
    """Two scoring runs of one fitted model share its key pair: no ciphertext of the second
    (this month's rows: other values) reuses the randomness of the first (or of
    training)."""
    ids, x, y = table()
    data = {"g": (ids, x[:, :4]), "h1": (ids, x[:, 4:7])}
    model = HeteroLinearRegression(
        key_bits=512, epochs=1, batch_size=60, seed=1, key_seed=2, obfuscator_source=source
    )
    model.fit(data, "g", y)
    scorings = []
    for month in range(2):
        model.predict({name: (i, features + month) for name, (i, features) in data.items()})
        scorings.append(list(model.predict_bus_.transcript))
    sent = list(sent_arrays(list(model.transcript_) + scorings[0] + scorings[1]))
    assert sum(array.size for key, array in sent if "score/" in key) >= 2 * ROWS
    assert randomness_problems(sent, private_keys(model)) == []


def test_a_scoring_only_run_with_a_fresh_key_pair_sends_fresh_randomness_and_no_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scoring-only run (models kept from an earlier run, as ``rengo vfl coordinator
    --no-train`` scores them) makes the coordinator a fresh key pair: its ciphertexts are
    randomised, and no feature value or ID crosses."""
    from rengo.vfl import HeteroLRConfig, PartyData, PartyTable, VerticalPlan, simulate_vertical
    from rengo.vfl.hetero_lr import GuestModel, HostModel

    ids, x, _ = table()
    rng = np.random.default_rng(0)
    models = {"g": GuestModel(rng.normal(size=4), 0.5), "h1": HostModel(rng.normal(size=3), 1)}
    data = {
        "g": PartyData(score_table=PartyTable(ids[:100], x[:100, :4])),
        "h1": PartyData(score_table=PartyTable(ids[10:], x[10:, 4:7])),
    }
    keys = record_decryption_keys(monkeypatch)
    plan = VerticalPlan("g", ("h1",), HeteroLRConfig(key_bits=512), 0, train=False)
    run = simulate_vertical(plan, data, models=models)
    sent = list(sent_arrays(run.transcript))
    assert sum(array.size for _, array in sent) >= 90 and len(keys) == 1
    assert randomness_problems(sent, list(keys.values())) == []
    wire = b"".join(e.payload for e in run.transcript)
    assert not [v for v in x[:, :7].ravel() if np.float64(v).tobytes() in wire]
    assert not [i for i in ids if i.encode() in wire]


@pytest.mark.parametrize(
    ("source", "scheme"),
    [("local", "djn-short"), ("local", "full"), ("coordinator", "djn")],
    ids=["djn-short", "full", "dealt"],
)
@pytest.mark.parametrize(
    "estimator", [HeteroLinearRegression, HeteroPoissonRegression], ids=["linear", "poisson"]
)
def test_regressions_send_only_fresh_unshared_randomness_under_every_scheme(
    estimator: Any, source: str, scheme: str
) -> None:
    ids, x, y = table()
    counts = np.round(np.exp(0.4 * x[:, 0]) * 2) if estimator is HeteroPoissonRegression else y
    data = {"g": (ids, x[:, :4]), "h1": (ids, x[:, 4:7]), "h2": (ids, x[:, 7:9])}
    model = estimator(
        key_bits=1024 if estimator is HeteroPoissonRegression else 512,
        epochs=2,
        batch_size=50,
        tol=0.0,
        learning_rate=0.05,
        seed=1,
        key_seed=2,
        obfuscator_source=source,
        obfuscator_scheme=scheme,
    )
    model.fit(data, "g", counts)
    model.predict(data)
    check(model, {"d", "masked"})


@pytest.mark.parametrize("scheme", ["djn", "djn-short", "full"])
@pytest.mark.parametrize("key_holder", ["label_party", "coordinator"])
def test_secureboost_sends_only_fresh_unshared_randomness(key_holder: str, scheme: str) -> None:
    ids, x, y = table()
    data = {"card": (ids, x[:, :6]), "bank": (ids, x[:, 6:12]), "telco": (ids, x[:, 12:16])}
    model = HeteroSecureBoost(
        key_bits=512,
        n_trees=2,
        max_depth=2,
        max_bin=8,
        seed=3,
        key_seed=8,
        key_holder=key_holder,
        obfuscator_scheme=scheme,
    )
    model.fit(data, label_party="card", y=y)
    model.predict_raw(data)
    check(model, {"gh"})


@pytest.mark.torch
@pytest.mark.parametrize("scheme", ["djn", "djn-short", "full"])
def test_transfer_learning_sends_only_fresh_unshared_randomness(
    scheme: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("torch")
    from rengo.data import Dataset, transfer_split
    from rengo.ftl import TransferClassifier

    ids, x, y = table(400)
    data = Dataset(x, y, [f"x{j}" for j in range(x.shape[1])], classes=("0", "1"), ids=ids)
    split = transfer_split(
        data, list(range(10)), overlap=0.3, target_labels=20, test_size=0.3, rows=400, seed=0
    )
    model = TransferClassifier(
        dim=3,
        source_hidden="",
        target_hidden="",
        epochs=1,
        batch_size=40,
        key_bits=512,
        seed=5,
        obfuscator_scheme=scheme,
    )
    parties = {
        "bank": (split.source.ids, split.source.X),
        "shop": (split.target.ids, split.target.X),
    }
    # each party holds its own key pair; the target's is not kept, so record both keys as
    # their holders decrypt
    keys = record_decryption_keys(monkeypatch)
    model.fit(parties, source="bank", y=split.source.labels, target_labels=split.target.labels)
    model.predict_proba((split.test.ids, split.test.X))
    sent = list(sent_arrays(transcript(model)))
    assert {array.public_key.n for _, array in sent} == set(keys) and len(keys) == 2
    assert {key.rsplit("/", 1)[-1] for key, _ in sent} >= {"source-terms", "target-terms"}
    assert randomness_problems(sent, list(keys.values())) == []


def test_the_check_finds_plain_g_to_the_m_and_reused_randomness() -> None:
    """Positive control: the checks above can fail."""
    from rengo.crypto import generate_paillier_keypair

    public, private = generate_paillier_keypair(512, seed=4)
    enc = encrypt_array(np.array([0.5, 0.25]), public)
    unrandomised = EncryptedArray(public, 1 + np.array([5, 7], dtype=object) * public.n, 0)
    shifted = enc + 1.0  # same randomness as enc, another plaintext
    found = randomness_problems(
        [("plain", unrandomised), ("first", enc), ("again", enc), ("second", shifted)], [private]
    )
    assert found == [
        "plain: a ciphertext of the form 1 + m*n",
        "plain: a ciphertext of the form 1 + m*n",
        "second reuses the randomness of first",
        "second reuses the randomness of first",
    ]


def record_decryption_keys(monkeypatch: pytest.MonkeyPatch) -> dict[Any, PaillierPrivateKey]:
    """Every private key that decrypts from now on, by modulus: a run keeps no party's key
    pair, so the keys are caught as their holders use them."""
    keys: dict[Any, PaillierPrivateKey] = {}
    decrypt = PaillierPrivateKey.raw_decrypt_array

    def recording(key: PaillierPrivateKey, ciphertexts: np.ndarray) -> np.ndarray:
        keys[key.public_key.n] = key
        return decrypt(key, ciphertexts)

    monkeypatch.setattr(PaillierPrivateKey, "raw_decrypt_array", recording)
    return keys


@pytest.mark.parametrize("source", ["local", "coordinator"], ids=["djn", "dealt"])
def test_class_weighted_hetero_lr_sends_only_fresh_unshared_randomness(source: str) -> None:
    """Class weights add ciphertexts: the row weights each host gets once, the weighted
    squares and the peers' Enc(s u); every one randomised, none reused."""
    _, _, y = table()
    model = fitted_lr(y, obfuscator_source=source, class_weight={0: 1, 1: 7})
    check(model, {"u", "peer-u", "d", "masked", "partial"})


@pytest.mark.parametrize(
    ("source", "extra"),
    [("local", {}), ("coordinator", {}), ("local", {"class_weight": "balanced"})],
    ids=["djn", "dealt", "balanced"],
)
def test_one_vs_rest_hetero_lr_sends_only_fresh_unshared_randomness(
    source: str, extra: dict[str, Any]
) -> None:
    """Labels of three classes: K encrypted partial scores a row, K residuals, masked K
    gradients per column, and in scoring K partial scores a row; every one randomised,
    none reused (Adam, and balanced per class model)."""
    _, x, _ = table()
    three_classes = np.digitize(x[:, 0] + x[:, 5], [-0.5, 0.5])
    model = fitted_lr(three_classes, obfuscator_source=source, **extra)
    assert model.guest_model_.classes == 3
    check(model, {"u", "peer-u", "d", "masked", "partial"})


def fitted_lr(y: np.ndarray, **options: Any) -> HeteroLogisticRegression:
    """Hetero LR over g (4 columns), h1 (3) and h2 (2), two epochs of Adam in batches of
    50, fitted on ``y`` and scored on the same rows."""
    ids, x, _ = table()
    data = {"g": (ids, x[:, :4]), "h1": (ids, x[:, 4:7]), "h2": (ids, x[:, 7:9])}
    model = HeteroLogisticRegression(
        key_bits=512, epochs=2, batch_size=50, tol=0.0, seed=1, key_seed=2, **options
    )
    model.fit(data, "g", y)
    model.predict_scores(data)
    return model

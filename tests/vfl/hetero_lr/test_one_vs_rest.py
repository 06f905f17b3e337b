"""One-vs-rest hetero LR (labels of K > 2 classes): K binary models in the same protocol
passes. The plaintext twin learns what scikit-learn's one-vs-rest logistic regression
learns; the encrypted run equals the twin; the cost per class is K times a binary run's
ciphertexts; no label or one-hot target crosses the bus; class weights apply per class."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hetero_lr_run import replayable_sgd, run_hetero_lr
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight
from transcript_search import decoded, plain_arrays, sent_arrays

from rengo.core.errors import ConfigError, DataError, ProtocolError
from rengo.core.options import OptionError
from rengo.crypto import generate_paillier_keypair
from rengo.vfl import HeteroLogisticRegression
from rengo.vfl.checkpoints import PASSPHRASE_ENV
from rengo.vfl.hetero_linear import HeteroLinearConfig
from rengo.vfl.hetero_lr import one_vs_rest
from rengo.vfl.hetero_lr.class_weighting import guest_weighting
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.local import guest_alone_scores, train_guest_alone
from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR
from rengo.vfl.hetero_lr.one_vs_rest import (
    batch_columns,
    class_count,
    class_rows,
    class_targets,
    newton_expansion_bytes,
    require_newton_expansion_fits,
)

SEED, CLASSES = 5, 3
KEYPAIR = generate_paillier_keypair(512, seed=11)


def _table(rows: int = 150, classes: int = CLASSES) -> tuple[np.ndarray, np.ndarray]:
    x, y = make_classification(
        n_samples=rows,
        n_features=9,
        n_informative=6,
        n_redundant=0,
        n_classes=classes,
        n_clusters_per_class=1,
        random_state=0,
    )
    return StandardScaler().fit_transform(x), y


def _parts(x: np.ndarray) -> list[np.ndarray]:
    return [x[:, :3], x[:, 3:6], x[:, 6:]]  # guest, host1, host2


def _run(parts: list[np.ndarray], y: np.ndarray, config: HeteroLRConfig) -> dict[str, Any]:
    return run_hetero_lr(parts, y, config, KEYPAIR, SEED)


@pytest.mark.parametrize("l2", [0.01, 0.1])
def test_each_class_model_is_the_binary_fit_of_its_class_with_the_same_l2(l2: float) -> None:
    """Trained to the optimum (Newton-CG on the quadratic Taylor loss), class k's weights and
    intercept are those of a binary fit of ``y == k`` with the same ``l2``: one-vs-rest
    penalises each class model as K separate fits would, not K times as hard."""
    x, y = _table(rows=200)
    config = HeteroLRConfig(optimizer="newton", epochs=60, l2=l2, tol=0.0)
    model = train_guest_alone(x, y, config, SEED)
    assert model.intercepts is not None
    weights = model.weights.reshape(-1, CLASSES)
    for k in range(CLASSES):
        binary = train_guest_alone(x, (y == k).astype(np.int64), config, SEED)
        np.testing.assert_allclose(weights[:, k], binary.weights, atol=1e-7)
        assert model.intercepts[k] == pytest.approx(binary.intercept, abs=1e-7)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_each_class_model_takes_the_first_order_steps_of_its_binary_fit(optimizer: str) -> None:
    """Same batches, same step: class k's weights after 3 epochs of SGD or Adam are the
    binary fit's of ``y == k`` (its gradient per aligned row, its L2, and its column's scale
    over the aligned rows, where the block-diagonal table holds the column on one class row
    in K)."""
    x, y = _table(rows=200)
    config = HeteroLRConfig(
        optimizer=optimizer, epochs=3, batch_size=32, l2=0.1, tol=0.0, fit_intercept=False
    )
    weights = train_guest_alone(x, y, config, SEED).weights.reshape(-1, CLASSES)
    for k in range(CLASSES):
        binary = train_guest_alone(x, (y == k).astype(np.int64), config, SEED)
        np.testing.assert_allclose(weights[:, k], binary.weights, rtol=1e-9, atol=1e-12)


def test_the_plaintext_twin_learns_what_sklearn_one_vs_rest_learns() -> None:
    """After enough epochs the Taylor-loss twin's accuracy and macro one-vs-rest AUC are
    scikit-learn's OneVsRestClassifier(LogisticRegression) ones (same L2: C = 1/(n l2))."""
    x, y = _table(rows=400)
    l2 = 0.01
    config = HeteroLRConfig(epochs=200, batch_size=64, l2=l2, learning_rate=0.05, tol=1e-6)
    model = train_guest_alone(x, y, config, SEED)
    assert model.classes == CLASSES and model.intercepts is not None
    ours = guest_alone_scores(model, x)
    reference = OneVsRestClassifier(LogisticRegression(C=1.0 / (len(y) * l2))).fit(x, y)
    theirs = reference.predict_proba(x)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0)
    our_accuracy = float(np.mean(ours.argmax(axis=1) == y))
    their_accuracy = float(np.mean(theirs.argmax(axis=1) == y))
    assert our_accuracy == pytest.approx(their_accuracy, abs=0.02)
    our_auc = roc_auc_score(y, ours, multi_class="ovr", average="macro")
    their_auc = roc_auc_score(y, theirs, multi_class="ovr", average="macro")
    assert our_auc == pytest.approx(their_auc, abs=0.01)
    # the argmax agrees row by row almost everywhere (Taylor loss vs the logistic loss)
    assert np.mean(ours.argmax(axis=1) == theirs.argmax(axis=1)) >= 0.95


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 2.0, 1: 0.5, 2: 1.25}])
def test_encrypted_one_vs_rest_equals_the_plaintext_twin(class_weight: Any) -> None:
    """Guest, two hosts, K = 3: every party's K weights per column, the K intercepts and
    the mean Taylor loss equal the plaintext twin's on the joined table (class weighted
    too: balanced per class model, a weight per class by each row's class)."""
    x, y = _table()
    parts = _parts(x)
    config = replayable_sgd(class_weight=class_weight)
    results = _run(parts, y, config)
    twin = train_guest_alone(np.hstack(parts), y, config, SEED)
    guest = results["guest"]
    assert guest.classes == CLASSES and results["host1"].classes == CLASSES
    tol = 1e-8 if class_weight is None else 1e-6
    start = 0
    for name, part in zip(["guest", "host1", "host2"], parts, strict=True):
        width = part.shape[1] * CLASSES
        np.testing.assert_allclose(
            results[name].weights, twin.weights[start : start + width], atol=tol
        )
        start += width
    assert guest.intercepts is not None and twin.intercepts is not None
    np.testing.assert_allclose(guest.intercepts, twin.intercepts, atol=tol)
    np.testing.assert_allclose(guest.losses, twin.losses, atol=tol)
    # the coordinator decrypted every party's K gradients per column and the loss
    columns = sum(p.shape[1] for p in parts) + 1
    batches = len(y) // config.batch_size
    assert results["coordinator"].decrypted_values == 3 * batches * (CLASSES * columns + 1)


def test_newton_cg_trains_the_k_class_models_as_one_joint_problem() -> None:
    """The one-batch default (Newton-CG): its conjugate directions run over every class
    model's weights at once (the joint loss is the sum of the K binary ones), each party
    preconditioning with its own block; it reaches the joint Taylor loss's minimum, the
    one the plaintext twin (one block) reaches, in a few epochs, below Adam's loss."""
    x, y = _table(rows=120)
    parts = _parts(x)
    config = HeteroLRConfig(epochs=12, l2=0.01, tol=0.0, feature_precision_bits=32)
    results = _run(parts, y, config)
    twin = train_guest_alone(np.hstack(parts), y, config, SEED)
    assert results["guest"].losses[-1] == pytest.approx(twin.losses[-1], abs=1e-7)
    np.testing.assert_allclose(results["host2"].weights, twin.weights[-3 * CLASSES :], atol=1e-3)
    adam = train_guest_alone(np.hstack(parts), y, replace(config, optimizer="adam"), SEED)
    assert twin.losses[-1] < adam.losses[-1] - 1e-3


def test_balanced_weights_balance_each_class_model_as_sklearn_does() -> None:
    """``"balanced"`` one-vs-rest weighs class model k's rows by scikit-learn's balanced
    weights of its own 0/1 labels; a weight per class weighs every class row by the row's
    class (scikit-learn's ``LogisticRegression(class_weight=dict)`` one-vs-rest)."""
    _, y = _table()
    targets = class_targets(y, CLASSES)
    balanced = guest_weighting(
        HeteroLRConfig(class_weight="balanced"), LOGISTIC_TAYLOR, targets, "guest", CLASSES
    )
    assert balanced is not None
    weights = balanced.rows(targets).reshape(-1, CLASSES)
    for k in range(CLASSES):
        binary = (y == k).astype(int)
        expected = compute_class_weight("balanced", classes=np.array([0, 1]), y=binary)
        np.testing.assert_allclose(weights[:, k], expected[binary], atol=2**-16)
    named = guest_weighting(
        HeteroLRConfig(class_weight={0: 2.0, 1: 0.5, 2: 1.25}),
        LOGISTIC_TAYLOR,
        targets,
        "guest",
        CLASSES,
    )
    assert named is not None
    by_row = named.rows(targets).reshape(-1, CLASSES)
    np.testing.assert_allclose(by_row, np.array([2.0, 0.5, 1.25])[y][:, None] * np.ones(CLASSES))


def _fitted(classes: int, epochs: int = 2, **extra: Any) -> tuple[Any, ...]:
    x, y = _table(rows=150, classes=classes)
    ids = np.array([f"customer-{i:04d}" for i in range(len(y))])
    data = {"telco": (ids, x[:, :4]), "bank": (ids, x[:, 4:7]), "shop": (ids, x[:, 7:])}
    model = HeteroLogisticRegression(
        key_bits=512,
        epochs=epochs,
        batch_size=64,
        tol=0.0,
        seed=1,
        key_seed=2,
        obfuscator_source="coordinator",
        **extra,
    )
    model.fit(data, "telco", y)
    return model, data, y, x


def test_each_class_costs_one_binary_models_ciphertexts() -> None:
    """Per batch of b rows, K classes, hosts bank (3 columns) and shop (2), a guest of 4
    columns and the intercept: Enc(u_k) K b a host plus its square (and shop's cross term),
    Enc(u_bank) K b to shop, Enc(d) K b to each host, masked gradients K per column and the
    loss. Scoring: K m encrypted partial scores per host and K m masked sums. A binary run
    is the same with K = 1 (tests/vfl/hetero_lr/test_ciphertexts.py)."""
    model, data, _, _ = _fitted(CLASSES)
    model.predict_proba(data)
    k, batches = CLASSES, [64, 150 - 64]
    per_epoch = sum(
        (2 * k * b + 3) + k * b + 2 * k * b + (k * 5 + 1 + k * 3 + k * 2) for b in batches
    )
    training = sum(a.size for _, a in sent_arrays(model.transcript_))
    scoring = sum(a.size for _, a in sent_arrays(model.predict_bus_.transcript))
    assert training == 2 * per_epoch
    assert scoring == 3 * k * 150


def test_the_estimator_predicts_normalised_class_probabilities_and_their_argmax() -> None:
    model, data, y, _ = _fitted(CLASSES, epochs=20)
    assert model.classes_.tolist() == [0, 1, 2]
    _, proba = model.predict_proba(data)
    assert proba.shape == (len(y), CLASSES)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    _, predicted = model.predict(data)
    np.testing.assert_array_equal(predicted, proba.argmax(axis=1))
    assert model.score(data, y) > 0.7


def test_no_label_or_class_target_reaches_hosts_or_the_coordinator() -> None:
    """Hosts and the coordinator receive ciphertexts, masked residues and the class count:
    no plaintext array of the labels, of any class's 0/1 targets or of their one-hot
    layout crosses the bus in training or scoring."""
    model, _, y, _ = _fitted(CLASSES)
    entries = [*model.transcript_, *model.psi_.transcript]
    wire = b"".join(e.payload for e in entries)
    onehot = class_targets(y, CLASSES)
    for dtype in (np.float64, np.int64, np.uint8, np.bool_, np.float32):
        assert y.astype(dtype).tobytes() not in wire
        assert onehot.astype(dtype).tobytes() not in wire
        for k in range(CLASSES):
            assert (y == k).astype(dtype).tobytes() not in wire
    for entry in entries:
        if entry.receiver == "telco":
            continue
        for values in plain_arrays(decoded(entry)):
            if len(values) >= 8:
                assert not np.isin(values, (0, 1)).all(), f"0/1 array in {entry.key}"
                assert not np.isin(values, (0, 1, 2)).all(), f"class codes in {entry.key}"


def test_auto_trains_binary_labels_as_before_and_ovr_trains_two_class_models() -> None:
    assert class_count(np.array([0, 1, 1, 0]), "auto", "g") == 1
    assert class_count(np.array([0, 1, 1, 0]), "ovr", "g") == 2
    assert class_count(np.array([0, 2, 1, 3]), "auto", "g") == 4


@pytest.mark.parametrize(
    ("labels", "says"),
    [
        (np.array([0, 1, 3, 3]), "codes [2] have none"),
        (np.array([0, 1, 2.5, 2]), "found 2.5 at aligned row 2"),
        (np.array([0, -1, 2, 1]), "found -1.0 at aligned row 1"),
    ],
)
def test_labels_that_are_not_class_codes_are_refused_naming_the_party(
    labels: np.ndarray, says: str
) -> None:
    with pytest.raises(DataError, match="telco") as caught:
        class_count(labels, "auto", "telco")
    assert says in str(caught.value)


def test_regressions_refuse_multi_class_naming_the_option() -> None:
    with pytest.raises(OptionError, match="multi_class"):
        HeteroLinearConfig(multi_class="ovr")


@pytest.mark.timeout(180)
def test_an_interrupted_one_vs_rest_fit_resumes_to_the_uninterrupted_model(
    tmp_path: Path, crash_after: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The K class models' weights and Adam state are checkpointed every epoch like a
    binary model's: interrupted after epoch 2 and resumed, the fit ends with the very
    probabilities an uninterrupted fit gives."""
    monkeypatch.setenv(PASSPHRASE_ENV, "kept apart from the disk")
    x, y = _table(rows=90)
    ids = np.array([f"c{i:03d}" for i in range(len(y))], dtype=object)
    data = {"telco": (ids, x[:, :4]), "bank": (ids[::-1], x[::-1, 4:])}
    options: dict[str, Any] = {"epochs": 3, "batch_size": 32, "key_bits": 512, "seed": 5}
    reference = HeteroLogisticRegression(**options).fit(data, "telco", y)
    interrupted = HeteroLogisticRegression(checkpoints=tmp_path, **options)
    crash_after("bank", 2)
    with pytest.raises(crash_after.error):
        interrupted.fit(data, "telco", y)
    crash_after("nobody", 0)
    again = clone(interrupted).set_params(resume=interrupted.checkpoint_run_)
    again.fit(data, "telco", y)
    assert again.fit_run_.coordinator.resumed_after in (1, 2)
    _, resumed = again.predict_proba(data, "telco")
    _, uninterrupted = reference.predict_proba(data, "telco")
    assert resumed.shape == (len(y), CLASSES)
    assert resumed.tobytes() == uninterrupted.tobytes()


def test_a_batchs_class_rows_are_bit_for_bit_those_of_the_whole_tables_expansion() -> None:
    """``batch_columns`` gives, for any batch of aligned rows, exactly the rows the whole
    table's block-diagonal expansion ``kron(X, I_K)`` held at the batch's class rows (the
    layout every party trained on before the expansion was made per batch), negative
    values and zeros included."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(37, 5)) * rng.choice([0.0, 1.0, -3.0], size=(37, 5))
    for classes in (1, 2, 8):
        whole = np.kron(x, np.eye(classes))
        for rows in (np.arange(37), rng.permutation(37)[:11], np.array([4])):
            expanded = batch_columns(x, rows, classes)
            expected = whole[class_rows(rows, classes)]
            assert expanded.shape == expected.shape
            assert expanded.tobytes() == expected.tobytes()


def _expansion_spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Record the shape of every table the one-vs-rest code expands into class rows."""
    from rengo.vfl.hetero_lr import local, one_vs_rest, roles

    shapes: list[tuple[int, ...]] = []
    original = one_vs_rest.class_columns

    def spy(x: np.ndarray, classes: int) -> np.ndarray:
        shapes.append(np.shape(x))
        return original(x, classes)

    for module in (one_vs_rest, roles, local):
        monkeypatch.setattr(module, "class_columns", spy, raising=False)
    return shapes


def test_training_expands_one_batch_of_rows_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """First-order training (Adam, batches of 50 rows) never expands more than one batch's
    rows into their K class rows, at the label party, the hosts and in the plaintext twin:
    a party's memory is its table plus one batch's class rows, not K^2 times its table."""
    x, y = _table(rows=150)
    config = HeteroLRConfig(epochs=2, batch_size=50, tol=0.0, multi_class="ovr")
    shapes = _expansion_spy(monkeypatch)
    _run(_parts(x), y, config)
    train_guest_alone(x, y, config, SEED)
    assert shapes and max(shape[0] for shape in shapes) == 50, shapes


def test_the_twins_peak_memory_holds_one_batchs_class_rows_not_the_whole_expansion() -> None:
    """20,000 rows of 10 columns and K = 8 classes: the whole table's block-diagonal
    expansion alone is 20,000 * 8 rows of 88 columns (113 MB); an epoch of Adam in batches
    of 1,024 rows peaks far below it (the table, its K class labels and one batch)."""
    import tracemalloc

    rng = np.random.default_rng(1)
    rows, columns, classes = 20_000, 10, 8
    x = rng.normal(size=(rows, columns))
    y = (x @ rng.normal(size=(columns, classes))).argmax(axis=1)
    whole_expansion = rows * classes * (columns + 1) * classes * 8
    config = HeteroLRConfig(epochs=1, batch_size=1024, tol=0.0, multi_class="ovr")
    tracemalloc.start()
    try:
        model = train_guest_alone(x, y, config, SEED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert model.classes == classes
    assert peak < whole_expansion / 4, (peak, whole_expansion)


def test_a_feature_party_refuses_newton_whose_expansion_passes_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Newton-CG's one batch is every row, so a feature party expands its whole table into
    ``K^2 n F`` values: a label party's set-up asking for it on a table too large for that
    (K up to 256: a 10,000 x 10 table at K = 256 is 52 GB) is refused before any expansion,
    naming the optimizer and the limit, instead of exhausting the party's memory. Here the
    limit is lowered below host1's expansion (30 rows x 3 columns x 3^2 x 8 bytes)."""
    assert newton_expansion_bytes(10_000, 10, 256) > 50 * 10**9
    assert newton_expansion_bytes(30, 3, CLASSES) == 6_480
    monkeypatch.setattr(one_vs_rest, "NEWTON_EXPANSION_LIMIT", 6_479)
    x, y = _table(rows=30)
    config = HeteroLRConfig(optimizer="newton", epochs=1, tol=0.0)
    with pytest.raises(ProtocolError, match=r"optimizer='newton' over 3 classes.*30 x 3 table"):
        _run([x[:, :1], x[:, 1:4]], y, config)  # the label party's own 30 x 2 fits
    with pytest.raises(ProtocolError, match="NEWTON_EXPANSION_LIMIT"):
        require_newton_expansion_fits(30, 3, CLASSES, "guest")
    require_newton_expansion_fits(30, 3, 1, "guest")  # binary: the table is its expansion
    monkeypatch.setattr(one_vs_rest, "NEWTON_EXPANSION_LIMIT", 6_480)
    require_newton_expansion_fits(30, 3, CLASSES, "guest")  # at the limit: accepted


def test_a_label_party_refuses_newton_whose_expansion_of_its_own_table_passes_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The label party's own table (3 columns and the intercept here) is expanded as a
    feature party's is: over the limit, its own optimizer='newton' is a configuration error
    before any set-up is sent, trained alone or with hosts."""
    monkeypatch.setattr(one_vs_rest, "NEWTON_EXPANSION_LIMIT", 6_479)
    x, y = _table(rows=30)
    config = HeteroLRConfig(optimizer="newton", epochs=1, tol=0.0)
    with pytest.raises(ConfigError, match=r"optimizer='newton' over 3 classes.*30 x 4 table"):
        train_guest_alone(x[:, :3], y, config, SEED)
    with pytest.raises(ConfigError, match=r"optimizer='newton' over 3 classes"):
        _run(_parts(x)[:2], y, config)

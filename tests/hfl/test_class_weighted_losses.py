"""Class-weighted losses weigh each row on its own: ``(1/n) sum_i w[y_i] l_i`` (scikit-learn's
``class_weight``). The PyTorch loss of an MLP job (torch's ``CrossEntropyLoss(weight=...)``
divided by the batch's summed weights: one row's gradient moved with the other rows' labels,
breaking DP-SGD's per-example bound, and "balanced" stopped balancing over minibatches), a
numpy client whose labels a mod flips, and hetero LR's reported weighted loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rengo.core.options import OptionError
from rengo.hfl import LogisticRegressionClient

torch = pytest.importorskip("torch")

from rengo.hfl.torch_loss import ClassWeightedCrossEntropy  # noqa: E402

WEIGHTS = torch.tensor([1.0, 25.0])


def _batch(seed: int, rows: int) -> tuple[object, object]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, 2, generator=g), torch.randint(0, 2, (rows,), generator=g)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 40))
def test_a_rows_gradient_does_not_depend_on_the_other_rows(seed: int, rows: int) -> None:
    """Summed over the batch, row 0's gradient is the same with or without the last row."""
    logits, labels = _batch(seed, rows)
    loss = ClassWeightedCrossEntropy(WEIGHTS)

    def row0_grad(n: int) -> object:
        z = logits[:n].clone().requires_grad_(True)
        (loss(z, labels[:n]) * n).backward()
        return z.grad[0]

    torch.testing.assert_close(row0_grad(rows), row0_grad(rows - 1))


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8))
def test_minibatches_add_up_to_the_whole_tables_weighted_loss(seed: int, batches: int) -> None:
    logits, labels = _batch(seed, 48)
    loss = ClassWeightedCrossEntropy(WEIGHTS)
    whole = float(loss(logits, labels)) * 48
    parts = sum(
        float(loss(z, y)) * len(y)
        for z, y in zip(logits.chunk(batches), labels.chunk(batches), strict=True)
    )
    assert parts == pytest.approx(whole, rel=1e-5)
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    assert whole == pytest.approx(float((ce * WEIGHTS[labels]).sum()), rel=1e-5)


def test_an_mlp_job_trains_weighted_and_evaluates_unweighted() -> None:
    from rengo.jobs import build_hfl_job
    from rengo.jobs.spec import parse_job

    spec = parse_job(
        {
            "job": {"name": "w", "rounds": 1},
            "data": {"dataset": "breast_cancer"},
            "partition": {"scheme": "iid", "num_clients": 2},
            "model": {"type": "mlp", "hidden": [4]},
            "train": {"class_weight": "balanced"},
        },
        "job.toml",
    )
    job = build_hfl_job(spec)
    client = job.client_fn(job.client_ids[0])
    assert isinstance(client.loss_fn, ClassWeightedCrossEntropy)  # type: ignore[attr-defined]
    evaluation = client.evaluation_loss_fn  # type: ignore[attr-defined]
    assert type(evaluation) is torch.nn.CrossEntropyLoss and evaluation.weight is None


def test_a_numpy_client_weighs_flipped_labels_by_their_new_class() -> None:
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), np.array([0] * 16 + [1] * 4)
    client = LogisticRegressionClient(X, y, class_weight={0: 1.0, 1: 9.0}, num_classes=2)
    assert client._batch_weights(y).tolist() == [1.0] * 16 + [9.0] * 4
    flipped = 1 - y
    assert client._batch_weights(flipped).tolist() == [9.0] * 16 + [1.0] * 4


def test_hetero_lr_weighs_the_loss_constant_too() -> None:
    """At u = 0 each row's logistic loss is log 2, so the weighted mean is mean(s) log 2."""
    from rengo.vfl.hetero_lr.objective import LOGISTIC_TAYLOR as LOGISTIC

    y = np.array([0.0, 0.0, 0.0, 1.0])
    s = np.array([1.0, 1.0, 1.0, 25.0])
    total = LOGISTIC.batch_loss(np.zeros(4), y, s) + 4 * LOGISTIC.constant
    assert total / 4 == pytest.approx(float(np.mean(s)) * math.log(2))


def test_class_weights_need_enough_residual_precision() -> None:
    from rengo.vfl import HeteroLRConfig

    with pytest.raises(OptionError, match="residual_precision_bits"):
        HeteroLRConfig(class_weight="balanced", residual_precision_bits=16)
    HeteroLRConfig(class_weight="balanced", residual_precision_bits=24)
    HeteroLRConfig(residual_precision_bits=8)  # unweighted: as before

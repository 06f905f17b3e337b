"""Label leakage through cut-layer gradients: the attacks' leak AUC, and noise defences.

In two-party split learning the feature party receives, for every row of a batch, the
gradient of the loss with respect to its embedding. Li et al. ("Label Leakage and
Protection in Two-party Split Learning", ICLR 2022) show that these gradients reveal the
labels of binary classification:

* **norm attack**: with imbalanced classes the rarer (positive) class gets gradients of a
  larger norm, so ``||g_i||`` ranks positives above negatives;
* **direction attack**: with one logit, ``g_i = (p_i - y_i) * d logit / d e_i``, so the
  gradients of one class point one way and the other class's the other way: the cosine
  similarity to the gradient of one row known to be positive separates the classes.

The **leak AUC** of an attack is the ROC AUC of its score against the true labels (1.0:
the feature party learns every label; 0.5: nothing). :func:`leak_auc` measures it from the
gradients a feature party actually received (the estimator decodes them from the run's
transcript: :meth:`rengo.vfl.splitnn.SplitNNClassifier.leak_auc`).

Defences (:func:`defend_gradients`) add random noise to the gradients before they leave
the label party; the label party's own models train on the exact gradients:

* ``"gaussian"``: isotropic noise ``N(0, s^2 I)``, ``s = noise_scale * max_i ||g_i|| /
  sqrt(d)`` per coordinate (the noise's expected norm is about ``noise_scale`` times the
  batch's largest gradient norm);
* ``"max_norm"`` (Li et al.'s heuristic against the norm attack): row ``i`` gets
  ``N(0, s_i^2 I)`` with ``s_i^2 = noise_scale * (max_j ||g_j||^2 - ||g_i||^2) / d``, so
  every row's expected squared norm is lifted to the batch's largest (at ``noise_scale``
  1). It blunts the norm attack but leaves directions mostly intact.

* ``"marvell"`` (Li et al.'s Section 4, binary labels): label-dependent noise whose
  covariances are chosen per batch to minimise a KL bound on any attacker's leak AUC,
  within a power budget ``noise_scale * ||g_bar_1 - g_bar_0||^2``
  (:mod:`rengo.vfl.splitnn.marvell`).

None is a formal privacy guarantee (Marvell's bound holds for a Gaussian approximation
of the gradients): measure the leak AUC of a setting with :func:`leak_auc` before relying
on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.metrics import roc_auc
from rengo.vfl.splitnn.marvell import marvell_noise

Attack = Literal["norm", "direction"]


def leak_auc(
    gradients: np.ndarray,
    labels: np.ndarray,
    attack: Attack = "norm",
    *,
    batches: Sequence[np.ndarray] | None = None,
    positive: object = 1,
) -> float:
    """The leak AUC of Li et al.'s norm or direction attack on cut-layer gradients.

    Parameters
    ----------
    gradients
        ``(n, d)``: the gradient the feature party received for each row.
    labels
        ``(n,)``: the true labels (known only to the label party: this is a measurement,
        not something a feature party can compute).
    attack
        ``"norm"``: the score is ``||g_i||``. ``"direction"``: within each batch, the
        attacker knows one positive row (the batch's first) and scores every other row by
        the cosine similarity of its gradient to that row's; rows of a batch without a
        positive are not scored.
    batches
        Row indices of each batch the gradients came in (default: one batch of every row).
    positive
        The label value counted as positive (multiclass: one class against the rest).

    Returns
    -------
    float
        The ROC AUC of the attack's score against ``labels == positive``.

    Raises
    ------
    ConfigError
        For an unknown attack.
    DataError
        If shapes differ, gradients are not finite, or one class is absent from the
        scored rows.
    """
    if attack not in get_args(Attack):
        raise ConfigError(f"attack must be one of {get_args(Attack)}, got {attack!r}")
    g = np.asarray(gradients, dtype=np.float64)
    truth = np.asarray(labels) == positive
    if g.ndim != 2 or truth.shape != (len(g),):
        raise DataError(
            f"gradients must be (rows, d) with one label per row, got {g.shape} and {truth.shape}"
        )
    if not np.isfinite(g).all():
        raise DataError("gradients must be finite")
    if attack == "norm":
        return roc_auc(truth.astype(np.int64), np.linalg.norm(g, axis=1))
    groups = [np.arange(len(g))] if batches is None else [np.asarray(b) for b in batches]
    scores: list[np.ndarray] = []
    scored: list[np.ndarray] = []
    unit = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-30)
    for rows in groups:
        known = rows[truth[rows]]
        if len(known) == 0:
            continue
        others = rows[rows != known[0]]
        scores.append(unit[others] @ unit[known[0]])
        scored.append(truth[others])
    if not scores:
        raise DataError("the direction attack needs a positive row in at least one batch")
    return roc_auc(np.concatenate(scored).astype(np.int64), np.concatenate(scores))


DEFENSES = ("none", "gaussian", "max_norm", "marvell")


def defend_gradients(
    gradients: np.ndarray,
    defense: str,
    noise_scale: float,
    rng: np.random.Generator,
    *,
    positive: np.ndarray | None = None,
) -> np.ndarray:
    """The gradients a feature party is sent under ``defense`` (see the module docstring).

    Parameters
    ----------
    gradients
        ``(rows, d)`` exact cut-layer gradients of one batch.
    defense
        ``"none"``, ``"gaussian"``, ``"max_norm"`` or ``"marvell"``.
    noise_scale
        The noise's scale (0: no noise; Marvell: ``s`` in its power budget).
    rng
        The label party's noise generator.
    positive
        ``(rows,)`` booleans, which rows are positive: Marvell's noise depends on the
        label (needed for ``"marvell"`` only).

    Returns
    -------
    numpy.ndarray
        The gradients to send, float32.

    Raises
    ------
    ConfigError
        For an unknown defense, or ``"marvell"`` without ``positive``.
    """
    g = np.asarray(gradients, dtype=np.float64)
    if defense not in DEFENSES:
        raise ConfigError(f"unknown defense {defense!r}; choose one of {DEFENSES}")
    if defense == "marvell" and positive is None:
        raise ConfigError("defense='marvell' needs each row's label: pass positive=")
    if defense == "none" or noise_scale == 0 or g.size == 0:
        return g.astype(np.float32)
    d = g.shape[1]
    squared = np.sum(g * g, axis=1)
    largest = float(squared.max())
    if defense == "gaussian":
        std = noise_scale * np.sqrt(largest / d)
        noisy = g + rng.normal(0.0, 1.0, g.shape) * std
    elif defense == "max_norm":
        std_rows = np.sqrt(noise_scale * np.maximum(largest - squared, 0.0) / d)
        noisy = g + rng.normal(0.0, 1.0, g.shape) * std_rows[:, None]
    else:
        assert positive is not None
        noisy, _ = marvell_noise(g, positive, noise_scale, rng)
    out: np.ndarray = noisy.astype(np.float32)
    return out

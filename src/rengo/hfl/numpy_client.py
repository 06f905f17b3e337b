"""Numpy-only clients trained by minibatch SGD: the shared loop, and multinomial logistic
(softmax) regression on it (least squares is :mod:`rengo.hfl.linear_client`).

No PyTorch needed. It trains through :class:`~rengo.hfl.local_training.LocalTraining`, so
every mod that acts inside local training (FedProx's proximal term, SCAFFOLD's correction,
frozen layers) runs on it, and every built-in strategy with it. Parameters are
``[W (features x classes), b (classes)]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.data.class_weights import ClassWeight, class_weights, weigh_rows
from rengo.hfl.client import Client


def softmax_init(num_features: int, num_classes: int) -> Parameters:
    """Zero-initialised softmax-regression parameters (a convex problem: the start is moot).

    Parameters
    ----------
    num_features, num_classes
        The model's input columns and classes (64 and 10 for the digits).

    Returns
    -------
    list of numpy.ndarray
        ``[W, b]``: float64 zeros of shapes ``(num_features, num_classes)`` and
        ``(num_classes,)``, as :class:`LogisticRegressionClient` trains them.
    """
    return [
        np.zeros((num_features, num_classes), dtype=np.float64),
        np.zeros(num_classes, dtype=np.float64),
    ]


def softmax_loss_grad(
    params: Parameters,
    X: np.ndarray,
    y: np.ndarray,
    l2: float,
    sample_weight: np.ndarray | None = None,
) -> tuple[float, Parameters]:
    """Mean cross-entropy + (l2 / 2) ||W||^2 and its gradient; with ``sample_weight`` (each
    row's class weight, :func:`rengo.data.class_weights.sample_weights`) each row's term
    counts that many times: ``(1/n) sum_i s_i CE_i``, the form of scikit-learn's
    ``LogisticRegression(class_weight=...)`` with ``C = 1 / (n l2)``."""
    W, _ = params
    probs = softmax_probabilities(params, X)
    n = X.shape[0]
    row_loss = -np.log(probs[np.arange(n), y] + 1e-300)
    if sample_weight is not None:
        row_loss = row_loss * sample_weight
    loss = float(row_loss.mean() + 0.5 * l2 * np.sum(W * W))
    probs[np.arange(n), y] -= 1.0
    if sample_weight is not None:
        probs *= sample_weight[:, None]
    probs /= n
    return loss, [X.T @ probs + l2 * W, probs.sum(axis=0)]


def softmax_probabilities(params: Parameters, X: np.ndarray) -> np.ndarray:
    """Class probabilities (rows x classes) of softmax-regression parameters."""
    W, b = params
    logits = X @ W + b
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def softmax_predict(params: Parameters, X: np.ndarray) -> np.ndarray:
    """Class predictions of softmax-regression parameters."""
    W, b = params
    return np.asarray(np.argmax(X @ W + b, axis=1))


@dataclass
class MinibatchSgdClient(Client):
    """A numpy model on local ``(X, y)`` trained by minibatch SGD on :meth:`loss_grad`;
    ``batch_size=None`` means full-batch GD. Subclasses say what the loss is and how the
    model is scored (:class:`LogisticRegressionClient`,
    :class:`~rengo.hfl.LinearRegressionClient`).

    Config keys read: ``lr``, ``local_epochs``, ``batch_size``, ``seed``. Every step applies
    the batch transforms and gradient corrections client mods installed in
    ``local_training`` and leaves its frozen arrays unchanged.

    Parameters
    ----------
    X, y
        The client's training rows and their labels (class indices or targets).
    X_test, y_test
        Rows :meth:`evaluate` scores (None: it scores the training rows).
    lr, local_epochs, batch_size
        Defaults for the round config's keys of the same names.
    l2
        Weight of ``(l2 / 2) ||W||^2`` in the loss.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    lr: float = 0.1
    local_epochs: int = 1
    batch_size: int | None = 32
    l2: float = 0.0

    def __post_init__(self) -> None:
        super().__init__()
        self.row_weights: np.ndarray | None = None
        """Each training row's weight in the loss (None: unweighted; see
        :class:`LogisticRegressionClient`'s ``class_weight``)."""
        self.class_weights: dict[int, float] | None = None
        """Each class's weight (None: unweighted): a batch whose labels a mod changed is
        weighed by the labels it trains on."""

    def loss_grad(
        self,
        params: Parameters,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, Parameters]:
        """The mean loss over ``(X, y)`` at ``params`` (each row's term times its
        ``sample_weight``, passed only when the client weighs rows) and its gradient."""
        raise NotImplementedError

    def rows_loss_grad(
        self,
        params: Parameters,
        rows: np.ndarray,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, Parameters]:
        """:meth:`loss_grad` of training rows ``rows`` (indices into ``self.X``), given as
        ``X``, ``y`` after any batch transform: what a model with a per-row quantity
        besides the features and label (an exposure) overrides to pick its rows' values."""
        # without weights, as before: a subclass's loss_grad may take no weights
        if sample_weight is None:
            return self.loss_grad(params, X, y)
        return self.loss_grad(params, X, y, sample_weight)

    def _batch_weights(self, y: np.ndarray) -> np.ndarray | None:
        """The batch's row weights, by the labels it trains on (a mod may have flipped
        them); None unweighted."""
        return None if self.class_weights is None else weigh_rows(y, self.class_weights)

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        """Minibatch SGD from ``parameters`` for the configured epochs; metric ``loss`` is
        the mean loss over every batch trained (each before its step), as
        :class:`~rengo.hfl.TorchClient` reports it. When a mod asks
        (``local_training.measure_initial_loss``), the loss on all training rows at
        ``parameters`` is measured first."""
        lr = float(config.get("lr", self.lr))  # type: ignore[arg-type]
        epochs = int(config.get("local_epochs", self.local_epochs))  # type: ignore[arg-type]
        batch = config.get("batch_size", self.batch_size)
        rng = np.random.default_rng(int(config.get("seed", 0)))  # type: ignore[arg-type]
        training = self.local_training
        params = [np.array(p, dtype=np.float64) for p in parameters]
        n = len(self.y)
        if training.measure_initial_loss:
            training.initial_loss, _ = self.rows_loss_grad(
                params, np.arange(n), self.X, self.y, self.row_weights
            )
        size = n if batch in (None, 0) else min(int(batch), n)  # type: ignore[arg-type]
        total_loss, seen = 0.0, 0
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, size):
                idx = order[start : start + size]
                X, y = self.X[idx], self.y[idx]
                if training.batch_transforms:
                    X, y = training.transform_batch(X, y)
                loss, grads = self.rows_loss_grad(params, idx, X, y, self._batch_weights(y))
                total_loss += loss * len(y)
                seen += len(y)
                if training.corrections:
                    grads = [
                        training.correct(i, p, g)
                        for i, (p, g) in enumerate(zip(params, grads, strict=True))
                    ]
                params = [
                    p if i in training.frozen else p - lr * g
                    for i, (p, g) in enumerate(zip(params, grads, strict=True))
                ]
                training.record_step(lr)
        return FitResult(params, n, {"loss": total_loss / max(seen, 1)})

    def evaluation_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows :meth:`evaluate` scores: the test split, else the training rows."""
        if self.X_test is not None and self.y_test is not None:
            return self.X_test, self.y_test
        return self.X, self.y


@dataclass
class LogisticRegressionClient(MinibatchSgdClient):
    """Softmax regression on local ``(X, y)`` (``y``: class indices 0 .. classes - 1), by
    :class:`MinibatchSgdClient`'s minibatch SGD; ``batch_size=None`` means full-batch GD.

    ``class_weight`` weighs each training row's loss by its class's weight, as
    scikit-learn's ``LogisticRegression(class_weight=...)`` does: ``"balanced"``
    (``n / (classes n_k)``) or ``{class: weight}`` (see :mod:`rengo.data.class_weights`).
    ``"balanced"`` counts **this client's own rows**: the weights never leave it and the
    coordinator learns no class count (balancing by the federation's counts would need
    them summed at the coordinator, revealing every client's class counts). A client whose
    rows are all of one class is then refused: give it explicit weights.

    Parameters
    ----------
    X, y, X_test, y_test, lr, local_epochs, batch_size, l2
        As :class:`MinibatchSgdClient`.
    class_weight
        ``None`` (unweighted), ``"balanced"`` or ``{class: weight}``.
    num_classes
        The model's classes (default: the largest label + 1, at least 2): the classes a
        weight may name.
    name
        The client, as errors name it.

    Raises
    ------
    DataError
        A weighted class that is not one of the model's, or ``"balanced"`` on one class.
    """

    class_weight: ClassWeight | str = None
    num_classes: int | None = None
    name: str = "client"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.class_weights = class_weights(self.y, self.class_weight, self.name, self.num_classes)
        self.row_weights = (
            None if self.class_weights is None else weigh_rows(self.y, self.class_weights)
        )

    def loss_grad(
        self,
        params: Parameters,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, Parameters]:
        """Mean cross-entropy (weighted by ``sample_weight``) + (l2 / 2) ||W||^2 and its
        gradient."""
        return softmax_loss_grad(params, X, y, self.l2, sample_weight)

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        """Loss and accuracy on the test split (the training data when there is none)."""
        X, y = self.evaluation_rows()
        loss, _ = softmax_loss_grad(list(parameters), X, y, self.l2)
        acc = float(np.mean(softmax_predict(list(parameters), X) == y))
        return EvaluateResult(loss, len(y), {"accuracy": acc})

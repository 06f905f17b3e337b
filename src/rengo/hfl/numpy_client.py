"""A numpy-only client: multinomial logistic (softmax) regression trained by minibatch SGD.

No PyTorch needed. Supports FedProx's proximal term (``proximal_mu`` in the config) and
SCAFFOLD's control variates (``scaffold_c`` in the config, ``c_i`` in the client state), so
every built-in strategy runs on it. Parameters are ``[W (features x classes), b (classes)]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rengo.core.messages import Config, EvaluateResult, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.client import Client
from rengo.hfl.scaffold_client import ScaffoldCorrection


def softmax_init(num_features: int, num_classes: int) -> Parameters:
    """Zero-initialised softmax-regression parameters (a convex problem: the start is moot)."""
    return [
        np.zeros((num_features, num_classes), dtype=np.float64),
        np.zeros(num_classes, dtype=np.float64),
    ]


def softmax_loss_grad(
    params: Parameters, X: np.ndarray, y: np.ndarray, l2: float
) -> tuple[float, Parameters]:
    """Mean cross-entropy + (l2 / 2) ||W||^2 and its gradient."""
    W, b = params
    logits = X @ W + b
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    probs = exp / exp.sum(axis=1, keepdims=True)
    n = X.shape[0]
    loss = float(-np.log(probs[np.arange(n), y] + 1e-300).mean() + 0.5 * l2 * np.sum(W * W))
    probs[np.arange(n), y] -= 1.0
    probs /= n
    return loss, [X.T @ probs + l2 * W, probs.sum(axis=0)]


def softmax_predict(params: Parameters, X: np.ndarray) -> np.ndarray:
    """Class predictions of softmax-regression parameters."""
    W, b = params
    return np.argmax(X @ W + b, axis=1)


@dataclass
class LogisticRegressionClient(Client):
    """Softmax regression on local ``(X, y)``; ``batch_size=None`` means full-batch GD.

    Config keys read: ``lr``, ``local_epochs``, ``batch_size``, ``proximal_mu``,
    ``scaffold_c``, ``seed``.
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

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        lr = float(config.get("lr", self.lr))  # type: ignore[arg-type]
        epochs = int(config.get("local_epochs", self.local_epochs))  # type: ignore[arg-type]
        batch = config.get("batch_size", self.batch_size)
        mu = float(config.get("proximal_mu", 0.0))  # type: ignore[arg-type]
        rng = np.random.default_rng(int(config.get("seed", 0)))  # type: ignore[arg-type]
        global_params = [np.asarray(p, dtype=np.float64) for p in parameters]
        params = [p.copy() for p in global_params]
        scaffold = ScaffoldCorrection.from_config(config, self.state, params)
        n = len(self.y)
        size = n if batch in (None, 0) else min(int(batch), n)  # type: ignore[arg-type]
        steps, loss = 0, 0.0
        for _ in range(epochs):
            order = rng.permutation(n)
            for start in range(0, n, size):
                idx = order[start : start + size]
                loss, grads = softmax_loss_grad(params, self.X[idx], self.y[idx], self.l2)
                if mu > 0:
                    grads = [
                        g + mu * (p - g0)
                        for g, p, g0 in zip(grads, params, global_params, strict=True)
                    ]
                if scaffold is not None:
                    grads = scaffold.correct(grads)
                params = [p - lr * g for p, g in zip(params, grads, strict=True)]
                steps += 1
        out: Parameters = params
        if scaffold is not None:
            out = params + scaffold.update(global_params, params, steps, lr, self.state)
        return FitResult(out, n, {"loss": loss})

    def evaluate(self, parameters: Parameters, config: Config) -> EvaluateResult:
        X, y = (self.X_test, self.y_test) if self.X_test is not None else (self.X, self.y)
        assert y is not None
        loss, _ = softmax_loss_grad(list(parameters), X, y, self.l2)
        acc = float(np.mean(softmax_predict(list(parameters), X) == y))
        return EvaluateResult(loss, len(y), {"accuracy": acc})

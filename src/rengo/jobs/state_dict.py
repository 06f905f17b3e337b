"""Name a job's trained parameters the way the model the job built names them.

A run store keeps a model as a plain list of arrays; exporting it for serving needs the
names of the model they came from. For ``model.type = "mlp"`` that is
:func:`rengo.hfl.torch_client.make_mlp`'s ``nn.Sequential`` (``0.weight``, ``0.bias``,
``2.weight``...: Linear layers at even indices, ReLUs between). For ``"logistic"`` (numpy
softmax regression) it is the ``torch.nn.Linear(num_features, num_classes)`` that computes
the same logits, so the weight is stored transposed (``num_classes x num_features``); for
``"linear"`` (numpy least squares) the ``torch.nn.Linear(num_features, 1)`` computing the
same (standardised) prediction; for ``"poisson"`` the ``torch.nn.Linear(num_features, 1)``
computing the log of the predicted rate (``exp`` of its output is the rate per unit of
exposure; times a row's exposure, its expected count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rengo.core.errors import ConfigError, DataError

NUMPY_MODELS = ("logistic", "linear", "poisson")
"""The models trained with numpy minibatch SGD on the CPU (no optimiser but plain SGD):
``X @ W + b``."""
MODEL_TYPES = ("mlp", *NUMPY_MODELS)


def _mlp_state(
    parameters: Sequence[np.ndarray], hidden: Sequence[int] | None
) -> dict[str, np.ndarray]:
    if len(parameters) % 2 or not parameters:
        raise DataError(f"an MLP has weight/bias pairs; got {len(parameters)} arrays")
    layers = len(parameters) // 2
    widths = [int(np.shape(parameters[2 * i])[0]) for i in range(layers)]
    if hidden is not None and list(hidden) != widths[:-1]:
        raise DataError(
            f"the stored model has hidden widths {widths[:-1]} but the job says {list(hidden)}"
        )
    state: dict[str, np.ndarray] = {}
    previous: int | None = None
    for i in range(layers):
        weight, bias = np.asarray(parameters[2 * i]), np.asarray(parameters[2 * i + 1])
        if weight.ndim != 2 or bias.shape != (weight.shape[0],):
            raise DataError(f"layer {i}: weight {weight.shape} and bias {bias.shape} do not pair")
        if previous is not None and weight.shape[1] != previous:
            raise DataError(f"layer {i} takes {weight.shape[1]} inputs; the last gave {previous}")
        previous = weight.shape[0]
        state[f"{2 * i}.weight"] = weight
        state[f"{2 * i}.bias"] = bias
    return state


def _logistic_state(parameters: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    if len(parameters) != 2:
        raise DataError(f"softmax regression has 2 arrays (W, b); got {len(parameters)}")
    weight, bias = np.asarray(parameters[0]), np.asarray(parameters[1])
    if weight.ndim != 2 or bias.shape != (weight.shape[1],):
        raise DataError(f"W {weight.shape} and b {bias.shape} are not a softmax regression")
    return {"weight": np.ascontiguousarray(weight.T), "bias": bias}


def model_state_dict(
    model_type: str, parameters: Sequence[np.ndarray], hidden: Sequence[int] | None = None
) -> dict[str, np.ndarray]:
    """The parameters of a job's model as an ordered ``{name: array}`` state dict.

    Parameters
    ----------
    model_type
        ``"mlp"``, ``"logistic"``, ``"linear"`` or ``"poisson"`` (a job file's
        ``model.type``).
    parameters
        The arrays the run stored, in the order the job's clients produce them.
    hidden
        The job's ``model.hidden`` widths, checked against the arrays when given.

    Returns
    -------
    dict
        Names as in the PyTorch module that computes the same function; load it with
        ``make_mlp(...).load_state_dict`` or ``nn.Linear(d, k).load_state_dict`` (``k = 1``
        for a linear or Poisson model; a Poisson model's output is the log rate).

    Raises
    ------
    ConfigError
        Unknown model type.
    DataError
        The arrays do not have the shapes of that model.
    """
    if model_type == "mlp":
        return _mlp_state(parameters, hidden)
    if model_type in NUMPY_MODELS:  # X @ W + b: nn.Linear's weight is W.T
        return _logistic_state(parameters)
    raise ConfigError(f"unknown model type {model_type!r}; choose one of {', '.join(MODEL_TYPES)}")

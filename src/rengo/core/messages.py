"""Typed messages between coordinator and clients, registered with the codec.

``Config`` values are scalars, strings, bytes or numpy arrays (SCAFFOLD sends control
variates this way). Results carry parameters plus a count of examples and metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.codec import register_type
from rengo.core.parameters import Parameters

Scalar = bool | int | float | str | bytes
ConfigValue = Scalar | np.ndarray | list[np.ndarray]
Config = dict[str, ConfigValue]
Metrics = dict[str, Scalar]


@dataclass
class FitIns:
    """What the coordinator sends a client to train: the global model and the round's config.

    Parameters
    ----------
    parameters
        The global model, one array per layer.
    config
        The round's settings for the client (the strategy's ``on_fit_config``).
    """

    parameters: Parameters
    config: Config = field(default_factory=dict)


@dataclass
class FitResult:
    """A client's answer to :class:`FitIns`: its new parameters, how many examples it used and
    any metrics (train loss...). ``num_examples`` weights the client in FedAvg.

    Parameters
    ----------
    parameters
        The client's trained model, arrays of the global model's count and shapes.
    num_examples
        How many examples it trained on (its weight in the average).
    metrics
        Scalar metrics of its training (``loss``...), reported as ``train_*``.
    """

    parameters: Parameters
    num_examples: int
    metrics: Metrics = field(default_factory=dict)


@dataclass
class EncodedUpdate:
    """A fit reply whose update travels compressed (:class:`rengo.hfl.CompressedUpdates`):
    the coordinator decodes it into a :class:`FitResult` before any check or strategy sees it.

    Parameters
    ----------
    codec
        ``"float16"``, ``"int8"`` or ``"topk"``: how ``parts`` encode the update (each
        result array minus the global model's, or minus zero for arrays past the model's).
    parts
        The codec's typed arrays: float16 arrays of the update's shapes; for int8, each
        array's int8 values then its float32 scales; for top-k, the ascending indices into
        the flattened update and their float32 values.
    num_examples
        As :attr:`FitResult.num_examples`.
    metrics
        As :attr:`FitResult.metrics`.
    """

    codec: str
    parts: Parameters
    num_examples: int
    metrics: Metrics = field(default_factory=dict)


@dataclass
class EvaluateIns:
    """What the coordinator sends a client to evaluate.

    Parameters
    ----------
    parameters
        The global model to evaluate.
    config
        The round's settings for the client (the strategy's ``on_evaluate_config``).
    """

    parameters: Parameters
    config: Config = field(default_factory=dict)


@dataclass
class EvaluateResult:
    """A client's evaluation of the global model on its local data.

    Parameters
    ----------
    loss
        The global model's loss on its evaluation rows.
    num_examples
        How many rows it evaluated (its weight in the federated mean).
    metrics
        Other scalar metrics (``accuracy``...).
    """

    loss: float
    num_examples: int
    metrics: Metrics = field(default_factory=dict)


def _parameters(tree: Any) -> Parameters:
    if not isinstance(tree, list) or not all(isinstance(a, np.ndarray) for a in tree):
        raise TypeError("parameters must be a list of arrays")
    return tree


def _dict(tree: Any, what: str) -> dict[str, Any]:
    if not isinstance(tree, dict):
        raise TypeError(f"{what} must be a mapping")
    return tree


_PLAIN = (type(None), bool, int, float, str, bytes, np.ndarray, np.generic)


def _plain_value(value: Any) -> bool:
    """Numbers, strings, bytes, arrays, and lists, tuples and str-keyed dicts of them: what
    a run store can keep (no registered message types inside metrics)."""
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain_value(v) for v in value)
    if isinstance(value, dict):
        return all(_plain_value(v) for v in value.values())
    return False


def _metrics(tree: Any) -> Metrics:
    metrics = _dict(tree, "metrics")
    for name, value in metrics.items():
        if not _plain_value(value):
            raise TypeError(
                f"metric {name!r} holds a {type(value).__name__}: metrics are numbers, "
                "strings, bytes, arrays, or lists and mappings of them"
            )
    return metrics


def _codec_name(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 32:
        raise ValueError(f"codec must be a short name, got {str(value)[:40]!r}")
    return value


def _count(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"num_examples must be a non-negative int, got {value!r}")
    return value


register_type(
    "fit_ins",
    FitIns,
    lambda m: {"parameters": m.parameters, "config": m.config},
    lambda t: FitIns(_parameters(t["parameters"]), _dict(t["config"], "config")),
)
register_type(
    "fit_result",
    FitResult,
    lambda m: {"parameters": m.parameters, "num_examples": m.num_examples, "metrics": m.metrics},
    lambda t: FitResult(
        _parameters(t["parameters"]), _count(t["num_examples"]), _metrics(t["metrics"])
    ),
)
register_type(
    "encoded_update",
    EncodedUpdate,
    lambda m: {
        "codec": m.codec,
        "parts": m.parts,
        "num_examples": m.num_examples,
        "metrics": m.metrics,
    },
    lambda t: EncodedUpdate(
        _codec_name(t["codec"]),
        _parameters(t["parts"]),
        _count(t["num_examples"]),
        _metrics(t["metrics"]),
    ),
)
register_type(
    "evaluate_ins",
    EvaluateIns,
    lambda m: {"parameters": m.parameters, "config": m.config},
    lambda t: EvaluateIns(_parameters(t["parameters"]), _dict(t["config"], "config")),
)
register_type(
    "evaluate_result",
    EvaluateResult,
    lambda m: {"loss": float(m.loss), "num_examples": m.num_examples, "metrics": m.metrics},
    lambda t: EvaluateResult(float(t["loss"]), _count(t["num_examples"]), _metrics(t["metrics"])),
)

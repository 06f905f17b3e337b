"""The networks of SplitNN as plain weights, and PyTorch modules built from them.

A party's network is kept as a list of numpy arrays (weight, bias, weight, bias, ...) so
that its model is plain data (no torch object is needed to hold, compare or export it);
:func:`build_mlp` turns it into a :class:`torch.nn.Sequential` for training and scoring.
Weights are initialised from a numpy generator (PyTorch's default ``Linear`` ranges,
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``), never from torch's global generator, so that
parties training at the same time in threads of one process stay reproducible.

PyTorch is imported only when a network is built: ``import rengo.vfl`` works without it,
and :func:`require_torch` raises an error naming the ``torch`` extra.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rengo.core.errors import MissingExtraError
from rengo.core.install_hint import install_hint

if TYPE_CHECKING:
    import torch

Weights = list[np.ndarray]
"""A multi-layer perceptron's parameters: weight ``(out, in)``, bias ``(out,)``, per layer."""


def require_torch() -> Any:
    """The ``torch`` module.

    Raises
    ------
    MissingExtraError
        Naming the ``torch`` extra, when PyTorch is not installed (an ImportError).
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the test environment has torch
        raise MissingExtraError(
            f"SplitNN needs PyTorch: install rengo with the torch extra, {install_hint('torch')}"
        ) from exc
    return torch


def bottom_sizes(columns: int, hidden: int, embedding: int) -> list[int]:
    """Layer widths of a bottom model: ``[columns, hidden, embedding]`` (no hidden: 0)."""
    return [columns, hidden, embedding] if hidden > 0 else [columns, embedding]


def top_sizes(inputs: int, hidden: int, outputs: int) -> list[int]:
    """Layer widths of the top model: ``[inputs, hidden, outputs]`` (linear: hidden 0)."""
    return [inputs, hidden, outputs] if hidden > 0 else [inputs, outputs]


def init_mlp(sizes: Sequence[int], rng: np.random.Generator) -> Weights:
    """Fresh weights for consecutive ``Linear`` layers of ``sizes``, PyTorch's default
    ranges, drawn from ``rng`` (float32)."""
    weights: Weights = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        bound = 1.0 / np.sqrt(fan_in)
        weights.append(rng.uniform(-bound, bound, (fan_out, fan_in)).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    return weights


def build_mlp(weights: Weights, *, final_relu: bool) -> torch.nn.Sequential:
    """A ``Sequential`` of ``Linear`` layers with ReLU between them (and after the last one
    when ``final_relu``), holding copies of ``weights``."""
    lib = require_torch()
    layers: list[Any] = []
    count = len(weights) // 2
    for k in range(count):
        weight, bias = weights[2 * k], weights[2 * k + 1]
        linear = lib.nn.Linear(weight.shape[1], weight.shape[0])
        with lib.no_grad():
            linear.weight.copy_(lib.from_numpy(np.array(weight, dtype=np.float32)))
            linear.bias.copy_(lib.from_numpy(np.array(bias, dtype=np.float32)))
        layers.append(linear)
        if k + 1 < count or final_relu:
            layers.append(lib.nn.ReLU())
    module: torch.nn.Sequential = lib.nn.Sequential(*layers)
    return module


def mlp_weights(module: torch.nn.Module) -> Weights:
    """The parameters of ``module`` as float32 numpy copies, in :data:`Weights` order."""
    return [p.detach().cpu().numpy().astype(np.float32).copy() for p in module.parameters()]


def make_optimizer(params: Any, name: str, learning_rate: float) -> Any:
    """A fresh ``torch.optim`` optimizer (``"adam"`` or ``"sgd"``) over ``params``."""
    torch = require_torch()
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    return torch.optim.SGD(params, lr=learning_rate)


def party_rng(seed: int | None, party: str, what: str) -> np.random.Generator:
    """A generator for one party's ``what`` (``"init"``, ``"noise"``): derived from ``seed``
    and the party's name when given (reproducible), else from the OS's entropy. Pass the
    party's own seed, never the run's, which every party knows (see
    :attr:`~rengo.vfl.registry.RoleContext.own_seed`)."""
    if seed is None:
        return np.random.default_rng()
    digest = hashlib.blake2b(f"rengo-splitnn/{party}/{what}".encode(), digest_size=16).digest()
    salt = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng([int(seed) & (2**63 - 1), *salt])

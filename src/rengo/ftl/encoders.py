"""Each party's encoder: a PyTorch module mapping its own features into the common space.

Federated transfer learning needs more of an encoder than its output: the secure protocol
multiplies encrypted gradient terms by the encoder's per-row Jacobians ``du_j/dtheta`` (a
plaintext the party never sends; Liu et al. 2020, eqs. 9-12), and the source needs the
Jacobian of its translator ``Phi(theta)``. Both come from :mod:`torch.func` (one
vector-Jacobian product per output, vectorised). Encoders run in float64 and in evaluation
mode, row by row: the Jacobians assume each row's representation depends on that row alone,
so batch-dependent layers (batch norm in training mode) and dropout do not apply.

Weights start from a numpy generator seeded by the party's own seed and its role, never from
torch's global generator nor from the plan's seed (which the peer knows): by default the
party draws its own seed from the OS, so the peer never knows its encoder; a party given
the same own seed (``own_seed``, ``rengo vfl party --own-seed``) starts from the same
weights in one process (simulation) or in two (deployment).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rengo.core.errors import ConfigError, DataError, MissingExtraError
from rengo.core.install_hint import install_hint

try:
    import torch
    from torch import nn
    from torch.func import functional_call, jacrev, vmap
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(f"rengo.ftl's encoders need PyTorch: {install_hint('torch')}") from exc


_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def build_encoder(
    in_features: int,
    hidden: Sequence[int],
    dim: int,
    activation: str,
    seed: Sequence[int],
) -> nn.Module:
    """A float64 multi-layer perceptron ``in_features -> hidden... -> dim``.

    Weights and biases are drawn uniformly from ``+-1/sqrt(fan_in)`` (PyTorch's default
    scale for linear layers) by a numpy generator seeded with ``seed``.

    Parameters
    ----------
    in_features
        The party's number of feature columns.
    hidden
        Hidden layer widths (empty: a linear encoder).
    dim
        The common representation size.
    activation
        ``"tanh"``, ``"relu"`` or ``"sigmoid"`` after each hidden layer.
    seed
        Entropy for the initial weights (the party's own seed and its role; never the plan's).

    Returns
    -------
    torch.nn.Module
        The encoder, in evaluation mode.

    Raises
    ------
    ConfigError
        For an unknown activation or a non-positive size.
    """
    if activation not in _ACTIVATIONS:
        raise ConfigError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    if in_features < 1 or dim < 1:
        raise ConfigError(f"an encoder needs >= 1 input and output, got {in_features} -> {dim}")
    rng = np.random.default_rng(list(seed))
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [_linear(width, size, rng), _ACTIVATIONS[activation]()]
        width = size
    layers.append(_linear(width, dim, rng))  # the representation is the last layer's output
    return nn.Sequential(*layers).eval()


def _linear(fan_in: int, size: int, rng: np.random.Generator) -> nn.Linear:
    linear = nn.Linear(fan_in, size).double()
    bound = 1.0 / np.sqrt(fan_in)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(rng.uniform(-bound, bound, (size, fan_in))))
        linear.bias.copy_(torch.from_numpy(rng.uniform(-bound, bound, size)))
    return linear


def check_encoder(module: nn.Module, in_features: int, dim: int, who: str) -> nn.Module:
    """``module`` in float64 evaluation mode, after checking it maps ``in_features`` columns
    to ``dim`` and holds no batch-norm layer (rows must be encoded independently).

    Raises
    ------
    ConfigError
        Naming ``who`` and what does not fit.
    """
    if not isinstance(module, nn.Module):
        raise ConfigError(f"{who}'s encoder must be a torch.nn.Module, got {type(module).__name__}")
    if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules()):
        raise ConfigError(
            f"{who}'s encoder has a batch-norm layer; federated transfer learning encodes rows "
            "independently (per-row Jacobians), so use layer norm or none"
        )
    module = module.double().eval()
    with torch.no_grad():
        out = module(torch.zeros(2, in_features, dtype=torch.float64))
    if tuple(out.shape) != (2, dim):
        raise ConfigError(
            f"{who}'s encoder maps {in_features} features to shape {tuple(out.shape[1:])}, "
            f"but the representation has dim = {dim}"
        )
    return module


def parameter_count(module: nn.Module) -> int:
    """Trainable scalars of ``module``."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def flat_parameters(module: nn.Module) -> np.ndarray:
    """Every trainable parameter, flattened in ``named_parameters`` order (a copy)."""
    return np.concatenate(
        [p.detach().cpu().numpy().ravel() for p in module.parameters() if p.requires_grad]
    )


def parameter_arrays(module: nn.Module) -> list[np.ndarray]:
    """The module's ``state_dict`` arrays, in order (copies)."""
    return [t.detach().cpu().numpy().copy() for t in module.state_dict().values()]


def load_parameter_arrays(module: nn.Module, arrays: Sequence[np.ndarray]) -> nn.Module:
    """Load ``arrays`` (``state_dict`` order) into ``module`` and return it.

    Raises
    ------
    DataError
        If the count or a shape does not fit.
    """
    keys = list(module.state_dict())
    if len(keys) != len(arrays):
        raise DataError(f"the encoder has {len(keys)} tensors, the model holds {len(arrays)}")
    state = {k: torch.from_numpy(np.array(a)) for k, a in zip(keys, arrays, strict=True)}
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(f"the model's weights do not fit the encoder: {exc}") from exc
    return module


def represent(module: nn.Module, features: np.ndarray) -> np.ndarray:
    """``u = f(x)`` for every row (float64, no gradient)."""
    with torch.no_grad():
        out = module(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64)))
    result: np.ndarray = out.numpy().astype(np.float64, copy=True)
    return result


def _params(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in module.named_parameters() if v.requires_grad}


def _flatten(jacobian: dict[str, torch.Tensor], lead: int) -> np.ndarray:
    parts = [j.reshape(*j.shape[:lead], -1) for j in jacobian.values()]
    flat: np.ndarray = torch.cat(parts, dim=lead).numpy().astype(np.float64, copy=True)
    return flat


def row_jacobians(module: nn.Module, features: np.ndarray) -> np.ndarray:
    """``J[j, i, :] = d u_j[i] / d theta``: shape ``(rows, dim, parameters)``.

    Parameters are in :func:`flat_parameters` order.
    """
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64))
    params = _params(module)
    if len(x) == 0:
        width = parameter_count(module)
        dim = represent(module, np.zeros((1, x.shape[1]))).shape[1]
        return np.zeros((0, dim, width))

    def encode_row(p: dict[str, torch.Tensor], row: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = functional_call(module, p, (row.unsqueeze(0),)).squeeze(0)
        return out

    jacobian = vmap(jacrev(encode_row), in_dims=(None, 0))(params, x)
    return _flatten(jacobian, 2)


def translator_jacobian(module: nn.Module, features: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """``d vec(Phi) / d theta`` for ``Phi = codes^T f(X) / N``: shape ``(C * dim, parameters)``.

    ``codes`` holds one +1/-1 row per feature row (one column per class, one for binary);
    ``vec`` is row-major (class-major). One forward pass and ``C * dim`` batched backward
    passes over every row.
    """
    x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64))
    y = torch.from_numpy(np.ascontiguousarray(codes, dtype=np.float64))
    params = [p for p in module.parameters() if p.requires_grad]
    with torch.enable_grad():
        phi = (y.T @ module(x) / len(x)).reshape(-1)
        basis = torch.eye(len(phi), dtype=phi.dtype)
        grads = torch.autograd.grad(phi, params, grad_outputs=basis, is_grads_batched=True)
    flat: np.ndarray = torch.cat([g.reshape(len(phi), -1) for g in grads], dim=1).numpy()
    return flat.astype(np.float64, copy=True)


def apply_gradient(
    module: nn.Module, optimizer: torch.optim.Optimizer, gradient: np.ndarray
) -> None:
    """Take one optimizer step along ``gradient`` (a flat vector in parameter order)."""
    offset = 0
    for p in module.parameters():
        if not p.requires_grad:
            continue
        size = p.numel()
        p.grad = torch.from_numpy(
            np.ascontiguousarray(gradient[offset : offset + size], dtype=np.float64)
        ).reshape(p.shape)
        offset += size
    if offset != len(gradient):
        raise DataError(f"a gradient of {len(gradient)} values for {offset} parameters")
    optimizer.step()


def make_optimizer(module: nn.Module, name: str, learning_rate: float) -> torch.optim.Optimizer:
    """Adam or SGD over the module's trainable parameters."""
    params = [p for p in module.parameters() if p.requires_grad]
    if name == "adam":
        return torch.optim.Adam(params, lr=learning_rate)
    if name == "sgd":
        return torch.optim.SGD(params, lr=learning_rate)
    raise ConfigError(f"optimizer must be 'adam' or 'sgd', got {name!r}")

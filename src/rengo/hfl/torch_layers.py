"""Where a torch model's layers sit in its parameter list, for personalisation strategies.

Parameters travel as the ``state_dict`` arrays in order (buffers included), and personal
arrays are named by position (:class:`~rengo.hfl.FedPer`'s ``personal_arrays``). These
helpers find the positions of a model's batch-norm layers (FedBN) or of any submodule (a
FedPer / FedRep head).
"""

from __future__ import annotations

from rengo.core.errors import ConfigError, MissingExtraError
from rengo.core.install_hint import install_hint

try:
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingExtraError(
        f"rengo.hfl.torch_layers needs PyTorch: {install_hint('torch')}"
    ) from exc


def module_arrays(model: nn.Module, prefix: str) -> list[int]:
    """Positions of the ``state_dict`` arrays under submodule ``prefix`` (e.g. ``"head"`` or
    ``"4"`` in a ``Sequential``).

    Raises
    ------
    ConfigError
        If no array sits under ``prefix``.
    """
    keys = list(model.state_dict())
    found = [i for i, key in enumerate(keys) if key == prefix or key.startswith(prefix + ".")]
    if not found:
        raise ConfigError(f"the model has no parameters under {prefix!r}; its arrays: {keys}")
    return found


def batch_norm_arrays(model: nn.Module) -> list[int]:
    """Positions of every batch-norm layer's arrays (affine weight and bias, running mean
    and variance, batch count): what FedBN keeps local.

    Raises
    ------
    ConfigError
        If the model has no batch-norm layer.
    """
    names = [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.modules.batchnorm._BatchNorm)
    ]
    if not names:
        raise ConfigError("the model has no batch-norm layer for FedBN to keep local")
    return sorted(i for name in names for i in module_arrays(model, name))


def personal_arrays_spec(positions: list[int]) -> str:
    """``"3,4,5"``: positions as a strategy's ``personal_arrays`` option."""
    return ",".join(str(i) for i in positions)

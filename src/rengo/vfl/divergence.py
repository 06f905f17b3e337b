"""Training that diverged, named for what the user can change.

A vertical party whose own values (representations, embeddings, losses) stop being finite,
or outgrow the fixed-point range its ciphertexts hold, says so itself, before sending them,
naming the epoch, the batch and the learning rate: otherwise its peer reports a malformed
message (a ``ProtocolError`` that blames the sender) or a fixed-point overflow that suggests
lowering the precision, neither of which points at the step size.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from rengo.core.errors import ConfigError


def diverged(party: str, what: str, epoch: int, batch: int, learning_rate: float) -> ConfigError:
    """The error of a party whose ``what`` stopped being finite (or representable) in
    ``batch`` of ``epoch`` (both 0-based; the message counts from 1)."""
    return ConfigError(
        f"{party}: training diverged in epoch {epoch + 1}, batch {batch + 1}: {what}; "
        f"learning_rate={learning_rate:g} is too high for this data (or its columns are not "
        "standardised): lower it"
    )


def require_finite(
    values: Iterable[np.ndarray],
    party: str,
    what: str,
    epoch: int,
    batch: int,
    learning_rate: float,
) -> None:
    """Raise :func:`diverged` unless every array of ``values`` is finite.

    Raises
    ------
    ConfigError
        Naming the party, ``what``, the epoch, the batch and the learning rate.
    """
    for value in values:
        if not np.isfinite(value).all():
            raise diverged(party, f"its {what} stopped being finite", epoch, batch, learning_rate)

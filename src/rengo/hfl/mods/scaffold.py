"""Client half of SCAFFOLD (Karimireddy et al. 2020), shared by the numpy and torch clients.

Each local step's gradient is corrected by ``c - c_i``; after K steps of size lr the client
sets ``c_i+ = c_i - c + (x - y) / (K lr)`` (option II) and returns ``c_i+ - c_i``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.messages import Config
from rengo.core.parameters import Parameters

CONTROL_KEY = "scaffold_c"
STATE_KEY = "scaffold_c_i"


@dataclass
class ScaffoldCorrection:
    """The server control variate ``c`` and this client's ``c_i`` for one round."""

    c: list[np.ndarray]
    c_i: list[np.ndarray]

    @classmethod
    def from_config(
        cls, config: Config, state: dict[str, Any], like: Sequence[np.ndarray]
    ) -> ScaffoldCorrection | None:
        """``None`` unless the strategy sent a control variate (i.e. it is SCAFFOLD)."""
        c = config.get(CONTROL_KEY)
        if c is None:
            return None
        c_list = [np.asarray(a, dtype=np.float64) for a in c]  # type: ignore[union-attr]
        stored = state.get(STATE_KEY)
        c_i = (
            [np.asarray(a, dtype=np.float64) for a in stored]
            if stored
            else [np.zeros(p.shape, dtype=np.float64) for p in like]
        )
        return cls(c_list, c_i)

    def correct(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``g + c - c_i`` for each array."""
        return [g + c - ci for g, c, ci in zip(grads, self.c, self.c_i, strict=True)]

    def update(
        self,
        x: Sequence[np.ndarray],
        y: Sequence[np.ndarray],
        steps: int,
        lr: float,
        state: dict[str, Any],
    ) -> Parameters:
        """Store ``c_i+`` in ``state`` and return ``delta c_i`` (float32) to send."""
        scale = 1.0 / (max(steps, 1) * lr)
        new_ci = [
            ci - c + (np.asarray(xx, np.float64) - np.asarray(yy, np.float64)) * scale
            for ci, c, xx, yy in zip(self.c_i, self.c, x, y, strict=True)
        ]
        # np.asarray: arithmetic on 0-d arrays (e.g. BatchNorm counters) yields numpy scalars.
        delta = [np.asarray(n - o, np.float32) for n, o in zip(new_ci, self.c_i, strict=True)]
        state[STATE_KEY] = [np.asarray(a, np.float32) for a in new_ci]
        return delta

"""The label party's exposure: how long each row was observed (years insured, say), the
known factor of a count model's mean ``E[y] = exposure * exp(x w + b)`` (a GLM's offset
``log(exposure)``). Like the labels it never leaves the label party; the checks are
:mod:`rengo.data.exposure`'s, shared with horizontal jobs.
"""

from __future__ import annotations

from rengo.data.exposure import FLOOR_RATIO, check_exposure

__all__ = ["FLOOR_RATIO", "check_exposure"]

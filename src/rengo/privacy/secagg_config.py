"""The settings of secure aggregation (SecAgg+, Bell et al. CCS 2020) as an option dataclass.

Job files (``[privacy] secagg = true`` plus these fields, prefixed ``secagg_``), the API
(:class:`rengo.hfl.SecAggPlus`) and the docs all read this class; defaults live here.

What it protects: the coordinator learns only the (weighted) sum of the surviving clients'
updates, never one client's, as long as fewer than ``threshold`` of each client's
neighbours collude with it. What it does not: the released model itself still reflects every
client; combine with central DP (``dp = "central"``, ``clip_at = "client"``), whose noise is
added by the coordinator to the unmasked sum, for that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rengo.core.options import OptionError, check_options, option


@dataclass(frozen=True)
class SecAgg:
    """SecAgg+ settings: communication graph, reconstruction threshold and quantisation.

    Raises
    ------
    OptionError
        For an out-of-range setting (the message names the option).
    """

    neighbours: int = option(
        0,
        "Neighbours k of each client in the k-regular graph (0: everyone, i.e. SecAgg; "
        "Bell et al. suggest O(log n)).",
        ge=0,
    )
    threshold: float = option(
        0.5,
        "Shares needed to rebuild a client's secrets, as a fraction of its neighbours "
        "(t = floor(fraction * k) + 1; > 1/2 keeps the coordinator from learning both).",
        gt=0.0,
        lt=1.0,
    )
    clip_range: float = option(
        1.0, "Each update coordinate is clipped to [-clip_range, clip_range] before masking."
    )
    quantisation_bits: int = option(
        16, "Levels 2^bits in the clip range (rounding error clip_range / (2^bits - 1)).", ge=1
    )
    max_examples: int = option(
        65536,
        "Largest example count a client may pre-weight its update by (sizes the ring).",
        ge=1,
    )
    signed: bool = option(
        False,
        "Clients sign their keys and the survivor set with their federation certificates and "
        "check each other's signatures, so a coordinator that swaps keys, rigs the graph or "
        "tells clients different survivor sets is refused (Bonawitz et al. 2017, Section 6).",
    )

    def __post_init__(self) -> None:
        check_options(self)
        if not (math.isfinite(self.clip_range) and self.clip_range > 0):
            raise OptionError("clip_range", f"must be finite and > 0, got {self.clip_range}")
        if self.quantisation_bits > 32:
            raise OptionError("quantisation_bits", "must be <= 32")
        if self.neighbours == 1:
            raise OptionError("neighbours", "must be 0 (everyone) or >= 2")

    def graph_degree(self, clients: int) -> int:
        """``k`` for a round of ``clients``: ``neighbours`` (even, at most ``clients - 1``),
        or ``clients - 1`` when 0."""
        even = self.neighbours + self.neighbours % 2
        if self.neighbours == 0 or even >= clients - 1:
            return clients - 1
        return even

    def reconstruction_threshold(self, degree: int) -> int:
        """``t = floor(threshold * k) + 1``, at most ``k``."""
        return min(degree, math.floor(self.threshold * degree) + 1)

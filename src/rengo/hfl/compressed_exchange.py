"""Compressed updates as a round workflow: one exchange per client, as
:class:`~rengo.hfl.workflow.SingleExchange`, with each client's update encoded on its way
to the coordinator and decoded - every part checked - before any result check or the
strategy sees it, so every strategy, the result checks, central DP's clipping and
contribution accounting work on the decoded update unchanged.

How it composes with privacy:

* **Central DP** (:class:`~rengo.hfl.DifferentialPrivacy`): the coordinator clips the
  *decoded* update of every client (``clip_at = "client"`` clips on the client too, before
  encoding, and the coordinator clips again), so the clip norm bounds each client's
  influence whatever the codec did to the norm (int8's stochastic rounding and top-k's
  error feedback can raise it); the sensitivity, the noise and the accountant are those of
  the run without compression. Error feedback carries a client's unsent update into later
  rounds, each of which is clipped and accounted as any round is.
* **Secure aggregation** (:class:`~rengo.hfl.SecAggPlus`) is another workflow and cannot be
  combined with this one: SecAgg+ quantises every update into its ring already, and the
  coordinator never sees an update to decode (a job with both is refused).
* **Local DP** (DP-SGD in the client) is done before the update exists: compression is
  post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from rengo.core.errors import ClientFailure, ConfigError
from rengo.core.messages import EncodedUpdate, FitResult
from rengo.core.options import options_to_wire
from rengo.core.parameters import Parameters
from rengo.hfl.mods.compression import CompressUpdateMod
from rengo.hfl.strategy.base import Strategy, WeightedSum, wrapped_strategies
from rengo.hfl.update_compression import (
    UpdateCompression,
    compression_config,
    decode_update,
    update_bases,
)
from rengo.hfl.workflow import FitRound


@dataclass
class CompressedUpdates:
    """Clients send their fit update compressed: ``simulate(..., workflow=
    CompressedUpdates("topk", fraction=0.01))`` or ``[compression] update = "topk"`` in a job.

    Parameters
    ----------
    settings
        The codec and its options (:class:`~rengo.hfl.UpdateCompression`), or the codec's
        name (``"float16"``, the default; ``"int8"``, ``"topk"``; ``"none"`` runs the
        default exchange).
    **options
        The other fields of :class:`~rengo.hfl.UpdateCompression` by name (``fraction``,
        ``chunk``, ``error_feedback``).

    Raises
    ------
    ConfigError
        For an unknown codec or an option out of range.
    """

    settings: UpdateCompression

    def __init__(self, settings: UpdateCompression | str = "float16", **options: Any) -> None:
        if isinstance(settings, UpdateCompression):
            if options:
                raise TypeError("give either UpdateCompression(...) or its options, not both")
            self.settings = settings
        else:
            self.settings = UpdateCompression(update=settings, **options)  # type: ignore[arg-type]
        # the round-config entries telling each client how to compress: the same every round
        self._entries = compression_config(self.settings) if self.settings.enabled else {}

    def client_mods(self) -> tuple[str, ...]:
        """The ``compress_update`` client mod (none when compression is off)."""
        return (CompressUpdateMod.name,) if self.settings.enabled else ()

    def check_strategy(self, strategy: Strategy, parameters: Parameters) -> None:
        """Refuse a strategy whose clients send something other than a model to take the
        update of (q-FedAvg sends its own step and ``h_k``).

        Raises
        ------
        ConfigError
            Naming the strategy.
        """
        from rengo.hfl.strategy.qfedavg import QFedAvg

        if self.settings.enabled and any(
            isinstance(s, QFedAvg) for s in wrapped_strategies(strategy)
        ):
            raise ConfigError(
                f"update compression ({self.settings.describe()}) encodes each client's model "
                f"minus the global model, and {strategy.name}'s clients send their step and "
                "h_k instead of a model: run it without compression"
            )

    def run(self, fit_round: FitRound) -> WeightedSum:
        """Ask each client for its compressed update; fold every one that decodes and
        passes the result checks."""
        strategy = fit_round.strategy
        acc = strategy.accumulator(fit_round.server_round, fit_round.parameters)
        decode = None
        if self.settings.enabled:
            for _, ins in fit_round.instructions:
                ins.config.update(self._entries)
            # what every client's update is taken against: made once for the round
            bases = update_bases(fit_round.parameters, fit_round.reference)
            decode = partial(self._decoded, fit_round, bases)
        for client_id, result in fit_round.fit_results(decode=decode):
            strategy.add_result(acc, client_id, result)
        return acc

    def _decoded(
        self, fit_round: FitRound, bases: list[np.ndarray], client_id: str, value: Any
    ) -> Any:
        if isinstance(value, FitResult):
            raise ClientFailure(
                client_id,
                f"sent its update uncompressed; the round asked for {self.settings.describe()}"
                " (its rengo lacks the compress_update client mod?)",
            )
        if not isinstance(value, EncodedUpdate):
            return value  # refused by the result checks, naming its type
        arrays = decode_update(
            value, self.settings, fit_round.parameters, fit_round.reference, bases=bases
        )
        return FitResult(arrays, value.num_examples, value.metrics)


def compression_settings(workflow: object | None) -> dict[str, Any]:
    """``{"compression": {...}}`` for a run whose workflow compresses updates (empty
    otherwise): what the run's record says about how updates travelled."""
    if isinstance(workflow, CompressedUpdates) and workflow.settings.enabled:
        return {"compression": options_to_wire(workflow.settings)}
    return {}


def keeps_residuals(workflow: object | None) -> bool:
    """Whether ``workflow``'s clients keep an error-feedback residual between rounds (top-k
    with error feedback): client state a resumed simulation does not have."""
    return (
        isinstance(workflow, CompressedUpdates)
        and workflow.settings.update == "topk"
        and workflow.settings.error_feedback
    )

"""Compressed exchanges as a round workflow: one exchange per client, as
:class:`~rengo.hfl.workflow.SingleExchange`, with each client's update encoded on its way
to the coordinator and decoded - every part checked - before any result check or the
strategy sees it, so every strategy, the result checks, central DP's clipping and
contribution accounting work on the decoded update unchanged.

The global model can travel compressed too (``model = "float16"`` or ``"int8"``; see
:mod:`rengo.hfl.model_compression`): the coordinator sends ``Q(w)``, keeps ``w``, and
re-bases each reply on ``w`` (``w + m_k - Q(w)``) before any check or the strategy sees it;
with update compression the decoded update is already relative to ``Q(w)`` and decoding it
on ``w`` is that re-basing. Evaluation instructions carry the same kind of compressed model
(the clients evaluate what they would train from); central evaluation uses ``w``.

How it composes with privacy:

* **Central DP** (:class:`~rengo.hfl.DifferentialPrivacy`): the coordinator clips the
  *decoded* update of every client (``clip_at = "client"`` clips on the client too, before
  encoding, and the coordinator clips again), so the clip norm bounds each client's
  influence whatever the codec did to the norm (int8's stochastic rounding and top-k's
  error feedback can raise it); the sensitivity, the noise and the accountant are those of
  the run without compression. Error feedback carries a client's unsent update into later
  rounds, each of which is clipped and accounted as any round is.
* **Secure aggregation** (:class:`~rengo.hfl.SecAggPlus`) is another workflow: SecAgg+
  quantises every update into its ring already, and the coordinator never sees an update to
  decode, so update compression under it is refused. The model can travel compressed under
  it (``SecAggPlus(model="float16")``, or ``[compression] model`` with ``update = "none"``
  in a job): each client masks its update against the model it decoded, and the
  coordinator adds the unmasked sum to its exact ``w``, the same re-basing.
* **Local DP** (DP-SGD in the client) is done before the update exists: compression is
  post-processing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from rengo.core.errors import ClientFailure, ConfigError
from rengo.core.messages import EncodedUpdate, EvaluateIns, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl.model_compression import (
    downlink_problem,
    rebase,
    send_compressed_model,
    send_evaluation_model,
)
from rengo.hfl.mods.chain import FIT
from rengo.hfl.mods.compression import CompressUpdateMod, DecompressModelMod
from rengo.hfl.strategy.base import Strategy, WeightedSum, wrapped_strategies
from rengo.hfl.update_compression import (
    UpdateCompression,
    compression_config,
    decode_update,
    recorded_settings,
    update_bases,
)
from rengo.hfl.workflow import FitRound


@dataclass
class CompressedUpdates:
    """Clients send their fit update compressed: ``simulate(..., workflow=
    CompressedUpdates("topk", fraction=0.01))`` or ``[compression] update = "topk"`` in a job;
    with ``model="float16"`` (or ``"int8"``) the global model travels to them compressed
    too: ``CompressedUpdates("topk", fraction=0.01, model="float16")``, or
    ``CompressedUpdates("none", model="int8")`` for the model alone.

    Parameters
    ----------
    settings
        The update's codec and its options (:class:`~rengo.hfl.UpdateCompression`), or the
        codec's name (``"float16"``, the default; ``"int8"``, ``"topk"``; ``"none"``: the
        update travels as it is). With a compressed ``model`` name it: ``"none"`` for the
        model alone.
    **options
        The other fields of :class:`~rengo.hfl.UpdateCompression` by name (``fraction``,
        ``chunk``, ``error_feedback``, ``model``).

    Raises
    ------
    ConfigError
        For an unknown codec or an option out of range.
    TypeError
        For options beside an :class:`~rengo.hfl.UpdateCompression`, or a compressed
        ``model`` without the update's codec.
    """

    settings: UpdateCompression

    def __init__(self, settings: UpdateCompression | str | None = None, **options: Any) -> None:
        if isinstance(settings, UpdateCompression):
            if options:
                raise TypeError("give either UpdateCompression(...) or its options, not both")
            self.settings = settings
        else:
            self.settings = UpdateCompression(update=_update_codec(settings, options), **options)
        # the round-config entries telling each client how to compress: the same every round
        self._entries = compression_config(self.settings) if self.settings.enabled else {}

    def client_mods(self) -> tuple[str, ...]:
        """``decompress_model`` (outermost: the update is taken against the model the client
        received) when the model is compressed, ``compress_update`` when updates are."""
        names = (DecompressModelMod.name,) if self.settings.compresses_model else ()
        return names + ((CompressUpdateMod.name,) if self.settings.enabled else ())

    def check_strategy(self, strategy: Strategy, parameters: Parameters) -> None:
        """Refuse a strategy whose clients send something other than a model to take the
        update of or re-base (q-FedAvg sends its own step and ``h_k``), and an initial model
        the model codec cannot send (a value beyond float16's range).

        Raises
        ------
        ConfigError
            Naming the strategy, or the array and the codec to use instead.
        """
        from rengo.hfl.strategy.qfedavg import QFedAvg

        problem = self.model_problem(parameters)  # before the run is recorded
        if problem is not None:
            raise ConfigError(f"the initial model cannot be sent: {problem}")
        if not any(isinstance(s, QFedAvg) for s in wrapped_strategies(strategy)):
            return
        if self.settings.enabled:
            raise ConfigError(
                f"update compression ({self.settings.describe()}) encodes each client's model "
                f"minus the global model, and {strategy.name}'s clients send their step and "
                "h_k instead of a model: run it without compression"
            )
        if self.settings.compresses_model:
            raise ConfigError(
                f"model compression ({self.settings.model}) re-bases each client's model on "
                f"the exact global model, and {strategy.name}'s clients send their step and "
                "h_k instead of a model, computed at the model they received: run it with "
                'model = "none"'
            )

    def model_problem(self, parameters: Parameters) -> str | None:
        """Why ``parameters`` cannot travel to the clients with the model codec (a value
        beyond float16's range), or None; the coordinator asks before it adopts a round's
        new model, so a model growing past the codec fails its round and the last model
        that can travel is kept (see :class:`~rengo.hfl.workflow.FitWorkflow`)."""
        return downlink_problem(self.settings, parameters)

    def run(self, fit_round: FitRound) -> WeightedSum:
        """Send each client the (compressed) model and ask for its compressed update; fold
        every reply that decodes and passes the result checks, re-based on the exact model.

        Raises
        ------
        RoundFailure
            If the global model cannot be encoded (a value beyond float16's range).
        """
        strategy = fit_round.strategy
        acc = strategy.accumulator(fit_round.server_round, fit_round.parameters)
        received = None
        if self.settings.compresses_model:
            received = send_compressed_model(
                self.settings, fit_round.server_round, fit_round.seed, fit_round.parameters,
                FIT, [ins for _, ins in fit_round.instructions],
            )  # fmt: skip
        decode = None
        if self.settings.enabled:
            for _, ins in fit_round.instructions:
                ins.config.update(self._entries)
            # what every client's update is taken against: made once for the round (the
            # exact model: the client's update is against what it received, so this is
            # the re-basing too)
            bases = update_bases(fit_round.parameters, fit_round.reference)
            decode = partial(self._decoded, fit_round, bases)
        elif received is not None:
            decode = partial(_rebased, fit_round.parameters, received)
        for client_id, result in fit_round.fit_results(decode=decode):
            strategy.add_result(acc, client_id, result)
        return acc

    def prepare_evaluate(
        self,
        server_round: int,
        seed: int,
        parameters: Parameters,
        instructions: list[tuple[str, EvaluateIns]],
    ) -> None:
        """Put the compressed model in every evaluation instruction (the clients evaluate
        the kind of model they train from; central evaluation uses the exact one).

        Raises
        ------
        RoundFailure
            If the model cannot be encoded (a value beyond float16's range).
        """
        send_evaluation_model(self.settings, server_round, seed, parameters, instructions)

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


def _update_codec(settings: str | None, options: dict[str, Any]) -> Any:
    """The update's codec :class:`CompressedUpdates` was given, positionally or by the
    job key's name (``update="int8"``, taken out of ``options``): ``"float16"`` when unsaid,
    unless a compressed ``model`` is asked for, when "the model alone" and "both" are
    equally likely readings and the caller must say which.

    Raises
    ------
    TypeError
        For ``CompressedUpdates(model=...)`` without the update's codec, or for the codec
        given both ways.
    """
    if "update" in options:
        if settings is not None:
            raise TypeError(
                f"CompressedUpdates got the update's codec twice ({settings!r} and "
                f"update={options['update']!r}): give it once"
            )
        return options.pop("update")
    if settings is not None:
        return settings
    model = options.get("model", "none")
    if model != "none":
        raise TypeError(
            f"CompressedUpdates(model={model!r}) leaves the update's codec unsaid: "
            f'CompressedUpdates("none", model={model!r}) compresses the model alone, '
            f'CompressedUpdates("float16", model={model!r}) both ways'
        )
    return "float16"


def _rebased(global_model: Parameters, received: Parameters, client_id: str, value: Any) -> Any:
    """A plain fit reply trained from ``received`` (``Q(w)``), re-based on the exact model
    (anything else goes on to the result checks, which name what is wrong with it)."""
    if not isinstance(value, FitResult):
        return value
    arrays = rebase(value.parameters, global_model, received)
    return FitResult(arrays, value.num_examples, value.metrics)


def compression_settings(workflow: object | None) -> dict[str, Any]:
    """``{"compression": {...}}`` for a run whose workflow compresses updates or the model
    (:class:`CompressedUpdates`, or :class:`~rengo.hfl.SecAggPlus` with ``model``; empty
    otherwise): what the run's record says about how they travelled (``model`` only when
    set, so older runs still resume)."""
    from rengo.hfl.secagg.workflow import SecAggPlus

    if isinstance(workflow, CompressedUpdates):
        settings = workflow.settings
    elif isinstance(workflow, SecAggPlus):
        settings = workflow.model
    else:
        return {}
    return {"compression": recorded_settings(settings)} if settings.active else {}


def keeps_residuals(workflow: object | None) -> bool:
    """Whether ``workflow``'s clients keep an error-feedback residual between rounds (top-k
    with error feedback): client state a resumed simulation does not have."""
    return (
        isinstance(workflow, CompressedUpdates)
        and workflow.settings.update == "topk"
        and workflow.settings.error_feedback
    )

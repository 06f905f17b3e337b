"""Central differential privacy around an averaging strategy: DP-FedAvg.

McMahan, Ramage, Talwar, Zhang 2018, "Learning Differentially Private Recurrent Language
Models" (Algorithm 1), with adaptive clipping from Andrew, Thakkar, McMahan, Ramaswamy 2021,
"Differentially Private Learning with Adaptive Clipping". Each round:

1. Clients are Poisson-sampled with rate ``q`` (or all take part, ``q = 1``).
2. Each sampled client trains and returns its model; its update ``delta_i = w_i - w`` is
   clipped to L2 norm ``C`` (by the coordinator, or by the client's ``dp_clip`` mod and again
   by the coordinator for every update it sees).
3. The coordinator releases ``delta = (sum_i v_i clip(delta_i) + N(0, (z_d C)^2)) / (q N)``
   with weights ``v_i <= 1`` (see :class:`~rengo.privacy.CentralDP` on weighting) and hands
   ``w + delta`` to the wrapped strategy as the round's only result, so FedAvg takes it as
   the new model and FedAdam / FedYogi take ``delta`` as their pseudo-gradient.
4. With adaptive clipping it also releases the noised fraction of unclipped updates and moves
   ``C`` towards the target quantile; ``z_d`` is then raised so the round as a whole is a
   Gaussian mechanism with the configured multiplier ``z``.
5. The accountant composes the round; epsilon(delta) joins the round's metrics
   (``dp_epsilon``), and a round that would take epsilon past ``target_epsilon`` is never
   started (:class:`~rengo.privacy.PrivacyBudgetExhausted` ends the run cleanly).

The noise, the adaptive count's noise and the Poisson sample are drawn from the operating
system's entropy, never from the run seed (:mod:`rengo.privacy.entropy`): a DP run is not
reproducible from its seed, by design (``CentralDP(seeded_noise=True)`` makes it so, for
tests, at the price of the guarantee).

What the coordinator learns: every update in the clear unless a secure-aggregation workflow
folds only their sum (:meth:`ClippedDeltaSum.add_clipped_sum`). What everyone else learns:
models that are (epsilon, delta)-DP with respect to any one client's whole dataset. The run
store's per-round and per-client records (who was sampled, example counts, client metrics,
update norms before clipping) and the un-noised ``train_*`` / ``eval_*`` means are not
covered: they are the operator's, like the updates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError
from rengo.core.messages import EvaluateIns, EvaluateResult, FitIns, FitResult, Metrics
from rengo.core.parameters import Parameters
from rengo.hfl.mods.dp_clip import DP_CLIP_KEY, UNCLIPPED_METRIC, DPClipMod
from rengo.hfl.strategy.aggregate_call import aggregate_with_rng, warn_if_old_aggregate_fit
from rengo.hfl.strategy.base import Aggregate, Strategy, WeightedSum
from rengo.hfl.strategy.fedavg import FedAvg
from rengo.privacy import (
    CentralDP,
    PrivacyAccountant,
    PrivacyBudgetExhausted,
    clip_by_l2_norm,
    next_clip_norm,
    noised_mean,
    noised_unclipped_fraction,
    update_noise_multiplier,
)
from rengo.privacy.adaptive import DEFAULT_COUNT_STDDEV_DIVISOR
from rengo.privacy.config import check_delta
from rengo.privacy.entropy import mechanism_rng

DP_ROUNDS_ACCOUNTED = "dp_rounds_accounted"
"""Round metric: the rounds the accountant has composed, this one included."""
DP_UPDATE_NOISE_MULTIPLIER = "dp_update_noise_multiplier"
"""Round metric: the update sum's noise over the clip norm (``z``, or ``z_delta`` above it
under adaptive clipping)."""


class ClippedDeltaSum(WeightedSum):
    """A DP round's accumulator: the weighted sum of clipped updates ``sum_i v_i clip(delta_i)``
    and the count of unclipped ones, streaming (memory O(model)).

    ``sums`` holds update sums, not model sums: a secure-aggregation workflow folds its
    unmasked total with :meth:`add_clipped_sum`, never :meth:`add_sum`.
    """

    def __init__(self, reference: Sequence[np.ndarray], clip_norm: float) -> None:
        super().__init__(reference)
        self.global_model = [np.asarray(p, dtype=np.float64) for p in reference]
        self.clip_norm = clip_norm
        self.unclipped = 0.0

    def add_clipped_sum(
        self, delta_sums: Sequence[np.ndarray], unclipped: float, count: int, weight: float
    ) -> None:
        """Fold a block of already clipped, already weighted updates (e.g. the unmasked sum
        of a secure-aggregation round, whose clients ran the ``dp_clip`` mod).

        Parameters
        ----------
        delta_sums
            ``sum_i v_i clip(delta_i)`` over the block's clients, one array per parameter.
        unclipped
            The block's sum of ``dp_unclipped`` bits.
        count
            Clients in the block.
        weight
            The block's sum of weights ``v_i``.
        """
        super().add_sum(delta_sums, weight, count)
        self.unclipped += float(unclipped)

    def add_sum(self, sums: Sequence[np.ndarray], total_weight: float, count: int) -> None:
        """Refused: a DP round folds clipped update sums (:meth:`add_clipped_sum`)."""
        raise ValueError(
            "a differentially private round folds sums of clipped updates, not of models: "
            "use ClippedDeltaSum.add_clipped_sum(delta_sums, unclipped, count, weight) with "
            "clients running the dp_clip mod"
        )


@dataclass(init=False)
class DifferentialPrivacy(Strategy):
    """Central DP-FedAvg around an averaging strategy (McMahan et al. 2018; adaptive clipping:
    Andrew et al. 2021).

    Parameters
    ----------
    strategy
        The averaging strategy to make private (FedAvg by default; FedProx, FedAdam,
        FedYogi, FedAdagrad work too). It must sample every client it is given
        (``fraction_fit = 1``): client sampling is the DP's Poisson sampling.
    dp
        Clipping, noise, sampling, accountant and budget (:class:`~rengo.privacy.CentralDP`).
    **options
        Or its fields by name: ``DifferentialPrivacy(FedAvg(), noise_multiplier=1.0,
        clip_norm=0.5)``.

    Raises
    ------
    ConfigError
        If the wrapped strategy samples clients itself, or keeps each update (robust rules)
        or returns more than the model (SCAFFOLD): their sensitivity is not the clip norm.
    """

    strategy: Strategy = field(default_factory=FedAvg)
    dp: CentralDP = field(default_factory=CentralDP)
    accountant: PrivacyAccountant = field(init=False, repr=False)
    clip_norm: float = field(init=False)
    _population: int = field(default=0, init=False, repr=False)

    def __init__(
        self, strategy: Strategy | None = None, dp: CentralDP | None = None, **options: Any
    ) -> None:
        if dp is not None and options:
            raise TypeError("give either dp=CentralDP(...) or its options by name, not both")
        self.strategy = strategy if strategy is not None else FedAvg()
        self.dp = dp if dp is not None else CentralDP(**options)
        self._population = 0
        Strategy.__init__(self)  # the base's fields and checks, then __post_init__

    def __post_init__(self) -> None:
        super().__post_init__()
        inner = self.strategy
        if isinstance(inner, DifferentialPrivacy):
            raise ConfigError("DifferentialPrivacy wraps an averaging strategy, not itself")
        warn_if_old_aggregate_fit(inner)
        if inner.fraction_fit != 1.0:
            raise ConfigError(
                f"under DP, client sampling is the Poisson sampling the accountant assumes: set "
                f"sampling_rate = {inner.fraction_fit} (the [privacy] section's, or "
                f"CentralDP(sampling_rate=...)) instead of the strategy's "
                f"fraction_fit = {inner.fraction_fit}"
            )
        self.name = f"DP-{inner.name}"
        self.min_available_clients = inner.min_available_clients
        self.min_fit_clients = 1 if self.dp.sampling_rate < 1.0 else inner.min_fit_clients
        self.fraction_evaluate = inner.fraction_evaluate
        self.min_evaluate_clients = inner.min_evaluate_clients
        self.evaluate_fn = inner.evaluate_fn
        self.clip_norm = self.dp.clip_norm
        self.accountant = PrivacyAccountant(
            self.dp.noise_multiplier, self.dp.sampling_rate, self.dp.delta, self.dp.accountant
        )
        if self.dp.adaptive_clipping and self.dp.clipped_count_stddev > 0:
            try:
                update_noise_multiplier(self.dp.noise_multiplier, self.dp.clipped_count_stddev)
            except ValueError as exc:
                raise ConfigError(f"{self.name}: {exc}") from exc

    # -- life cycle and state ---------------------------------------------------------------
    def initialize(self, parameters: Parameters) -> None:
        """Check the wrapped strategy averages plain models, then initialise it."""
        self.check_wrapped(parameters)
        self.strategy.initialize(parameters)
        self.clip_norm = self.dp.clip_norm
        self.accountant.rounds = 0

    def check_wrapped(self, parameters: Parameters) -> None:
        """Refuse a wrapped strategy whose sensitivity the clip norm does not bound, before
        any round (a run's simulation and deployment call it before the run is recorded).

        Parameters
        ----------
        parameters
            The initial model.

        Raises
        ------
        ConfigError
            If the wrapped strategy keeps each update (robust rules) or returns more than the
            model (SCAFFOLD).
        """
        probe = self.strategy.accumulator(0, parameters)
        reference = self.strategy.result_reference(parameters)
        if type(probe) is not WeightedSum or len(reference) != len(parameters):
            raise ConfigError(
                f"DP-FedAvg needs an averaging strategy (FedAvg, FedProx, FedAdam, FedYogi, "
                f"FedAdagrad); {self.strategy.name} keeps each update or returns more than the "
                "model, so the clip norm does not bound its sensitivity"
            )

    def state_dict(self) -> dict[str, Any]:
        """The clip norm, the rounds the accountant composed and the wrapped strategy's state."""
        return {
            "dp_clip_norm": float(self.clip_norm),
            "dp_rounds": int(self.accountant.rounds),
            "strategy": self.strategy.state_dict(),
        }

    def released_state(self, before: dict[str, Any]) -> dict[str, Any]:
        """``before`` with the rounds the accountant has composed now (this round's
        included): a round run again after a stop is then counted twice, never once."""
        return {**before, "dp_rounds": int(self.accountant.rounds)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output (the accountant resumes where it stopped).

        Raises
        ------
        ValueError
            If ``state`` is not a DP strategy's state.
        """
        if set(state) != {"dp_clip_norm", "dp_rounds", "strategy"}:
            raise ValueError(f"checkpoint state {sorted(state)} is not a DP strategy's")
        self.clip_norm = float(state["dp_clip_norm"])
        self.accountant.rounds = int(state["dp_rounds"])
        self.strategy.load_state_dict(dict(state["strategy"]))

    def client_mods(self) -> tuple[str, ...]:
        """The wrapped strategy's mods, and ``dp_clip`` when clients clip."""
        mods = self.strategy.client_mods()
        return (*mods, DPClipMod.name) if self.dp.clip_at == "client" else mods

    # -- fit --------------------------------------------------------------------------------
    @property
    def expected_clients(self) -> float:
        """``q N``: the data-independent denominator of the private mean."""
        return self.dp.sampling_rate * max(self._population, 1)

    def count_stddev(self) -> float:
        """The noise on the unclipped count (Andrew et al.'s ``expected clients / 20`` unless
        configured)."""
        if self.dp.clipped_count_stddev > 0:
            return self.dp.clipped_count_stddev
        return self.expected_clients / DEFAULT_COUNT_STDDEV_DIVISOR

    def update_noise_multiplier(self) -> float:
        """The multiplier of the update sum's noise (raised under adaptive clipping)."""
        if not self.dp.adaptive_clipping:
            return self.dp.noise_multiplier
        return update_noise_multiplier(self.dp.noise_multiplier, self.count_stddev())

    def configure_fit(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, FitIns]]:
        """Stop if the round would exceed the budget; else Poisson-sample the clients.

        Raises
        ------
        PrivacyBudgetExhausted
            If ``target_epsilon`` is set and one more round would exceed it.
        ConfigError
            If ``delta`` is not below ``1 / N`` for the ``N`` clients available, or adaptive
            clipping's count noise is too small for the noise multiplier.
        """
        target = self.dp.target_epsilon
        if target > 0:
            spent = self.accountant.epsilon()
            following = self.accountant.epsilon(self.accountant.rounds + 1)
            if following > target:
                raise PrivacyBudgetExhausted(spent, following, target, self.accountant.rounds)
        self._population = len(client_ids)
        check_delta(self.dp, self._population)
        try:
            self.update_noise_multiplier()
        except ValueError as exc:  # adaptive clipping's count noise is too small for z
            raise ConfigError(f"{self.name}: {exc}") from exc
        ids = sorted(client_ids)
        if self.dp.sampling_rate < 1.0:
            # the sample must be secret for amplification by sampling: OS entropy, not the
            # run seed (rengo.privacy.entropy)
            coins = mechanism_rng(rng, self.dp.seeded_noise).random(len(ids))
            ids = [c for c, u in zip(ids, coins, strict=True) if u < self.dp.sampling_rate]
        instructions = self.strategy.configure_fit(server_round, parameters, ids, rng)
        if self.dp.clip_at == "client":
            for _, ins in instructions:
                ins.config[DP_CLIP_KEY] = float(self.clip_norm)
        return instructions

    def accepts_empty_sample(self) -> bool:
        """With Poisson sampling (``sampling_rate < 1``) a round may sample nobody: the
        accountant counts it like any other, so it releases the noised (empty) sum."""
        return self.dp.sampling_rate < 1.0

    def result_reference(self, parameters: Parameters) -> Parameters:
        """The model (checked in :meth:`initialize`)."""
        return self.strategy.result_reference(parameters)

    def accumulator(self, server_round: int, parameters: Parameters) -> ClippedDeltaSum:
        """A streaming sum of clipped updates relative to ``parameters``."""
        return ClippedDeltaSum(parameters, self.clip_norm)

    def client_weight(self, num_examples: int) -> float:
        """``v_i``: 1 (uniform) or ``min(1, n_i / weight_cap)`` (bounded)."""
        if self.dp.weighting == "bounded":
            return min(1.0, num_examples / self.dp.weight_cap)
        return 1.0

    def add_result(self, acc: WeightedSum, client_id: str, result: FitResult) -> None:
        """Clip the client's update (again, if it clipped it itself) and fold it."""
        if not isinstance(acc, ClippedDeltaSum):
            raise TypeError("DifferentialPrivacy folds into its own ClippedDeltaSum")
        deltas = [
            np.asarray(p, np.float64) - g
            for p, g in zip(result.parameters, acc.global_model, strict=True)
        ]
        clipped, norm = clip_by_l2_norm(deltas, acc.clip_norm)
        metrics: Metrics = dict(result.metrics)
        reported = metrics.pop(UNCLIPPED_METRIC, None)
        if self.dp.clip_at == "client" and isinstance(reported, (int, float)):
            bit = 1.0 if float(reported) >= 0.5 else 0.0
        else:
            bit = 1.0 if norm <= acc.clip_norm else 0.0
        acc.add(clipped, self.client_weight(result.num_examples), metrics)
        acc.unclipped += bit

    def aggregate_fit(
        self,
        server_round: int,
        parameters: Parameters,
        acc: WeightedSum,
        rng: np.random.Generator | None = None,
    ) -> Parameters | Aggregate:
        """Noise the clipped sum, let the wrapped strategy step to ``w + delta``, adapt the clip
        norm, and account for the round."""
        if not isinstance(acc, ClippedDeltaSum):
            raise TypeError("DifferentialPrivacy aggregates its own ClippedDeltaSum")
        rng = rng if rng is not None else np.random.default_rng()
        update_rng, count_rng, inner_rng = rng.spawn(3)
        # the noise must be unknown to whoever knows the run seed (rengo.privacy.entropy)
        update_rng = mechanism_rng(update_rng, self.dp.seeded_noise)
        count_rng = mechanism_rng(count_rng, self.dp.seeded_noise)
        expected = self.expected_clients
        update_multiplier = self.update_noise_multiplier()
        sum_stddev = update_multiplier * acc.clip_norm
        delta = noised_mean(acc.sums, sum_stddev, expected, update_rng)
        candidate = [g + d for g, d in zip(acc.global_model, delta, strict=True)]
        inner_acc = self.strategy.accumulator(server_round, parameters)
        inner_acc.add(candidate, 1.0, {})
        inner = aggregate_with_rng(self.strategy, server_round, parameters, inner_acc, inner_rng)
        metrics = dict(inner.metrics)
        # the round's sampled count is no metric and never the denominator (its sensitivity
        # is 1 under Poisson sampling): that is the expected count qN. The round and client
        # records do keep who was sampled, for the operator: outside the guarantee (README)
        metrics.update(
            dp_clip_norm=float(acc.clip_norm),
            dp_noise_stddev=float(sum_stddev / expected),
        )
        if self.dp.adaptive_clipping:
            fraction = noised_unclipped_fraction(
                acc.unclipped, expected, self.count_stddev(), count_rng, reported=acc.count
            )
            self.clip_norm = next_clip_norm(
                acc.clip_norm, fraction, self.dp.target_quantile, self.dp.clip_learning_rate
            )
            metrics["dp_unclipped_fraction"] = fraction
        metrics["dp_epsilon"] = self.accountant.spend_round()
        metrics["dp_delta"] = self.dp.delta
        # what an auditor recomputes epsilon from: the rounds composed, which exceed the
        # round number when a round shown to clients was run again after a stop
        # (released_state), and the update sum's own multiplier (raised above z under
        # adaptive clipping, so that the round as a whole is a Gaussian of multiplier z)
        metrics[DP_ROUNDS_ACCOUNTED] = self.accountant.rounds
        metrics[DP_UPDATE_NOISE_MULTIPLIER] = update_multiplier
        return Aggregate(inner.parameters, metrics)

    # -- evaluation: the wrapped strategy's ---------------------------------------------------
    def evaluate(self, server_round: int, parameters: Parameters) -> tuple[float, Metrics] | None:
        """The wrapped strategy's centralised evaluation."""
        return self.strategy.evaluate(server_round, parameters)

    def configure_evaluate(
        self,
        server_round: int,
        parameters: Parameters,
        client_ids: Sequence[str],
        rng: np.random.Generator,
    ) -> list[tuple[str, EvaluateIns]]:
        """The wrapped strategy's federated evaluation."""
        return self.strategy.configure_evaluate(server_round, parameters, client_ids, rng)

    def aggregate_evaluate(
        self, server_round: int, results: Sequence[tuple[str, EvaluateResult]]
    ) -> tuple[float, dict[str, float]]:
        """The wrapped strategy's federated evaluation."""
        return self.strategy.aggregate_evaluate(server_round, results)

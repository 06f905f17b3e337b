"""The settings of each kind of differential privacy, as option dataclasses.

Job files (``[privacy] dp = "central"`` plus these fields), command-line flags and the API
all read these two classes (:mod:`rengo.core.options`); defaults live here and nowhere else.

* :class:`CentralDP` - DP-FedAvg (McMahan et al. 2018): the coordinator clips each client's
  update, adds Gaussian noise to the sum and accounts for it. Protects each *client's* whole
  dataset (client-level DP) against anyone who sees the models the coordinator releases.
* :class:`LocalDP` - DP-SGD inside each client's local training (Abadi et al. 2016, through
  Opacus): per-example clipping and noise. Protects each *record* against everyone outside
  the client, the coordinator included.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

from rengo.core.errors import ConfigError
from rengo.core.options import OptionError, check_options, option
from rengo.privacy.entropy import SEEDED_NOISE_WARNING

DP_KINDS: tuple[str, ...] = ("none", "central", "local")
"""Values of a job file's ``[privacy] dp``."""


def check_delta(settings: CentralDP | LocalDP, individuals: int) -> None:
    """Refuse a ``delta`` that is not below ``1 / individuals``: (epsilon, delta)-DP with
    ``delta >= 1/n`` holds for a mechanism that publishes one random individual's data
    outright (Dwork and Roth 2014, section 2.3).

    Parameters
    ----------
    settings
        The DP settings (their ``delta``).
    individuals
        Whom the guarantee protects: clients (central DP) or a client's records (local DP).

    Raises
    ------
    ConfigError
        If ``delta * individuals >= 1``, naming delta, ``1/n`` and ``n``.
    """
    if settings.delta * individuals >= 1.0:
        who = "clients" if isinstance(settings, CentralDP) else "training rows"
        raise ConfigError(
            f"{type(settings).__name__}: delta = {settings.delta:g} is not below 1/n = "
            f"{1.0 / max(individuals, 1):.3g} for n = {individuals} {who}, so the guarantee "
            "would allow publishing one of them outright; set privacy.delta well below 1/n"
        )


@dataclass(frozen=True)
class CentralDP:
    """DP-FedAvg settings: clipping, noise, client sampling and the privacy budget.

    Weighting and soundness: a client's influence on the round's update must be bounded for
    the noise to mean anything. Example-weighted FedAvg divides by the round's total example
    count, which depends on every client's data, so a client can move the average by more
    than ``clip_norm / clients`` (and a client that over-reports its count, by almost all of
    it). Under DP rengo therefore releases

        (sum_i w_i clip(delta_i) + N(0, (z C)^2)) / (q N)

    with ``w_i <= 1`` and the data-independent denominator ``q N`` (expected clients per
    round, McMahan et al. 2018's fixed-denominator estimator): ``weighting = "uniform"``
    sets every ``w_i = 1``; ``"bounded"`` sets ``w_i = min(1, n_i / weight_cap)`` so small
    clients count less, and because the weights are capped at 1 the sensitivity stays ``C``
    and the accounting is unchanged.

    The noise and the Poisson sample come from the operating system's entropy, not the run
    seed, which is no secret (:mod:`rengo.privacy.entropy`); ``seeded_noise = true`` draws
    them from the seed for reproducible tests and voids the guarantee (it warns).

    Raises
    ------
    OptionError
        For an out-of-range setting (the message names the option).
    """

    noise_multiplier: float = option(
        1.0, "Noise standard deviation over the clip norm (z); the round's overall multiplier."
    )
    clip_norm: float = option(1.0, "L2 bound C on each client's update (initial C if adaptive).")
    adaptive_clipping: bool = option(
        False, "Track a quantile of update norms (Andrew et al. 2021) instead of a fixed C."
    )
    target_quantile: float = option(
        0.5, "Adaptive clipping: the quantile of unclipped update norms C moves towards."
    )
    clip_learning_rate: float = option(0.2, "Adaptive clipping: the geometric step eta_C.")
    clipped_count_stddev: float = option(
        0.0, "Adaptive clipping: noise on the unclipped count (0: expected clients / 20)."
    )
    sampling_rate: float = option(
        1.0, "Poisson client-sampling rate q (1: every client every round)."
    )
    delta: float = option(
        1e-5, "The delta epsilon is reported at (below 1/N for N clients, else refused)."
    )
    target_epsilon: float = option(
        0.0, "Privacy budget: training stops before a round would exceed it (0: no budget)."
    )
    accountant: Literal["pld", "rdp"] = option(
        "pld", "Privacy accountant: pld (tight) or rdp (dp-accounting)."
    )
    weighting: Literal["uniform", "bounded"] = option(
        "uniform", "Client weights: uniform, or bounded min(1, examples / weight_cap)."
    )
    weight_cap: int = option(0, "Bounded weighting: examples at which a client counts fully.")
    clip_at: Literal["coordinator", "client"] = option(
        "coordinator",
        "Where updates are clipped: the coordinator (it sees updates) or the clients "
        "(needed under secure aggregation; the coordinator re-clips what it sees).",
    )
    seeded_noise: bool = option(
        False,
        "Tests only: draw the noise and the Poisson sample from the run seed (reproducible; "
        "anyone who knows the seed can remove the noise, so no privacy).",
    )

    def __post_init__(self) -> None:
        check_options(self)
        positive = ("noise_multiplier", "clip_norm", "clip_learning_rate")
        for name in positive:
            if not getattr(self, name) > 0:
                raise OptionError(name, f"must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.target_quantile <= 1.0:
            raise OptionError("target_quantile", f"must be in [0, 1], got {self.target_quantile}")
        if self.clipped_count_stddev < 0:
            raise OptionError("clipped_count_stddev", "must be >= 0")
        if not 0.0 < self.sampling_rate <= 1.0:
            raise OptionError("sampling_rate", f"must be in (0, 1], got {self.sampling_rate}")
        if not 0.0 < self.delta < 1.0:
            raise OptionError("delta", f"must be in (0, 1), got {self.delta}")
        if self.target_epsilon < 0:
            raise OptionError("target_epsilon", "must be >= 0 (0: no budget)")
        if self.weighting == "bounded" and self.weight_cap < 1:
            raise OptionError("weight_cap", "must be >= 1 with weighting = 'bounded'")
        if self.weight_cap < 0:
            raise OptionError("weight_cap", "must be >= 0")
        if self.seeded_noise:
            warnings.warn(f"CentralDP: {SEEDED_NOISE_WARNING}", UserWarning, stacklevel=3)


@dataclass(frozen=True)
class LocalDP:
    """DP-SGD settings for a client's local training (Abadi et al. 2016, via Opacus).

    Each example's gradient is clipped to ``max_grad_norm`` and Gaussian noise of
    ``noise_multiplier * max_grad_norm`` is added to every batch's sum; with Poisson-sampled
    batches Opacus's accountant reports the client's epsilon(delta) over all its rounds.
    With ``target_epsilon`` a client refuses the round that would exceed it
    (:class:`PrivacyBudgetExhausted`); the coordinator leaves it out of the rest of the run
    (a round its refusal made fall short runs again without it - under secure aggregation
    when the round failed before unmasking; clients that trained in the abandoned attempt
    have spent budget on it), and when too few clients with budget remain the run stops
    cleanly with the model of the last completed round.

    The noise and the Poisson batches come from the operating system's entropy, not from the
    round seed the coordinator sends (the coordinator is the adversary here: with its seed
    it could draw the same noise and remove it); ``seeded_noise = true`` draws them from
    that seed for reproducible tests and voids the guarantee (it warns).

    Raises
    ------
    OptionError
        For an out-of-range setting.
    """

    noise_multiplier: float = option(1.0, "Per-step noise over the per-example clip norm.")
    max_grad_norm: float = option(1.0, "L2 bound on each example's gradient.")
    delta: float = option(1e-5, "The delta the client's epsilon is reported at.")
    target_epsilon: float = option(
        0.0, "A client's budget: it refuses a round that would exceed it (0: no budget)."
    )
    accountant: Literal["rdp", "prv", "gdp"] = option(
        "rdp",
        "Opacus's privacy accountant: rdp or prv (upper bounds), or gdp (an approximation "
        "that can underestimate epsilon; it warns).",
    )
    poisson_sampling: bool = option(
        True, "Poisson-sampled batches (what the accountant's guarantee assumes)."
    )
    seeded_noise: bool = option(
        False,
        "Tests only: draw the noise and the batches from the coordinator's round seed "
        "(reproducible; the coordinator can remove the noise, so no privacy).",
    )

    def __post_init__(self) -> None:
        check_options(self)
        for name in ("noise_multiplier", "max_grad_norm"):
            if not getattr(self, name) > 0:
                raise OptionError(name, f"must be > 0, got {getattr(self, name)}")
        if not 0.0 < self.delta < 1.0:
            raise OptionError("delta", f"must be in (0, 1), got {self.delta}")
        if self.target_epsilon < 0:
            raise OptionError("target_epsilon", "must be >= 0 (0: no budget)")
        if not self.poisson_sampling:
            if self.target_epsilon > 0:
                raise OptionError(
                    "poisson_sampling",
                    "must be true with a target_epsilon: the budget is enforced with the "
                    "accountant's epsilon, which holds for Poisson-sampled batches only",
                )
            warnings.warn(
                "LocalDP(poisson_sampling=False): the epsilon the accountant reports assumes "
                "Poisson-sampled batches and does not hold for these (for tests only)",
                UserWarning,
                stacklevel=3,
            )
        if self.accountant == "gdp":
            warnings.warn(
                "LocalDP(accountant='gdp'): Opacus's GDP accountant approximates epsilon by a "
                "central limit theorem and can underestimate it (Gopi et al. 2021), so the "
                "epsilon reported and the target_epsilon enforced are no guarantee; use rdp "
                "or prv to sign one off",
                UserWarning,
                stacklevel=3,
            )
        if self.seeded_noise:
            warnings.warn(f"LocalDP: {SEEDED_NOISE_WARNING}", UserWarning, stacklevel=3)

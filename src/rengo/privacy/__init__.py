"""Differential privacy for federated learning: clipping, Gaussian noise, adaptive clipping
and privacy accounting.

The math lives here as plain functions and option dataclasses; the round loop uses it
through :class:`rengo.hfl.DifferentialPrivacy` (central DP-FedAvg around any averaging
strategy, with the ``dp_clip`` client mod for client-side clipping) and
:class:`rengo.hfl.torch_client.TorchClient` (``dp=LocalDP(...)``: DP-SGD via Opacus).

Secure aggregation's settings (:class:`SecAgg`, SecAgg+ of Bell et al. CCS 2020) live here
too; the protocol runs as :class:`rengo.hfl.SecAggPlus`.

Accounting uses Google's ``dp-accounting`` (``pip install 'rengo[privacy]'``); Opacus
(``rengo[opacus]``) only for local DP-SGD.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.privacy.accountant import (
        ACCOUNTANTS,
        PrivacyAccountant,
        calibrate_noise_multiplier,
        dp_accounting_version,
        epsilon_after,
        pld_grid_step,
        round_event,
        rounds_within_budget,
    )
    from rengo.privacy.adaptive import (
        next_clip_norm,
        noised_unclipped_fraction,
        update_noise_multiplier,
    )
    from rengo.privacy.budget import PrivacyBudgetExhausted
    from rengo.privacy.clipping import clip_by_l2_norm, l2_norm
    from rengo.privacy.config import DP_KINDS, CentralDP, LocalDP
    from rengo.privacy.noise import gaussian_noise_like, noised_mean
    from rengo.privacy.secagg_config import SecAgg


__all__ = [
    "ACCOUNTANTS",
    "DP_KINDS",
    "CentralDP",
    "LocalDP",
    "PrivacyAccountant",
    "PrivacyBudgetExhausted",
    "SecAgg",
    "calibrate_noise_multiplier",
    "clip_by_l2_norm",
    "dp_accounting_version",
    "epsilon_after",
    "gaussian_noise_like",
    "l2_norm",
    "next_clip_norm",
    "noised_mean",
    "noised_unclipped_fraction",
    "pld_grid_step",
    "round_event",
    "rounds_within_budget",
    "update_noise_multiplier",
]

__getattr__, __dir__ = lazy_exports(__name__)

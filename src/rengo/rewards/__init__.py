"""Rewards: what contributors are paid, in exact integer minor units of a currency.

Money: amounts typed by people to minor units and back (ISO 4217 exponents). Payout
policies: proportional to clipped-positive contribution, equal shares, and Numerai-style
stake x clip(factor x score), each splitting a pool exactly (largest remainder) under a hard
:class:`Budget`. Sybil resistance (Qi & Zhu 2024): :func:`measure_sybil_gain` measures what
an attacker earns by splitting its data across fake identities, and the mitigations are
payout-side (identity groups paid as one entity, leave-one-out payouts). Contribution values
come from :mod:`rengo.valuation`.
"""

from typing import TYPE_CHECKING

from rengo.core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from rengo.rewards.money import (
        DEFAULT_CURRENCY,
        currency_decimals,
        format_amount,
        format_minor,
        to_minor_units,
    )
    from rengo.rewards.payouts import (
        Budget,
        Exact,
        Payout,
        equal_share_payouts,
        largest_remainder,
        proportional_payouts,
        stake_clipped_payouts,
    )
    from rengo.rewards.sybil import (
        SybilReport,
        grouped_shapley,
        grouped_value,
        identity_groups,
        leave_one_out_payouts,
        measure_sybil_gain,
        split_group_payout,
    )


__all__ = [
    "DEFAULT_CURRENCY",
    "Budget",
    "Exact",
    "Payout",
    "SybilReport",
    "currency_decimals",
    "equal_share_payouts",
    "format_amount",
    "format_minor",
    "grouped_shapley",
    "grouped_value",
    "identity_groups",
    "largest_remainder",
    "leave_one_out_payouts",
    "measure_sybil_gain",
    "proportional_payouts",
    "split_group_payout",
    "stake_clipped_payouts",
    "to_minor_units",
]

__getattr__, __dir__ = lazy_exports(__name__)

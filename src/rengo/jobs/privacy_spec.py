"""A job file's ``[privacy]`` section: ``dp = "none" | "central" | "local"`` and the chosen
kind's options, exactly the fields of :class:`rengo.privacy.CentralDP` or
:class:`rengo.privacy.LocalDP` (defaults and checks live there)::

    [privacy]
    dp = "central"          # DP-FedAvg: clipping + Gaussian noise at the coordinator
    noise_multiplier = 1.0
    clip_norm = 1.0
    adaptive_clipping = true
    target_epsilon = 8.0    # training stops before a round would exceed it
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.options import option_specs, options_from_mapping
from rengo.privacy import DP_KINDS, CentralDP, LocalDP


@dataclass(frozen=True)
class PrivacySection:
    """The validated ``[privacy]`` section: which DP and its settings."""

    dp: str = "none"
    central: CentralDP | None = None
    local: LocalDP | None = None


def privacy_keys(kind: str) -> tuple[str, ...]:
    """The keys ``[privacy]`` takes besides ``dp`` for ``kind``."""
    config = {"central": CentralDP, "local": LocalDP}.get(kind)
    return tuple(s.name for s in option_specs(config)) if config else ()


def parse_privacy(source: str, raw: Any) -> PrivacySection:
    """Validate ``[privacy]``.

    Raises
    ------
    ConfigError
        For an unknown ``dp``, a key the chosen kind does not take (naming the closest), or a
        value its config refuses.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [privacy] must be a table")
    values = dict(raw)
    dp = values.pop("dp", "none")
    if dp not in DP_KINDS:
        raise ConfigError(f"{source}: privacy.dp = {dp!r}; choose one of {', '.join(DP_KINDS)}")
    if dp == "none":
        if values:
            raise ConfigError(
                f"{source}: [privacy] keys {sorted(values)} need privacy.dp = 'central' or 'local'"
            )
        return PrivacySection()
    where = f"{source}: [privacy] dp = {dp!r}: "
    label = lambda key: f"privacy.{key}"  # noqa: E731
    if dp == "central":
        return PrivacySection(
            dp, central=options_from_mapping(CentralDP, values, label=label, where=where)
        )
    return PrivacySection(dp, local=options_from_mapping(LocalDP, values, label=label, where=where))

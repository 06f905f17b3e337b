"""A job file's ``[privacy]`` section: ``dp = "none" | "central" | "local"`` and the chosen
kind's options, exactly the fields of :class:`rengo.privacy.CentralDP` or
:class:`rengo.privacy.LocalDP` (defaults and checks live there)::

    [privacy]
    dp = "central"          # DP-FedAvg: clipping + Gaussian noise at the coordinator
    noise_multiplier = 1.0
    clip_norm = 1.0
    adaptive_clipping = true
    target_epsilon = 8.0    # training stops before a round would exceed it

and secure aggregation (SecAgg+, :class:`rengo.privacy.SecAgg`; its fields prefixed
``secagg_``), alone or with ``dp = "central"`` and ``clip_at = "client"`` (the coordinator
adds the noise to the unmasked sum)::

    [privacy]
    secagg = true
    secagg_neighbours = 8     # k-regular graph (0: everyone)
    secagg_threshold = 0.5    # t = floor(0.5 k) + 1 shares rebuild a secret
    secagg_clip_range = 0.5   # update coordinates clipped to +-0.5 before quantising
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.options import option_specs, options_from_mapping
from rengo.privacy import DP_KINDS, CentralDP, LocalDP, SecAgg

SECAGG_PREFIX = "secagg_"


@dataclass(frozen=True)
class PrivacySection:
    """The validated ``[privacy]`` section: which DP and its settings."""

    dp: str = "none"
    central: CentralDP | None = None
    local: LocalDP | None = None
    secagg: SecAgg | None = None
    """Secure aggregation's settings when ``secagg = true``."""


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
    secagg = _parse_secagg(source, values)
    dp = values.pop("dp", "none")
    if dp not in DP_KINDS:
        raise ConfigError(f"{source}: privacy.dp = {dp!r}; choose one of {', '.join(DP_KINDS)}")
    if dp == "none":
        if values:
            raise ConfigError(
                f"{source}: [privacy] keys {sorted(values)} need privacy.dp = 'central' or 'local'"
            )
        return PrivacySection(secagg=secagg)
    where = f"{source}: [privacy] dp = {dp!r}: "
    label = lambda key: f"privacy.{key}"  # noqa: E731
    if dp == "central":
        central = options_from_mapping(CentralDP, values, label=label, where=where)
        if secagg is not None and central.clip_at != "client":
            raise ConfigError(
                f"{source}: [privacy] secagg = true with dp = 'central' needs clip_at = "
                "'client': under secure aggregation the coordinator never sees an update to clip"
            )
        return PrivacySection(dp, central=central, secagg=secagg)
    local = options_from_mapping(LocalDP, values, label=label, where=where)
    return PrivacySection(dp, local=local, secagg=secagg)


def _parse_secagg(source: str, values: dict[str, Any]) -> SecAgg | None:
    """Pop ``secagg`` and the ``secagg_*`` keys from ``values``; the SecAgg config if on."""
    enabled = values.pop("secagg", False)
    if not isinstance(enabled, bool):
        raise ConfigError(f"{source}: privacy.secagg = {enabled!r}; use true or false")
    options = {
        k[len(SECAGG_PREFIX) :]: values.pop(k) for k in list(values) if k.startswith(SECAGG_PREFIX)
    }
    if not enabled:
        if options:
            raise ConfigError(
                f"{source}: [privacy] keys {sorted(SECAGG_PREFIX + k for k in options)} need "
                "privacy.secagg = true"
            )
        return None
    return options_from_mapping(
        SecAgg,
        options,
        label=lambda key: f"privacy.{SECAGG_PREFIX}{key}",
        where=f"{source}: [privacy] secagg: ",
    )

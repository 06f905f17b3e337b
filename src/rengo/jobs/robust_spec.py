"""A job file's ``[robust]`` section: simulate attackers to test a defence.

The defence is the ``[strategy]`` (``name = "centredclipping"``, ``"bulyan"``, ``"krum"``...;
``rengo strategies`` lists them). ``[robust]`` names an attack from the attack registry
(:func:`rengo.hfl.mods.attacks.attack_registry`), which clients run it, and the attack's own
options (its dataclass fields)::

    [robust]
    attack = "sign_flip"
    attackers = 4           # the last 4 clients; or a list of client ids
    scale = 5.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rengo.core.errors import ConfigError
from rengo.core.options import options_from_mapping
from rengo.hfl.mods.attacks import attack_registry, get_attack


@dataclass(frozen=True)
class RobustSection:
    """The validated ``[robust]`` section."""

    attack: str
    attackers: int | tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)

    def attacker_ids(self, client_ids: Sequence[str]) -> list[str]:
        """The attacking clients among ``client_ids`` (a count takes the last ones).

        Raises
        ------
        ConfigError
            If a named attacker is not a client, or the count exceeds the clients.
        """
        if isinstance(self.attackers, int):
            if self.attackers > len(client_ids):
                raise ConfigError(
                    f"robust.attackers = {self.attackers} exceeds the {len(client_ids)} clients"
                )
            return list(client_ids[len(client_ids) - self.attackers :])
        unknown = sorted(set(self.attackers) - set(client_ids))
        if unknown:
            shown = ", ".join(client_ids[:3]) + (", ..." if len(client_ids) > 3 else "")
            raise ConfigError(
                f"robust.attackers {unknown} are not clients of this job (its clients are {shown})"
            )
        return list(self.attackers)


def parse_robust(source: str, raw: Any) -> RobustSection:
    """Validate ``[robust]``.

    Raises
    ------
    ConfigError
        For a missing or unknown attack, bad attackers, or an option the attack refuses.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: [robust] must be a table")
    values = dict(raw)
    attack = values.pop("attack", None)
    if not isinstance(attack, str):
        raise ConfigError(
            f"{source}: [robust] needs attack = one of {', '.join(attack_registry())}"
        )
    try:
        cls = get_attack(attack)
    except ConfigError as exc:
        raise ConfigError(f"{source}: robust.attack: {exc}") from None
    attackers = values.pop("attackers", 1)
    if isinstance(attackers, bool) or not isinstance(attackers, (int, list)):
        raise ConfigError(f"{source}: robust.attackers must be a count or a list of client ids")
    if isinstance(attackers, list) and not attackers:
        raise ConfigError(
            f"{source}: robust.attackers is empty: name at least one client (or give a count), "
            "or remove the [robust] section"
        )
    if isinstance(attackers, int) and attackers < 1:
        raise ConfigError(f"{source}: robust.attackers must be >= 1, got {attackers}")
    chosen: int | tuple[str, ...] = (
        attackers if isinstance(attackers, int) else tuple(str(a) for a in attackers)
    )
    options_from_mapping(
        cls, values, label=lambda key: f"robust.{key}", where=f"{source}: [robust] {attack}: "
    )
    return RobustSection(attack, chosen, values)

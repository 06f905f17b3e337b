"""Sybil attacks on Shapley-proportional rewards, and two mitigations.

Qi & Zhu 2024 (arXiv 2403.04753) show that when value has diminishing returns, a client who
splits its data across k fake identities collects a larger share of a Shapley-proportional
pool than it would under one identity. :func:`measure_sybil_gain` measures that on any value
function; the mitigations are:

* **identity groups** - participants registered as one legal entity (same deployment
  certificate subject) are merged into one player before Shapley, so splitting inside an
  entity changes nothing. It only helps against identities the registry can link.
* **leave-one-out payouts** - pay in proportion to v(N) - v(N minus i). Where value has
  diminishing returns (the premise of the attack), copies and splits of the same data are
  redundant with each other, so each earns little and splitting does not pay. The price:
  honest clients with similar data are underpaid too, and LOO is not efficient (the pool is
  split by LOO weights, not by value created). Where value has increasing returns (a score
  that needs a critical mass of data), LOO pays splitting instead: with v = (examples /
  100)^2 and clients of 30, 50 and 20 examples, splitting the 50 into 2 or 4 identities
  raises its LOO payout from 46.3 % to 50.1 % or 51.9 % of the pool, while its Shapley
  payout does not move. Identity groups hold under either; measure a game with
  :func:`measure_sybil_gain` before trusting LOO.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from rengo.core.errors import ConfigError
from rengo.rewards.payouts import Payout, largest_remainder, proportional_payouts
from rengo.valuation import ShapleyResult, ValueFunction, exact_shapley, leave_one_out
from rengo.valuation.identity import identity_groups as identity_groups

D = TypeVar("D")


def grouped_value(value: ValueFunction, groups: Sequence[Sequence[int]]) -> ValueFunction:
    """The game between groups: a coalition of groups is worth v(union of their members).

    Parameters
    ----------
    value:
        The game between players (indices).
    groups:
        Disjoint lists of player indices; group ``j`` is player ``j`` of the new game.

    Returns
    -------
    ValueFunction
        ``v'(S) = v(union of the members of the groups in S)``.

    Raises
    ------
    ConfigError
        A player is in two groups.
    """
    members = [frozenset(g) for g in groups]
    seen: set[int] = set()
    for g in members:
        if seen & g:
            raise ConfigError("a player belongs to two identity groups")
        seen |= g

    def value_of_groups(coalition: frozenset[int]) -> float:
        union: frozenset[int] = frozenset()
        for j in coalition:
            union |= members[j]
        return value(union)

    return value_of_groups


def grouped_shapley(
    value: ValueFunction, players: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> ShapleyResult:
    """Exact Shapley between identity groups (entities), named by entity.

    Parameters
    ----------
    value:
        The game between the individual players.
    players:
        The players' names, in the order ``value`` indexes them.
    groups:
        Entity -> member names (e.g. from :func:`identity_groups`).

    Returns
    -------
    ShapleyResult
        One value per entity, ``players`` set to the entity names.

    Raises
    ------
    ConfigError
        A group member that is not a player, a player in two groups, or a player in none
        (it would silently get nothing: a player alone is a group of one, as
        :func:`identity_groups` makes it).
    """
    index = {p: i for i, p in enumerate(players)}
    entities = tuple(groups)
    try:
        member_ids = [[index[m] for m in groups[e]] for e in entities]
    except KeyError as exc:
        raise ConfigError(f"identity group member {exc.args[0]!r} is not a player") from exc
    grouped = {m for e in entities for m in groups[e]}
    outside = [p for p in players if p not in grouped]
    if outside:
        raise ConfigError(
            f"players {outside} are in no identity group; give each a group (alone: of one)"
        )
    result = exact_shapley(grouped_value(value, member_ids), len(entities))
    return ShapleyResult(result.values, result.evaluations, entities, method="grouped_exact")


def leave_one_out_payouts(
    value: ValueFunction, players: Sequence[str], pool_minor: int
) -> list[Payout]:
    """Marginal-contribution policy: split the pool in proportion to clipped-positive LOO.
    It removes the sybil gain only where value has diminishing returns (see the module
    docstring); :func:`measure_sybil_gain` measures it on a given game.

    Parameters
    ----------
    value:
        The game between the players.
    players:
        The players' names, in the order ``value`` indexes them.
    pool_minor:
        The pool in minor units.

    Returns
    -------
    list[Payout]
        One per player, summing to the pool unless no player's leave-one-out value is
        positive.

    Raises
    ------
    ConfigError
        A negative pool.
    """
    loo = leave_one_out(value, len(players))
    return proportional_payouts(
        dict(zip(players, loo.values.tolist(), strict=True)), pool_minor, label="leave-one-out"
    )


@dataclass(frozen=True)
class SybilReport:
    """The attacker's payout (minor units) as one identity vs as k identities, under
    Shapley-proportional rewards and under both mitigations."""

    k: int
    honest_minor: int
    sybil_minor: int
    grouped_sybil_minor: int
    loo_honest_minor: int
    loo_sybil_minor: int

    @property
    def gain_minor(self) -> int:
        """What splitting earns the attacker under plain Shapley-proportional payouts."""
        return self.sybil_minor - self.honest_minor

    @property
    def grouped_gain_minor(self) -> int:
        """What splitting earns when identities are merged by certificate before Shapley."""
        return self.grouped_sybil_minor - self.honest_minor

    @property
    def loo_gain_minor(self) -> int:
        """What splitting earns under leave-one-out payouts."""
        return self.loo_sybil_minor - self.loo_honest_minor


def _paid(payouts: Sequence[Payout], who: set[str]) -> int:
    return sum(p.amount_minor for p in payouts if p.participant in who)


def measure_sybil_gain(
    value_of_datasets: Callable[[Sequence[D]], float],
    datasets: Mapping[str, D],
    attacker: str,
    split: Callable[[D, int], Sequence[D]],
    k: int,
    pool_minor: int,
) -> SybilReport:
    """Compare ``attacker``'s reward when it joins with its data as one identity against
    joining with ``split(data, k)`` as k identities (exact Shapley, proportional pool).

    ``value_of_datasets`` scores a model built from the union of the given datasets (empty
    sequence: no data). Exact Shapley, so len(datasets) + k - 1 should stay below ~14.

    Parameters
    ----------
    value_of_datasets:
        Scores a model built from the union of the given datasets (empty sequence: no data).
    datasets:
        Participant -> its data.
    attacker:
        The participant that splits its data.
    split:
        ``split(data, k)`` returns the k pieces the attacker joins with.
    k:
        Number of identities, >= 2. Exact Shapley, so ``len(datasets) + k - 1`` should
        stay below ~14.
    pool_minor:
        The reward pool in minor units.

    Returns
    -------
    SybilReport
        The attacker's payout as one and as k identities, plainly and under both
        mitigations.

    Raises
    ------
    ConfigError
        Unknown attacker, ``k < 2``, or ``split`` returning other than ``k`` pieces.
    """
    if attacker not in datasets:
        raise ConfigError(f"attacker {attacker!r} has no dataset")
    if k < 2:
        raise ConfigError(f"a sybil split needs k >= 2 identities, got {k}")
    pieces = list(split(datasets[attacker], k))
    if len(pieces) != k:
        raise ConfigError(f"split returned {len(pieces)} pieces, expected {k}")

    def game(named: Mapping[str, D]) -> tuple[list[str], ValueFunction]:
        names = sorted(named)
        data = [named[n] for n in names]
        return names, lambda s: float(value_of_datasets([data[i] for i in sorted(s)]))

    honest_names, honest_value = game(datasets)
    sybils = {f"{attacker}#sybil{j}": piece for j, piece in enumerate(pieces)}
    split_data = {n: d for n, d in datasets.items() if n != attacker} | sybils
    sybil_names, sybil_value = game(split_data)

    def shapley_payouts(names: list[str], value: ValueFunction) -> list[Payout]:
        phi = exact_shapley(value, len(names)).values
        return proportional_payouts(dict(zip(names, phi.tolist(), strict=True)), pool_minor)

    groups = identity_groups(sybil_names, dict.fromkeys(sybils, attacker))
    grouped = grouped_shapley(sybil_value, sybil_names, groups)
    grouped_pay = proportional_payouts(
        dict(zip(grouped.players, grouped.values.tolist(), strict=True)), pool_minor
    )
    return SybilReport(
        k=k,
        honest_minor=_paid(shapley_payouts(honest_names, honest_value), {attacker}),
        sybil_minor=_paid(shapley_payouts(sybil_names, sybil_value), set(sybils)),
        grouped_sybil_minor=_paid(grouped_pay, {attacker}),
        loo_honest_minor=_paid(
            leave_one_out_payouts(honest_value, honest_names, pool_minor), {attacker}
        ),
        loo_sybil_minor=_paid(
            leave_one_out_payouts(sybil_value, sybil_names, pool_minor), set(sybils)
        ),
    )


def split_group_payout(payout: Payout, members: Sequence[str]) -> list[Payout]:
    """Share an entity's payout (or burn) equally among its member identities, exactly.

    Parameters
    ----------
    payout:
        The entity's payout (``participant`` is the entity).
    members:
        Its member identities.

    Returns
    -------
    list[Payout]
        One per member, sorted by name, summing exactly to ``payout.amount_minor``.

    Raises
    ------
    ConfigError
        No members, or a member listed twice (it would be paid twice).
    """
    if not members:
        raise ConfigError("an identity group needs at least one member")
    if len(set(members)) != len(members):
        raise ConfigError(f"entity {payout.participant!r} lists a member twice: {list(members)}")
    sign = -1 if payout.amount_minor < 0 else 1
    shares = largest_remainder(abs(payout.amount_minor), [1] * len(members))
    return [
        Payout(m, sign * s, f"{payout.reason} (entity {payout.participant})")
        for m, s in zip(sorted(members), shares, strict=True)
    ]

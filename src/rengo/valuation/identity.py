"""Which players a valuation counts when several identities belong to one legal entity.

Participants registered as one legal entity (the same deployment certificate subject) are
merged into one player before Shapley, the identity-group mitigation of Sybil attacks
(:mod:`rengo.rewards.sybil`). Both the reward functions and the contribution tracker group
identities here, so one rule - and one refusal of an unregistered participant posing under a
registered entity's name - holds for both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import numpy as np

from rengo.core.errors import ConfigError


def identity_groups(
    participants: Sequence[str], entity_of: Mapping[str, str]
) -> dict[str, list[str]]:
    """Group participants by the legal entity their certificate names (unregistered
    participants stand alone): entity -> members, both sorted.

    Parameters
    ----------
    participants:
        The identities that took part.
    entity_of:
        Identity -> registered legal entity; identities not in it are their own entity.

    Returns
    -------
    dict[str, list[str]]
        Entity -> its member identities, both sorted.

    Raises
    ------
    ConfigError
        An unregistered participant whose name is a registered entity's (standing alone,
        it would be merged into that entity), or a participant listed twice.
    """
    if len(set(participants)) != len(participants):
        raise ConfigError("identity_groups: a participant is listed twice")
    entities = {entity_of[p] for p in participants if p in entity_of}
    posing = sorted(p for p in participants if p not in entity_of and p in entities)
    if posing:
        raise ConfigError(
            f"participant(s) {posing} are not registered to an entity but share a registered "
            "entity's name; register them (to that entity or their own) or rename the entity"
        )
    groups: dict[str, list[str]] = {}
    for p in participants:
        groups.setdefault(entity_of.get(p, p), []).append(p)
    return {e: sorted(m) for e, m in sorted(groups.items())}


def identical_updates(
    client_ids: Sequence[str], updates: Sequence[Sequence[np.ndarray]]
) -> list[list[str]]:
    """The sets of clients (two or more) whose updates are identical, array for array and
    bit for bit: one participant joining under several identities with one update, or
    copying another's. Valued as separate players, k copies are k symmetric players, and
    together earn about k times one update's share of a Shapley-proportional pool.

    Parameters
    ----------
    client_ids
        The round's clients.
    updates
        Each client's arrays, in the order of ``client_ids``.

    Returns
    -------
    list of list of str
        Each set of identical updates' clients, in ``client_ids`` order; sets in order of
        their first client.
    """
    by_content: dict[bytes, list[int]] = {}
    for i, arrays in enumerate(updates):
        digest = hashlib.blake2b(digest_size=16)
        for a in arrays:
            array = np.ascontiguousarray(a)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
        by_content.setdefault(digest.digest(), []).append(i)
    sets: list[list[str]] = []
    for indices in by_content.values():
        first = indices[0]
        same = [
            i
            for i in indices
            if all(np.array_equal(a, b) for a, b in zip(updates[i], updates[first], strict=True))
        ]
        if len(same) > 1:
            sets.append([client_ids[i] for i in same])
    return sets

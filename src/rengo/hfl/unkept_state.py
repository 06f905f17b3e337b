"""Say when a strategy keeps something across rounds that its checkpoints do not hold.

A round checkpoint holds a strategy's :attr:`~rengo.hfl.Strategy.server_state` (through
``state_dict``); a resumed run rebuilds the strategy from its settings and loads that state.
A strategy written the Flower way, ``self.momentum = ...`` inside ``aggregate_fit``, keeps its
momentum in an attribute instead: an uninterrupted run uses it, a resumed one silently starts
it again and ends with another model. The coordinator takes a :class:`AttributeSnapshot` of
every strategy it runs (wrapped ones included) as a round starts, and warns once per
attribute, before the round is checkpointed, about one that the round added, or a dataclass
field (a setting, rebuilt from the settings on resume) that it replaced. A strategy that
overrides ``state_dict`` checkpoints what it chooses (central DP's clip norm) and is not
checked. Bookkeeping that does not affect training is skipped: ``functools.cached_property``
values, and the names a strategy lists in its class attribute ``transient_attributes``
(``round_started``, ``_logger``), a ``ClassVar[tuple[str, ...]]``. A private name is not
skipped: momentum kept in ``self._velocity`` is lost on resume like any other.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, fields, is_dataclass

from rengo.hfl.strategy.base import Strategy, wrapped_strategies

UNKEPT = (
    "{strategy} set {names} during round {round}, which round checkpoints do not hold (they "
    "hold server_state): a run resumed from a checkpoint starts {them} again and may end with "
    "another model than an uninterrupted run if training depends on {them}. Keep what must "
    "last across rounds in a frozen ServerState dataclass (set state_type, return it from "
    "init_state, assign self.server_state in aggregate_fit), as FedAvgM does; list what does "
    "not affect training (a timer, a logger) in the class's transient_attributes: "
    "ClassVar[tuple[str, ...]]"
)

_CHECKPOINTED = frozenset({"server_state"})


@dataclass(frozen=True)
class AttributeSnapshot:
    """Which attributes each strategy had, and which object each dataclass field held.

    Attributes
    ----------
    strategies
        Per strategy (outermost first) that keeps the base ``state_dict``: the strategy,
        its attribute names, and the ``id`` of each dataclass field's value.
    """

    strategies: tuple[tuple[object, frozenset[str], dict[str, int]], ...]


def snapshot_attributes(strategy: object) -> AttributeSnapshot:
    """The attributes of ``strategy`` and of every strategy it wraps, as a round starts.

    Parameters
    ----------
    strategy
        The coordinator's strategy.

    Returns
    -------
    AttributeSnapshot
        What :func:`warn_unkept_attributes` compares the round's end with.
    """
    taken = []
    for inner in wrapped_strategies(strategy):
        if getattr(type(inner), "state_dict", None) is not Strategy.state_dict:
            continue  # not a Strategy, or one that checkpoints its own choice
        names = frozenset(vars(inner)) if hasattr(inner, "__dict__") else frozenset()
        field_ids = (
            {f.name: id(getattr(inner, f.name)) for f in fields(inner) if hasattr(inner, f.name)}
            if is_dataclass(inner)
            else {}
        )
        taken.append((inner, names, field_ids))
    return AttributeSnapshot(tuple(taken))


def unkept_attributes(before: AttributeSnapshot) -> list[tuple[object, list[str]]]:
    """Per strategy, the attributes added since ``before`` and the fields replaced.

    Parameters
    ----------
    before
        The snapshot taken as the round started.

    Returns
    -------
    list
        ``(strategy, names)`` for each strategy with any, names sorted.
    """
    found = []
    cached = functools.cached_property
    for inner, names, field_ids in before.strategies:
        now = vars(inner) if hasattr(inner, "__dict__") else {}
        added = set(now) - names
        replaced = {k for k, ident in field_ids.items() if k in now and id(now[k]) != ident}
        transient = _CHECKPOINTED | frozenset(getattr(type(inner), "transient_attributes", ()))
        changed = sorted(
            n
            for n in (added | replaced) - transient
            if not isinstance(getattr(type(inner), n, None), cached)
        )
        if changed:
            found.append((inner, changed))
    return found


def warn_unkept_attributes(
    before: AttributeSnapshot, server_round: int, warned: set[tuple[int, str]]
) -> None:
    """Warn about each attribute :func:`unkept_attributes` finds, once per run.

    Parameters
    ----------
    before
        The snapshot taken as the round started.
    server_round
        The round (for the message).
    warned
        ``(id(strategy), name)`` already warned about; updated.

    Warns
    -----
    UserWarning
        Naming the strategy, the attributes and how to keep them.
    """
    for inner, names in unkept_attributes(before):
        new = [n for n in names if (id(inner), n) not in warned]
        if not new:
            continue
        warned.update((id(inner), n) for n in new)
        warnings.warn(
            UNKEPT.format(
                strategy=type(inner).__name__,
                names=", ".join(repr(n) for n in new),
                round=server_round,
                them="it" if len(new) == 1 else "them",
            ),
            UserWarning,
            stacklevel=2,
        )

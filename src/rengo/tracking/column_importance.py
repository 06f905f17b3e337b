"""Which of one party's columns drive a simulated vertical run's model, as that party itself
can know it from its own part of the model: a linear model's coefficients on its columns, a
SecureBoost label party's split counts and gains (its own columns by name, the feature
parties' by an anonymous id), a SecureBoost feature party's split counts on its columns.

Each party is shown its own view only: no party's importance is computed from another
party's part, so a host's coefficients never reach the label party or the coordinator (in a
deployed run they never leave the host: ``tests/vfl/hetero_lr/test_privacy.py``). A
simulated run's store holds every part, so the view is enforced by asking for one party.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rengo.core.errors import ConfigError, DataError
from rengo.tracking.store import RunStore

FEATURE_NAMES = "feature_names"
"""The run summary key of each party's column names, where its table names them."""


@dataclass(frozen=True)
class ColumnImportance:
    """One column's importance in a party's view.

    Attributes
    ----------
    column:
        Its name (``x<j>`` where the party's table names none; another party's column as
        the label party knows it: ``party#<anonymous id>``).
    value:
        The coefficient (linear models) or the total split gain (SecureBoost's label party);
        ``None`` where the view has no gain (a SecureBoost feature party).
    splits:
        SecureBoost: how many splits use the column; ``None`` for linear models.
    """

    column: str
    value: float | None
    splits: int | None


@dataclass(frozen=True)
class PartyImportance:
    """A party's own view of which columns drive the model.

    Attributes
    ----------
    run_id, party:
        The run and the party whose view this is.
    measure:
        What ``value`` and ``splits`` are, in words (with the scale of the coefficients).
    columns:
        Its columns, most important first (by ``|value|``, then splits).
    """

    run_id: str
    party: str
    measure: str
    columns: list[ColumnImportance]


def recorded_column_names(store: RunStore, run_id: str, party: str, count: int) -> list[str] | None:
    """The party's column names as the run summary recorded them (None: none recorded).

    Parameters
    ----------
    store
        The run store that recorded the run.
    run_id
        The run's full id.
    party
        Whose columns.
    count
        The rows of the party's weights: one name for each.

    Returns
    -------
    list of str or None
        A name for each of the party's ``count`` model columns, in order.

    Raises
    ------
    DataError
        If the run recorded names for the party but not ``count`` of them (naming columns
        by position would then put a name on another column's value).
    """
    summary = store.get_run(run_id).summary or {}
    recorded = summary.get(FEATURE_NAMES)
    names = recorded.get(party) if isinstance(recorded, Mapping) else None
    if names is None:
        return None
    if not isinstance(names, list) or len(names) != count:
        raise DataError(
            f"run {run_id} recorded {party!r}'s column names, but not one for each of its "
            f"{count} model columns: its columns cannot be named"
        )
    return [str(name) for name in names]


def _names(store: RunStore, run_id: str, party: str, count: int) -> list[str]:
    """The party's column names as the run recorded them, else ``x0 .. x{count-1}``
    (DataError: see :func:`recorded_column_names`)."""
    names = recorded_column_names(store, run_id, party, count)
    return [f"x{j}" for j in range(count)] if names is None else names


def _unknown_party(run_id: str, party: str, parties: Sequence[str]) -> ConfigError:
    return ConfigError(
        f"run {run_id} has no party {party!r}; its parties are {', '.join(sorted(parties))}: "
        "pass --party with one of them"
    )


def _linear(store: RunStore, run_id: str, party: str) -> PartyImportance:
    from rengo.tracking.model_export import load_vertical_parts

    parts = load_vertical_parts(store, run_id)
    if party not in parts.parts:
        raise _unknown_party(parts.run_id, party, list(parts.parts))
    import numpy as np

    part = np.asarray(parts.parts[party])
    matrix = part.reshape(len(part), -1)  # a one-vs-rest model: one column per class
    names = _names(store, parts.run_id, party, len(matrix))
    if matrix.shape[1] > 1:  # each coefficient is of one column for one class model
        names = [f"{n} (class {k})" for n in names for k in range(matrix.shape[1])]
    weights = [float(w) for w in matrix.ravel()]
    scale = (
        "z-scored columns (its own training mean and spread): comparable across its columns"
        if party in parts.scalers
        else "raw columns: a coefficient's size depends on its column's units"
    )
    columns = [ColumnImportance(n, w, None) for n, w in zip(names, weights, strict=True)]
    columns.sort(key=lambda c: (-abs(c.value or 0.0), c.column))
    return PartyImportance(parts.run_id, party, f"coefficient on {scale}", columns)


def _secureboost(store: RunStore, run_id: str, party: str) -> PartyImportance:
    from rengo.tracking.model_export import load_secureboost
    from rengo.vfl.secureboost.model import SecureBoostGuestModel, SecureBoostHostModel

    stored = load_secureboost(store, run_id)
    models = {m.party: m.model for m in stored.models()}
    if party not in models:
        raise _unknown_party(stored.run_id, party, list(models))
    model: Any = models[party]
    if isinstance(model, SecureBoostGuestModel):
        columns = [
            ColumnImportance(item.label, item.gain, item.splits)
            for item in model.feature_importances()
        ]
        measure = (
            "total split gain and split count over every tree (the label party's view: its "
            "own columns by name, the feature parties' by an anonymous id)"
        )
        return PartyImportance(stored.run_id, party, measure, columns)
    if not isinstance(model, SecureBoostHostModel):
        raise DataError(f"run {stored.run_id}: the stored model of {party!r} is not SecureBoost's")
    names = _names(store, stored.run_id, party, len(model.feature_ids))
    counts = [0] * len(names)
    for split in model.splits:
        counts[split.feature] += 1
    columns = [ColumnImportance(n, None, c) for n, c in zip(names, counts, strict=True) if c]
    columns.sort(key=lambda c: (-(c.splits or 0), c.column))
    measure = (
        "split count over every tree (a feature party's view: the gains stay with the label "
        "party, which knows these columns only by an anonymous id)"
    )
    return PartyImportance(stored.run_id, party, measure, columns)


def party_importance(store: RunStore, run_id: str, party: str) -> PartyImportance:
    """Party ``party``'s own view of which of its columns drive a simulated vertical run's
    model, read from the model the run stored: a hetero linear model's coefficients on its
    columns (on z-scored columns where it standardised them, as vertical jobs do), or
    SecureBoost's split counts (with gains at the label party).

    Parameters
    ----------
    store
        The run store.
    run_id
        A simulated vertical run (an id or a unique prefix).
    party
        Whose view: only that party's own columns are reported (the label party of a
        SecureBoost model also sees the others' anonymous ids, as training showed it).

    Returns
    -------
    PartyImportance
        Its columns, most important first.

    Raises
    ------
    ConfigError
        The run has no such party.
    DataError
        The run stored no vertical model that has one (a horizontal or deployed run, or
        an algorithm with no per-column importance such as SplitNN).
    UnknownRunError, AmbiguousRunError
        If ``run_id`` matches no run, or several.
    """
    from rengo.tracking.model_export import HoldsSecureBoost

    try:
        return _linear(store, run_id, party)
    except HoldsSecureBoost:
        return _secureboost(store, run_id, party)
    except DataError as not_linear:
        raise DataError(
            f"{not_linear}; per-column importance is read from a simulated vertical run's "
            "stored hetero linear or SecureBoost model (a deployed run's parts stay at "
            "the parties)"
        ) from None

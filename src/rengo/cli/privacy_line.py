"""The privacy a finished run spent, as the last word of ``rengo run`` and ``rengo
coordinator``: the line above it lists the last round's metrics, and under local DP its
``train_dp_epsilon`` is the clients' mean, below the epsilon of the client that spent most."""

from __future__ import annotations

from rengo.tracking import RunStore
from rengo.tracking.tables import privacy_spent


def privacy_line(store: RunStore, run_id: str | None) -> str | None:
    """``"privacy: <what the run spent>"`` as ``rengo runs show`` states it (central DP: the
    accountant's epsilon; local DP: the worst client's), or None for a run without DP.

    Parameters
    ----------
    store
        The run store the run is recorded in.
    run_id
        The run (None: no run was recorded).

    Returns
    -------
    str or None
        The line, or None.
    """
    if run_id is None:
        return None
    spent = privacy_spent(store, run_id)
    return None if spent is None else f"privacy: {spent}"

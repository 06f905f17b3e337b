"""Whether a simulated run may resume without its clients forgetting the privacy they spent.

A client training with local DP (:class:`~rengo.privacy.LocalDP`) keeps its DP-SGD accountant
history in its state. A simulation's round checkpoint holds its clients' states as of the
last completed round, not what the interrupted round spent: the updates that round already
released would go unaccounted (and before checkpoints held client states, each client started
again from epsilon 0, its ``target_epsilon`` to spend a second time: a run whose budget
allowed 2 rounds trained 4 after an interruption). Only a client that keeps its history in a file
(``TorchClient(..., dp_history=PATH)``, :mod:`rengo.hfl.dp_sgd_history`) carries it over.
"""

from __future__ import annotations

from typing import Any

from rengo.core.errors import ConfigError
from rengo.hfl.client import ClientFn
from rengo.privacy.epsilon_text import epsilon_shown


def refuse_lost_local_budgets(store: Any, run_id: str, client_fn: ClientFn) -> None:
    """Refuse to resume run ``run_id`` if its clients spent local DP budget that a resumed
    simulation would forget: a client reported a ``dp_epsilon`` fit metric, and that client,
    built again, keeps no accountant history file (``dp_history``).

    Parameters
    ----------
    store
        The run store (its ``client_metric_peaks``; a store without it is not checked).
    run_id
        The interrupted run.
    client_fn
        The simulation's clients (one that spent budget is built to see where it keeps it).

    Raises
    ------
    ConfigError
        Naming the client, its epsilon so far and the two ways on.
    """
    peaks = getattr(store, "client_metric_peaks", None)
    if not callable(peaks):
        return
    spent: dict[str, tuple[float, int]] = peaks(run_id, "dp_epsilon")
    if not spent:
        return
    client_id = max(spent, key=lambda c: (spent[c][0], c))
    if getattr(client_fn(client_id), "dp_history", None) is not None:
        return
    raise ConfigError(
        f"run {run_id}'s clients trained with local DP (client {client_id} reached epsilon "
        f"{epsilon_shown(spent[client_id][0])}), and a simulated client's DP-SGD accountant is "
        "not in the round checkpoint: resumed, each would start again from epsilon 0 and spend its "
        "target_epsilon a second time. Start a new run, or give each client a history file "
        "that outlives the process (TorchClient(..., dp_history=PATH), one per client)"
    )

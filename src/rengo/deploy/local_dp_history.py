"""Whether a deployed party would forget the local DP budget it spent, if its process restarts.

A client training with local DP (:class:`~rengo.privacy.LocalDP`) counts its DP-SGD steps in an
accountant history. Without a history file (``TorchClient(..., dp_history=PATH)``) that
history lives in the party process's memory: a restarted party starts again from epsilon 0
and may spend its whole ``target_epsilon`` a second time, while it reports (and the
coordinator records) the second life's epsilon only. A simulation refuses to resume such
clients (:mod:`rengo.hfl.local_dp_resume`); a deployed party is warned when it starts, and
``rengo party --dp-history PATH`` keeps the history in a file.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from rengo.core.errors import ConfigError
from rengo.hfl.client import Client, ClientFn

log = logging.getLogger("rengo.deploy")


def warn_unkept_dp_history(client_fn: ClientFn, name: str) -> None:
    """Warn when party ``name``'s client trains with local DP and keeps its accountant
    history only in memory.

    The client is built once to look. A ``client_fn`` that fails here is not this check's
    business: the error reaches the coordinator with the first round, as it would have.
    """
    try:
        client = client_fn(name)
    except Exception:  # reported in the first round, as before
        log.debug("party %s: client not built before the run", name, exc_info=True)
        return
    dp = getattr(client, "dp", None)
    if dp is None or getattr(client, "dp_history", None) is not None:
        return
    target = dp.target_epsilon
    budget = f"target epsilon {target:g}" if target > 0 else "no target epsilon"
    warnings.warn(
        f"party {name} trains with local DP ({budget}) and keeps "
        "its DP-SGD accountant history only in memory: if this process restarts, its epsilon "
        "starts again from 0 and the budget it spent is forgotten. Keep it in a file: "
        "TorchClient(..., dp_history=PATH), or `rengo party --dp-history PATH`",
        UserWarning,
        stacklevel=3,
    )


def with_dp_history(client_fn: ClientFn, name: str, history: str | Path) -> ClientFn:
    """``client_fn`` whose clients keep their DP-SGD accountant history in ``history``.

    Parameters
    ----------
    client_fn
        Builds party ``name``'s client (one with local DP and no history file of its own).
    name
        The party's name, used in errors.
    history
        The file (created on the first round; an existing one is read and continued).

    Returns
    -------
    ClientFn
        Builds the same clients, their ``dp_history`` set to ``history``.

    Raises
    ------
    ConfigError
        If the party's client trains without local DP, or keeps its history in another file.
    """
    path = Path(history)

    def kept(client_id: str) -> Client:
        client = client_fn(client_id)
        if getattr(client, "dp", None) is None:
            raise ConfigError(
                f"--dp-history {path} given, but party {name}'s client trains without local DP "
                "(its job's [privacy] dp, or its TorchClient's dp=): there is no budget to keep"
            )
        own = getattr(client, "dp_history", None)
        if own is not None and Path(own) != path:
            raise ConfigError(
                f"party {name}'s client keeps its DP history in {own}, and --dp-history names "
                f"{path}: give one of them"
            )
        client.dp_history = path  # type: ignore[attr-defined]
        return client

    kept(name)  # refused now, not in the first round
    return kept

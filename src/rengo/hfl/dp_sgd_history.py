"""A client's DP-SGD accountant history on disk, so its spent budget survives a restart.

:func:`rengo.hfl.torch_dp.private_epochs` keeps Opacus's accountant history
(``[[noise_multiplier, sample_rate, steps], ...]``) in the client's state, which lives in
memory: a deployed party that restarts comes back with none, and its epsilon and its
``target_epsilon`` started again from zero. With a history file the client reads the history
before each round (the longer of the file's and the state's, by steps: the history only
grows), writes this round's steps before training (a crash mid-round then counts them, the
cautious way) and the accountant's history after it, each time atomically (written beside
and renamed over).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from rengo.core.errors import ConfigError
from rengo.core.files import write_atomically

Entry = tuple[float, float, int]
"""One accountant entry: noise multiplier, sample rate, steps."""


def steps_in(history: Sequence[Entry]) -> int:
    """The steps a history holds (Opacus merges repeated entries, so count steps)."""
    return sum(n for _, _, n in history)


def read_history(path: Path) -> list[Entry]:
    """The history kept at ``path`` (empty when there is no file yet).

    Parameters
    ----------
    path
        The client's history file.

    Returns
    -------
    list of (float, float, int)
        The entries, in order.

    Raises
    ------
    ConfigError
        If the file is not a history this module wrote (a client refuses to train on an
        unknown budget).
    """
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = [(float(z), float(q), int(n)) for z, q, n in raw]
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not a DP-SGD accountant history ({exc}); the client's spent privacy "
            "budget is unknown, so it does not train: restore the file or remove it knowingly"
        ) from None
    if not all(math.isfinite(z) and z > 0 and 0 < q <= 1 and n >= 0 for z, q, n in entries):
        raise ConfigError(f"{path} holds an entry that is no accountant step")
    return entries


def write_history(path: Path, history: Sequence[Entry]) -> None:
    """Write ``history`` to ``path`` atomically (:func:`rengo.core.files.write_atomically`:
    all or nothing, flushed to disk, readable by its owner only).

    Parameters
    ----------
    path
        The client's history file.
    history
        The entries to keep.
    """
    write_atomically(path, json.dumps([[z, q, n] for z, q, n in history]).encode("utf-8"))


def with_steps(history: Sequence[Entry], entry: Entry) -> list[Entry]:
    """``history`` with ``entry``'s steps composed on, as Opacus's accountants record a step:
    added to the last entry when it has the same noise multiplier and sample rate, else a new
    entry. Opacus's GDP accountant reads only the last entry (and its ``step`` keeps only the
    last), so a history built by appending ``entry`` counted just that round there.

    Parameters
    ----------
    history
        The entries so far.
    entry
        The steps to add: noise multiplier, sample rate, steps.

    Returns
    -------
    list of (float, float, int)
        The composed history (a new list).
    """
    z, q, n = entry
    if history and history[-1][:2] == (z, q):
        *before, (_, _, spent) = history
        return [*before, (z, q, spent + n)]
    return [*history, (z, q, n)]


def longer_history(kept: Sequence[Entry], held: Sequence[Entry]) -> list[Entry]:
    """Of the file's history and the state's, the one with more steps (ties: the file's)."""
    return list(held) if steps_in(held) > steps_in(kept) else list(kept)

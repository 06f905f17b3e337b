"""What a horizontal job's run records of the coordinator's evaluation on its test split, in
the run's summary when the run ends: how many held-out rows the metrics were computed on, and
the reliability table of the model the run keeps.

The model a run keeps is its final global model, or with ``[early_stopping]`` the best
round's (the one ``rengo runs export RUN --round best`` writes): the table recorded is that
round's, named with it, so a model card's calibration describes the model that is signed off,
not whichever model the last round happened to make. One observer, run in a simulation
(``rengo run``) and by a deployed coordinator (``rengo coordinator --job``) alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError
from rengo.core.parameters import Parameters
from rengo.hfl.early_stopping import EarlyStopping
from rengo.metrics import reliability_records, reliability_table
from rengo.tracking.reliability import RELIABILITY, RELIABILITY_ROUND, TEST_ROWS

TableRecords = list[dict[str, float | int | None]]
"""A reliability table as the run store keeps it (:func:`rengo.metrics.reliability_records`)."""


def class_one_probability(y: np.ndarray, probability: np.ndarray) -> np.ndarray | None:
    """``P(class 1)`` per test row, from itself or from class probabilities of two columns;
    None for more classes, or test rows of one class (no ranking or calibration to judge)."""
    p = np.asarray(probability, dtype=np.float64)
    if p.ndim == 2:
        if p.shape[1] != 2:
            return None
        p = p[:, 1]
    return p if len(np.unique(y)) == 2 else None


class CentralEvaluationRecord:
    """A round observer that records, when the run ends, the coordinator's test split's row
    count (``test_rows``) and the reliability table of the kept model on it (``reliability``,
    with the round it is of: ``reliability_round``; two-class models only).

    The strategy's central evaluation hands it each round's ``P(class 1)``
    (:meth:`record`); at the round's end it bins them into that round's table. It keeps
    only the tables of rounds that may still be the kept one: the latest, and with early
    stopping (:meth:`follow`) the best round so far. Its tables are in every round
    checkpoint, so a resumed run records the table an uninterrupted one would. A contribution
    tracker's evaluations of coalitions never feed it.

    Parameters
    ----------
    test_rows
        The rows of the coordinator's test split.
    """

    def __init__(self, test_rows: int) -> None:
        self.test_rows = int(test_rows)
        self._pending: tuple[np.ndarray, np.ndarray] | None = None
        self._tables: dict[int, TableRecords] = {}
        self._stopping: EarlyStopping | None = None

    def follow(self, stopping: EarlyStopping) -> None:
        """Record the table of the round ``stopping`` keeps (its best round) rather than the
        last round's."""
        self._stopping = stopping

    def record(self, y: np.ndarray, probability: np.ndarray) -> None:
        """Keep ``P(class 1)`` per test row of the round's evaluation (nothing for other
        shapes, see :func:`class_one_probability`), binned at the round's end."""
        p = class_one_probability(y, probability)
        self._pending = None if p is None else (np.asarray(y), p)

    def _best_round(self) -> int | None:
        return None if self._stopping is None else self._stopping.best_round

    def kept_round(self) -> int | None:
        """The round whose model the run keeps, as far as the rounds seen tell: early
        stopping's best round when followed, else the latest round with a table."""
        if self._stopping is not None:
            return self._best_round()
        return max(self._tables, default=None)

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: Any
    ) -> None:
        """Nothing: the table comes from the central evaluation."""

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        """Bin the round's evaluation into its table; drop tables no longer keepable."""
        if self._pending is not None:
            self._tables[server_round] = reliability_records(reliability_table(*self._pending))
            self._pending = None
        keep = {server_round, self._best_round()}
        self._tables = {r: t for r, t in self._tables.items() if r in keep}

    def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
        """Forget the abandoned attempt's evaluation."""
        self._pending = None

    def observer_state(self) -> dict[str, Any]:
        """The kept tables, as codec values, for the round checkpoint."""
        return {"tables": {str(r): t for r, t in self._tables.items()}}

    def load_observer_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`observer_state`'s output (a resumed run)."""
        tables = state.get("tables")
        if not isinstance(tables, Mapping) or not all(isinstance(t, list) for t in tables.values()):
            raise ConfigError("the central evaluation record's checkpointed state is malformed")
        try:
            self._tables = {int(r): list(t) for r, t in tables.items()}
        except ValueError as exc:
            raise ConfigError(
                f"the central evaluation record's checkpointed state is malformed: {exc}"
            ) from None

    def run_summary(self) -> dict[str, Any]:
        """``test_rows``, and the kept round's table and round where it has one."""
        summary: dict[str, Any] = {TEST_ROWS: self.test_rows}
        kept = self.kept_round()
        if kept is not None and kept in self._tables:
            summary[RELIABILITY] = self._tables[kept]
            summary[RELIABILITY_ROUND] = kept
        return summary


def follow_early_stopping(observers: Sequence[object]) -> None:
    """Have each :class:`CentralEvaluationRecord` among ``observers`` follow the run's
    :class:`~rengo.hfl.EarlyStopping`, where there is one.

    Parameters
    ----------
    observers
        One run's observers.
    """
    stopping = next((o for o in observers if isinstance(o, EarlyStopping)), None)
    if stopping is None:
        return
    for observer in observers:
        if isinstance(observer, CentralEvaluationRecord):
            observer.follow(stopping)

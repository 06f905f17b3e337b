"""The label party's evaluation of the held-out rows it scored in a deployed vertical run,
and the report of it the coordinator records (what ``rengo run`` of the job records).

The labels and the predictions stay with the label party: it computes the metrics and the
reliability table there (:func:`rengo.jobs.vertical.held_out_metrics`,
:func:`~rengo.jobs.vertical.held_out_reliability`, as a simulation does) and sends the
coordinator only those aggregates with its ``done`` (:class:`HeldOutReport`): how many rows,
each metric's value, and per probability bin its row count, mean prediction and observed rate,
the last two only for bins of at least :data:`SHARED_BIN_MIN_ROWS` rows (a bin of one row's
mean and rate are that row's score and label: a smaller bin is sent with its row count
alone). No row's ID is in it, and no row's label or prediction on its own. The coordinator
checks the report before it records it: a malformed one is left out of the record, with a
warning, and the trained run stands.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.hfl.result_checks import MAX_SQLITE_INTEGER
from rengo.tracking.reliability import (
    RELIABILITY,
    RELIABILITY_BIN_FIELDS,
    SHARED_BIN_MIN_ROWS,
    TEST_ROWS,
    recorded_reliability,
)
from rengo.tracking.store import RunStore
from rengo.vfl.runner import VerticalPlan


def shared_reliability(
    table: list[dict[str, float | int | None]], min_rows: int = SHARED_BIN_MIN_ROWS
) -> list[dict[str, float | int | None]]:
    """``table`` as the label party shares it: a bin of fewer than ``min_rows`` rows keeps
    its range and row count, its mean prediction and observed rate withheld (None).

    Parameters
    ----------
    table
        A reliability table as the run store keeps it
        (:func:`rengo.metrics.reliability_records`).
    min_rows
        The fewest rows a bin's mean and rate are shared for.

    Returns
    -------
    list of dict
        The bins, in order.
    """
    shared = []
    for b in table:
        rows = b["rows"]
        few = isinstance(rows, int) and rows < min_rows
        shared.append({**b, "mean_probability": None, "observed_rate": None} if few else dict(b))
    return shared


_COORDINATOR_KEYS = frozenset(  # what the coordinator records of the run itself
    {TEST_ROWS, RELIABILITY, "scored_rows", "common_rows", "training_run", "resumed_after_epoch"}
)


def _is_count(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    return 0 <= value <= MAX_SQLITE_INTEGER  # the most rows a run store keeps a count of


def _bin_fault(b: Any, rows: Any) -> str | None:
    """What makes a read bin (:class:`rengo.metrics.ReliabilityBin`) not one of a
    reliability table (None: nothing)."""
    if not _is_count(rows):
        return f"has rows = {rows!r}, not a row count"
    if not 0.0 <= b.lower < b.upper <= 1.0:
        return f"has the range [{b.lower!r}, {b.upper!r}], not one within [0, 1]"
    for name in ("mean_probability", "observed_rate"):
        value = getattr(b, name)
        if value is not None and not 0.0 <= value <= 1.0:
            return f"has {name} = {value!r}, not a probability"
    return None


@dataclass(frozen=True)
class HeldOutReport:
    """The label party's evaluation of its scored held-out rows: aggregates only."""

    rows: int
    """Scored rows with a known label: what the metrics were computed on."""
    metrics: dict[str, float]
    """Metric name (lower case, ``auc``, ``brier``, ``ece``...) to value."""
    reliability: list[dict[str, float | int | None]] | None
    """The reliability table of a binary model's probabilities, else None."""

    def to_wire(self) -> dict[str, Any]:
        """The report as codec values, for the label party's ``done``."""
        return {"rows": self.rows, "metrics": dict(self.metrics), "reliability": self.reliability}

    @classmethod
    def from_wire(cls, value: Any, party: str) -> HeldOutReport:
        """The report ``party`` sent, checked.

        Parameters
        ----------
        value
            The decoded report.
        party
            Who sent it (named in errors).

        Returns
        -------
        HeldOutReport
            The report.

        Raises
        ------
        DataError
            Naming what is malformed: not the three fields, a row count that is not a
            non-negative integer a store keeps, a metric that is not a finite number, a
            reliability table that is not bins of numbers (a row count each, a range within
            [0, 1], a mean prediction and observed rate in [0, 1] or None) or whose rows are
            not the report's.
        """
        where = f"{party}'s held-out evaluation"
        if not isinstance(value, Mapping) or set(value) != {"rows", "metrics", "reliability"}:
            raise DataError(f"{where} is not rows, metrics and reliability")
        rows, metrics, table = value["rows"], value["metrics"], value["reliability"]
        if not _is_count(rows):
            raise DataError(f"{where}: rows = {rows!r} is not a row count")
        if not isinstance(metrics, Mapping) or not all(
            isinstance(k, str)
            and isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            for k, v in metrics.items()
        ):
            raise DataError(f"{where}: metrics are not names with finite values")
        if table is not None:
            if not isinstance(table, list) or not all(
                isinstance(b, Mapping) and set(b) == set(RELIABILITY_BIN_FIELDS) for b in table
            ):
                raise DataError(f"{where}: the reliability table is not a list of bins")
            try:
                bins = recorded_reliability({"reliability": table}, where)
            except ValueError as exc:
                raise DataError(str(exc)) from None
            assert bins is not None
            for k, (b, sent_bin) in enumerate(zip(bins, table, strict=True)):
                fault = _bin_fault(b, sent_bin["rows"])
                if fault is not None:
                    raise DataError(f"{where}: reliability bin {k} {fault}")
            if sum(b.rows for b in bins) != rows:
                raise DataError(
                    f"{where}: the reliability table's bins do not hold its {rows} rows"
                )
            table = [dict(b) for b in table]
        return cls(rows, {k: float(v) for k, v in metrics.items()}, table)


def evaluate_scored_rows(
    plan: VerticalPlan,
    model: Any,
    ids: np.ndarray,
    scores: np.ndarray,
    labels_by_id: Mapping[Any, Any],
    label_dtype: Any,
    exposure_by_id: Mapping[Any, float] | None = None,
) -> HeldOutReport:
    """The label party's evaluation of the rows it scored (their IDs and predictions), with
    their labels (``labels_by_id``), as ``rengo run`` of the job evaluates them.

    Parameters
    ----------
    plan
        The run's plan (its algorithm and settings).
    model
        The label party's model (class codes).
    ids, scores
        The scored rows' IDs and predictions, in the party's own row order.
    labels_by_id
        Each scored row's label by ID (``None``: unknown).
    label_dtype
        The labels' dtype.
    exposure_by_id
        Each scored row's exposure by ID (a job's ``[vfl] exposure``: the scores are
        rates); None: none.

    Returns
    -------
    HeldOutReport
        The metrics and, for a binary model, the reliability table as it is shared
        (:func:`shared_reliability`: a bin of few rows with its row count only).

    Raises
    ------
    DataError
        If the rows cannot be evaluated (no known label; AUC with one class only).
    """
    from rengo.jobs.vertical import held_out_metrics, held_out_reliability, known_label_count

    truth = np.array([labels_by_id[i] for i in ids], dtype=label_dtype)
    exposure = (
        None
        if exposure_by_id is None
        else np.array([exposure_by_id[i] for i in ids], dtype=np.float64)
    )
    metrics = held_out_metrics(plan.spec, plan.config, truth, scores, model, None, exposure)
    table = held_out_reliability(plan.spec, plan.config, truth, scores, model)
    return HeldOutReport(
        known_label_count(truth), metrics, None if table is None else shared_reliability(table)
    )


class ScoredRowsEvaluation:
    """The label party's evaluation of the rows it scored, made once: what it sends the
    coordinator with its ``done`` (:meth:`to_send`, when it shares it) and what it reports
    itself (:meth:`evaluate`) are the same evaluation.

    Parameters
    ----------
    labels_by_id
        Each scored row's label by ID (``None``: unknown).
    label_dtype
        The labels' dtype.
    exposure_by_id
        Each scored row's exposure by ID, where the label party has one; None: none.
    """

    def __init__(
        self,
        labels_by_id: Mapping[Any, Any],
        label_dtype: Any,
        exposure_by_id: Mapping[Any, float] | None = None,
    ) -> None:
        self.labels_by_id, self.label_dtype = labels_by_id, label_dtype
        self.exposure_by_id = exposure_by_id
        self._of: np.ndarray | None = None
        self._made: HeldOutReport | DataError | None = None

    def evaluate(
        self, plan: VerticalPlan, model: Any, ids: np.ndarray, scores: np.ndarray
    ) -> HeldOutReport | DataError:
        """The evaluation of ``scores`` (:func:`evaluate_scored_rows`), or the error saying
        why the rows cannot be evaluated; made once per set of scores.

        Parameters
        ----------
        plan, model, ids, scores
            As :func:`evaluate_scored_rows`.

        Returns
        -------
        HeldOutReport or DataError
            The evaluation, or why there is none.
        """
        if self._made is None or self._of is not scores:
            try:
                made: HeldOutReport | DataError = evaluate_scored_rows(
                    plan,
                    model,
                    ids,
                    scores,
                    self.labels_by_id,
                    self.label_dtype,
                    self.exposure_by_id,
                )
            except DataError as exc:
                made = exc
            self._of, self._made = scores, made
        return self._made

    def to_send(
        self, plan: VerticalPlan, model: Any, ids: np.ndarray, scores: np.ndarray
    ) -> dict[str, Any] | None:
        """:meth:`evaluate`'s report as the label party sends it (None: none to send; a
        report of 0 rows when none of the scored rows has a known label: it evaluated none).

        Parameters
        ----------
        plan, model, ids, scores
            As :func:`evaluate_scored_rows`.

        Returns
        -------
        dict or None
            The report's codec values.
        """
        made = self.evaluate(plan, model, ids, scores)
        if isinstance(made, DataError):
            from rengo.jobs.vertical import known_label_count  # not at import: party start-up

            truth = np.array([self.labels_by_id.get(i) for i in ids], dtype=object)
            if known_label_count(truth):
                return None  # rows it could not evaluate: no report, as before
            made = HeldOutReport(0, {}, None)  # none labelled: it evaluated none
        return made.to_wire()


def record_held_out(
    store: RunStore | None,
    run_id: str | None,
    plan: VerticalPlan,
    summary: dict[str, Any],
    sent: Any,
    party: str,
    warn: Callable[[str], None],
) -> HeldOutReport | None:
    """Record the held-out evaluation the label party sent (``sent``; None: it sent none)
    as ``rengo run`` records its own: each metric in the run's summary and, as ``test_``
    metrics, in its last round; the scored rows (``test_rows``) and a binary model's
    reliability table. A malformed report is recorded nowhere, ``warn`` told why. Only the
    metrics the run's algorithm reports (:func:`rengo.jobs.vertical.held_out_metric_names`)
    are recorded, and never over a figure the coordinator put in ``summary`` itself: any
    other is left out, ``warn`` told which.

    Parameters
    ----------
    store, run_id
        Where the run is recorded (None: not recorded).
    plan
        The run's plan (its algorithm and config say which metrics it reports).
    summary
        The run's summary, updated in place.
    sent
        The decoded report (:attr:`rengo.vfl.runner.VerticalCoordinatorOutcome.held_out`).
    party
        The label party, who sent it.
    warn
        Told of a report left out.

    Returns
    -------
    HeldOutReport or None
        The report recorded (its metrics those recorded).
    """
    if sent is None:
        return None
    try:
        report = HeldOutReport.from_wire(sent, party)
    except DataError as exc:
        warn(f"{exc}: the run's record holds no held-out evaluation")
        return None
    from rengo.jobs.vertical import held_out_metric_names  # not at import: party start-up

    accepted = held_out_metric_names(plan.spec, plan.config) - set(summary) - _COORDINATOR_KEYS
    foreign = sorted(set(report.metrics) - accepted)
    if foreign:
        warn(
            f"{party}'s held-out evaluation names metrics that a {plan.spec.name} run does not "
            f"report or that the coordinator records itself ({', '.join(foreign)}): they are "
            "left out of the run's record"
        )
    metrics = {k: v for k, v in report.metrics.items() if k in accepted}
    report = HeldOutReport(report.rows, metrics, report.reliability)
    summary.update(report.metrics)
    summary[TEST_ROWS] = report.rows
    if report.reliability is not None:
        summary[RELIABILITY] = report.reliability
    if store is not None and run_id is not None and report.metrics:
        rounds = store.rounds(run_id, metrics=False)
        last = rounds[-1] if rounds else None
        store.log_round(  # onto the last epoch, as a simulated run logs them
            run_id,
            1 if last is None else last.round,
            {f"test_{k}": v for k, v in report.metrics.items()},
            0.0 if last is None else last.duration_s,
            0 if last is None else last.num_clients,
            0 if last is None else last.num_failures,
        )
    return report

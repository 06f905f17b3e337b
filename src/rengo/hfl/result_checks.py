"""The coordinator's checks of every fit result, before it can touch the global model.

A consortium admits parties it does not fully trust. Besides the per-result checks every
round loop makes (a :class:`~rengo.core.messages.FitResult` with the model's arrays, finite
values, at least one example), :class:`ResultChecks` bounds what one authenticated party can
do to the model by what it *claims*:

* **claimed examples** - FedAvg weights a result by the examples it says it trained on. A
  claim above ``max_claimed_examples`` (default 10^12; SQLite's integers end at 2^63) is
  refused (an evaluation result's too: its count weighs the federated loss); with
  ``max_weight_ratio`` every claim is also capped at that multiple of the round's median
  claim, so a party reporting 10^18 examples counts as, say, 3 median parties, not as the
  whole federation; evaluation claims are capped the same way, over the round's evaluation
  results (:mod:`rengo.hfl.evaluation_checks`).
* **update norm** - with ``max_update_norm_ratio`` a result whose update ``||x_i - w||`` is
  more than that multiple of the round's median update norm is refused (values x 1e300,
  int64 2^62 ...), with its norm reported.
* **evaluation loss** - with ``max_evaluation_loss_ratio`` an evaluation result whose loss
  is, in magnitude, more than that multiple of the round's upper median evaluation loss is
  refused (a party saying 1e140 or -1e140), with three or more evaluations with examples,
  so one party cannot make a round's ``eval_loss``, and early stopping's decision on it,
  its own.
* **overflow** - a result whose ``weight x max |value|`` could overflow float64 in the sum is
  refused, whatever the options, so the aggregate stays finite; the round loop also checks
  the aggregate is finite before it replaces the model (see
  :class:`~rengo.hfl.Coordinator`).

Whatever the options, a result's metrics are screened too (:func:`screen_metrics`): a NaN or
infinite metric, or one beyond +-1e150 (its weighted mean would overflow), is dropped, with
a warning naming the party and a note in its round record, so one party cannot turn the
round's mean ``train_loss`` into NaN or ``inf``. A metric is a number or a short string: at
most :data:`MAX_METRICS` of them per result, names of 1 to :data:`MAX_METRIC_NAME` printable
characters (no newline or terminal escape to forge what ``rengo runs show`` prints), strings
of at most :data:`MAX_METRIC_TEXT`; the rest (bytes, arrays, a 2 MB string) is dropped the
same way, so one party cannot fill the run store through its metrics. A rate (a name
ending in ``accuracy``, ``acc``, ``auc``, ``precision``, ``recall`` or ``f1``,
:data:`RATE_METRICS`) outside [0, 1] is dropped too: one party saying 7.0 made the round's
``eval_accuracy`` 2.1, its best round by that metric (report percentages under another
name). A round's mean of a metric counts only when at least half of its results report it
(:meth:`~rengo.hfl.WeightedSum.metrics`), so one party cannot add names of its own to every
round's record either.

The two median rules need every result of the round before the first is folded, so they
hold the round's results (a deployed hub holds them anyway); they are on by default in
deployment (``rengo coordinator``, :func:`rengo.deploy.serve_coordinator`) and off in
simulation unless a job's ``[result_checks]`` turns them on; never under central DP (one
client would move the median and change which others count, past the clip norm's bound:
:func:`rengo.hfl.privacy_fit.checks_under_dp`) or secure aggregation (no update is seen).
The median is the lower median (for two results, the smaller), so one party cannot drag
it. These checks are validation, not robust aggregation: a party that stays inside them
still counts (for Byzantine-robust rules see the Krum and trimmed-mean strategies and the
privacy area's norm bounding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from rengo.core.options import check_options, option, options_from_mapping
from rengo.core.parameters import difference_blocks, sum_of_squares

MAX_SQLITE_INTEGER = 2**63 - 1


@dataclass(frozen=True)
class ResultChecks:
    """Bounds on what one fit result may claim (job section ``[result_checks]``).

    Parameters
    ----------
    max_claimed_examples
        Most examples one fit or evaluation result may claim; a larger claim is refused
        with its reason.
    max_weight_ratio
        Cap every result's weight (its claimed examples) at this multiple of the round's
        median claim; None: no cap.
    max_update_norm_ratio
        Refuse a result whose update norm ``||x_i - w||`` exceeds this multiple of the
        round's median update norm; None: no bound.
    max_evaluation_weight_ratio
        Cap every evaluation result's weight at this multiple of the round's median
        evaluation claim; None: no cap. Evaluation results reach the coordinator one by
        one under secure aggregation too, and central DP does not cover them, so this cap
        stays where the two median rules on fit results go.

    Raises
    ------
    ConfigError
        Through :func:`~rengo.core.options.options_from_mapping` for out-of-range values.
    """

    max_claimed_examples: int = option(
        10**12, "Most examples one result may claim (larger: refused).", ge=1, le=2**53
    )
    max_weight_ratio: float | None = option(
        3.0, "Cap each weight at this multiple of the round's median claim.", ge=1, le=1e9
    )
    max_update_norm_ratio: float | None = option(
        10.0,
        "Refuse updates whose norm exceeds this multiple of the round's median norm.",
        ge=1,
        le=1e12,
    )
    max_evaluation_weight_ratio: float | None = option(
        3.0,
        "Cap each evaluation weight at this multiple of the round's median evaluation claim.",
        ge=1,
        le=1e9,
    )
    max_evaluation_loss_ratio: float | None = option(
        10.0,
        "Refuse evaluation losses beyond this multiple of the round's upper median "
        "evaluation loss (with 3 or more evaluations).",
        ge=1,
        le=1e12,
    )

    def __post_init__(self) -> None:
        check_options(self)

    @classmethod
    def streaming(cls) -> ResultChecks:
        """The checks that keep aggregation streaming (simulation's default): the absolute
        claim bound and the overflow guard, no median rule."""
        return cls(
            max_weight_ratio=None,
            max_update_norm_ratio=None,
            max_evaluation_weight_ratio=None,
            max_evaluation_loss_ratio=None,
        )

    @classmethod
    def from_mapping(cls, raw: dict[str, Any], where: str = "") -> ResultChecks:
        """Checks from job-file keys (``[result_checks]``), every other one at its default.

        Raises
        ------
        ConfigError
            Naming the key, for an unknown key or a value out of range.
        """
        return options_from_mapping(
            cls, raw, label=lambda name: f"result_checks.{name}", where=where
        )

    def claim_problem(self, examples: int, what: str = "examples") -> str | None:
        """Why a result claiming ``examples`` is refused (above ``max_claimed_examples``),
        or None; ``what`` names them in the reason ("evaluation examples")."""
        if examples <= self.max_claimed_examples:
            return None
        return (
            f"claimed {examples} {what}, above the limit of {self.max_claimed_examples} "
            "(result_checks.max_claimed_examples)"
        )

    @property
    def needs_whole_round(self) -> bool:
        """Whether a median rule is on (the round's results are held until all arrived)."""
        return self.max_weight_ratio is not None or self.max_update_norm_ratio is not None

    def without_median_rules(self) -> ResultChecks:
        """These checks with both median rules on fit results off (the evaluation cap,
        :attr:`max_evaluation_weight_ratio`, stays: evaluation results are seen one by one
        under secure aggregation, and central DP does not cover them)."""
        return replace(self, max_weight_ratio=None, max_update_norm_ratio=None)


MAX_METRICS = 32
"""Most metrics one fit or evaluation result may carry (the first ones are kept)."""
MAX_METRIC_NAME = 64
"""Longest metric name, in characters."""
MAX_METRIC_TEXT = 256
"""Longest string metric, in characters."""
MAX_METRIC_MAGNITUDE = 1e150
"""Largest ``|value|`` of a numeric metric: times any claim up to 2^53 examples, summed over
a million results, it stays far inside float64, so a round's weighted mean is finite."""
RATE_METRICS = frozenset({"accuracy", "acc", "auc", "precision", "recall", "f1"})
"""Last ``_``-separated tokens of metric names that are rates, within [0, 1]
(``accuracy``, ``top5_acc``, ``val_auc``): a value outside is refused, so one party cannot
make the round's mean ``eval_accuracy`` 2.1 (by saying 7.0) or 4e148 - the figure a run's
best round is picked by."""
AT_MOST_ONE_METRICS = frozenset({"r2"})
"""Last tokens of metric names at most 1 (``eval_r2``: a coefficient of determination is
``1 - SS_res / SS_tot``, 1 for a perfect fit and unbounded below): a party saying 40.0
would make the round's mean R^2 - what a regression run's best round is picked by - its own."""
NON_NEGATIVE_METRICS = frozenset({"rmse", "mae", "mse"})
"""Last tokens of error metrics that are never negative (``eval_rmse``)."""


def screen_metrics(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A result's metrics without the entries the coordinator refuses, and why each went.

    A float metric that is NaN or infinite is refused: folded into the round's weighted mean
    it would make that mean NaN for every party's result; so is one beyond
    :data:`MAX_METRIC_MAGNITUDE` (1e300 times a weight overflows that mean to ``inf``). So
    is a rate (:func:`is_rate`: ``accuracy``, ``auc``...) outside [0, 1], an R^2 above 1
    or a negative error (:data:`AT_MOST_ONE_METRICS`, :data:`NON_NEGATIVE_METRICS`), and so is
    anything but a number (bool, int, float) or a string of at most
    :data:`MAX_METRIC_TEXT` characters, a name that is empty, longer than
    :data:`MAX_METRIC_NAME` characters or holds a control character (a newline, a terminal
    escape), and every metric after the first :data:`MAX_METRICS`: they would be stored
    with the round, every round, and printed by ``rengo runs show``.

    Parameters
    ----------
    metrics
        The metrics a fit or evaluation result came with.

    Returns
    -------
    tuple
        The metrics kept, and one reason per metric refused (``"metric 'loss' is nan"``).
    """
    kept: dict[str, Any] = {}
    refused: list[str] = []
    if not isinstance(metrics, Mapping):
        return kept, [f"metrics are a {type(metrics).__name__}, not a map of name to value"]
    for name, value in metrics.items():
        problem = _metric_problem(name, value)
        if problem is None and len(kept) >= MAX_METRICS:
            problem = f"metric {name!r} is one more than the {MAX_METRICS} a result may carry"
        if problem is not None:
            refused.append(problem)
            continue
        kept[name] = value
    if len(refused) > 5:  # the reason stays one line, however many were sent
        refused = [*refused[:4], f"{len(refused) - 4} more metrics"]
    return kept, refused


def _metric_problem(name: Any, value: Any) -> str | None:
    """Why one metric is refused (see :func:`screen_metrics`), or None."""
    if not isinstance(name, str) or not name or len(name) > MAX_METRIC_NAME:
        shown = repr(name)[:40] + ("..." if len(repr(name)) > 40 else "")
        return f"metric name {shown} is not a name of 1 to {MAX_METRIC_NAME} characters"
    if not name.isprintable():  # a newline or terminal escape would forge what runs show
        shown = repr(name)[:40] + ("..." if len(repr(name)) > 40 else "")
        return f"metric name {shown} has control characters"
    if isinstance(value, str):
        if len(value) > MAX_METRIC_TEXT:
            return (
                f"metric {name!r} is a string of {len(value)} characters (at most "
                f"{MAX_METRIC_TEXT})"
            )
        return None
    if not isinstance(value, (bool, int, float, np.integer, np.floating)):
        return f"metric {name!r} is a {type(value).__name__}, not a number or a short string"
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    shown = str(value) if len(str(value)) <= 40 else f"{str(value)[:37]}..."
    if not finite:
        return f"metric {name!r} is {shown}"
    if abs(float(value)) > MAX_METRIC_MAGNITUDE:
        return (
            f"metric {name!r} is {shown}, beyond +-{MAX_METRIC_MAGNITUDE:g} (the round's "
            "weighted mean of it would overflow)"
        )
    if is_rate(name) and not 0.0 <= float(value) <= 1.0:
        return f"metric {name!r} is {shown}, outside [0, 1] (a rate)"
    token = name.lower().rsplit("_", 1)[-1]
    if token in AT_MOST_ONE_METRICS and float(value) > 1.0:
        return f"metric {name!r} is {shown}, above 1 (an R^2 is at most 1)"
    if token in NON_NEGATIVE_METRICS and float(value) < 0.0:
        return f"metric {name!r} is {shown}, below 0 (an error is never negative)"
    return None


def is_rate(name: str) -> bool:
    """Whether metric ``name`` is a rate in [0, 1]: its last ``_``-separated token is one of
    :data:`RATE_METRICS`."""
    return name.lower().rsplit("_", 1)[-1] in RATE_METRICS


def low_median(values: Sequence[float]) -> float:
    """The lower median: the middle value, or the smaller of the two middle ones, so no
    single value (in particular, with two values, the larger) can move it."""
    ordered = sorted(values)
    return float(ordered[(len(ordered) - 1) // 2])


def claim_cap(claims: Sequence[float], ratio: float) -> int:
    """The most examples a claim counts for: ``ratio`` times the round's lower median claim
    (:func:`low_median`), in whole examples and at least 1 (``max_weight_ratio``)."""
    return max(1, int(ratio * low_median(claims)))


def update_norm(update: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> float:
    """``||update - reference||`` over every array, in float64 (``inf`` when it overflows).

    The differences are taken :data:`~rengo.core.parameters.BLOCK_VALUES` values at a time
    into one reused float64 block, never as a whole float64 copy of the update (a 200 MB
    temporary per client for a 25M-value float32 model); the sum is
    :func:`~rengo.core.parameters.sum_of_squares`', block by block, so it rounds alike on
    every executor and thread count.
    """
    total = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for _, difference in difference_blocks(reference, update):
            total += sum_of_squares([difference])
    return math.sqrt(total) if math.isfinite(total) else math.inf


def largest_magnitude(arrays: Sequence[np.ndarray]) -> float:
    """``max |value|`` over every array (0 for none), in float64.

    A floating-point array is read in its own dtype, through its largest and smallest
    values (exact: negation and widening to float64 round nothing), never through a float64
    copy of its absolute values (a 25M-value float32 model's update was two 200 MB
    temporaries and 8x the time). Integer arrays are widened first (``abs`` of the most
    negative integer overflows its own dtype).
    """
    largest = 0.0
    for array in arrays:
        if not array.size:
            continue
        if array.dtype.kind == "f":
            top, bottom = float(np.max(array)), float(np.min(array))
            largest = max(largest, abs(top), abs(bottom))
        else:
            largest = max(largest, float(np.max(np.abs(array.astype(np.float64, copy=False)))))
    return largest


def overflow_limit(results: int) -> float:
    """The largest ``weight x max |value|`` a result may have so that the weighted sum of
    ``results`` of them cannot overflow float64."""
    return float(np.finfo(np.float64).max) / max(results, 1) / 4.0


def kind_problem(array: np.ndarray, reference: np.ndarray) -> str | None:
    """Why ``array`` cannot stand for ``reference`` (a boolean or integer array for a
    floating-point model array), or None. Integer model arrays (a batch-norm counter) may
    come back as floats: SCAFFOLD's control variates of them are."""
    if reference.dtype.kind == "f" and array.dtype.kind != "f":
        return f"has dtype {array.dtype}, the model's array is {reference.dtype}"
    return None

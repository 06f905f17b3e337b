"""Horizontal jobs on a continuous target (``data.task = "regression"``).

Which table is a regression (the job's ``data.task`` against what the table holds), the
target's z-score agreed from the clients' moments (:class:`~rengo.data.TargetScaling`), the
numpy least-squares model (``model.type = "linear"``), the numpy Poisson model of counts
(``model.type = "poisson"``, its target never standardised) and the settings that only make sense
for classes, refused naming their key. The PyTorch MLP regressor is built beside the
classifier, in :mod:`rengo.jobs.build`.

Metrics: ``loss`` (training and evaluation) is the mean squared error on the standardised
target; ``rmse``, ``mae`` and ``r2`` are measured in the target's own units, every round,
at the coordinator (``central_rmse``...) and on the clients' own test rows (``eval_rmse``...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.messages import Metrics
from rengo.core.parameters import Parameters
from rengo.data import Dataset, FederatedDataset, TargetMoments, TargetScaling
from rengo.data.class_weights import NO_CLASS_WEIGHT
from rengo.data.target_scaling import IDENTITY_SCALING
from rengo.hfl import (
    ClientFn,
    LinearRegressionClient,
    PoissonRegressionClient,
    linear_init,
)
from rengo.hfl.linear_client import linear_scores
from rengo.hfl.poisson_client import poisson_scores
from rengo.jobs.contribution import (
    HORIZONTAL_CLASS_METRICS,
    HORIZONTAL_COUNT_METRICS,
    HORIZONTAL_REGRESSION_METRICS,
)
from rengo.jobs.numpy_clients import numpy_client_fn
from rengo.jobs.spec import JobSpec

CONTINUOUS_MIN_CLASSES = 20
"""With ``data.task = "auto"``, a whole-number label with more classes than this and"""
CONTINUOUS_ROWS_PER_CLASS = 5
"""fewer rows than this per class on average is refused as a continuous target."""

CLASS_ONLY_ATTACKS = ("label_flip", "backdoor")
"""Attack simulators that rewrite class labels: a continuous target has none."""


def is_regression(spec: JobSpec, dataset: Dataset) -> bool:
    """Whether the job trains a regression on ``dataset``, after checking that its
    ``data.task`` and ``model.type`` fit what the table holds.

    Raises
    ------
    ConfigError
        For ``data.task`` naming the other kind of table than the one read (a bundled
        classification table with ``"regression"``), a logistic model of a continuous
        target, a linear model of classes, or (``task = "auto"``) whole numbers that look
        like a continuous target (suggesting ``data.task = "regression"``).
    """
    where = spec.data.path or dataset.name
    task, model = spec.data.task, spec.model.type
    if task == "regression" and dataset.is_classification:
        raise ConfigError(
            f"{spec.source}: data.task = 'regression', but {where} has class labels "
            f"({dataset.num_classes} classes): only a csv or parquet table's label, or a "
            "bundled regression table (diabetes), can be read as a continuous target"
        )
    if task == "classification" and not dataset.is_classification:
        raise ConfigError(
            f"{spec.source}: data.task = 'classification', but {where}'s target is "
            'continuous: set data.task = "regression"'
        )
    if not dataset.is_classification:
        if model == "logistic":
            raise ConfigError(
                f"{spec.source}: model.type = 'logistic' is a classifier, and {where} has no "
                f"class labels{_why_continuous(dataset)}; use model.type = 'linear' (least "
                "squares) or 'mlp' for a regression, or data.task = 'classification' if its "
                "values are class codes"
            )
        return True
    if model in ("linear", "poisson"):
        fits = "a continuous target" if model == "linear" else "counts"
        raise ConfigError(
            f"{spec.source}: model.type = {model!r} fits {fits}, and {where} has "
            f"class labels ({dataset.num_classes} classes): use model.type = 'logistic' or "
            "'mlp', or data.task = 'regression' to read a numeric label as a target"
        )
    if task == "auto":
        _refuse_continuous_target(spec, dataset)
    return False


def _refuse_continuous_target(spec: JobSpec, dataset: Dataset) -> None:
    """ConfigError for a label of whole numbers that looks like a regression target.

    ``task = "auto"`` reads whole numbers as classes, so a regression target such as a
    length of stay in days (a few hundred distinct values) became a several-hundred-class
    classifier that trained to accuracy 0.01, recorded completed.
    """
    classes = dataset.classes or ()
    k, n = len(classes), len(dataset)
    if k <= CONTINUOUS_MIN_CLASSES or n >= CONTINUOUS_ROWS_PER_CLASS * k:
        return
    if not all(c.lstrip("-").isdigit() for c in classes):
        return
    where = spec.data.path or dataset.name
    raise ConfigError(
        f"{spec.source}: label {spec.data.label!r} of {where} has {k} distinct whole numbers "
        f"in {n} rows (under {CONTINUOUS_ROWS_PER_CLASS} rows per class): it looks like a "
        'continuous target; set data.task = "regression" to train a regression on it, or '
        'data.task = "classification" if the numbers are class codes'
    )


def _why_continuous(dataset: Dataset) -> str:
    """Why a labelled table reads as a regression target: its first fractional label."""
    if dataset.y is None:
        return ""
    y = np.asarray(dataset.y, dtype=np.float64)
    fractional = np.flatnonzero(y != np.round(y))
    if not fractional.size:
        return ""
    i = int(fractional[0])
    return (
        f": its label column holds {fractional.size} fractional value(s) (first {y[i]:g} in "
        f"data row {i + 1}), so the whole column reads as a regression target"
    )


def check_count_labels(spec: JobSpec, dataset: Dataset) -> None:
    """Refuse a ``model.type = "poisson"`` table whose label holds a negative count (NaN
    and text labels are the loader's to refuse), naming the file, the data row and its ID.

    Raises
    ------
    DataError
        For the first negative label.
    """
    y = dataset.labels()
    negative = np.flatnonzero(np.asarray(y, dtype=np.float64) < 0)
    if not negative.size:
        return
    i = int(negative[0])
    where = spec.data.path or dataset.name
    named = "" if dataset.ids is None else f", id {str(dataset.ids[i])!r}"
    raise DataError(
        f"{where}: data row {i + 1}{named}: label {spec.data.label!r} is {float(y[i]):g}, and "
        "model.type = 'poisson' models counts (non-negative; fractional counts are taken) "
        f"({negative.size} negative rows)"
    )


def scale_target(fed: FederatedDataset) -> FederatedDataset:
    """The federation with its target standardised by the training clients' pooled mean
    and spread: each client contributes its row count, mean and sum of squared deviations
    (:class:`~rengo.data.TargetMoments`), never a row; held-out rows take no part.

    Raises
    ------
    DataError
        For a target whose spread overflows float64.
    """
    moments = [TargetMoments.of(fed.clients[c].labels()) for c in fed.client_ids]
    scaling = TargetScaling.pooled(moments, name=f"{fed.name} (clients' training targets)")
    client_tests = None
    if fed.client_tests is not None:
        client_tests = {c: scaling.apply(d) for c, d in fed.client_tests.items()}
    return replace(
        fed,
        clients={c: scaling.apply(d) for c, d in fed.clients.items()},
        test=None if fed.test is None else scaling.apply(fed.test),
        client_tests=client_tests,
        target_scaling=scaling,
    )


def check_regression_settings(spec: JobSpec) -> None:
    """Refuse the settings of a regression job that only make sense for classes.

    Raises
    ------
    ConfigError
        For a ``[robust]`` attack that rewrites class labels, ``train.class_weight``, or a
        ``[contribution]`` metric of classes (naming the regression metrics).
    """
    if spec.robust is not None and spec.robust.attack in CLASS_ONLY_ATTACKS:
        raise ConfigError(
            f"{spec.source}: robust.attack = {spec.robust.attack!r} rewrites class labels, "
            "and a regression target has none: simulate an attack on the updates "
            "(gaussian, sign_flip, scaled_update) instead"
        )
    if spec.train.class_weight != NO_CLASS_WEIGHT:
        raise ConfigError(
            f"{spec.source}: train.class_weight = {spec.train.class_weight!r} weighs classes, "
            "and a regression target has none: remove it (or set data.task = "
            '"classification" if the label is classes)'
        )
    _check_contribution_metric(spec, regression=True)


def check_classification_settings(spec: JobSpec) -> None:
    """Refuse a ``[contribution]`` metric of a regression on a classification job.

    Raises
    ------
    ConfigError
        Naming the metric and those that score classes.
    """
    _check_contribution_metric(spec, regression=False)


def _check_contribution_metric(spec: JobSpec, regression: bool) -> None:
    """ConfigError for a ``contribution.metric`` of the other kind of target."""
    contribution = spec.contribution
    counts = regression and spec.model.type == "poisson"
    allowed: tuple[str, ...] = (
        HORIZONTAL_COUNT_METRICS
        if counts
        else HORIZONTAL_REGRESSION_METRICS
        if regression
        else HORIZONTAL_CLASS_METRICS
    )
    if contribution is None or contribution.metric in allowed:
        return
    if counts:
        raise ConfigError(
            f"{spec.source}: contribution.metric = {contribution.metric!r}, and model.type = "
            "'poisson' is scored as counts over an exposure: set contribution.metric to one "
            f"of {', '.join(allowed)} (d2_poisson, the share of Poisson deviance explained, "
            "is the default)"
        )
    scored, target = (
        ("classes", "target is continuous")
        if regression
        else ("a continuous target", "labels are classes")
    )
    default = ' (r2 is the default with data.task = "regression")' if regression else ""
    told = ""
    if regression and spec.data.task == "auto":  # the metric was settled before the table
        told = (
            ' (with data.task = "auto" a [contribution] metric defaults to accuracy, before '
            'the table is read: set data.task = "regression" for r2)'
        )
    raise ConfigError(
        f"{spec.source}: contribution.metric = {contribution.metric!r} scores {scored}{told}, "
        f"and this job's {target}: set contribution.metric to one of {', '.join(allowed)}"
        f"{default}"
    )


def linear_job(
    spec: JobSpec, fed: FederatedDataset, d: int
) -> tuple[ClientFn, Parameters, Callable[[Parameters], tuple[float, Metrics]]]:
    """The client factory, initial model and coordinator evaluation of
    ``model.type = "linear"``: least squares by minibatch SGD on every client."""
    scaling = fed.target_scaling or IDENTITY_SCALING
    client_fn = numpy_client_fn(spec, fed, LinearRegressionClient, target_scaling=scaling)

    assert fed.test is not None
    X, y = fed.test.X.astype(np.float64, copy=False), fed.test.labels()

    def evaluate(params: Parameters) -> tuple[float, Metrics]:
        return linear_scores(params, X, y, 0.0, scaling)

    return client_fn, linear_init(d), evaluate


def poisson_job(
    spec: JobSpec, fed: FederatedDataset, d: int
) -> tuple[ClientFn, Parameters, Callable[[Parameters], tuple[float, Metrics]]]:
    """The client factory, initial model and coordinator evaluation of
    ``model.type = "poisson"``: Poisson regression (log link) by minibatch SGD on every
    client, each over its own rows' exposure (``data.exposure``), the held-out rows scored
    by :func:`rengo.metrics.frequency_metrics` over theirs."""
    client_fn = numpy_client_fn(spec, fed, PoissonRegressionClient)

    assert fed.test is not None
    X, y = fed.test.X.astype(np.float64, copy=False), fed.test.labels()
    exposure = fed.test.exposure

    def evaluate(params: Parameters) -> tuple[float, Metrics]:
        return poisson_scores(params, X, y, 0.0, exposure)

    return client_fn, linear_init(d), evaluate

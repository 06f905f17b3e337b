"""A scikit-learn-like front end that simulates coordinated hetero Poisson regression.

The same role functions a deployment runs, through the vertical runner on an in-process
recording bus. Keyword arguments are
:class:`~rengo.vfl.hetero_poisson.config.HeteroPoissonConfig`'s fields, same defaults.

>>> model = HeteroPoissonRegression(key_bits=1024, epochs=20)  # doctest: +SKIP
>>> parties = {"insurer": (ids_i, X_i), "telco": (ids_t, X_t)}
>>> model.fit(parties, "insurer", y=claims, exposure=years)  # doctest: +SKIP
>>> model.predict({"insurer": (new_i, Xn_i), "telco": (new_t, Xn_t)})  # claim frequencies
>>> model.predict(new_parties, exposure=new_years)  # expected claim counts
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from rengo.core.errors import DataError
from rengo.metrics import neg_poisson_deviance, poisson_deviance
from rengo.vfl.common import PartyInput, VerticalDataset, as_vertical_dataset
from rengo.vfl.hetero_lr.estimator import CoordinatedLinearModel
from rengo.vfl.hetero_poisson.algorithm import HETERO_POISSON
from rengo.vfl.hetero_poisson.roles import POISSON, poisson_forward
from rengo.vfl.predictions import VerticalPredictions
from rengo.vfl.selection_settings import SelectionSettings


class HeteroPoissonRegression(CoordinatedLinearModel):
    """Coordinated vertical Poisson regression (log link) over Paillier, in one process.

    The label party holds the counts and the intercept, every party its own weights; the
    coordinator holds the key pair and decrypts only masked gradients. ``exp(u)`` is
    computed without approximation by an encrypted multiplicative chain through the hosts
    (see :mod:`rengo.vfl.hetero_poisson.roles`); only fixed-point encoding rounds. ``score``
    is the negative mean Poisson deviance (higher is better; with an exposure, per unit of
    exposure, as a run's held-out ``poisson_deviance``). Every option of
    :class:`~rengo.vfl.hetero_poisson.config.HeteroPoissonConfig` is a keyword argument.

    Training stops once the loss stops improving by ``tol``, after ``epochs`` at most, with
    gradient descent on the loss divided by the mean count from the intercept
    ``log(mean y)`` (``optimizer="auto"``), so the default rate suits counts of any size;
    Newton-CG needs a quadratic loss and is refused here.
    ``missing="zero"|"mean"`` fills each party's own empty cells locally, the same at
    scoring; the default refuses them.

    **Exposure.** ``fit(..., exposure=e)`` models counts observed over ``e`` (years
    insured): ``E[y] = e exp(x w + b)``, the GLM with offset ``log e``; the exposure stays
    with the label party like its labels. The coefficients are then those of
    scikit-learn's ``PoissonRegressor(alpha=l2 / mean(e))`` fitted on ``y / e`` with
    ``sample_weight=e``. :meth:`predict` returns the **rate** (the expected count for one
    unit of exposure, the claim frequency) without ``exposure`` (as ``rengo vfl predict``
    and an exported model score), and the expected count ``e * rate`` with it.
    """

    spec = HETERO_POISSON
    local_objective = POISSON

    def inverse_link(self, u: np.ndarray) -> np.ndarray:
        """The prediction from the federated linear predictor ``u``.

        Parameters
        ----------
        u
            The linear predictor of each row (the parties' partial scores summed).

        Returns
        -------
        numpy.ndarray
            The prediction of each row (the expected count: ``exp(u)``).
        """
        return poisson_forward(u)

    def _score_metric(self, truth: np.ndarray, predictions: np.ndarray) -> float:
        return neg_poisson_deviance(truth, predictions)

    def fit(
        self,
        data: VerticalDataset | PartyInput,
        label_party: str | None = None,
        y: Any = None,
        *,
        labels: Mapping[str, Any] | None = None,
        selection: SelectionSettings | None = None,
        exposure: Any = None,
    ) -> HeteroPoissonRegression:
        """Train on counts, each observed over its row's ``exposure``.

        Parameters
        ----------
        data
            A :class:`~rengo.vfl.common.VerticalDataset`, or ``{name: (ids, X)}``: each
            party's row IDs and its own columns.
        label_party
            The party holding the counts (needed with a mapping).
        y
            The counts, one per row of the label party, in its rows' order (needed with a
            mapping).
        labels
            Labels of other parties: refused, as every coordinated linear model does.
        selection
            As :meth:`~rengo.vfl.VerticalEstimator.fit` (selection by IV needs 0/1 labels).
        exposure
            One positive exposure per row of the label party, in its rows' order (a
            dataset's own ``exposure`` otherwise); ``None``: one unit each.

        Returns
        -------
        HeteroPoissonRegression
            ``self``, fitted.

        Raises
        ------
        DataError
            As :meth:`CoordinatedLinearModel.fit`, or for an exposure that is not one
            positive finite value per row of the label party (naming the row).
        ConfigError
            As :meth:`CoordinatedLinearModel.fit`.
        """
        dataset = _with_exposure(data, label_party, y, exposure)
        super().fit(dataset, labels=labels, selection=selection)
        self.fitted_with_exposure_ = dataset.exposure is not None
        return self

    def predict(
        self,
        data: VerticalDataset | PartyInput,
        label_party: str | None = None,
        *,
        exposure: Any = None,
    ) -> VerticalPredictions:
        """``(ids, rates)``, or ``(ids, expected counts)`` with ``exposure``, for the rows
        every party holds.

        Parameters
        ----------
        data
            The rows to score, per party (a dataset's own ``exposure`` is used).
        label_party
            The label party (default: training's).
        exposure
            One positive exposure per row of the label party's table to score.

        Returns
        -------
        VerticalPredictions
            The scored IDs and, per ID, ``exp(x w + b)`` (the frequency per unit of
            exposure), times its exposure where one is given.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        DataError
            For an exposure that is not one positive finite value per row.
        """
        dataset = _with_exposure(data, label_party or self.label_party_, None, exposure)
        ids, rates = super().predict(dataset)
        if dataset.exposure is None:
            return VerticalPredictions(ids, rates)
        own_ids = np.asarray(dataset.parties[dataset.label_party].ids)
        exposed = VerticalPredictions(own_ids, dataset.exposure).aligned_to(ids)
        return VerticalPredictions(ids, np.asarray(rates) * exposed)

    def score(
        self,
        data: VerticalDataset | PartyInput,
        y: Any = None,
        label_party: str | None = None,
        *,
        exposure: Any = None,
    ) -> float:
        """The negative mean Poisson deviance per unit of exposure (higher is better): the
        counts' deviance from their expected counts ``exposure * rate`` summed and divided
        by the total exposure, ``-sum(d(y, e r)) / sum(e)``; that is scikit-learn's
        ``-mean_poisson_deviance(y / e, r, sample_weight=e)`` (a weighted mean divides by
        the sum of the weights) and the ``poisson_deviance`` a job run records on its
        held-out rows. Without an exposure every row is one unit: the plain mean.

        Parameters
        ----------
        data
            Labelled rows: a :class:`~rengo.vfl.common.VerticalDataset` with labels, or
            ``{name: (ids, X)}`` with ``y``.
        y
            One count per row of the label party's table (with a mapping).
        label_party
            The label party (default: training's).
        exposure
            One positive exposure per row of the label party's table; ``None``: one unit.

        Returns
        -------
        float
            ``-mean_poisson_deviance(y / exposure, rate, sample_weight=exposure)``.

        Raises
        ------
        DataError
            Without labels, or for a bad exposure.
        NotFittedError
            Before :meth:`fit`.

        Warns
        -----
        UserWarning
            When the model was fitted with an exposure and is scored without one: the
            counts are then compared with one unit's rate each, which is not the deviance
            the fit minimised (pass ``exposure=``).
        """
        self._require_fitted()
        dataset = _with_exposure(data, label_party or self.label_party_, y, exposure)
        if dataset.labels is None:
            raise DataError("score needs labels for the label party's rows")
        if dataset.exposure is None and getattr(self, "fitted_with_exposure_", False):
            warnings.warn(
                f"{type(self).__name__} was fitted with an exposure, and score was given "
                "none: each count is compared with the rate for one unit of exposure, not "
                "with its expected count; pass exposure= (the rows' exposures, in the label "
                "party's order) to score the model as it was fitted",
                UserWarning,
                stacklevel=2,
            )
        own_ids = np.asarray(dataset.parties[dataset.label_party].ids)
        ids, rates = super().predict(replace(dataset, exposure=None))
        counts = VerticalPredictions(own_ids, np.asarray(dataset.labels)).aligned_to(ids)
        if dataset.exposure is None:
            return neg_poisson_deviance(counts, np.asarray(rates))
        exposed = VerticalPredictions(own_ids, dataset.exposure).aligned_to(ids)
        frequency = np.asarray(counts, dtype=np.float64) / exposed
        return -poisson_deviance(frequency, np.asarray(rates), sample_weight=exposed)


def _with_exposure(
    data: VerticalDataset | PartyInput, label_party: str | None, y: Any, exposure: Any
) -> VerticalDataset:
    """``data`` as a dataset, with ``exposure`` (checked) where one is given."""
    dataset = as_vertical_dataset(data, label_party, y)
    if exposure is None:
        return dataset
    return replace(dataset, exposure=np.asarray(exposure))

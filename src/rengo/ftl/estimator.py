"""A scikit-learn-like front end for secure federated transfer learning, in one process.

``fit`` runs the vertical runner's training phase with the FTL roles (PSI on the two
parties' IDs, then :mod:`rengo.ftl.roles`) on an in-process bus that records every message;
``predict_proba`` scores the target's rows through :mod:`rengo.ftl.predict`. Deployed runs
(``rengo vfl coordinator --algorithm ftl`` / ``rengo vfl party``) run the same functions.

>>> model = TransferClassifier(key_bits=1024, epochs=10)  # doctest: +SKIP
>>> model.fit({"bank": (ids_a, X_a), "shop": (ids_b, X_b)}, source="bank", y=y_a,
...           target_labels=y_b_few)                     # None where the shop has no label
>>> model.predict_proba((new_ids, X_new))[:, 1]          # the shop's new customers
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.roles import COORDINATOR
from rengo.ftl.algorithm import FTL
from rengo.ftl.math import label_names
from rengo.ftl.roles import SourceModel, TargetModel, TransferReport
from rengo.vfl.common import PartyInput, PartyTable, VerticalDataset, as_vertical_dataset
from rengo.vfl.divergence import loss_rose
from rengo.vfl.estimator import VerticalEstimator
from rengo.vfl.selection_settings import SelectionSettings

TargetRows = PartyTable | tuple[Sequence[Any] | np.ndarray, np.ndarray] | Mapping[str, Any]


class TransferClassifier(VerticalEstimator):
    """Secure federated transfer learning (Liu et al. 2020) between a source and a target,
    simulated in one process.

    The source holds labels for its rows; the target holds a few labels or none, and
    different features; the rows both hold are found by PSI. Each party trains its own
    encoder into a common space; the target's encoder and the source's translator then
    score the target's rows. ``security="homomorphic"`` (default) exchanges only
    Paillier-encrypted terms and masked values; ``"plaintext"`` is for parties that trust
    each other. Every option of :class:`~rengo.ftl.config.TransferConfig` is a keyword
    argument; ``seed`` fixes PSI's order, the batch order and both encoders' initial weights.
    Columns need not be standardised first: each party's encoder reads its columns z-scored
    with the mean and spread of its own rows (``target_model_.inputs``; a module given in
    ``encoders`` reads them as given), and scoring applies the target's to new rows.
    """

    spec = FTL

    def fit(
        self,
        data: VerticalDataset | PartyInput,
        source: str | None = None,
        y: Any = None,
        *,
        target_labels: Any = None,
        encoders: Mapping[str, Any] | None = None,
        labels: Mapping[str, Any] | None = None,
        selection: SelectionSettings | None = None,
    ) -> TransferClassifier:
        """Find the shared rows and train both encoders and the translator.

        Parameters
        ----------
        data
            ``{source: (ids, X), target: (ids, X)}`` or a :class:`VerticalDataset` whose
            label party is the source.
        source
            The source party (needed with a mapping).
        y
            The source's labels, one per row.
        target_labels
            The target's own labels, one per row of its table: ``None`` (or NaN) where it has
            none. They name the same classes as the source's.
        encoders
            Torch modules to train instead of the MLPs the options describe, by party name
            (copies are trained; the modules given stay as they are).
        labels
            ``{target: labels}``, the vertical estimators' spelling of ``target_labels``.
        selection
            Refused: selection by IV ranks columns against one party's binary labels, and
            transfer learning's encoders learn from the rows PSI leaves out too.

        Returns
        -------
        TransferClassifier
            ``self``, fitted.

        Raises
        ------
        ConfigError
            Unless there are exactly two parties, when training diverged, or given a
            ``selection``.
        DataError
            Without source labels, or when the parties share no IDs.

        Warns
        -----
        ConvergenceWarning
            When the loss ended higher than it began (too high a ``learning_rate``).
        """
        if selection is not None:
            raise ConfigError(
                "transfer learning takes no selection by IV: select the source's columns "
                "with `rengo vfl iv` and drop the others from its table"
            )
        dataset = as_vertical_dataset(data, source, y)
        if len(dataset.parties) != 2:
            raise ConfigError(
                f"transfer learning takes one source and one target, got {sorted(dataset.parties)}"
            )
        target = dataset.hosts[0]
        given = dict(labels or {})
        if target_labels is not None:
            given[target] = target_labels
        # copies: fit trains them, and the caller's modules stay as given (a second fit
        # with the same modules and seed starts where the first did)
        self._encoders = {name: copy.deepcopy(m) for name, m in (encoders or {}).items()}
        unknown = sorted(set(self._encoders) - set(dataset.parties))
        if unknown:
            raise ConfigError(f"encoders= names {unknown}, not parties {sorted(dataset.parties)}")
        super().fit(dataset, labels=given)
        self._label_values = _label_values(dataset.labels, given.get(target))
        problem = loss_rose(self.losses_, self.config.learning_rate)
        if problem is not None:
            # imported here: scikit-learn costs ~2 s to import (see not_fitted_error)
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"{type(self).__name__}: {problem}", ConvergenceWarning, stacklevel=2)
        return self

    def _starts(self) -> dict[str, Any]:
        return dict(getattr(self, "_encoders", {}))

    # -- fitted state ------------------------------------------------------------------------
    @property
    def source_model_(self) -> SourceModel:
        """The source's encoder, translator and per-epoch losses (a simulation holds it)."""
        model = self.models_[self.label_party_]
        assert isinstance(model, SourceModel)
        return model

    @property
    def target_model_(self) -> TargetModel:
        """The target's encoder (a simulation holds it)."""
        model = self.models_[self.hosts_[0]]
        assert isinstance(model, TargetModel)
        return model

    @property
    def report_(self) -> TransferReport:
        """What the coordinator recorded: the loss of every epoch."""
        report = self.models_[COORDINATOR]
        assert isinstance(report, TransferReport)
        return report

    @property
    def losses_(self) -> list[float]:
        """The Taylor loss of every epoch (the mean over its batches)."""
        return list(self.source_model_.losses)

    @property
    def validation_losses_(self) -> list[float]:
        """The held-out loss after each epoch (empty without ``validation_fraction``): the
        mean log loss (binary) or cross-entropy of the target's held-out labelled rows."""
        return self.target_model_.validation_losses

    @property
    def validation_scores_(self) -> list[dict[str, float]]:
        """The held-out ``loss``, ``accuracy`` and (binary, both classes held out) ``auc``
        after each epoch (empty without ``validation_fraction``)."""
        return [dict(scores) for scores in self.target_model_.validation]

    @property
    def best_epoch_(self) -> int:
        """The epoch (1-based) whose encoders the model keeps under early stopping
        (``n_iter_no_change`` >= 1: the lowest held-out loss, else training loss), or the
        epoch of the lowest held-out loss without it (the model then keeps the last); 0
        without either. SecureBoost's ``best_round_``, in epochs."""
        return self.target_model_.best_epoch

    @property
    def n_epochs_(self) -> int:
        """The epochs training ran (fewer than ``epochs`` when it stopped early)."""
        return self.source_model_.epochs_run

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of :meth:`predict_proba`'s columns."""
        names = self.source_model_.classes
        values = getattr(self, "_label_values", {})
        return np.array([values.get(name, name) for name in names], dtype=object)

    # -- scoring --------------------------------------------------------------------------
    def predict_scores(self, rows: TargetRows) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, predictions)`` for target rows: ``P(y = 1)`` per row (binary) or a row of
        class probabilities, in the given row order.

        Parameters
        ----------
        rows
            The target's rows: ``(ids, X)``, a :class:`PartyTable`, or ``{target: ...}``.

        Returns
        -------
        tuple of numpy.ndarray
            The IDs and their predictions.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ConfigError
            Given a mapping that names another party than the target.
        DataError
            For rows that are not a table: IDs and rows of other lengths, a column count
            other than the target trained on (naming the target).
        """
        self._require_fitted()
        target = self.hosts_[0]
        if isinstance(rows, Mapping):
            if set(rows) != {target}:
                raise ConfigError(f"scoring takes the target's rows only: {{{target!r}: ...}}")
            rows = rows[target]
        try:
            table = rows if isinstance(rows, PartyTable) else PartyTable(*rows)
        except DataError as exc:
            raise DataError(f"{target}: {exc}") from None
        nothing = PartyTable(np.empty(0, dtype=object), np.empty((0, 0)))
        dataset = VerticalDataset({self.label_party_: nothing, target: table}, self.label_party_)
        return self.predict_raw(dataset)

    # Scoring reads the target's rows alone and scores every one of them, in the order
    # given, so these return bare arrays, as scikit-learn's do (no IDs to realign).
    def predict_proba(self, rows: TargetRows) -> np.ndarray:  # type: ignore[override]
        """Class probabilities of the target's rows, one column per class (``classes_``).

        Parameters
        ----------
        rows
            The target's rows: ``(ids, X)``, a :class:`PartyTable`, or ``{target: ...}``.

        Returns
        -------
        numpy.ndarray
            ``(rows, classes)`` probabilities, in the given row order (binary: column 1 is
            ``P(y = 1)``).

        Raises
        ------
        NotFittedError, ConfigError, DataError
            As :meth:`predict_scores` raises them.
        """
        _, scores = self.predict_scores(rows)
        if scores.ndim == 1:
            return np.column_stack([1.0 - scores, scores])
        return scores

    def predict(self, rows: TargetRows) -> np.ndarray:  # type: ignore[override]
        """The most probable class of each of the target's rows (values of ``classes_``).

        Parameters
        ----------
        rows
            The target's rows, as :meth:`predict_proba` takes them.

        Returns
        -------
        numpy.ndarray
            One class a row, in the given row order.

        Raises
        ------
        NotFittedError, ConfigError, DataError
            As :meth:`predict_scores` raises them.
        """
        proba = self.predict_proba(rows)
        labels: np.ndarray = self.classes_[np.argmax(proba, axis=1)]
        return labels

    def score(self, rows: TargetRows, y: Any = None) -> float:  # type: ignore[override]
        """Mean accuracy of :meth:`predict` on the target's rows (scikit-learn's ``score``).

        Parameters
        ----------
        rows
            The target's rows, as :meth:`predict` takes them.
        y
            The true class of each row, in the rows' order (values of ``classes_``).

        Returns
        -------
        float
            The share of rows predicted right.

        Raises
        ------
        DataError
            Without labels, with a label count other than the rows', or with labels of
            another kind than the classes (text against numbers).
        NotFittedError
            Before :meth:`fit`.
        """
        if y is None:
            raise DataError("score needs the target rows' labels: score(rows, y)")
        truth = np.asarray(y)
        predicted = self.predict(rows)
        if truth.ndim != 1 or len(truth) != len(predicted):
            raise DataError(
                f"score needs one label per target row: {len(predicted)} rows, labels of "
                f"shape {truth.shape}"
            )
        return self._score_metric(truth, predicted)


def _label_values(*columns: Any) -> dict[str, Any]:
    """Class name -> the label value the user gave (so predictions come back in kind)."""
    out: dict[str, Any] = {}
    for column in columns:
        if column is None:
            continue
        values = np.asarray(column, dtype=object).ravel().tolist()
        for name, value in zip(label_names(values), values, strict=True):
            if name is not None and name not in out:
                out[name] = value.item() if isinstance(value, np.generic) else value
    if not out:
        raise DataError("no labels to learn from")
    return out

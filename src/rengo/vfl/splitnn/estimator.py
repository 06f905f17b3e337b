"""A scikit-learn-like SplitNN classifier that simulates every party in one process.

``fit`` aligns the parties' rows with private set intersection and runs the role functions
a deployment runs (:mod:`rengo.vfl.splitnn.roles` through the vertical runner) on an
in-process bus that records every message, so tests and the label-leakage measurement can
inspect exactly what each party received. Its keyword arguments are
:class:`~rengo.vfl.splitnn.config.SplitNNConfig`'s fields, with the same defaults.

>>> model = SplitNNClassifier(task="multiclass", epochs=20, seed=0)  # doctest: +SKIP
>>> model.fit({"left": (ids, X_left), "right": (ids, X_right)}, "left", y)
>>> model.score({"left": (ids2, X2_left), "right": (ids2, X2_right)}, y2)
>>> model.leak_auc("right", attack="direction")
>>> guarded = SplitNNClassifier(defense="marvell", noise_scale=0.25, seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rengo.core.codec import decode
from rengo.core.envelope import envelope_from_bytes
from rengo.core.errors import ConfigError, DataError
from rengo.core.notebook_progress import live_progress
from rengo.data.class_weights import class_weights, weigh_rows
from rengo.vfl.common import PartyInput, VerticalDataset, as_vertical_dataset
from rengo.vfl.divergence import no_better_than_frequencies
from rengo.vfl.estimator import VerticalEstimator
from rengo.vfl.predictions import VerticalPredictions
from rengo.vfl.runner import TRAIN
from rengo.vfl.selection_settings import SelectionSettings
from rengo.vfl.splitnn.algorithm import SPLITNN
from rengo.vfl.splitnn.leakage import Attack
from rengo.vfl.splitnn.leakage import leak_auc as measure_leak_auc
from rengo.vfl.splitnn.network import require_torch
from rengo.vfl.splitnn.roles import (
    GRADIENT,
    SCOPE,
    EpochRecord,
    SplitNNFeatureModel,
    SplitNNLabelModel,
    held_out_rows,
    listening,
    training_batches,
)

Progress = bool | Callable[[EpochRecord], None]
_GRADIENT_KEY = re.compile(rf"^{TRAIN}/{SCOPE}/epoch=(\d+)/batch=(\d+)/{GRADIENT}$")


class SplitNNClassifier(VerticalEstimator):
    """Split learning (Vepakomma et al. 2018) across vertically split parties, simulated.

    Each party trains a PyTorch bottom model of its own columns; the label party also a top
    model over the concatenated embeddings. Embeddings and cut-layer gradients travel in
    the clear (see :mod:`rengo.vfl.splitnn.roles` for what each party learns);
    ``defense`` adds noise to the gradients feature parties receive against label leakage
    (:mod:`rengo.vfl.splitnn.leakage`): ``"gaussian"``, ``"max_norm"``, or, for
    ``task="binary"``, ``"marvell"`` (Li et al., ICLR 2022, Section 4: per batch, the
    label-dependent noise covariances that minimise a KL bound on any attacker's leak AUC
    within the power ``noise_scale * ||g_bar_1 - g_bar_0||^2``, see
    :mod:`rengo.vfl.splitnn.marvell`); :meth:`leak_auc` measures what is left.
    ``seed`` fixes PSI's order, the batch order, the initial weights and the defence noise:
    same seed, same model. Every option of
    :class:`~rengo.vfl.splitnn.config.SplitNNConfig` is a keyword argument. Needs the
    ``torch`` extra.
    """

    spec = SPLITNN

    def fit(
        self,
        data: VerticalDataset | PartyInput,
        label_party: str | None = None,
        y: Any = None,
        *,
        labels: Mapping[str, Any] | None = None,
        progress: Progress = False,
        selection: SelectionSettings | None = None,
    ) -> SplitNNClassifier:
        """Align rows (PSI) and train every party's networks on a recording bus.

        Parameters
        ----------
        data
            A :class:`~rengo.vfl.common.VerticalDataset`, or ``{name: (ids, X)}``.
        label_party
            The party holding the labels (needed with a mapping).
        y
            Labels, one per row of the label party (needed with a mapping).
        labels
            Other parties' labels: refused, split learning trains on the label party's.
        progress
            ``True`` for a progress bar over epochs, or a function called with each
            :class:`~rengo.vfl.splitnn.roles.EpochRecord`.
        selection
            Select columns by IV before training (see :meth:`VerticalEstimator.fit`).

        Returns
        -------
        SplitNNClassifier
            ``self``, fitted.

        Raises
        ------
        MissingExtraError
            Without PyTorch (naming the ``torch`` extra; an ImportError).
        ConfigError
            Given other parties' ``labels``.
        DataError
            Without labels, for bad columns or labels (naming the party), or when the
            parties share no IDs.

        Warns
        -----
        ConvergenceWarning
            When the last epoch's training loss is not below the loss of predicting every
            row's class frequencies (too high a ``learning_rate``, or no signal).
        """
        require_torch()
        if labels:
            raise ConfigError(
                f"split learning trains on the label party's labels only, not {sorted(labels)}'s"
            )
        dataset = as_vertical_dataset(data, label_party, y)
        if dataset.labels is None:
            raise DataError("fit needs labels for the label party's rows")
        table = dataset.parties[dataset.label_party]
        with _ProgressBar(progress, self.config.epochs) as listener, listening(table, listener):
            super().fit(dataset, selection=selection)
        rows = self.fit_run_.parties[dataset.label_party].train_rows
        assert rows is not None
        self.train_labels_ = np.asarray(dataset.labels)[rows]
        model = self.label_model_
        held = held_out_rows(
            model.batch_seed, len(self.train_labels_), self.config, dataset.label_party
        )
        trained = np.delete(self.train_labels_, held)
        codes = np.searchsorted(model.classes, trained)
        weights = class_weights(codes, self.config.class_weight, "fit", len(model.classes))
        problem = no_better_than_frequencies(
            self.losses_,
            trained,
            self.config.learning_rate,
            None if weights is None else weigh_rows(codes, weights),
        )
        if problem is not None:
            # imported here: scikit-learn costs ~2 s to import (see not_fitted_error)
            from sklearn.exceptions import ConvergenceWarning

            warnings.warn(f"{type(self).__name__}: {problem}", ConvergenceWarning, stacklevel=2)
        return self

    # -- fitted state ---------------------------------------------------------------------
    @property
    def label_model_(self) -> SplitNNLabelModel:
        """The label party's bottom and top models, classes and losses."""
        model = self.models_[self.label_party_]
        assert isinstance(model, SplitNNLabelModel)
        return model

    @property
    def feature_models_(self) -> dict[str, SplitNNFeatureModel]:
        """Each feature party's bottom model (only a simulation can gather them)."""
        return {name: self.models_[name] for name in self.hosts_}

    @property
    def classes_(self) -> np.ndarray:
        """The classes, in the order of :meth:`predict_proba`'s columns."""
        return self.label_model_.classes

    @property
    def losses_(self) -> list[float]:
        """The mean training loss of every epoch."""
        return list(self.label_model_.losses)

    @property
    def validation_losses_(self) -> list[float]:
        """The mean loss on the held-out rows after every epoch (``validation_fraction``;
        empty without a validation share)."""
        return list(self.label_model_.validation_losses)

    @property
    def n_epochs_(self) -> int:
        """The epochs training ran (fewer than ``epochs`` when it stopped early)."""
        return self.label_model_.epochs_run

    # -- prediction -----------------------------------------------------------------------
    def predict(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> VerticalPredictions:
        """``(ids, most probable class)`` for the rows every party holds, in the label
        party's row order; the classes are the label values training saw (``classes_``).

        Parameters
        ----------
        data
            The rows to score, per party.
        label_party
            The label party (default: training's).

        Returns
        -------
        VerticalPredictions
            The scored IDs and one class per ID.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ConfigError
            With other parties than training had.
        """
        ids, probabilities = self.predict_proba(data, label_party)
        return VerticalPredictions(ids, self.classes_[np.argmax(probabilities, axis=1)])

    # -- label leakage --------------------------------------------------------------------
    def received_gradients(
        self, party: str | None = None, epoch: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """The cut-layer gradients ``party`` received in training, as they crossed the bus.

        Parameters
        ----------
        party
            A feature party (default: the first).
        epoch
            One epoch (0-based; negative counts from the end), or every epoch.

        Returns
        -------
        tuple
            ``(gradients, labels, batches)``: one gradient row per row of each batch, the
            true label of each (known only to the label party: for measurement), and the
            positions of each batch's rows.

        Raises
        ------
        ConfigError
            Before :meth:`fit`, for a party that is not a feature party, or an epoch out of
            range.
        """
        self._require_fitted()
        party = self.hosts_[0] if party is None else party
        if party not in self.hosts_:
            raise ConfigError(f"{party!r} is not a feature party of this run: {self.hosts_}")
        model = self.label_model_
        epochs = list(range(model.epochs_run))
        if epoch is not None:
            if not -len(epochs) <= epoch < len(epochs):
                raise ConfigError(f"epoch {epoch} is out of range: {len(epochs)} epochs ran")
            epochs = [epochs[epoch]]
        labels = self.train_labels_
        found: dict[tuple[int, int], np.ndarray] = {}
        for entry in self.transcript_:
            if entry.sender != self.label_party_ or entry.receiver != party:
                continue
            match = _GRADIENT_KEY.match(entry.key)
            if match is not None and int(match[1]) in epochs:
                found[(int(match[1]), int(match[2]))] = np.asarray(
                    decode(envelope_from_bytes(entry.payload).payload)
                )
        gradients, truth, batches = [], [], []
        offset = 0
        for e in epochs:
            order = training_batches(model.batch_seed, e, len(labels), self.config)
            for b, rows in enumerate(order):
                gradients.append(found[(e, b)])
                truth.append(labels[rows])
                batches.append(np.arange(offset, offset + len(rows)))
                offset += len(rows)
        return np.concatenate(gradients), np.concatenate(truth), batches

    def leak_auc(
        self,
        party: str | None = None,
        attack: Attack = "norm",
        *,
        epoch: int | None = None,
        positive: object = None,
    ) -> float:
        """The leak AUC of Li et al.'s ``attack`` on the gradients ``party`` received.

        Parameters
        ----------
        party
            A feature party (default: the first).
        attack
            ``"norm"`` or ``"direction"`` (see :func:`rengo.vfl.splitnn.leakage.leak_auc`).
        epoch
            One epoch (0-based; -1: the last), or every epoch.
        positive
            The label counted as positive (default: the second class, ``classes_[1]``).

        Returns
        -------
        float
            The attack's ROC AUC against the true labels (1.0: every label leaks).

        Raises
        ------
        ConfigError
            Before :meth:`fit` (:class:`~rengo.vfl.NotFittedError`), for a party that is not
            a feature party, an epoch out of range, or an unknown ``attack``.
        DataError
            If the scored rows hold one class only (``positive`` is not among the labels, or
            every label is), the ``"direction"`` attack finds no positive row in any batch,
            or a gradient is not finite.
        """
        gradients, labels, batches = self.received_gradients(party, epoch)
        target = self.classes_[1] if positive is None else positive
        return measure_leak_auc(gradients, labels, attack, batches=batches, positive=target)


class _ProgressBar:
    """A rich progress bar over epochs (or a user callback, or nothing)."""

    def __init__(self, progress: Progress, epochs: int) -> None:
        self._user = progress if callable(progress) else None
        self._enabled = progress is True
        self._epochs = epochs
        self._bar: Any = None

    def __enter__(self) -> Callable[[EpochRecord], None]:
        if self._user is not None:
            return self._user
        if not self._enabled:
            return lambda record: None
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn

        self._bar = live_progress(
            TextColumn("[bold]SplitNN"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
        )
        self._bar.start()
        task = self._bar.add_task("epochs", total=self._epochs, status="")

        def report(record: EpochRecord) -> None:
            status = f"loss {record.loss:.4f}"
            if record.validation_loss is not None:
                status += f"  validation loss {record.validation_loss:.4f}"
            self._bar.update(task, advance=1, status=status)

        return report

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

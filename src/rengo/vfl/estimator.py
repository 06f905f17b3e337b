"""A scikit-learn-style front end for any registered vertical algorithm, in one process.

``fit`` runs the vertical runner's training phase (PSI, then the algorithm's training roles)
and ``predict_raw`` its scoring phase, both on an in-process bus that records every message,
with exactly the role functions a deployment runs (:mod:`rengo.vfl.runner`). An algorithm's
estimator is a subclass naming its description; its keyword arguments are the algorithm's
options, generated from the config dataclass (one place for every default).

It follows scikit-learn's estimator conventions where vertical data allows: every
constructor argument is a parameter (``get_params`` / ``set_params``, ``sklearn.base.clone``),
fitted attributes end in ``_``, ``score`` is accuracy for classifiers and R² for
regressors, and ``progress=True`` shows what it is doing (like ``verbose``). Inputs are one
table per party rather than one ``X``, and every ``predict*`` returns the scored IDs with
the predictions (:class:`~rengo.vfl.VerticalPredictions`), because a vertical model scores
only the rows every party holds, in an order the caller did not choose.

>>> class MyModel(VerticalEstimator):  # doctest: +SKIP
...     spec = MY_ALGORITHM
>>> MyModel(epochs=5).fit({"bank": (ids_b, X_b), "card": (ids_c, X_c)}, "card", y)
"""

from __future__ import annotations

import importlib
import inspect
import numbers
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.options import option_specs, options_from_mapping, options_to_wire
from rengo.core.roles import COORDINATOR
from rengo.data.class_weights import BY_POSITION, NO_CLASS_WEIGHT, parse_class_weight
from rengo.data.labels import encode_labels
from rengo.transport.channel import LocalBus, TranscriptEntry
from rengo.vfl.checkpoints import PASSPHRASE_ENV
from rengo.vfl.common import (
    PartyData,
    PartyInput,
    PartyTable,
    VerticalDataset,
    as_vertical_dataset,
    column_names,
    require_identical_ids,
)
from rengo.vfl.predictions import VerticalPredictions
from rengo.vfl.progress import ProgressFn, progress_display
from rengo.vfl.psi import PSIResult
from rengo.vfl.registry import Output, VerticalAlgorithm
from rengo.vfl.runner import SCORE, TRAIN, VerticalPlan, make_keys, simulate_vertical
from rengo.vfl.selection_settings import JobSelection, SelectionSettings

_RUNS_NOT_PICKLED = ("fit_run_", "predict_run_")
_RUN_OPTIONS = ("use_psi", "seed", "key_seed", "progress", "checkpoints", "resume")
_RUN_DEFAULTS: dict[str, Any] = {
    "use_psi": True,
    "seed": None,
    "key_seed": None,
    "progress": False,
    "checkpoints": None,
    "resume": None,
}


def _holds_numbers(values: np.ndarray) -> bool:
    """Whether every value is a number (a numeric array, or an object array of numbers)."""
    if values.dtype.kind in "biuf":
        return True
    return values.dtype.kind == "O" and all(isinstance(v, numbers.Number) for v in values.flat)


def class_codes(labels: Any) -> tuple[np.ndarray | None, np.ndarray]:
    """``(classes, codes)``: a classifier's labels as codes ``0..K-1`` into their sorted
    distinct values (scikit-learn's ``classes_``, in their own dtype: text, numbers, bools),
    so that text labels ("A", "B", "C") and codes with gaps (1, 5, 9) train K classes. The
    codes are those a job's label column gets (:func:`rengo.data.labels.encode_labels`),
    under the same rules.

    Integer labels already coded ``0..K-1``, labels of fewer than two classes, and
    fractional or non-finite numbers (also in an object array) come back as given (as
    floats) with ``classes`` ``None``: the algorithm takes codes as they are, and refuses
    the others naming the party and the value.

    Parameters
    ----------
    labels
        The label party's labels, one per row.

    Returns
    -------
    tuple
        The distinct labels (``None``: labels passed as given) and the labels to train on.

    Raises
    ------
    DataError
        For missing labels (``None``, ``NaN``, empty or ``"?"`` text), labels that cannot
        be ordered (text mixed with numbers), or two text labels that differ only in
        letter case ("Yes" and "yes"), as a job refuses them.
    """
    y = np.asarray(labels)
    if y.dtype.kind == "O" and _holds_numbers(y):
        if any(v != v for v in y.flat):
            raise DataError("labels must not be missing (None or NaN); give every row a label")
        numeric = y.astype(np.float64)
        if not bool(np.all(numeric == np.round(numeric))):
            return None, numeric
    if y.dtype.kind == "f" and not bool(np.all(np.isfinite(y) & (y == np.round(y)))):
        return None, y
    try:
        np.unique(y)
    except TypeError as exc:  # None among text, or text mixed with numbers
        raise DataError(
            f"labels must be all numbers or all text, and none missing ({exc}); give every "
            "row a label of one kind"
        ) from None
    codes, _ = encode_labels(y.ravel(), "classification", lambda i: f"row {i}")
    first = np.unique(codes, return_index=True)[1]
    classes = y.ravel()[first]
    if len(classes) < 2 or (
        _holds_integers(classes) and np.array_equal(classes, np.arange(len(classes)))
    ):
        return None, y
    return classes, codes.reshape(y.shape)


def _holds_integers(values: np.ndarray) -> bool:
    """Whether every value is an integer that is not a bool (labels that are codes)."""
    if values.dtype.kind in "iu":
        return True
    return values.dtype.kind == "O" and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values.tolist()
    )


_NOT_FITTED_DOC = """A model was asked to predict before :meth:`VerticalEstimator.fit`; also a
    scikit-learn ``NotFittedError`` (so a ``ValueError`` and an ``AttributeError``), as
    scikit-learn code expects."""


@cache
def not_fitted_error() -> type[ConfigError]:
    """:class:`NotFittedError`, made on first use: it subclasses scikit-learn's, and
    importing scikit-learn takes ~2 s, which ``rengo --help``, deployed parties and every
    importer of :mod:`rengo.vfl` would otherwise pay without fitting anything."""
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    error = type(
        "NotFittedError",
        (ConfigError, SklearnNotFittedError),
        {"__doc__": _NOT_FITTED_DOC, "__module__": __name__},
    )
    return error


if TYPE_CHECKING:

    class NotFittedError(ConfigError, ValueError, AttributeError):
        """A model was asked to predict before :meth:`VerticalEstimator.fit`; also a
        scikit-learn ``NotFittedError`` (so a ``ValueError`` and an ``AttributeError``)."""

else:

    def __getattr__(name: str) -> Any:
        if name == "NotFittedError":  # PEP 562: made when first asked for
            return not_fitted_error()
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class VerticalEstimator:
    """Fit and predict a registered vertical algorithm with every role in this process.

    Parameters
    ----------
    use_psi
        Align rows by private set intersection (False: every party must list the label
        party's IDs in the same order).
    seed
        Fixes PSI's agreed order and the batch order (not keys, not masks).
    key_seed
        Makes the key material reproducible with an insecure generator (tests only).
    progress
        Show what fitting and scoring are doing - key generation, PSI's match count as soon
        as it is known, a bar over training batches with the running loss and the time
        left - as rich progress bars (True), to a callback of
        :class:`~rengo.vfl.VerticalProgress` events, or not at all (False, the default).
    checkpoints
        A directory where ``fit`` keeps every role's checkpoints (its alignment and each
        completed epoch, SecureBoost: tree; see :mod:`rengo.vfl.checkpoints`) under a run
        id, ``checkpoint_run_``; a coordinator that holds keys seals them under the
        passphrase in ``$RENGO_CHECKPOINT_PASSPHRASE``. ``None`` (default): none kept.
    resume
        Continue an interrupted ``fit`` from ``checkpoints``: the run id it was given
        (``checkpoint_run_``), or ``True`` for the newest run there. It continues after
        the last epoch every role completed, to the model an uninterrupted fit trains.
        ``None`` (default): a new run.
    **options
        The algorithm's options (its config dataclass's fields).

    Raises
    ------
    ConfigError
        For an unknown option or a value the config refuses.
    """

    spec: ClassVar[VerticalAlgorithm[Any]]
    codes_labels: ClassVar[bool] = False
    """Whether ``fit`` trains a classifier on its labels' codes (:func:`class_codes`), so
    that ``classes_`` and ``predict`` give the labels back, as scikit-learn's do."""

    def __init__(
        self,
        *,
        use_psi: bool = True,
        seed: int | None = None,
        key_seed: int | None = None,
        progress: bool | ProgressFn = False,
        checkpoints: str | Path | None = None,
        resume: str | bool | None = None,
        **options: Any,
    ) -> None:
        spec = type(self).spec
        self.__dict__["config"] = options_from_mapping(
            spec.config_type,
            options,
            where=f"{type(self).__name__}: ",
            aliases=spec.option_aliases,
        )
        self.use_psi = use_psi
        self.seed = seed
        self.key_seed = key_seed
        self.progress = progress
        self.checkpoints = checkpoints
        self.resume = resume
        self._keys: dict[str, Any] = {}
        self._models: dict[str, Any] | None = None
        self._label_classes: np.ndarray | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each algorithm's estimator the signature of its options (``help()``,
        IDEs and ``inspect.signature`` show every option with its default)."""
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is None:
            return
        parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        parameters += [
            inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
            for o in option_specs(spec.config_type)
        ]
        parameters += [
            inspect.Parameter("use_psi", inspect.Parameter.KEYWORD_ONLY, default=True),
            inspect.Parameter("seed", inspect.Parameter.KEYWORD_ONLY, default=None),
            inspect.Parameter("key_seed", inspect.Parameter.KEYWORD_ONLY, default=None),
            inspect.Parameter("progress", inspect.Parameter.KEYWORD_ONLY, default=False),
            inspect.Parameter("checkpoints", inspect.Parameter.KEYWORD_ONLY, default=None),
            inspect.Parameter("resume", inspect.Parameter.KEYWORD_ONLY, default=None),
        ]
        base_init = VerticalEstimator.__init__

        def __init__(self: VerticalEstimator, **kwargs: Any) -> None:
            base_init(self, **kwargs)

        __init__.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        __init__.__doc__ = cls.__init__.__doc__ or base_init.__doc__
        cls.__init__ = __init__  # type: ignore[method-assign]

    @classmethod
    def for_algorithm(cls, spec: VerticalAlgorithm[Any]) -> type[VerticalEstimator]:
        """The estimator class of ``spec``: its own subclass if one is defined (e.g.
        :class:`~rengo.vfl.HeteroLogisticRegression`; imported from ``spec.estimator``
        where it names one), else a generic one made now.

        Raises
        ------
        ConfigError
            If ``spec.estimator`` names no estimator class of ``spec``.
        """
        pending = list(VerticalEstimator.__subclasses__())
        while pending:
            candidate = pending.pop()
            if candidate.__dict__.get("spec") is spec:
                return candidate
            pending.extend(candidate.__subclasses__())
        if spec.estimator is not None:
            module, _, name = spec.estimator.partition(":")
            found = getattr(importlib.import_module(module), name, None)
            if not (
                isinstance(found, type)
                and issubclass(found, VerticalEstimator)
                and found.__dict__.get("spec") is spec
            ):
                raise ConfigError(
                    f"vertical algorithm {spec.name!r}: its estimator {spec.estimator!r} is "
                    "not an estimator class of it"
                )
            return found
        name = "".join(part.title() for part in spec.name.split("_")) + "Estimator"
        return type(name, (VerticalEstimator,), {"spec": spec, "__doc__": spec.title})

    # -- options as attributes, scikit-learn style ------------------------------------------
    def _option_names(self) -> set[str]:
        return {o.name for o in option_specs(type(self).spec.config_type)}

    def __getattr__(self, name: str) -> Any:
        config = self.__dict__.get("config")
        if config is not None and name in self._option_names():
            return getattr(config, name)
        descriptor = getattr(type(self), name, None)
        if isinstance(descriptor, property) and descriptor.fget is not None:
            # Python comes here when a property raises AttributeError (NotFittedError is
            # one): run it again so that its own error reaches the caller, not "no attribute"
            return descriptor.fget(self)
        if name.endswith("_") and not name.startswith("_"):  # a fitted attribute
            if self.__dict__.get("_models") is None:
                raise not_fitted_error()(
                    f"{name} is set by fit: this {type(self).__name__} is not fitted yet; "
                    "call fit first"
                )
            if name in _RUNS_NOT_PICKLED and self.__dict__.get("_unpickled"):
                raise AttributeError(
                    f"{name} is not kept when a fitted {type(self).__name__} is pickled: the "
                    "run's bus and transcript stay in the process that ran it"
                )
            if name == "predict_run_":
                raise not_fitted_error()(f"{name} is set by predict: call predict first")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getstate__(self) -> dict[str, Any]:
        """What pickling keeps: the options and the fitted models, not the last runs (their
        recording bus holds locks and every message of the run).

        A fitted estimator pickled and loaded elsewhere predicts and scores as the original
        does; :attr:`transcript_` and :attr:`bus_` stay behind. The pickle holds what the
        estimator holds in memory: every role's model and key material, private keys
        included (a simulation runs every party), so keep it as private as the data.
        Never unpickle one from a source you do not trust: pickle runs code.
        """
        state = {k: v for k, v in self.__dict__.items() if k not in _RUNS_NOT_PICKLED}
        state["_unpickled"] = True
        return state

    def __setattr__(self, name: str, value: Any) -> None:
        config = self.__dict__.get("config")
        if config is not None and name in self._option_names():
            self.__dict__["config"] = options_from_mapping(
                type(config), {**options_to_wire(config), name: value}
            )
            return
        super().__setattr__(name, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Every constructor argument: the algorithm's options and the run settings
        (scikit-learn's ``get_params``; ``deep`` changes nothing, nothing is nested).

        Parameters
        ----------
        deep
            Accepted for scikit-learn; nothing is nested, so it changes nothing.

        Returns
        -------
        dict
            Name -> value, enough to build an equal, unfitted estimator.
        """
        return {**options_to_wire(self.config), **{k: getattr(self, k) for k in _RUN_OPTIONS}}

    def set_params(self, **params: Any) -> VerticalEstimator:
        """Change options or run settings (scikit-learn's ``set_params``), each checked as
        the constructor checks it.

        Parameters
        ----------
        **params
            Option or run-setting name -> new value (see :meth:`get_params`).

        Returns
        -------
        VerticalEstimator
            ``self``.

        Raises
        ------
        ConfigError
            For an unknown parameter or a value the config refuses.
        """
        for name, value in params.items():
            if name not in self._option_names() and name not in _RUN_OPTIONS:
                valid = ", ".join(sorted(self.get_params()))
                raise ConfigError(
                    f"{type(self).__name__} has no parameter {name!r}; valid: {valid}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults: dict[str, Any] = {
            o.name: o.default for o in option_specs(type(self).spec.config_type)
        }
        defaults.update(_RUN_DEFAULTS)
        params = self.get_params()
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items() if v != defaults[k])
        return f"{type(self).__name__}({shown})"

    @property
    def _estimator_type(self) -> str:
        """``"regressor"`` for an algorithm predicting values, else ``"classifier"``."""
        output = type(self).spec.output_of(self.config)
        return "regressor" if output == "values" else "classifier"

    def prediction_output(self) -> Output:
        """What a prediction is (see :data:`~rengo.vfl.registry.Output`): the algorithm's
        for this config; an algorithm whose fitted model decides it (hetero LR trained
        one-vs-rest on labels of more than two classes) overrides this.

        Returns
        -------
        Output
            ``"probability"``, ``"probabilities"``, ``"classes"`` or ``"values"``.
        """
        return type(self).spec.output_of(self.config)

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags: a classifier or regressor (by the algorithm's output) that
        needs labels; ``sklearn.base.is_classifier`` and friends read them."""
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

        classifier = self._estimator_type == "classifier"
        return Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True),
            transformer_tags=None,
            regressor_tags=None if classifier else RegressorTags(),
            classifier_tags=ClassifierTags() if classifier else None,
        )

    def __sklearn_is_fitted__(self) -> bool:
        """Whether :meth:`fit` has run (``sklearn.utils.validation.check_is_fitted``)."""
        return self._models is not None

    # -- training and prediction ------------------------------------------------------------
    def fit(
        self,
        data: VerticalDataset | PartyInput,
        label_party: str | None = None,
        y: Any = None,
        *,
        labels: Mapping[str, Any] | None = None,
        selection: SelectionSettings | None = None,
    ) -> VerticalEstimator:
        """Align rows (PSI), make the key material, and train every role on a recording bus.

        Parameters
        ----------
        data
            A :class:`~rengo.vfl.common.VerticalDataset`, or ``{name: (ids, X)}``.
        label_party
            The party holding the labels (needed with a mapping).
        y
            Labels, one per row of the label party (needed with a mapping).
        labels
            Labels held by other parties, one per row of their table, for algorithms whose
            description lets them hold labels (``labels_at``; e.g. the target's few labels
            in transfer learning).
        selection
            Select columns by IV on the rows PSI shared, before training (FATE's
            ``HeteroFeatureSelection``, see :mod:`rengo.vfl.hetero_binning.selection_step`):
            every party trains on its kept columns, ``kept_columns_`` names them, the
            record (every column's IV, kept or not) is ``selection_``, and ``predict*`` take
            every column and drop the others. ``None``: every column.

        Returns
        -------
        VerticalEstimator
            ``self``, fitted.

        Raises
        ------
        DataError
            Without labels, or when the parties share no IDs.
        ConfigError
            For ``resume`` without ``checkpoints``, a run id that is not there, or a
            checkpointed run of other settings.
        """
        dataset = as_vertical_dataset(data, label_party, y)
        if dataset.labels is None:
            raise DataError("fit needs labels for the label party's rows")
        label_classes = None
        if type(self).codes_labels and self._estimator_type == "classifier":
            label_classes, codes = class_codes(dataset.labels)
            if label_classes is not None:
                self._check_label_classes(dataset.label_party, label_classes)
            dataset = replace(dataset, labels=codes)
        if not self.use_psi:
            require_identical_ids(dataset)
        plan = replace(
            self._plan(dataset.label_party, dataset.hosts, train=True), selection=selection
        )
        extra = dict(labels or {})
        unknown = sorted(set(extra) - set(dataset.hosts))
        if unknown:
            raise ConfigError(
                f"labels= names {unknown}, which are not feature parties of {dataset.hosts} "
                "(the label party's labels go in y)"
            )
        inputs = {
            name: PartyData(
                table,
                np.asarray(dataset.labels)
                if name == dataset.label_party
                else (None if name not in extra else np.asarray(extra[name], dtype=object)),
                feature_names=column_names(data, name),
                later=dataset.later.get(name),
                exposure=dataset.exposure if name == dataset.label_party else None,
                # in one process the caller's rule is every party's own: agreed to
                selection=None if selection is None else JobSelection(selection),
            )
            for name, table in dataset.parties.items()
        }
        plan = self._checkpointed(plan)
        with progress_display(self.progress) as report:
            keys = self._make_keys(plan, report)
            run = simulate_vertical(
                plan,
                inputs,
                keys=keys,
                models=self._starts(),
                progress=report,
                checkpoint_dir=None if plan.checkpoint_run is None else self.checkpoints,
                passphrase=os.environ.get(PASSPHRASE_ENV),
            )
        self.fit_run_ = run
        self._label_classes = label_classes
        self.label_party_, self.hosts_ = plan.label_party, list(plan.hosts)
        self._models = {COORDINATOR: run.coordinator.training}
        self._keys = {}
        if run.coordinator.keys is not None:
            self._keys[COORDINATOR] = run.coordinator.keys
        for name, result in run.parties.items():
            self._models[name] = result.model
            if result.keys is not None:
                self._keys[name] = result.keys
        self.psi_: PSIResult | None = run.psi(TRAIN)
        self.selection_: dict[str, Any] | None = run.coordinator.selection
        guest = run.parties[plan.label_party]
        assert guest.train_rows is not None
        self.train_ids_ = np.asarray(dataset.parties[plan.label_party].ids)[guest.train_rows]
        self._keep_label_classes()
        return self

    def _check_label_classes(self, label_party: str, classes: np.ndarray) -> None:
        """Refuse a class weight keyed by a label that is another class's position: labels
        1, 5, 9 with ``{1: 5}`` would weigh label 5 (position 1) without a word."""
        setting = parse_class_weight(getattr(self.config, "class_weight", NO_CLASS_WEIGHT))
        if not isinstance(setting, dict):
            return
        text = classes.dtype.kind in "OUS" and not _holds_numbers(classes)
        for key in sorted(setting):
            at = [
                k
                for k, label in enumerate(classes.tolist())
                if (str(label).strip() == str(key) if text else label == key)
            ]
            if at and at[0] != key:
                raise DataError(
                    f"{label_party}: class_weight names class {key}, which is the label at "
                    f"position {at[0]} of classes_ {classes.tolist()}; {BY_POSITION}"
                )

    def _keep_label_classes(self) -> None:
        """Hand the labels ``fit`` coded to the label party's model, for an algorithm whose
        model file keeps them (the default: none does)."""

    def predict_raw(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> VerticalPredictions:
        """``(ids, predictions)`` for the rows every party holds, in the label party's row
        order; what a prediction is depends on the algorithm (its ``output``: a
        probability, a row of class probabilities, a class or a value per row).

        Parameters
        ----------
        data
            The rows to score, per party (the same parties as in training).
        label_party
            The label party (default: training's).

        Returns
        -------
        VerticalPredictions
            The scored IDs and their predictions.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ConfigError
            With other parties than training had.
        """
        self._require_fitted()
        assert self._models is not None
        given = set(data.parties) if isinstance(data, VerticalDataset) else set(data)
        _require_training_parties(given, self.label_party_, self.hosts_)
        dataset = as_vertical_dataset(data, label_party or self.label_party_)
        if dataset.label_party != self.label_party_:
            fix = (
                f"build it with label_party={self.label_party_!r}"
                if isinstance(data, VerticalDataset)
                else "leave label_party out to use it"
            )
            named = "the dataset names" if isinstance(data, VerticalDataset) else "scoring names"
            raise ConfigError(
                f"{named} {dataset.label_party!r} the label party, but training's "
                f"label party is {self.label_party_!r}; {fix}"
            )
        if not self.use_psi:
            require_identical_ids(dataset)
        plan = self._plan(self.label_party_, self.hosts_, train=False)
        from rengo.vfl.hetero_binning.selection_step import column_counts

        record = getattr(self, "selection_", None)  # None: every column (or fitted before)
        kept, widths = self.kept_columns_, {} if record is None else column_counts(record)
        inputs = {
            name: PartyData(
                score_table=table
                if kept is None
                else _kept_table(name, table, kept[name], widths.get(name, 0))
            )
            for name, table in dataset.parties.items()
        }
        with progress_display(self.progress) as report:
            run = simulate_vertical(
                plan, inputs, keys=self._keys, models=self._models, progress=report
            )
        self.predict_run_ = run
        self.predict_psi_: PSIResult | None = run.psi(SCORE)
        scored = self.scoring_party_
        result = run.parties[scored]
        if result.score_ids is None or result.scores is None:
            raise DataError(f"{scored} received no predictions")
        return VerticalPredictions(np.asarray(result.score_ids), np.asarray(result.scores))

    def predict(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> VerticalPredictions:
        """``(ids, predicted classes or values)`` for the rows every party holds: the more
        likely class (threshold 0.5 for a binary probability) or the predicted value.

        Parameters
        ----------
        data
            The rows to score, per party.
        label_party
            The label party (default: training's).

        Returns
        -------
        VerticalPredictions
            The scored IDs and one class (0/1 for binary labels) or value per ID.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        """
        ids, values = self.predict_raw(data, label_party)
        output = self.prediction_output()
        if output == "probability":
            return VerticalPredictions(ids, self._labels(np.asarray(values) >= 0.5))
        if output == "probabilities":
            return VerticalPredictions(ids, self._labels(np.argmax(values, axis=1)))
        return VerticalPredictions(ids, np.asarray(values))

    def _labels(self, codes: np.ndarray) -> np.ndarray:
        """The labels of class codes: those ``fit`` was given (see :attr:`codes_labels`)."""
        index = np.asarray(codes, dtype=np.int64)
        classes = getattr(self, "_label_classes", None)  # absent: pickled before it existed
        return index if classes is None else np.asarray(classes[index])

    def _label_classes_or(self, codes: np.ndarray) -> np.ndarray:
        """``classes_``: the labels ``fit`` coded, else the algorithm's own ``codes``."""
        classes = getattr(self, "_label_classes", None)
        return codes if classes is None else np.asarray(classes)

    def predict_proba(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> VerticalPredictions:
        """``(ids, class probabilities)`` for the rows every party holds: an ``(m, k)``
        matrix (``(m, 2)`` for binary labels, column 1 the positive class).

        Parameters
        ----------
        data
            The rows to score, per party.
        label_party
            The label party (default: training's).

        Returns
        -------
        VerticalPredictions
            The scored IDs and a row of class probabilities per ID.

        Raises
        ------
        NotFittedError
            Before :meth:`fit`.
        ConfigError
            If the algorithm predicts classes or values, not probabilities.
        """
        output = self.prediction_output()
        if output not in ("probability", "probabilities"):
            raise ConfigError(
                f"{type(self).__name__} predicts {output}, not probabilities; use predict"
            )
        ids, values = self.predict_raw(data, label_party)
        if output == "probability":
            positive = np.asarray(values, dtype=np.float64)
            return VerticalPredictions(ids, np.column_stack([1.0 - positive, positive]))
        return VerticalPredictions(ids, np.asarray(values))

    def score(
        self,
        data: VerticalDataset | PartyInput,
        y: Any = None,
        label_party: str | None = None,
    ) -> float:
        """Accuracy (classifiers) or R² (regressors; Poisson regression: the negative mean
        Poisson deviance) on the rows every party holds, each prediction matched to its own
        label by ID (scikit-learn's ``score``: higher is better).

        Parameters
        ----------
        data
            Labelled rows: a :class:`~rengo.vfl.common.VerticalDataset` with labels, or
            ``{name: (ids, X)}`` with ``y``.
        y
            One label per row of the label party's table (with a mapping).
        label_party
            The label party (default: training's).

        Returns
        -------
        float
            Mean accuracy, or the coefficient of determination R².

        Raises
        ------
        DataError
            Without labels.
        NotFittedError
            Before :meth:`fit`.
        """
        self._require_fitted()
        dataset = as_vertical_dataset(data, label_party or self.label_party_, y)
        if dataset.labels is None:
            raise DataError("score needs labels for the label party's rows")
        truth = VerticalPredictions(
            np.asarray(dataset.parties[dataset.label_party].ids), np.asarray(dataset.labels)
        )
        ids, predicted = self.predict(dataset)
        return self._score_metric(truth.aligned_to(ids), np.asarray(predicted))

    def _score_metric(self, truth: np.ndarray, predicted: np.ndarray) -> float:
        """What :meth:`score` reports from the labels and :meth:`predict`'s output, matched
        by ID: accuracy for classifiers, R² for regressors (an algorithm may override)."""
        if self._estimator_type == "regressor":
            from sklearn.metrics import r2_score

            return float(r2_score(truth, predicted))
        if _holds_numbers(truth) != _holds_numbers(predicted):
            said = {True: "numbers", False: "text or other objects"}
            raise DataError(
                f"score's labels are {said[_holds_numbers(truth)]} but the model predicts "
                f"{said[_holds_numbers(predicted)]} (e.g. {predicted[:1].tolist()}): pass "
                "labels of the kind fit saw (text labels never equal numeric predictions)"
            )
        return float(np.mean(predicted == truth))

    @property
    def scoring_party_(self) -> str:
        """The party that receives the predictions (the label party, or for an algorithm
        whose predictions go to a feature party, e.g. transfer learning's target, that
        party)."""
        self._require_fitted()
        if type(self).spec.scored_by == "label_party":
            return str(self.label_party_)
        if len(self.hosts_) != 1:
            raise ConfigError(
                f"{type(self).spec.name} scores at a feature party, but there are "
                f"{len(self.hosts_)} of them"
            )
        return str(self.hosts_[0])

    def _starts(self) -> dict[str, Any]:
        """Each party's starting model for training (none by default; an algorithm's
        estimator may give parties their own, e.g. encoders)."""
        return {}

    @property
    def kept_columns_(self) -> dict[str, tuple[int, ...]] | None:
        """With ``fit(..., selection=...)``: each party's kept columns, the indices into its
        table it trained on, ascending (read from :attr:`selection_`'s record); ``None``:
        every column."""
        self._require_fitted()
        from rengo.vfl.hetero_binning.selection_step import kept_columns

        record = getattr(self, "selection_", None)  # absent: fitted before selection by IV
        return None if record is None else kept_columns(record, [self.label_party_, *self.hosts_])

    @property
    def models_(self) -> Mapping[str, Any]:
        """Every role's training result, by role name (only a simulation has them all)."""
        self._require_fitted()
        assert self._models is not None
        return dict(self._models)

    @property
    def transcript_(self) -> list[TranscriptEntry]:
        """Every message of the last training run, as it crossed the bus."""
        return self.fit_run_.transcript

    @property
    def bus_(self) -> LocalBus:
        """The bus of the last training run."""
        return self.fit_run_.bus

    @property
    def predict_bus_(self) -> LocalBus:
        """The bus of the last scoring run."""
        return self.predict_run_.bus

    def _plan(self, label_party: str, hosts: list[str], *, train: bool) -> VerticalPlan:
        return VerticalPlan(
            label_party,
            tuple(hosts),
            self.config,
            self.seed,
            score=not train,
            train=train,
            algorithm=type(self).spec.name,
            align="psi" if self.use_psi else "given",
        )

    def _checkpointed(self, plan: VerticalPlan) -> VerticalPlan:
        """``plan`` under the run id ``fit`` checkpoints (``checkpoint_run_``): a new one,
        or the one to resume; unchanged without ``checkpoints``."""
        if self.checkpoints is None:
            if self.resume not in (None, False):
                raise ConfigError(
                    "resume continues a fit from its checkpoints: give checkpoints=DIR too"
                )
            return plan
        root = Path(self.checkpoints)
        if self.resume in (None, False):
            run = f"fit-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        elif self.resume is True:
            runs = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
            if not runs:
                raise ConfigError(f"resume=True, but {root} holds no checkpointed run")
            run = max(runs, key=lambda p: p.stat().st_mtime).name
        elif isinstance(self.resume, str):
            run = self.resume
            if not (root / run).is_dir():
                raise ConfigError(
                    f"resume={run!r}: {root} holds no checkpoints of that run; give the "
                    "checkpoint_run_ of the fit to continue, or resume=True for the newest"
                )
        else:
            raise ConfigError(f"resume must be a run id, True or None, got {self.resume!r}")
        self.checkpoint_run_ = run  # known even if this fit is interrupted
        return replace(plan, checkpoint_run=run)

    def _make_keys(self, plan: VerticalPlan, progress: ProgressFn | None = None) -> dict[str, Any]:
        """The key holders' material, made here so that ``key_seed`` can fix it (tests)."""
        spec = type(self).spec
        holder = spec.key_holder(plan.config)
        if holder is None or spec.keys is None:
            return {}
        if holder == "coordinator":
            names = [COORDINATOR]
        elif holder == "label_party":
            names = [plan.label_party]
        else:
            names = list(plan.hosts)
        if self.key_seed is None:
            return {name: make_keys(spec, plan.config, name, progress) for name in names}
        return {
            name: spec.keys.make(plan.config, self.key_seed + k) for k, name in enumerate(names)
        }

    def _require_fitted(self) -> None:
        if self._models is None:
            raise not_fitted_error()(
                f"this {type(self).__name__} is not fitted yet; call fit first"
            )


def _require_training_parties(given: set[str], label_party: str, hosts: list[str]) -> None:
    """Refuse rows to score from other parties than training had, naming the parties
    missing and those training never had (every party routes rows through its own splits
    or weights, so none can be left out or stand in for another).

    Raises
    ------
    ConfigError
        Naming the missing and the unknown parties.
    """
    trained = {label_party, *hosts}
    if given == trained:
        return
    missing, unknown = sorted(trained - given), sorted(given - trained)
    problems = []
    if missing:
        problems.append(f"no rows of {missing}")
    if unknown:
        problems.append(f"rows of {unknown}, which training did not have")
    raise ConfigError(
        f"scoring needs rows of the parties training had ({sorted(trained)}, label party "
        f"{label_party!r}), got {' and '.join(problems)}; every party scores its own columns"
    )


def _kept_table(name: str, table: PartyTable, columns: tuple[int, ...], width: int) -> PartyTable:
    """``table`` with only the ``columns`` its party trained on (selection by IV), once it
    has the ``width`` columns the party's table had in training (another layout would be
    scored on the wrong columns)."""
    features = np.asarray(table.features)
    if features.ndim != 2 or features.shape[1] != width:
        raise DataError(
            f"{name}'s model was trained on columns {list(columns)} of its {width} columns "
            f"(kept by selection by IV), but its table to score has {features.shape[-1]} "
            "columns: give it the columns it had in training, in that order"
        )
    from rengo.vfl.hetero_binning.selection_step import kept_table

    return kept_table(table, columns)

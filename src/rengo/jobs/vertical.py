"""Vertical jobs: each party's own tables, the held-out customers, training and scoring.

Every party prepares its data alone, the same way in simulation (``rengo run JOB.toml``)
and deployed (``rengo vfl party --job JOB.toml``): it reads its own table (its CSV, or its
columns of a bundled table split by the job's seed), holds out the customers whose ID hashes
below ``test_size`` under the job's seed (every party picks the same customers without
exchanging anything), and standardises its columns with its own training statistics (nothing
about its data leaves it). Rows are aligned by private set intersection inside the run, so a
deployed run from the same job file equals the simulated one.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.core.options import options_to_wire
from rengo.core.roles import COORDINATOR
from rengo.data import Dataset, load_csv, load_dataset, vertical_split
from rengo.jobs.spec import JobSpec
from rengo.jobs.vertical_spec import VflSection
from rengo.metrics import ks_statistic, mae, r2_score, rmse, roc_auc
from rengo.tracking.model_export import vertical_parts_blob
from rengo.tracking.run import open_run
from rengo.vfl import PartyData, PartyTable, VerticalDataset, VerticalEstimator
from rengo.vfl.common import column_scaling, scaled
from rengo.vfl.runner import VerticalPlan

RUN_KIND = "vfl"


@dataclass
class VerticalJob:
    """Training and held-out data for every party, the held-out labels, and the model."""

    spec: JobSpec
    train: VerticalDataset
    test: VerticalDataset
    test_labels: np.ndarray
    model: VerticalEstimator


def held_out(ids: np.ndarray, seed: int, fraction: float) -> np.ndarray:
    """Which IDs are held out: BLAKE2b of (seed, ID) below ``fraction`` of its range.

    Every party computes it alone from its own IDs, and a customer is held out at every
    party that has it, so training and scoring rows agree without any message.
    """
    limit = int(fraction * 2**64)
    salt = f"rengo-holdout/{seed}/".encode()
    digests = (hashlib.blake2b(salt + str(i).encode(), digest_size=8).digest() for i in ids)
    return np.fromiter((int.from_bytes(d, "big") < limit for d in digests), bool, len(ids))


def _own_table(
    vfl: VflSection, name: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, tuple[str, ...] | None, tuple[str, ...]]:
    """``(ids, X, y, classes, feature names)`` of one party, as it holds them."""
    is_label_party = name == vfl.label_party
    if vfl.parties:
        if name not in vfl.parties:
            raise ConfigError(f"{name!r} is not one of the job's parties {sorted(vfl.parties)}")
        path = vfl.parties[name]
        # regression targets stay numbers (whole-number counts would otherwise become classes)
        regression = vfl.spec.output_of(vfl.options) == "values"
        table = load_csv(
            path,
            label=vfl.label if is_label_party else None,
            id_column=vfl.id_column,
            name=name,
            task="regression" if regression else "auto",
        )
        if table.ids is None:
            raise DataError(f"{path}: needs the id column {vfl.id_column!r}")
        y = table.labels() if is_label_party else None
        return np.asarray(table.ids), table.X, y, table.classes, tuple(table.feature_names)
    assert vfl.dataset is not None
    dataset: Dataset = load_dataset(vfl.dataset)
    names = vfl.party_names
    if name not in names:
        raise ConfigError(f"{name!r} is not one of the job's parties {names}")
    split = vertical_split(
        dataset, vfl.num_parties, seed, drop_fraction=vfl.drop_fraction, names=names
    )
    party = next(p for p in split if p.name == name)
    y = None if party.y is None else np.asarray(party.y)
    return np.asarray(party.ids), party.X, y, dataset.classes, tuple(party.feature_names)


def party_data(vfl: VflSection, name: str, seed: int) -> PartyData:
    """One party's inputs to the job's run: its training and held-out tables (standardised
    with its own training statistics), and its labels if it is the label party.

    Parameters
    ----------
    vfl
        The job's ``[vfl]`` section.
    name
        The party.
    seed
        The job's seed (the bundled split and the held-out customers).

    Returns
    -------
    PartyData
        Everything the party brings to the run, and how its columns were prepared.

    Raises
    ------
    ConfigError
        If ``name`` is not one of the job's parties.
    DataError
        For unreadable tables, a missing ID column, or a label without two classes.
    """
    ids, x, y, classes, feature_names = _own_table(vfl, name, seed)
    if name == vfl.label_party:
        if y is None:
            raise DataError(f"label party {name!r} holds no labels")
        binary = vfl.spec.output_of(vfl.options) == "probability"
        if binary and classes is not None and len(classes) != 2:
            raise DataError(
                f"{name}: label {vfl.label!r} must have two classes, found {len(classes)}"
            )
    test = held_out(ids, seed, vfl.test_size)
    mean, scale = column_scaling(x[~test])
    train = scaled(PartyTable(ids[~test], x[~test]), mean, scale)
    score = scaled(PartyTable(ids[test], x[test]), mean, scale)
    labels = None if y is None else y[~test]
    score_labels = None if y is None else y[test]
    return PartyData(train, labels, score, score_labels, classes, feature_names, mean, scale)


def job_plan(spec: JobSpec, *, score: bool = True) -> VerticalPlan:
    """The plan of a vertical job's run: its parties, algorithm, options and seed."""
    vfl = spec.vfl
    if vfl is None:
        raise ConfigError(f"{spec.source}: not a vertical job")
    names = vfl.party_names
    return VerticalPlan(
        names[0], tuple(names[1:]), vfl.options, spec.job.seed, score=score, algorithm=vfl.algorithm
    )


def build_vertical_job(spec: JobSpec) -> VerticalJob:
    """Every party's tables (see :func:`party_data`) and the algorithm's estimator.

    Raises
    ------
    ConfigError
        If ``spec`` is not a vertical job.
    DataError
        For bad tables (see :func:`party_data`).
    """
    vfl = spec.vfl
    if vfl is None:
        raise ConfigError(f"{spec.source}: not a vertical job")
    data = {name: party_data(vfl, name, spec.job.seed) for name in vfl.party_names}
    label = data[vfl.label_party]
    assert label.labels is not None and label.score_labels is not None
    train = {name: d.table for name, d in data.items() if d.table is not None}
    test = {name: d.score_table for name, d in data.items() if d.score_table is not None}
    options: dict[str, Any] = options_to_wire(vfl.options)
    model = VerticalEstimator.for_algorithm(vfl.spec)(seed=spec.job.seed, **options)
    return VerticalJob(
        spec,
        VerticalDataset(train, vfl.label_party, label.labels),
        VerticalDataset(test, vfl.label_party),
        label.score_labels,
        model,
    )


def evaluate(output: str, truth: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """The held-out metrics for an algorithm's kind of prediction (see
    :data:`rengo.vfl.registry.Output`): AUC and KS for binary probabilities, accuracy for
    classes and class probabilities, RMSE, MAE and R^2 for values."""
    if output == "probability":
        return {"auc": roc_auc(truth, predictions), "ks": ks_statistic(truth, predictions)}
    if output == "probabilities":
        return {"accuracy": float(np.mean(np.argmax(predictions, axis=1) == truth))}
    if output == "classes":
        return {"accuracy": float(np.mean(predictions == truth))}
    return {
        "rmse": rmse(truth, predictions),
        "mae": mae(truth, predictions),
        "r2": r2_score(truth, predictions),
    }


def run_vertical_job(
    job: VerticalJob, store: Any = None, log: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Train, score the held-out customers, and record the run (kind "vfl") in ``store``.

    Returns
    -------
    dict
        ``run_id``, ``common_customers``, ``train_seconds``, ``scored_customers``, the
        held-out metrics (e.g. ``auc`` and ``ks``) and the label party's per-epoch
        ``losses`` (empty when its model keeps none).
    """
    spec, vfl = job.spec, job.spec.vfl
    assert vfl is not None
    config = {"kind": "vfl", **vfl.as_dict()}
    with open_run(store, RUN_KIND, config, name=spec.job.name, seed=spec.job.seed) as run:
        run_id = run.run_id
        start = time.perf_counter()
        job.model.fit(job.train)
        train_s = time.perf_counter() - start
        ids, predictions = job.model.predict_raw(job.test)
        label_ids = job.test.parties[vfl.label_party].ids
        truth_by_id = dict(zip(map(str, label_ids), job.test_labels, strict=True))
        truth = np.array([truth_by_id[str(i)] for i in ids])
        if vfl.spec.metrics is not None:
            metrics = vfl.spec.metrics(truth, predictions)
        else:
            metrics = evaluate(vfl.spec.output_of(vfl.options), truth, predictions)
        label_model = job.model.models_[vfl.label_party]
        result: dict[str, Any] = {
            "run_id": run_id,
            "common_customers": int(job.model.psi_.size) if job.model.psi_ else None,
            "train_seconds": train_s,
            "scored_customers": len(ids),
            **metrics,
            "losses": list(getattr(label_model, "losses", [])),
        }
        shown = ", ".join(f"{k.upper()} {v:.4f}" for k, v in metrics.items())
        trained = vfl.spec.describe(job.model.models_.get(COORDINATOR))
        log(
            f"{trained} in {train_s:.1f}s on {result['common_customers']} common customers; "
            f"scored {len(ids)} held-out customers: {shown}"
        )
        if store is not None and run_id is not None:
            parties = len(vfl.party_names)
            for epoch, loss in enumerate(result["losses"], start=1):
                store.log_round(run_id, epoch, {"train_loss": loss}, 0.0, parties, 0)
            store.log_round(
                run_id,
                max(1, len(result["losses"])),
                {f"test_{k}": v for k, v in metrics.items()},
                train_s,
                parties,
                0,
            )
            coefficients = getattr(job.model, "coefficients", None)
            if callable(coefficients):
                # A simulation holds every linear party's part in one place (a deployment
                # never does); other algorithms' parts stay with their estimator.
                epochs = max(1, len(result["losses"]))
                parts = vertical_parts_blob(
                    epochs, vfl.label_party, coefficients(), job.model.guest_model_.intercept
                )
                store.save_checkpoint(run_id, epochs, parts)
        run.summary.update({k: v for k, v in metrics.items()}, train_seconds=train_s)
        return result


def vfl_names(job: VerticalJob) -> list[str]:
    """The parties of a vertical job (label party first)."""
    return [job.train.label_party, *job.train.hosts]

"""Vertical jobs: load each party's table, hold out new customers, train hetero LR, score.

Each party standardises its own columns with its own training statistics (nothing about
its data leaves it); rows are aligned by private set intersection inside the model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.data import Dataset, load_csv, load_dataset, vertical_split
from rengo.jobs.spec import JobSpec, VflSection
from rengo.tracking.model_export import vertical_parts_blob
from rengo.vfl import HeteroLogisticRegression, PartyTable, VerticalDataset
from rengo.vfl.hetero_lr_math import ks_statistic, roc_auc


@dataclass
class PartyData:
    """One party's table as it holds it: ids, features and (label party only) labels."""

    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray | None = None


@dataclass
class VerticalJob:
    """Training and held-out data for every party, the test labels, and the model."""

    spec: JobSpec
    train: VerticalDataset
    test: VerticalDataset
    test_labels: np.ndarray
    model: HeteroLogisticRegression


def load_parties(vfl: VflSection, seed: int) -> dict[str, PartyData]:
    """Each party's table, from its own CSV or from a bundled table split by columns."""
    if vfl.parties:
        parties: dict[str, PartyData] = {}
        for name, path in vfl.parties.items():
            label = vfl.label if name == vfl.label_party else None
            table = load_csv(path, label=label, id_column=vfl.id_column, name=name)
            if table.ids is None:
                raise DataError(f"{path}: needs the id column {vfl.id_column!r}")
            if label is not None and table.num_classes != 2:
                raise DataError(
                    f"{path}: label {label!r} must have two classes, found {table.num_classes}"
                )
            parties[name] = PartyData(
                table.ids, table.X, table.labels() if label is not None else None
            )
        return parties
    assert vfl.dataset is not None
    dataset: Dataset = load_dataset(vfl.dataset)
    if dataset.num_classes != 2:
        raise ConfigError(f"vfl.dataset {vfl.dataset!r} is not a binary classification table")
    names = [vfl.label_party] + [f"party{i}" for i in range(1, vfl.num_parties)]
    split = vertical_split(
        dataset, vfl.num_parties, seed, drop_fraction=vfl.drop_fraction, names=names
    )
    return {
        p.name: PartyData(np.asarray(p.ids), p.X, None if p.y is None else np.asarray(p.y))
        for p in split
    }


def build_vertical_job(spec: JobSpec) -> VerticalJob:
    """Hold out ``test_size`` of the label party's customers and build the model."""
    vfl = spec.vfl
    if vfl is None:
        raise ConfigError(f"{spec.source}: not a vertical job")
    parties = load_parties(vfl, spec.job.seed)
    label = parties[vfl.label_party]
    if label.y is None:
        raise DataError(f"label party {vfl.label_party!r} holds no labels")
    rng = np.random.default_rng(spec.job.seed)
    held_out = rng.choice(label.ids, int(len(label.ids) * vfl.test_size), replace=False)
    train, test = {}, {}
    train_labels = test_labels = None
    for name, data in parties.items():
        is_test = np.isin(data.ids, held_out)
        mean = data.X[~is_test].mean(axis=0)
        scale = data.X[~is_test].std(axis=0)
        scale[scale == 0] = 1.0
        X = (data.X - mean) / scale
        train[name] = PartyTable(data.ids[~is_test], X[~is_test])
        test[name] = PartyTable(data.ids[is_test], X[is_test])
        if data.y is not None:
            train_labels, test_labels = data.y[~is_test], data.y[is_test]
    assert train_labels is not None and test_labels is not None
    model = HeteroLogisticRegression(
        key_bits=vfl.key_bits,
        epochs=vfl.epochs,
        batch_size=vfl.batch_size,
        learning_rate=vfl.learning_rate,
        l2=vfl.l2,
        optimizer=vfl.optimizer,  # type: ignore[arg-type]
        obfuscator_source=vfl.obfuscators,  # type: ignore[arg-type]
        seed=spec.job.seed,
    )
    return VerticalJob(
        spec,
        VerticalDataset(train, vfl.label_party, train_labels),
        VerticalDataset(test, vfl.label_party),
        test_labels,
        model,
    )


def run_vertical_job(
    job: VerticalJob, store: Any = None, log: Callable[[str], Any] = print
) -> dict[str, Any]:
    """Train, score the held-out customers, and record the run (kind "vfl") in ``store``."""
    spec, vfl = job.spec, job.spec.vfl
    assert vfl is not None
    run_id = None
    if store is not None:
        config = {"kind": "vfl", "label_party": vfl.label_party, **vars(vfl)}
        run_id = store.start_run("vfl", config, name=spec.job.name, seed=spec.job.seed)
    status = "failed"
    try:
        start = time.perf_counter()
        job.model.fit(job.train)
        train_s = time.perf_counter() - start
        ids, scores = job.model.predict_scores(job.test)
        label_ids = job.test.parties[vfl.label_party].ids
        truth = dict(zip(map(str, label_ids), job.test_labels, strict=True))
        y = np.array([truth[str(i)] for i in ids])
        result = {
            "run_id": run_id,
            "common_customers": int(job.model.psi_.size) if job.model.psi_ else None,
            "train_seconds": train_s,
            "scored_customers": len(ids),
            "auc": roc_auc(y, scores),
            "ks": ks_statistic(y, scores),
            "losses": list(job.model.losses_),
        }
        log(
            f"trained {len(result['losses'])} epochs in {train_s:.1f}s on "
            f"{result['common_customers']} common customers; scored {len(ids)} held-out "
            f"customers: AUC {result['auc']:.4f}, KS {result['ks']:.4f}"
        )
        if store is not None and run_id is not None:
            parties = len(vfl_names(job))
            for epoch, loss in enumerate(result["losses"], start=1):
                store.log_round(run_id, epoch, {"train_loss": loss}, 0.0, parties, 0)
            store.log_round(
                run_id,
                len(result["losses"]),
                {"test_auc": result["auc"], "test_ks": result["ks"]},
                train_s,
                parties,
                0,
            )
            # A simulation holds every party's part in one place (a deployment never does).
            epochs = len(job.model.losses_)
            parts = vertical_parts_blob(
                epochs,
                vfl.label_party,
                job.model.coefficients(),
                job.model.guest_model_.intercept,
            )
            store.save_checkpoint(run_id, epochs, parts)
        status = "completed"
        return result
    finally:
        if store is not None and run_id is not None:
            store.finish_run(run_id, status, None)


def vfl_names(job: VerticalJob) -> list[str]:
    """The parties of a vertical job (label party first)."""
    return [job.train.label_party, *job.train.hosts]

"""A scikit-learn-like front end that simulates coordinated hetero LR in one process.

``fit`` aligns the parties' rows with private set intersection, then runs the same role
functions a deployment runs (:func:`~rengo.vfl.hetero_lr_roles.hetero_lr_coordinator`,
``hetero_lr_guest``, ``hetero_lr_host``) on an in-process :class:`LocalBus` that records
every message, so privacy tests can inspect exactly what each role sent.

>>> model = HeteroLogisticRegression(key_bits=1024, epochs=10, l2=0.01)  # doctest: +SKIP
>>> model.fit({"bank": (ids_b, X_b), "card": (ids_c, X_c)}, label_party="card", y=y_c)
>>> model.predict_proba({"bank": (new_b, Xn_b), "card": (new_c, Xn_c)})[:, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from rengo.core.errors import ConfigError, DataError
from rengo.crypto import PaillierPrivateKey, PaillierPublicKey, generate_paillier_keypair
from rengo.transport.channel import LocalBus, TranscriptEntry, run_roles
from rengo.vfl.hetero_lr_config import HeteroLRConfig
from rengo.vfl.hetero_lr_math import OptimizerName, Schedule
from rengo.vfl.hetero_lr_obfuscators import ObfuscatorSource
from rengo.vfl.hetero_lr_predict import (
    PredictMode,
    hetero_lr_predict_coordinator,
    hetero_lr_predict_guest,
    hetero_lr_predict_host,
)
from rengo.vfl.hetero_lr_roles import (
    COORDINATOR,
    CoordinatorReport,
    GuestModel,
    HostModel,
    hetero_lr_coordinator,
    hetero_lr_guest,
    hetero_lr_host,
)
from rengo.vfl.psi import PSIResult, private_set_intersection, require_nonempty


@dataclass(frozen=True)
class PartyTable:
    """One party's rows: record IDs and a feature matrix with one row per ID."""

    ids: Sequence[Any] | np.ndarray
    features: np.ndarray

    def __post_init__(self) -> None:
        features = np.asarray(self.features, dtype=np.float64)
        if features.ndim != 2:
            raise DataError(f"features must be 2-D, got shape {features.shape}")
        if len(self.ids) != len(features):
            raise DataError(f"{len(self.ids)} IDs for {len(features)} feature rows")
        object.__setattr__(self, "features", features)


@dataclass(frozen=True)
class VerticalDataset:
    """Vertically split data: each party's table, who holds the labels, and the labels
    (aligned with the label party's rows; ``None`` when only scoring)."""

    parties: Mapping[str, PartyTable]
    label_party: str
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.label_party not in self.parties:
            raise ConfigError(f"label party {self.label_party!r} is not in {sorted(self.parties)}")
        if len(self.parties) < 2:
            raise ConfigError("vertical learning needs the label party and at least one host")
        if COORDINATOR in self.parties:
            raise ConfigError(f"{COORDINATOR!r} is reserved for the coordinator role")
        if self.labels is not None:
            labels = np.asarray(self.labels)
            if labels.shape != (len(self.parties[self.label_party].ids),):
                raise DataError("labels need one entry per row of the label party")

    @property
    def hosts(self) -> list[str]:
        """The feature parties, in a fixed order."""
        return [name for name in self.parties if name != self.label_party]


PartyInput = Mapping[str, "PartyTable | tuple[Sequence[Any] | np.ndarray, np.ndarray]"]


def as_vertical_dataset(
    data: VerticalDataset | PartyInput, label_party: str | None, labels: Any = None
) -> VerticalDataset:
    """Accept a :class:`VerticalDataset` or ``{name: (ids, X)}`` plus the label party."""
    if isinstance(data, VerticalDataset):
        return data
    if label_party is None:
        raise ConfigError("label_party is required when passing {name: (ids, X)}")
    tables = {
        name: table if isinstance(table, PartyTable) else PartyTable(*table)
        for name, table in data.items()
    }
    return VerticalDataset(tables, label_party, None if labels is None else np.asarray(labels))


def align_rows(
    dataset: VerticalDataset, *, use_psi: bool, seed: int | None
) -> tuple[dict[str, np.ndarray], PSIResult | None]:
    """Each party's row indices of the common IDs, in one agreed order (by PSI, or by
    requiring identical ID lists when ``use_psi`` is False)."""
    if use_psi:
        ids = {name: table.ids for name, table in dataset.parties.items()}
        psi = require_nonempty(
            private_set_intersection(ids, leader=dataset.label_party, seed=seed, record=True)
        )
        return {name: psi.rows(name) for name in dataset.parties}, psi
    reference = list(dataset.parties[dataset.label_party].ids)
    for name, table in dataset.parties.items():
        if list(table.ids) != reference:
            raise DataError(f"{name}'s IDs differ from the label party's; use PSI to align")
    rows = np.arange(len(reference))
    return dict.fromkeys(dataset.parties, rows), None


class HeteroLogisticRegression:
    """Coordinated vertical logistic regression over Paillier (see hetero_lr_roles).

    ``l2`` is the weight of ``l2/2 * ||w||^2`` on the mean loss, i.e. scikit-learn's
    ``C = 1 / (n_rows * l2)``. ``key_bits`` below 2048 are for tests and benchmarks only.
    ``seed`` fixes the batch order and PSI's row order (not keys, not masks);
    ``key_seed`` makes the key pair reproducible with an insecure generator (tests only).
    ``obfuscator_source="coordinator"`` lets the key holder deal encryption randomness
    (faster; see :mod:`rengo.vfl.hetero_lr_obfuscators` for the trust it needs).
    """

    def __init__(
        self,
        *,
        key_bits: int = 2048,
        epochs: int = 10,
        batch_size: int = 1024,
        learning_rate: float = 0.1,
        l2: float = 0.0,
        tol: float = 1e-4,
        lr_schedule: Schedule = "constant",
        optimizer: OptimizerName = "adam",
        fit_intercept: bool = True,
        compute_loss: bool = True,
        obfuscator_source: ObfuscatorSource = "local",
        predict_mode: PredictMode = "encrypted",
        use_psi: bool = True,
        seed: int | None = None,
        key_seed: int | None = None,
    ) -> None:
        self.key_bits = key_bits
        self.config = HeteroLRConfig(
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            l2=l2,
            tol=tol,
            lr_schedule=lr_schedule,
            optimizer=optimizer,
            fit_intercept=fit_intercept,
            compute_loss=compute_loss,
            obfuscator_source=obfuscator_source,
        )
        self.predict_mode = predict_mode
        self.use_psi = use_psi
        self.seed = seed
        self.key_seed = key_seed
        self._keypair: tuple[PaillierPublicKey, PaillierPrivateKey] | None = None

    def fit(
        self,
        data: VerticalDataset | PartyInput,
        label_party: str | None = None,
        y: Any = None,
    ) -> HeteroLogisticRegression:
        """Align rows (PSI), make the coordinator's key pair, and train on a recording bus."""
        dataset = as_vertical_dataset(data, label_party, y)
        if dataset.labels is None:
            raise DataError("fit needs labels for the label party's rows")
        rows, self.psi_ = align_rows(dataset, use_psi=self.use_psi, seed=self.seed)
        guest, hosts = dataset.label_party, dataset.hosts
        self._keypair = generate_paillier_keypair(self.key_bits, seed=self.key_seed)
        keypair, config = self._keypair, self.config
        labels = np.asarray(dataset.labels)[rows[guest]]
        features = {name: t.features[rows[name]] for name, t in dataset.parties.items()}
        bus = LocalBus([COORDINATOR, guest, *hosts], record=True)

        def host_role(name: str) -> Any:
            return lambda channel: hetero_lr_host(channel, features[name], guest)

        results = run_roles(
            bus,
            {
                COORDINATOR: lambda channel: hetero_lr_coordinator(
                    channel, [guest, *hosts], guest, keypair=keypair
                ),
                guest: lambda channel: hetero_lr_guest(
                    channel, features[guest], labels, hosts, config, seed=self.seed
                ),
                **{name: host_role(name) for name in hosts},
            },
        )
        self.label_party_, self.hosts_ = guest, hosts
        self.train_ids_ = np.asarray(dataset.parties[guest].ids)[rows[guest]]
        self.guest_model_: GuestModel = results[guest]
        self.host_models_: dict[str, HostModel] = {name: results[name] for name in hosts}
        self.coordinator_report_: CoordinatorReport = results[COORDINATOR]
        self.losses_ = list(self.guest_model_.losses)
        self.n_epochs_ = self.guest_model_.epochs_run
        self.bus_ = bus
        return self

    @property
    def transcript_(self) -> list[TranscriptEntry]:
        """Every message of the last training run, as it crossed the bus."""
        return list(self.bus_.transcript)

    def coefficients(self) -> dict[str, np.ndarray]:
        """Every party's weights (only a simulation can gather them in one place)."""
        self._require_fitted()
        return {
            self.label_party_: self.guest_model_.weights,
            **{name: m.weights for name, m in self.host_models_.items()},
        }

    def predict_scores(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, P(y=1))`` for the rows every party holds, in the label party's row order."""
        keypair = self._require_fitted()
        dataset = as_vertical_dataset(data, label_party or self.label_party_)
        if dataset.label_party != self.label_party_ or set(dataset.hosts) != set(self.hosts_):
            raise ConfigError("scoring needs the same parties and label party as training")
        rows, self.predict_psi_ = align_rows(dataset, use_psi=self.use_psi, seed=self.seed)
        order = np.argsort(rows[self.label_party_], kind="stable")
        rows = {name: r[order] for name, r in rows.items()}
        features = {name: t.features[rows[name]] for name, t in dataset.parties.items()}
        guest, hosts = self.label_party_, self.hosts_
        bus = LocalBus([COORDINATOR, guest, *hosts], record=True)

        def host_role(name: str) -> Any:
            return lambda channel: hetero_lr_predict_host(
                channel, features[name], self.host_models_[name], guest
            )

        results = run_roles(
            bus,
            {
                COORDINATOR: lambda channel: hetero_lr_predict_coordinator(
                    channel, [guest, *hosts], guest, keypair
                ),
                guest: lambda channel: hetero_lr_predict_guest(
                    channel, features[guest], self.guest_model_, hosts, mode=self.predict_mode
                ),
                **{name: host_role(name) for name in hosts},
            },
        )
        self.predict_bus_ = bus
        ids = np.asarray(dataset.parties[guest].ids)[rows[guest]]
        return ids, results[guest]

    def predict_proba(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> np.ndarray:
        """``(m, 2)`` class probabilities for the rows every party holds (label party order)."""
        _, positive = self.predict_scores(data, label_party)
        return np.column_stack([1.0 - positive, positive])

    def predict(
        self, data: VerticalDataset | PartyInput, label_party: str | None = None
    ) -> np.ndarray:
        """0/1 predictions at threshold 0.5."""
        return (self.predict_proba(data, label_party)[:, 1] >= 0.5).astype(np.int64)

    def _require_fitted(self) -> tuple[PaillierPublicKey, PaillierPrivateKey]:
        if self._keypair is None:
            raise ConfigError("call fit before predicting")
        return self._keypair

"""The credit-default consortium: a bank, a telecom and a card issuer train one scorecard,
with hetero logistic regression and with SecureBoost, side by side.

Real credit data for every user: the customers of the UCI "default of credit card clients"
table (Yeh & Lien 2009, CC BY 4.0), from the 5,000-customer sample that ships with rengo
(:func:`rengo.data.load_credit_default`), or all 30,000 from the shared data folder with
``full=True``. Columns are split by who would plausibly hold them (a stand-in: the UCI table
is one card issuer's data), in the setting where federating pays - a card issuer that knows
little about its applicants:

* card issuer (label party): what applicants told it and the credit line it granted -
  LIMIT_BAL, SEX, EDUCATION, MARRIAGE, AGE - and the label "defaulted next month";
* bank: each customer's repayment status over six months, PAY_0, PAY_2..PAY_6;
* telecom: monthly bill and payment amounts, BILL_AMT1..6 and PAY_AMT1..6 (standing in for
  a telecom's billing history).

Alone, the card issuer ranks defaulters little better than chance (AUC about 0.63 on the
new customers); with the bank's and the telecom's columns, about 0.74. Each party misses a
different random 3 % of customers; 20 % of customers are held out as "new customers" to
score together after training.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from rengo.core.errors import DataError
from rengo.crypto.dealing import ObfuscatorSource
from rengo.data import load_credit_default
from rengo.data.bundled import CREDIT_ATTRIBUTION
from rengo.metrics import ks_statistic, roc_auc
from rengo.vfl import HeteroLogisticRegression, PartyTable, VerticalDataset
from rengo.vfl.progress import epoch_clock
from rengo.vfl.secureboost import HeteroSecureBoost

LABEL_PARTY = "card_issuer"
PARTY_COLUMNS = {
    "card_issuer": ["LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE"],
    "bank": ["PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5", "PAY_6"],
    "telecom": [*(f"BILL_AMT{k}" for k in range(1, 7)), *(f"PAY_AMT{k}" for k in range(1, 7))],
}
"""Which columns of the credit table each party holds."""
SMALL_CUSTOMERS = 2000
"""Customers of the small story (the demo's and CI's), drawn from the bundled sample."""
MISSING_SHARE = 0.03
NEW_CUSTOMER_SHARE = 0.2


@dataclass(frozen=True)
class CreditTable:
    """The joined source table before it is split: customer IDs, columns by party, labels."""

    name: str
    ids: np.ndarray
    columns: dict[str, np.ndarray]
    labels: np.ndarray


def load_credit_table(full: bool = False) -> CreditTable:
    """The credit table split into the three parties' columns: the bundled 5,000-customer
    sample, or every customer from the shared data folder when ``full``.

    Raises
    ------
    DataError
        ``full`` without the shared table, or a table that lacks the story's columns.
    """
    data = load_credit_default(full=full)
    where = {name: k for k, name in enumerate(data.feature_names)}
    missing = [c for cols in PARTY_COLUMNS.values() for c in cols if c not in where]
    if missing:
        raise DataError(f"{data.name} lacks the columns {missing}")
    columns = {party: data.X[:, [where[c] for c in cols]] for party, cols in PARTY_COLUMNS.items()}
    assert data.ids is not None
    labels = data.labels().astype(np.float64)
    name = f"UCI credit-card default ({'all' if full else 'bundled sample of'} {len(labels):,})"
    return CreditTable(name, np.asarray(data.ids), columns, labels)


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Each party scales its own columns with its own training statistics."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return [(a - mean) / std for a in (train, *others)]


def split_consortium(
    table: CreditTable, rng: np.random.Generator
) -> tuple[VerticalDataset, VerticalDataset, dict[str, np.ndarray]]:
    """Training and new-customer datasets, each party missing different customers."""
    order = rng.permutation(len(table.ids))
    cut = int(len(order) * (1 - NEW_CUSTOMER_SHARE))
    train_rows, new_rows = np.sort(order[:cut]), np.sort(order[cut:])
    train_parties, new_parties, central = {}, {}, {}
    for party, columns in table.columns.items():
        kept = np.sort(
            rng.choice(train_rows, int(len(train_rows) * (1 - MISSING_SHARE)), replace=False)
        )
        train_x, new_x, all_x = _standardise(columns[kept], columns[new_rows], columns)
        train_parties[party] = PartyTable(table.ids[kept], train_x)
        new_parties[party] = PartyTable(table.ids[new_rows], new_x)
        central[party] = all_x
    labels = table.labels[np.isin(table.ids, train_parties[LABEL_PARTY].ids)]
    return (
        VerticalDataset(train_parties, LABEL_PARTY, labels),
        VerticalDataset(new_parties, LABEL_PARTY),
        central,
    )


def story_table(small: bool, rng: np.random.Generator, full: bool = False) -> CreditTable:
    """The story's customers: :data:`SMALL_CUSTOMERS` of the bundled sample drawn with
    ``rng`` when ``small``, else the whole table (the bundled sample, or all 30,000 when
    ``full``)."""
    table = load_credit_table(full=full and not small)
    if not small or len(table.ids) <= SMALL_CUSTOMERS:
        return table
    keep = np.sort(rng.choice(len(table.ids), SMALL_CUSTOMERS, replace=False))
    return CreditTable(
        table.name,
        table.ids[keep],
        {p: c[keep] for p, c in table.columns.items()},
        table.labels[keep],
    )


def story_model_settings(
    small: bool, key_bits: int, epochs: int, l2: float, seed: int, obfuscators: ObfuscatorSource
) -> dict[str, Any]:
    """The story's :class:`HeteroLogisticRegression` arguments (one place for both uses)."""
    return {
        "key_bits": key_bits,
        "epochs": epochs,
        "batch_size": 256 if small else 4096,
        "learning_rate": 0.5,
        "optimizer": "sgd",
        "obfuscator_source": obfuscators,
        "l2": l2,
        "tol": 1e-5,
        "seed": seed,
    }


@contextmanager
def fixed_epochs() -> Iterator[None]:
    """The story trains its few epochs on purpose (a demo, not a tuned model): no
    ``ConvergenceWarning`` for it from the estimators (see
    :meth:`rengo.vfl.CoordinatedLinearModel.fit`)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*had not converged after epochs=")
        yield


def boosted_model_settings(key_bits: int, seed: int) -> dict[str, Any]:
    """The story's :class:`HeteroSecureBoost` arguments: 5 trees of depth 3, 32 bins."""
    return {
        "key_bits": key_bits,
        "n_trees": 5,
        "max_depth": 3,
        "learning_rate": 0.3,
        "max_bin": 32,
        "seed": seed,
    }


def run_credit_default(
    small: bool = False,
    *,
    key_bits: int | None = None,
    epochs: int | None = None,
    l2: float = 1e-3,
    seed: int = 0,
    obfuscators: ObfuscatorSource = "coordinator",
    boosted: bool = True,
    log: Any = print,
    full: bool = False,
    progress: Any = False,
) -> dict[str, Any]:
    """Run the steps of the story and return its figures (AUC, KS, timings...).

    Parameters
    ----------
    small:
        Keep 2,000 customers of the bundled sample, 512-bit keys and 3 epochs (for CI);
        else every customer, 1024-bit keys and 5 epochs.
    key_bits, epochs:
        Override the Paillier modulus size and the number of epochs.
    l2:
        L2 penalty of the model (and of the central reference fit, as ``C = 1/(n l2)``).
    seed:
        Fixes the customers kept, the split, the missing customers and the training.
    obfuscators:
        Who makes the encryption randomness (see :mod:`rengo.crypto.dealing`).
    boosted:
        Also train SecureBoost on the same consortium (the card issuer holds its key).
    log:
        Where each step's line goes (``print`` by default).
    full:
        Not ``small``: all 30,000 customers from the shared data folder.
    progress:
        Show the training as it goes (see :class:`~rengo.vfl.HeteroLogisticRegression`).

    Returns
    -------
    dict[str, Any]
        ``dataset``, ``customers``, ``common_customers``, ``key_bits``, ``epochs``,
        ``train_seconds``, ``losses``, ``epoch_seconds`` (each epoch's own), ``new_customers``,
        ``auc``, ``ks``, ``central_auc`` (a scikit-learn fit on the pooled columns, for
        reference) and ``alone_auc`` (the
        card issuer's own columns, the same fit); with ``boosted``, ``secureboost`` (its
        ``auc``, ``ks``, ``trees``, ``train_seconds``) and ``central_boosted_auc``
        (scikit-learn's HistGradientBoosting, same settings, pooled).

    Raises
    ------
    DataError
        ``full`` without the shared table.
    """
    rng = np.random.default_rng(seed)
    table = story_table(small, rng, full)
    key_bits = key_bits or (512 if small else 1024)
    epochs = epochs or (3 if small else 5)
    train, new, central = split_consortium(table, rng)
    log(
        f"data: {table.name}, {len(table.ids):,} customers ({CREDIT_ATTRIBUTION}); parties "
        "hold "
        + ", ".join(
            f"{p} {len(t.ids)} rows x {t.features.shape[1]} cols" for p, t in train.parties.items()
        )
    )
    model = HeteroLogisticRegression(
        progress=progress, **story_model_settings(small, key_bits, epochs, l2, seed, obfuscators)
    )
    log(f"1. coordinator creates a {key_bits}-bit Paillier key pair and hands out the public key")
    log("2. private set intersection finds the customers every party holds")
    started = time.perf_counter()
    with fixed_epochs(), epoch_clock(model, LABEL_PARTY, progress) as clock:
        model.fit(train)
    trained = time.perf_counter() - started
    common = 0 if model.psi_ is None else model.psi_.size
    log(f"   {common} common customers")
    log(
        f"3. trained {model.n_epochs_} epochs in {trained:.1f} s; Taylor loss by epoch: "
        + ", ".join(f"{v:.4f}" for v in model.losses_)
    )
    scored_ids, probability = model.predict_scores(new)
    label_of = dict(zip(table.ids.tolist(), table.labels.tolist(), strict=True))
    truth = np.array([label_of[i] for i in scored_ids.tolist()])
    auc, ks = roc_auc(truth, probability), ks_statistic(truth, probability)
    log(f"4. scored {len(scored_ids)} new customers together: AUC {auc:.4f}, KS {ks:.4f}")
    central_auc = _central_reference(table, central, model, scored_ids, l2)
    alone_auc = _central_reference(table, central, model, scored_ids, l2, [LABEL_PARTY])
    log(
        f"   for reference (scikit-learn on the same rows): the card issuer alone "
        f"{alone_auc:.4f}, every column pooled in one place {central_auc:.4f}"
    )
    extra: dict[str, Any] = {}
    if boosted:
        extra = _boosted_step(table, central, train, new, key_bits, seed, log)
    return {
        "alone_auc": alone_auc,
        "dataset": table.name,
        "customers": len(table.ids),
        "common_customers": common,
        "key_bits": key_bits,
        "epochs": model.n_epochs_,
        "train_seconds": trained,
        "losses": list(model.losses_),
        "epoch_seconds": clock.epoch_seconds(),
        "new_customers": len(scored_ids),
        "auc": auc,
        "ks": ks,
        "central_auc": central_auc,
        **extra,
    }


def _boosted_step(
    table: CreditTable,
    central: dict[str, np.ndarray],
    train: VerticalDataset,
    new: VerticalDataset,
    key_bits: int,
    seed: int,
    log: Any,
) -> dict[str, Any]:
    """Step 5: SecureBoost on the same consortium, and its central reference."""
    settings = boosted_model_settings(key_bits, seed)
    log(
        f"5. the same consortium trains SecureBoost ({settings['n_trees']} trees of depth "
        f"{settings['max_depth']}): the card issuer holds its own {key_bits}-bit key, the "
        "bank and the telecom sum encrypted gradients into histograms and keep their splits"
    )
    model = HeteroSecureBoost(**settings)
    started = time.perf_counter()
    model.fit(train)
    trained = time.perf_counter() - started
    scored_ids, probability = model.predict_raw(new)
    label_of = dict(zip(table.ids.tolist(), table.labels.tolist(), strict=True))
    truth = np.array([label_of[i] for i in scored_ids.tolist()])
    auc, ks = roc_auc(truth, probability), ks_statistic(truth, probability)
    log(
        f"   {model.n_trees_} trees in {trained:.1f} s; scored {len(scored_ids)} new customers "
        f"together: AUC {auc:.4f}, KS {ks:.4f}"
    )
    pooled = np.hstack([central[p] for p in PARTY_COLUMNS])
    trained_on = np.isin(table.ids, model.train_ids_)
    scored = np.isin(table.ids, scored_ids)
    reference = HistGradientBoostingClassifier(
        max_iter=settings["n_trees"],
        max_depth=settings["max_depth"],
        learning_rate=settings["learning_rate"],
        max_bins=settings["max_bin"],
        l2_regularization=1.0,
        min_samples_leaf=1,
        max_leaf_nodes=None,
        early_stopping=False,
    ).fit(pooled[trained_on], table.labels[trained_on])
    central_boosted = roc_auc(table.labels[scored], reference.predict_proba(pooled[scored])[:, 1])
    log(
        "   a central scikit-learn HistGradientBoosting on the pooled columns would reach "
        f"AUC {central_boosted:.4f}"
    )
    return {
        "secureboost": {
            "auc": auc,
            "ks": ks,
            "trees": model.n_trees_,
            "train_seconds": trained,
        },
        "central_boosted_auc": central_boosted,
    }


def _central_reference(
    table: CreditTable,
    central: dict[str, np.ndarray],
    model: HeteroLogisticRegression,
    scored_ids: np.ndarray,
    l2: float,
    parties: list[str] | None = None,
) -> float:
    """AUC of scikit-learn on ``parties``' columns (default: all) pooled, the same training
    rows and C = 1/(n * l2)."""
    pooled = np.hstack([central[p] for p in parties or PARTY_COLUMNS])
    train = np.isin(table.ids, model.train_ids_)
    test = np.isin(table.ids, scored_ids)
    fit = LogisticRegression(C=1.0 / (train.sum() * l2), max_iter=5000)
    fit.fit(pooled[train], table.labels[train])
    return roc_auc(table.labels[test], fit.decision_function(pooled[test]))


@dataclass(frozen=True)
class CreditConsortium:
    """The story's consortium ready for experiments: training data, the new customers with
    their (later observed) default labels at the card issuer, and the story's model."""

    dataset: str
    customers: int
    train: VerticalDataset
    validation: VerticalDataset
    key_bits: int
    epochs: int
    model_settings: dict[str, Any]

    def make_model(self) -> HeteroLogisticRegression:
        """A fresh, unfitted model with the story's settings (a new key pair per fit)."""
        return HeteroLogisticRegression(**self.model_settings)


def credit_consortium(
    small: bool = False,
    *,
    key_bits: int | None = None,
    epochs: int | None = None,
    l2: float = 1e-3,
    seed: int = 0,
    obfuscators: ObfuscatorSource = "coordinator",
    full: bool = False,
) -> CreditConsortium:
    """The same customers, split and model settings as :func:`run_credit_default` with the
    same arguments, with the new customers labelled for validation.

    Parameters
    ----------
    small, key_bits, epochs, l2, seed, obfuscators, full:
        As :func:`run_credit_default`.

    Returns
    -------
    CreditConsortium
        Training and validation datasets and a factory for the story's model.

    Raises
    ------
    DataError
        ``full`` without the shared table.
    """
    rng = np.random.default_rng(seed)
    table = story_table(small, rng, full)
    key_bits = key_bits or (512 if small else 1024)
    epochs = epochs or (3 if small else 5)
    train, new, _ = split_consortium(table, rng)
    label_of = dict(zip(table.ids.tolist(), table.labels.tolist(), strict=True))
    new_ids = np.asarray(new.parties[LABEL_PARTY].ids).tolist()
    validation = VerticalDataset(
        new.parties, LABEL_PARTY, np.array([label_of[i] for i in new_ids], dtype=np.float64)
    )
    settings = story_model_settings(small, key_bits, epochs, l2, seed, obfuscators)
    return CreditConsortium(
        table.name, len(table.ids), train, validation, key_bits, epochs, settings
    )

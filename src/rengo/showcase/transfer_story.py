"""Two firms, different customer data: a bank and an online shop learn across their features.

The bank (the source) knows its customers' bill and payment history and, for each, whether
they defaulted. The online shop (the target) knows other things about its own customers -
spending limit, profile, how punctually they paid recent instalments - and has seen only a
few of them default or not. Some customers are clients of both. The shop wants to score its
customers' default risk; neither firm may hand over its data. Federated transfer learning
(Liu et al. 2020, :mod:`rengo.ftl`) finds the shared customers by PSI, trains an encoder at
each firm into a common space under Paillier encryption, and lets the shop score every one of
its customers through the bank's translator, which the bank never sends (the shop can
compute it from a few of its scores: see :mod:`rengo.ftl.predict`).

Data: the credit-default table of the shared data folder (FATE's split: the bank's 13 bill
and payment columns with the label, the shop's 10 profile and repayment-status columns; a
stand-in, since the UCI table is one card issuer's), or scikit-learn's bundled breast-cancer
table when it is absent, so the story always runs. The baseline is what the shop could do
alone: a logistic regression on its own few labels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from rengo.core.errors import DataError
from rengo.data import Dataset, TransferSplit, load_fate_table, transfer_split
from rengo.metrics import roc_auc

SOURCE, TARGET = "bank", "shop"


@dataclass(frozen=True)
class TransferStory:
    """What the story measured: the shop's held-out AUC and accuracy alone and with FTL."""

    dataset: str
    shared_customers: int
    shop_labels: int
    scored_customers: int
    alone: dict[str, float]
    transfer: dict[str, float]
    security: str
    seconds: float
    losses: list[float]


def story_table() -> tuple[Dataset, int, str]:
    """The joined table, how many leading columns are the bank's, and its name."""
    try:
        guest = load_fate_table("default_credit_hetero_guest")
        host = load_fate_table("default_credit_hetero_host")
    except DataError:
        x, y = load_breast_cancer(return_X_y=True)
        x = (x - x.mean(0)) / x.std(0)
        ids = np.array([f"patient-{i:04d}" for i in range(len(x))])
        names = tuple(f"x{j}" for j in range(x.shape[1]))
        table = Dataset(x, y, names, ("0", "1"), "breast", ids)
        return table, 10, "breast cancer (bundled stand-in)"
    table = Dataset(
        np.hstack([guest.X, host.X]),
        guest.y,
        tuple(f"bank_{n}" for n in guest.feature_names)
        + tuple(f"shop_{n}" for n in host.feature_names),
        guest.classes,
        "default_credit",
        np.array([f"customer-{i}" for i in np.asarray(guest.ids)]),
    )
    return table, guest.X.shape[1], "credit default (UCI, FATE's split)"


def _scores(truth: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": roc_auc(truth, p), "accuracy": float(np.mean((p >= 0.5) == truth))}


def run_transfer_story(
    *,
    rows: int = 3000,
    shop_labels: int = 50,
    security: str = "homomorphic",
    key_bits: int = 1024,
    epochs: int = 4,
    options: dict[str, Any] | None = None,
    seed: int = 0,
    log: Callable[[str], Any] = print,
) -> TransferStory:
    """Split the table between the bank and the shop, train FTL, score the shop's customers.

    Parameters
    ----------
    rows
        Customers drawn from the table (10 % of them at both firms).
    shop_labels
        Labels the shop knows of its own customers (6 on the small bundled table).
    security
        ``"homomorphic"`` or ``"plaintext"`` (see :class:`rengo.ftl.TransferConfig`).
    key_bits
        Paillier key size (1024 is for demos and tests only).
    epochs
        Training epochs.
    options
        More :class:`~rengo.ftl.TransferConfig` options (default: its defaults).
    seed
        Fixes the split, PSI's order and the encoders' initial weights.
    log
        Where the story's lines go.

    Returns
    -------
    TransferStory
        The shop's held-out AUC and accuracy alone and with transfer learning.
    """
    from rengo.ftl import TransferClassifier

    table, bank_columns, name = story_table()
    labels = shop_labels if name.startswith("credit") else min(shop_labels, 6)
    split: TransferSplit = transfer_split(
        table,
        list(range(bank_columns)),
        overlap=0.1,
        target_labels=labels,
        test_size=0.3,
        rows=min(rows, len(table)),
        seed=seed,
    )
    log(
        f"{name}: the bank holds {len(split.source)} customers with labels, the shop "
        f"{len(split.target)} (+{len(split.test)} to score) with {labels} labels; "
        f"{len(split.shared)} customers are at both"
    )
    truth = np.array([int(v) for v in split.test.labels])
    known = split.target.labelled
    alone = LogisticRegression(max_iter=2000).fit(
        split.target.X[known], [int(v) for v in split.target.labels[known]]
    )
    alone_scores = _scores(truth, alone.predict_proba(split.test.X)[:, 1])
    model = TransferClassifier(
        security=security, key_bits=key_bits, epochs=epochs, seed=seed, **(options or {})
    )
    start = time.perf_counter()
    model.fit(
        {SOURCE: (split.source.ids, split.source.X), TARGET: (split.target.ids, split.target.X)},
        source=SOURCE,
        y=split.source.labels,
        target_labels=split.target.labels,
    )
    proba = model.predict_proba((split.test.ids, split.test.X))[:, 1]
    seconds = time.perf_counter() - start
    transfer_scores = _scores(truth, proba)
    log(
        f"shop alone ({labels} labels): AUC {alone_scores['auc']:.3f}; with the bank through "
        f"federated transfer learning ({security}, {epochs} epochs, {seconds:.1f}s): AUC "
        f"{transfer_scores['auc']:.3f}"
    )
    return TransferStory(
        name,
        len(split.shared),
        labels,
        len(split.test),
        alone_scores,
        transfer_scores,
        security,
        seconds,
        model.losses_,
    )


def plot_transfer_story(story: TransferStory, path: str | Path) -> Path:
    """A PNG of the shop's held-out AUC and accuracy: alone against with transfer learning.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.4), dpi=120)
    ax = figure.subplots()
    metrics = ("auc", "accuracy")
    x = np.arange(len(metrics))
    for offset, (label, values) in zip(
        (-0.2, 0.2),
        (
            (f"shop alone ({story.shop_labels} labels)", story.alone),
            (f"FTL with the bank ({story.security})", story.transfer),
        ),
        strict=True,
    ):
        bars = ax.bar(x + offset, [values[m] for m in metrics], width=0.38, label=label)
        ax.bar_label(bars, fmt="%.3f", fontsize="small")
    ax.set_xticks(x, ["AUC", "accuracy"])
    ax.set_ylim(0.0, 1.2)
    ax.set_title(f"The shop's {story.scored_customers} new customers ({story.dataset})", fontsize=9)
    ax.legend(fontsize="small", loc="upper center", ncols=2)
    figure.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target)
    return target

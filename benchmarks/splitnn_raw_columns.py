"""SplitNN on raw columns against the same columns standardised (held-out AUC).

Task: scikit-learn's breast-cancer table (569 rows, 30 clinical measurements, areas in the
thousands beside ratios near 0.01), columns 0-14 at the label party ``a``, 15-29 at ``b``;
a stratified 30 % held out (``random_state=0``). For each seed, interleaved:
:class:`rengo.vfl.SplitNNClassifier` (``task="binary"``, ``epochs=12``) trained on the raw
columns, then on the same columns z-scored with the training rows' mean and spread
(scikit-learn's ``StandardScaler``), and its held-out AUC. Medians over seeds, with
[min, max]. Run it with an older rengo on the path to see that release's figures.

    .venv/bin/python benchmarks/splitnn_raw_columns.py             # seeds 0, 1, 2
    .venv/bin/python benchmarks/splitnn_raw_columns.py --seeds 1   # quick check
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from rengo.metrics import roc_auc
from rengo.vfl import SplitNNClassifier


def held_out_auc(
    x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> float:
    ids = np.array([f"p{i}" for i in range(len(y))])

    def parties(rows: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        return {"a": (ids[rows], x[rows][:, :15]), "b": (ids[rows], x[rows][:, 15:])}

    model = SplitNNClassifier(task="binary", epochs=12, seed=seed)
    model.fit(parties(train), "a", y[train])
    scored, p = model.predict_proba(parties(test))
    truth = dict(zip(ids[test], y[test], strict=True))
    return roc_auc(np.array([truth[i] for i in scored]), np.asarray(p)[:, 1])


def span(values: list[float]) -> str:
    return f"{np.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    x, y = load_breast_cancer(return_X_y=True)
    train, test = train_test_split(np.arange(len(y)), test_size=0.3, random_state=0, stratify=y)
    standardised = StandardScaler().fit(x[train]).transform(x)
    results: dict[str, list[float]] = {"raw": [], "standardised": []}
    for seed in range(args.seeds):
        results["raw"].append(held_out_auc(x, y, train, test, seed))
        results["standardised"].append(held_out_auc(standardised, y, train, test, seed))
    print(f"\nbreast cancer, 15/15 columns, 12 epochs, {args.seeds} seeds: median [min, max]\n")
    print("| columns | held-out AUC |")
    print("|---|---|")
    for name, values in results.items():
        print(f"| {name} | {span(values)} |")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

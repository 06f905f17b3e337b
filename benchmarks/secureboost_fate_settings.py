"""Accuracy check: rengo's SecureBoost trees under FATE's split threshold and L2 defaults.

``benchmarks/secureboost.py`` compares FATE 2.2 and rengo with L2 1 and FATE's
``min_impurity_split`` left at its default 0.01, which is ``gamma = 0.005`` in rengo (FATE
compares the split gain without XGBoost's 1/2), while rengo ran ``gamma = 0``. This script
asks whether that mismatch explains FATE's lower train AUC: it trains rengo's trees on the
same data (default_credit, guest + host columns joined, FATE's settings: 5 trees, depth 3,
32 bins, learning rate 0.3) for ``gamma`` in {0, 0.005} and ``l2`` in {1, 0.1} (FATE's
default), and prints each train AUC.

It trains with :func:`rengo.vfl.secureboost.local.train_alone` on the joined columns: the
federated run grows the same trees (the protocol computes exactly the plaintext sums on the
same bins), without the Paillier cost, so this is an accuracy figure, not a timing.

    PYTHONPATH=src .venv/bin/python benchmarks/secureboost_fate_settings.py [--rows N]
"""

from __future__ import annotations

import argparse

import numpy as np
from secureboost import load  # benchmarks/ is on the path when run as a script

from rengo.metrics import roc_auc
from rengo.vfl.secureboost.config import SecureBoostConfig
from rengo.vfl.secureboost.local import train_alone

SETTINGS = ((1.0, 0.0), (1.0, 0.005), (0.1, 0.0), (0.1, 0.005))
"""``(l2, gamma)``: the benchmark's, with FATE's threshold, with FATE's L2, with both."""


def train_auc(features: np.ndarray, labels: np.ndarray, l2: float, gamma: float) -> float:
    """Train AUC of 5 trees of depth 3 over 32 bins at learning rate 0.3."""
    config = SecureBoostConfig(
        n_trees=5, max_depth=3, max_bin=32, learning_rate=0.3, l2=l2, gamma=gamma
    )
    predict = train_alone(config, features, labels, seed=0)
    scores = predict(features)
    return roc_auc(labels, scores[:, 1] if scores.ndim == 2 else scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="first N rows (default: all)")
    args = parser.parse_args()
    _, guest, labels, host = load(args.rows, None)
    features = np.hstack([guest, host])
    print(f"default_credit: {len(labels)} rows, {features.shape[1]} columns")
    for l2, gamma in SETTINGS:
        print(f"l2={l2} gamma={gamma}: train AUC {train_auc(features, labels, l2, gamma):.4f}")


if __name__ == "__main__":
    main()

"""One-vs-rest hetero LR's held-out accuracy and macro F1 on a label of many classes: the
plaintext twin (``train_guest_alone``, the encrypted run's model to within its fixed point)
unweighted and with ``class_weight="balanced"``, beside scikit-learn's one-vs-rest
``LogisticRegression`` on the same rows. The table: 3,000 rows, 8 standard normal columns,
a label of 10 classes from a random linear map plus Gumbel noise, every 13th row dropped (as
the bank of the telecom example lacks it), every 5th row held out.

    .venv/bin/python benchmarks/one_vs_rest_quality.py
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier

from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.local import guest_alone_scores, train_guest_alone


def table() -> tuple[np.ndarray, np.ndarray]:
    """The rows every party holds and their class codes."""
    rng = np.random.default_rng(3)
    rows, classes = 3000, 10
    telecom, bank = rng.normal(size=(rows, 4)), rng.normal(size=(rows, 4))
    weights = rng.normal(size=(8, classes)) * 1.5
    y = (np.hstack([telecom, bank]) @ weights + rng.gumbel(size=(rows, classes))).argmax(axis=1)
    shared = np.arange(rows) % 13 != 0
    return np.hstack([telecom, bank])[shared], y[shared]


def main() -> None:
    x, y = table()
    test = np.arange(len(y)) % 5 == 0
    print(f"{len(y)} rows ({int(test.sum())} held out), {x.shape[1]} columns, 10 classes")
    print(f"{'model':<44} {'accuracy':>8} {'macro F1':>8} {'classes predicted':>17}")

    def show(name: str, proba: np.ndarray) -> None:
        predicted = proba.argmax(axis=1)
        accuracy = float(np.mean(predicted == y[test]))
        f1 = f1_score(y[test], predicted, average="macro")
        print(f"{name:<44} {accuracy:>8.3f} {f1:>8.3f} {len(np.unique(predicted)):>17}")

    for class_weight in (None, "balanced"):
        config = HeteroLRConfig(
            epochs=30,
            batch_size=256,
            learning_rate=0.1,
            multi_class="ovr",
            class_weight=class_weight,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the convergence warning of a capped run
            model = train_guest_alone(x[~test], y[~test], config, seed=4)
        show(
            f"rengo twin, 30 epochs, class_weight={class_weight}",
            guest_alone_scores(model, x[test]),
        )
    reference = OneVsRestClassifier(LogisticRegression(C=1e4)).fit(x[~test], y[~test])
    show("scikit-learn OneVsRest(LogisticRegression)", reference.predict_proba(x[test]))


if __name__ == "__main__":
    main()

"""Federated transfer learning benchmark: accuracy against the target's own few labels, and
time per epoch in both security modes.

Scenario: the credit-default customers (``../shared/data/fate``) split between a bank (the
source: 13 bill and payment columns, with the default label) and a second firm (the target:
10 demographic and repayment-status columns, ``--labels`` labels), sharing ``--overlap`` of
the customers (FATE's FTL setting: 10 %); the target's held-out customers are scored. Without
the shared data the bundled breast-cancer table stands in. Anchor: the target alone
(scikit-learn logistic regression on its own labels), run in the same invocation.

Each configuration runs ``--repeats`` times (the scenario's seed changes), interleaved;
medians with ranges of AUC, accuracy, wall and CPU seconds per epoch (CPU over this process,
whose threads run both parties). The homomorphic mode runs on ``--he-rows`` customers with
``--key-bits`` keys (it costs about ``batch * dim * parameters`` encrypted products per party
and step). One torch thread.

    .venv/bin/python benchmarks/transfer.py                # full settings
    .venv/bin/python benchmarks/transfer.py --quick        # seconds: to validate
    .venv/bin/python benchmarks/transfer.py --early-stopping   # held-out share vs defaults
    .venv/bin/python benchmarks/transfer.py --raw-columns      # unstandardised columns

``--early-stopping`` runs the target alone, FTL plaintext with its defaults and FTL plaintext
holding ``--validation-fraction`` of the target's labels out and stopping early
(``n_iter_no_change`` ``--patience``, up to ``--max-epochs``, best epoch kept), and reports
the epochs each ran.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from rengo.core.errors import DataError
from rengo.data import Dataset, TransferSplit, load_fate_table, transfer_split
from rengo.ftl import TransferClassifier
from rengo.metrics import roc_auc


def breast_cancer(raw: bool) -> tuple[Dataset, int, str]:
    """scikit-learn's bundled breast-cancer table: 10 columns to the source, 20 to the target;
    ``raw``: its measurements as they are (areas in the thousands, smoothness ~0.1)."""
    x, y = load_breast_cancer(return_X_y=True)
    if not raw:
        x = (x - x.mean(0)) / x.std(0)
    names = [f"x{j}" for j in range(x.shape[1])]
    name = "breast_cancer_raw" if raw else "breast_cancer"
    return Dataset(x, y, names, classes=("0", "1"), name="breast"), 10, name


def table() -> tuple[Dataset, int, str]:
    try:
        guest = load_fate_table("default_credit_hetero_guest")
        host = load_fate_table("default_credit_hetero_host")
    except DataError:
        return breast_cancer(raw=False)
    data = Dataset(
        np.hstack([guest.X, host.X]),
        guest.y,
        [f"bank_{n}" for n in guest.feature_names] + [f"firm_{n}" for n in host.feature_names],
        classes=guest.classes,
        ids=guest.ids,
    )
    return data, guest.X.shape[1], "default_credit"


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": roc_auc(y, p), "accuracy": float(np.mean((p >= 0.5) == y))}


def target_alone(split: TransferSplit) -> dict[str, float]:
    rows = split.target.labelled
    y = np.array([int(v) for v in split.target.labels[rows]])
    model = LogisticRegression(max_iter=2000).fit(split.target.X[rows], y)
    truth = np.array([int(v) for v in split.test.labels])
    return scores(truth, model.predict_proba(split.test.X)[:, 1])


def transfer(split: TransferSplit, seed: int, **options: Any) -> dict[str, float]:
    model = TransferClassifier(seed=seed, **options)
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(
        {"bank": (split.source.ids, split.source.X), "shop": (split.target.ids, split.target.X)},
        source="bank",
        y=split.source.labels,
        target_labels=split.target.labels,
    )
    epochs = model.n_epochs_
    wall, cpu = (time.perf_counter() - wall) / epochs, (time.process_time() - cpu) / epochs
    truth = np.array([int(v) for v in split.test.labels])
    p = model.predict_proba((split.test.ids, split.test.X))[:, 1]
    return {**scores(truth, p), "wall": wall, "cpu": cpu, "epochs": float(epochs)}


def _cell(values: list[float], scale: float = 1.0, digits: int = 3) -> str:
    v = np.asarray(values) * scale
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{np.median(v):.{digits}f} ({v.min():.{digits}f}-{v.max():.{digits}f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30000, help="customers (plaintext runs)")
    parser.add_argument("--he-rows", type=int, default=3000, help="customers (homomorphic)")
    parser.add_argument("--overlap", type=float, default=0.1)
    parser.add_argument("--labels", type=int, default=50, help="the target's own labels")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--he-epochs", type=int, default=2)
    parser.add_argument("--key-bits", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny settings, to validate")
    parser.add_argument(
        "--homomorphic-only",
        action="store_true",
        help="run the homomorphic configuration alone (its time per epoch, e.g. before/after)",
    )
    parser.add_argument(
        "--early-stopping",
        action="store_true",
        help="compare held-out validation with early stopping against the defaults",
    )
    parser.add_argument(
        "--raw-columns",
        action="store_true",
        help="scikit-learn's breast-cancer table with its raw, unstandardised measurements",
    )
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--patience", type=int, default=3, help="n_iter_no_change")
    parser.add_argument("--max-epochs", type=int, default=30)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.he_rows, args.epochs, args.he_epochs = 2000, 600, 2, 1
        args.key_bits, args.repeats = 1024, 1
    torch.set_num_threads(1)
    data, source_columns, name = breast_cancer(raw=True) if args.raw_columns else table()
    labels = args.labels if name == "default_credit" else min(args.labels, 6)
    print(f"{name}; load average {os.getloadavg()[0]:.2f}; repeats {args.repeats}")

    def split(rows: int, seed: int) -> TransferSplit:
        count = min(rows, len(data))
        return transfer_split(
            data, list(range(source_columns)), overlap=args.overlap, target_labels=labels,
            rows=count, test_size=0.3, seed=seed,
        )  # fmt: skip

    light = {"dim": 4, "source_hidden": "8", "target_hidden": "8", "batch_size": 64}
    configurations = {
        f"target alone ({labels} labels)": None,
        "FTL plaintext": dict(security="plaintext", epochs=args.epochs),
        "FTL plaintext, small encoders": dict(security="plaintext", epochs=args.epochs, **light),
        f"FTL homomorphic ({args.key_bits}-bit), small encoders": dict(
            security="homomorphic", epochs=args.he_epochs, key_bits=args.key_bits, **light
        ),
    }
    if args.early_stopping:
        stopping = dict(
            security="plaintext",
            epochs=args.max_epochs,
            validation_fraction=args.validation_fraction,
            n_iter_no_change=args.patience,
        )
        configurations = {
            f"target alone ({labels} labels)": None,
            "FTL plaintext": dict(security="plaintext", epochs=args.epochs),
            f"FTL plaintext, early stopping ({args.validation_fraction:g} of labels held "
            f"out, patience {args.patience}, at most {args.max_epochs} epochs)": stopping,
        }
    if args.homomorphic_only:
        configurations = {k: v for k, v in configurations.items() if v and "homomorphic" in k}
    transfer(split(max(600, 12 * labels), 99), 99, security="plaintext", epochs=1)  # warm-up
    results: dict[str, list[dict[str, float]]] = {}
    sizes: dict[str, int] = {}
    for repeat in range(args.repeats):  # interleaved
        for label, options in configurations.items():
            rows = args.he_rows if options and options["security"] == "homomorphic" else args.rows
            s = split(rows, repeat)
            sizes[label] = len(s.shared)
            outcome = target_alone(s) if options is None else transfer(s, repeat, **options)
            results.setdefault(label, []).append(outcome)
    print("| configuration | shared rows | AUC | accuracy | epochs | s / epoch | CPU s / epoch |")
    print("|---|---|---|---|---|---|---|")
    for label, runs in results.items():
        timed = "wall" in runs[0]
        print(
            f"| {label} | {sizes[label]} | {_cell([r['auc'] for r in runs])} | "
            f"{_cell([r['accuracy'] for r in runs])} | "
            f"{_cell([r['epochs'] for r in runs], digits=0) if timed else '-'} | "
            f"{_cell([r['wall'] for r in runs], digits=2) if timed else '-'} | "
            f"{_cell([r['cpu'] for r in runs], digits=2) if timed else '-'} |"
        )


if __name__ == "__main__":
    main()

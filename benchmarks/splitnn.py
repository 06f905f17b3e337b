"""SplitNN: accuracy against label leakage, with and without noise on returned gradients.

Defences: isotropic ``gaussian`` noise, Li et al.'s ``max_norm`` heuristic and their
optimised ``marvell`` (power budget ``P = s * ||g_bar_1 - g_bar_0||^2``, ``s`` the
``noise_scale`` column), each at a few scales.

Task (Li et al.'s setting, ICLR 2022: two parties, binary, imbalanced, the label party holds
only the labels and the top model): scikit-learn's digits, "is it an 8?" (10 % positives),
every pixel at the feature party; every fifth image held out. For each defence setting
and seed: SplitNN is trained (:class:`rengo.vfl.SplitNNClassifier`), its held-out accuracy
and AUC measured, and the leak AUC of the norm and direction attacks computed from the
gradients the feature party actually received (decoded from the run's transcript, every
epoch). The anchor, in the same invocation: the same network trained centrally on whole
images (:func:`rengo.vfl.splitnn.fit_central`, nothing leaks) and the ten-class split vs
central accuracy. Medians over seeds, with [min, max].

    .venv/bin/python benchmarks/splitnn.py                 # 3 seeds, 6 epochs
    .venv/bin/python benchmarks/splitnn.py --seeds 1 --epochs 2   # quick check
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import numpy as np
from sklearn.datasets import load_digits

from rengo.metrics import roc_auc
from rengo.vfl import SplitNNClassifier
from rengo.vfl.splitnn import fit_central

SETTINGS = [
    ("none", 0.0),
    ("gaussian", 0.25),
    ("gaussian", 1.0),
    ("gaussian", 4.0),
    ("max_norm", 1.0),
    ("max_norm", 4.0),
    ("marvell", 0.25),
    ("marvell", 1.0),
    ("marvell", 4.0),
]


def halves(positive: int) -> dict[str, Any]:
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    images = x.reshape(-1, 8, 8)
    parts = {
        "left": images[:, :, :4].reshape(len(x), -1),
        "right": images[:, :, 4:].reshape(len(x), -1),
    }
    ids = np.array([f"img{i}" for i in range(len(x))])
    test = np.arange(len(x)) % 5 == 0
    alone = {"reader": np.empty((len(x), 0)), "pixels": x}
    return {
        "x": x,
        "y": y,
        "binary": (y == positive).astype(np.int64),
        "test": test,
        "li_train": {n: (ids[~test], p[~test]) for n, p in alone.items()},
        "li_held_out": {n: (ids[test], p[test]) for n, p in alone.items()},
        "train": {n: (ids[~test], p[~test]) for n, p in parts.items()},
        "held_out": {n: (ids[test], p[test]) for n, p in parts.items()},
    }


def span(values: list[float], digits: int = 3) -> str:
    return f"{np.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--positive", type=int, default=8, help="The digit counted positive.")
    args = parser.parse_args()
    data = halves(args.positive)
    test = data["test"]
    binary = data["binary"]
    common = {"epochs": args.epochs, "batch_size": 64, "learning_rate": 0.005}
    rows: dict[str, dict[str, list[float]]] = {}
    print(f"load average at start: {os.getloadavg()}; {platform.processor() or platform.machine()}")
    for seed in range(args.seeds):
        # anchor: the same network on whole images, in one place (nothing to leak)
        model = SplitNNClassifier(seed=seed, **common)
        central = fit_central(data["x"][~test], binary[~test], model.config, parties=1, seed=seed)
        proba = central.predict_proba(data["x"][test])[:, 1]
        cell = rows.setdefault("central (anchor)", {})
        cell.setdefault("accuracy", []).append(central.score(data["x"][test], binary[test]))
        cell.setdefault("auc", []).append(roc_auc(binary[test], proba))
        for defense, scale in SETTINGS:
            start = time.perf_counter()
            model = SplitNNClassifier(seed=seed, defense=defense, noise_scale=scale, **common)
            model.fit(data["li_train"], "reader", binary[~test])
            seconds = time.perf_counter() - start
            ids, positive = model.predict_raw(data["li_held_out"])
            truth = dict(zip(data["li_held_out"]["reader"][0], binary[test], strict=True))
            y = np.array([truth[i] for i in ids])
            cell = rows.setdefault(f"{defense} {scale:g}" if defense != "none" else "none", {})
            cell.setdefault("accuracy", []).append(float(np.mean((positive >= 0.5) == y)))
            cell.setdefault("auc", []).append(roc_auc(y, positive))
            cell.setdefault("norm", []).append(model.leak_auc("pixels", "norm"))
            cell.setdefault("direction", []).append(model.leak_auc("pixels", "direction"))
            cell.setdefault("seconds", []).append(seconds)
        ten = SplitNNClassifier(
            seed=seed, task="multiclass", **{**common, "epochs": 2 * args.epochs}
        )
        ten.fit(data["train"], "left", data["y"][~test])
        split_acc = ten.score(data["held_out"], data["y"][test])
        whole = fit_central(data["x"][~test], data["y"][~test], ten.config, seed=seed)
        cell = rows.setdefault("ten classes", {})
        cell.setdefault("split", []).append(split_acc)
        cell.setdefault("central", []).append(whole.score(data["x"][test], data["y"][test]))
    print(
        f"\nbinary 'is it a {args.positive}?', label party holds only labels, {args.epochs} "
        f"epochs, {args.seeds} seeds: median [min, max]\n"
    )
    print(
        "| gradients returned | held-out accuracy | held-out AUC | norm leak AUC "
        "| direction leak AUC | train s |"
    )
    print("|---|---|---|---|---|---|")
    for name, cell in rows.items():
        if name == "ten classes":
            continue
        leak = [span(cell[k]) if k in cell else "- (nothing sent)" for k in ("norm", "direction")]
        secs = span(cell["seconds"], 1) if "seconds" in cell else "-"
        quality = f"{span(cell['accuracy'])} | {span(cell['auc'])}"
        print(f"| {name} | {quality} | {leak[0]} | {leak[1]} | {secs} |")
    ten_cell = rows["ten classes"]
    print(
        f"\nten classes, {2 * args.epochs} epochs: split {span(ten_cell['split'])}, "
        f"central on whole images {span(ten_cell['central'])}"
    )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

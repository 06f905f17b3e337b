"""Transfer-learning scenarios for the tests: the credit-default table split into a bank
(the source: repayment history with the default label) and a second firm (the target:
demographics and repayment status, few labels), sharing a small overlap - or, when the
shared data is absent, scikit-learn's bundled breast-cancer table split the same way."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from rengo.data import Dataset, TransferSplit, load_fate_table, shared_data_dir, transfer_split
from rengo.metrics import roc_auc

torch.set_num_threads(1)  # tiny encoders: threads only contend on a loaded machine


@dataclass(frozen=True)
class Scenario:
    name: str
    split: TransferSplit
    source_columns: int


def credit_available() -> bool:
    try:
        folder = shared_data_dir("fate")
    except Exception:
        return False
    return (folder / "default_credit_hetero_guest.csv").exists()


def _credit() -> tuple[Dataset, int]:
    guest = load_fate_table("default_credit_hetero_guest")
    host = load_fate_table("default_credit_hetero_host")
    assert (np.asarray(guest.ids) == np.asarray(host.ids)).all()
    table = Dataset(
        np.hstack([guest.X, host.X]),
        guest.y,
        [f"bank_{n}" for n in guest.feature_names] + [f"firm_{n}" for n in host.feature_names],
        classes=guest.classes,
        name="default_credit",
        ids=np.array([f"customer-{i}" for i in guest.ids]),  # long enough to search bytes for
    )
    return table, guest.X.shape[1]


def _breast() -> tuple[Dataset, int]:
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    ids = np.array([f"patient-{i:04d}" for i in range(len(x))])
    table = Dataset(
        x, y, [f"x{j}" for j in range(x.shape[1])], classes=("0", "1"), name="breast", ids=ids
    )
    return table, 10


def scenario(
    rows: int, seed: int, target_labels: int = 50, overlap: float = 0.1, test_size: float = 0.5
) -> Scenario:
    """The credit table when present (``rows`` customers), else the bundled one."""
    table, source_columns = _credit() if credit_available() else _breast()
    count = min(rows, len(table))
    split = transfer_split(
        table,
        list(range(source_columns)),
        overlap=overlap,
        target_labels=min(target_labels, count // 10),
        test_size=test_size,
        rows=count,
        seed=seed,
    )
    return Scenario(table.name, split, source_columns)


def parties(s: Scenario) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        "bank": (s.split.source.ids, s.split.source.X),
        "shop": (s.split.target.ids, s.split.target.X),
    }


def truth(s: Scenario) -> np.ndarray:
    return np.array([int(v) for v in s.split.test.labels])


def target_only(s: Scenario) -> np.ndarray:
    """The baseline: logistic regression on the target's own few labels, P(y=1) of the
    held-out rows."""
    rows = s.split.target.labelled
    y = np.array([int(v) for v in s.split.target.labels[rows]])
    model = LogisticRegression(max_iter=2000).fit(s.split.target.X[rows], y)
    return model.predict_proba(s.split.test.X)[:, 1]


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": roc_auc(y, p), "accuracy": float(np.mean((p >= 0.5) == y))}

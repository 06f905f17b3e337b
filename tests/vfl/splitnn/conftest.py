"""Shared data of the SplitNN tests: digits split into left and right image halves, and
breast cancer split by columns between three parties."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits

pytest.importorskip("torch", reason="SplitNN needs the torch extra")


@pytest.fixture(scope="session")
def digits_settings() -> dict[str, Any]:
    """SplitNN settings for digits: small and fast, accurate enough to compare."""
    return {"task": "multiclass", "epochs": 12, "batch_size": 64, "learning_rate": 0.005}


@pytest.fixture(scope="session")
def digits() -> dict[str, Any]:
    """Each image's left half at "left" (the label party), its right half at "right";
    every fifth image held out; IDs are strings."""
    x, y = load_digits(return_X_y=True)
    images = (x / 16.0).reshape(-1, 8, 8)
    left = images[:, :, :4].reshape(len(x), -1)
    right = images[:, :, 4:].reshape(len(x), -1)
    ids = np.array([f"image-{i:05d}" for i in range(len(x))])
    test = np.arange(len(x)) % 5 == 0
    return {
        "x": x / 16.0,
        "y": y,
        "test": test,
        "train": {"left": (ids[~test], left[~test]), "right": (ids[~test], right[~test])},
        "held_out": {"left": (ids[test], left[test]), "right": (ids[test], right[test])},
    }


@pytest.fixture(scope="session")
def cancer() -> dict[str, Any]:
    """Breast cancer, standardised, columns 0-9 / 10-19 / 20-29 at card / bank / telecom;
    each party lacks some customers; label 1 = malignant (the rarer class)."""
    x, y = load_breast_cancer(return_X_y=True)
    x = (x - x.mean(0)) / x.std(0)
    y = 1 - y
    ids = np.array([f"cust-{i:04d}" for i in range(len(x))])
    rng = np.random.default_rng(5)
    out: dict[str, Any] = {"ids": ids, "x": x, "y": y, "parties": {}}
    for name, cols in (("card", slice(0, 10)), ("bank", slice(10, 20)), ("telecom", slice(20, 30))):
        keep = np.sort(rng.choice(len(x), len(x) - 15, replace=False))
        out["parties"][name] = (ids[keep], x[keep, cols])
        if name == "card":
            out["labels"] = y[keep]
    return out

"""Shared fixtures for the horizontal-FL tests: tiny, seeded classification data per client."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from rengo.hfl import Client, LogisticRegressionClient

# Helper modules beside the tests (pairwise_masking); appended, not prepended, because
# tests/deploy imports its own conftest by name.
sys.path.append(str(Path(__file__).parent))

ClientData = dict[str, tuple[np.ndarray, np.ndarray]]


def gaussian_blobs(
    rng: np.random.Generator, n: int, num_features: int = 4, num_classes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points around ``num_classes`` well-separated Gaussian centres."""
    centres = (
        np.arange(num_classes * num_features, dtype=np.float64).reshape(num_classes, num_features)
        % 3.0
        - 1.0
    )
    y = rng.integers(0, num_classes, size=n)
    X = centres[y] + rng.normal(scale=0.8, size=(n, num_features))
    return X, y


@pytest.fixture
def client_data() -> ClientData:
    """Six clients of 20..45 examples each (4 features, 3 classes), seed 7."""
    rng = np.random.default_rng(7)
    return {str(i): gaussian_blobs(rng, 20 + 5 * i) for i in range(6)}


@pytest.fixture
def logistic_client_fn(client_data: ClientData) -> Callable[[str], Client]:
    """Builds a minibatch softmax-regression client for each id of ``client_data``."""

    def build(cid: str) -> Client:
        X, y = client_data[cid]
        return LogisticRegressionClient(X, y, lr=0.1, local_epochs=2, batch_size=8, l2=1e-3)

    return build

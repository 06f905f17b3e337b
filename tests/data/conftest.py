"""Fixtures for the data tests: the optional shared data folder, skipped when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from rengo.core.errors import DataError
from rengo.data import shared_data_dir


def _shared(subfolder: str) -> Path:
    try:
        return shared_data_dir(subfolder)
    except DataError as exc:
        pytest.skip(f"shared data not available: {exc}")


@pytest.fixture
def mnist_dir() -> Path:
    return _shared("mnist_test")


@pytest.fixture
def femnist_dir() -> Path:
    return _shared("femnist_leaf")


@pytest.fixture
def fate_dir() -> Path:
    return _shared("fate")


@pytest.fixture
def adult_dir() -> Path:
    return _shared("uci_adult")

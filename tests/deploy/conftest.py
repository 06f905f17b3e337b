"""Shared fixtures for the deployment tests: a federation's certificates, process helpers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rengo.transport.certs import init_certificates

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from child_processes import Processes  # noqa: E402
from digits_app import PARTIES  # noqa: E402


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    init_certificates(directory, [*PARTIES, "intruder"])
    return directory


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.cleanup()

"""The hostile-party suite's fixtures: the federation's certificates and a fleet of real
processes (see fleet.py), killed at the end of each test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rengo.transport.certs import init_certificates

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from fleet import Fleet  # noqa: E402

PARTIES = [f"p{i}" for i in range(5)]
OUTSIDERS = ["mallory", "eve"]


@pytest.fixture(scope="session")
def fed_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("hostile-certs")
    init_certificates(directory, [*PARTIES, *OUTSIDERS])
    return directory


@pytest.fixture
def fleet(fed_certs: Path, tmp_path: Path) -> Iterator[Fleet]:
    processes = Fleet(fed_certs, tmp_path)
    yield processes
    processes.cleanup()

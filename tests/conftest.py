"""Fixtures shared by every test folder: each test's own default run store, a vertical role
that dies right after a checkpoint; and Hypothesis without its per-example deadline."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from rengo.vfl.checkpoints import CheckpointFolder, EpochState

# helpers beside this file (vertical_split) are importable by name; appended, not
# prepended, so that a folder's own helper of the same name wins
sys.path.append(str(Path(__file__).parent))

# Hypothesis fails an example that runs over 200 ms by default: a timed assertion, which
# the suite does not make (on two loaded cores a metric's example took longer and failed)
settings.register_profile("rengo", deadline=None)
settings.load_profile("rengo")


class RoleCrash(RuntimeError):
    """The process of one role dies (after it checkpointed an epoch)."""


class CrashAfter:
    """``crash_after(role, epoch)``: ``role`` dies right after checkpointing ``epoch``
    (``crash_after.error`` is what the run then raises; ``crash_after("nobody", 0)``
    disarms it)."""

    error = RoleCrash

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch
        self._original = CheckpointFolder.save_epoch

    def __call__(self, role: str, epoch: int) -> None:
        original = self._original

        def save(folder: CheckpointFolder, state: EpochState) -> None:
            original(folder, state)
            if folder.role == role and state.epoch == epoch:
                raise RoleCrash(f"{role} killed after epoch {epoch}")

        self._monkeypatch.setattr(CheckpointFolder, "save_epoch", save)


@pytest.fixture(autouse=True)
def private_default_store(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``$RENGO_STORE`` set to a folder of the test's own (outside ``tmp_path``, which tests
    list), for the test and the processes it starts: a command run without ``--store`` must
    not record into ``./rengo-runs`` of the checkout (before, ``make test`` left a dozen
    deployed test runs there, which ``rengo runs list`` and the dashboard of whoever ran the
    tests then showed) nor into a store the developer's own ``$RENGO_STORE`` names. A test
    of the default itself removes the variable (``monkeypatch.delenv``)."""
    folder = tmp_path_factory.mktemp("default-store")
    monkeypatch.setenv("RENGO_STORE", str(folder))
    return folder


@pytest.fixture
def crash_after(monkeypatch: pytest.MonkeyPatch) -> Iterator[CrashAfter]:
    """A :class:`CrashAfter` (undone after the test)."""
    yield CrashAfter(monkeypatch)
    monkeypatch.undo()


@pytest.fixture
def private_ray_record(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Ray's temporary folder (``RAY_TMPDIR``) set to a new, short folder of the test's own
    and ``RAY_ADDRESS`` unset: ``ray.init()`` and the Ray pool join the cluster a `ray start`
    elsewhere on the machine recorded in ``/tmp/ray`` (or the one ``RAY_ADDRESS`` names),
    which made the tests' results depend on it (seen: three refusal tests failed with a
    `ray start` head up). Short, because Ray's socket paths under it must stay under
    about 107 characters."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="rengo-ray-"))
    monkeypatch.setenv("RAY_TMPDIR", str(folder))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def start_ray(private_ray_record: Path) -> Iterator[Callable[..., None]]:
    """``ray.init(**options)``, tried once more when Ray's node does not register within
    Ray's fixed 30 s ("timed out during startup": seen on a loaded 2-core machine); Ray is
    shut down after the test. It starts under :func:`private_ray_record`, so a cluster
    another `ray start` recorded on the machine is not joined."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'rengo[ray]'")

    def start(**options: Any) -> None:
        try:
            ray.init(**options)
        except Exception as exc:
            if "timed out during startup" not in str(exc):
                raise
            ray.shutdown()
            ray.init(**options)

    yield start
    ray.shutdown()


@pytest.fixture
def ray_with_tests(start_ray: Callable[..., None]) -> Iterator[None]:
    """Ray on 2 CPUs whose workers import modules under tests/ (a client class a test module
    defines reaches them by reference); shut down after the test."""
    import os
    from pathlib import Path

    tests = str(Path(__file__).parent)
    path = os.pathsep.join(p for p in (tests, os.environ.get("PYTHONPATH", "")) if p)
    start_ray(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": path}},
    )
    yield

"""``make test``'s ``--dist loadgroup`` sets a module-scoped fixture up once: every test of a
file that defines one runs on one worker (tests/shared_fixture_scheduling.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from shared_fixture_scheduling import work_unit

TESTS = Path(__file__).parent

SHARED = textwrap.dedent(
    """
    import os
    import pytest

    @pytest.fixture(scope="module")
    def deployment():
        with open(os.environ["SETUPS"], "a") as log:
            log.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
        return 42

    @pytest.mark.parametrize("k", range(8))
    def test_reads_the_one_deployment(deployment, k):
        assert deployment == 42
    """
)
ALONE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.parametrize("k", range(8))
    def test_needs_nothing_shared(k):
        assert k >= 0
    """
)


def test_a_file_defining_a_shared_fixture_is_one_unit_and_other_tests_their_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "test_shared.py").write_text(SHARED)
    (tmp_path / "test_alone.py").write_text(ALONE)
    (tmp_path / "unreadable.py").mkdir()
    assert work_unit("test_shared.py::test_reads[1]", tmp_path) == "test_shared.py"
    assert work_unit("test_alone.py::test_needs[1]", tmp_path) == "test_alone.py::test_needs[1]"
    assert work_unit("unreadable.py::test_x", tmp_path) == "unreadable.py::test_x"
    # a test xdist marked (its ``@group`` suffix) stays in that group; an @ in a parameter
    # is not a group
    assert work_unit("test_alone.py::test_needs[1]@db", tmp_path) == "db"
    assert work_unit("test_alone.py::test_needs[a@b]", tmp_path) == "test_alone.py::test_needs[a@b]"


def test_two_workers_set_a_module_scoped_fixture_up_once(tmp_path: Path) -> None:
    """Under ``--dist load`` both workers ran some of the 8 tests and each set the fixture
    up; now one worker runs them all (the others still spread over both)."""
    (tmp_path / "test_shared.py").write_text(SHARED)
    (tmp_path / "test_alone.py").write_text(ALONE)
    setups = tmp_path / "setups.txt"
    env = {**os.environ, "SETUPS": str(setups), "PYTHONPATH": str(TESTS)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup",
         "-p", "shared_fixture_scheduling", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "16 passed" in done.stdout, done.stdout[-3000:]
    assert len(setups.read_text().splitlines()) == 1, setups.read_text()

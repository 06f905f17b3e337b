"""The file lock behind the tournament state and the certificate folder: exclusive between
processes, and importable where there is no ``fcntl`` (Windows)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rengo.core.file_lock import exclusive_lock

# Windows as far as rengo can tell: no fcntl, and an msvcrt that records what it is asked
WITHOUT_FCNTL = textwrap.dedent(
    """
    import json, sys, types
    import asyncio, getpass, multiprocessing.connection, subprocess  # they probe for msvcrt
    sys.modules["fcntl"] = None  # import fcntl raises ImportError, as on Windows
    calls = []
    msvcrt = types.ModuleType("msvcrt")
    msvcrt.LK_LOCK, msvcrt.LK_UNLCK = 1, 0
    msvcrt.locking = lambda fd, mode, nbytes: calls.append([mode, nbytes])
    sys.modules["msvcrt"] = msvcrt

    import rengo.cli.main
    import rengo.transport.certs
    from rengo.core.file_lock import exclusive_lock

    with exclusive_lock(sys.argv[1]):
        calls.append("held")
    print(json.dumps(calls))
    """
)


def test_the_rengo_command_imports_and_locks_where_there_is_no_fcntl(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_FCNTL, str(tmp_path / "state.lock")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[1, 1], "held", [0, 1]]


@pytest.mark.skipif(sys.platform == "win32", reason="probes the lock with fcntl")
def test_another_process_cannot_take_the_lock_while_it_is_held(tmp_path: Path) -> None:
    lock = tmp_path / "ein Ordner mit Ümlauten" / "state.lock"
    lock.parent.mkdir()
    probe = textwrap.dedent(
        """
        import fcntl, sys
        with open(sys.argv[1], "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("held")
            else:
                print("free")
        """
    )

    def other_process_sees() -> str:
        run = subprocess.run(
            [sys.executable, "-c", probe, str(lock)], capture_output=True, text=True, check=True
        )
        return run.stdout.strip()

    with exclusive_lock(lock):
        assert other_process_sees() == "held"
    assert other_process_sees() == "free"

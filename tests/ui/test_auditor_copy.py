"""An auditor's read-only copy of a run store (files mode 0444 in a folder mode 0555, read
by another user than the one who wrote it): `rengo runs list`, `rengo runs show` and the
dashboard (`rengo ui`'s API) read it, and nothing tries to write it - no file is made,
changed or removed, neither a clean copy nor one taken while a run was writing (its
``-wal`` and ``-shm`` beside it)."""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from child_env import child_env

from rengo.tracking import RunStore

NOBODY = 65534

DASHBOARD = textwrap.dedent(
    """
    import sys
    from fastapi.testclient import TestClient
    from rengo.ui import create_app
    with TestClient(create_app(sys.argv[1])) as client:
        runs = client.get("/api/runs").json()["runs"]
        page = client.get(f"/api/runs/{runs[0]['run_id']}")
        assert page.status_code == 200, page.text
        print(runs[0]["run_id"], len(page.json()["rounds"]))
    """
)


def _as_auditor(args: list[str]) -> list[str]:
    """``args`` run as another user (``nobody``) where this process is root; as this user
    otherwise, whom the files' modes keep from writing them just the same."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot read as another user")
    auditor = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    unable = _cannot_run_as(tuple(auditor))
    if unable:
        pytest.skip(
            f"user {NOBODY} cannot run this checkout's Python ({unable}): its folder is not "
            "readable by other users (a `mktemp -d` clone is 0700), so nothing can be read "
            "as another user here"
        )
    return [*auditor, *args]


@functools.cache
def _cannot_run_as(auditor: tuple[str, ...]) -> str:
    """Why ``auditor`` (a command prefix) cannot import rengo's dashboard with this Python,
    or "" when it can."""
    probe = subprocess.run(
        [*auditor, sys.executable, "-c", "import rengo.ui, fastapi"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    return "" if probe.returncode == 0 else (probe.stderr.strip().splitlines() or ["?"])[-1]


def _state(folder: Path) -> dict[str, tuple[str, int, float]]:
    """Each file in ``folder``: its digest, mode and modification time."""
    return {
        f.name: (hashlib.sha256(f.read_bytes()).hexdigest(), f.stat().st_mode, f.stat().st_mtime)
        for f in sorted(folder.iterdir())
    }


@pytest.fixture(params=["clean", "taken-mid-run"])
def audited(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A read-only copy of a store with one run of 3 rounds, in a folder others can read;
    (the copy's path, the run's id)."""
    source = tmp_path / "runs.db"
    store = RunStore(source)
    run_id = store.start_run("hfl", {"rounds": 3}, name="audited")
    for number in (1, 2, 3):
        store.log_round(run_id, number, {"accuracy": number / 4}, 1.0, 2, 0)
    store.finish_run(run_id, "completed")
    if request.param == "clean":
        store.close()
    folder = Path(tempfile.mkdtemp(prefix="rengo-audit-"))
    try:
        for end in ("", "-wal", "-shm"):
            if Path(f"{source}{end}").exists():
                shutil.copy(f"{source}{end}", folder / f"runs.db{end}")
        if request.param == "taken-mid-run":
            store.close()
            assert (folder / "runs.db-wal").exists()
        for copied in folder.iterdir():
            copied.chmod(0o444)
        folder.chmod(0o555)
        yield folder / "runs.db", run_id
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_an_auditors_read_only_copy_is_read_and_never_written(
    audited: tuple[Path, str],
) -> None:
    path, run_id = audited
    before = _state(path.parent)
    rengo = [sys.executable, "-m", "rengo"]
    for command in (
        [*rengo, "runs", "list", "--store", str(path)],
        [*rengo, "runs", "show", run_id, "--store", str(path)],
        [sys.executable, "-c", DASHBOARD, str(path)],
    ):
        done = subprocess.run(
            _as_auditor(command),
            capture_output=True,
            text=True,
            cwd=path.parent,
            env=child_env(COLUMNS="200"),
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        assert run_id in done.stdout, done.stdout
        assert "warning" not in done.stderr.lower() and "error" not in done.stderr.lower(), (
            done.stderr
        )
    assert done.stdout.split() == [run_id, "3"]  # the dashboard's page has its 3 rounds
    assert _state(path.parent) == before  # nothing made, changed or removed

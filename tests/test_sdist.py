"""The source distribution holds every file of the project a packager needs to test it.

setuptools puts into an sdist the package, README, LICENSE and pyproject, and of the tests
only the ``tests/test*.py`` at the top (10 of the 341 test files when this was written), none
of their fixtures, examples or documents, so the tests could not be run from it.
``MANIFEST.in`` grafts the rest.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_SHIPPED = {".gitignore"}


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of rengo (its tracked files are what an sdist holds)")
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, check=True, capture_output=True
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_the_sdist_holds_every_tracked_file_and_no_build_leftovers(tmp_path: Path) -> None:
    tracked = _tracked_files()
    source, out = tmp_path / "source", tmp_path / "out"
    for name in tracked:  # a copy: the build leaves an egg-info folder where it runs
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-c",
         f"from setuptools import build_meta; print(build_meta.build_sdist({str(out)!r}))"],
        cwd=source,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]  # fmt: skip
    with tarfile.open(out / built) as sdist:
        names = {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile()}
    missing = sorted(set(tracked) - NOT_SHIPPED - names)
    assert not missing, f"{len(missing)} tracked files not in the sdist, e.g. {missing[:5]}"
    stray = sorted(n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo")))
    assert not stray, stray

"""An installed wheel works without the checkout: nothing is located by the source layout.

Builds the wheel, installs it (not editable, no dependencies) into a fresh virtual
environment that borrows only the dependencies of the test environment, and from a folder
outside the checkout: imports rengo from the wheel, loads bundled data, finds the shared
data folder from ``$RENGO_SHARED_DATA`` (and reports its absence clearly without it), finds
the package data files, and runs ``rengo demo`` on a small setting through the installed
console script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

CHECK = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    import rengo
    from rengo.core.errors import DataError
    from rengo.data import load_dataset, load_fate_table, shared_data_dir

    here = Path(rengo.__file__).resolve()
    assert Path(sys.prefix).resolve() in here.parents, f"rengo imported from {here}"
    for data_file in ("py.typed", "core/proto/envelope.proto", "core/proto/envelope_pb2.pyi"):
        assert (here.parent / data_file).is_file(), f"{data_file} is not in the wheel"
    assert load_dataset("breast_cancer").X.shape == (569, 30)
    assert load_dataset("digits").X.shape == (1797, 64)
    shared = Path(os.environ["RENGO_SHARED_DATA"])
    assert shared_data_dir("fate") == shared / "fate"
    table = load_fate_table("tiny_homo")
    assert table.X.shape == (3, 2) and list(table.labels()) == [0, 1, 0]
    del os.environ["RENGO_SHARED_DATA"]
    try:
        shared_data_dir()
    except DataError as exc:
        assert "RENGO_SHARED_DATA" in str(exc) and str(Path.cwd()) in str(exc)
    else:
        raise AssertionError("found a shared data folder without being told where")
    print("wheel ok", rengo.__version__)
    """
)


def _build_wheel(out: Path) -> Path:
    """Build from a copy of the sources, so the build leaves nothing in the checkout."""
    source = out / "source"
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        cwd=out,
    )  # fmt: skip
    (wheel,) = out.glob("rengo-*.whl")
    return wheel


def _environment(root: Path) -> Path:
    """A fresh venv whose own site-packages comes first; the test environment's
    site-packages is appended for the dependencies only (its .pth files, among them the
    editable install of the checkout, are not processed)."""
    venv.EnvBuilder(with_pip=False).create(root)
    python = root / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


def test_the_wheel_runs_from_anywhere_and_finds_shared_data_by_env_var(tmp_path: Path) -> None:
    build, elsewhere, shared = tmp_path / "build", tmp_path / "elsewhere", tmp_path / "shared"
    for folder in (build, elsewhere, shared / "fate"):
        folder.mkdir(parents=True)
    (shared / "fate" / "tiny_homo.csv").write_text("id,y,x0,x1\n1,0,0.5,1\n2,1,0.1,2\n3,0,0.3,3\n")
    wheel = _build_wheel(build)
    python = _environment(tmp_path / "venv")
    # without PYTHONPATH: pip, run by the venv's Python, would take a checkout's src/ (with a
    # rengo.egg-info a build left there) for rengo already installed, and install nothing
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RENGO_SHARED_DATA")}
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        check=True,
        capture_output=True,
        env=env,
    )  # fmt: skip
    check = subprocess.run(
        [str(python), "-c", CHECK],
        cwd=elsewhere,
        env={**env, "RENGO_SHARED_DATA": str(shared)},
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("wheel ok")

    pytest.importorskip("torch")
    demo = subprocess.run(
        [str(python.parent / "rengo"), "demo", "--rounds", "2", "--clients", "3"],
        cwd=elsewhere,
        env={**env, "RENGO_STORE": str(elsewhere / "runs.db")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "scored" in demo.stdout and "UCI credit-card default" in demo.stdout
    assert (elsewhere / "rengo-runs" / "demo-contribution.png").is_file()

"""A job that needs an extra the installation lacks ends with one error line that names the
command installing it (exit 2, as other configuration errors), before its run starts: not
with a traceback, nor with every client failing round 1."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rengo.core.install_hint import install_hint

ROOT = Path(__file__).resolve().parents[2]

# Runs `rengo run JOB` in a Python that cannot import MODULE, as one without the extra.
WITHOUT_MODULE = textwrap.dedent(
    """
    import sys

    MISSING = sys.argv[1]

    class Uninstalled:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == MISSING:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Uninstalled())
    from rengo.cli.main import app

    sys.argv = ["rengo", "run", *sys.argv[2:]]
    app()
    """
)

PARQUET_JOB = """\
[job]
kind = "hfl"
name = "parquet-table"
rounds = 1
[data]
dataset = "parquet"
path = "table.parquet"
label = "y"
"""


LOCAL_DP_JOB = """\
[job]
kind = "hfl"
name = "dp-sgd"
rounds = 1
[data]
dataset = "digits"
standardize = false
[model]
type = "mlp"
hidden = [8]
[partition]
num_clients = 3
[privacy]
dp = "local"
noise_multiplier = 1.0
max_grad_norm = 1.0
"""


@pytest.mark.parametrize(
    ("module", "extra", "job"),
    [
        ("torch", "torch", (ROOT / "examples" / "splitnn" / "digits.toml").read_text()),
        ("pyarrow", "parquet", PARQUET_JOB),
        pytest.param(
            "opacus",
            "opacus",
            LOCAL_DP_JOB,
            marks=pytest.mark.skipif(
                importlib.util.find_spec("torch") is None,
                reason="DP-SGD trains a PyTorch MLP: without PyTorch, torch is what is missing",
            ),
        ),
    ],
)
def test_a_job_needing_a_missing_extra_says_how_to_install_it_in_one_line(
    tmp_path: Path, module: str, extra: str, job: str
) -> None:
    (tmp_path / "job.toml").write_text(job)
    (tmp_path / "table.parquet").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_MODULE, module, "job.toml", "--store", "runs.db"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2, done.stderr[-3000:]
    assert len([line for line in done.stderr.splitlines() if line.startswith("error:")]) == 1
    assert install_hint(extra) in " ".join(done.stderr.split())
    assert "round 1" not in done.stdout + done.stderr, "the run started before it refused"

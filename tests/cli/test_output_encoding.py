"""Output that the console's encoding cannot hold: Windows writes a redirected command's output
(a file, a pipe, a scheduled task's log) in its code page, cp1252, which has no 'Ł'."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

JOB = """
[job]
name = "Zentrum Łódź"
rounds = 1
[data]
dataset = "iris"
[partition]
num_clients = 2
[model]
type = "logistic"
"""


def test_a_run_named_outside_the_output_encoding_runs_and_is_listed(tmp_path: Path) -> None:
    job = tmp_path / "job.toml"
    job.write_text(JOB, encoding="utf-8")
    store = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONIOENCODING": "cp1252", "COLUMNS": "200"}

    def rengo(*args: str) -> subprocess.CompletedProcess[bytes]:
        command = [sys.executable, "-m", "rengo", *args, "--store", str(store)]
        return subprocess.run(command, capture_output=True, env=env, check=False)

    ran = rengo("run", str(job), "--no-progress")
    assert ran.returncode == 0, ran.stderr.decode("cp1252")
    assert "Zentrum ?ód?" in ran.stdout.decode("cp1252")
    listed = rengo("runs", "list")
    assert listed.returncode == 0, listed.stderr.decode("cp1252")
    assert "Zentrum ?ód?" in listed.stdout.decode("cp1252")

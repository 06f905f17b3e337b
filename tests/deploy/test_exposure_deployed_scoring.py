"""A deployed label party of a hetero Poisson job with ``[vfl] exposure`` writes its scores
as rates and says so: the scoring file's column is ``rate_per_<exposure column>`` and its
line names the unit (the column was ``prediction``, the same header as a model trained
without an exposure, whose score is a row's expected count)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from child_processes import Processes
from vertical_cli import run_processes

from rengo.transport.certs import init_certificates

ROWS = 200
JOB = """
[job]
kind = "vfl"
seed = 0
[vfl]
algorithm = "hetero_poisson"
label_party = "insurer"
label = "claims"
exposure = "years"
test_size = 0.2
key_bits = 512
epochs = 3
[vfl.parties]
insurer = "{folder}/insurer.csv"
telematics = "{folder}/telematics.csv"
"""


@pytest.fixture
def cli() -> Iterator[Processes]:
    procs = Processes("vertical_procs.py", env={"COLUMNS": "200"})
    yield procs
    procs.cleanup()


def _tables(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(ROWS, 4))
    years = 1.0 - rng.uniform(0.0, 0.9, ROWS)
    claims = rng.poisson(years * np.exp(x @ [0.3, -0.2, 0.25, 0.1] - 0.5))
    with (folder / "insurer.csv").open("w") as handle:
        handle.write("id,age,region,years,claims\n")
        for i in range(ROWS):
            handle.write(f"p{i},{x[i, 0]:.6f},{x[i, 1]:.6f},{years[i]:.6f},{claims[i]}\n")
    with (folder / "telematics.csv").open("w") as handle:
        handle.write("id,speed,night\n")
        for i in range(ROWS):
            handle.write(f"p{i},{x[i, 2]:.6f},{x[i, 3]:.6f}\n")
    job = folder / "job.toml"
    job.write_text(JOB.format(folder=folder))
    return job


@pytest.mark.timeout(180)
def test_a_deployed_exposure_job_writes_rates_per_unit_of_its_exposure_column(
    cli: Processes, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    init_certificates(certs, ["insurer", "telematics"])
    job = _tables(tmp_path)
    scores = tmp_path / "scores.csv"
    _, said = run_processes(
        cli,
        certs,
        ["--job", str(job), "--store", str(tmp_path / "deployed.db")],
        {name: ["--job", str(job), "--predictions", str(scores)] for name in ["insurer"]}
        | {"telematics": ["--job", str(job)]},
    )
    with scores.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "rate_per_years"]
    assert len(rows) > 20 and all(float(rate) > 0 for _, rate in rows[1:])
    flat = " ".join(said["insurer"].split())
    assert "(rates per unit of 'years': multiply by a row's 'years' for its expected count)" in flat

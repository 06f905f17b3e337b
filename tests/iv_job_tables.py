"""A two-party credit job for the selection-by-IV tests (importable by name: the tests folder
is on the path through its conftest): CSV tables with strong, noise and constant columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROWS = 600


def tables(folder: Path) -> dict[str, np.ndarray]:
    """bank: the label, one strong and one noise column; telco: one strong, one noise and
    one constant column (every party a CSV with an ``id`` column)."""
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, ROWS)
    cols = {
        "income": y + rng.normal(0, 0.6, ROWS),
        "bank_noise": rng.normal(size=ROWS),
        "late_payments": -2 * y + rng.normal(0, 1.0, ROWS),
        "telco_noise": rng.normal(size=ROWS),
        "region_code": np.full(ROWS, 3.0),
    }
    ids = np.arange(1000, 1000 + ROWS)
    bank = np.c_[ids, y, cols["income"], cols["bank_noise"]]
    telco = np.c_[ids, cols["late_payments"], cols["telco_noise"], cols["region_code"]]
    np.savetxt(folder / "bank.csv", bank, delimiter=",", comments="",
               header="id,defaulted,income,bank_noise", fmt="%.10g")  # fmt: skip
    np.savetxt(folder / "telco.csv", telco, delimiter=",", comments="",
               header="id,late_payments,telco_noise,region_code", fmt="%.10g")  # fmt: skip
    return {"y": y, **cols}


def job_text(folder: Path, selection: str, algorithm: str = "hetero_lr") -> str:
    extra = "epochs = 3" if algorithm == "hetero_lr" else "n_trees = 2"
    return f"""
[job]
kind = "vfl"
name = "iv"
seed = 1
[vfl]
algorithm = "{algorithm}"
label_party = "bank"
label = "defaulted"
key_bits = 512
{extra}
[vfl.parties]
bank = "{folder / "bank.csv"}"
telco = "{folder / "telco.csv"}"
[vfl.selection]
{selection}
"""

"""Writes the example's three party tables (synthetic, seed 0): an insurer with claim counts
(the label party), a bank and a telecom holding other columns of overlapping customers; and
the insurer's ``policies.csv`` for ``frequency.toml``: the same customers' claims observed
over each policy's years insured (uniform in (0.1, 1]), ``claims ~ Poisson(years * rate)``.

    .venv/bin/python examples/vertical_regression/make_data.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

ROWS = 600
HERE = Path(__file__).parent / "data"


def main() -> None:
    rng = np.random.default_rng(0)
    ids = np.array([f"cust-{i:05d}" for i in range(ROWS)])
    age = rng.uniform(18, 80, ROWS)
    vehicle_age = rng.integers(0, 20, ROWS).astype(float)
    income = rng.lognormal(10.5, 0.4, ROWS)
    debt_ratio = rng.beta(2, 5, ROWS)
    night_calls = rng.poisson(3, ROWS).astype(float)
    data_gb = rng.gamma(2.0, 3.0, ROWS)
    z = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    rate = np.exp(
        -0.4
        - 0.25 * z(age)
        + 0.15 * z(vehicle_age)
        - 0.1 * z(income)
        + 0.3 * z(debt_ratio)
        + 0.2 * z(night_calls)
        + 0.05 * z(data_gb)
    )
    claims = rng.poisson(rate)
    tables = {
        "insurer": (["age", "vehicle_age"], [age, vehicle_age], {"claims": claims}),
        "bank": (["income", "debt_ratio"], [income, debt_ratio], {}),
        "telecom": (["night_calls", "data_gb"], [night_calls, data_gb], {}),
    }
    HERE.mkdir(exist_ok=True)
    for name, (columns, values, labels) in tables.items():
        keep = rng.random(ROWS) > 0.05  # each party misses ~5% of the customers
        order = rng.permutation(np.flatnonzero(keep))
        with (HERE / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", *columns, *labels])
            for i in order:
                row = [f"{v[i]:.4f}" for v in values]
                tail = [str(int(labels["claims"][i]))] if labels else []
                writer.writerow([ids[i], *row, *tail])
    # drawn after the tables above, which stay as they were
    years = 1.0 - rng.uniform(0.0, 0.9, ROWS)
    exposed_claims = rng.poisson(years * rate)
    keep = rng.random(ROWS) > 0.05
    with (HERE / "policies.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "age", "vehicle_age", "years", "claims"])
        for i in rng.permutation(np.flatnonzero(keep)):
            writer.writerow(
                [
                    ids[i],
                    f"{age[i]:.4f}",
                    f"{vehicle_age[i]:.4f}",
                    f"{years[i]:.4f}",
                    str(int(exposed_claims[i])),
                ]
            )


if __name__ == "__main__":
    main()

"""On FATE's default_credit split (bank: 13 bill and payment columns and ``y``; telco: 10
demographic and repayment-status columns), the federated IVs equal plaintext ones and the
repayment statuses rank first, as in every credit scorecard of this data."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import DataError
from rengo.data import shared_data_dir
from rengo.vfl.hetero_binning import information_value, woe_and_iv
from rengo.vfl.secureboost import fit_bins

# the host's x0..x9 in UCI_Credit_Card.csv (README of shared/data/fate)
HOST_NAMES = ("LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE",
              "PAY_0", "PAY_2", "PAY_3", "PAY_4", "PAY_5")  # fmt: skip


def test_default_credit_top_ivs_equal_plaintext_and_rank_repayment_status_first() -> None:
    try:
        folder = shared_data_dir("fate")
    except DataError as exc:
        pytest.skip(f"default_credit is not here: {exc}")
    guest = np.loadtxt(folder / "default_credit_hetero_guest.csv", delimiter=",", skiprows=1)
    host = np.loadtxt(folder / "default_credit_hetero_host.csv", delimiter=",", skiprows=1)
    ids, y, x_guest = guest[:, 0], guest[:, 1], guest[:, 2:]
    assert (host[:, 0] == ids).all()
    data = {"bank": (ids, x_guest), "telco": (host[:, 0], host[:, 1:])}
    result = information_value(data, "bank", y, max_bin=10, key_bits=1024, key_seed=3,
                               use_psi=False)  # fmt: skip
    table = {"bank": x_guest, "telco": host[:, 1:]}
    for f in result:
        x = table[f.party][:, [f.column]]
        bins = fit_bins(x, 10, party=f.party)
        binned = bins.transform(x)[:, 0]
        events = np.bincount(binned, weights=y, minlength=bins.value_bins(0) + 1)
        rows = np.bincount(binned, minlength=bins.value_bins(0) + 1)
        assert f.events == tuple(events.astype(int)) and f.iv == pytest.approx(
            woe_and_iv(events.astype(int), rows - events.astype(int), min_rows=150)[1], rel=1e-12
        )
    top = sorted(result, key=lambda f: -f.iv)[:5]
    print("\nparty  column      IV")
    for f in top:
        label = HOST_NAMES[f.column] if f.party == "telco" else f.name
        print(f"{f.party:6} {label:10} {f.iv:.4f}")
    assert top[0].party == "telco" and HOST_NAMES[top[0].column] == "PAY_0"
    assert top[0].iv > 0.5  # "suspicious/very strong" on Siddiqi's scale

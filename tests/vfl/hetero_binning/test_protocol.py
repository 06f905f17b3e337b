"""Federated WOE and IV: the label party's results equal a plaintext numpy computation on
the same bins, for its own columns and the feature parties'; malformed or inconsistent sums
and bad inputs are refused by name."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from rengo.core.errors import ConfigError, DataError, PeerFailure, ProtocolError
from rengo.crypto import EncryptedArray, encrypt_array, generate_paillier_keypair
from rengo.crypto.obfuscators import ObfuscatorPool
from rengo.crypto.signed_slots import combine_ciphertexts
from rengo.transport.channel import Channel, LocalBus, run_roles
from rengo.vfl.hetero_binning import (
    information_value,
    information_value_guest,
    information_value_host,
)
from rengo.vfl.hetero_binning.protocol import HIST, SCOPE, SETUP, label_layout
from rengo.vfl.secureboost import fit_bins

KEYS = generate_paillier_keypair(512, seed=11)


def plaintext_ivs(
    x: np.ndarray, y: np.ndarray, max_bin: int, adjustment: float = 0.5
) -> list[tuple[list[int], list[int], np.ndarray, float]]:
    """(events, non-events, WOE, IV) of every column, on SecureBoost's bins, in numpy."""
    bins = fit_bins(x, max_bin, party="plain")
    binned = bins.transform(x)
    out = []
    for j in range(x.shape[1]):
        size = bins.value_bins(j) + 1
        e = np.bincount(binned[:, j], weights=y, minlength=size)
        t = np.bincount(binned[:, j], minlength=size).astype(float)
        n = t - e
        smooth = (t > 0) & ((e == 0) | (n == 0))
        es = (e + adjustment * smooth) / y.sum()
        ns = (n + adjustment * smooth) / (len(y) - y.sum())
        woe = np.full(size, np.nan)
        woe[t > 0] = np.log(es[t > 0] / ns[t > 0])
        iv = float(((es - ns)[t > 0] * woe[t > 0]).sum())
        out.append((e.astype(int).tolist(), n.astype(int).tolist(), woe, iv))
    return out


@pytest.fixture(scope="module")
def credit_like() -> dict[str, Any]:
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:300].copy()
    x[::9, 12] = np.nan  # missing values on a feature party's column
    ids = np.array([f"c{i}" for i in range(300)])
    return {"ids": ids, "bank": x[:, :6], "telco": x[:, 6:14], "isp": x[:, 14:20], "y": y[:300]}


def test_every_partys_woe_and_iv_equal_plaintext_numpy_on_the_same_bins(
    credit_like: dict[str, Any],
) -> None:
    d = credit_like
    data = {p: (d["ids"], d[p]) for p in ("bank", "telco", "isp")}
    result = information_value(data, "bank", d["y"], max_bin=8, key_bits=512, key_seed=2)
    assert [(f.party, f.column) for f in result] == [
        *(("bank", j) for j in range(6)),
        *(("telco", j) for j in range(8)),
        *(("isp", j) for j in range(6)),
    ]
    for party in ("bank", "telco", "isp"):
        expected = plaintext_ivs(d[party], d["y"].astype(float), 8)
        mine = [f for f in result if f.party == party]
        for f, (events, non_events, woe, iv) in zip(mine, expected, strict=True):
            assert list(f.events) == events and list(f.non_events) == non_events
            np.testing.assert_allclose(f.woe, woe, rtol=1e-12)
            assert f.iv == pytest.approx(iv, rel=1e-12)
            assert f.edges == tuple(fit_bins(d[party], 8, party="p").edges[f.column])
    missing = next(f for f in result if f.party == "telco" and f.column == 6)
    assert missing.events[-1] + missing.non_events[-1] == len(range(0, 300, 9))


def test_the_smoothing_factor_is_the_one_given(credit_like: dict[str, Any]) -> None:
    d = credit_like
    data = {p: (d["ids"], d[p]) for p in ("bank", "telco")}
    got = information_value(data, "bank", d["y"], max_bin=16, adjustment_factor=0.1,
                            key_bits=512, key_seed=2, use_psi=False)  # fmt: skip
    expected = plaintext_ivs(d["telco"], d["y"].astype(float), 16, adjustment=0.1)
    assert [f.iv for f in got if f.party == "telco"] == pytest.approx([e[3] for e in expected])


def test_columns_with_fewer_values_than_bins_and_constant_columns_are_documented_results() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    y[:2] = (0, 1)
    guest = np.c_[rng.normal(size=200)]
    host = np.c_[np.full(200, 4.0), rng.integers(0, 3, 200)]
    ids = np.arange(200)
    result = information_value({"bank": (ids, guest), "telco": (ids, host)}, "bank", y,
                               max_bin=50, key_bits=512, key_seed=1, use_psi=False)  # fmt: skip
    constant, three = result[1], result[2]
    assert constant.iv == 0.0 and constant.bins == 2 and constant.woe[0] == 0.0
    assert three.bins == 4 and three.edges == (0.5, 1.5)  # one bin per value, then missing


def test_labels_of_one_class_or_not_binary_are_refused_naming_the_label_party() -> None:
    ids = np.arange(20)
    data = {"bank": (ids, np.c_[np.arange(20.0)]), "telco": (ids, np.c_[np.arange(20.0)])}
    with pytest.raises(DataError, match=r"bank: information value needs both classes"):
        information_value(data, "bank", np.ones(20), key_bits=512, key_seed=1, use_psi=False)
    with pytest.raises(DataError, match="bank: information value needs binary labels"):
        information_value(data, "bank", np.arange(20) % 3, key_bits=512, key_seed=1)
    with pytest.raises(ConfigError, match="needs the labels of bank"):
        information_value(data, "bank", key_bits=512, key_seed=1)
    with pytest.raises(ConfigError, match="max_bin"):
        information_value(data, "bank", ids % 2, max_bin=1, key_bits=512, key_seed=1)


def test_an_empty_host_column_is_refused_naming_the_party_and_column() -> None:
    ids = np.arange(20)
    host = np.c_[np.arange(20.0), np.full(20, np.nan)]
    data = {"bank": (ids, np.c_[np.arange(20.0)]), "telco": (ids, host)}
    with pytest.raises(DataError, match="telco: column 1 is entirely empty"):
        information_value(data, "bank", ids % 2, key_bits=512, key_seed=1, use_psi=False)


def _guest(y: np.ndarray) -> Any:
    return lambda ch: information_value_guest(ch, np.c_[np.arange(float(len(y)))], y,
                                              ["telco"], KEYS)  # fmt: skip


def _forged_sums(ch: Channel, events: list[int], non_events: list[int]) -> None:
    """A feature party that sends one column's sums of its own making (fresh ciphertexts)."""
    setup = ch.scope(SCOPE).recv("bank", SETUP)
    public = setup["public_key"]
    layout = label_layout(setup["rows"], public)
    packed = layout.encode_rows(np.c_[events], np.c_[non_events])
    items = encrypt_array(packed, public, precision_bits=0).ciphertexts.ravel()
    combined = combine_ciphertexts(items, layout.items_per_ciphertext(public),
                                   layout.chunk_bits, public)  # fmt: skip
    with ObfuscatorPool.for_encryptor(public) as pool:
        ct = EncryptedArray(public, combined, 0).rerandomize(pool)
    ch.scope(SCOPE).send("bank", HIST, {"bins": [len(events)], "ct": ct})


def test_sums_that_do_not_add_up_to_the_label_partys_totals_are_refused() -> None:
    y = np.array([1, 0, 1, 0, 0, 0])  # 2 events, 4 non-events
    bus = LocalBus(["bank", "telco"])
    with pytest.raises(ProtocolError, match="telco's bin sums of its column 0 do not add up"):
        run_roles(bus, {"bank": _guest(y), "telco": lambda ch: _forged_sums(ch, [2, 1], [1, 3])})
    bus = LocalBus(["bank", "telco"])
    result = run_roles(
        bus, {"bank": _guest(y), "telco": lambda ch: _forged_sums(ch, [2, 0], [1, 3])}
    )
    assert result["bank"][1].events == (2, 0)  # consistent sums are accepted as sent


def test_a_malformed_reply_is_refused_naming_the_host() -> None:
    def host(ch: Channel) -> None:
        ch.scope(SCOPE).recv("bank", SETUP)
        ch.scope(SCOPE).send("bank", HIST, {"bins": [3, 2]})  # sums missing

    with pytest.raises(ProtocolError, match="telco sent 5 bins' sums in the wrong number"):
        run_roles(LocalBus(["bank", "telco"]), {"bank": _guest(np.array([0, 1])), "telco": host})


def test_a_host_with_other_rows_is_refused_naming_both_counts() -> None:
    y = np.array([0, 1, 0, 1])
    roles = {
        "bank": _guest(y),
        "telco": lambda ch: information_value_host(ch, np.zeros((3, 1)), "bank"),
    }
    with pytest.raises((DataError, PeerFailure), match="telco holds 3 aligned rows"):
        run_roles(LocalBus(["bank", "telco"]), roles)


def test_the_exported_function_is_not_shadowed_by_a_submodule_imported_first() -> None:
    """The package was once named like its function: importing one of its modules first made
    ``from rengo.vfl import information_value`` the module (a TypeError when called)."""
    code = (
        "import rengo.vfl.hetero_binning.woe\n"
        "from rengo.vfl import information_value, select_by_iv\n"
        "assert callable(information_value) and callable(select_by_iv)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_host_that_bins_finer_than_max_bin_is_refused_naming_it_and_the_column() -> None:
    """One row per bin would give a column of pure noise an IV near 2 ln 3, above any real
    column, and take over top_k: the label party refuses more than max_bin + 1 bins."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    guest = np.c_[y + rng.normal(0, 1.5, 60)]
    host = np.c_[rng.normal(size=60), rng.normal(size=60)]
    roles = {
        "bank": lambda ch: information_value_guest(ch, guest, y, ["telco"], KEYS, max_bin=4),
        "telco": lambda ch: information_value_host(ch, host, "bank", max_bin=60),
    }
    with pytest.raises(ProtocolError, match=r"telco's column 0 has 61 bins, more than max_bin = 4"):
        run_roles(LocalBus(["bank", "telco"]), roles)
    roles["telco"] = lambda ch: information_value_host(ch, host, "bank", max_bin=4)
    assert [f.bins for f in run_roles(LocalBus(["bank", "telco"]), roles)["bank"]] == [5, 5, 5]

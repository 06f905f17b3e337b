"""What crosses the bus in federated WOE and IV: no feature party sees a label (in clear, in
any encoding, or an array that tracks it), the label party sees no feature party's value,
cut point or column name, and every ciphertext sent is fresh."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from transcript_search import decoded_leaves, plain_numbers, randomness_problems, sent_arrays

from rengo.crypto import EncryptedArray, UnrandomizedCiphertextError, generate_paillier_keypair
from rengo.transport.channel import LocalBus, TranscriptEntry, run_roles
from rengo.vfl.hetero_binning import (
    information_value_guest,
    information_value_host,
    receive_selection,
    select_by_iv,
    send_selection,
)

HOSTS = ("telco", "isp")
NAMES = {"telco": ("monthly_spend", "tenure_days"), "isp": ("late_payments", "plan_tier")}


def run(keys: Any) -> dict[str, Any]:
    """Every role of IV and of selection by IV, every message recorded."""
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:150]
    x[::5, 7] = np.nan
    data = {"bank": x[:, :4], "telco": x[:, 4:6], "isp": x[:, 6:8]}
    bus = LocalBus(["bank", *HOSTS], record=True)

    def guest(ch: Any) -> Any:
        ivs = information_value_guest(ch, data["bank"], y[:150], HOSTS, keys, max_bin=6)
        send_selection(ch, HOSTS, select_by_iv(ivs, top_k=3))
        return ivs

    def host(name: str) -> Any:
        def role(ch: Any) -> Any:
            bins = information_value_host(
                ch, data[name], "bank", max_bin=6, feature_names=NAMES[name]
            )
            return bins, receive_selection(ch, "bank", data[name].shape[1])

        return role

    results = run_roles(bus, {"bank": guest, **{h: host(h) for h in HOSTS}})
    return {"results": results, "data": data, "labels": y[:150], "entries": bus.transcript}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Any]:
    return run(generate_paillier_keypair(512, seed=5))


def _to(r: dict[str, Any], names: set[str]) -> list[TranscriptEntry]:
    return [e for e in r["entries"] if e.receiver in names]


def test_no_feature_party_sees_a_label(recorded: dict[str, Any]) -> None:
    entries = _to(recorded, set(HOSTS))
    assert {e.key for e in entries} == {"iv/setup", "iv/keep"}
    wire = b"".join(e.payload for e in entries)
    labels = recorded["labels"]
    for dtype in (np.float64, np.int64, np.uint8, np.bool_, np.float32, np.int32):
        assert labels.astype(dtype).tobytes() not in wire
        assert (1 - labels).astype(dtype).tobytes() not in wire
    assert np.packbits(labels.astype(bool)).tobytes() not in wire
    for entry in entries:
        for v in decoded_leaves(entry):
            if isinstance(v, np.ndarray) and v.shape == labels.shape and v.std() > 0:
                assert abs(np.corrcoef(v.astype(float), labels)[0, 1]) < 0.999, entry.key
    # what a host holds in clear: the row count, and which of its columns are kept
    assert set(plain_numbers(entries).tolist()) <= {150.0, 0.0, 1.0}


def test_the_label_party_sees_no_host_value_cut_point_or_column_name(
    recorded: dict[str, Any],
) -> None:
    entries = _to(recorded, {"bank"})
    assert {e.key for e in entries} == {"iv/hist"}
    wire = b"".join(e.payload for e in entries)
    numbers = set(plain_numbers(entries).tolist())
    for host in HOSTS:
        x = recorded["data"][host]
        for value in x[np.isfinite(x)].ravel():
            assert np.float64(value).tobytes() not in wire
            assert np.float32(value).tobytes() not in wire
            assert float(value) not in numbers or float(value) == int(value)
        bins, _ = recorded["results"][host]
        for edges in bins.edges:
            for edge in edges:
                assert np.float64(edge).tobytes() not in wire
                assert float(edge) not in numbers
        for name in NAMES[host]:
            assert name.encode() not in wire
    # in clear, the label party gets each column's number of bins: nothing else
    assert numbers <= {float(b) for b in range(2, 8)}


def test_the_label_party_learns_the_counts_but_not_the_edges(recorded: dict[str, Any]) -> None:
    ivs = recorded["results"]["bank"]
    hosts = [f for f in ivs if f.party in HOSTS]
    assert len(hosts) == 4 and all(f.edges is None and f.name.startswith("x") for f in hosts)
    kept = {(f.party, f.column) for f in select_by_iv(ivs, top_k=3)}
    for host in HOSTS:
        _, selected = recorded["results"][host]
        assert set(selected) == {c for p, c in kept if p == host}


def test_every_ciphertext_sent_is_fresh(recorded: dict[str, Any]) -> None:
    sent = list(sent_arrays(recorded["entries"]))
    assert {key for key, _ in sent} == {"iv/setup", "iv/hist"}
    private = generate_paillier_keypair(512, seed=5)[1]
    assert randomness_problems(sent, [private]) == []


def test_a_host_that_skips_re_randomisation_cannot_send(monkeypatch: pytest.MonkeyPatch) -> None:
    """Positive control for the test above: the codec refuses the bare homomorphic sums."""
    monkeypatch.setattr(EncryptedArray, "rerandomize", lambda self, pool=None: self)
    with pytest.raises(UnrandomizedCiphertextError):
        run(generate_paillier_keypair(512, seed=5))


def test_which_columns_are_kept_does_not_reveal_a_probed_rows_label() -> None:
    """A host that adds one indicator column per row it wants to probe: with one-row bins,
    an event row's indicator had IV ~0.03 and a non-event's ~0, so min_iv = 0.02 kept
    exactly the event rows' columns. Bins under min_bin_rows are merged, so none is kept."""
    rng = np.random.default_rng(1)
    n, probe = 400, 60
    y = (rng.random(n) < 0.22).astype(int)
    guest_x = (y + rng.normal(0, 1.0, n))[:, None]
    host_x = np.c_[y + rng.normal(0, 1.0, n), np.eye(n)[:, :probe]]
    keys = generate_paillier_keypair(512, seed=5)

    def guest(ch: Any) -> Any:
        ivs = information_value_guest(ch, guest_x, y, ["telco"], keys, max_bin=10)
        send_selection(ch, ["telco"], select_by_iv(ivs, min_iv=0.02))
        return ivs

    def host(ch: Any) -> Any:
        information_value_host(ch, host_x, "bank", max_bin=10)
        return receive_selection(ch, "bank", host_x.shape[1])

    results = run_roles(LocalBus(["bank", "telco"]), {"bank": guest, "telco": host})
    assert results["telco"] == (0,)  # the real column, no indicator
    probes = [f for f in results["bank"] if f.party == "telco" and f.column > 0]
    assert [f.iv for f in probes] == [0.0] * probe and y[:probe].sum() > 5

"""The coordinated hetero LR roles reproduce plaintext Taylor-SGD on the joined data."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from hetero_lr_run import replayable_sgd, run_hetero_lr
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from rengo.core.errors import ChannelTimeout, DataError, ProtocolError
from rengo.crypto import EncryptedArray, generate_paillier_keypair
from rengo.transport.channel import LocalBus, run_roles
from rengo.vfl.hetero_lr import roles
from rengo.vfl.hetero_lr.config import HeteroLRConfig
from rengo.vfl.hetero_lr.local import train_guest_alone
from rengo.vfl.hetero_lr.math import (
    LOG2,
    adaptive_lr_scale,
    base_rate_shift,
    batch_order,
    init_optimizer,
    learning_rate,
    optimizer_step,
    taylor_residual,
)
from rengo.vfl.hetero_lr.roles import (
    hetero_lr_guest,
    hetero_lr_host,
    receive_continue,
    setup_lr_scale,
)

KEYPAIR = generate_paillier_keypair(512, seed=21)
SEED = 4


def _data(rows: int = 120) -> tuple[list[np.ndarray], np.ndarray]:
    x, y = load_breast_cancer(return_X_y=True)
    x = StandardScaler().fit_transform(x)[:rows]
    return [x[:, :4], x[:, 4:9], x[:, 9:12]], y[:rows].astype(float)


def _run(parts: list[np.ndarray], y: np.ndarray, config: HeteroLRConfig) -> dict:
    return run_hetero_lr(parts, y, config, KEYPAIR, SEED)


def _plaintext_reference(
    parts: list[np.ndarray],
    y: np.ndarray,
    config: HeteroLRConfig,
    row_weights: np.ndarray | None = None,
) -> tuple[list[np.ndarray], list[float]]:
    """The same training on the joined plaintext data, block by block (each row's loss
    and residual times its ``row_weights``, when given)."""
    s = np.ones(len(y)) if row_weights is None else row_weights
    blocks = [np.hstack([parts[0], np.ones((len(y), 1))]), *parts[1:]]
    weights = [np.zeros(b.shape[1]) for b in blocks]
    states = [init_optimizer(b.shape[1]) for b in blocks]
    # each party steps in units of its own columns' root mean square
    scales = [np.sqrt(np.mean(b * b, axis=0)) for b in blocks]
    penalties = [np.ones(b.shape[1]) for b in blocks]
    penalties[0][-1] = 0.0
    losses = []
    for epoch in range(config.epochs):
        total = 0.0
        for rows in batch_order(SEED, epoch, len(y), config.batch_size, whole=True):
            u = sum(b[rows] @ w for b, w in zip(blocks, weights, strict=True))
            total += float(np.sum(s[rows] * ((0.5 - y[rows]) * u + 0.125 * u * u)))
            d = s[rows] * taylor_residual(u, y[rows])
            lr = learning_rate(config.learning_rate, config.lr_schedule, epoch)
            for k, block in enumerate(blocks):
                grad = block[rows].T @ d / len(rows) + config.l2 * weights[k] * penalties[k]
                moved, states[k] = optimizer_step(
                    weights[k] * scales[k], grad / scales[k], states[k], lr, config.optimizer
                )
                weights[k] = moved / scales[k]
        losses.append(LOG2 * float(np.mean(s)) + total / len(y))  # each row's log 2 weighted too
    return weights, losses


def _sgd_config(source: str, class_weight: Any = None) -> HeteroLRConfig:
    """Three epochs of SGD steps a plaintext reference replays exactly."""
    return replayable_sgd(obfuscator_source=source, class_weight=class_weight)


@pytest.mark.parametrize(("hosts", "source"), [(1, "local"), (2, "local"), (2, "coordinator")])
def test_encrypted_training_matches_plaintext_taylor_sgd(hosts: int, source: str) -> None:
    parts, y = _data()
    parts = parts[: hosts + 1]
    config = _sgd_config(source)
    results = _run(parts, y, config)
    weights, losses = _plaintext_reference(parts, y, config)
    guest = results["guest"]
    np.testing.assert_allclose(guest.weights, weights[0][:-1], atol=1e-8)
    # the label party moves its trained intercept to the expansion at the base-rate logit
    assert guest.intercept == pytest.approx(weights[0][-1] + base_rate_shift(y), abs=1e-8)
    for k in range(1, hosts + 1):
        np.testing.assert_allclose(results[f"host{k}"].weights, weights[k], atol=1e-8)
    np.testing.assert_allclose(guest.losses, losses, atol=1e-9)
    batches = len(batch_order(SEED, 0, len(y), 50, whole=True))
    features = sum(p.shape[1] for p in parts) + 1
    assert results["coordinator"].decrypted_values == 3 * batches * (features + 1)


@pytest.mark.parametrize(("hosts", "source"), [(1, "local"), (2, "local"), (2, "coordinator")])
def test_class_weighted_training_matches_the_plaintext_weighted_taylor_sgd(
    hosts: int, source: str
) -> None:
    """Each row's encrypted residual and loss terms (the hosts' squares and cross terms
    included) are weighted by its class's weight, exactly as in plaintext."""
    parts, y = _data()
    parts = parts[: hosts + 1]
    config = _sgd_config(source, class_weight={0: 2.5, 1: 0.75})
    results = _run(parts, y, config)
    s = np.where(y == 1, 0.75, 2.5)
    weights, losses = _plaintext_reference(parts, y, config, s)
    guest = results["guest"]
    np.testing.assert_allclose(guest.weights, weights[0][:-1], atol=1e-7)
    # the intercept moves to the expansion at the weighted base rate
    assert guest.intercept == pytest.approx(weights[0][-1] + base_rate_shift(y, s), abs=1e-7)
    for k in range(1, hosts + 1):
        np.testing.assert_allclose(results[f"host{k}"].weights, weights[k], atol=1e-7)
    np.testing.assert_allclose(guest.losses, losses, atol=1e-6)
    unweighted, _ = _plaintext_reference(parts, y, config)
    assert not np.allclose(unweighted[0], weights[0], atol=1e-3)
    # the label party's plaintext twin (valuation's coalitions) trains the same weighted loss
    twin = train_guest_alone(np.hstack(parts), y, config, SEED)
    np.testing.assert_allclose(twin.weights[: parts[0].shape[1]], guest.weights, atol=1e-7)
    assert twin.intercept == pytest.approx(guest.intercept, abs=1e-7)
    np.testing.assert_allclose(twin.losses, guest.losses, atol=1e-6)


def test_adam_training_matches_plaintext_reference() -> None:
    parts, y = _data()
    config = HeteroLRConfig(
        epochs=2, batch_size=40, learning_rate=0.05, l2=0.01, tol=0.0, feature_precision_bits=32
    )
    results = _run(parts, y, config)
    weights, _ = _plaintext_reference(parts, y, config)
    np.testing.assert_allclose(results["host2"].weights, weights[2], atol=1e-6)


def test_training_stops_early_once_loss_change_is_below_tol() -> None:
    parts, y = _data()
    config = HeteroLRConfig(
        epochs=20, batch_size=120, learning_rate=0.01, tol=1.0, n_iter_no_change=1
    )
    results = _run(parts[:2], y, config)
    assert results["guest"].epochs_run == 2 and results["guest"].converged
    assert results["host1"].epochs_run == 2 and results["coordinator"].epochs_run == 2
    # by default it waits n_iter_no_change = 2 epochs without improvement
    patient = _run(parts[:2], y, HeteroLRConfig(epochs=20, batch_size=120, tol=1.0))
    assert patient["guest"].epochs_run == 3 and patient["coordinator"].epochs_run == 3


def test_every_party_follows_the_adaptive_rate_cuts_the_label_party_announces() -> None:
    """A step so large that the loss goes up: the label party halves the rate at plateaus
    and tells the others, and the encrypted run stays the plaintext twin of the joined table
    (a host that kept the base rate would not)."""
    parts, y = _data()
    config = HeteroLRConfig(
        epochs=8,
        batch_size=40,
        learning_rate=1.0,
        tol=1e-3,
        n_iter_no_change=1,
        feature_precision_bits=32,
    )
    twin = train_guest_alone(np.hstack(parts), y, config, SEED)
    assert adaptive_lr_scale(twin.losses[:-1], 1e-3, 1, 0.5)[0] <= 0.25  # two cuts or more
    results = _run(parts, y, config)
    split = np.cumsum([p.shape[1] for p in parts])[:-1]
    expected = np.split(twin.weights, split)
    np.testing.assert_allclose(results["guest"].weights, expected[0], atol=1e-6)
    for k in (1, 2):
        np.testing.assert_allclose(results[f"host{k}"].weights, expected[k], atol=1e-6)
    np.testing.assert_allclose(results["guest"].losses, twin.losses, atol=1e-6)


@pytest.mark.parametrize(
    "message",
    [
        True,
        {"go_on": True},
        {"go_on": 1, "lr_scale": 1.0},
        {"go_on": True, "lr_scale": 2.0},
        {"go_on": True, "lr_scale": 0.0},
        {"go_on": True, "lr_scale": float("nan")},
        {"go_on": False, "lr_scale": True},
    ],
)
def test_an_epoch_end_without_a_valid_rate_factor_is_refused(message: object) -> None:
    bus = LocalBus(["guest", "host1"], timeout=5)
    roles = {
        "guest": lambda c: c.send("host1", "continue", message),
        "host1": lambda c: receive_continue(c, "guest"),
    }
    with pytest.raises(ProtocolError, match=r"guest ended the epoch .*learning-rate factor"):
        run_roles(bus, roles)
    good = {"go_on": False, "lr_scale": 0.25}
    roles["guest"] = lambda c: c.send("host1", "continue", good)
    assert run_roles(LocalBus(["guest", "host1"], timeout=5), roles)["host1"] == (False, 0.25)


def test_a_resumed_host_takes_its_first_rate_from_the_label_partys_setup() -> None:
    assert setup_lr_scale({"lr_scale": 0.25}, "guest") == 0.25
    assert setup_lr_scale({}, "guest") == 1.0  # a label party from before the schedule
    for bad in (2.0, 0.0, True, "0.5", float("nan")):
        with pytest.raises(ProtocolError, match="guest's set-up gives a learning-rate factor"):
            setup_lr_scale({"lr_scale": bad}, "guest")


def test_host_with_other_row_count_is_refused() -> None:
    parts, y = _data()
    parts[1] = parts[1][:-1]
    with pytest.raises(DataError, match="aligned rows"):
        _run(parts[:2], y, HeteroLRConfig(epochs=1, batch_size=60))


def test_guest_rejects_a_host_message_under_another_key() -> None:
    parts, y = _data(20)
    other = generate_paillier_keypair(512, seed=99)
    bus = LocalBus(["coordinator", "guest", "host1"], timeout=20)
    config = HeteroLRConfig(epochs=1, batch_size=20)

    def impostor_coordinator(channel):  # hands the host a different public key
        hlr = channel.scope("hlr")
        hlr.send("guest", "public-key", KEYPAIR[0])
        hlr.send("host1", "public-key", other[0])
        hlr.recv("guest", "setup")
        hlr.scope(epoch=0, batch=0).recv("guest", "masked")

    with pytest.raises((ProtocolError, ChannelTimeout), match="different public key"):
        run_roles(
            bus,
            {
                "coordinator": impostor_coordinator,
                "guest": lambda c: hetero_lr_guest(c, parts[0], y, ["host1"], config, seed=1),
                "host1": lambda c: hetero_lr_host(c, parts[1], "guest"),
            },
        )


@pytest.mark.parametrize("lie", ["beside its gradient", "as its gradient"])
def test_the_coordinator_decrypts_no_residuals_a_host_asks_for(
    lie: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host that has the coordinator decrypt the guest's encrypted residuals ``d`` (which
    it receives every batch) reads the guest's labels off their signs. Before, the
    coordinator decrypted whatever names and lengths a party sent: with ``d`` beside its
    gradient, a host read all 120 labels and the run ended as if nothing happened."""
    captured: dict[int, EncryptedArray] = {}
    stolen: list[np.ndarray] = []
    expect, round_trip = roles.expect_encrypted, roles.masked_round_trip

    def receiving(value, public, shape, exponent, what):  # type: ignore[no-untyped-def]
        checked = expect(value, public, shape, exponent, what)
        if what == "d":
            captured[threading.get_ident()] = checked
        return checked

    def asking(step, coordinator, values, pool):  # type: ignore[no-untyped-def]
        d = captured.pop(threading.get_ident(), None)
        if d is None or step.name != "host1":
            return round_trip(step, coordinator, values, pool)
        if lie == "beside its gradient":
            plain = round_trip(step, coordinator, {**values, "d": d}, pool)
            stolen.append(plain.pop("d"))
            return plain
        if stolen:  # the first batch's honest gradient set its length; d is longer
            stolen.append(round_trip(step, coordinator, {"gradient": d}, pool)["gradient"])
            return {"gradient": np.zeros(values["gradient"].size)}  # it trains nothing
        stolen.append(np.zeros(0))
        return round_trip(step, coordinator, values, pool)

    monkeypatch.setattr(roles, "expect_encrypted", receiving)
    monkeypatch.setattr(roles, "masked_round_trip", asking)
    parts, y = _data()
    with pytest.raises(ProtocolError, match="host1") as refused:
        _run(parts[:2], y, HeteroLRConfig(epochs=1, batch_size=40))
    assert "decrypt" in str(refused.value)
    assert not any(s.size for s in stolen)  # nothing the host kept holds a residual

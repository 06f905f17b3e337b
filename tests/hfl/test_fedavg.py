"""FedAvg (McMahan et al. 2017) and FedProx (Li et al. 2020): exact aggregation math, and the
proximal term as the FedProx client mod makes the numpy and torch clients apply it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from rengo.core.messages import FitResult
from rengo.hfl import (
    FedAvg,
    FedProx,
    FedProxMod,
    LogisticRegressionClient,
    ProximalTerm,
    softmax_loss_grad,
    with_mods,
)
from rengo.hfl.mods import LocalLayersMod
from rengo.hfl.mods.local_layers import STATE_KEY


def _aggregate(strategy: FedAvg, model: list[np.ndarray], results: list[FitResult]) -> list:
    acc = strategy.accumulator(1, model)
    for i, result in enumerate(results):
        strategy.add_result(acc, str(i), result)
    return strategy.aggregate_fit(1, model, acc)


def test_fedavg_weights_by_examples() -> None:
    model = [np.zeros((2, 2)), np.zeros(3)]
    a = [np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([8.0, 0.0, -4.0])]
    b = [np.array([[5.0, 6.0], [7.0, 8.0]]), np.array([0.0, 4.0, 4.0])]
    c = [np.array([[-3.0, 2.0], [1.0, 0.0]]), np.array([2.0, 2.0, 2.0])]
    results = [FitResult(a, 10), FitResult(b, 30), FitResult(c, 40)]

    new = _aggregate(FedAvg(), model, results)

    expected_w = (10 * a[0] + 30 * b[0] + 40 * c[0]) / 80
    expected_b = (10 * a[1] + 30 * b[1] + 40 * c[1]) / 80
    np.testing.assert_array_equal(new[0], expected_w)
    np.testing.assert_array_equal(new[1], expected_b)
    np.testing.assert_array_equal(new[0], [[0.5, 3.5], [3.5, 3.5]])
    np.testing.assert_array_equal(new[1], [2.0, 2.5, 2.0])


def test_fedavg_keeps_the_model_dtype() -> None:
    model = [np.zeros(3, dtype=np.float32)]
    results = [FitResult([np.array([1.0, 2.0, 3.0], np.float32)], 1)] * 2
    new = _aggregate(FedAvg(), model, results)
    assert new[0].dtype == np.float32
    np.testing.assert_array_equal(new[0], [1.0, 2.0, 3.0])


def test_fedavg_train_metrics_are_example_weighted_means() -> None:
    model = [np.zeros(1)]
    acc = FedAvg().accumulator(1, model)
    acc.add([np.ones(1)], 1.0, {"loss": 4.0, "note": "text is ignored"})
    acc.add([np.ones(1)], 3.0, {"loss": 0.0})
    assert acc.metrics() == {"loss": 1.0}


def test_fedprox_sends_proximal_mu_with_the_round_config() -> None:
    strategy = FedProx(proximal_mu=0.75, on_fit_config=lambda r: {"lr": 0.5, "round": r})
    chosen = strategy.configure_fit(3, [np.zeros(2)], ["a", "b", "c"], np.random.default_rng(0))
    assert [cid for cid, _ in chosen] == ["a", "b", "c"]
    for _, ins in chosen:
        assert ins.config == {"lr": 0.5, "round": 3, "proximal_mu": 0.75}
    assert chosen[0][1].config is not chosen[1][1].config


def test_fedprox_rejects_a_negative_mu() -> None:
    with pytest.raises(ValueError, match="proximal_mu"):
        FedProx(proximal_mu=-0.1)


def test_fedavg_sends_no_proximal_mu() -> None:
    chosen = FedAvg().configure_fit(1, [np.zeros(2)], ["a", "b"], np.random.default_rng(0))
    assert all("proximal_mu" not in ins.config for _, ins in chosen)


def test_fedprox_asks_its_clients_for_the_fedprox_mod_and_fedavg_for_none() -> None:
    assert FedProx().client_mods() == ("fedprox",)
    assert FedAvg().client_mods() == ()


@pytest.fixture
def local_problem() -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(24, 4))
    y = rng.integers(0, 3, size=24)
    global_params = [rng.normal(size=(4, 3)), rng.normal(size=3)]
    return X, y, global_params


def _distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum((x - y) ** 2) for x, y in zip(a, b, strict=True))))


def test_numpy_client_applies_the_proximal_gradient_exactly(local_problem) -> None:
    X, y, g0 = local_problem
    lr, mu, l2 = 0.3, 2.0, 0.01
    client = LogisticRegressionClient(X, y, lr=lr, local_epochs=3, batch_size=None, l2=l2)
    result = with_mods(client, [FedProxMod()]).fit(g0, {"proximal_mu": mu, "seed": 1})

    params = [p.copy() for p in g0]
    for _ in range(3):
        _, grads = softmax_loss_grad(params, X, y, l2)
        params = [p - lr * (g + mu * (p - q)) for p, g, q in zip(params, grads, g0, strict=True)]
    # The client visits the full batch in a shuffled order: equal up to summation order.
    for got, want in zip(result.parameters, params, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_numpy_client_with_large_mu_stays_closer_to_the_global_model(local_problem) -> None:
    X, y, g0 = local_problem
    client = with_mods(
        LogisticRegressionClient(X, y, lr=0.05, local_epochs=5, batch_size=8), [FedProxMod()]
    )
    free = client.fit(g0, {"proximal_mu": 0.0, "seed": 1}).parameters
    held = client.fit(g0, {"proximal_mu": 10.0, "seed": 1}).parameters
    assert _distance(held, g0) < 0.5 * _distance(free, g0)


def test_the_adapter_alone_ignores_proximal_mu(local_problem) -> None:
    """The numpy adapter knows no strategy: without the mod, proximal_mu changes nothing."""
    X, y, g0 = local_problem
    client = LogisticRegressionClient(X, y, lr=0.05, local_epochs=5, batch_size=8)
    plain = client.fit(g0, {"seed": 1}).parameters
    ignored = client.fit(g0, {"proximal_mu": 10.0, "seed": 1}).parameters
    for a, b in zip(plain, ignored, strict=True):
        assert a.tobytes() == b.tobytes()


def test_torch_client_with_large_mu_stays_closer_to_the_global_model() -> None:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_client import TorchClient, get_parameters

    gen = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(32, 4, generator=gen), torch.randint(0, 3, (32,), generator=gen)
    )
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    g0 = get_parameters(model)
    client = with_mods(
        TorchClient(model, DataLoader(data, batch_size=8, shuffle=True), lr=0.1, local_epochs=5),
        [FedProxMod()],
    )
    free = client.fit(g0, {"proximal_mu": 0.0, "seed": 1}).parameters
    held = client.fit(g0, {"proximal_mu": 10.0, "seed": 1}).parameters
    assert _distance(held, g0) < 0.5 * _distance(free, g0)


class OwnLoopClient(LogisticRegressionClient):
    """A ported Flower client: trains in its own loop, outside LocalTraining (no steps)."""

    def fit(self, parameters, config):
        return FitResult([p * 0.5 for p in parameters], 4)


def test_fedprox_warns_when_the_client_took_no_step_through_the_seam(local_problem) -> None:
    """A client whose own loop ignores LocalTraining runs FedAvg under FedProx unless it reads
    proximal_mu itself: the mod says so instead of staying silent."""
    X, y, g0 = local_problem
    own = with_mods(OwnLoopClient(X, y), [FedProxMod()])
    with pytest.warns(UserWarning, match=r"FedProx: the client took no local step"):
        own.fit(g0, {"proximal_mu": 0.1})


def test_fedprox_is_silent_for_clients_that_train_through_the_seam_or_without_mu(
    local_problem, recwarn
) -> None:
    X, y, g0 = local_problem
    seam = with_mods(LogisticRegressionClient(X, y, batch_size=8), [FedProxMod()])
    seam.fit(g0, {"proximal_mu": 0.1, "seed": 1})
    with_mods(OwnLoopClient(X, y), [FedProxMod()]).fit(g0, {"proximal_mu": 0.0})
    assert not [w for w in recwarn if "FedProx" in str(w.message)]


def test_fedprox_says_that_one_local_step_gives_fedavgs_update(local_problem) -> None:
    """One full-batch step starts at the global model, where mu (w - w_global) is 0: the
    update is FedAvg's to the bit, and FedProx said nothing of it."""
    X, y, g0 = local_problem
    client = with_mods(LogisticRegressionClient(X, y, batch_size=None), [FedProxMod()])
    with pytest.warns(UserWarning, match=r"FedProx: the client took one local step"):
        held = client.fit(g0, {"proximal_mu": 10.0, "seed": 1}).parameters
    free = client.fit(g0, {"proximal_mu": 0.0, "seed": 1}).parameters
    for a, b in zip(held, free, strict=True):
        assert a.tobytes() == b.tobytes()


def test_fedprox_does_not_say_the_term_was_zero_where_the_one_step_started_off_the_global_model(
    local_problem,
) -> None:
    """With a LocalLayersMod inside FedProxMod, round 2's one step starts at the client's kept
    bias, not at the global model: mu (w - w_global) is not 0 there, and mu changes the personal
    bias (mu=10 against mu=0: [4.02 4.20 5.04] against [-0.97 -0.79 0.03]). The mod still said
    the step was taken at the global model, where the term is 0."""
    X, y, g0 = local_problem
    round_2 = [g0[0] + 0.1, g0[1] + 5.0]

    def second_round(mu: float) -> tuple[np.ndarray, list[str]]:
        client = LogisticRegressionClient(X, y, batch_size=None)
        held = with_mods(client, [FedProxMod(), LocalLayersMod([1])])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            held.fit(g0, {"proximal_mu": mu, "seed": 1})  # the client keeps its own bias
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            held.fit(round_2, {"proximal_mu": mu, "seed": 1})
        said = [str(w.message) for w in caught if "FedProx: the client took one" in str(w.message)]
        return np.asarray(client.state[STATE_KEY][0]), said

    pulled, said = second_round(10.0)
    assert said == []
    assert not np.allclose(pulled, second_round(0.0)[0])  # the term acted


def test_the_term_fedprox_installs_is_a_proximal_term(local_problem) -> None:
    """FedProxMod installed a private watcher in place of the public ProximalTerm: a mod that
    looks for one in local_training.corrections (to not apply FedProx twice) saw none."""
    X, y, g0 = local_problem
    installed: list = []

    def probe(call, call_next):  # type: ignore[no-untyped-def]
        installed.extend(call.local_training.corrections)
        return call_next(call)

    client = with_mods(LogisticRegressionClient(X, y, batch_size=8), [FedProxMod(), probe])
    client.fit(g0, {"proximal_mu": 0.5, "seed": 1})
    terms = [c for c in installed if isinstance(c, ProximalTerm)]
    assert len(terms) == 1
    assert terms[0].mu == 0.5
    assert all(np.array_equal(a, b) for a, b in zip(terms[0].anchor, g0, strict=True))


def test_fedprox_says_one_step_gives_fedavgs_update_for_a_float64_model_on_a_float32_client() -> (
    None
):
    """The watch compared the float32 parameters a torch client trains with the float64 global
    model exactly: a global whose values float32 cannot hold never matched, so the one step
    from the global model (the update within 1.5e-8 of mu=0's) passed as a step the term acted
    on, and the warning was not given."""
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl import TorchClient

    generator = torch.Generator().manual_seed(0)
    X = torch.randn(16, 4, generator=generator)
    y = torch.randint(0, 3, (16,), generator=generator)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    client = with_mods(
        TorchClient(model, DataLoader(TensorDataset(X, y), batch_size=16)), [FedProxMod()]
    )
    # float64 values a float32 client holds only rounded
    g64 = [p.detach().numpy().astype(np.float64) + 1e-3 / 3 for p in model.parameters()]
    assert any(not np.array_equal(p.astype(np.float32), p) for p in g64)
    with pytest.warns(UserWarning, match=r"FedProx: the client took one local step"):
        client.fit(g64, {"proximal_mu": 10.0, "seed": 1, "local_epochs": 1})

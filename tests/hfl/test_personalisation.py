"""Personalised FL: personal arrays and models never leave a client, persist across rounds on
every executor, and personalised methods beat FedAvg on the mean client accuracy when the
clients' label distributions differ (Dirichlet 0.1)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from rengo.core.errors import ProtocolError
from rengo.core.messages import Config, FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import (
    Client,
    Ditto,
    DittoMod,
    FedAvg,
    FedAvgFineTune,
    FedBN,
    FedPer,
    FedRep,
    FedRepMod,
    FineTuneMod,
    LocalLayersMod,
    LogisticRegressionClient,
    get_strategy,
    simulate,
    softmax_init,
    with_mods,
)
from rengo.hfl.strategy.personalised import personalised_valuation_caveat
from rengo.tracking import RunStore


def _fit(client: Client, params: Parameters, config: Config) -> FitResult:
    return client.fit(params, config)


def test_personal_arrays_from_the_round_config_never_leave_the_client(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    X, y = client_data["0"]
    base = LogisticRegressionClient(X, y, lr=0.5, local_epochs=2, batch_size=8)
    client = with_mods(base, [LocalLayersMod()])
    start = softmax_init(4, 3)
    reply = client.fit(start, {"personal_arrays": "-1", "seed": 1})
    np.testing.assert_array_equal(reply.parameters[1], start[1])  # the bias went nowhere
    assert not np.array_equal(reply.parameters[0], start[0])  # the weights were shared
    kept = base.state["local_layers"][0]
    assert np.abs(kept).sum() > 0
    again = client.fit(start, {"personal_arrays": "-1", "seed": 2})
    np.testing.assert_array_equal(again.parameters[1], start[1])
    with pytest.raises(ProtocolError, match="personal_arrays"):
        with_mods(LogisticRegressionClient(X, y), [LocalLayersMod()]).fit(start, {})
    with pytest.raises(ValueError, match="out of range"):
        client.fit(start, {"personal_arrays": "5"})


def test_a_client_may_bring_a_head_for_its_own_label_set(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    """Different targets: a two-class client keeps a two-class head while the global model
    holds a three-class placeholder (softmax regression: the head is everything, so this
    client trains alone - the point is the shapes)."""
    X, y = client_data["1"]
    y2 = (y > 0).astype(int)
    own = [np.zeros((4, 2)), np.zeros(2)]
    client = with_mods(
        LogisticRegressionClient(X, y2, lr=0.5, batch_size=8),
        [LocalLayersMod([0, 1], initial=lambda cid: own)],
    )
    global_model = softmax_init(4, 3)
    reply = client.fit(global_model, {"seed": 0})
    assert [p.shape for p in reply.parameters] == [(4, 3), (3,)]  # what the coordinator sees
    accuracy = client.evaluate(global_model, {}).metrics["accuracy"]
    assert accuracy > 0.7  # evaluated with its own two-class head


def test_fedrep_trains_the_head_then_the_body_and_keeps_the_head(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    X, y = client_data["2"]
    seen: list[tuple[set[int], Any]] = []

    class Recording(LogisticRegressionClient):
        def fit(self, parameters: Parameters, config: Config) -> FitResult:
            seen.append((set(self.local_training.frozen), config.get("local_epochs")))
            return super().fit(parameters, config)

    client = with_mods(Recording(X, y, lr=0.5, batch_size=8), [FedRepMod((-1,), 3, 1)])
    start = softmax_init(4, 3)
    reply = client.fit(start, {"seed": 0})
    assert seen == [({0}, 3), ({1}, 1)]  # head first (body frozen), then the body
    np.testing.assert_array_equal(reply.parameters[1], start[1])
    assert not np.array_equal(reply.parameters[0], start[0])


def test_ditto_keeps_a_personal_model_and_evaluates_it(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    X, y = client_data["3"]
    plain = LogisticRegressionClient(X, y, lr=0.3, batch_size=8)
    ditto = LogisticRegressionClient(X, y, lr=0.3, batch_size=8)
    wrapped = with_mods(ditto, [DittoMod()])
    start = softmax_init(4, 3)
    config = {"seed": 4, "ditto_lambda": 0.5, "personal_epochs": 3}
    reply = wrapped.fit(start, config)
    want = plain.fit(start, {"seed": 4})
    for a, b in zip(reply.parameters, want.parameters, strict=True):  # the global update
        np.testing.assert_array_equal(a, b)
    personal = ditto.state["ditto_personal"]
    assert not np.array_equal(personal[0], reply.parameters[0])
    personal_acc = wrapped.evaluate(start, {}).metrics["accuracy"]
    global_acc = plain.evaluate(start, {}).metrics["accuracy"]
    assert personal_acc > global_acc  # the personal model, not the (untrained) global one


def test_fine_tuning_before_evaluation_leaves_the_client_state_alone(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    X, y = client_data["4"]
    base = LogisticRegressionClient(X, y, lr=0.3, batch_size=8)
    base.state["kept"] = [np.ones(2)]
    tuned = with_mods(base, [FineTuneMod(), LocalLayersMod([1])])
    start = softmax_init(4, 3)
    before = base.evaluate(start, {}).metrics["accuracy"]
    after = tuned.evaluate(start, {"finetune_epochs": 3, "finetune_seed": 1}).metrics["accuracy"]
    assert after > before
    assert set(base.state) == {"kept"}  # the inner LocalLayersMod's fit left no trace


def test_strategies_join_job_files_with_their_options() -> None:
    assert get_strategy("FedRep").cls is FedRep
    assert {"personal_arrays", "head_epochs", "body_epochs"} <= set(get_strategy("FedRep").options)
    assert {"ditto_lambda", "personal_epochs"} <= set(get_strategy("Ditto").options)
    assert "finetune_epochs" in get_strategy("FedAvgFineTune").options
    with pytest.raises(ValueError, match="FedBN needs personal_arrays"):
        FedBN()
    with pytest.raises(ValueError, match="personal_arrays"):
        FedPer(personal_arrays="x")
    assert FedPer().fraction_evaluate == 1.0  # every client evaluated: per-client metrics


# -- whole runs -------------------------------------------------------------------------------


def dirichlet_clients(num_clients: int = 10, seed: int = 0) -> dict[str, tuple[Any, ...]]:
    """Digits among clients by Dirichlet(0.1) label skew; each client's rows split 3:1 into
    its own train and test sets (its test set follows its own label distribution)."""
    from sklearn.datasets import load_digits

    from rengo.data import dirichlet_partition

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    parts = dirichlet_partition(y, num_clients, alpha=0.1, seed=seed, min_size=20)
    rng = np.random.default_rng(seed)
    out = {}
    for k, idx in enumerate(parts):
        idx = rng.permutation(idx)
        cut = len(idx) // 4
        out[str(k)] = (X[idx[cut:]], y[idx[cut:]], X[idx[:cut]], y[idx[:cut]])
    return out


def torch_client_fn(data: dict[str, tuple[Any, ...]]) -> Callable[[str], Client]:
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_client import TorchClient, make_mlp, seed_torch

    def build(cid: str) -> Client:
        X, y, X_test, y_test = data[cid]
        seed_torch(0)
        loader = lambda a, b, s: DataLoader(  # noqa: E731
            TensorDataset(torch.from_numpy(a), torch.from_numpy(b)), batch_size=16, shuffle=s
        )
        return TorchClient(
            make_mlp(64, 10, (32,)), loader(X, y, True), loader(X_test, y_test, False), lr=0.05
        )

    return build


def client_accuracies(store: RunStore, run_id: str, rounds: int) -> dict[str, float]:
    return {
        r.client_id: float(r.metrics["accuracy"])
        for r in store.client_records(run_id)
        if r.phase == "evaluate" and r.round == rounds and r.status == "ok"
    }


@pytest.mark.timeout(600)
def test_personalised_methods_beat_fedavg_under_dirichlet_label_skew(tmp_path: Any) -> None:
    torch = pytest.importorskip("torch")
    from rengo.hfl.torch_client import get_parameters, make_mlp, seed_torch

    torch.set_num_threads(1)
    data = dirichlet_clients()
    seed_torch(0)
    init = get_parameters(make_mlp(64, 10, (32,)))
    rounds, k = 5, len(data)
    strategies = {
        "FedAvg": FedAvg(fraction_evaluate=1.0, min_fit_clients=k, min_evaluate_clients=1),
        "FedAvg+fine-tune": FedAvgFineTune(min_fit_clients=k),
        "FedRep": FedRep(min_fit_clients=k),
        "Ditto": Ditto(min_fit_clients=k),
    }
    mean = {}
    with RunStore(tmp_path / "runs.db") as store:
        for name, strategy in strategies.items():
            history = simulate(
                torch_client_fn(data), k, strategy, init, rounds, seed=3, store=store, run_name=name
            )
            accuracies = client_accuracies(store, history.run_id or "", rounds)
            assert set(accuracies) == set(data)  # the store keeps every client's accuracy
            mean[name] = float(np.mean(list(accuracies.values())))
    print(mean)
    for name in ("FedAvg+fine-tune", "FedRep", "Ditto"):
        assert mean[name] > mean["FedAvg"] + 0.1, mean


class Remembering(LogisticRegressionClient):
    """Reports, in its fit metrics, whether it found personal state from an earlier round."""

    def fit(self, parameters: Parameters, config: Config) -> FitResult:
        kept = float(bool({"local_layers", "ditto_personal"} & set(self.state)))
        result = super().fit(parameters, config)
        return FitResult(result.parameters, result.num_examples, {**result.metrics, "kept": kept})


def _numpy_client_fn(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> Callable[[str], Client]:
    def build(cid: str) -> Client:
        X, y = client_data[cid]
        n = len(y) * 3 // 4
        return Remembering(X[:n], y[:n], X[n:], y[n:], lr=0.3, batch_size=8)

    return build


def _run(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]], strategy: type, executor: str
) -> list[dict[str, float]]:
    history = simulate(
        _numpy_client_fn(client_data), 6, strategy(min_fit_clients=6), softmax_init(4, 3), 3,
        seed=2, executor=executor, workers=2,
    )  # fmt: skip
    return [r.metrics for r in history.rounds]


@pytest.mark.parametrize("strategy", [FedRep, Ditto, FedPer])
def test_personal_state_persists_alike_on_every_executor(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]], strategy: type
) -> None:
    """Every client finds its personal state from round 2 on, and the same seed gives the
    same personalised per-client metrics, on the serial and process executors."""
    serial = _run(client_data, strategy, "serial")
    assert [m["train_kept"] for m in serial] == [0.0, 1.0, 1.0]
    assert _run(client_data, strategy, "process") == serial


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_personal_state_persists_on_ray(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]], ray_with_tests: None
) -> None:
    got = _run(client_data, Ditto, "ray")
    assert got == _run(client_data, Ditto, "serial")
    assert [m["train_kept"] for m in got] == [0.0, 1.0, 1.0]


class _Observer:
    """Contribution accounting's view: the coordinator's global model, round by round."""

    values_each_update = True  # as a ContributionTracker says (rengo.hfl.observer_fit)

    def __init__(self) -> None:
        self.rounds: list[int] = []

    def on_fit_result(self, server_round: int, *_: object) -> None:
        pass

    def on_round_end(self, server_round: int, *_: object) -> None:
        self.rounds.append(server_round)


@pytest.mark.parametrize(
    ("strategy", "says"),
    [
        (FedPer(), "FedPer keeps arrays -2,-1 (personal_arrays) on each client"),
        (FedRep(personal_arrays="-1"), "FedRep keeps arrays -1"),
        (FedBN(personal_arrays="-1"), "FedBN keeps arrays -1"),
        (Ditto(), "Ditto trains a personal model on each client"),
        (FedAvgFineTune(), "FedAvgFineTune fine-tunes the global model on each client"),
    ],
)
def test_observing_a_personalised_run_warns_that_values_describe_the_global_model(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]], strategy: Any, says: str
) -> None:
    """Contribution accounting values the coordinator's model, which under these strategies
    no client uses as is (FedPer's head there is the initial one): simulate() used to run
    such a valuation silently."""
    observer = _Observer()
    with pytest.warns(UserWarning, match="contribution values") as caught:
        simulate(
            _numpy_client_fn(client_data), 6, strategy, softmax_init(4, 3), 1,
            observers=[observer],
        )  # fmt: skip
    message = " ".join(str(w.message) for w in caught)
    assert says in message and "not on the personalised models the clients use" in message
    assert observer.rounds == [1]
    wrapped = type("Wrapper", (), {"strategy": strategy})()  # e.g. DifferentialPrivacy(...)
    assert personalised_valuation_caveat(wrapped) == personalised_valuation_caveat(strategy)
    assert personalised_valuation_caveat(FedAvg()) is None


def test_a_personalised_run_without_observers_or_fedavg_with_them_does_not_warn(
    client_data: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        simulate(_numpy_client_fn(client_data), 6, FedPer(), softmax_init(4, 3), 1)
        simulate(
            _numpy_client_fn(client_data), 6, FedAvg(), softmax_init(4, 3), 1,
            observers=[_Observer()],
        )  # fmt: skip

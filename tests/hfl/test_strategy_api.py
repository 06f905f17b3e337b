"""The Strategy API: a seeded generator in aggregate_fit, round metrics from it, explicit
server state, old-style subclasses kept working, and a strategy defined in its own module
showing up in job files and the CLI through the registry."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from typer.testing import CliRunner

from rengo.core.errors import ConfigError
from rengo.core.messages import FitResult
from rengo.hfl import (
    Aggregate,
    DifferentialPrivacy,
    FedAdam,
    FedAvg,
    FedOptState,
    Scaffold,
    ScaffoldState,
    WeightedSum,
    get_strategy,
    register_strategy,
    simulate,
    strategy_registry,
)
from rengo.jobs import build_strategy, parse_job

INIT = [np.zeros((4, 3)), np.zeros(3)]


@register_strategy(name="test_noisyavg")
@dataclass
class NoisyAvg(FedAvg):
    """FedAvg plus Gaussian noise of scale ``sigma`` (a stand-in for DP-FedAvg's noise)."""

    sigma: float = 0.01
    rounds_seen: int = 0
    label: str | None = None

    def aggregate_fit(self, server_round, parameters, acc, rng=None):
        assert rng is not None
        mean = acc.mean()
        noise = [rng.normal(scale=self.sigma, size=m.shape) for m in mean]
        norm = float(np.sqrt(sum(np.sum(n * n) for n in noise)))
        return Aggregate([m + n for m, n in zip(mean, noise, strict=True)], {"noise_norm": norm})


def _noisy(logistic_client_fn, executor: str, seed: int, store=None):
    return simulate(
        logistic_client_fn, 6, NoisyAvg(min_fit_clients=3, fraction_fit=0.5), INIT, 3,
        seed=seed, executor=executor, workers=2, store=store,
    )  # fmt: skip


def test_aggregation_noise_is_seeded_by_the_run_seed_on_every_executor(logistic_client_fn) -> None:
    serial, process = (
        _noisy(logistic_client_fn, "serial", 1),
        _noisy(logistic_client_fn, "process", 1),
    )
    other = _noisy(logistic_client_fn, "serial", 2)
    for a, b in zip(serial.parameters, process.parameters, strict=True):
        assert a.tobytes() == b.tobytes()
    assert serial.metric("noise_norm") == process.metric("noise_norm")
    assert serial.metric("noise_norm") != other.metric("noise_norm")


def test_strategy_metrics_join_the_round_and_the_run_store(logistic_client_fn, tmp_path) -> None:
    from rengo.tracking import RunStore

    with RunStore(tmp_path / "runs.db") as store:
        history = _noisy(logistic_client_fn, "serial", 1, store)
        series = store.round_metrics(history.run_id)["noise_norm"]
    assert [r for r, _ in series] == [1, 2, 3]
    assert [v for _, v in series] == [v for _, v in history.metric("noise_norm")]
    assert all(v > 0 for _, v in series)


def test_a_strategy_metric_may_not_shadow_the_loops_own(logistic_client_fn) -> None:
    class Shadowing(FedAvg):
        def aggregate_fit(self, server_round, parameters, acc, rng=None):
            return Aggregate(
                super().aggregate_fit(server_round, parameters, acc, rng), {"train_loss": 0.0}
            )

    with pytest.raises(ValueError, match="'train_loss', which collides"):
        simulate(logistic_client_fn, 3, Shadowing(), INIT, 1)


def test_an_old_style_aggregate_fit_still_works_with_a_deprecation_warning(
    logistic_client_fn,
) -> None:
    class Halving(FedAvg):  # written against the previous release: no rng parameter
        def aggregate_fit(self, server_round, parameters, acc):
            return [m / 2 for m in super().aggregate_fit(server_round, parameters, acc)]

    with pytest.warns(
        DeprecationWarning, match=r"aggregate_fit\(server_round, parameters, acc\)"
    ) as caught:
        halved = simulate(logistic_client_fn, 3, Halving(min_fit_clients=3), INIT, 1, seed=3)
    # attributed to the strategy's own method (attributed to rengo, Python hid it)
    assert {w.filename for w in caught} == {__file__}
    plain = simulate(logistic_client_fn, 3, FedAvg(min_fit_clients=3), INIT, 1, seed=3)
    for h, p in zip(halved.parameters, plain.parameters, strict=True):
        np.testing.assert_array_equal(h, p / 2)
    # wrapped in DP-FedAvg it runs too (DP called it with the generator: a TypeError)
    with pytest.warns(DeprecationWarning, match="stops working in rengo 0.3"):
        private = DifferentialPrivacy(Halving(), noise_multiplier=0.5)
    simulate(logistic_client_fn, 3, private, INIT, 1, seed=3)


def test_the_rng_may_be_keyword_only_or_taken_by_keywords(logistic_client_fn) -> None:
    """A keyword-only ``rng`` was called positionally: a TypeError after round 1's training."""
    given: list[object] = []

    class KeywordOnly(FedAvg):
        def aggregate_fit(self, server_round, parameters, acc, *, rng=None):
            given.append(rng)
            return super().aggregate_fit(server_round, parameters, acc, rng)

    class Keywords(FedAvg):
        def aggregate_fit(self, server_round, parameters, acc, **options):
            given.append(options["rng"])
            return super().aggregate_fit(server_round, parameters, acc, options["rng"])

    for strategy in (KeywordOnly(min_fit_clients=3), Keywords(min_fit_clients=3)):
        simulate(logistic_client_fn, 3, strategy, INIT, 1, seed=3)
    assert len(given) == 2 and all(isinstance(g, np.random.Generator) for g in given)


def _results(strategy, x, seed: int) -> WeightedSum:
    rng = np.random.default_rng(seed)
    acc = strategy.accumulator(1, x)
    for i in range(3):
        arrays = [r + rng.normal(size=r.shape) for r in strategy.result_reference(x)]
        strategy.add_result(acc, str(i), FitResult(arrays, 10 + i))
    return acc


def test_fedadam_state_is_an_explicit_dataclass_replaced_not_mutated() -> None:
    strategy = FedAdam()
    strategy.initialize(INIT)
    before = strategy.server_state
    assert isinstance(before, FedOptState) and not np.any(before.m[0])
    strategy.aggregate_fit(1, INIT, _results(strategy, INIT, 0), np.random.default_rng(0))
    after = strategy.server_state
    assert after is not before and not np.any(before.m[0]) and np.any(after.m[0])
    assert strategy.state_dict().keys() == {"m", "v"}


def test_scaffold_state_holds_c_and_the_clients_available() -> None:
    strategy = Scaffold(fraction_fit=0.5)
    strategy.initialize(INIT)
    strategy.configure_fit(1, INIT, [str(i) for i in range(8)], np.random.default_rng(0))
    state = strategy.server_state
    assert isinstance(state, ScaffoldState) and state.num_clients == 8
    assert [c.dtype for c in state.c] == [np.float32, np.float32]


def test_state_of_another_strategy_is_refused() -> None:
    adam = FedAdam()
    adam.initialize(INIT)
    with pytest.raises(ValueError, match="FedAvg keeps none"):
        FedAvg().load_state_dict(adam.state_dict())
    with pytest.raises(ValueError, match="expected \\['m', 'v'\\]"):
        FedAdam().load_state_dict({"c": [np.zeros(3)], "num_clients": 4})


# -- the registry -------------------------------------------------------------------------------


def test_every_builtin_strategy_is_registered_with_its_own_options() -> None:
    registry = strategy_registry()
    assert {"fedavg", "fedprox", "fedadagrad", "fedadam", "fedyogi", "scaffold"} <= set(registry)
    assert {"fedmedian", "fedtrimmedavg", "krum", "fedavgm"} <= set(registry)
    krum = registry["krum"].options
    assert {k: (o.type, o.default) for k, o in krum.items()} == {
        "num_byzantine": (int, 1),
        "num_selected": (int, 1),
    }
    assert set(registry["fedadam"].options) == {"eta", "beta_1", "beta_2", "tau"}
    assert set(registry["fedavgm"].options) == {"server_learning_rate", "server_momentum"}
    assert "fedopt" not in registry  # an abstract base is not a choice


def _job(strategy: dict) -> dict:
    return {"job": {"rounds": 1}, "model": {"type": "logistic"}, "strategy": strategy}


def test_a_strategy_in_its_own_module_appears_in_job_files_typed() -> None:
    spec = parse_job(_job({"name": "test_noisyavg", "sigma": 1, "rounds_seen": 4, "label": "x"}))
    assert spec.strategy.options == {"sigma": 1.0, "rounds_seen": 4, "label": "x"}
    assert isinstance(spec.strategy.options["sigma"], float)
    built = build_strategy(spec)
    assert isinstance(built, NoisyAvg) and built.sigma == 1.0 and built.rounds_seen == 4
    assert get_strategy("TEST_NOISYAVG").cls is NoisyAvg


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sigmaa": 0.1}, "unknown key 'sigmaa'; did you mean 'sigma'"),
        ({"sigma": "loud"}, "strategy.sigma must be float, got str"),
        ({"rounds_seen": 1.5}, "strategy.rounds_seen must be int"),
        ({"sigma": True}, "strategy.sigma must be float, got a boolean"),
    ],
)
def test_bad_options_of_a_registered_strategy_name_the_fix(options, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_job(_job({"name": "test_noisyavg", **options}))


def test_an_unknown_strategy_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="unknown strategy 'fedadamm'; did you mean 'fedadam'"):
        get_strategy("fedadamm")


def test_a_strategys_own_range_check_is_a_config_error_in_a_job() -> None:
    with pytest.raises(ConfigError, match="fedprox: proximal_mu must be >= 0"):
        parse_job(_job({"name": "fedprox", "proximal_mu": -1.0}))


def test_rengo_strategies_lists_every_registered_strategy() -> None:
    from rengo.cli.main import app

    result = CliRunner().invoke(app, ["strategies"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in ("fedavg", "krum", "scaffold", "test_noisyavg"):
        assert name in result.output
    assert "num_byzantine (int) = 1" in result.output
    assert "serial" in result.output and "process" in result.output


def test_a_flower_style_evaluate_fn_is_refused_when_the_strategy_is_built() -> None:
    """Flower's ``evaluate_fn(server_round, parameters, config)`` failed only after the first
    round had trained, with Python's bare "missing 1 required positional argument"."""

    def flower_evaluate(server_round: int, parameters: list, config: dict) -> tuple:
        return 0.0, {}

    with pytest.raises(TypeError, match=r"evaluate_fn\(server_round, parameters\).*Flower's"):
        FedAvg(evaluate_fn=flower_evaluate)
    with pytest.raises(TypeError, match=r"on_fit_config is called as on_fit_config\(server"):
        FedAvg(on_fit_config=lambda: {})
    with pytest.raises(TypeError, match="must be a callable"):
        FedAvg(evaluate_fn=3)  # type: ignore[arg-type]
    FedAvg(evaluate_fn=lambda server_round, parameters, config=None: (0.0, {}))  # a default


def test_a_strategy_without_aggregate_fit_is_refused_when_built_saying_what_to_subclass() -> None:
    """A Flower-style subclass of the base Strategy that overrides only configure_fit failed
    at round 1 with a bare NotImplementedError, after the clients had trained."""
    from rengo.hfl import Strategy

    @dataclass
    class OnlyConfigures(Strategy):
        def fit_config(self, server_round: int) -> dict:
            return {"lr": 0.1}

    with pytest.raises(TypeError, match=r"OnlyConfigures subclasses Strategy without aggregate"):
        OnlyConfigures()


class Unsendable:
    """A value the wire cannot carry, as a torch tensor is."""


def test_a_round_config_the_wire_cannot_carry_is_refused_naming_the_key() -> None:
    """on_fit_config returning None failed with "'NoneType' object is not iterable", and one
    holding a tensor with "cannot encode values of type Tensor" (which key?)."""
    with pytest.raises(TypeError, match=r"on_fit_config\(3\) returned NoneType, not a dict"):
        FedAvg(on_fit_config=lambda r: None).fit_config(3)  # type: ignore[arg-type,return-value]
    strategy = FedAvg(
        fraction_evaluate=1.0, on_evaluate_config=lambda r: {"lr": 0.1, "step": Unsendable()}
    )  # type: ignore[dict-item]
    with pytest.raises(TypeError, match=r"on_evaluate_config\(2\) returned 'step' as a Unsend"):
        strategy.configure_evaluate(2, [np.zeros(2)], ["a", "b"], np.random.default_rng(0))
    assert FedAvg(on_fit_config=lambda r: {"lr": 0.1 * r, "tag": "x"}).fit_config(2) == {
        "lr": 0.2,
        "tag": "x",
    }

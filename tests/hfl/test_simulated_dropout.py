"""Simulated dropouts and stragglers: the same seed loses the same clients in the same rounds
on every executor, at the rates asked for, before they train, and the run store records each
loss with its reason while the round goes on with the others."""

from __future__ import annotations

import numpy as np
import pytest

from rengo.core.errors import RoundFailure
from rengo.core.messages import EvaluateIns, FitIns
from rengo.core.options import OptionError
from rengo.hfl import (
    FedAvg,
    FedAvgFineTune,
    LogisticRegressionClient,
    SimulatedClientLoss,
    SimulatedDropout,
    client_seed,
    simulate,
)
from rengo.hfl.mods.chain import FIT, ClientCall
from rengo.tracking import RunStore


def _client_fn(client_data):
    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = client_data[str(int(cid) % len(client_data))]
        return LogisticRegressionClient(X, y, lr=0.1)

    return client_fn


def _run(client_data, executor: str, seed: int, mod: SimulatedDropout, store=None):
    strategy = FedAvg(
        fraction_fit=0.5, min_fit_clients=3, fraction_evaluate=0.25, min_evaluate_clients=2
    )
    init = [np.zeros((4, 3)), np.zeros(3)]
    return simulate(
        _client_fn(client_data),
        40,
        strategy,
        init,
        4,
        seed=seed,
        executor=executor,
        workers=2,
        client_mods=[mod],
        store=store,
    )


def test_same_seed_drops_the_same_clients_and_ends_bit_identical_on_every_executor(
    client_data,
) -> None:
    mod = SimulatedDropout(dropout=0.2, stragglers=0.1)
    serial = _run(client_data, "serial", 3, mod)
    process = _run(client_data, "process", 3, mod)
    other = _run(client_data, "serial", 4, mod)
    assert [r.failures for r in serial.rounds] == [r.failures for r in process.rounds]
    assert sum(len(r.failures) for r in serial.rounds) > 0
    for a, b in zip(serial.parameters, process.parameters, strict=True):
        assert a.tobytes() == b.tobytes()
    assert [r.failures for r in serial.rounds] != [r.failures for r in other.rounds]


def test_lost_clients_are_recorded_with_their_reason_and_the_round_goes_on(
    client_data, tmp_path
) -> None:
    store = RunStore(tmp_path / "runs.db")
    history = _run(client_data, "serial", 0, SimulatedDropout(dropout=0.3), store=store)
    assert len(history.rounds) == 4
    assert store.get_run(history.run_id).status == "completed"
    lost = {c: why for r in history.rounds for c, why in r.failures.items()}
    assert lost and all("dropped out (simulated, dropout=0.3)" in why for why in lost.values())
    recorded = store.rounds(history.run_id)
    assert [r.num_failures for r in recorded] == [len(r.failures) for r in history.rounds]
    stats = {s.client_id: s for s in store.client_stats(history.run_id)}
    assert all("dropped out (simulated" in (stats[c].last_failure or "") for c in lost)


def test_a_dropped_client_never_trains(client_data) -> None:
    trained: list[str] = []

    class Counting(LogisticRegressionClient):
        def fit(self, parameters, config):  # type: ignore[no-untyped-def]
            trained.append(str(config["server_round"]))
            return super().fit(parameters, config)

    X, y = client_data["0"]
    mod = SimulatedDropout(dropout=1.0)
    call = ClientCall("0", FIT, FitIns([np.zeros((4, 3)), np.zeros(3)], {"seed": 5}), {})
    with pytest.raises(SimulatedClientLoss, match="dropped out"):
        mod(call, lambda c: Counting(X, y).fit(c.parameters, c.config))
    assert trained == []


def test_every_client_dropping_out_fails_the_round_as_documented(client_data) -> None:
    with pytest.raises(RoundFailure, match="min_fit_clients=3"):
        _run(client_data, "serial", 0, SimulatedDropout(dropout=1.0))


def test_loss_rates_match_the_settings_over_many_client_rounds() -> None:
    mod = SimulatedDropout(dropout=0.1, stragglers=0.05)
    reasons = [
        mod.loss_reason(client_seed(0, r, f"client-{c}"), f"client-{c}", r)
        for r in range(1, 41)
        for c in range(500)
    ]
    n = len(reasons)  # 20,000 draws: a rate's standard error is at most 0.0036
    dropped = sum(1 for why in reasons if why is not None and why.startswith("dropped out"))
    late = sum(1 for why in reasons if why is not None and why.startswith("missed the round"))
    assert abs(dropped / n - 0.1) < 0.012
    assert abs(late / n - 0.05) < 0.009


def test_a_lost_client_misses_that_rounds_evaluation_too_unless_told_otherwise() -> None:
    from rengo.core.messages import EvaluateIns
    from rengo.hfl.mods.chain import EVALUATE

    seed = next(s for s in range(1000) if SimulatedDropout(dropout=0.5).loss_reason(s, "0"))
    call = ClientCall("0", EVALUATE, EvaluateIns([np.zeros(1)], {"seed": seed}), {})
    with pytest.raises(SimulatedClientLoss):
        SimulatedDropout(dropout=0.5)(call, lambda c: "evaluated")
    assert SimulatedDropout(dropout=0.5, evaluate=False)(call, lambda c: "evaluated") == "evaluated"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dropout": 1.5}, "dropout"),
        ({"stragglers": -0.1}, "stragglers"),
        ({"dropout": 0.7, "stragglers": 0.4}, "at most 1"),
    ],
)
def test_rates_outside_zero_to_one_are_refused_naming_the_option(kwargs, match) -> None:
    with pytest.raises(OptionError, match=match):
        SimulatedDropout(**kwargs)


def test_simulated_losses_are_information_not_warnings(client_data, tmp_path, caplog) -> None:
    """30 rounds of [dropout] printed 55 warning lines, each saying what the job asked for."""
    import logging

    store = RunStore(tmp_path / "runs.db")
    with caplog.at_level(logging.INFO, logger="rengo.hfl"):
        history = _run(client_data, "serial", 0, SimulatedDropout(dropout=0.3), store=store)
    assert any(r.failures for r in history.rounds)
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert dropped and all(r.levelno == logging.INFO for r in dropped)
    events = [e for e in store.events(history.run_id) if "simulated" in e.message]
    assert events and {e.level for e in events} == {"info"}


def test_a_real_client_failure_is_still_a_warning(client_data, caplog) -> None:
    import logging

    class Broken(LogisticRegressionClient):
        def fit(self, parameters, config):  # type: ignore[no-untyped-def]
            raise RuntimeError("disk full")

    X, y = client_data["0"]
    strategy = FedAvg(fraction_fit=1.0, min_fit_clients=2, fraction_evaluate=0.0)
    ids = ["a", "b", "c"]
    with caplog.at_level(logging.INFO, logger="rengo.hfl"):
        simulate(
            lambda cid: Broken(X, y) if cid == "c" else LogisticRegressionClient(X, y),
            ids,
            strategy,
            [np.zeros((4, 3)), np.zeros(3)],
            1,
        )
    (line,) = [r for r in caplog.records if "dropped client c" in r.getMessage()]
    assert line.levelno == logging.WARNING


def test_simulated_losses_under_secagg_plus_are_information_not_warnings(
    client_data, tmp_path, caplog
) -> None:
    """Under SecAgg+ the loss happens in the masked-input stage: its reason starts
    'secagg.masked_input: raised rengo.hfl.SimulatedClientLoss', which was warned about (with
    a traceback hint) and stored as a warning event."""
    import logging

    from rengo.hfl.secagg.workflow import SecAggPlus

    store = RunStore(tmp_path / "runs.db")
    strategy = FedAvg(fraction_fit=1.0, min_fit_clients=5, fraction_evaluate=0.0)
    with caplog.at_level(logging.INFO, logger="rengo.hfl"):
        history = simulate(
            _client_fn(client_data),
            20,
            strategy,
            [np.zeros((4, 3)), np.zeros(3)],
            2,
            seed=1,
            client_mods=[SimulatedDropout(dropout=0.2, stragglers=0.1)],
            store=store,
            workflow=SecAggPlus(),
        )
    reasons = [why for r in history.rounds for why in r.failures.values()]
    assert reasons and all(why.startswith("secagg.masked_input: raised ") for why in reasons)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    events = [e for e in store.events(history.run_id) if "simulated" in e.message]
    assert events and {e.level for e in events} == {"info"}


@pytest.mark.parametrize(
    "reason, simulated",
    [
        ("raised rengo.hfl.SimulatedClientLoss: dropped out", True),
        ("evaluate: raised rengo.hfl.SimulatedClientLoss: dropped out", True),
        ("secagg.masked_input: raised rengo.hfl.SimulatedClientLoss: dropped out", True),
        ("raised RuntimeError: raised rengo.hfl.SimulatedClientLoss: copied text", False),
        ("raised rengo.hfl.SimulatedClientLossy: dropped out", False),
        ("timed out after 3.0s", False),
    ],
)
def test_a_simulated_loss_is_told_by_the_type_the_client_raised(reason, simulated) -> None:
    from rengo.hfl.failure_log import is_simulated_loss

    assert is_simulated_loss(reason) is simulated


def test_a_seed_in_the_round_config_does_not_make_clients_drop_together(client_data) -> None:
    """A user's on_fit_config returning {"seed": ...} (the coordinator keeps it) gave every
    client the same draw: all 10 sampled clients dropped in round 2 and the run failed."""
    strategy = FedAvg(
        fraction_fit=0.25,
        min_fit_clients=2,
        fraction_evaluate=0.0,
        on_fit_config=lambda server_round: {"seed": 1234 + server_round},
    )
    history = simulate(
        _client_fn(client_data),
        40,
        strategy,
        [np.zeros((4, 3)), np.zeros(3)],
        6,
        seed=0,
        client_mods=[SimulatedDropout(dropout=0.3)],
    )
    lost = [len(r.failures) for r in history.rounds]
    assert len(lost) == 6
    # a shared draw loses all 10 clients or none; independent draws lose some, in most rounds
    assert any(0 < n < 10 for n in lost), lost
    assert len({tuple(sorted(r.failures)) for r in history.rounds}) > 1


class _EvaluationLog(LogisticRegressionClient):
    """Appends "round client" to a file each time it evaluates (seen across processes)."""

    def __init__(self, X, y, cid: str, log: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(X, y, lr=0.1)
        self._cid, self._log = cid, log

    def evaluate(self, parameters, config):  # type: ignore[no-untyped-def]
        with open(self._log, "a", encoding="utf-8") as out:
            out.write(f"{config['server_round']} {self._cid}\n")
        return super().evaluate(parameters, config)


@pytest.mark.parametrize("executor", ["serial", "process"])
def test_a_client_lost_from_training_misses_that_rounds_evaluation_whatever_the_fit_seed(
    client_data, tmp_path, executor
) -> None:
    """With on_fit_config returning {"seed": ...}, the fit draw used the user's seed and the
    evaluation draw the coordinator's: clients lost from training evaluated, and clients that
    trained were lost from evaluation. Every client is sampled in both phases here."""
    log = str(tmp_path / "evaluated.txt")

    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = client_data[str(int(cid) % len(client_data))]
        return _EvaluationLog(X, y, cid, log)

    strategy = FedAvg(
        fraction_fit=1.0,
        min_fit_clients=1,
        fraction_evaluate=1.0,
        min_evaluate_clients=1,
        on_fit_config=lambda server_round: {"seed": 1234 + server_round},
    )
    history = simulate(
        client_fn,
        12,
        strategy,
        [np.zeros((4, 3)), np.zeros(3)],
        4,
        seed=0,
        executor=executor,
        workers=2,
        client_mods=[SimulatedDropout(dropout=0.3)],
    )
    with open(log, encoding="utf-8") as lines:
        evaluated = {tuple(line.split()) for line in lines}
    lost_in_fit = {(str(r.server_round), c) for r in history.rounds for c in r.fit_failures}
    lost_in_evaluation_only = {
        (str(r.server_round), c) for r in history.rounds for c in r.evaluation_failures
    }
    assert lost_in_fit, "the test needs losses to check"
    assert len(evaluated) + len(lost_in_fit) == 4 * 12  # every client, every round: one or other
    assert not lost_in_fit & evaluated
    assert lost_in_evaluation_only == set()


class _ConfigLog(LogisticRegressionClient):
    """Keeps (phase, client, config) of every fit and evaluation it is asked for (serial)."""

    def __init__(self, X, y, cid: str, seen: list) -> None:  # type: ignore[no-untyped-def]
        super().__init__(X, y, lr=0.1)
        self._cid, self._seen = cid, seen

    def fit(self, parameters, config):  # type: ignore[no-untyped-def]
        self._seen.append(("fit", self._cid, dict(config)))
        return super().fit(parameters, config)

    def evaluate(self, parameters, config):  # type: ignore[no-untyped-def]
        self._seen.append(("evaluate", self._cid, dict(config)))
        return super().evaluate(parameters, config)


def _logging_clients(client_data, seen: list):  # type: ignore[no-untyped-def]
    """A client_fn whose clients keep every fit and evaluation config in ``seen``."""

    def client_fn(cid: str) -> LogisticRegressionClient:
        X, y = client_data[str(int(cid) % len(client_data))]
        return _ConfigLog(X, y, cid, seen)

    return client_fn


class _OneInstructionForAll(FedAvg):
    """Hands every client one FitIns and one EvaluateIns, as Flower's FedAvg does."""

    def configure_fit(self, server_round, parameters, client_ids, rng):  # type: ignore[no-untyped-def]
        ins = FitIns(parameters, dict(self.fit_config(server_round)))
        return [(cid, ins) for cid in sorted(client_ids)]

    def configure_evaluate(self, server_round, parameters, client_ids, rng):  # type: ignore[no-untyped-def]
        ins = EvaluateIns(parameters, {})
        return [(cid, ins) for cid in sorted(client_ids, reverse=True)]


def _phases_agree(client_data, strategy, seen: list):  # type: ignore[no-untyped-def]
    client_fn = _logging_clients(client_data, seen)

    history = simulate(
        client_fn,
        12,
        strategy,
        [np.zeros((4, 3)), np.zeros(3)],
        4,
        seed=0,
        client_mods=[SimulatedDropout(dropout=0.3)],
    )
    evaluated = {(c["server_round"], cid) for phase, cid, c in seen if phase == "evaluate"}
    lost_in_fit = {(r.server_round, c) for r in history.rounds for c in r.fit_failures}
    assert lost_in_fit, "the test needs losses to check"
    assert len(evaluated) + len(lost_in_fit) == 4 * 12  # every client, every round: one or other
    assert not lost_in_fit & evaluated
    assert not [c for r in history.rounds for c in r.evaluation_failures]
    return history


def test_a_strategy_sharing_one_instruction_still_gives_each_client_its_own_seed(
    client_data,
) -> None:
    """The coordinator wrote each client's seed into the one config dict all its clients
    shared: every client got the last one's seed (2 distinct values for 12 clients in a
    round), and 11 client-rounds lost from training still evaluated."""
    seen: list = []
    _phases_agree(
        client_data,
        _OneInstructionForAll(fraction_fit=1.0, min_fit_clients=1, min_evaluate_clients=1),
        seen,
    )
    for phase, cid, config in seen:
        assert config["coordinator_seed"] == client_seed(0, config["server_round"], cid), phase


def test_a_server_round_in_the_round_config_neither_parts_the_phases_nor_reaches_clients(
    client_data,
) -> None:
    """on_fit_config returning its own "server_round" (a 0-based counter) gave the fit and
    evaluation draws different rounds: 11 client-rounds lost from training still evaluated.
    The coordinator's round now replaces it, with a warning naming the key."""
    seen: list = []
    strategy = FedAvg(
        fraction_fit=1.0,
        min_fit_clients=1,
        fraction_evaluate=1.0,
        min_evaluate_clients=1,
        on_fit_config=lambda server_round: {"server_round": server_round - 1},
    )
    with pytest.warns(UserWarning, match=r"set 'server_round', which the coordinator sends"):
        _phases_agree(client_data, strategy, seen)
    fit_rounds = sorted({c["server_round"] for phase, _, c in seen if phase == "fit"})
    assert fit_rounds == [1, 2, 3, 4]


def test_a_coordinator_seed_in_the_round_config_is_replaced_with_a_warning(
    client_data, recwarn
) -> None:
    """A round config's "coordinator_seed" was overwritten with no word; the coordinator's
    value still reaches the clients, and now a warning names the key. A "server_round" equal
    to the round (Flower's usual on_fit_config) is no conflict and stays silent."""
    seen: list = []

    client_fn = _logging_clients(client_data, seen)

    strategy = FedAvg(
        fraction_fit=1.0,
        min_fit_clients=1,
        fraction_evaluate=1.0,
        min_evaluate_clients=1,
        on_fit_config=lambda server_round: {"coordinator_seed": 7, "server_round": server_round},
    )
    simulate(client_fn, 3, strategy, [np.zeros((4, 3)), np.zeros(3)], 2, seed=0)
    messages = [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)]
    assert any("set 'coordinator_seed'" in m for m in messages), messages
    assert not any("set 'server_round'" in m for m in messages), messages
    for phase, cid, config in seen:
        assert config["coordinator_seed"] == client_seed(0, config["server_round"], cid), phase


@pytest.mark.parametrize("evaluate", [False, True])
def test_fine_tuning_before_an_evaluation_is_dropped_only_as_the_evaluation_is(
    client_data, evaluate
) -> None:
    """Under FedAvgFineTune the fine-tuning fit inside each evaluation went through the mod as
    a training fit: with evaluate=False the clients lost from training were lost from
    evaluation too (10 of 12 evaluated in round 1), and no evaluation failure was recorded."""
    seen: list = []

    client_fn = _logging_clients(client_data, seen)

    strategy = FedAvgFineTune(
        fraction_fit=1.0,
        min_fit_clients=1,
        fraction_evaluate=1.0,
        min_evaluate_clients=1,
        finetune_epochs=1,
    )
    history = simulate(
        client_fn,
        12,
        strategy,
        [np.zeros((4, 3)), np.zeros(3)],
        4,
        seed=0,
        client_mods=[SimulatedDropout(dropout=0.3, evaluate=evaluate)],
    )
    evaluated = {(c["server_round"], cid) for phase, cid, c in seen if phase == "evaluate"}
    lost_in_fit = {(r.server_round, c) for r in history.rounds for c in r.fit_failures}
    assert lost_in_fit, "the test needs losses to check"
    assert not [c for r in history.rounds for c in r.evaluation_failures]
    if evaluate:  # the same draw: lost from training, lost from evaluation, and no other
        assert len(evaluated) + len(lost_in_fit) == 4 * 12
        assert not lost_in_fit & evaluated
    else:  # no one is lost from evaluation
        assert len(evaluated) == 4 * 12


def test_a_round_config_cannot_mark_training_fits_as_evaluation(client_data) -> None:
    """An on_fit_config returning {"evaluation_fit": True} made SimulatedDropout(evaluate=False)
    take every training fit as part of the evaluation: 0 of 48 training fits lost (11 without
    the key), with no word. The key is the mods' own: the coordinator removes it from training
    fits, with a warning, and the clients are lost from training as without it."""
    seen: list = []

    client_fn = _logging_clients(client_data, seen)

    def lost(on_fit_config):  # type: ignore[no-untyped-def]
        strategy = FedAvg(fraction_fit=1.0, min_fit_clients=1, on_fit_config=on_fit_config)
        history = simulate(
            client_fn,
            12,
            strategy,
            [np.zeros((4, 3)), np.zeros(3)],
            4,
            seed=0,
            client_mods=[SimulatedDropout(dropout=0.3, evaluate=False)],
        )
        return {(r.server_round, c) for r in history.rounds for c in r.fit_failures}

    without_key = lost(lambda server_round: {})
    assert without_key, "the test needs losses to check"
    with pytest.warns(UserWarning, match=r"set 'evaluation_fit'.*removed it"):
        with_key = lost(lambda server_round: {"evaluation_fit": True})
    assert with_key == without_key
    assert not [c for phase, _, c in seen if phase == "fit" and "evaluation_fit" in c]


@pytest.mark.parametrize("as_given", [str, float])
def test_a_server_round_equal_to_the_round_as_str_or_float_is_no_conflict(
    client_data, recwarn, as_given
) -> None:
    """An on_fit_config returning the round as "3" or 3.0 (Flower's Scalar allows both) was
    warned about as a value that "replaced the strategy's", for every client of every round
    (the reviewer's noise.py: 18 warnings for 6 clients x 3 rounds). It is the same round:
    no warning, and clients get the round as the coordinator's int."""
    seen: list = []

    client_fn = _logging_clients(client_data, seen)

    strategy = FedAvg(
        fraction_fit=1.0,
        min_fit_clients=1,
        fraction_evaluate=0.0,
        on_fit_config=lambda server_round: {"server_round": as_given(server_round)},
    )
    simulate(client_fn, 3, strategy, [np.zeros((4, 3)), np.zeros(3)], 2, seed=0)
    messages = [str(w.message) for w in recwarn if issubclass(w.category, UserWarning)]
    assert not any("set 'server_round'" in m for m in messages), messages
    rounds = sorted({(type(c["server_round"]), c["server_round"]) for _, _, c in seen})
    assert rounds == [(int, 1), (int, 2)]


def test_the_key_marking_the_fine_tuning_fit_is_exported_with_the_mods(client_data) -> None:
    """Docstrings told users to rely on EVALUATION_FIT_KEY, but rengo.hfl.mods did not export
    it (it did export COORDINATOR_SEED_KEY). Under FedAvgFineTune the fine-tuning fits carry
    it as True, and the training fits do not."""
    from rengo.hfl.mods import EVALUATION_FIT_KEY

    seen: list = []

    client_fn = _logging_clients(client_data, seen)

    strategy = FedAvgFineTune(
        fraction_fit=1.0,
        min_fit_clients=1,
        fraction_evaluate=1.0,
        min_evaluate_clients=1,
        finetune_epochs=1,
    )
    simulate(client_fn, 3, strategy, [np.zeros((4, 3)), np.zeros(3)], 2, seed=0)
    marks = [c.get(EVALUATION_FIT_KEY) for phase, _, c in seen if phase == "fit"]
    # 3 clients x 2 rounds: a training fit, then a fine-tuning fit before the evaluation
    assert (marks.count(True), marks.count(None), len(marks)) == (6, 6, 12)

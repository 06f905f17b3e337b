"""Local DP-SGD in the PyTorch adapter (Opacus): per-example clipping, an epsilon that grows
across rounds from the persisted accountant, the same model on every executor, and a budget
that makes the client leave before it is exceeded (the run stops cleanly when too few are
left)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from rengo.core.errors import ConfigError  # noqa: E402
from rengo.core.options import OptionError  # noqa: E402
from rengo.hfl import FedAvg, simulate  # noqa: E402
from rengo.hfl.torch_client import TorchClient, get_parameters, make_mlp  # noqa: E402
from rengo.privacy import LocalDP  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

gen = torch.Generator().manual_seed(0)
X = torch.randn(200, 6, generator=gen)
Y = (X[:, 0] > 0).long()
DATA = {str(i): TensorDataset(X[i * 50 : (i + 1) * 50], Y[i * 50 : (i + 1) * 50]) for i in range(4)}


def _client_fn(dp: LocalDP):
    def build(cid: str) -> TorchClient:
        loader = DataLoader(DATA[cid], batch_size=10, shuffle=True)
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp)

    return build


def _init():
    torch.manual_seed(0)
    return get_parameters(make_mlp(6, 2, (8,)))


def test_epsilon_grows_across_rounds_and_matches_opacus_accountant() -> None:
    from opacus.accountants import RDPAccountant

    dp = LocalDP(noise_multiplier=1.1, max_grad_norm=1.0)
    history = simulate(_client_fn(dp), 4, FedAvg(min_fit_clients=4), _init(), 3, seed=0)
    eps = [v for _, v in history.metric("train_dp_epsilon")]
    assert eps[0] < eps[1] < eps[2]
    reference = RDPAccountant()
    reference.history = [(1.1, 1 / 5, 15)]  # 5 Poisson batches a round, 3 rounds
    assert eps[2] == pytest.approx(reference.get_epsilon(1e-5), rel=1e-9)


def test_empty_poisson_batches_are_noised_steps_that_the_accountant_counts() -> None:
    """With 20 rows in batches of 1 (q = 0.05) a third of the Poisson batches are empty; they
    were skipped unaccounted, so the reported epsilon was Opacus's for about 67 steps instead
    of the 100 the mechanism ran (3.50 vs 4.04), and a target epsilon could be overrun."""
    from opacus.accountants import RDPAccountant

    torch.manual_seed(0)
    rows = TensorDataset(torch.randn(20, 6), torch.randint(0, 2, (20,)))
    dp = LocalDP(noise_multiplier=1.0, max_grad_norm=1.0)
    client = TorchClient(make_mlp(6, 2, (8,)), DataLoader(rows, batch_size=1), lr=0.5, dp=dp)
    start = get_parameters(client.model)
    result = client.fit(start, {"local_epochs": 5, "seed": 0})
    reference = RDPAccountant()
    reference.history = [(1.0, 1 / 20, 100)]  # every one of 5 x 20 Poisson steps
    assert result.metrics["dp_epsilon"] == pytest.approx(reference.get_epsilon(1e-5), rel=1e-9)
    assert all(np.isfinite(p).all() for p in result.parameters)
    assert np.isfinite(result.metrics["loss"])  # the empty batches' NaN mean loss is left out


def test_same_model_on_every_executor() -> None:
    with pytest.warns(UserWarning, match="seeded_noise"):  # reproducible noise: tests only
        dp = LocalDP(noise_multiplier=1.0, seeded_noise=True)
    serial = simulate(_client_fn(dp), 4, FedAvg(min_fit_clients=4), _init(), 2, seed=3)
    process = simulate(
        _client_fn(dp), 4, FedAvg(min_fit_clients=4), _init(), 2, seed=3,
        executor="process", workers=2,
    )  # fmt: skip
    for a, b in zip(serial.parameters, process.parameters, strict=True):
        assert a.tobytes() == b.tobytes()


def test_per_example_clipping_bounds_one_examples_influence() -> None:
    # Without noise, one step moves the model by at most lr * max_grad_norm * (examples in
    # the batch) / (expected batch size), whatever the data: scale the inputs by 1e4 and
    # the step stays bounded.
    with pytest.warns(UserWarning, match="does not hold"):
        dp = LocalDP(noise_multiplier=1e-6, max_grad_norm=0.1, poisson_sampling=False)
    with pytest.raises(OptionError, match="Poisson-sampled batches only"):
        LocalDP(target_epsilon=5.0, poisson_sampling=False)
    big = TensorDataset(X[:10] * 1e4, Y[:10])
    client = TorchClient(make_mlp(6, 2, (8,)), DataLoader(big, batch_size=10), lr=1.0, dp=dp)
    start = _init()
    moved = client.fit(start, {"seed": 0}).parameters
    step = np.sqrt(sum(float(np.sum((m - s) ** 2)) for m, s in zip(moved, start, strict=True)))
    assert step <= 0.1 * 1.0 + 1e-4


def test_spent_local_budgets_stop_the_run_cleanly_with_the_last_rounds_model(tmp_path) -> None:
    # round 1 reaches epsilon 4.5 < 5; round 2 would reach 5.75: every client declines it
    from rengo.tracking import RunStore

    with pytest.warns(UserWarning, match="seeded_noise"):  # the two runs compare: tests only
        dp = LocalDP(noise_multiplier=1.0, target_epsilon=5.0, seeded_noise=True)
    store = RunStore(tmp_path / "runs.db")
    history = simulate(
        _client_fn(dp), 4, FedAvg(min_fit_clients=1), _init(), 3, seed=0, store=store
    )
    one_round = simulate(_client_fn(dp), 4, FedAvg(min_fit_clients=1), _init(), 1, seed=0)
    assert len(history.rounds) == 1
    assert history.stopped is not None
    assert "round 2 cannot be completed: the local privacy budget of 4 client(s)" in (
        history.stopped
    )
    for a, b in zip(history.parameters, one_round.parameters, strict=True):
        assert a.tobytes() == b.tobytes()
    run = store.get_run(history.run_id)
    assert run.status == "completed"
    events = [e.message for e in store.events(history.run_id)]
    assert any("its local privacy budget is spent" in m for m in events)
    assert any("round 2 cannot be completed" in m for m in events)


def test_a_client_whose_budget_is_spent_leaves_and_the_others_train_on() -> None:
    # clients 0 and 1 can afford one round, 2 and 3 every round: from round 2 on only 2 and
    # 3 train, and clients 0 and 1 are not asked again after they declined once
    tight = LocalDP(noise_multiplier=1.0, target_epsilon=5.0)
    loose = LocalDP(noise_multiplier=1.0, target_epsilon=50.0)

    def build(cid: str) -> TorchClient:
        loader = DataLoader(DATA[cid], batch_size=10, shuffle=True)
        dp = tight if cid in {"0", "1"} else loose
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp)

    history = simulate(build, 4, FedAvg(min_fit_clients=2), _init(), 3, seed=0)
    assert history.stopped is None and len(history.rounds) == 3
    assert set(history.rounds[1].failures) == {"0", "1"}
    assert all("PrivacyBudgetExhausted" in r for r in history.rounds[1].failures.values())
    assert sorted(history.rounds[2].clients) == ["2", "3"]
    assert not history.rounds[2].failures


def test_a_sampled_client_out_of_budget_makes_its_round_run_again_without_it(tmp_path) -> None:
    # 10 clients, 3 sampled a round; clients 0-2 cannot afford even one round, so a round
    # that samples one of them falls short: it is run again without them, and the run goes on
    from rengo.tracking import RunStore

    tight = LocalDP(noise_multiplier=1.0, target_epsilon=1.0)
    loose = LocalDP(noise_multiplier=1.0, target_epsilon=100.0)

    def build(cid: str) -> TorchClient:
        i = int(cid)
        loader = DataLoader(TensorDataset(X[i * 20 : (i + 1) * 20], Y[i * 20 : (i + 1) * 20]))
        dp = tight if i < 3 else loose
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp)

    store = RunStore(tmp_path / "runs.db")
    strategy = FedAvg(fraction_fit=0.3, min_fit_clients=3, min_available_clients=3)
    history = simulate(build, 10, strategy, _init(), 5, seed=1, store=store)
    assert history.stopped is None and len(history.rounds) == 5
    assert all(not r.failures and not {"0", "1", "2"} & set(r.clients) for r in history.rounds)
    events = [e.message for e in store.events(history.run_id)]
    again = [m for m in events if "is run again without client(s)" in m]
    assert again, events
    assert store.get_run(history.run_id).status == "completed"


def test_the_dp_sgd_noise_is_not_the_coordinators_seed() -> None:
    """TorchClient seeds torch with the round seed the coordinator sends, and Opacus drew
    the noise and the Poisson batches from torch's default generator: the coordinator (the
    adversary local DP protects against) could replay them. Two datasets one record apart
    gave models 0.056 apart under z = 50 with the same seed (a fresh draw moves them by 33),
    so the one record's effect was visible in the clear."""
    rows = TensorDataset(X[:40], Y[:40])
    start = _init()

    def fit(data: TensorDataset, **options: object) -> np.ndarray:
        dp = LocalDP(noise_multiplier=50.0, max_grad_norm=1.0, **options)
        client = TorchClient(make_mlp(6, 2, (8,)), DataLoader(data, batch_size=10), lr=0.5, dp=dp)
        result = client.fit(start, {"seed": 7, "local_epochs": 3})
        return np.concatenate([p.ravel() for p in result.parameters])

    neighbour_x, neighbour_y = X[:40].clone(), Y[:40].clone()
    neighbour_x[3], neighbour_y[3] = -5 * neighbour_x[3], 1 - neighbour_y[3]
    neighbour = TensorDataset(neighbour_x, neighbour_y)
    # same seed, neighbouring data: the difference is noise-sized (z C lr / batch = 2.5 a
    # step), not the record's clipped gradient
    assert np.abs(fit(rows) - fit(neighbour)).max() > 1.0
    with pytest.warns(UserWarning, match="seeded_noise"):
        seeded = fit(rows, seeded_noise=True), fit(neighbour, seeded_noise=True)
    assert np.abs(seeded[0] - seeded[1]).max() < 1.0  # the old draws: the noise cancels


def test_a_restarted_client_keeps_its_spent_budget_in_its_history_file(tmp_path) -> None:
    """The accountant history lived only in the client's state, in memory: a deployed party
    that restarted came back with epsilon 0 and its whole target_epsilon again. With a
    history file the restarted client's epsilon counts the first life's steps (Opacus's for
    both rounds) and it declines the round that would exceed its budget."""
    from opacus.accountants import RDPAccountant

    from rengo.privacy import PrivacyBudgetExhausted

    path = tmp_path / "dp_history.json"

    def life(dp: LocalDP) -> TorchClient:  # a fresh process: empty state, same file
        loader = DataLoader(DATA["0"], batch_size=10)
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp, dp_history=path)

    dp = LocalDP(noise_multiplier=1.1, max_grad_norm=1.0)
    first = life(dp).fit(_init(), {"seed": 0})
    second = life(dp).fit(_init(), {"seed": 0})
    reference = RDPAccountant()
    reference.history = [(1.1, 1 / 5, 10)]  # 5 Poisson batches a round, 2 rounds
    assert second.metrics["dp_epsilon"] == pytest.approx(reference.get_epsilon(1e-5), rel=1e-9)
    assert second.metrics["dp_epsilon"] > first.metrics["dp_epsilon"]
    budget = LocalDP(noise_multiplier=1.1, target_epsilon=second.metrics["dp_epsilon"] + 1e-6)
    with pytest.raises(PrivacyBudgetExhausted):
        life(budget).fit(_init(), {"seed": 0})  # a third round would exceed it
    path.write_text("not a history")
    with pytest.raises(ConfigError, match="spent privacy budget is unknown"):
        life(dp).fit(_init(), {"seed": 0})


def test_runs_show_reports_the_worst_clients_local_epsilon(tmp_path) -> None:
    """'rengo runs show' had no privacy line for local DP, and the round's train_dp_epsilon
    is the clients' example-weighted mean (5.68 where the worst client stood at 7.41)."""
    from rich.console import Console

    from rengo.tracking import RunStore, run_detail
    from rengo.tracking.tables import epsilon_shown

    dp = LocalDP(noise_multiplier=1.0)

    def build(cid: str) -> TorchClient:  # batches of 10 or 25: different epsilons
        loader = DataLoader(DATA[cid], batch_size=10 if cid == "0" else 25)
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp)

    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(build, 3, FedAvg(min_fit_clients=3), _init(), 2, store=store)
        assert history.run_id is not None
        records = store.client_records(history.run_id)
        console = Console(width=200, record=True, color_system=None)
        console.print(run_detail(store, history.run_id))
    worst = max(r.metrics["dp_epsilon"] for r in records if r.phase == "fit" and r.metrics)
    assert worst > history.last("train_dp_epsilon")  # the mean understates it
    assert f"local DP: epsilon up to {epsilon_shown(worst)}" in console.export_text()


def test_a_local_delta_not_below_one_over_the_rows_is_refused() -> None:
    """LocalDP(delta=0.05) over 40 rows was accepted: a record-level guarantee with
    delta >= 1/n holds for a mechanism that publishes one record outright."""
    rows = DataLoader(TensorDataset(X[:40], Y[:40]), batch_size=10)
    with pytest.raises(ConfigError, match=r"delta = 0\.05 is not below 1/n = 0\.025"):
        TorchClient(make_mlp(6, 2, (8,)), rows, dp=LocalDP(delta=0.05))
    TorchClient(make_mlp(6, 2, (8,)), rows, dp=LocalDP(delta=0.02))


def test_dp_sgd_with_a_summing_loss_takes_the_steps_of_the_mean_loss_at_lr_over_batch() -> None:
    """Opacus was told every loss is a mean, so a reduction='sum' loss's per-example gradients
    were multiplied by the batch size before clipping (and the step went the wrong length)."""
    dp = LocalDP(noise_multiplier=1e-4, max_grad_norm=1e3, delta=1e-3, seeded_noise=True)
    loader = DataLoader(DATA["0"], batch_size=10, shuffle=True)  # expected Poisson batch: 10

    def trained(loss_fn: torch.nn.Module, lr: float) -> list[np.ndarray]:
        torch.manual_seed(0)
        model = make_mlp(6, 2, (8,))
        client = TorchClient(model, loader, lr=lr, loss_fn=loss_fn, dp=dp)
        return client.fit(get_parameters(model), {"seed": 3}).parameters

    mean = trained(torch.nn.CrossEntropyLoss(), 0.5)
    summed = trained(torch.nn.CrossEntropyLoss(reduction="sum"), 0.05)
    for a, b in zip(mean, summed, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


def _epsilon_of(accountant: str, entries: list[tuple[float, float, int]]) -> float:
    from opacus.accountants import create_accountant

    reference = create_accountant(accountant)
    reference.history = entries
    return float(reference.get_epsilon(1e-5))


@pytest.mark.parametrize("accountant", ["rdp", "prv", "gdp"])
def test_a_budget_that_fits_one_round_stops_the_second_with_every_accountant(accountant) -> None:
    """The budget check composed the round onto the history by appending an entry, and
    Opacus's GDP accountant reads only the last entry: with accountant = 'gdp' it saw the
    new round alone, so a client with a budget for one round trained on (epsilon 2.38, then
    3.53 and 4.46 over a target of 2.95)."""
    from rengo.privacy import PrivacyBudgetExhausted

    one, two = (_epsilon_of(accountant, [(1.0, 1 / 5, n)]) for n in (5, 10))
    dp = LocalDP(noise_multiplier=1.0, target_epsilon=(one + two) / 2, accountant=accountant)
    client = TorchClient(make_mlp(6, 2, (8,)), DataLoader(DATA["0"], batch_size=10), dp=dp)
    first = client.fit(_init(), {"seed": 0})
    assert first.metrics["dp_epsilon"] == pytest.approx(one, rel=1e-6)
    with pytest.raises(PrivacyBudgetExhausted):
        client.fit(_init(), {"seed": 1})


def test_a_gdp_history_file_left_by_a_crash_keeps_both_rounds(tmp_path) -> None:
    """A client writes its planned steps before training; a crash left them as a second entry
    beside the first round's, and the GDP accountant's first step kept only the last: the
    restarted client reported the epsilon of 2 rounds where it had taken steps for 3."""
    path = tmp_path / "dp_history.json"
    path.write_text("[[1.0, 0.2, 5], [1.0, 0.2, 5]]")  # round 1, then round 2 cut short
    dp = LocalDP(noise_multiplier=1.0, accountant="gdp")
    loader = DataLoader(DATA["0"], batch_size=10)
    client = TorchClient(make_mlp(6, 2, (8,)), loader, dp=dp, dp_history=path)
    result = client.fit(_init(), {"seed": 0})
    expected = _epsilon_of("gdp", [(1.0, 1 / 5, 15)])
    assert result.metrics["dp_epsilon"] == pytest.approx(expected, rel=1e-9)


def test_runs_show_gives_the_delta_of_the_local_epsilon(tmp_path) -> None:
    """The local-DP privacy line gave an epsilon without its delta ("epsilon up to 3.18 (client
    3, the worst of 4)"), and the run records no LocalDP settings to read it from: each
    client now reports the delta its epsilon is at."""
    from rich.console import Console

    from rengo.tracking import RunStore, run_detail
    from rengo.tracking.tables import epsilon_shown

    dp = LocalDP(noise_multiplier=1.0, delta=1e-4)
    with RunStore(tmp_path / "runs.db") as store:
        history = simulate(_client_fn(dp), 2, FedAvg(min_fit_clients=2), _init(), 1, store=store)
        assert history.run_id is not None
        console = Console(width=200, record=True, color_system=None)
        console.print(run_detail(store, history.run_id))
    worst = history.last("train_dp_epsilon")  # the two clients' epsilons are equal
    shown = f"local DP: epsilon up to {epsilon_shown(worst)} at delta 0.0001 (client"
    assert shown in console.export_text()  # rounded up: never below the bound


def _interrupted_after_round_1(store, client_fn) -> str:
    def stop(record) -> None:
        if record.server_round == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(client_fn, 2, FedAvg(), _init(), 3, store=store, progress=stop)
    (run,) = store.list_runs()
    return run.run_id


def test_a_resumed_simulation_does_not_forget_its_clients_local_budgets(tmp_path) -> None:
    """A simulated client's DP-SGD accountant lives in its state, which a resume does not
    bring back: a run whose budget allowed 2 rounds trained 4 after an interruption, each
    client's epsilon starting again from 0. The resume is refused (the run stays
    interrupted) unless the clients keep their history in files, and then epsilon goes on."""
    from rengo.tracking import RunStore

    dp = LocalDP(noise_multiplier=1.0)
    with RunStore(tmp_path / "runs.db") as store:
        run_id = _interrupted_after_round_1(store, _client_fn(dp))
        with pytest.raises(ConfigError, match="start again from epsilon 0"):
            simulate(_client_fn(dp), 2, FedAvg(), _init(), 3, store=store, resume=run_id)
        assert store.get_run(run_id).status == "interrupted"

    def kept(cid: str) -> TorchClient:
        loader = DataLoader(DATA[cid], batch_size=10)
        history = tmp_path / f"dp_history_{cid}.json"
        return TorchClient(make_mlp(6, 2, (8,)), loader, lr=0.5, dp=dp, dp_history=history)

    with RunStore(tmp_path / "kept.db") as store:
        run_id = _interrupted_after_round_1(store, kept)
        resumed = simulate(kept, 2, FedAvg(), _init(), 3, store=store, resume=run_id)
    reference = _epsilon_of("rdp", [(1.0, 1 / 5, 15)])  # all three rounds' steps
    assert resumed.last("train_dp_epsilon") == pytest.approx(reference, rel=1e-9)


def test_a_spent_local_budget_says_how_many_steps_spent_it() -> None:
    """Opacus merges a client's rounds into one accountant entry, and the refusal counted
    entries as rounds: after three rounds it said "1 rounds spent epsilon = ..."."""
    from rengo.privacy import PrivacyBudgetExhausted

    budget = (_epsilon_of("rdp", [(1.0, 1 / 5, 15)]) + _epsilon_of("rdp", [(1.0, 1 / 5, 20)])) / 2
    dp = LocalDP(noise_multiplier=1.0, target_epsilon=budget)
    client = TorchClient(make_mlp(6, 2, (8,)), DataLoader(DATA["0"], batch_size=10), dp=dp)
    for seed in range(3):
        client.fit(_init(), {"seed": seed})
    with pytest.raises(PrivacyBudgetExhausted, match="budget reached: 15 DP-SGD steps spent"):
        client.fit(_init(), {"seed": 3})

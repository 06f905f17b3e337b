"""``rengo demo``: the showcase on bundled data, recorded in the embedded run store.

Part 1 - horizontal FL: 10 clients hold Dirichlet(0.5) label-skewed slices of scikit-learn's
digits; an MLP is trained with FedAvg, with FedAdam and with DP-FedAvg (its epsilon shown),
next to the same MLP trained centrally on the union of the clients' data (what federation
must approach without collecting the data). Accuracies side by side (training time apart
from the time the Shapley accounting adds), a plot with the centralised line, then each
client's Shapley contribution and its share of a reward pool.
Part 2 - vertical FL: the credit-default consortium on real credit data (a sample of the UCI
table ships with rengo): PSI, Paillier, hetero LR and SecureBoost side by side, scoring, how
much federating adds over the card issuer alone, and the Shapley split of that gain paid
from a pool.
Part 3 - transfer learning: a bank and an online shop with different features and few shared
customers (secure FTL against the shop alone, with a plot).
Part 4 - a prediction tournament paid by CORR and MMC.
Every part is a run in the store: ``rengo runs list``.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from rengo.core.errors import MissingExtraError
from rengo.core.install_hint import install_hint
from rengo.core.messages import FitResult
from rengo.core.parameters import Parameters
from rengo.hfl import History, simulate
from rengo.jobs import HflJob, build_hfl_job, parse_job
from rengo.jobs.vertical import log_vertical_epochs
from rengo.privacy.epsilon_text import epsilon_shown
from rengo.rewards import DEFAULT_CURRENCY, currency_decimals
from rengo.showcase.credit_contribution import credit_party_contribution
from rengo.showcase.credit_default import SMALL_CUSTOMERS, run_credit_default
from rengo.showcase.demo_contribution import (
    DEMO_BUDGET_MINOR,
    contribution_section,
    demo_tracker,
)
from rengo.showcase.tournament_cast import FIVE_PARTICIPANTS
from rengo.showcase.transfer_story import plot_transfer_story, run_transfer_story
from rengo.tournament import simulate_tournament
from rengo.tracking import (
    RunStore,
    leaderboard_table,
    open_run,
    pay_rewards,
    plot_runs,
    record_contributions,
    resolve_store_path,
)
from rengo.tracking.tournament_records import record_tournament_round, tournament_summary
from rengo.vfl import RichVerticalProgress

DEMO_TRAIN: dict[str, Any] = {"lr": 0.1, "local_epochs": 2, "batch_size": 32}


DEMO_DP: dict[str, Any] = {"dp": "central", "noise_multiplier": 0.3, "clip_norm": 1.0}
"""The demo's DP-FedAvg run: every client every round, Gaussian noise of 0.3 x the clip norm
(a weak guarantee with ten clients - client-level DP needs many clients to be strong)."""


DEMO_EXTRAS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "PyTorch"),
    "privacy": ("dp_accounting", "Google's dp-accounting"),
}
"""The extras the demo needs, each with the module it imports and what that is: its
horizontal part trains PyTorch MLPs, one of them under central DP with its epsilon."""


def check_demo_extras() -> None:
    """Refuse to start the demo, naming the command that installs what it lacks, before it
    trains (and records) anything.

    Raises
    ------
    MissingExtraError
        When a module of :data:`DEMO_EXTRAS` is not installed.
    """
    missing: dict[str, str] = {}
    for extra, (module, what) in DEMO_EXTRAS.items():
        try:
            importlib.import_module(module)  # the demo imports it anyway
        except ImportError:
            missing[extra] = what
    if missing:
        raise MissingExtraError(
            f"rengo demo needs {' and '.join(missing.values())}: {install_hint(','.join(missing))}"
        )


def demo_job(
    strategy: dict[str, Any],
    rounds: int,
    clients: int,
    seed: int,
    privacy: dict[str, Any] | None = None,
) -> HflJob:
    """The demo's horizontal job: digits, Dirichlet(0.5) over ``clients``, MLP 64-64, with an
    optional ``[privacy]`` section."""
    extra = {"privacy": privacy} if privacy else {}
    spec = parse_job(
        {
            **extra,
            "job": {
                "name": f"demo-{strategy['name']}" + ("-dp" if privacy else ""),
                "seed": seed,
                "rounds": rounds,
            },
            # the DP run scales nothing: pooled statistics computed without noise are not
            # covered by its epsilon (the job warns)
            "data": {"dataset": "digits", "test_size": 0.2, "standardize": privacy is None},
            "partition": {"scheme": "dirichlet", "num_clients": clients, "alpha": 0.5},
            "model": {"type": "mlp", "hidden": [64, 64]},
            "train": DEMO_TRAIN,
            "strategy": strategy,
        },
        source="rengo demo",
    )
    return build_hfl_job(spec)


def centralised_accuracy(job: HflJob, epochs: int, seed: int) -> float:
    """Train the same MLP on the union of all clients' rows (the non-private upper line)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from rengo.hfl.torch_client import make_mlp, set_parameters

    fed = job.federation
    X = np.concatenate([d.X for d in fed.clients.values()]).astype(np.float32)
    y = np.concatenate([d.labels() for d in fed.clients.values()]).astype(np.int64)
    torch.manual_seed(seed)
    model = make_mlp(X.shape[1], fed.num_classes, tuple(job.spec.model.hidden))
    set_parameters(model, job.initial_parameters)
    loader = DataLoader(TensorDataset(torch.from_numpy(X), torch.from_numpy(y)), 32, shuffle=True)
    opt = torch.optim.SGD(model.parameters(), lr=DEMO_TRAIN["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny batches: one thread is fastest, as for the clients
    try:
        for _ in range(epochs):
            for xb, yb in loader:
                opt.zero_grad()
                loss_fn(model(xb), yb).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    from rengo.hfl.torch_client import get_parameters

    _, metrics = job.evaluate(get_parameters(model))
    return float(metrics["accuracy"])


def run_demo(
    console: Console,
    *,
    out: Path = Path("rengo-runs"),
    store_path: Path | None = None,
    rounds: int = 20,
    clients: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the showcase; returns its figures (also printed, plotted and stored).

    Parameters
    ----------
    console:
        Where the tables and progress go.
    out:
        Folder for the plots.
    store_path:
        The run store (default: ``$RENGO_STORE``, else ``./rengo-runs/runs.db``).
    rounds, clients:
        Federated rounds per strategy and simulated clients in the horizontal part.
    seed:
        Fixes the split, partition, training, the consortium and the tournament.

    Returns
    -------
    dict[str, Any]
        ``hfl`` (accuracies, times and run ids), ``plots``, ``contribution``, ``vertical``
        (the consortium's figures, its gain over the label party alone, the Shapley split
        and the run id), ``transfer`` (the shop's AUC alone and with FTL) and ``tournament``
        (net payouts in minor units and the run id).

    Raises
    ------
    MissingExtraError
        PyTorch or dp-accounting is not installed (the horizontal part trains MLPs, one under
        central DP), before anything runs; the message says how to install them.
    """
    check_demo_extras()
    out.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]rengo demo - horizontal FL on digits")
    results: dict[str, Any] = {"hfl": {}}
    with RunStore(resolve_store_path(store_path)) as store:
        fedavg = demo_job({"name": "fedavg"}, rounds, clients, seed)
        _describe_federation(console, fedavg)
        tracker = TimedObserver(demo_tracker(fedavg, seed))
        fedavg_history = _run_strategy(store, fedavg, rounds, seed, results, [tracker])
        timed = results["hfl"][fedavg.strategy.name]
        timed["contribution_s"] = tracker.seconds
        timed["wall_time_s"] -= tracker.seconds
        fedadam = demo_job({"name": "fedadam", "eta": 0.03}, rounds, clients, seed)
        fedadam_history = _run_strategy(store, fedadam, rounds, seed, results, [])
        private = demo_job({"name": "fedavg"}, rounds, clients, seed, DEMO_DP)
        private_history = _run_strategy(store, private, rounds, seed, results, [])
        epochs = rounds * DEMO_TRAIN["local_epochs"]
        results["hfl"]["centralised"] = centralised_run(store, fedavg, epochs, seed)
        _print_comparison(console, results["hfl"], rounds, epochs)
        histories = (fedavg_history, fedadam_history, private_history)
        run_ids = [h.run_id for h in histories if h.run_id]
        central = results["hfl"]["centralised"]["accuracy"]
        plot = plot_runs(
            store,
            run_ids,
            "central_accuracy",
            out / "demo-hfl-accuracy.png",
            baselines={f"centralised, all rows pooled ({central:.3f})": central},
        )
        console.print(f"plot: [bold]{plot}[/]   runs: `rengo runs show {run_ids[0]}`")
        results["plots"] = [str(plot)]
        console.rule("[bold]Who made the model good, and who gets paid")
        assert fedavg_history.run_id is not None
        results["contribution"] = contribution_section(
            console, fedavg, tracker.inner, store, fedavg_history.run_id, out
        )
        results["vertical"] = vertical_section(console, seed, store)
        results["transfer"] = transfer_section(console, seed, out)
        results["plots"].append(results["transfer"]["plot"])
        results["tournament"] = tournament_section(console, seed, store)
    return results


class TimedObserver:
    """A round observer that counts the seconds another one takes (the Shapley accounting),
    so the demo shows that time apart from training."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    def on_fit_result(
        self, server_round: int, global_parameters: Parameters, client_id: str, result: FitResult
    ) -> None:
        """Pass the result on, timed."""
        started = time.perf_counter()
        self.inner.on_fit_result(server_round, global_parameters, client_id, result)
        self.seconds += time.perf_counter() - started

    def on_attempt_abandoned(self, server_round: int, reason: str) -> None:
        """Pass an abandoned attempt on (the tracker forgets its updates)."""
        hook = getattr(self.inner, "on_attempt_abandoned", None)
        if callable(hook):
            hook(server_round, reason)

    def on_round_end(
        self, server_round: int, old: Parameters, new: Parameters, metrics: dict[str, float]
    ) -> None:
        """Pass the round on, timed."""
        started = time.perf_counter()
        self.inner.on_round_end(server_round, old, new, metrics)
        self.seconds += time.perf_counter() - started


def centralised_run(store: RunStore, job: HflJob, epochs: int, seed: int) -> dict[str, Any]:
    """Train the MLP on the pooled rows, recorded as a run of kind ``"centralised"``: the
    line the federated runs are measured against."""
    config = {"dataset": "digits", "model": "mlp", "epochs": epochs, "rows": "all pooled"}
    with store.run("centralised", config, name="demo-centralised", seed=seed) as run:
        start = time.perf_counter()
        accuracy = centralised_accuracy(job, epochs, seed)
        took = time.perf_counter() - start
        run.summary.update(central_accuracy=accuracy)
    return {"accuracy": accuracy, "wall_time_s": took, "run_id": run.run_id}


def vertical_section(console: Console, seed: int, store: RunStore | None = None) -> dict[str, Any]:
    """Part 2: a bank, a telecom and a card issuer train on each other's columns, on real
    credit data, with hetero LR and with SecureBoost (each next to the same kind of model
    trained centrally); how much federating adds, and its Shapley split paid from a pool. Recorded
    in ``store`` as a run of kind ``"vfl"`` with its contributions and payouts."""
    console.rule("[bold]Vertical FL - the credit-default consortium")
    console.print(
        "A card issuer knows what applicants told it and the credit line it granted; a bank "
        "knows their repayment status, a telecom their monthly bills and payments. Each misses "
        "customers the others have; only the card issuer knows who defaulted next month."
    )

    def say(message: str) -> None:
        console.print(message, highlight=False)

    config = {"dataset": "credit_default", "customers": SMALL_CUSTOMERS, "algorithm": "hetero_lr"}
    with open_run(store, "vfl", config, name="demo-credit", seed=seed) as run:
        with RichVerticalProgress(console) as bar:
            figures = run_credit_default(small=True, seed=seed, log=say, progress=bar)
        gain = figures["auc"] - figures["alone_auc"]
        console.print(
            f"[bold]Federating adds {gain:+.4f} AUC[/] on the new customers: the card issuer "
            f"alone {figures['alone_auc']:.4f}, the consortium {figures['auc']:.4f} (every "
            f"column pooled in one place: {figures['central_auc']:.4f})."
        )
        _print_vertical_comparison(console, figures)
        say("6. who made that gain: the bank's and the telecom's Shapley values")
        with console.status("retraining every coalition of the feature parties..."):
            valued = credit_party_contribution(
                small=True, seed=seed, budget_minor=DEMO_BUDGET_MINOR, log=say
            )
        figures["shapley"] = dict(valued.contribution.values)
        figures["payouts_minor"] = {p.participant: p.amount_minor for p in valued.payouts}
        if run.store is not None and run.run_id is not None:
            _record_vertical(run.store, run.run_id, figures, valued.contribution)
            say(f"   ledger: `rengo rewards show {run.run_id}`")
        run.summary.update(
            {k: figures[k] for k in ("auc", "ks", "alone_auc", "central_auc", "common_customers")},
            gain_auc=gain,
            train_seconds=figures["train_seconds"],
        )
        figures["run_id"] = run.run_id
    return figures


def _record_vertical(store: RunStore, run_id: str, figures: dict[str, Any], valued: Any) -> None:
    """The consortium's epochs, held-out scores, Shapley values and payouts, in the store."""
    log_vertical_epochs(
        store,
        run_id,
        figures["losses"],
        figures["epoch_seconds"],
        {"test_auc": figures["auc"], "test_ks": figures["ks"]},
        3,
        figures["train_seconds"],
    )
    record_contributions(store, run_id, valued.report())
    pay_rewards(
        store, run_id, "proportional", DEMO_BUDGET_MINOR, DEFAULT_CURRENCY, method=valued.method
    )


def _print_vertical_comparison(console: Console, figures: dict[str, Any]) -> None:
    """Both federated models' AUCs next to the centralised fits of the same model kinds."""
    table = Table(title="New customers' AUC: federated vs centralised", title_justify="left")
    table.add_column("model")
    table.add_column("data seen by the trainer")
    table.add_column("AUC", justify="right")
    table.add_column("train time", justify="right")
    table.add_row(
        f"hetero logistic regression, {figures['epochs']} epochs",
        "masked gradients only",
        f"{figures['auc']:.4f}",
        f"{figures['train_seconds']:.1f}s",
    )
    table.add_row(
        "central logistic regression", "all columns pooled", f"{figures['central_auc']:.4f}", ""
    )
    boosted = figures.get("secureboost")
    if boosted is not None:
        table.add_row(
            f"SecureBoost, {boosted['trees']} trees",
            "encrypted gradients, histogram sums",
            f"{boosted['auc']:.4f}",
            f"{boosted['train_seconds']:.1f}s",
        )
        table.add_row(
            "central gradient boosting (scikit-learn)",
            "all columns pooled",
            f"{figures['central_boosted_auc']:.4f}",
            "",
        )
    console.print(table)


def transfer_section(console: Console, seed: int, out: Path) -> dict[str, Any]:
    """Part 3: a bank and an online shop learn across their different features."""
    console.rule("[bold]Transfer learning - two firms, different customer data")
    console.print(
        "A bank knows bill and payment histories and who defaulted; an online shop knows "
        "other things about its own customers and has few labels. They share some customers."
    )
    story = run_transfer_story(
        security="plaintext", epochs=10, seed=seed, log=lambda m: console.print(m, highlight=False)
    )
    console.print(
        "(plaintext mode keeps the demo to seconds; security='homomorphic' trains the same "
        "model under Paillier encryption - examples/transfer runs it)"
    )
    plot = plot_transfer_story(story, out / "demo-transfer.png")
    console.print(f"plot: [bold]{plot}[/]")
    return {
        "dataset": story.dataset,
        "alone_auc": story.alone["auc"],
        "transfer_auc": story.transfer["auc"],
        "seconds": story.seconds,
        "plot": str(plot),
    }


def tournament_section(
    console: Console, seed: int, store: RunStore | None = None
) -> dict[str, Any]:
    """Part 4: a Numerai-style tournament where only predictions leave participants,
    recorded in ``store`` as a run of kind ``"tournament"`` (scores and the ledger)."""
    console.rule("[bold]Tournament - paid for predictions, by CORR and MMC")
    rounds = 6
    config = {"participants": len(FIVE_PARTICIPANTS), "rounds": rounds, "simulated": True}
    decimals = currency_decimals(DEFAULT_CURRENCY)
    with open_run(store, "tournament", config, name="demo-tournament", seed=seed) as run:
        sim = simulate_tournament(FIVE_PARTICIPANTS, rounds=rounds, seed=seed)
        if run.store is not None and run.run_id is not None:
            for result in sim.results:
                record_tournament_round(run.store, run.run_id, result, DEFAULT_CURRENCY, decimals)
        paid = [r.round for r in sim.results]
        run.summary.update(tournament_summary(sim.results, paid, DEFAULT_CURRENCY, decimals))
    entries = sim.tournament.leaderboard()
    title = f"Five participants after {rounds} rounds"
    console.print(leaderboard_table(entries, title, decimals, DEFAULT_CURRENCY))
    console.print(
        "good/medium/weak train models of different size, copycat submits the meta model, "
        "noise submits random numbers; `rengo tournament --help` runs one for real"
        + (f"; ledger: `rengo rewards show {run.run_id}`" if run.run_id else "")
    )
    return {
        "run_id": run.run_id,
        "payouts_minor": {e.participant: e.total_payout_minor for e in entries},
    }


def _run_strategy(
    store: RunStore,
    job: HflJob,
    rounds: int,
    seed: int,
    results: dict[str, Any],
    observers: list[Any],
) -> History:
    """Simulate one of the demo's strategies, recorded in ``store``; figures into results."""
    start = time.perf_counter()
    name = job.spec.job.name  # demo-fedavg, demo-fedadam, demo-fedavg-dp
    history = simulate(
        job.client_fn,
        job.client_ids,
        job.strategy,
        job.initial_parameters,
        rounds,
        seed=seed,
        store=store,
        run_name=name,
        run_config=job.run_config(
            {"dataset": "digits", "partition": "dirichlet(0.5)", "model": "mlp"}
        ),
        progress=True,
        observers=observers,
    )
    accuracies = [v for _, v in history.metric("central_accuracy")]
    results["hfl"][job.strategy.name] = {
        "run_id": history.run_id,
        "accuracy": accuracies[-1],
        "best_accuracy": max(accuracies),
        "wall_time_s": time.perf_counter() - start,
    }
    if "dp_epsilon" in history.metric_names():
        results["hfl"][job.strategy.name]["epsilon"] = history.last("dp_epsilon")
    return history


def _describe_federation(console: Console, job: HflJob) -> None:
    fed = job.federation
    sizes = fed.sizes()
    console.print(
        f"{fed.num_clients} clients, {int(sizes.sum())} training rows "
        f"(from {sizes.min()} to {sizes.max()} per client), Dirichlet(0.5) label skew: "
        f"mean label entropy {fed.mean_label_entropy():.2f} bits "
        f"(uniform would be {np.log2(fed.num_classes):.2f}); "
        f"held-out test set of {len(fed.test) if fed.test is not None else 0} rows."
    )


def _print_comparison(console: Console, hfl: dict[str, Any], rounds: int, epochs: int) -> None:
    table = Table(title="Test accuracy: federated vs centralised", title_justify="left")
    table.add_column("training", no_wrap=True)
    table.add_column("data seen")
    table.add_column("final accuracy", justify="right")
    table.add_column("best accuracy", justify="right")
    table.add_column("time", justify="right")
    table.add_column("+ Shapley", justify="right", no_wrap=True)
    for name, r in hfl.items():
        if name == "centralised":
            continue
        seen = "updates only"
        if "epsilon" in r:
            seen = f"noised, eps {epsilon_shown(r['epsilon'])}"  # (eps, 1e-5)-DP per client
        extra = r.get("contribution_s")
        table.add_row(
            f"{name}, {rounds} rounds",
            seen,
            f"{r['accuracy']:.3f}",
            f"{r['best_accuracy']:.3f}",
            f"{r['wall_time_s']:.1f}s",
            "-" if extra is None else f"+{extra:.1f}s",
        )
    c = hfl["centralised"]
    table.add_row(
        f"centralised, {epochs} epochs",
        "all rows",
        f"{c['accuracy']:.3f}",
        "",
        f"{c['wall_time_s']:.1f}s",
        "-",
    )
    console.print(table)
    console.print(
        "time: training and evaluation only; the Shapley accounting (GTG-Shapley every round, "
        "FedAvg only) is shown apart under + Shapley"
        + (
            "; eps: DP-FedAvg's (eps, delta = 1e-5) guarantee for any one client's data"
            if any("epsilon" in r for r in hfl.values())
            else ""
        ),
        style="dim",
    )

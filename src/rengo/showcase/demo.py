"""``rengo demo``: the showcase on bundled data, recorded in the embedded run store.

Part 1 - horizontal FL: 10 clients hold Dirichlet(0.5) label-skewed slices of scikit-learn's
digits; an MLP is trained with FedAvg, with FedAdam and with DP-FedAvg (its epsilon shown),
next to the same MLP trained centrally on the union of the clients' data (what federation
must approach without collecting the data). Accuracies side by side, a plot, then each
client's Shapley contribution and its share of a reward pool.
Part 2 - vertical FL: the credit-default consortium (PSI, Paillier, hetero LR and SecureBoost
side by side, scoring, each next to the same model trained centrally).
Part 3 - transfer learning: a bank and an online shop with different features and few shared
customers (secure FTL against the shop alone, with a plot).
Part 4 - a prediction tournament paid by CORR and MMC.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from rengo.hfl import History, simulate
from rengo.jobs import HflJob, build_hfl_job, parse_job
from rengo.showcase.credit_default import run_credit_default
from rengo.showcase.demo_contribution import contribution_section, demo_tracker
from rengo.showcase.tournament_cast import FIVE_PARTICIPANTS
from rengo.showcase.transfer_story import plot_transfer_story, run_transfer_story
from rengo.tournament import simulate_tournament
from rengo.tracking import RunStore, leaderboard_table, plot_runs, resolve_store_path

DEMO_TRAIN: dict[str, Any] = {"lr": 0.1, "local_epochs": 2, "batch_size": 32}


DEMO_DP: dict[str, Any] = {"dp": "central", "noise_multiplier": 0.3, "clip_norm": 1.0}
"""The demo's DP-FedAvg run: every client every round, Gaussian noise of 0.3 x the clip norm
(a weak guarantee with ten clients - client-level DP needs many clients to be strong)."""


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
            "job": {"name": f"demo-{strategy['name']}", "seed": seed, "rounds": rounds},
            "data": {"dataset": "digits", "test_size": 0.2, "standardize": True},
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
        The run store (default: ``./rengo-runs/runs.db`` or ``$RENGO_RUNS``).
    rounds, clients:
        Federated rounds per strategy and simulated clients in the horizontal part.
    seed:
        Fixes the split, partition, training, the consortium and the tournament.

    Returns
    -------
    dict[str, Any]
        ``hfl`` (accuracies and run ids), ``plots``, ``contribution``, ``vertical`` (the
        consortium's figures), ``transfer`` (the shop's AUC alone and with FTL) and
        ``tournament`` (net payouts in minor units).

    Raises
    ------
    ConfigError
        PyTorch is not installed (the horizontal part trains an MLP); the message says how
        to install it.
    """
    out.mkdir(parents=True, exist_ok=True)
    console.rule("[bold]rengo demo - horizontal FL on digits")
    results: dict[str, Any] = {"hfl": {}}
    with RunStore(resolve_store_path(store_path)) as store:
        fedavg = demo_job({"name": "fedavg"}, rounds, clients, seed)
        _describe_federation(console, fedavg)
        tracker = demo_tracker(fedavg, seed)
        fedavg_history = _run_strategy(store, fedavg, rounds, seed, results, [tracker])
        fedadam = demo_job({"name": "fedadam", "eta": 0.03}, rounds, clients, seed)
        fedadam_history = _run_strategy(store, fedadam, rounds, seed, results, [])
        private = demo_job({"name": "fedavg"}, rounds, clients, seed, DEMO_DP)
        _run_strategy(store, private, rounds, seed, results, [])
        start = time.perf_counter()
        epochs = rounds * DEMO_TRAIN["local_epochs"]
        central = centralised_accuracy(fedavg, epochs, seed)
        results["hfl"]["centralised"] = {
            "accuracy": central,
            "wall_time_s": time.perf_counter() - start,
        }
        _print_comparison(console, results["hfl"], rounds, epochs)
        run_ids = [h.run_id for h in (fedavg_history, fedadam_history) if h.run_id]
        plot = plot_runs(store, run_ids, "central_accuracy", out / "demo-hfl-accuracy.png")
        console.print(f"plot: [bold]{plot}[/]   runs: `rengo runs show {run_ids[0]}`")
        results["plots"] = [str(plot)]
        console.rule("[bold]Who made the model good, and who gets paid")
        assert fedavg_history.run_id is not None
        results["contribution"] = contribution_section(
            console, fedavg, tracker, store, fedavg_history.run_id, out
        )
    results["vertical"] = vertical_section(console, seed)
    results["transfer"] = transfer_section(console, seed, out)
    results["plots"].append(results["transfer"]["plot"])
    results["tournament"] = tournament_section(console, seed)
    return results


def vertical_section(console: Console, seed: int) -> dict[str, Any]:
    """Part 2: a bank, a telecom and a card issuer train on each other's columns, with hetero
    LR and with SecureBoost, each next to the same kind of model trained centrally."""
    console.rule("[bold]Vertical FL - the credit-default consortium")
    console.print(
        "A bank holds balance and bill columns, a telecom usage and payment columns, a card "
        "issuer the label 'defaulted next month'. Each misses customers the others have."
    )
    figures = run_credit_default(
        small=True, key_bits=1024, seed=seed, log=lambda m: console.print(m, highlight=False)
    )
    _print_vertical_comparison(console, figures)
    return figures


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


def tournament_section(console: Console, seed: int) -> dict[str, Any]:
    """Part 4: a Numerai-style tournament where only predictions leave participants."""
    console.rule("[bold]Tournament - paid for predictions, by CORR and MMC")
    rounds = 6
    sim = simulate_tournament(FIVE_PARTICIPANTS, rounds=rounds, seed=seed)
    entries = sim.tournament.leaderboard()
    console.print(leaderboard_table(entries, f"Five participants after {rounds} rounds (credits)"))
    console.print(
        "good/medium/weak train models of different size, copycat submits the meta model, "
        "noise submits random numbers; `rengo tournament --help` runs one for real"
    )
    return {e.participant: e.total_payout_minor for e in entries}


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
    name = f"demo-{job.spec.strategy.name}"
    history = simulate(
        job.client_fn,
        job.client_ids,
        job.strategy,
        job.initial_parameters,
        rounds,
        seed=seed,
        store=store,
        run_name=name,
        run_config={"dataset": "digits", "partition": "dirichlet(0.5)", "model": "mlp"},
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
    table.add_column("training")
    table.add_column("data seen by the trainer")
    table.add_column("final accuracy", justify="right")
    table.add_column("best accuracy", justify="right")
    table.add_column("wall time", justify="right")
    for name, r in hfl.items():
        if name == "centralised":
            continue
        seen = "none (model updates only)"
        if "epsilon" in r:
            seen = f"noised updates: (eps={r['epsilon']:.0f}, delta=1e-5)-DP per client"
        table.add_row(
            f"{name}, {rounds} rounds",
            seen,
            f"{r['accuracy']:.3f}",
            f"{r['best_accuracy']:.3f}",
            f"{r['wall_time_s']:.1f}s",
        )
    c = hfl["centralised"]
    table.add_row(
        f"centralised, {epochs} epochs",
        "all rows pooled",
        f"{c['accuracy']:.3f}",
        "",
        f"{c['wall_time_s']:.1f}s",
    )
    console.print(table)

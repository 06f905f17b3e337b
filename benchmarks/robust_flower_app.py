"""The Flower side of ``robust.py``: the task under Flower 1.42's robust strategies.

Runs in Flower's bench venv. The ClientApp trains with :func:`hfl_task.local_train` (the same
seeds as rengo) and, on an attacker's node, sends ``global - scale * (local - global)``.

    python benchmarks/robust_flower_app.py TASK OUT RULE ATTACK(0|1) ATTACKERS SCALE
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp import strategy as flower_strategies
from flwr.simulation import run_simulation
from hfl_task import (
    central_evaluate,
    load_arrays,
    load_task,
    local_train,
    make_model,
    model_arrays,
    pin_threads,
)

ENV = "ROBUST_BENCH"
client_app = ClientApp()


def _settings() -> dict[str, str]:
    return json.loads(os.environ[ENV])


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """Honest local training; attackers send their update negated and scaled."""
    pin_threads()
    cfg = _settings()
    task = load_task(cfg["task"])
    pid = int(context.node_config["partition-id"])
    server_round = int(msg.content["config"]["server-round"])
    model = make_model()
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    start = model_arrays(model)
    n, loss = local_train(
        model, task.client_loader(pid), task.seed(server_round, pid), task.lr, task.local_epochs
    )
    if cfg["attack"] == "1" and str(pid) in cfg["attackers"].split(","):
        scale = float(cfg["scale"])
        poisoned = [s - scale * (m - s) for s, m in zip(start, model_arrays(model), strict=True)]
        load_arrays(model, [np.asarray(a, dtype=np.float32) for a in poisoned])
    content = RecordDict(
        {
            "arrays": ArrayRecord(model.state_dict()),
            "metrics": MetricRecord({"train_loss": loss, "num-examples": n}),
        }
    )
    return Message(content=content, reply_to=msg)


def make_strategy(rule: str, nodes: int, f: int) -> object:
    common = {"fraction_train": 1.0, "fraction_evaluate": 0.0, "min_train_nodes": nodes,
              "min_available_nodes": nodes}  # fmt: skip
    cls = getattr(flower_strategies, rule)
    if rule == "FedTrimmedAvg":
        return cls(beta=0.2, **common)
    if rule in ("Krum", "Bulyan"):
        return cls(num_malicious_nodes=f, **common)
    if rule == "MultiKrum":
        return cls(num_malicious_nodes=f, num_nodes_to_select=nodes - 2 * f, **common)
    return cls(**common)


def run_with_central_evaluation(
    grid: Grid, task: Any, strategy: Any, after_round: Callable[[], None] | None = None
) -> tuple[float, list[float]]:
    """Run ``strategy`` over the task's rounds from its initial model, evaluating the global
    model centrally after each (``after_round`` is called then); the last round's accuracy
    (0.1, chance, if it is not finite) and each round's wall seconds."""
    model = make_model()
    load_arrays(model, task.initial)
    marks: list[float] = [time.perf_counter()]
    accuracies: dict[int, float] = {}

    def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        eval_model = make_model()
        eval_model.load_state_dict(arrays.to_torch_state_dict())
        loss, accuracy = central_evaluate(eval_model, task.x_test, task.y_test)
        if server_round > 0:
            accuracies[server_round] = accuracy
            marks.append(time.perf_counter())
            if after_round is not None:
                after_round()
        return MetricRecord({"accuracy": accuracy, "loss": loss})

    marks[0] = time.perf_counter()
    strategy.start(
        grid=grid,
        initial_arrays=ArrayRecord(model.state_dict()),
        num_rounds=task.rounds,
        evaluate_fn=evaluate_fn,
    )
    last = accuracies.get(task.rounds, float("nan"))
    return (last if np.isfinite(last) else 0.1), [b - a for a, b in itertools.pairwise(marks)]


def simulate_apps(apps: Any, out_path: str, task_path: str) -> None:
    """Run ``apps``' ServerApp (``make_server_app(out_path)``) and ClientApp over one node
    per client of the task, one CPU each."""
    run_simulation(
        server_app=apps.make_server_app(out_path),
        client_app=apps.client_app,
        num_supernodes=load_task(task_path).num_clients,
        backend_config={
            "client_resources": {"num_cpus": 1.0, "num_gpus": 0.0},
            "init_args": {"num_cpus": os.cpu_count() or 1, "logging_level": "error"},
        },
    )


def make_server_app(out_path: str) -> ServerApp:
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg = _settings()
        task = load_task(cfg["task"])
        strategy = make_strategy(cfg["rule"], task.num_clients, len(cfg["attackers"].split(",")))
        last, rounds = run_with_central_evaluation(grid, task, strategy)
        record = {"accuracy": last, "round_s": statistics.median(rounds) if rounds else None}
        Path(out_path).write_text(json.dumps(record))

    return app


def main(argv: list[str]) -> None:
    task_path, out_path, rule, attack, attackers, scale = argv
    settings = {"task": str(Path(task_path).resolve()), "rule": rule, "attack": attack,
                "attackers": attackers, "scale": scale}  # fmt: skip
    os.environ[ENV] = json.dumps(settings)
    torch.set_num_threads(1)
    import robust_flower_app as apps

    simulate_apps(apps, out_path, task_path)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The Flower side of ``hfl_vs_flower.py``: the task as a Flower 1.42 ServerApp + ClientApp.

Runs in the Flower bench venv (``hfl_vs_flower.py --setup`` builds it), never in rengo's.
Uses Flower's current Message API (``flwr.clientapp.ClientApp``, ``flwr.serverapp.strategy
.FedAvg`` with a centralised ``evaluate_fn``) under ``flwr.simulation.run_simulation`` with the
Ray backend, one CPU per virtual client so two clients train at once on two cores. The
ClientApp trains with :func:`hfl_task.local_train`, seeded per (round, client) like rengo.

    python benchmarks/hfl_flower_app.py TASK.npz OUT.json CPUS_PER_CLIENT
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation
from hfl_task import (
    Task,
    central_evaluate,
    fingerprint,
    load_arrays,
    load_task,
    local_train,
    make_model,
    pin_threads,
)
from torch import nn
from torch.utils.data import DataLoader

TASK_ENV = "HFL_BENCH_TASK"

# Per-process caches: each Ray actor loads the task file once, keeps its clients' loaders and
# builds the MLP once (``train`` loads the global weights first), like the rengo side.
_tasks: dict[str, Task] = {}
_loaders: dict[tuple[str, int], DataLoader] = {}
_models: list[nn.Module] = []


def _task() -> Task:
    path = os.environ[TASK_ENV]
    if path not in _tasks:
        pin_threads()
        _tasks[path] = load_task(path)
    return _tasks[path]


client_app = ClientApp()


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """One local epoch from the received global model, seeded by (round, partition)."""
    task = _task()
    pid = int(context.node_config["partition-id"])
    server_round = int(msg.content["config"]["server-round"])
    key = (os.environ[TASK_ENV], pid)
    if key not in _loaders:
        _loaders[key] = task.client_loader(pid)
    if not _models:
        _models.append(make_model())
    model = _models[0]
    model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
    n, loss = local_train(
        model, _loaders[key], task.seed(server_round, pid), task.lr, task.local_epochs
    )
    content = RecordDict(
        {
            "arrays": ArrayRecord(model.state_dict()),
            "metrics": MetricRecord({"train_loss": loss, "num-examples": n}),
        }
    )
    return Message(content=content, reply_to=msg)


def make_server_app(out_path: str) -> ServerApp:
    """FedAvg over every node each round, centralised evaluation after each round."""
    server_app = ServerApp()

    @server_app.main()
    def main(grid: Grid, context: Context) -> None:
        task = _task()
        model = make_model()
        load_arrays(model, task.initial)
        accuracies: dict[int, float] = {}

        def evaluate_fn(server_round: int, arrays: ArrayRecord) -> MetricRecord:
            eval_model = make_model()
            eval_model.load_state_dict(arrays.to_torch_state_dict())
            loss, accuracy = central_evaluate(eval_model, task.x_test, task.y_test)
            accuracies[server_round] = accuracy
            return MetricRecord({"accuracy": accuracy, "loss": loss})

        strategy = FedAvg(
            fraction_train=1.0,
            fraction_evaluate=0.0,
            min_train_nodes=task.num_clients,
            min_available_nodes=task.num_clients,
        )
        start = time.perf_counter()
        result = strategy.start(
            grid=grid,
            initial_arrays=ArrayRecord(model.state_dict()),
            num_rounds=task.rounds,
            evaluate_fn=evaluate_fn,
        )
        rounds_s = time.perf_counter() - start
        curve = [accuracies[r] for r in range(1, task.rounds + 1)]
        record = {
            "system": "flower",
            "accuracies": curve,
            "final_accuracy": curve[-1],
            "rounds_s": rounds_s,
            "model_sha": fingerprint(result.arrays.to_numpy_ndarrays()),
        }
        Path(out_path).write_text(json.dumps(record))

    return server_app


def main(argv: list[str]) -> None:
    task_path, out_path, cpus_per_client = argv
    os.environ[TASK_ENV] = str(Path(task_path).resolve())
    pin_threads()
    # Take the apps from the module imported by name, not from ``__main__``: cloudpickle then
    # ships them to Ray by reference and each actor keeps its own caches, instead of getting
    # this process's globals (the loaded task included) pickled into every message.
    import hfl_flower_app as apps

    start = time.perf_counter()
    run_simulation(
        server_app=apps.make_server_app(out_path),
        client_app=apps.client_app,
        num_supernodes=load_task(task_path).num_clients,
        backend_config={
            "client_resources": {"num_cpus": float(cpus_per_client), "num_gpus": 0.0},
            "init_args": {"num_cpus": os.cpu_count() or 1, "logging_level": "error"},
        },
    )
    # run_simulation includes Ray's start-up and shutdown; the server wrote the rest.
    record = json.loads(Path(out_path).read_text())
    record["simulation_s"] = time.perf_counter() - start
    Path(out_path).write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1:])

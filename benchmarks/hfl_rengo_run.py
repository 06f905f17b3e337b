"""The rengo side of ``hfl_vs_flower.py``: the task through ``rengo.hfl.simulate``.

Written the way a user would: a ``client_fn`` that wraps the client's loader in a
:class:`TorchClient`, :class:`FedAvg` with a centralised ``evaluate_fn``, and the chosen
executor. Each process builds the MLP once and every client it hosts reuses it (``fit`` loads
the global weights first), as the floor and the Flower ClientApp do.

    python benchmarks/hfl_rengo_run.py TASK.npz OUT.json serial|process WORKERS RUN_SEED
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from hfl_task import central_evaluate, fingerprint, load_task, pin_threads

from rengo.core.parameters import Parameters
from rengo.hfl import FedAvg, simulate
from rengo.hfl.torch_client import TorchClient, make_mlp, set_parameters


def run_rengo(task_path: str, executor: str, workers: int, run_seed: int) -> dict[str, object]:
    task = load_task(task_path)
    loaders = {str(c): task.client_loader(c) for c in range(task.num_clients)}
    eval_model = make_mlp(64, 10)
    client_model = make_mlp(64, 10)  # each forked worker gets its own copy

    def client_fn(cid: str) -> TorchClient:
        return TorchClient(client_model, loaders[cid], lr=task.lr, local_epochs=task.local_epochs)

    def evaluate_fn(server_round: int, parameters: Parameters) -> tuple[float, dict[str, float]]:
        set_parameters(eval_model, parameters)
        loss, accuracy = central_evaluate(eval_model, task.x_test, task.y_test)
        return loss, {"accuracy": accuracy}

    strategy = FedAvg(
        fraction_fit=1.0,
        min_fit_clients=task.num_clients,
        min_available_clients=task.num_clients,
        evaluate_fn=evaluate_fn,
    )
    start = time.perf_counter()
    history = simulate(
        client_fn,
        task.num_clients,
        strategy,
        task.initial,
        task.rounds,
        seed=run_seed,
        executor=executor,
        workers=workers if executor == "process" else None,
    )
    rounds_s = time.perf_counter() - start
    accuracies = [v for _, v in history.metric("central_accuracy")]
    return {
        "accuracies": accuracies,
        "final_accuracy": accuracies[-1],
        "rounds_s": rounds_s,
        "model_sha": fingerprint(history.parameters),
    }


def main(argv: list[str]) -> None:
    task_path, out_path, executor, workers, run_seed = argv
    pin_threads()
    result = run_rengo(task_path, executor, int(workers), int(run_seed))
    name = f"rengo-{executor}" + (f"-{workers}" if executor == "process" else "")
    Path(out_path).write_text(json.dumps({"system": name, **result}))


if __name__ == "__main__":
    main(sys.argv[1:])

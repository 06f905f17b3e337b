"""The Flower side of ``dp.py``: the task under Flower 1.42's central-DP wrappers.

Runs in Flower's bench venv. The ClientApp is ``robust_flower_app.train`` with no attacker
(:func:`hfl_task.local_train`, the same seeds as rengo) plus a ``dp-weight`` metric of 1 that
the DP runs' FedAvg weights by, so the clipped updates are averaged with equal weights (what
rengo does under DP, and what Flower's accountant requires). The server wraps FedAvg in
``DifferentialPrivacyServerSideFixedClipping`` (with Flower's ``RdpAccountant``) or
``DifferentialPrivacyServerSideAdaptiveClipping`` (which takes no accountant).

    python benchmarks/dp_flower_app.py TASK OUT CONFIG DP_SETTINGS_JSON
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import (
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    FedAvg,
)
from hfl_task import load_task
from robust_flower_app import ENV as ROBUST_ENV
from robust_flower_app import run_with_central_evaluation, simulate_apps
from robust_flower_app import train as honest_train

ENV = "DP_BENCH"
WEIGHT_KEY = "dp-weight"
client_app = ClientApp()


def _settings() -> dict[str, object]:
    return json.loads(os.environ[ENV])


@client_app.train()
def train(msg: Message, context: Context) -> Message:
    """Honest local training (``robust_flower_app.train``), plus a unit ``dp-weight``."""
    reply = honest_train(msg, context)
    reply.content["metrics"][WEIGHT_KEY] = 1.0
    return reply


def make_strategy(config: str, dp: dict[str, float], nodes: int) -> object:
    """FedAvg (example-weighted) or one of Flower's server-side DP wrappers around FedAvg
    weighted by ``dp-weight`` (equal weights)."""
    common = {"fraction_train": 1.0, "fraction_evaluate": 0.0, "min_train_nodes": nodes,
              "min_available_nodes": nodes}  # fmt: skip
    if config == "fedavg":
        return FedAvg(**common)
    inner = FedAvg(weighted_by_key=WEIGHT_KEY, **common)
    z = dp["noise_multiplier"]
    if config == "dp-fixed":
        from flwr.supercore.privacy_accounting import (
            NeighboringRelation,
            PrivacyConfig,
            SamplingMethod,
        )
        from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

        accountant = RdpAccountant(
            PrivacyConfig(
                target_delta=dp["delta"],
                population_size=nodes,
                neighboring_relation=NeighboringRelation.ADD_OR_REMOVE_ONE,
                sampling_method=SamplingMethod.NO_AMPLIFICATION,
            )
        )
        return DifferentialPrivacyServerSideFixedClipping(
            inner, z, dp["clip_norm"], nodes, accountant=accountant
        )
    return DifferentialPrivacyServerSideAdaptiveClipping(
        inner,
        z,
        nodes,
        initial_clipping_norm=dp["clip_norm"],
        target_clipped_quantile=dp["target_quantile"],
        clip_norm_lr=dp["clip_learning_rate"],
        clipped_count_stddev=dp["clipped_count_stddev"],
    )


def make_server_app(out_path: str) -> ServerApp:
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        cfg = _settings()
        task = load_task(str(cfg["task"]))
        strategy = make_strategy(str(cfg["config"]), cfg["dp"], task.num_clients)  # type: ignore[arg-type]
        clip_norms: list[float] = []

        def note_clip_norm() -> None:
            clip_norms.append(float(getattr(strategy, "clipping_norm", np.nan)))

        last, rounds = run_with_central_evaluation(grid, task, strategy, note_clip_norm)
        spent = strategy.privacy_spent() if hasattr(strategy, "privacy_spent") else None
        record = {
            "accuracy": last,
            "round_s": statistics.median(rounds) if rounds else None,
            "epsilon": None if spent is None else spent.epsilon,
            "clip_norm": clip_norms[-1] if clip_norms and cfg["config"] != "fedavg" else None,
            "clip_norms": clip_norms,
        }
        Path(out_path).write_text(json.dumps(record))

    return app


def main(argv: list[str]) -> None:
    task_path, out_path, config, dp = argv
    task = str(Path(task_path).resolve())
    os.environ[ENV] = json.dumps({"task": task, "config": config, "dp": json.loads(dp)})
    os.environ[ROBUST_ENV] = json.dumps({"task": task, "attack": "0"})  # honest clients
    torch.set_num_threads(1)
    import dp_flower_app as apps

    simulate_apps(apps, out_path, task_path)


if __name__ == "__main__":
    main(sys.argv[1:])

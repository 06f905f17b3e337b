"""The Flower side of ``secagg.py``: plain FedAvg or Flower 1.42's SecAgg+ on the same task.

Runs in Flower's bench venv (``.bench-venv-flower``, built by ``secagg.py --setup``). The
clients return the global model plus the same seeded perturbation as rengo's benchmark
clients (client ``i`` draws from ``default_rng(i)`` and reports ``10 + i`` examples); the
server runs ``rounds`` rounds through Flower's ``DefaultWorkflow`` (plain) or with
``SecAggPlusWorkflow`` as its fit workflow, and times each round from the strategy's
``configure_fit`` to its ``aggregate_fit`` (Ray's start-up is outside; the first round also
starts the client actors, so callers drop it), and checks the final model against the
weighted mean it must equal (``gap``). Bytes are what every
client's messages carry (``RecordDict.count_bytes``, counted by a mod outside the SecAgg+ mod,
both directions, over all stages), summed over the run's processes.

    python benchmarks/secagg_flower_app.py SYSTEM(plain|secagg) CLIENTS PARAMS SHARES ROUNDS OUT
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context, Message, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.simulation import run_simulation

ENV = "SECAGG_FLOWER_BENCH"


def _settings() -> dict[str, Any]:
    return json.loads(os.environ[ENV])  # type: ignore[no-any-return]


class PerturbClient(NumPyClient):  # type: ignore[misc]
    """The global model plus a seeded perturbation (rengo's ``PerturbClient``)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def fit(self, parameters: list[np.ndarray], config: dict[str, Any]) -> Any:
        rng = np.random.default_rng(self.index)
        new = [p + rng.normal(scale=0.01, size=p.shape) for p in parameters]
        return new, 10 + self.index, {}


def client_fn(context: Context) -> Any:
    return PerturbClient(int(context.node_config["partition-id"])).to_client()


def _value_bytes(value: Any) -> int:
    if isinstance(value, (bytes, str)):
        return len(value)
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    return 8  # int, float, bool: as Flower's count_bytes counts them


def _record_bytes(record: Any) -> int:
    """``record.count_bytes()``; Flower 1.42's ConfigRecord version fails on an empty list
    (SecAgg+ sends some), so those are counted here the same way."""
    try:
        return int(record.count_bytes())
    except IndexError:
        return sum(len(k) + _value_bytes(v) for k, v in record.items())


def count_bytes_mod(msg: Message, context: Context, call_next: Any) -> Message:
    """Adds the bytes of the message in and the reply out to this process's tally file."""
    incoming = sum(_record_bytes(record) for record in msg.content.values())
    reply = call_next(msg, context)
    outgoing = sum(_record_bytes(record) for record in reply.content.values())
    tally = Path(_settings()["out"] + f".bytes-{os.getpid()}")
    with tally.open("a") as f:
        f.write(f"{incoming} {outgoing}\n")
    return reply


def make_client_app() -> ClientApp:
    secagg = _settings()["system"] == "secagg"
    mods = [count_bytes_mod, secaggplus_mod] if secagg else [count_bytes_mod]
    return ClientApp(client_fn=client_fn, mods=mods)


class TimedFedAvg(FedAvg):  # type: ignore[misc]
    """FedAvg that records when each round's fit starts and ends."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.model: list[np.ndarray] = []

    def configure_fit(self, *args: Any, **kwargs: Any) -> Any:
        self.starts.append(time.perf_counter())
        return super().configure_fit(*args, **kwargs)

    def aggregate_fit(self, *args: Any, **kwargs: Any) -> Any:
        result = super().aggregate_fit(*args, **kwargs)
        self.ends.append(time.perf_counter())
        if result[0] is not None:
            self.model = parameters_to_ndarrays(result[0])
        return result


def make_server_app() -> ServerApp:
    app = ServerApp()

    @app.main()  # type: ignore[misc]
    def main(grid: Grid, context: Context) -> None:
        cfg = _settings()
        n = int(cfg["clients"])
        strategy = TimedFedAvg(
            fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
            initial_parameters=ndarrays_to_parameters([np.zeros(int(cfg["params"]))]),
        )  # fmt: skip
        legacy = LegacyContext(
            context=context, config=ServerConfig(num_rounds=int(cfg["rounds"])), strategy=strategy
        )
        fit_workflow = (
            SecAggPlusWorkflow(num_shares=int(cfg["shares"]), reconstruction_threshold=0.5)
            if cfg["system"] == "secagg"
            else None
        )
        DefaultWorkflow(fit_workflow=fit_workflow)(grid, legacy)
        rounds = [b - a for a, b in zip(strategy.starts, strategy.ends, strict=False)]
        # every round adds the same weighted mean perturbation: check Flower computed it
        step = sum(
            (10 + i) * np.random.default_rng(i).normal(scale=0.01, size=int(cfg["params"]))
            for i in range(n)
        ) / sum(10 + i for i in range(n))
        gap = (
            float(np.max(np.abs(strategy.model[0] - len(rounds) * step)))
            if strategy.model
            else None
        )
        Path(cfg["out"]).write_text(json.dumps({"round_s": rounds, "gap": gap}))

    return app


def main(argv: list[str]) -> None:
    system, clients, params, shares, rounds, out = argv
    settings = {"system": system, "clients": clients, "params": params, "shares": shares,
                "rounds": rounds, "out": str(Path(out).resolve())}  # fmt: skip
    os.environ[ENV] = json.dumps(settings)
    import secagg_flower_app as apps

    run_simulation(
        server_app=apps.make_server_app(),
        client_app=apps.make_client_app(),
        num_supernodes=int(clients),
        backend_config={
            "client_resources": {"num_cpus": 1.0, "num_gpus": 0.0},
            "init_args": {"num_cpus": os.cpu_count() or 1, "logging_level": "error"},
        },
    )
    tallies = list(Path(out).parent.glob(Path(out).name + ".bytes-*"))
    down = up = 0
    for tally in tallies:
        for line in tally.read_text().split("\n"):
            if line:
                a, b = line.split()
                down, up = down + int(a), up + int(b)
        tally.unlink()
    record = json.loads(Path(out).read_text())
    record.update({"bytes_down": down / int(rounds), "bytes_up": up / int(rounds)})
    Path(out).write_text(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Update and model compression: accuracy, uplink and downlink bytes per round of each
codec, in one invocation.

Task: the digits MLP task of ``hfl_vs_flower.py`` and ``robust.py`` (standardised digits,
Dirichlet(0.5) over 20 clients, MLP 64-64-10 (float32, 8,970 values: 35 KiB), 1 local epoch,
batch 32, SGD lr 0.05, every client every round, centralised evaluation), ``--rounds`` rounds
(30), FedAvg. Codecs: none, float16, int8 (chunks of 1024 values), top-k 0.1 and top-k 0.01
(both with error feedback), and top-k 0.01 without error feedback (what the residual buys);
then the model compressed on its way down (``model = "float16"`` / ``"int8"``), alone and
with top-k 0.01 updates.

Uplink bytes are what the run store records as received from each client per fit (the whole
reply payload: header, metrics and the encoded arrays), downlink bytes what it records as
sent to each client per fit (the fit instruction: the model, encoded or not, and the round
config), each summed over the round's 20 clients; the median round is printed with the
per-client figure. Accuracy is the final round's
central accuracy (deterministic for the seed: the repeats must agree). Round time is the
median round of a run (training, encoding and decoding included), CPU seconds the process
time of the whole run; codecs are interleaved, each run ``--repeats`` times (medians and
ranges); the load average is printed after each run.

Run:  .venv/bin/python benchmarks/compression.py
      .venv/bin/python benchmarks/compression.py --rounds 5 --repeats 1      (a quick look)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NUM_CLIENTS = 20


def codecs() -> dict[str, Any]:
    """The compared settings by table name (None: uncompressed)."""
    from rengo.hfl import CompressedUpdates

    return {
        "none": None,
        "float16": CompressedUpdates("float16"),
        "int8": CompressedUpdates("int8", chunk=1024),
        "topk 0.1": CompressedUpdates("topk", fraction=0.1),
        "topk 0.01": CompressedUpdates("topk", fraction=0.01),
        "topk 0.01 no EF": CompressedUpdates("topk", fraction=0.01, error_feedback=False),
        "model float16": CompressedUpdates("none", model="float16"),
        "model int8": CompressedUpdates("none", model="int8", chunk=1024),
        "topk 0.01+m f16": CompressedUpdates("topk", fraction=0.01, model="float16"),
        "topk 0.01+m int8": CompressedUpdates("topk", fraction=0.01, model="int8"),
    }


def run_one(task_path: Path, name: str) -> dict[str, float]:
    """One run: final accuracy, median uplink and downlink bytes per round, median round
    time and the run's CPU seconds."""
    from hfl_task import load_task
    from robust import digits_clients

    from rengo.hfl import FedAvg, simulate
    from rengo.tracking import RunStore

    task = load_task(task_path)
    ids = [str(c) for c in range(task.num_clients)]
    client_fn, evaluate_fn = digits_clients(task, ids)
    strategy = FedAvg(min_fit_clients=1, min_available_clients=len(ids), evaluate_fn=evaluate_fn)
    store = RunStore(":memory:")
    durations: list[float] = []
    cpu = time.process_time()
    history = simulate(
        client_fn, ids, strategy, task.initial, task.rounds, seed=0, store=store,
        workflow=codecs()[name], progress=lambda r: durations.append(r.duration_s),
    )  # fmt: skip
    cpu = time.process_time() - cpu
    assert history.run_id is not None
    up: dict[int, int] = {}
    down: dict[int, int] = {}
    for record in store.client_records(history.run_id):
        if record.phase == "fit" and record.status == "ok":
            up[record.round] = up.get(record.round, 0) + record.bytes_received
            down[record.round] = down.get(record.round, 0) + record.bytes_sent
    store.close()
    return {
        "accuracy": history.last("central_accuracy"),
        "up": statistics.median(up.values()),
        "down": statistics.median(down.values()),
        "round_s": statistics.median(durations),
        "cpu_s": cpu,
    }


def _fmt(values: list[float], digits: int = 3) -> str:
    med = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--codecs", default=",".join(codecs()))
    args = parser.parse_args()
    from hfl_vs_flower import write_task

    names = args.codecs.split(",")
    results: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "task.npz"
        write_task(task, NUM_CLIENTS, args.rounds, 0)
        for repeat in range(args.repeats):
            for name in names:  # interleaved: every codec once per repeat
                start = time.perf_counter()
                run = run_one(task, name)
                results[name].append(run)
                print(f"  repeat {repeat + 1} {name:16} acc {run['accuracy']:.4f} uplink/round "
                      f"{run['up'] / 1024:8.1f} KiB downlink/round {run['down'] / 1024:8.1f} KiB "
                      f"round {run['round_s'] * 1000:6.1f} ms "
                      f"({time.perf_counter() - start:.1f} s, cpu {run['cpu_s']:.1f} s, "
                      f"load {os.getloadavg()[0]:.2f})", flush=True)  # fmt: skip
    base = statistics.median(r["up"] for r in results["none"]) if "none" in results else None
    print(f"\n== digits MLP, {NUM_CLIENTS} clients, FedAvg, {args.rounds} rounds, "
          f"{args.repeats} repeat(s) ==")  # fmt: skip
    print(f"{'codec':16} {'accuracy':>22} {'uplink KiB/round':>17} {'per client':>11} "
          f"{'vs none':>8} {'downlink/client':>16} {'round ms':>24} {'cpu s/run':>22}")  # fmt: skip
    for name in names:
        runs = results[name]
        accuracy = [r["accuracy"] for r in runs]
        up = statistics.median(r["up"] for r in runs)
        down = statistics.median(r["down"] for r in runs)
        ratio = f"{up / base:7.3f}x" if base else "-"
        print(f"{name:16} {_fmt(accuracy, 4):>22} {up / 1024:17.1f} "
              f"{up / NUM_CLIENTS / 1024:9.2f} K {ratio:>8} "
              f"{down / NUM_CLIENTS / 1024:14.2f} K "
              f"{_fmt([r['round_s'] * 1000 for r in runs], 1):>24} "
              f"{_fmt([r['cpu_s'] for r in runs], 2):>22}")  # fmt: skip
        if len(set(accuracy)) > 1:
            print(f"  note: {name}'s accuracy differs between repeats: {accuracy}")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

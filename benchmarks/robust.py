"""Byzantine robustness: each aggregation rule's accuracy with and without attackers, and its
round cost, rengo and Flower 1.42 side by side.

Task: the digits MLP task of ``hfl_vs_flower.py`` (standardised digits, Dirichlet(0.5) over
20 clients, MLP 64-64-10, 1 local epoch, batch 32, SGD lr 0.05, every client every round,
centralised evaluation), ``--rounds`` rounds (30). Attack: 4 of the 20 clients (ids 16-19,
``--attackers``) train honestly and send their update negated and multiplied by 5
(``rengo.hfl.mods.attacks.SignFlipAttack(scale=5)``; the same arithmetic in Flower's
ClientApp). The ceiling is FedAvg over the 16 honest clients alone (what a perfect defence
that drops the attackers reaches); which clients attack matters (ids 0-3 hold most of the
digits 0 and 9, and without them FedAvg reaches only ~0.62).

Rules: rengo fedavg, fedmedian, fedtrimmedavg (beta 0.2), krum (f 4), multikrum (f 4, keep
12), bulyan (f 4), centredclipping (median radius), centredclipping with rejection 3,
normboundedavg; Flower FedAvg, FedMedian, FedTrimmedAvg, Krum, MultiKrum, Bulyan. Round cost
is the median round time (training included) over the run; rules are interleaved and each
runs ``--repeats`` times (medians and ranges printed); load average noted.

Run:  .venv/bin/python benchmarks/robust.py --setup        (Flower's bench venv, once)
      .venv/bin/python benchmarks/robust.py                 (rengo and Flower)
      .venv/bin/python benchmarks/robust.py --systems rengo --rounds 10 --repeats 1
      .venv/bin/python benchmarks/robust.py --systems rengo --repeats 1 --splits 5
                                                            (five data splits: seeds 0-4)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NUM_CLIENTS = 20
ATTACKERS = ("16", "17", "18", "19")
SCALE = 5.0
FLOWER_RULES = ("FedAvg", "FedMedian", "FedTrimmedAvg", "Krum", "MultiKrum", "Bulyan")


def rengo_rules(f: int) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """The rengo rules by table name, each built from the shared sampling options."""
    from rengo.hfl import (
        Bulyan,
        CentredClipping,
        FedAvg,
        FedMedian,
        FedTrimmedAvg,
        Krum,
        NormBoundedAvg,
    )

    return {
        "fedavg": lambda c: FedAvg(**c),
        "fedmedian": lambda c: FedMedian(**c),
        "fedtrimmedavg": lambda c: FedTrimmedAvg(beta=0.2, **c),
        "krum": lambda c: Krum(num_byzantine=f, num_selected=1, **c),
        "multikrum": lambda c: Krum(num_byzantine=f, num_selected=NUM_CLIENTS - 2 * f, **c),
        "bulyan": lambda c: Bulyan(num_byzantine=f, **c),
        "centredclipping": lambda c: CentredClipping(**c),
        "centredclipping+reject3": lambda c: CentredClipping(rejection=3.0, **c),
        "centredclipping+reject3+weighted": lambda c: CentredClipping(
            rejection=3.0, weighted=True, **c
        ),
        "normboundedavg": lambda c: NormBoundedAvg(max_norm=0.1, **c),
    }


def digits_clients(task: Any, ids: list[str]) -> tuple[Any, Any]:
    """The task's clients for ``ids`` (a ``TorchClient`` builder sharing one model, one torch
    thread) and its central evaluation (``evaluate_fn``: loss and accuracy on the test set)."""
    import torch
    from hfl_task import central_evaluate

    from rengo.hfl.torch_client import TorchClient, make_mlp, set_parameters

    torch.set_num_threads(1)
    loaders = {c: task.client_loader(int(c)) for c in ids}
    model, eval_model = make_mlp(64, 10), make_mlp(64, 10)

    def client_fn(cid: str) -> TorchClient:
        return TorchClient(model, loaders[cid], lr=task.lr, local_epochs=task.local_epochs)

    def evaluate_fn(server_round: int, parameters: Any) -> tuple[float, dict[str, float]]:
        set_parameters(eval_model, parameters)
        loss, accuracy = central_evaluate(eval_model, task.x_test, task.y_test)
        return loss, {"accuracy": accuracy}

    return client_fn, evaluate_fn


def run_rengo(
    task_path: Path, rule: str, attack: bool, honest_only: bool = False
) -> dict[str, Any]:
    """One rengo run: final accuracy and the median round time."""
    from hfl_task import load_task

    from rengo.core.errors import RoundFailure
    from rengo.hfl import simulate
    from rengo.hfl.mods.attacks import SignFlipAttack, for_clients

    task = load_task(task_path)
    ids = [str(c) for c in range(task.num_clients)]
    if honest_only:
        ids = [c for c in ids if c not in ATTACKERS]
    client_fn, evaluate_fn = digits_clients(task, ids)
    common = {"min_fit_clients": 1, "min_available_clients": len(ids), "evaluate_fn": evaluate_fn}
    strategy = rengo_rules(len(ATTACKERS))[rule](common)
    mods = [for_clients(SignFlipAttack(scale=SCALE), ATTACKERS)] if attack else []
    rounds: list[float] = []
    accuracy = float("nan")
    try:
        history = simulate(
            client_fn, ids, strategy, task.initial, task.rounds, seed=0, client_mods=mods,
            progress=lambda r: rounds.append(r.duration_s),
        )  # fmt: skip
        accuracy = history.last("central_accuracy")
    except RoundFailure:  # the model diverged (NaN): every client's reply is refused
        accuracy = 0.1  # chance on ten classes, as a NaN model predicts
    return {"accuracy": accuracy, "round_s": statistics.median(rounds) if rounds else None}


def run_flower(task_path: Path, rule: str, attack: bool, venv: Path) -> dict[str, Any]:
    """One Flower run in its bench venv (``robust_flower_app.py``)."""
    args = [rule, "1" if attack else "0", ",".join(ATTACKERS), str(SCALE)]
    return run_flower_app(venv, "robust_flower_app.py", task_path, args, rule)


def run_flower_app(
    venv: Path, script: str, task_path: Path, args: list[str], label: str
) -> dict[str, Any]:
    """Run a Flower app script of this folder in Flower's bench venv (``script TASK OUT
    ARGS...``, one torch thread, telemetry off) and return the JSON it writes to OUT; its
    log (Flower logs every round) is shown only if it fails."""
    python = venv / "bin" / "python"
    if not python.exists():
        raise SystemExit(f"{python} missing: run this script with --setup first")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = dict(os.environ, PYTHONPATH=str(HERE), FLWR_TELEMETRY_ENABLED="0",
                   FLWR_DISABLE_UPDATE_CHECK="1", RAY_USAGE_STATS_ENABLED="0",
                   OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore::DeprecationWarning")  # fmt: skip
        argv = [str(python), str(HERE / script), str(task_path), str(out), *args]
        log = Path(tmp) / "flower.log"
        with log.open("w") as sink:
            done = subprocess.run(argv, env=env, stdout=sink, stderr=subprocess.STDOUT)
        if done.returncode != 0 or not out.exists():
            sys.stderr.write(log.read_text()[-6000:])
            raise SystemExit(f"the Flower run ({label}) failed: exit {done.returncode}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def _fmt(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} [{min(values):.{digits}f}-{max(values):.{digits}f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", action="store_true", help="build Flower's bench venv, exit")
    parser.add_argument("--systems", default="rengo,flower")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rules", default=",".join(rengo_rules(4)))
    parser.add_argument(
        "--splits",
        type=int,
        default=1,
        help="data splits (seed k: train/test split, Dirichlet partition, initial weights and "
        "client seeds); accuracies are then medians [ranges] over the splits and repeats",
    )
    args = parser.parse_args()
    from hfl_vs_flower import FLOWER_VENV, setup_flower_venv, write_task

    if args.setup:
        setup_flower_venv(FLOWER_VENV)
        return
    systems = args.systems.split(",")
    rules = [("rengo", r) for r in args.rules.split(",")] if "rengo" in systems else []
    rules += [("flower", r) for r in FLOWER_RULES] if "flower" in systems else []
    results: dict[tuple[str, str, bool], dict[str, list[float]]] = {}
    ceilings: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for split in range(args.splits):
            task = Path(tmp) / f"task-{split}.npz"
            write_task(task, NUM_CLIENTS, args.rounds, split)
            ceilings.append(run_rengo(task, "fedavg", False, honest_only=True)["accuracy"])
            for repeat in range(args.repeats):
                for system, rule in rules:  # interleaved: every rule once per repeat
                    for attack in (False, True):
                        start = time.perf_counter()
                        run = (
                            run_rengo(task, rule, attack)
                            if system == "rengo"
                            else run_flower(task, rule, attack, FLOWER_VENV)
                        )
                        slot = results.setdefault((system, rule, attack), {"acc": [], "round": []})
                        slot["acc"].append(float(run["accuracy"]))
                        if run.get("round_s") is not None:
                            slot["round"].append(float(run["round_s"]))
                        print(f"  split {split} repeat {repeat + 1} {system:6} {rule:24} "
                              f"attack={attack!s:5} acc {run['accuracy']:.3f} "
                              f"({time.perf_counter() - start:.1f} s, "
                              f"load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
    base = {s: statistics.median(results[(s, "fedavg" if s == "rengo" else "FedAvg", False)]
                                 ["round"] or [np.nan]) for s in systems}  # fmt: skip
    print(f"\n== {NUM_CLIENTS} clients, attackers {', '.join(ATTACKERS)} send -{SCALE:g} x "
          f"their update, {args.rounds} rounds, {args.splits} split(s) x {args.repeats} "
          "repeat(s) ==")  # fmt: skip
    print(f"ceiling (FedAvg over the 16 honest clients alone): {_fmt(ceilings)}; per split: "
          + ", ".join(f"{c:.3f}" for c in ceilings))  # fmt: skip
    print(f"{'system':7} {'rule':24} {'clean acc':>22} {'attacked acc':>22} "
          f"{'round s (clean)':>24} {'vs fedavg':>9}")  # fmt: skip
    for system, rule in rules:
        clean, attacked = results[(system, rule, False)], results[(system, rule, True)]
        ratio = statistics.median(clean["round"]) / base[system] if clean["round"] else np.nan
        print(f"{system:7} {rule:24} {_fmt(clean['acc']):>22} {_fmt(attacked['acc']):>22} "
              f"{_fmt(clean['round'], 4):>24} {ratio:8.2f}x")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

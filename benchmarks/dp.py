"""Central differential privacy: accuracy of DP-FedAvg with fixed and adaptive clipping,
rengo and Flower 1.42 side by side.

Task: the digits MLP task of ``hfl_vs_flower.py`` (standardised digits, Dirichlet(0.5) over
20 clients, MLP 64-64-10, 1 local epoch, batch 32, SGD lr 0.05, every client every round,
so sampling rate q = 1, centralised evaluation), ``--rounds`` rounds (30).

Configurations, each on both systems:
  fedavg       no DP: example-weighted FedAvg, the ceiling.
  dp-fixed     central DP, clip norm C fixed (rengo ``DifferentialPrivacy(FedAvg(), ...)``;
               Flower ``DifferentialPrivacyServerSideFixedClipping`` around ``FedAvg``).
  dp-adaptive  central DP, adaptive clipping (Andrew et al. 2021) from the same initial C
               (rengo ``adaptive_clipping=True``; Flower
               ``DifferentialPrivacyServerSideAdaptiveClipping``).
  dp-adaptive-c0.1  the same from Flower's default initial clip norm, 0.1.

DP settings, the same on both sides: noise multiplier z (``--noise-multiplier``, 1.0: the
round's overall multiplier; under adaptive clipping both sides raise the update noise to
``(z^-2 - (2 sigma_b)^-2)^-1/2`` so the round with its clipped-count release stays at z),
clip norm C (``--clip-norm``, 0.5; the initial C of dp-adaptive), and for adaptive clipping
Flower's own defaults: target quantile 0.5 (Flower's ``target_clipped_quantile``; at 0.5 the
fraction clipped and the fraction unclipped have the same target), clip-norm learning rate
0.2, clipped-count stddev ``sampled clients / 20`` = 1.0. delta = 1e-5. At z = 1 and C = 0.5
fixed clipping still learns (the median client update norm on this task is about 0.2, so
C = 0.5 clips few updates and adaptive clipping should bring C down towards 0.2; from 0.1 it
should bring it up).

Weighting: under DP both sides average the clipped updates with equal weights, so one
client's influence is bounded by C/20 and the noise N(0, (z C / 20)^2) on the mean is the
same mechanism on both. rengo does this by itself (``weighting="uniform"``); Flower's FedAvg
weights by example count unless told otherwise, and its accountant refuses unequal weights,
so its DP runs weight by a metric every client sets to 1 (``weighted_by_key``). The no-DP
runs weight by example count on both sides.

Accounting: rengo records epsilon(delta) per round (metric ``dp_epsilon``, its default PLD
accountant); the RDP value for the same settings (``rengo.privacy.epsilon_after``) is printed
beside it. Flower's fixed-clipping wrapper is given its own RDP accountant (``RdpAccountant``,
no amplification, q = 1), which needs ``dp-accounting`` in its venv (``--setup`` installs it);
its adaptive wrapper takes no accountant and reports none. Final clip norm of adaptive runs:
rengo's strategy ``clip_norm`` after the last round (the per-round metric ``dp_clip_norm`` is
the norm each round clipped at); Flower's ``clipping_norm`` after the last round (it logs it).

Seeds: the no-DP runs are deterministic on both sides (the task's per-(round, client) seeds,
run seed 0: the two systems' FedAvg accuracies should agree to the digit). rengo draws its DP
noise from the run seed, so its DP runs use run seed = repeat index (0, 1, 2; this also
changes its clients' shuffling seeds after the first repeat); Flower draws its noise from
numpy's global generator, unseeded, so every Flower DP run differs.

Each configuration runs ``--repeats`` times (3), systems and configurations interleaved;
medians and [min-max] ranges are printed, with the load average at the start of each run.
Round time is the median wall time of a round over the run, training included.

Run:  .venv/bin/python benchmarks/dp.py --setup        (Flower's bench venv + dp-accounting)
      .venv/bin/python benchmarks/dp.py                 (rengo and Flower)
      .venv/bin/python benchmarks/dp.py --systems rengo --rounds 10 --repeats 1
The Flower venv is ``.bench-venv-flower`` in this checkout, or ``--flower-venv`` /
``$RENGO_FLOWER_VENV``.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from robust import _fmt  # noqa: E402  (the same median [min-max] cells as robust.py)

NUM_CLIENTS = 20
CONFIGS = ("fedavg", "dp-fixed", "dp-adaptive", "dp-adaptive-c0.1")
FLOWER_INITIAL_CLIP = 0.1  # Flower's initial_clipping_norm default, run as dp-adaptive-c0.1
DP_DEFAULTS = {
    "noise_multiplier": 1.0,
    "clip_norm": 0.5,
    "target_quantile": 0.5,  # Flower's target_clipped_quantile default
    "clip_learning_rate": 0.2,  # Flower's clip_norm_lr default
    "clipped_count_stddev": NUM_CLIENTS / 20,  # Flower's default: sampled clients / 20
    "delta": 1e-5,
}
DP_ACCOUNTING_PIN = "dp-accounting==0.6.0"  # what rengo's .venv holds


def config_settings(config: str, dp: dict[str, float]) -> dict[str, float]:
    """The DP settings of one configuration (dp-adaptive-c0.1 starts at Flower's default C)."""
    return dict(dp, clip_norm=FLOWER_INITIAL_CLIP) if config == "dp-adaptive-c0.1" else dp


def run_rengo(task_path: Path, config: str, dp: dict[str, float], seed: int) -> dict[str, Any]:
    """One rengo run (run seed ``seed``): final accuracy, median round time, epsilon and the
    final clip norm."""
    from hfl_task import load_task
    from robust import digits_clients

    from rengo.core.errors import RoundFailure
    from rengo.hfl import DifferentialPrivacy, FedAvg, simulate

    task = load_task(task_path)
    ids = [str(c) for c in range(task.num_clients)]
    client_fn, evaluate_fn = digits_clients(task, ids)
    inner = FedAvg(min_fit_clients=1, min_available_clients=len(ids), evaluate_fn=evaluate_fn)
    strategy: Any = inner
    if config != "fedavg":
        adaptive = config.startswith("dp-adaptive")
        strategy = DifferentialPrivacy(inner, adaptive_clipping=adaptive, **dp)
    rounds: list[float] = []
    result: dict[str, Any] = {"accuracy": 0.1, "epsilon": None, "clip_norm": None}
    try:
        history = simulate(
            client_fn, ids, strategy, task.initial, task.rounds, seed=seed,
            progress=lambda r: rounds.append(r.duration_s),
        )  # fmt: skip
        result["accuracy"] = history.last("central_accuracy")
        if config != "fedavg":
            result["epsilon"] = history.last("dp_epsilon")
            result["clip_norm"] = float(strategy.clip_norm)
    except RoundFailure:  # the model diverged (NaN): chance on ten classes
        pass
    result["round_s"] = statistics.median(rounds) if rounds else None
    return result


def run_flower(task_path: Path, config: str, dp: dict[str, float], venv: Path) -> dict[str, Any]:
    """One Flower run in its bench venv (``dp_flower_app.py``)."""
    from robust import run_flower_app

    return run_flower_app(venv, "dp_flower_app.py", task_path, [config, json.dumps(dp)], config)


def setup(venv: Path) -> None:
    """Flower's bench venv (``hfl_vs_flower.setup_flower_venv``) plus dp-accounting, which
    Flower's optional RDP accountant imports."""
    from hfl_vs_flower import setup_flower_venv

    setup_flower_venv(venv)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", DP_ACCOUNTING_PIN], check=True)
    subprocess.run([python, "-c", "import dp_accounting; print('dp-accounting ok')"], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setup", action="store_true", help="build Flower's bench venv, exit")
    parser.add_argument("--systems", default="rengo,flower")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise-multiplier", type=float, default=DP_DEFAULTS["noise_multiplier"])
    parser.add_argument("--clip-norm", type=float, default=DP_DEFAULTS["clip_norm"])
    parser.add_argument("--flower-venv", type=Path, default=None)
    args = parser.parse_args()
    from hfl_vs_flower import FLOWER_VENV, write_task

    from rengo.privacy import epsilon_after

    venv = args.flower_venv or Path(os.environ.get("RENGO_FLOWER_VENV", FLOWER_VENV))
    if args.setup:
        setup(venv)
        return
    dp = dict(DP_DEFAULTS, noise_multiplier=args.noise_multiplier, clip_norm=args.clip_norm)
    systems, configs = args.systems.split(","), args.configs.split(",")
    runs = [(s, c) for c in configs for s in systems]
    results: dict[tuple[str, str], dict[str, list[float]]] = {}
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "task.npz"
        write_task(task, NUM_CLIENTS, args.rounds, 0)
        for repeat in range(args.repeats):
            for system, config in runs:  # interleaved: every (system, config) once per repeat
                load = os.getloadavg()[0]
                start = time.perf_counter()
                settings = config_settings(config, dp)
                run = (  # rengo's DP runs draw their noise from the run seed: one per repeat
                    run_rengo(task, config, settings, 0 if config == "fedavg" else repeat)
                    if system == "rengo"
                    else run_flower(task, config, settings, venv)
                )
                slot = results.setdefault((system, config), {})
                for key in ("accuracy", "round_s", "epsilon", "clip_norm"):
                    if run.get(key) is not None:
                        slot.setdefault(key, []).append(float(run[key]))
                eps = f"eps {run['epsilon']:.2f}" if run.get("epsilon") is not None else ""
                clip = f"C {run['clip_norm']:.4g}" if run.get("clip_norm") is not None else ""
                print(f"  repeat {repeat + 1} {system:6} {config:16} acc {run['accuracy']:.3f} "
                      f"{eps} {clip} ({time.perf_counter() - start:.1f} s, load at start "
                      f"{load:.2f})", flush=True)  # fmt: skip
    z, delta = dp["noise_multiplier"], dp["delta"]
    print(f"\n== {NUM_CLIENTS} clients, every client every round (q = 1), {args.rounds} rounds, "
          f"{args.repeats} repeats ==")  # fmt: skip
    print(f"noise multiplier z {z:g}, clip norm C {dp['clip_norm']:g} (adaptive: initial C), "
          f"target quantile {dp['target_quantile']:g}, clip-norm lr "
          f"{dp['clip_learning_rate']:g}, clipped-count stddev {dp['clipped_count_stddev']:g}, "
          f"delta {delta:g}")  # fmt: skip
    print(f"epsilon after {args.rounds} rounds for these settings: PLD "
          f"{epsilon_after(args.rounds, z, delta, 1.0, 'pld'):.2f}, RDP "
          f"{epsilon_after(args.rounds, z, delta, 1.0, 'rdp'):.2f}")  # fmt: skip
    print(f"{'system':7} {'config':16} {'final acc':>22} {'round s':>24} {'epsilon':>8} "
          f"{'final C':>26}")  # fmt: skip
    for system, config in runs:
        slot = results[(system, config)]
        eps = f"{statistics.median(slot['epsilon']):.2f}" if slot.get("epsilon") else "none"
        if config == "fedavg":
            eps = "-"
        clip = _fmt(slot.get("clip_norm", []), 4) if config.startswith("dp-adaptive") else "-"
        print(f"{system:7} {config:16} {_fmt(slot['accuracy']):>22} "
              f"{_fmt(slot.get('round_s', []), 4):>24} {eps:>8} {clip:>26}")  # fmt: skip
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

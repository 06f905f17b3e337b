"""Privacy accounting per round: rengo's ``PrivacyAccountant`` against dp-accounting's own
accountants composed afresh, side by side in one invocation.

A DP-FedAvg run reports epsilon(delta) after every round and checks, before each round,
that the next one stays within ``target_epsilon``. The anchor is what a user of
``dp-accounting`` (and rengo before it kept one round's objects) does each round: a fresh
``RdpAccountant`` for ``SelfComposedDpEvent(round, k)`` to choose the PLD grid step, then a
fresh ``PLDAccountant`` on that step for the same event. rengo's per-run accountant keeps
one round's RDP and one sampled round's PLD per grid step and composes k rounds from them;
its numbers equal the anchor's (checked here for every round, and in
``tests/privacy/test_accountant.py``).

Each "run" is ``--rounds`` rounds of one epsilon, that after round k (the budget check
before round k asks for the same number; both sides compute it once), timed per round.
Settings: z = ``--noise-multiplier``, delta 1e-5, sampling rates ``--rates``. Systems and
rates interleaved, ``--repeats`` times; medians and [min-max] of the per-round milliseconds
(wall and process CPU), load average at each start.
Both run in this process (dp-accounting is the reference library itself).

Run:  .venv/bin/python benchmarks/dp_accounting_cost.py
      .venv/bin/python benchmarks/dp_accounting_cost.py --rounds 10 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import dp_accounting

from rengo.privacy import PrivacyAccountant, round_event
from rengo.privacy.accountant import _pld_step

DELTA = 1e-5


def anchor_epsilon(rounds: int, z: float, q: float) -> float:
    """dp-accounting's accountants, fresh for ``rounds`` rounds as one event, the PLD on the
    grid step rengo's rule picks from RDP's bound (so the two compute the same number)."""
    event = dp_accounting.SelfComposedDpEvent(round_event(z, q), rounds)
    rdp = dp_accounting.rdp.RdpAccountant()
    rdp.compose(event)
    pld = dp_accounting.pld.PLDAccountant(
        value_discretization_interval=_pld_step(float(rdp.get_epsilon(DELTA)))
    )
    pld.compose(event)
    return float(pld.get_epsilon(DELTA))


def run(system: str, rounds: int, z: float, q: float) -> tuple[list[float], list[float]]:
    """Per-round wall and CPU milliseconds of ``rounds`` rounds."""
    epsilon: Callable[[int], float]
    if system == "rengo":
        accountant = PrivacyAccountant(z, q, DELTA, "pld")
        epsilon = accountant.epsilon
    else:
        epsilon = lambda k: anchor_epsilon(k, z, q)  # noqa: E731
    wall, cpu = [], []
    for k in range(1, rounds + 1):
        w0, c0 = time.perf_counter(), time.process_time()
        epsilon(k)  # the budget check before round k = epsilon after it (asked once)
        wall.append(1e3 * (time.perf_counter() - w0))
        cpu.append(1e3 * (time.process_time() - c0))
    return wall, cpu


def summary(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} [{min(values):.1f}-{max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--noise-multiplier", type=float, default=1.0)
    parser.add_argument("--rates", default="1.0,0.2")
    args = parser.parse_args()
    z, rates = args.noise_multiplier, [float(r) for r in args.rates.split(",")]
    print(f"load average at the start: {os.getloadavg()}", flush=True)
    # equal numbers first (one pass, not timed)
    for q in rates:
        ours = PrivacyAccountant(z, q, DELTA, "pld")
        for k in range(1, args.rounds + 1):
            assert ours.epsilon(k) == anchor_epsilon(k, z, q), (q, k)
    print(f"epsilons equal for every round 1-{args.rounds} at q in {rates}", flush=True)
    results: dict[tuple[str, float], dict[str, Any]] = {}
    for repeat in range(args.repeats):
        for q in rates:
            for system in ("dp-accounting", "rengo"):
                load = os.getloadavg()[0]
                wall, cpu = run(system, args.rounds, z, q)
                entry = results.setdefault((system, q), {"wall": [], "cpu": [], "load": []})
                entry["wall"] += wall[1:]  # round 1 builds the one-round objects: shown apart
                entry["cpu"] += cpu[1:]
                entry.setdefault("first", []).append(wall[0])
                entry["load"].append(load)
                print(
                    f"  repeat {repeat + 1} q={q} {system}: median {statistics.median(wall):.1f} "
                    f"ms/round, load {load:.2f}",
                    flush=True,
                )
    print(f"\nz = {z}, delta = {DELTA}, {args.rounds} rounds, {args.repeats} repeats")
    print(
        f"{'q':>5} {'system':<14} {'wall ms/round':>22} {'CPU ms/round':>22} "
        f"{'round 1 ms':>22}  load"
    )
    for (system, q), entry in results.items():
        print(
            f"{q:>5} {system:<14} {summary(entry['wall']):>22} {summary(entry['cpu']):>22} "
            f"{summary(entry['first']):>22}  {min(entry['load']):.1f}-{max(entry['load']):.1f}"
        )
    for q in rates:
        ratio = statistics.median(results[("dp-accounting", q)]["wall"]) / statistics.median(
            results[("rengo", q)]["wall"]
        )
        print(f"q = {q}: dp-accounting afresh / rengo per round (median wall): {ratio:.1f}x")
    print(f"load average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()

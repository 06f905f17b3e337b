"""What `rengo runs show` costs on a long run: its client-metric table read from every
client record of the run (before) or from the rounds it shows (``client_summary_rounds``).

Builds a run store of ``--rounds`` rounds of ``--clients`` clients (fit loss and update norm
per client), then times, interleaved and ``--repeats`` times each, the two ways of reading
what the table needs and computing it (the same table either way: the script checks), and
the peak Python memory of each (tracemalloc, a separate pass). Prints medians and ranges and
the load average at the start.

    .venv/bin/python benchmarks/runs_show_long_run.py --rounds 2000 --clients 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from rengo.tracking import RunStore, client_metric_summary
from rengo.tracking.client_spread import ClientMetricSummary
from rengo.tracking.round_coverage import round_coverage


def build(path: str, rounds: int, clients: int) -> tuple[RunStore, str]:
    """A store holding one completed run of ``rounds`` x ``clients`` fit records."""
    store = RunStore(path)
    rng = np.random.default_rng(0)
    with store.run("hfl", {"num_clients": clients}, name="long") as run:
        assert run.run_id is not None
        for number in range(1, rounds + 1):
            for k in range(clients):
                metrics = {"loss": float(rng.random()), "update_norm": float(rng.random())}
                store.log_client(
                    run.run_id, number, f"client-{k}", "fit", "ok", 30, 0, 0, 0.01, None, metrics
                )
            store.log_round(run.run_id, number, {"train_loss": 0.5}, 0.5, clients, 0)
        return store, run.run_id


def every_record(store: RunStore, run_id: str) -> list[ClientMetricSummary]:
    """The table's figures from every client record (rengo before client_summary_rounds)."""
    completed = [r.round for r in store.rounds(run_id, metrics=False)]
    return client_metric_summary(round_coverage(store.client_records(run_id), completed).completed)


def shown_rounds(store: RunStore, run_id: str) -> list[ClientMetricSummary]:
    """The table's figures from the rounds it shows (what runs show does now)."""
    completed = [r.round for r in store.rounds(run_id, metrics=False)]
    records = store.client_records(run_id, rounds=store.client_summary_rounds(run_id))
    return client_metric_summary(round_coverage(records, completed).completed)


def _shown(summaries: list[ClientMetricSummary]) -> list[tuple[object, ...]]:
    """What the table shows of each summary (not ``rounds``, the count of rounds read)."""
    return [(s.metric, s.last, s.first_worst_decile, s.worst_clients) for s in summaries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    ways: dict[str, Callable[[RunStore, str], list[ClientMetricSummary]]] = {
        "every record": every_record,
        "shown rounds": shown_rounds,
    }
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        store, run_id = build(folder, args.rounds, args.clients)
        print(
            f"{args.rounds} rounds x {args.clients} clients: store built in "
            f"{time.perf_counter() - start:.1f} s"
        )
        assert _shown(every_record(store, run_id)) == _shown(shown_rounds(store, run_id))
        seconds: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.repeats):
            for name, way in ways.items():  # interleaved
                start = time.perf_counter()
                way(store, run_id)
                seconds[name].append(time.perf_counter() - start)
        for name, way in ways.items():
            tracemalloc.start()
            way(store, run_id)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            times = seconds[name]
            print(
                f"{name:>13}: median {statistics.median(times):.3f} s "
                f"[{min(times):.3f}-{max(times):.3f}] over {len(times)}, "
                f"peak Python memory {peak / 2**20:.1f} MiB"
            )


if __name__ == "__main__":
    main()

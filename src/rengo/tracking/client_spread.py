"""How evenly a federation serves its clients: each round's spread of a client metric.

A federated model can look good on average and fail a tenth of its clients. Following q-FFL
(Li, Sanjabi, Beirami and Smith, "Fair Resource Allocation in Federated Learning", ICLR
2020), each round reports the mean over clients and the mean over the *worst decile* -
the worst 10 % of clients (at least one) for that metric - beside the best decile.
"Worst" follows the metric: the highest values of a loss or error, an update's norm, a
time or a byte count, the lowest of anything else (accuracy, AUC).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from rengo.metrics import lower_is_better
from rengo.tracking.records import ClientRecord

DECILE = 0.1


@dataclass(frozen=True)
class MetricSpread:
    """One client metric in one round: how many clients reported it and its spread."""

    round: int
    clients: int
    mean: float
    worst_decile: float
    best_decile: float
    minimum: float
    maximum: float


def decile_means(values: Iterable[float], smaller_is_better: bool) -> tuple[float, float]:
    """``(worst decile mean, best decile mean)`` of ``values``; each decile is the
    ``ceil(10 %)`` of values (at least one) at that end."""
    ordered = np.sort(np.asarray(list(values), dtype=np.float64))
    if ordered.size == 0:
        raise ValueError("decile_means needs at least one value")
    k = max(1, math.ceil(DECILE * ordered.size))
    low, high = float(ordered[:k].mean()), float(ordered[-k:].mean())
    return (high, low) if smaller_is_better else (low, high)


def client_metric_spread(
    records: Iterable[ClientRecord],
) -> dict[str, list[MetricSpread]]:
    """Per ``"<phase> <metric>"`` (e.g. ``"evaluate accuracy"``, ``"fit loss"``), each
    round's spread over the clients that reported it successfully, in round order.

    Failed records and non-numeric or non-finite values are left out; a round where fewer
    than half of the clients that succeeded in the phase reported a metric has no entry for
    it: a spread of a few clients says nothing about the federation, and one party naming
    32 new metrics a round made ``rengo runs plot --clients`` of a 40-round run take over
    two minutes and 2.5 GB (the round's means follow the same rule,
    :meth:`rengo.hfl.WeightedSum.metrics`).
    """
    grouped: dict[str, dict[int, list[float]]] = {}
    succeeded: dict[tuple[str, int], int] = {}  # (phase, round) -> clients that succeeded
    for record in records:
        if record.status != "ok":
            continue
        succeeded[record.phase, record.round] = succeeded.get((record.phase, record.round), 0) + 1
        if not record.metrics:
            continue
        for key, value in record.metrics.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if not math.isfinite(value):
                continue
            name = f"{record.phase} {key}"
            grouped.setdefault(name, {}).setdefault(record.round, []).append(float(value))
    out: dict[str, list[MetricSpread]] = {}
    for name, by_round in sorted(grouped.items()):
        phase, metric = name.split(" ", 1)
        smaller = lower_is_better(metric)
        spreads = []
        for number, values in sorted(by_round.items()):
            if 2 * len(values) < succeeded[phase, number]:
                continue
            worst, best = decile_means(values, smaller)
            spreads.append(
                MetricSpread(
                    number,
                    len(values),
                    float(np.mean(values)),
                    worst,
                    best,
                    float(min(values)),
                    float(max(values)),
                )
            )
        if spreads:
            out[name] = spreads
    return out


@dataclass(frozen=True)
class ClientMetricSummary:
    """One client metric of a run at a glance: its spread in the last round that reported
    it, the worst-served clients of that round, and how the worst decile moved since the
    first round."""

    metric: str
    rounds: int
    last: MetricSpread
    first_worst_decile: float
    worst_clients: tuple[str, ...]


def client_metric_summary(records: Iterable[ClientRecord]) -> list[ClientMetricSummary]:
    """Per ``"<phase> <metric>"``, the distribution over clients of its last reported round
    (mean, worst and best decile, extremes), the clients in that round's worst decile (worst
    first) and the worst decile of the first round, for a trend.

    Parameters
    ----------
    records
        A run's client records (:meth:`rengo.tracking.RunStore.client_records`).

    Returns
    -------
    list of ClientMetricSummary
        Sorted by metric name; empty when no client reported a numeric metric.
    """
    kept = list(records)
    spread = client_metric_spread(kept)
    out = []
    for name, per_round in spread.items():
        phase, metric = name.split(" ", 1)
        last = per_round[-1]
        values = {
            r.client_id: float(r.metrics[metric])
            for r in kept
            if r.round == last.round
            and r.phase == phase
            and r.status == "ok"
            and r.metrics
            and metric in r.metrics
            and _finite_number(r.metrics[metric])
        }
        smaller = lower_is_better(metric)
        ranked = sorted(values, key=lambda c: (-values[c] if smaller else values[c], c))
        decile = max(1, math.ceil(DECILE * len(ranked)))
        out.append(
            ClientMetricSummary(
                name, len(per_round), last, per_round[0].worst_decile, tuple(ranked[:decile])
            )
        )
    return out


def _finite_number(value: object) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(float(value))
    )

"""What the dashboard shows, as plain JSON-ready dicts built from a (read-only) run store.

One function per page part: the runs list, a run's curves and rounds, its clients (traffic,
participation, failures, metric spread), who is online, contributions and payouts, a
tournament's leaderboard, and a comparison of runs. Numbers are passed through unrounded
(the page formats them); NaN and infinities become ``null`` because JSON has neither.
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from rengo.core.errors import ConfigError, DataError
from rengo.core.skipped_round import ROUND_SKIPPED
from rengo.metrics import better_direction, lower_is_better
from rengo.rewards.money import currency_decimals, format_minor
from rengo.tracking import RunFilter, RunInfo, RunStore, metric_family
from rengo.tracking.client_spread import client_metric_spread
from rengo.tracking.json_text import finite
from rengo.tracking.records import ClientRecord, PartyPresence
from rengo.tracking.resume_settings import PARTY_RELEASES
from rengo.tracking.round_coverage import round_coverage
from rengo.tracking.tables import (
    dotted_settings,
    privacy_spent,
    round_unit,
    shortened_setting,
    why_it_ended,
)

_LOWER: dict[str | None, bool] = {"lower": True, "higher": False}
"""A metric's direction as the page reads it (an operating point's, None: no best)."""

HEADLINE_METRICS = (
    "central_accuracy",
    "eval_accuracy",
    "accuracy",
    "central_r2",
    "eval_r2",
    "test_auc",
    "auc",
    "central_auc",
    "central_loss",
    "eval_loss",
    "train_loss",
    "loss",
)
"""The metric a run is summarised by in lists, first one present wins."""

PRESENCE_STALE_S = 30.0
"""An ``online`` presence row not refreshed for this long is shown as "unknown": the
coordinator that kept it current has stopped writing (crashed, or lost its store)."""

MAX_COMPARE = 8
SPARK_POINTS = 40


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def headline_metric(keys: Iterable[str]) -> str | None:
    """The metric to summarise a run by: the first of :data:`HEADLINE_METRICS` present,
    else the alphabetically first metric, else None. The mark of a skipped round
    (:data:`~rengo.core.skipped_round.ROUND_SKIPPED`) is no metric: a run whose every round
    was skipped has no headline (its curve showed a row of 1s as if it were one)."""
    present = set(keys) - {ROUND_SKIPPED}
    for key in HEADLINE_METRICS:
        if key in present:
            return key
    return min(present) if present else None


def planned_rounds(run: RunInfo) -> int | None:
    """How many rounds (epochs, trees) the run was configured for, when its config says."""
    for key in ("rounds", "epochs", "n_trees"):
        value = run.config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def run_header(run: RunInfo, now: datetime | None = None) -> dict[str, Any]:
    """A run's identity and lifecycle, without config; ``running_s``: how long a run not yet
    finished has run (:func:`running_s`), so the page need not take it from the viewer's
    clock."""
    return {
        **run.identity(),
        "label": run.label,
        "paused_s": run.paused_s,
        "running_s": running_s(run, now or datetime.now(timezone.utc)),
        "planned_rounds": planned_rounds(run),
        "unit": round_unit(run),
    }


def running_s(run: RunInfo, now: datetime) -> float | None:
    """Seconds a run not yet finished has run (None once finished: see its duration).

    What its process counted by its monotonic clock up to its last heartbeat, plus the time
    since that heartbeat, never below zero. Taken on the server, not in the browser: a
    viewer's laptop whose clock is minutes behind the coordinator's read a negative time
    ("running for -420000 ms"), one ahead too long a time.
    """
    if run.finished_at is not None:
        return None
    if run.active_s is not None and run.heartbeat_at is not None:
        return run.active_s + max(0.0, (now - run.heartbeat_at).total_seconds())
    return max(0.0, (now - run.started_at).total_seconds() - run.paused_s)


def runs_overview(
    store: RunStore,
    *,
    kind: str | None = None,
    status: str | None = None,
    query: str | None = None,
    since: str | None = None,
    until: str | None = None,
    limit: int = 200,
    tz: str | None = None,
) -> dict[str, Any]:
    """The runs list: newest first, filtered by kind, status, name/id text and start date
    (``since``/``until`` inclusive, calendar days as ``YYYY-MM-DD`` in the time zone ``tz``,
    the viewer's, else the server's), each with its
    round count and a short series of its headline metric for a sparkline."""
    wanted = RunFilter.from_text(kind, status, query, since, until, zone=tz)
    everything = store.list_runs(limit=None)
    kinds = sorted({r.kind for r in everything})
    statuses = sorted({r.status for r in everything})
    chosen = [run for run in everything if wanted.matches(run)]
    rows = []
    for run in chosen[: max(1, limit)]:
        key = headline_metric(store.metric_keys(run.run_id))
        points = store.metric_tail(run.run_id, key, SPARK_POINTS) if key else []
        count, last_round = store.round_span(run.run_id)
        if not count and run.kind == "tournament":  # scored rounds live in contributions
            scored = {c.round for c in store.contributions(run.run_id) if c.round is not None}
            count, last_round = len(scored), max(scored, default=0)
        rows.append(
            {
                **run_header(run),
                "rounds": count,
                "last_round": last_round if count else None,
                "headline": None
                if key is None
                else {
                    "metric": key,
                    "value": finite(points[-1][1]) if points else None,
                    "spark": [finite(v) for _, v in points[-SPARK_POINTS:]],
                },
            }
        )
    return {"runs": rows, "total": len(chosen), "kinds": kinds, "statuses": statuses}


ROUNDS_SHOWN = 1_000
"""Rounds whose rows a run's page and its clients' view hold: the latest this many (a run of
100,000 rounds took minutes and gigabytes to draw whole; its totals still cover them all)."""
SERIES_POINTS = 2_000
"""Points per metric chart at most: longer series are thinned evenly, keeping the last."""


def window_start(store: RunStore, run_id: str) -> tuple[int, int]:
    """``(first round shown, rounds logged)``: the latest :data:`ROUNDS_SHOWN` rounds."""
    count, last = store.round_span(run_id)
    return (last - ROUNDS_SHOWN + 1 if count > ROUNDS_SHOWN else 0), count


def thinned(points: Sequence[tuple[int, float]], most: int = SERIES_POINTS) -> list[Any]:
    """At most ``most`` of ``points``, evenly spaced, always with the last one."""
    if len(points) <= most:
        return list(points)
    step = math.ceil(len(points) / most)
    kept = list(points[::step])
    if kept[-1] != points[-1]:
        kept[-1] = points[-1]
    return kept


def run_overview(store: RunStore, run_id: str) -> dict[str, Any]:
    """One run: header, config and summary, its latest :data:`ROUNDS_SHOWN` rounds with
    their metrics, each metric's series (thinned to :data:`SERIES_POINTS`) grouped by family
    (one chart each), and which other parts it has."""
    run = store.get_run(run_id)
    since, total = window_start(store, run.run_id)
    rounds = store.rounds(run.run_id, since, metrics=False)
    # a round's num_failures counts failed training and failed evaluation together (14 of a
    # 4-client round's 40 evaluations failing read "-7 / 4 clients"): the card and the table
    # take the clients that failed training apart, as the round line and runs show do
    vertical = run.kind.startswith("vfl")
    by_phase = {} if vertical else store.failures_by_phase(run.run_id, [r.round for r in rounds])
    series = store.round_metrics(run.run_id)
    window: dict[int, dict[str, float]] = {r.round: {} for r in rounds}
    for key, points in series.items():  # sorted by key, as rounds() gives each round's
        first = bisect.bisect_left(points, since, key=lambda point: point[0])
        for number, value in points[first:]:
            if number in window:
                window[number][key] = value
    families: dict[str, list[str]] = {}
    for key in sorted(series):
        families.setdefault(metric_family(key), []).append(key)
    headline = headline_metric(series)
    best = None
    if headline is not None:
        values = [(r, v) for r, v in series[headline] if math.isfinite(v)]
        if values:
            pick = min if lower_is_better(headline) else max
            best_round, best_value = pick(values, key=lambda rv: rv[1])
            best = {"round": best_round, "value": best_value}
    return {
        "run": {
            **run_header(run),
            "why": why_it_ended(store, run),
            # the privacy spent, as runs show gives it (a local-DP run's rounds show only the
            # clients' mean epsilon, below the worst client's)
            "privacy": privacy_spent(store, run.run_id),
            "config": {key: shortened_setting(value) for key, value in settings(run).items()},
            "summary": _plain(run.summary),
        },
        "rounds": [
            {
                "round": r.round,
                "duration_s": r.duration_s,
                "num_clients": r.num_clients,
                "num_failures": r.num_failures,
                # no failed client records (a vertical run, an old store): as recorded
                "fit_failures": by_phase.get(r.round, {}).get("fit", 0)
                if r.round in by_phase
                else r.num_failures,
                "evaluate_failures": by_phase.get(r.round, {}).get("evaluate", 0),
                "metrics": {k: finite(v) for k, v in window[r.round].items()},
            }
            for r in rounds
        ],
        "rounds_total": total,
        "series": {k: [[r, finite(v)] for r, v in thinned(points)] for k, points in series.items()},
        "families": families,
        "headline": None if headline is None else {"metric": headline, "best": best},
        "checkpoints": store.checkpoint_rounds(run.run_id),
    }


def settings(run: RunInfo) -> dict[str, Any]:
    """A run's settings as the dashboard shows them: nested ones as dotted keys
    (``job_settings.train.lr``), NaN and infinities spelled out, values whole. Each party's
    build (``party_releases``, kept in the config by a deployed run) is no setting: two runs
    of one job whose parties ran other builds differ in no setting (``rengo runs show``
    lists the builds on a line of their own)."""
    given = {k: v for k, v in run.config.items() if k != PARTY_RELEASES}
    return {key: _plain(value, spelled=True) for key, value in dotted_settings(given)}


def _plain(value: Any, spelled: bool = False) -> Any:
    """JSON-safe copy of a stored summary (NaN -> None, recursively); ``spelled``: NaN and
    infinities as the words ``"nan"``, ``"inf"``, ``"-inf"`` instead (a run's settings,
    where ``null`` would read as a setting left empty)."""
    if isinstance(value, float):
        return repr(value) if spelled and not math.isfinite(value) else finite(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, spelled) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, spelled) for v in value]
    return value


def _participation(records: Sequence[ClientRecord], rounds: list[int]) -> dict[str, str]:
    """Per client, one character per round: ``o`` trained, ``e`` only evaluated,
    ``x`` failed (in either phase), ``.`` not asked."""
    marks: dict[str, dict[int, str]] = {}
    for rec in records:
        cell = marks.setdefault(rec.client_id, {})
        if rec.status == "failed":
            cell[rec.round] = "x"
        elif cell.get(rec.round) != "x":
            if rec.phase == "fit":
                cell[rec.round] = "o"
            else:
                cell.setdefault(rec.round, "e")
    return {
        client: "".join(cells.get(r, ".") for r in rounds)
        for client, cells in sorted(marks.items())
    }


def clients_overview(store: RunStore, run_id: str) -> dict[str, Any]:
    """A run's clients: totals per client, who took part in which round, every failure
    with its reason, traffic and time per round, each client metric's spread over the
    completed rounds, and whose metrics each round cut short holds (``cut_short``)."""
    full = store.resolve_run_id(run_id)
    since, total = window_start(store, full)
    records = store.client_records(full, since=since)
    stats = store.client_stats(full)  # over every round
    rounds = sorted({r.round for r in records})
    traffic: dict[int, dict[str, Any]] = {}
    for rec in records:
        row = traffic.setdefault(
            rec.round,
            {
                "round": rec.round,
                "bytes_sent": 0,
                "bytes_received": 0,
                "ok": 0,
                "failed": 0,
                "fit_durations": [],
            },
        )
        row["bytes_sent"] += rec.bytes_sent
        row["bytes_received"] += rec.bytes_received
        if rec.phase == "fit":
            row["ok" if rec.status == "ok" else "failed"] += 1
            row["fit_durations"].append(rec.duration_s)
    per_round = []
    for number in rounds:
        row = traffic[number]
        durations = row.pop("fit_durations")
        row["mean_fit_s"] = sum(durations) / len(durations) if durations else None
        row["max_fit_s"] = max(durations) if durations else None
        per_round.append(row)
    # a round cut short (interrupted, failed, or still running) holds the metrics of the
    # clients that answered before: not the round's, so its spread waits for its end
    completed = [r.round for r in store.rounds(full, since=since, metrics=False)]
    coverage = round_coverage(records, completed)
    spread = client_metric_spread(coverage.completed)
    return {
        "clients": [asdict(s) for s in stats],
        "rounds": rounds,
        "rounds_total": total,
        "participation": _participation(records, rounds),
        "failures": [
            {"round": r.round, "client": r.client_id, "phase": r.phase, "reason": r.reason}
            for r in records
            if r.status == "failed"
        ],
        "traffic": per_round,
        "spread": {
            name: {
                "lower_is_better": lower_is_better(name.split(" ", 1)[1]),
                "rounds": [asdict(s) for s in spreads],
            }
            for name, spreads in spread.items()
        },
        "cut_short": [asdict(phase) for phase in coverage.cut_short],
    }


def events_view(store: RunStore, run_id: str, after: int = 0, limit: int = 500) -> dict[str, Any]:
    """A run's events after sequence number ``after`` (the newest ``limit``), oldest first."""
    shown = store.events(run_id, after=after, newest=max(limit, 0))
    return {
        "events": [
            {
                "seq": e.seq,
                "at": _iso(e.created_at),
                "level": e.level,
                "round": e.round,
                "message": e.message,
            }
            for e in shown
        ],
        "total": store.event_count(run_id, after),
    }


def presence_state(row: PartyPresence, run_status: str, now: datetime) -> str:
    """``online``, ``offline`` or ``unknown`` (said online, but nobody has confirmed it for
    :data:`PRESENCE_STALE_S` seconds or the run is no longer running)."""
    if not row.online:
        return "offline"
    fresh = row.updated_at is not None and (now - row.updated_at).total_seconds() <= (
        PRESENCE_STALE_S
    )
    return "online" if fresh and run_status == "running" else "unknown"


def presence_view(store: RunStore, run_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Who is connected to a deployed run's coordinator, from its hub's joins, leaves and
    heartbeats (empty for simulated runs)."""
    run = store.get_run(run_id)
    moment = now or datetime.now(timezone.utc)
    parties = []
    for row in store.presence(run.run_id):
        state = presence_state(row, run.status, moment)
        parties.append(
            {
                "party": row.party,
                "state": state,
                "peer": row.peer,
                "joined_at": _iso(row.joined_at),
                "last_seen": _iso(row.last_seen),
                "last_seen_s": None
                if row.last_seen is None
                else max(0.0, (moment - row.last_seen).total_seconds()),
                "left_at": _iso(row.left_at),
                "reason": row.reason,
                "joins": row.joins,
                "bytes_in": row.bytes_in,
                "bytes_out": row.bytes_out,
            }
        )
    return {
        "parties": parties,
        "online": sum(p["state"] == "online" for p in parties),
        "now": moment.isoformat(),
    }


LEDGER_SHOWN = 500
"""Ledger lines a run's page holds: the latest this many (a tournament of 500 rounds of 100
participants has 50,000, which made 9 MB of JSON and a table as long, refetched on every
change); the payouts still add up every line."""


def rewards_view(
    store: RunStore, run_id: str, method: str | None = None, decimals: int | None = None
) -> dict[str, Any]:
    """Contribution per participant (by ``method``, default the last logged) and per round,
    and the run's latest :data:`LEDGER_SHOWN` ledger lines (``ledger_total``: how many it
    has) with each participant's net amount per currency over every line; ``values_missing``
    says why a completed run whose job values its participants has no values, and the
    command that records them (None otherwise)."""
    from rengo.tracking.contrib_records import (
        ledger_amount,
        missing_values_text,
        run_contributions,
    )
    from rengo.tracking.ledger_totals import add_payouts

    full = store.resolve_run_id(run_id)
    records = store.contributions(full)
    methods = sorted({r.method for r in records})
    contributions = None
    if records:
        try:
            chosen = run_contributions(store, full, method)
        except DataError as exc:
            raise ConfigError(str(exc)) from exc
        contributions = {
            "method": chosen.method,
            "totals": {p: finite(v) for p, v in chosen.totals.items()},
            "per_round": {
                str(r): {p: finite(v) for p, v in values.items()}
                for r, values in chosen.per_round.items()
            },
        }
    entries = store.ledger(full)
    totals = add_payouts([(full, entries)], decimals).totals
    return {
        "methods": methods,
        "contributions": contributions,
        "values_missing": None if records else missing_values_text(store, full),
        "ledger": [
            {
                "seq": e.seq,
                "at": _iso(e.created_at),
                "round": e.round,
                "participant": e.participant,
                "kind": e.kind,
                "amount_minor": e.amount if isinstance(e.amount, int) else None,
                "amount": ledger_amount(e, decimals),
                "currency": e.currency,
                "reason": e.reason,
            }
            for e in entries[-LEDGER_SHOWN:]
        ],
        "ledger_total": len(entries),
        "payouts": [
            {
                "participant": who,
                "currency": currency,
                "amount_minor": minor,
                "amount": format_minor(minor, places),
            }
            for who, currency, minor, places in (
                (t.participant, t.currency, t.amount_minor, t.decimals) for t in totals
            )
        ],
    }


def tournament_view(store: RunStore, run_id: str) -> dict[str, Any]:
    """A tournament run's leaderboard (mean combined score, rounds, net payout), each
    participant's score per round and, where the run recorded them, per-era CORR and MMC
    with each era's ``position``: its place among every scored round's eras, rounds in
    order, each round's eras by their numbers (era9 before era10), the same for every
    participant (the chart's x); each participant's eras are listed in that order.
    As ``rengo tournament leaderboard``, the means cover every scored round the summary
    holds and the net payout the paid ones; ``unpaid_rounds`` names the rest."""
    from rengo.tracking.tournament_records import SCORE_METHOD

    run = store.get_run(run_id)
    summary = run.summary or {}
    decimals = summary.get("decimals") if isinstance(summary.get("decimals"), int) else None
    scores: dict[str, dict[int, float]] = {}
    for rec in store.contributions(run.run_id):
        if rec.method == SCORE_METHOD and rec.round is not None:
            scores.setdefault(rec.participant, {})[rec.round] = rec.value
    paid: dict[str, int] = {}
    currency = summary.get("currency") if isinstance(summary.get("currency"), str) else None
    for e in store.ledger(run.run_id):
        if isinstance(e.amount, int):
            paid[e.participant] = paid.get(e.participant, 0) + e.amount
            currency = currency or e.currency
    details: dict[str, dict[int, dict[str, Any]]] = {}
    unpaid: set[int] = set()
    for item in summary.get("rounds", []) if isinstance(summary.get("rounds"), list) else []:
        if item.get("paid") is False:  # scored, not paid yet: scores count, payouts do not
            unpaid.add(int(item["round"]))
        for who, s in item.get("scores", {}).items():
            details.setdefault(who, {})[int(item["round"])] = s
            if "score" in s:  # the contributions hold the paid rounds' scores only
                scores.setdefault(who, {}).setdefault(int(item["round"]), float(s["score"]))
    places = currency_decimals(currency or "credits", decimals)
    board = []
    for who in sorted(set(scores) | set(paid)):
        values = [v for v in scores.get(who, {}).values() if math.isfinite(v)]
        mine = details.get(who, {})
        corr = [float(s["corr"]) for s in mine.values()]
        mmc = [float(s["mmc"]) for s in mine.values()]
        board.append(
            {
                "participant": who,
                "rounds": len(scores.get(who, {})),
                "mean_score": sum(values) / len(values) if values else None,
                "mean_corr": sum(corr) / len(corr) if corr else None,
                "mean_mmc": sum(mmc) / len(mmc) if mmc else None,
                "net_payout_minor": paid.get(who, 0),
                "net_payout": format_minor(paid.get(who, 0), places),
            }
        )
    board.sort(key=_leaderboard_order)
    # Every round names its eras afresh (each round's first era is often "era1"), so a
    # chart needs one x per (round, era) shared by every participant: the rounds in order,
    # each round's eras by name with their numbers compared as numbers (era9 before era10;
    # the scorer lists them as text, era10 first; dates as ISO text keep their order).
    positions: dict[tuple[int, str], int] = {}
    for r in sorted({r for by_round in details.values() for r in by_round}):
        named = {
            str(e["era"])
            for by_round in details.values()
            for e in by_round.get(r, {}).get("eras", [])
        }
        for era in sorted(named, key=lambda name: (_natural_order(name), name)):
            positions[(r, era)] = len(positions) + 1
    eras = {
        who: sorted(
            (
                {
                    "round": r,
                    "era": e["era"],
                    "position": positions[(r, str(e["era"]))],
                    "corr": finite(e["corr"]),
                    "mmc": finite(e["mmc"]),
                }
                for r, s in by_round.items()
                for e in s.get("eras", [])
            ),
            key=lambda entry: int(entry["position"]),
        )
        for who, by_round in sorted(details.items())
    }
    return {
        "currency": currency,
        "leaderboard": board,
        "scores": {
            who: [[r, finite(v)] for r, v in sorted(by_round.items())]
            for who, by_round in sorted(scores.items())
        },
        "eras": eras,
        "unpaid_rounds": sorted(unpaid),
    }


def _natural_order(name: str) -> list[tuple[int, int | str]]:
    """A sort key that compares the digit runs of ``name`` as numbers: era9 < era10."""
    return [
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    ]


def _leaderboard_order(entry: dict[str, Any]) -> tuple[float, str]:
    """Best mean score first (no score last), then by name."""
    score = entry["mean_score"]
    return (-score if score is not None else math.inf, str(entry["participant"]))


def compare_view(store: RunStore, run_ids: Sequence[str]) -> dict[str, Any]:
    """Two or more runs side by side: each metric's series per run, the last value of
    every metric per run, and the settings that differ, as dotted keys (a job's
    ``job_settings.train.lr``, not its whole ``job_settings``) shown as a run's page shows
    them; a run without the setting has no value under it."""
    if len(run_ids) < 2:
        raise ConfigError("compare needs at least two run ids (ids=a,b)")
    if len(run_ids) > MAX_COMPARE:
        raise ConfigError(f"compare at most {MAX_COMPARE} runs at once, got {len(run_ids)}")
    unique: list[RunInfo] = []
    for run_id in run_ids:
        run = store.get_run(run_id)
        if all(run.run_id != other.run_id for other in unique):
            unique.append(run)
    if len(unique) < 2:
        raise ConfigError("compare needs two different runs; the ids given name one run")
    metrics: dict[str, dict[str, list[list[Any]]]] = {}
    final: dict[str, dict[str, float | None]] = {}
    for run in unique:
        series = store.round_metrics(run.run_id)
        final[run.run_id] = {k: finite(points[-1][1]) for k, points in series.items() if points}
        for key, points in series.items():
            metrics.setdefault(key, {})[run.run_id] = [[r, finite(v)] for r, v in points]
    configs = {run.run_id: settings(run) for run in unique}
    differences = []
    for key in sorted({k for config in configs.values() for k in config}):
        held = {rid: config[key] for rid, config in configs.items() if key in config}
        if len(held) < len(unique) or len({repr(v) for v in held.values()}) > 1:
            values = {rid: shortened_setting(value) for rid, value in held.items()}
            differences.append({"key": key, "values": values})
    common = sorted(k for k, by_run in metrics.items() if len(by_run) == len(unique))
    return {
        "runs": [run_header(r) for r in unique],
        "metrics": {k: metrics[k] for k in sorted(metrics)},
        "common": common,
        "final": final,
        # None for an operating point (a threshold): no run's value of it is the best
        "lower_is_better": {k: _LOWER.get(better_direction(k)) for k in metrics},
        "config_differences": differences,
    }

"""Rich renderables for the CLI: a runs list, one run's full detail, a tournament leaderboard."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TypeVar

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.jupyter import JupyterMixin
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rengo.core.skipped_round import ROUND_SKIPPED, is_skipped, skipped_rounds
from rengo.privacy.epsilon_text import epsilon_shown, four_digits, metric_text
from rengo.privacy.release_note import ReleasedSpend, read_release_note
from rengo.rewards import DEFAULT_CURRENCY, currency_decimals, format_minor
from rengo.tracking.column_importance import FEATURE_NAMES
from rengo.tracking.iv_selection_table import IV_SELECTION, iv_selection_table
from rengo.tracking.membership_table import membership_table
from rengo.tracking.records import ClientRecord, ClientStats, RunInfo
from rengo.tracking.reliability import RELIABILITY, recorded_reliability, reliability_rich_table
from rengo.tracking.resume_settings import PARTY_RELEASES
from rengo.tracking.round_coverage import PhaseCoverage, phase_coverage, round_coverage
from rengo.tracking.store import WRITTEN_AHEAD, RunStore

if TYPE_CHECKING:  # numpy's modules: imported where a run's detail needs them, not to list runs
    from rengo.tournament import LeaderboardEntry
    from rengo.tracking.client_spread import ClientMetricSummary

_STATUS_STYLES = {
    "running": "bold cyan",
    "completed": "green",
    "failed": "bold red",
    "interrupted": "yellow",
}
T = TypeVar("T")

_EVENT_STYLES = {"debug": "dim", "info": "", "warning": "yellow", "error": "bold red"}


class LiteralText(JupyterMixin):
    """Renders ``renderable`` with console markup off: every ``[...]`` in the strings it
    holds is shown as written. A run's detail holds what parties wrote (metric names, why a
    request failed, event messages), and rich read ``[/x]`` in one as a closing tag and
    raised ``MarkupError``, so one party's metric name made ``rengo runs show`` fail. A
    notebook displays it as it does a rich ``Table`` (a bare ``Group`` showed as
    ``<rich.console.Group at 0x...>``)."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Render the content with markup off (measuring it included)."""
        yield from console.render(self.renderable, options.update(markup=False))


def _when(moment: datetime | None) -> str:
    """Local wall-clock time, to the second, with its UTC offset, for a UTC timestamp
    (``2026-12-06 09:00:00+01:00``: a time read on a machine in another zone, or copied
    into a report, still says which moment it is)."""
    return "-" if moment is None else moment.astimezone().isoformat(sep=" ", timespec="seconds")


def _duration(seconds: float | None) -> str:
    """A duration as a person reads it: ``15ms`` under a tenth of a second (a simulated
    round of small clients: every one read ``0.0s``), ``2.4s``, ``3m05s``, ``1h02m``."""
    if seconds is None:
        return "-"
    if seconds < 0.1:
        return f"{seconds * 1000:.0f}ms"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{int(secs):02d}s"
    return f"{secs:.1f}s"


def _bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _tail(items: list[T], limit: int | None, name: str) -> tuple[list[T], str]:
    """The last ``limit`` items (all for None) and a title saying how many are shown."""
    if limit is None or limit >= len(items):
        return items, name
    shown = items[len(items) - max(limit, 0) :]
    return shown, f"{name} (last {len(shown)} of {len(items)})"


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLES.get(status, ""))


_LONGEST_SHOWN = 300
"""Characters of one config or summary value a run's detail shows (the store keeps all)."""


_NUMBERS_SHOWN = 6
"""Leading numbers a run's detail shows of a long list of them (the store keeps all)."""


def shortened_setting(value: Any) -> Any:
    """``value`` as a run's detail shows it: unchanged; a list of more than
    :data:`_NUMBERS_SHOWN` numbers (e.g. a job's per-feature input scaling) as its count and
    first few, to 4 digits; anything else past :data:`_LONGEST_SHOWN` characters as JSON,
    its start and its length (the store keeps every value whole)."""
    if (
        isinstance(value, list)
        and len(value) > _NUMBERS_SHOWN
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        first = ", ".join(four_digits(float(v)) for v in value[:_NUMBERS_SHOWN])
        return f"{len(value)} numbers: {first}, ..."
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) <= _LONGEST_SHOWN:
        return value
    return f"{text[: _LONGEST_SHOWN - 40]}... ({len(text)} characters)"


def dotted_settings(values: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Nested settings as ``a.b.c`` keys (a job's ``job_settings``), leaves as they are."""
    for key in sorted(values):
        value = values[key]
        if isinstance(value, dict) and value:
            yield from dotted_settings(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _mapping_table(title: str, values: dict[str, Any], *, rounded: bool = False) -> Table:
    """Key-value rows; ``rounded``: floats to 4 significant digits, as the rounds table shows
    metrics (a run's summary; its settings show as they were given)."""
    table = Table(title=title, show_header=False, title_justify="left", expand=False)
    table.add_column("key", style="bold", overflow="fold")
    table.add_column("value", overflow="fold")
    for key, value in dotted_settings(values):
        if rounded and isinstance(value, float):
            table.add_row(key, four_digits(value))
            continue
        shown = shortened_setting(value)
        table.add_row(key, shown if isinstance(shown, str) else json.dumps(shown, default=str))
    return table


def runs_table(runs: Iterable[RunInfo], now: datetime | None = None) -> Table:
    """One line per run: id, kind, name, status, how long ago it started, and its duration.

    Fits an 80-column terminal without cutting a run id, name or status: ids, statuses and
    times never wrap, and a long name or kind wraps onto a second line instead of being cut.
    The id holds the UTC start time; ``rengo runs show`` has the exact times and the seed.
    """
    moment = now or datetime.now(timezone.utc)
    table = _list_table("runs")
    table.add_column("kind", overflow="fold")
    table.add_column("name", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("started", justify="right", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    for run in runs:
        table.add_row(
            run.run_id,
            run.kind,
            run.name or "-",
            _status(run.status),
            _ago(moment, run.started_at),
            _duration(run.duration_s),
        )
    return table


def study_table(
    study: str,
    runs: Iterable[RunInfo],
    settings: Mapping[str, Mapping[str, str]],
    now: datetime | None = None,
) -> Table:
    """One line per cell of ``study`` (``rengo runs list --study``): its run id, status, the
    value of each setting that tells the cells apart, when it started and how long it took.

    Parameters
    ----------
    study
        The study's name (the table's title).
    runs
        Its runs, in the order to list them.
    settings
        Each varied setting's column (its short name) and its value by run id, as text
        (``-`` where a run has none).
    now
        The moment start times are counted back from (None: now).

    Returns
    -------
    Table
        The table.
    """
    moment = now or datetime.now(timezone.utc)
    table = _list_table(f"study {study}")
    table.add_column("status", no_wrap=True)
    for name in settings:
        table.add_column(name, overflow="fold")
    table.add_column("started", justify="right", no_wrap=True)
    table.add_column("took", justify="right", no_wrap=True)
    for run in runs:
        values = [column.get(run.run_id, "-") for column in settings.values()]
        table.add_row(
            run.run_id,
            _status(run.status),
            *values,
            _ago(moment, run.started_at),
            _duration(run.duration_s),
        )
    return table


def _list_table(title: str) -> Table:
    """An empty list of runs as ``rengo runs list`` draws one, its run id column added."""
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    table.add_column("run id", style="bold", no_wrap=True)
    return table


def _ago(now: datetime, moment: datetime | None) -> str:
    """``"42s ago"``, ``"5m ago"``, ``"3h ago"``, ``"12d ago"``: at most 8 characters."""
    if moment is None:
        return "-"
    seconds = max(0.0, (now - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def round_unit(run: RunInfo) -> str:
    """What one of the run's recorded rounds is called: ``"round"`` (horizontal runs), a
    vertical run's algorithm's ``epoch_unit`` (SecureBoost: ``"tree"``), ``"epoch"`` for a
    vertical algorithm this rengo does not know. The registry, which imports every
    algorithm, is imported only for a vertical run (``rengo runs show``, the dashboard), not
    for ``rengo runs list``."""
    if not run.kind.startswith("vfl"):
        return "round"
    from rengo.vfl.registry import algorithms

    name = run.config.get("algorithm")
    known = algorithms()
    return known[name].epoch_unit if isinstance(name, str) and name in known else "epoch"


def _rounds_table(store: RunStore, run: RunInfo, max_rounds: int | None) -> Table | None:
    """The run's rounds; a vertical run's are its epochs, every party in each, none failing
    (a party that fails ends the run), as the dashboard shows them."""
    rounds = store.rounds(run.run_id)
    if not rounds:
        return None
    vertical = run.kind.startswith("vfl")
    unit = round_unit(run)
    shown, title = _tail(rounds, max_rounds, f"{unit}s")
    skipped = sum(1 for r in rounds if is_skipped(r.metrics))
    if skipped:  # on_short_round = "skip": rounds that kept the model before them
        title += f" ({skipped} skipped, short of clients: model kept; --round K says why)"
    keys = sorted({key for record in rounds for key in record.metrics})
    table = Table(title=title, title_justify="left")
    table.add_column(unit, justify="right")
    table.add_column("time", justify="right")
    table.add_column("parties" if vertical else "clients", justify="right")
    # a round's num_failures counts failed training and failed evaluation together (16 in
    # a round whose 30 clients lost 12 to training): where evaluation failed, two columns
    by_phase = {} if vertical else store.failures_by_phase(run.run_id, [r.round for r in shown])
    split = any(phases.get("evaluate") for phases in by_phase.values())
    if not vertical:
        table.add_column("fit failed" if split else "failed", justify="right")
        if split:
            table.add_column("eval failed", justify="right")
    for key in keys:
        table.add_column(key, justify="right")
    for record in shown:
        phases = by_phase.get(record.round)
        counts = (
            [record.num_failures]
            if not split
            else [phases.get("fit", 0), phases.get("evaluate", 0)]
            if phases is not None
            else [record.num_failures, 0]  # no failed client records: as recorded
        )
        failed = [Text(str(n), style="red" if n else "") for n in counts]
        table.add_row(
            str(record.round),
            _duration(record.duration_s),
            str(record.num_clients),
            *([] if vertical else failed),
            *(_metric_cell(k, record.metrics) for k in keys),
        )
    return table


def _metric_cell(key: str, metrics: dict[str, float]) -> str | Text:
    """A round's value of metric ``key`` as the rounds table shows it: ``-`` where the round
    has none, ``skipped`` (yellow) for :data:`ROUND_SKIPPED`."""
    if key not in metrics:
        return "-"
    if key == ROUND_SKIPPED:
        return Text("skipped", style="yellow") if is_skipped(metrics) else "-"
    return metric_text(key, metrics[key])


MAX_CLIENTS_SHOWN = 20
"""Clients a run's detail lists by default (a 1,000-client run listed each: 923 lines)."""


def _clients_worth_showing(stats: list[ClientStats], limit: int) -> list[ClientStats]:
    """The ``limit`` clients a person looks at first: the most failures, then those with a
    note on a kept result, then in the store's (id) order."""
    order = sorted(
        range(len(stats)),
        key=lambda i: (-stats[i].failures, stats[i].last_note is None, i),
    )
    return [stats[i] for i in order[: max(limit, 0)]]


def _clients_table(store: RunStore, run_id: str, max_clients: int | None) -> Table | None:
    stats = store.client_stats(run_id)
    if not stats:
        return None
    shown, title = stats, "clients"
    if max_clients is not None and len(stats) > max_clients:
        shown = _clients_worth_showing(stats, max_clients)
        failed = sum(1 for client in stats if client.failures)
        title = (
            f"clients ({len(shown)} of {len(stats)}, most failures first; {failed} failed at "
            "least once; --max-clients 0 lists all)"
        )
    table = Table(title=title, title_justify="left")
    table.add_column("client", style="bold", no_wrap=True)
    for numeric in ("rounds", "failures", "examples", "sent", "received", "time"):
        table.add_column(numeric, justify="right", no_wrap=True)
    table.add_column("last failure", overflow="fold")
    notes = any(client.last_note for client in shown)
    if notes:  # results kept with a note: a claim the result checks capped
        table.add_column("last note", overflow="fold")
    for client in shown:
        table.add_row(
            client.client_id,
            str(client.rounds_participated),
            Text(str(client.failures), style="red" if client.failures else ""),
            str(client.num_examples),
            _bytes(client.bytes_sent),
            _bytes(client.bytes_received),
            _duration(client.duration_s),
            client.last_failure or "-",
            *([client.last_note or "-"] if notes else []),
        )
    return table


def _client_metrics_table(store: RunStore, run: RunInfo) -> RenderableType | None:
    """How evenly the model serves its clients: each client metric's distribution over the
    clients in the last completed round that reported it (mean, worst and best 10 %,
    extremes), with who did not report in that round, and what a round cut short holds
    (kept out of the table: a few clients' figures are not the round's)."""
    coverage = round_coverage(
        store.client_records(run.run_id, rounds=store.client_summary_rounds(run.run_id)),
        [r.round for r in store.rounds(run.run_id, metrics=False)],
    )
    from rengo.tracking.client_spread import client_metric_summary

    summaries = client_metric_summary(coverage.completed)
    notes = [
        *_partial_round_notes(coverage.completed, summaries),
        *(_cut_short_note(c, run.status) for c in coverage.cut_short if c.reported),
    ]
    if not summaries:
        return Text("\n".join(notes), style="yellow") if notes else None
    table = Table(
        title="client metrics (distribution over clients, last completed round)",
        title_justify="left",
    )
    table.add_column("metric", style="bold")
    table.add_column("round", justify="right")
    table.add_column("clients", justify="right")
    table.add_column("mean", justify="right")
    table.add_column("worst 10 %", justify="right")
    table.add_column("best 10 %", justify="right")
    table.add_column("min", justify="right")
    table.add_column("max", justify="right")
    table.add_column("worst 10 %, first round", justify="right")
    table.add_column("worst clients", overflow="fold")
    for s in summaries:
        last = s.last
        table.add_row(
            s.metric,
            str(last.round),
            str(last.clients),
            metric_text(s.metric, last.mean),
            metric_text(s.metric, last.worst_decile),
            metric_text(s.metric, last.best_decile),
            metric_text(s.metric, last.minimum),
            metric_text(s.metric, last.maximum),
            metric_text(s.metric, s.first_worst_decile),
            _worst_clients(s.worst_clients),
        )
    if not notes:
        return table
    return Group(table, Text("\n".join(notes), style="yellow"))


CLIENTS_NAMED = 5
"""Clients a note on a round's coverage names before it counts the rest."""


def _named(clients: Sequence[str]) -> str:
    more = len(clients) - CLIENTS_NAMED
    return ", ".join(clients[:CLIENTS_NAMED]) + (f" (+{more} more)" if more > 0 else "")


def _partial_round_notes(
    records: Sequence[ClientRecord], summaries: Sequence[ClientMetricSummary]
) -> list[str]:
    """For each phase of a round the table shows that some clients did not answer: whose
    metrics it holds and why the others are missing."""
    coverage = phase_coverage(records)
    notes = []
    for key in sorted({(s.last.round, s.metric.split(" ", 1)[0]) for s in summaries}):
        phase = coverage.get(key)
        if phase is None or not phase.failed:
            continue
        why = "; ".join(f"{c}: {reason}" for c, reason in list(phase.failed.items())[:3])
        notes.append(
            f"round {key[0]} {key[1]}: metrics of {len(phase.reported)} of {phase.asked} "
            f"clients ({_named(phase.reported)}); no result from {_named(list(phase.failed))} "
            f"({why})"
        )
    return notes


_CUT_SHORT_BY = {
    "interrupted": "the run was interrupted during it",
    "failed": "the run failed in it",
    "running": "it is still running",
}


def _cut_short_note(phase: PhaseCoverage, status: str) -> str:
    """A round without a round record: whose metrics it holds, and that the table leaves
    them out."""
    how = _CUT_SHORT_BY.get(status, "it did not complete")
    count = len(phase.reported)
    missing = f"; no result from {_named(list(phase.failed))}" if phase.failed else ""
    return (
        f"round {phase.round} was cut short ({how}): its {phase.phase} metrics, of "
        f"{_named(phase.reported)} ({count} client{'s' if count != 1 else ''}{missing}), are "
        "not shown as that round's"
    )


WORST_CLIENTS_NAMED = 3
"""Clients of a metric's worst decile a run's detail names (a 1,000-client round: 100)."""


def _worst_clients(ranked: Sequence[str]) -> str:
    """The worst decile's first clients, worst first, and how many more it holds."""
    named = ", ".join(ranked[:WORST_CLIENTS_NAMED])
    more = len(ranked) - WORST_CLIENTS_NAMED
    return f"{named} (+{more} more)" if more > 0 else named


def _events_table(store: RunStore, run_id: str, max_events: int | None) -> Table | None:
    events = store.events(run_id)
    if not events:
        return None
    shown, title = _tail(events, max_events, "events")
    table = Table(title=title, title_justify="left")
    table.add_column("time")
    table.add_column("round", justify="right")
    table.add_column("level")
    table.add_column("message", overflow="fold")
    for event in shown:
        table.add_row(
            _when(event.created_at),
            "-" if event.round is None else str(event.round),
            Text(event.level, style=_EVENT_STYLES.get(event.level, "")),
            event.message,
        )
    return table


def _contributions_table(store: RunStore, run_id: str, limit: int | None) -> Table | None:
    """The contribution values; past ``limit`` the run's totals, highest first (else the
    last rounds' values), with how many there are and where to see them all."""
    records = store.contributions(run_id)
    if not records:
        return None
    title = "contributions"
    if limit is not None and len(records) > limit:
        totals = [r for r in records if r.round is None]
        if totals:
            shown = sorted(totals, key=lambda r: (-r.value, r.participant))[: max(limit, 0)]
            what = f"{len(shown)} of {len(totals)} participants' run totals, highest first"
        else:
            shown = records[len(records) - max(limit, 0) :]
            what = f"the last {len(shown)} of {len(records)} values"
        title = f"contributions ({what}; rengo rewards show RUN lists every one)"
        records = shown
    table = Table(title=title, title_justify="left")
    table.add_column("round", justify="right")
    table.add_column("participant", style="bold")
    table.add_column("method")
    table.add_column("value", justify="right")
    for record in records:
        table.add_row(
            "run" if record.round is None else str(record.round),
            record.participant,
            record.method,
            four_digits(record.value),
        )
    from rengo.tracking.contrib_records import recorded_valuation, valuation_text

    valued = []  # how each method's values were computed (its truncation settings too)
    for method in dict.fromkeys(r.method for r in records):
        valuation = recorded_valuation(store, run_id, method)
        if valuation is not None:
            valued.append(f"valued: {escape(valuation_text(method, valuation))}")
    if valued:
        table.caption = "\n".join(valued)
        table.caption_justify = "left"
    return table


def _ledger_table(store: RunStore, run_id: str, limit: int | None) -> Table | None:
    entries = store.ledger(run_id)
    if not entries:
        return None
    entries, title = _tail(entries, limit, "ledger")
    if title != "ledger":
        title = title[:-1] + "; rengo rewards show RUN lists every one)"
    table = Table(title=title, title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("round", justify="right")
    table.add_column("participant", style="bold")
    table.add_column("kind")
    table.add_column("amount", justify="right")
    table.add_column("currency")
    table.add_column("reason", overflow="fold")
    for entry in entries:
        table.add_row(
            str(entry.seq),
            "run" if entry.round is None else str(entry.round),
            entry.participant,
            entry.kind,
            major_units(entry.amount, entry.currency),
            entry.currency,
            entry.reason or "-",
        )
    return table


def major_units(amount: int | str, currency: str, decimals: int | None = None) -> str:
    """A ledger amount as people read it: an int of minor units in major units with the
    currency's decimals (``11452`` credits -> ``114.52``); a decimal string as written."""
    if isinstance(amount, str):
        return amount
    return format_minor(amount, currency_decimals(currency, decimals))


def _in_major_units(value: Any, currency: str, decimals: int | None) -> Any:
    """``value`` with every ``*_minor`` amount (at any depth) shown in major units, under
    the key without its suffix (a summary is for people; the ledger keeps the integers)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and key.endswith("_minor") and isinstance(item, int):
                out[key.removesuffix("_minor")] = (
                    f"{format_minor(item, currency_decimals(currency, decimals))} {currency}"
                )
            else:
                out[key] = _in_major_units(item, currency, decimals)
        return out
    if isinstance(value, list):
        return [_in_major_units(item, currency, decimals) for item in value]
    return value


def privacy_spent(store: RunStore, run_id: str) -> str | None:
    """The privacy a run spent, in one line (``rengo runs show`` and the dashboard).

    Parameters
    ----------
    store, run_id
        The store and the run (full id).

    Returns
    -------
    str or None
        ``"epsilon 3.21 at delta 1e-05 after 20 rounds"`` for a run with central
        differential privacy (its last recorded ``dp_epsilon`` and ``dp_delta``, and the
        rounds its accountant composed, ``dp_rounds_accounted``, where they are more than the
        rounds: a round run again after a stop that followed its release); for local
        DP, the largest epsilon a client reported (the round's ``train_dp_epsilon`` is the
        clients' weighted mean, below the worst client's); else None.
    """
    series = store.round_metrics(run_id)
    spent = series.get("dp_epsilon")
    recorded = store.get_run(run_id).config
    dp = recorded.get("dp") if isinstance(recorded, dict) else None
    void = ""
    if isinstance(dp, dict) and dp.get("seeded_noise") is True:
        void = " (seeded_noise: noise drawn from the run seed, so this guarantee does not hold)"
    released = released_unrecorded(store, run_id, spent[-1][0] if spent else 0)
    if released is not None:
        why = (
            "is with clients for federated evaluation; the round is not recorded yet"
            if store.get_run(run_id).status == "running"
            else "was shown to clients in federated evaluation before the run stopped, and "
            "the round was not recorded"
        )
        return (
            f"epsilon {epsilon_shown(released.epsilon)} at delta {released.delta:.3g} after "
            f"{released.round} rounds ({released.accounted} rounds accounted; round "
            f"{released.round}'s model {why}){void}"
        )
    if not spent:
        return _local_epsilon(store, run_id) or _local_epsilon_kept(store, run_id)
    last_round, epsilon = spent[-1]
    delta = series.get("dp_delta")
    at = f" at delta {delta[-1][1]:.3g}" if delta else ""
    accounted = series.get("dp_rounds_accounted")
    composed = ""
    if accounted and int(accounted[-1][1]) != last_round:
        why = accounted_differs(series, int(accounted[-1][1]), last_round)
        composed = f" ({int(accounted[-1][1])} rounds accounted: {why})"
    return f"epsilon {epsilon_shown(epsilon)}{at} after {last_round} rounds{composed}{void}"


def accounted_differs(
    series: Mapping[str, list[tuple[int, float]]], composed: int, last_round: int
) -> str:
    """Why a central-DP run's accountant composed ``composed`` rounds over ``last_round``
    rounds: more when a round whose model clients were shown before a stop ran again (it
    counts twice), fewer when rounds were skipped short of clients (``on_short_round =
    "skip"`` in a run recorded before a short round under central DP was released: a skipped
    round released nothing and was not accounted).

    Parameters
    ----------
    series
        The run's round metrics (:meth:`RunStore.round_metrics`).
    composed, last_round
        The last recorded ``dp_rounds_accounted`` and the round it was recorded in.

    Returns
    -------
    str
        The explanation, naming how many rounds were skipped.
    """
    skipped = skipped_rounds(series, through=last_round)
    if composed > last_round:
        return "a round whose model clients were shown before a stop ran again and counts twice"
    if skipped:
        return (
            f"{len(skipped)} round(s) skipped short of clients released nothing and were not "
            "accounted; whether a round was skipped depends on how many clients replied, which "
            "no noise covers"
        )
    return "fewer rounds were composed than run"


def released_unrecorded(store: RunStore, run_id: str, last_round: int) -> ReleasedSpend | None:
    """The spend of a round released to clients after ``last_round`` (the last with a
    recorded epsilon) and never recorded itself: the run stopped in its federated
    evaluation (:mod:`rengo.privacy.release_note`).

    Parameters
    ----------
    store, run_id
        The store and the run (full id).
    last_round
        The last round whose ``dp_epsilon`` the run recorded (0: none).

    Returns
    -------
    ReleasedSpend or None
        The latest such spend; None when every release was recorded.
    """
    latest: ReleasedSpend | None = None
    for event in store.events(run_id):
        if event.level == "warning":  # the coordinator's note of a stop after the release
            spend = read_release_note(event.message)
        elif event.level == "debug" and event.message.startswith(WRITTEN_AHEAD):
            spend = read_release_note(event.message[len(WRITTEN_AHEAD) :])  # before it
        else:
            continue
        if spend is None or spend.round <= last_round:
            continue
        if latest is None or spend.accounted >= latest.accounted:
            latest = spend
    return latest


def _local_epsilon_kept(store: RunStore, run_id: str) -> str | None:
    """For a job with local DP whose clients sent no epsilon (secure aggregation keeps their
    fit metrics with them): that the record holds none, and why, with the DP-SGD settings
    the job gave them (None for any other run)."""
    recorded = store.get_run(run_id).config
    job = recorded.get("job_settings") if isinstance(recorded, dict) else None
    privacy = job.get("privacy") if isinstance(job, dict) else None
    if not isinstance(privacy, dict) or privacy.get("dp") != "local":
        return None
    local = privacy.get("local")
    settings = ""
    if isinstance(local, dict):
        settings = (
            f" (DP-SGD: noise multiplier {local.get('noise_multiplier')}, max_grad_norm "
            f"{local.get('max_grad_norm')}, delta {local.get('delta')}, accountant "
            f"{local.get('accountant')})"
        )
    why = ""
    if privacy.get("secagg") is not None:
        why = (
            ": secure aggregation keeps each client's fit metrics, its dp_epsilon among "
            "them, at the client"
        )
    return f"local DP{settings}: no client's epsilon reached the coordinator{why}"


def _local_epsilon(store: RunStore, run_id: str) -> str | None:
    """``"local DP: epsilon up to 7.41 at delta 1e-05 (client 1, the worst of 3) after 2
    rounds"`` from the clients' own ``dp_epsilon`` and ``dp_delta`` fit metrics (epsilon only
    grows; clients of older releases sent no delta), or None without any."""
    peaks = store.client_metric_peaks(run_id, "dp_epsilon")
    worst = {client: value for client, (value, _) in peaks.items()}
    last_round = max((last for _, last in peaks.values()), default=0)
    if not worst:
        return None
    client = max(worst, key=lambda c: (worst[c], c))
    delta = store.client_metric_peaks(run_id, "dp_delta").get(client)
    at = f" at delta {delta[0]:.3g}" if delta is not None else ""
    return (
        f"local DP: epsilon up to {epsilon_shown(worst[client])}{at} (client {client}, the worst "
        f"of {len(worst)}) after {last_round} rounds"
    )


def why_it_ended(store: RunStore, run: RunInfo) -> str | None:
    """Why a run that did not complete ended, in one line: the error a failed run recorded,
    the interruption a stopped one recorded, or that the process of a run still marked
    running is gone (it could record nothing); None for a completed or running run.

    Parameters
    ----------
    store, run
        The store and the run, as read from it.

    Returns
    -------
    str or None
        The reason (the first line of the recorded event), or None.
    """
    if run.status == "failed":
        events = store.events(run.run_id, level="error")
        chosen = [e for e in events if e.message.startswith("run failed:")] or events
        return chosen[-1].message.splitlines()[0] if chosen else None
    if run.status != "interrupted":
        return None
    if run.owner_gone:
        since = "" if run.heartbeat_at is None else f"; last heartbeat {_when(run.heartbeat_at)}"
        return (
            f"its process (pid {run.owner_pid} on {run.hostname}) ended without recording "
            f"how{since}"
        )
    stopped = [
        e
        for e in store.events(run.run_id, level="warning")
        if e.message.startswith("run interrupted")
    ]
    return stopped[-1].message.splitlines()[0] if stopped else None


def run_detail(
    store: RunStore,
    run_id: str,
    max_rounds: int | None = 50,
    max_events: int | None = 20,
    max_clients: int | None = MAX_CLIENTS_SHOWN,
) -> RenderableType:
    """Everything recorded for one run: header, config, summary, rounds, clients, events.

    Long runs show their last ``max_rounds`` rounds and ``max_events`` events, and a run
    of many clients ``max_clients`` of them, those with the most failures first, with how
    many there were and how many failed; as many contribution values (the run's totals,
    highest first) and ledger lines (the last) (None: all of each).

    Parameters
    ----------
    store, run_id
        The store and the run (an id or a unique prefix of one).
    max_rounds, max_events, max_clients
        How many rounds, events and clients (contribution values, ledger lines) to list at
        most (None: every one).

    Returns
    -------
    RenderableType
        The detail, for a :class:`rich.console.Console`.
    """
    run = store.get_run(run_id)
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("run id", run.run_id)
    header.add_row("kind", run.kind)
    header.add_row("name", run.name or "-")
    header.add_row("status", _status(run.status))
    from rengo.tracking.contrib_records import missing_values_text

    lost = missing_values_text(store, run.run_id)
    if lost is not None:  # "completed" alone would say the values were recorded too
        header.add_row("contribution", f"values missing: {lost}")
    ending = why_it_ended(store, run)
    if ending is not None:
        header.add_row("why", ending)
    header.add_row("started", _when(run.started_at))
    header.add_row("finished", _when(run.finished_at))
    header.add_row("duration", _duration(run.duration_s))
    if run.paused_s > 0:
        header.add_row("interrupted for", _duration(run.paused_s))
    header.add_row("seed", "-" if run.seed is None else str(run.seed))
    header.add_row("rengo", run.rengo_version)
    builds = run.config.get(PARTY_RELEASES)
    if isinstance(builds, dict) and builds:  # a deployed run of this release or later
        shown = "; ".join(
            f"{party} {', '.join(map(str, b)) if isinstance(b, list) else b}"
            for party, b in sorted(builds.items())
        )
        header.add_row("party builds", shown)
    header.add_row("host", run.hostname)
    privacy = privacy_spent(store, run.run_id)
    if privacy is not None:
        header.add_row("privacy", privacy)
    checkpoints = store.checkpoint_rounds(run.run_id)
    if run.kind == "vfl":  # a simulated vertical run stores its model once, after training
        from rengo.tracking.model_export import stored_model

        kept = stored_model(store, run.run_id)
        header.add_row("model", kept or "none kept (`rengo runs export` says why)")
    elif run.kind == "vfl-deployed":
        header.add_row("model", "kept at each party (`rengo vfl party --model FILE`), not here")
    elif checkpoints:
        header.add_row("checkpoints", f"{len(checkpoints)} (latest round {checkpoints[-1]})")
    parts: list[RenderableType] = [Panel(header, title=run.label, expand=False)]
    parts.append(
        _mapping_table("config", {k: v for k, v in run.config.items() if k != PARTY_RELEASES})
    )
    if run.summary:
        ledger = store.ledger(run.run_id)
        currency = str(run.summary.get("currency") or (ledger[0].currency if ledger else ""))
        decimals = run.summary.get("decimals")
        shown = _in_major_units(
            {
                k: v
                for k, v in run.summary.items()
                if k not in (RELIABILITY, FEATURE_NAMES, IV_SELECTION)
            },
            currency or DEFAULT_CURRENCY,
            decimals if isinstance(decimals, int) else None,
        )
        parts.append(_mapping_table("summary", shown, rounded=True))
        selection = run.summary.get(IV_SELECTION)
        given = run.config.get("selection")  # the settings as the job gave them
        selected = (
            iv_selection_table(selection, given if isinstance(given, dict) else None)
            if isinstance(selection, dict)
            else None
        )
        if selected is not None:
            parts.append(selected)
        try:
            reliability = recorded_reliability(run.summary, run.run_id)
        except ValueError as exc:
            parts.append(Text(str(exc), style="yellow"))
        else:
            if reliability is not None:
                parts.append(reliability_rich_table(reliability))
    for table in (
        _rounds_table(store, run, max_rounds),
        _clients_table(store, run.run_id, max_clients),
        _client_metrics_table(store, run),
        _contributions_table(store, run.run_id, max_clients),
        _ledger_table(store, run.run_id, max_clients),
        membership_table(store, run),
        _events_table(store, run.run_id, max_events),
    ):
        if table is not None:
            parts.append(table)
    return LiteralText(Group(*parts))  # what parties wrote is text, never console markup


def leaderboard_table(
    entries: Sequence[LeaderboardEntry], title: str, decimals: int = 2, currency: str = ""
) -> Table:
    """A tournament leaderboard (entries best first) as a rich table with net payouts.

    Parameters
    ----------
    entries:
        From :meth:`rengo.tournament.Tournament.leaderboard`.
    title:
        The table's title.
    decimals, currency:
        How the payouts (minor units) are written.

    Returns
    -------
    rich.table.Table
        Rank, participant, rounds, mean CORR, mean MMC and net payout per participant.
    """
    table = Table(title=title, title_justify="left")
    for column in ("rank", "participant", "rounds", "mean CORR", "mean MMC", "net payout"):
        table.add_column(column, justify="left" if column == "participant" else "right")
    for rank, e in enumerate(entries, start=1):
        table.add_row(
            str(rank),
            escape(e.participant),  # the participant's own text, never console markup
            str(e.rounds),
            f"{e.mean_corr:+.4f}",
            f"{e.mean_mmc:+.4f}",
            f"{format_minor(e.total_payout_minor, decimals)} {currency}".rstrip(),
        )
    return table

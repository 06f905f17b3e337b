"""``rengo tournament open | submit | score | pay | leaderboard``: a prediction tournament.

The coordinator publishes row ids grouped in eras with the feature columns it chooses to
share (a CSV participants download) and keeps the targets; participants submit only
predictions in [0, 1] with a stake. State lives in one inspectable JSON file (default
``./rengo-runs/tournament.json``); payouts also go to the ledger of a run of kind
"tournament" in the run store. Register with ``app.add_typer(tournament_app, name="tournament")``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from rengo.cli.errors import friendly_errors
from rengo.cli.store_option import StoreOption
from rengo.core.deprecation import moved_names
from rengo.core.errors import ConfigError, DataError

tournament_app = typer.Typer(
    help="A prediction tournament: publish rows, collect predictions, score, pay.",
    no_args_is_help=True,
)
console = Console()

STATE_FORMAT = "rengo-tournament/1"
DEFAULT_STATE = Path("rengo-runs") / "tournament.json"

StateOption = Annotated[Path, typer.Option("--state", help="Tournament state (JSON file).")]
RoundOption = Annotated[
    int | None, typer.Option("--round", help="Round number (default: the open one).")
]


# -- state file ---------------------------------------------------------------------------


def load_state(path: Path) -> dict[str, Any]:
    """Read a state file written by :func:`save_state`."""
    if not path.exists():
        raise ConfigError(f"no tournament state at {path}; start one with `rengo tournament open`")
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read tournament state {path}: {exc}") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise DataError(f"{path} is not a rengo tournament state ({STATE_FORMAT})")
    return state


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write the state atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(state, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


@contextmanager
def updated_state(path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """The state and its tournament; both are saved back only if the block succeeds."""
    state = load_state(path)
    tournament = _tournament(state)
    yield state, tournament
    state["tournament"] = tournament.to_dict()
    save_state(path, state)


def _tournament(state: dict[str, Any]):  # type: ignore[no-untyped-def]
    from rengo.tournament import Tournament

    return Tournament.from_dict(state["tournament"])


# -- CSV helpers --------------------------------------------------------------------------


def read_id_values(path: Path, column: str) -> dict[str, float]:
    """``id -> float(column)`` from a CSV with a header row naming ``id`` and ``column``."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            if "id" not in fields or column not in fields:
                raise DataError(f"{path} needs columns 'id' and {column!r}; it has {fields}")
            out: dict[str, float] = {}
            for line, row in enumerate(reader, start=2):
                key = row["id"]
                if key in out:
                    raise DataError(f"{path}:{line}: duplicate id {key!r}")
                try:
                    out[key] = float(row[column])
                except (TypeError, ValueError):
                    raise DataError(
                        f"{path}:{line}: {column} {row[column]!r} is not a number"
                    ) from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    return out


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _rows_from_dataset(
    name: str, eras: int, seed: int
) -> tuple[list[str], list[str], list[str], np.ndarray, np.ndarray]:
    """Row ids, eras, feature names, features and [0, 1] targets from a bundled dataset."""
    from rengo.data import load_dataset
    from rengo.tournament import tie_kept_rank

    data = load_dataset(name)
    if data.is_classification:
        if len(data.classes or ()) != 2:
            raise ConfigError(
                f"{name} has {len(data.classes or ())} classes; a tournament target must be "
                "binary or numeric (try breast_cancer or diabetes)"
            )
        target = data.labels().astype(np.float64)
    else:
        target = tie_kept_rank(np.asarray(data.y, dtype=np.float64))
    order = np.random.default_rng(seed).permutation(len(target))
    era_of = np.empty(len(target), dtype=object)
    for k, block in enumerate(np.array_split(order, eras)):
        era_of[block] = f"era{k + 1}"
    ids = [f"{name}-{i}" for i in order]
    return (
        ids,
        [str(era_of[i]) for i in order],
        list(data.feature_names),
        data.X[order],
        target[order],
    )


def _rows_from_csv(
    path: Path,
    id_column: str,
    era_column: str | None,
    target_column: str | None,
    features: list[str] | None,
    eras: int,
    seed: int,
) -> tuple[list[str], list[str], list[str], np.ndarray, np.ndarray | None]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = list(reader)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    needed = [id_column] + [c for c in (era_column, target_column) if c]
    missing = [c for c in needed + (features or []) if c not in fields]
    if missing:
        raise DataError(f"{path} has no column(s) {missing}; it has {fields}")
    chosen = features or [c for c in fields if c not in needed]
    try:
        X = np.array([[float(r[c]) for c in chosen] for r in rows], dtype=np.float64)
        y = None if target_column is None else np.array([float(r[target_column]) for r in rows])
    except ValueError as exc:
        raise DataError(f"{path}: non-numeric feature or target: {exc}") from exc
    ids = [r[id_column] for r in rows]
    if era_column is not None:
        era_list = [r[era_column] for r in rows]
    else:
        order = np.random.default_rng(seed).permutation(len(rows))
        era_of = np.empty(len(rows), dtype=object)
        for k, block in enumerate(np.array_split(order, eras)):
            era_of[block] = f"era{k + 1}"
        era_list = [str(e) for e in era_of]
    if y is not None and (np.any(y < 0) or np.any(y > 1)):
        raise DataError(f"{path}: targets must lie in [0, 1]")
    return ids, era_list, chosen, X.reshape(len(rows), len(chosen)), y


# -- commands -----------------------------------------------------------------------------


@tournament_app.command("open")
def open_round(
    state_path: StateOption = DEFAULT_STATE,
    dataset: Annotated[
        str | None, typer.Option(help="Bundled dataset with a binary or numeric target.")
    ] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Rows to publish.")] = None,
    id_column: Annotated[str, typer.Option(help="Row id column of --csv.")] = "id",
    era_column: Annotated[
        str | None, typer.Option(help="Era column of --csv (default: random eras).")
    ] = None,
    target_column: Annotated[
        str | None, typer.Option(help="Target column of --csv, kept by the coordinator.")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated feature columns to publish (default all).")
    ] = None,
    eras: Annotated[int, typer.Option(min=1, help="Eras to group rows in when none given.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the era assignment.")] = 0,
    publish: Annotated[
        Path | None, typer.Option(help="Published CSV (id, era, features) for participants.")
    ] = None,
    targets_out: Annotated[
        Path | None, typer.Option(help="Where the coordinator keeps the targets (id, target).")
    ] = None,
    currency: Annotated[str, typer.Option(help="Currency of stakes (first round only).")] = "NMR",
    decimals: Annotated[int | None, typer.Option(help="Currency decimals.")] = None,
    budget: Annotated[
        str | None, typer.Option(help="Total payout budget in major units (first round only).")
    ] = None,
    clip: Annotated[float, typer.Option(help="Clip as a fraction of stake.")] = 0.05,
    payout_factor: Annotated[float, typer.Option(help="Payout factor.")] = 1.0,
) -> None:
    """Publish a new round: row ids in eras with chosen features; targets stay here."""
    from rengo.rewards import Budget, currency_decimals, to_minor_units
    from rengo.tournament import PayoutRule, Tournament

    with friendly_errors(console):
        if (dataset is None) == (csv_path is None):
            raise ConfigError("give exactly one of --dataset NAME or --csv PATH")
        if state_path.exists():
            state = load_state(state_path)
            tournament = _tournament(state)
        else:
            places = currency_decimals(currency, decimals)
            total = None if budget is None else Budget(to_minor_units(budget, places))
            tournament = Tournament(PayoutRule(payout_factor=payout_factor, clip=clip), total)
            state = {
                "format": STATE_FORMAT,
                "currency": currency,
                "decimals": places,
                "run_id": None,
                "paid_rounds": [],
            }
        y: np.ndarray | None
        if dataset is not None:
            ids, era_list, names, X, y = _rows_from_dataset(dataset, eras, seed)
        else:
            assert csv_path is not None
            chosen = [c.strip() for c in features.split(",")] if features else None
            ids, era_list, names, X, y = _rows_from_csv(
                csv_path, id_column, era_column, target_column, chosen, eras, seed
            )
        if dataset is not None and features:
            wanted = [c.strip() for c in features.split(",")]
            unknown = [c for c in wanted if c not in names]
            if unknown:
                raise ConfigError(f"unknown feature(s) {unknown}; {dataset} has {names}")
            X = X[:, [names.index(c) for c in wanted]]
            names = wanted
        number = tournament.open_round(ids, era_list)  # features go to the published CSV
        folder = state_path.parent
        publish = publish or folder / f"tournament-round{number}-published.csv"
        _write_csv(
            publish,
            ["id", "era", *names],
            [[i, e, *row] for i, e, row in zip(ids, era_list, X.tolist(), strict=True)],
        )
        state["tournament"] = tournament.to_dict()
        save_state(state_path, state)
        console.print(
            f"opened round [bold]{number}[/]: {len(ids)} rows in {len(set(era_list))} eras, "
            f"{len(names)} features published to {publish}"
        )
        if y is not None:
            targets_out = targets_out or folder / f"tournament-round{number}-targets.csv"
            _write_csv(
                targets_out,
                ["id", "target"],
                [[i, t] for i, t in zip(ids, y.tolist(), strict=True)],
            )
            console.print(f"targets kept by the coordinator in {targets_out}")


@tournament_app.command("submit")
def submit(
    participant: Annotated[str, typer.Option(help="Participant name.")],
    predictions: Annotated[Path, typer.Option(help="CSV with columns id,prediction in [0, 1].")],
    stake: Annotated[str, typer.Option(help="Stake in major units (e.g. 10.00).")],
    state_path: StateOption = DEFAULT_STATE,
    round_id: RoundOption = None,
) -> None:
    """Record a participant's predictions and stake (a resubmission replaces the first)."""
    from rengo.rewards import to_minor_units

    with friendly_errors(console):
        with updated_state(state_path) as (state, tournament):
            values = read_id_values(predictions, "prediction")
            stake_minor = to_minor_units(stake, int(state["decimals"]))
            tournament.submit(participant, values, stake_minor, round_id)
        console.print(
            f"{participant}: {len(values)} predictions, stake {stake} {state['currency']}"
        )


@tournament_app.command("score")
def score(
    targets: Annotated[Path, typer.Option(help="CSV with columns id,target.")],
    state_path: StateOption = DEFAULT_STATE,
    round_id: RoundOption = None,
) -> None:
    """Resolve a round: CORR and MMC per era against the targets, and the payouts due."""
    from rengo.rewards import format_minor

    with friendly_errors(console):
        with updated_state(state_path) as (state, tournament):
            result = tournament.resolve(read_id_values(targets, "target"), round_id)
        places = int(state["decimals"])
        due = {p.participant: p.amount_minor for p in result.payouts}
        table = Table(title=f"Round {result.round} scores", title_justify="left")
        for column in ("participant", "stake", "CORR", "MMC", "score", "payout"):
            table.add_column(column, justify="left" if column == "participant" else "right")
        for name, s in sorted(result.scores.items(), key=lambda kv: -kv[1].score):
            table.add_row(
                name,
                format_minor(s.stake_minor, places),
                f"{s.corr:+.4f}",
                f"{s.mmc:+.4f}",
                f"{s.score:+.4f}",
                format_minor(due.get(name, 0), places),
            )
        console.print(table)
        console.print("payouts are due; `rengo tournament pay` writes them to the ledger")


@tournament_app.command("pay")
def pay(state_path: StateOption = DEFAULT_STATE, store: StoreOption = None) -> None:
    """Append the payouts of every scored, unpaid round to the tournament run's ledger."""
    from rengo.tracking import RunStore, resolve_store_path
    from rengo.tracking.tournament_records import record_tournament_round, tournament_summary

    with friendly_errors(console):
        state = load_state(state_path)
        tournament = _tournament(state)
        paid_rounds = {int(r) for r in state["paid_rounds"]}
        todo = [r for r in tournament.results() if r.round not in paid_rounds]
        if not todo:
            console.print("nothing to pay: every scored round is already paid")
            return
        with RunStore(resolve_store_path(store)) as s:
            run_id = state.get("run_id")
            if run_id is None:
                run_id = s.start_run(
                    "tournament",
                    {"state": str(state_path), "rule": tournament.to_dict()["rule"]},
                    name="tournament",
                )
                state["run_id"] = run_id
            lines = 0
            for result in todo:
                lines += record_tournament_round(s, run_id, result, state["currency"])
                paid_rounds.add(result.round)
            summary = tournament_summary(
                tournament.results(), paid_rounds, state["currency"], int(state["decimals"])
            )
            s.finish_run(run_id, "completed", summary)
        state["paid_rounds"] = sorted(paid_rounds)
        save_state(state_path, state)
        console.print(
            f"paid rounds {[r.round for r in todo]}: {lines} ledger lines in run {run_id} "
            f"(`rengo rewards show {run_id}`)"
        )


@tournament_app.command("leaderboard")
def leaderboard(state_path: StateOption = DEFAULT_STATE) -> None:
    """Participants by mean combined score over scored rounds, with their net payouts."""

    with friendly_errors(console):
        state = load_state(state_path)
        tournament = _tournament(state)
        entries = tournament.leaderboard()
        if not entries:
            console.print("no scored round yet")
            return
        from rengo.tracking import leaderboard_table

        table = leaderboard_table(
            entries, "Leaderboard", int(state["decimals"]), str(state["currency"])
        )
        console.print(table)


# Deprecated: the leaderboard renderer moved to rengo.tracking (removed in rengo 0.3).
__getattr__ = moved_names(__name__, {"leaderboard_table": "rengo.tracking"})

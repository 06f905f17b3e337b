"""``rengo tournament open | submit | score | pay | leaderboard | cancel``: a prediction
tournament.

In this order: ``open`` publishes a round - a training set (features and targets, to learn
from) and a live set (row ids grouped in eras with the feature columns the coordinator
chooses to share; its targets stay with the coordinator); ``submit`` takes a participant's
predictions in [0, 1] for the live rows with a stake; ``score`` resolves the round (CORR and
MMC per era) once the live targets are known; ``pay`` writes the payouts to the ledger;
``cancel`` withdraws an open round published by mistake. State lives in an inspectable JSON
file (default ``tournament.json`` beside the run store: ``./rengo-runs/tournament.json``
unless ``--store`` or ``$RENGO_STORE`` names another) with its arrays (row ids, features,
predictions) as ``.npy`` files in ``tournament.json.arrays/`` beside it
(:mod:`rengo.cli.tournament_state`). The whole tournament is one run of kind "tournament" in
the run store, continued by every ``open``, ``score``, ``cancel`` and ``pay`` (the run
lifecycle's ``resume``): its events say what each step did, its summary holds the scored
rounds and its ledger the payouts. Register with
``app.add_typer(tournament_app, name="tournament")``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rengo.cli.amount_option import option_minor_units
from rengo.cli.cell_hints import cells_hinted
from rengo.cli.csv_format_options import DecimalOption, DelimiterOption, EncodingOption
from rengo.cli.errors import friendly_errors
from rengo.cli.output_paths import refuse_to_replace
from rengo.cli.store_option import StoreOption
from rengo.cli.tournament_state import STATE_FORMAT, load_state, save_state, state_lock
from rengo.core.deprecation import moved_names
from rengo.core.errors import ConfigError, DataError
from rengo.rewards import DEFAULT_CURRENCY

if TYPE_CHECKING:
    import numpy as np

    from rengo.data.csv_table import CsvFormat

tournament_app = typer.Typer(
    help=(
        "A prediction tournament, in four steps: 1. open (publish a training set and a live "
        "set), 2. submit (each participant's predictions and stake), 3. score (once the live "
        "targets are known), 4. pay (payouts to the ledger); leaderboard at any time, and "
        "cancel withdraws an open round published by mistake."
    ),
    no_args_is_help=True,
)
console = Console()

DEFAULT_STATE = Path("rengo-runs") / "tournament.json"
"""Where the state is kept without --store or $RENGO_STORE (beside the default run store);
earlier releases kept it here whatever the store, so it is still found here."""
STATE_NAME = "tournament.json"

StateOption = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="Tournament state (a JSON file, with its arrays in the folder NAME.arrays beside "
        "it). Default: tournament.json beside the run store (--store, else $RENGO_STORE, "
        "else ./rengo-runs/).",
        show_default=False,
    ),
]
RoundOption = Annotated[
    int | None, typer.Option("--round", help="Round number (default: the open one).")
]
P = ParamSpec("P")


# -- state file ---------------------------------------------------------------------------


def state_file(state_path: Path | None, store: Path | None = None) -> Path:
    """The tournament's state file: ``--state``, else ``tournament.json`` beside the run
    store (``--store``, else ``$RENGO_STORE``, else ``./rengo-runs/``), so that every step
    finds the tournament from any folder, as every other command finds its store.

    A tournament whose state an earlier release kept at ``./rengo-runs/tournament.json``
    while the store was elsewhere is still found there (with a note saying where to move it).
    """
    if state_path is not None:
        return state_path
    from rengo.tracking import resolve_store_path
    from rengo.tracking.location import MEMORY

    store_path = resolve_store_path(store)
    if str(store_path) == MEMORY:
        return DEFAULT_STATE
    beside = store_path.parent / STATE_NAME
    if not beside.exists() and DEFAULT_STATE.exists():
        if beside.resolve() != DEFAULT_STATE.resolve():
            console.print(
                f"note: using the tournament state {DEFAULT_STATE} (where earlier releases "
                f"kept it); move it to {beside}, beside the run store, or pass --state",
                highlight=False,
            )
        return DEFAULT_STATE
    return beside


def one_at_a_time(create: bool = False) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """A command that changes the state runs holding :func:`state_lock` of its state file
    (:func:`state_file` of its ``state_path`` and ``store``, handed to it as ``state_path``)
    from its first read to its last write (``create``: see there)."""

    def decorate(command: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(command)
        def locked(*args: P.args, **kwargs: P.kwargs) -> None:
            with friendly_errors():
                given, store = kwargs.get("state_path"), kwargs.get("store")
                path = state_file(
                    None if given is None else Path(str(given)),
                    None if store is None else Path(str(store)),
                )
                kwargs["state_path"] = path
                with state_lock(path, create):
                    _refuse_restored_out_of_step(path, store)
                    command(*args, **kwargs)

        return locked

    return decorate


def _refuse_restored_out_of_step(path: Path, store: object) -> None:
    """Refuse (before anything changes) a tournament whose state file and run store were
    restored from backups of different times (:mod:`rengo.cli.tournament_restore`)."""
    from rengo.cli.tournament_restore import refuse_out_of_step

    if path.exists():
        state = load_state(path)
        given = None if store is None else Path(str(store))
        for note in refuse_out_of_step(state, path, tournament_store(given, state)):
            Console(stderr=True).print(f"warning: {escape(note)}", highlight=False)


@contextmanager
def updated_state(path: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """The state and its tournament; both are saved back only if the block succeeds."""
    state = load_state(path)
    tournament = _tournament(state)
    yield state, tournament
    state["tournament"] = tournament.to_dict(arrays=True)
    save_state(path, state)


@contextmanager
def tournament_run(store: Path | None, state: dict[str, Any], state_path: Path) -> Iterator[Any]:
    """The tournament's one run in the store (kind "tournament"): started by the first
    command that records, continued (resumed) by every later one; its id and its store
    live in the state file, so later commands need no ``--store``. The body logs what it
    did; the summary is rewritten from the state."""
    from rengo.tracking import RunStore, open_run
    from rengo.tracking.tournament_records import RUN_KIND

    path = tournament_store(store, state)
    state["store"] = str(path)
    with RunStore(path) as opened:
        config = {"state": str(state_path), "currency": state["currency"]}
        with open_run(
            opened,
            RUN_KIND,
            config,
            name="tournament",
            resume=state.get("run_id"),
            reopen_completed=True,
        ) as run:
            state["run_id"] = run.run_id
            # a score stopped after saving the state, before the store had the round: every
            # command that records here finishes that record first (the caller saves state)
            _finish_pending_score(run, state)
            yield run
            run.summary.update(_summary(state))


def tournament_store(store: Path | None, state: dict[str, Any]) -> Path:
    """The run store of this tournament: the one its state remembers, else ``--store`` (or
    the default); a different ``--store`` is refused before anything changes, unless the
    remembered store no longer exists and ``--store`` does: the state and its store were
    moved or restored into another folder or machine (the command that records saves the
    new path; :func:`_refuse_restored_out_of_step` checks it holds the tournament's run)."""
    from rengo.tracking import resolve_store_path

    path = resolve_store_path(store).resolve()
    kept = state.get("store")
    if kept is None:
        return path
    if store is not None and Path(kept) != path:
        if not Path(kept).exists() and path.exists():
            return path
        raise ConfigError(
            f"this tournament is recorded in the run store {kept}, not {path}; drop --store "
            "(its state remembers the store) or pass that one"
        )
    return Path(kept)


def _summary(state: dict[str, Any]) -> dict[str, Any]:
    from rengo.tracking.tournament_records import tournament_summary

    tournament = _tournament(state)
    summary = tournament_summary(
        tournament.results(),
        state["paid_rounds"],
        state["currency"],
        int(state["decimals"]),
        unpaid=True,
    )
    summary["open_rounds"] = tournament.open_round_ids()
    summary["cancelled_rounds"] = {str(k): why for k, why in tournament.cancelled_rounds().items()}
    return summary


def _tournament(state: dict[str, Any]):  # type: ignore[no-untyped-def]
    from rengo.tournament import Tournament

    return Tournament.from_dict(state["tournament"])


# -- CSV helpers --------------------------------------------------------------------------


def read_id_values(
    path: Path, column: str, form: CsvFormat | None = None, *, only: bool = False
) -> dict[str, float]:
    """``id -> float(column)`` from a CSV with a header row naming ``id`` and ``column``,
    read by the data layer's reader (:func:`rengo.data.load_csv`), as ``rengo run`` reads a
    table: cells stripped, a UTF-8 byte-order mark skipped.

    Parameters
    ----------
    path:
        The CSV file; its first row names the columns.
    column:
        The column of numbers (``prediction``, ``target``).
    form:
        How the file is written (delimiter, encoding, decimal separator); default
        ``,``-separated UTF-8 with decimal points.
    only:
        The header must be exactly ``id,column`` in this order, as numerai-tools'
        ``validate_headers_numerai`` demands of a submission; default: other columns are
        ignored.

    Returns
    -------
    dict[str, float]
        Each row's number by its id, in the file's order.

    Raises
    ------
    DataError
        Naming the file and line: a file that cannot be read, is not text in the encoding
        or not CSV, a column named twice, a missing column (with ``only``: another
        column, or the two in the other order), a ragged row, an empty or repeated id, a
        cell that is not a finite plain number (a decimal comma says which option reads
        it).
    """
    from rengo.data import load_csv
    from rengo.data.csv_table import CsvFormat, csv_header

    form = form or CsvFormat()
    if only:
        _refuse_header_numerai_refuses(path, column, form)
    header = csv_header(path, form.delimiter, form.encoding)
    absent = [name for name in ("id", column) if name not in header]
    if absent and len(header) > 1:  # one column: the reader says which delimiter reads it
        raise DataError(
            f"{path}: no column {' or '.join(map(repr, absent))}; columns are {header}: its "
            f"first row must name the columns id and {column} (in this spelling; "
            + ("no other column)" if only else "other columns are ignored)")
        )
    must = f"each row's {column} must be a number in [0, 1]"
    with cells_hinted(must, must):
        data = load_csv(
            path,
            label=None,
            id_column="id",
            features=[column],
            delimiter=form.delimiter,
            encoding=form.encoding,
            decimal=form.decimal,
        )
    assert data.ids is not None  # id_column was given
    if only and header != ["id", column]:  # after the reader: its errors name the line
        extra = [name for name in header if name not in ("id", column)]
        wrong = (
            f"{', '.join(map(repr, extra))} {'is' if len(extra) == 1 else 'are'} extra"
            if extra
            else "they come in the other order"
        )
        raise DataError(
            f"{path}: columns are {header}: a submission has exactly the columns id and "
            f"{column}, in this order, as Numerai demands; {wrong} (remove other columns, "
            "put id first)"
        )
    return dict(zip(data.ids.tolist(), data.X[:, 0].tolist(), strict=True))


def _refuse_header_numerai_refuses(path: Path, column: str, form: CsvFormat) -> None:
    """Refuse a submission's first row that numerai-tools refuses though rengo's reader
    would read it: a pandas index column (``df.to_csv(path)``: an unnamed first column) and
    names with spaces around them (pandas keeps them: `` id`` is no ``id``). A first row
    that cannot be read is left to the reader, whose errors name the line.

    Raises
    ------
    DataError
        Naming the file, the cells and what to write instead.
    """
    import csv

    encoding = (
        "utf-8-sig"
        if form.encoding.replace("_", "-").lower() in ("utf-8", "utf8")
        else form.encoding
    )
    try:
        with path.open(encoding=encoding, newline="") as handle:
            raw = next(csv.reader(handle, delimiter=form.delimiter), [])
    except (OSError, UnicodeError, csv.Error, LookupError):
        return
    if len(raw) > 1 and raw[0].strip() == "" and [c.strip() for c in raw[1:]] == ["id", column]:
        raise DataError(
            f"{path}: its first column has no name (columns are {raw}): a pandas index "
            "column? write the file with index=False (df.to_csv(path, index=False)); a "
            f"submission has exactly the columns id and {column}"
        )
    padded = [c for c in raw if c != c.strip()]
    if padded:
        raise DataError(
            f"{path}: header {', '.join(map(repr, padded))} "
            f"{'has' if len(padded) == 1 else 'have'} spaces around the name, which Numerai "
            f"refuses; write the first row as id{form.delimiter}{column}, without spaces"
        )


def _rows_from_csv(
    path: Path,
    id_column: str,
    era_column: str | None,
    target_column: str | None,
    features: list[str] | None,
    eras: int,
    seed: int,
    form: CsvFormat,
) -> tuple[list[str], list[str], list[str], np.ndarray, np.ndarray | None]:
    """The ``--csv`` rows to publish, read by the data layer's reader: ids, eras (the era
    column's text, else ``eras`` seeded random ones), the feature names, features and
    targets (DataErrors name the file and line)."""
    import numpy as np

    from rengo.data import load_csv
    from rengo.data.csv_table import csv_header, load_csv_and_column

    header = csv_header(path, form.delimiter, form.encoding)
    needed = [id_column] + [c for c in (era_column, target_column) if c]
    named = [c for c in features or [] if c in needed]
    if named:  # the live rows carry every feature: a target among them would be published
        raise ConfigError(
            f"--features names {', '.join(map(repr, named))}, the id, era or target column: "
            "every feature is published with the live rows, so name only feature columns"
        )
    chosen = features or [c for c in header if c not in needed]
    numeric = chosen + ([target_column] if target_column else [])
    era_list: list[str] | None = None
    with cells_hinted(
        "feature cells must be numbers: encode categories as numbers first; name the id, "
        "era and target columns with --id-column, --era-column and --target-column, and "
        "publish only some columns with --features",
        "a tournament publishes no missing values: fill or drop them first",
    ):
        if era_column is None:
            data = load_csv(
                path,
                label=None,
                id_column=id_column,
                features=numeric,
                delimiter=form.delimiter,
                encoding=form.encoding,
                decimal=form.decimal,
            )
        else:
            data, era_text = load_csv_and_column(
                path,
                era_column,
                id_column,
                features=numeric,
                delimiter=form.delimiter,
                encoding=form.encoding,
                decimal=form.decimal,
            )
            era_list = list(era_text.cells)
    assert data.ids is not None  # id_column was given
    # an id on two rows is refused by the reader: one copy could land in the training set,
    # with its target, and the other live
    ids = [str(i) for i in data.ids]
    X = data.X[:, : len(chosen)]
    y = None if target_column is None else data.X[:, len(chosen)]
    if era_list is None:
        order = np.random.default_rng(seed).permutation(len(ids))
        era_of = np.empty(len(ids), dtype=object)
        for k, block in enumerate(np.array_split(order, eras)):
            era_of[block] = f"era{k + 1}"
        era_list = [str(e) for e in era_of]
    if y is not None and (np.any(y < 0) or np.any(y > 1)):
        raise DataError(f"{path}: targets must lie in [0, 1]")
    return ids, era_list, chosen, X, y


# -- commands -----------------------------------------------------------------------------


def _split(
    count: int, train_share: float, eras: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows for training and live sets (a seeded shuffle) and each row's era within its
    set: ``era1``.. for live rows, ``train-era1``.. for training rows."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(count)
    cut = round(train_share * count)
    train, live = np.sort(order[:cut]), np.sort(order[cut:])
    era_of = np.empty(count, dtype=object)
    for rows, prefix in ((live, "era"), (train, "train-era")):
        shuffled = np.random.default_rng([seed, len(rows)]).permutation(rows)
        for k, block in enumerate(np.array_split(shuffled, min(eras, max(len(rows), 1)))):
            era_of[block] = f"{prefix}{k + 1}"
    return train, live, era_of


def _target_values(data_y: np.ndarray, classification: bool, name: str, n_classes: int) -> Any:
    import numpy as np

    from rengo.tournament import tie_kept_rank

    if classification:
        if n_classes != 2:
            raise ConfigError(
                f"{name} has {n_classes} classes; a tournament target must be binary or "
                "numeric (try breast_cancer or diabetes)"
            )
        return data_y.astype(np.float64)
    return tie_kept_rank(np.asarray(data_y, dtype=np.float64))


_FIXED = " Set by the first open; a later open refuses another value."


def _same_settings(
    state: dict[str, Any],
    tournament: Any,
    currency: str | None,
    decimals: int | None,
    budget: str | None,
    clip: float | None,
    payout_factor: float | None,
) -> None:
    """A ``ConfigError`` naming the stored value when a later ``open`` is given a setting
    that differs from the one its tournament started with (before, the option was silently
    ignored: an operator's new ``--budget`` capped nothing); an equal value or none is fine."""
    from rengo.rewards import format_minor

    places = int(state["decimals"])
    kept = tournament.budget
    stored: dict[str, tuple[object, object]] = {
        "currency": (currency, state["currency"]),
        "decimals": (decimals, places),
        "clip": (clip, tournament.rule.clip),
        "payout-factor": (payout_factor, tournament.rule.payout_factor),
        "budget": (
            None
            if budget is None
            else format_minor(option_minor_units("--budget", budget, places), places),
            "none" if kept is None else format_minor(kept.total_minor, places),
        ),
    }
    for option, (given, value) in stored.items():
        if given is not None and given != value:
            raise ConfigError(
                f"this tournament's --{option} is {value} (set by its first open), not {given}; "
                f"drop --{option}, or start another tournament with another --state"
            )


PUBLISHED_TARGETS = "published_targets"
"""State key: the ids of every row whose target a round's training set published."""


def _shown_ids(ids: set[str]) -> str:
    """A few of ``ids``, sorted, for an error message."""
    few = sorted(ids)[:3]
    return f"{few}{' ...' if len(ids) > 3 else ''}"


def _refuse_target_leaks(
    state: dict[str, Any], tournament: Any, live_ids: list[str], train_ids: list[str]
) -> None:
    """A ``ConfigError`` when the new round would let participants copy targets: live rows
    whose targets an earlier round's training set published, or a training set holding the
    targets of rows still live in an open round (a participant could submit them there and
    be paid the most the clip allows)."""
    published = {str(i) for i in state.get(PUBLISHED_TARGETS, ())}  # np.str_ from the array
    known = published.intersection(live_ids)
    if known:
        raise ConfigError(
            f"{len(known)} of this round's {len(live_ids)} live rows {_shown_ids(known)} had "
            "their targets published in an earlier round's training set, so participants "
            "could submit the targets; publish rows whose targets were never published "
            "(another --csv), or open with the earlier round's --seed and --train-share, "
            "which keep the same rows live (nothing was written)"
        )
    for number in tournament.open_round_ids():
        exposed = set(tournament.published(number).row_ids).intersection(train_ids)
        if exposed:
            raise ConfigError(
                f"the training set would publish the targets of {len(exposed)} rows "
                f"{_shown_ids(exposed)} that are live in open round {number}, so participants "
                f"could submit them there; score round {number} first, or open with "
                "--train-share 0 (nothing was written)"
            )


def _rows_scored_before(tournament: Any, number: int) -> tuple[int, list[int]] | None:
    """How many of round ``number``'s live rows a scored round had live too, and which
    rounds (None: none): the same dataset opened again with the same ``--seed`` (the one way
    it can open without publishing live targets) scores the same rows again."""
    live = set(tournament.published(number).row_ids)
    seen: set[str] = set()
    rounds: list[int] = []
    for result in tournament.results():
        again = live.intersection(tournament.published(result.round).row_ids)
        if again:
            seen |= again
            rounds.append(result.round)
    return (len(seen), rounds) if seen else None


def _check_round_files(files: dict[str, Path], state_path: Path) -> None:
    """A ``ConfigError`` when two of a round's files (or one and the state) are the same
    path: with ``--targets-out`` equal to ``--publish`` the file handed to participants
    would hold the live targets."""
    seen: dict[Path, str] = {state_path.resolve(): "--state"}
    for option, path in files.items():
        other = seen.setdefault(path.resolve(), option)
        if other != option:
            raise ConfigError(
                f"{option} and {other} are the same file {path}; give each its own path "
                "(nothing was written)"
            )


@tournament_app.command("open")
@one_at_a_time(create=True)
def open_round(
    state_path: StateOption = None,
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
    eras: Annotated[int, typer.Option(min=1, help="Eras per set when none are given.")] = 4,
    train_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9,
            help="Share of rows published with their targets as the training set; the rest "
            "is the live set, scored later (needs targets; 0: all rows live).",
        ),
    ] = 0.5,
    seed: Annotated[int, typer.Option(help="Seed of the split and the era assignment.")] = 0,
    publish: Annotated[
        Path | None,
        typer.Option(
            help="Live set CSV (id, era, features) for participants "
            "(default: STATE-roundN-live.csv beside the state)."
        ),
    ] = None,
    publish_train: Annotated[
        Path | None,
        typer.Option(
            help="Training set CSV (id, era, features, target) for participants "
            "(default: STATE-roundN-train.csv)."
        ),
    ] = None,
    targets_out: Annotated[
        Path | None,
        typer.Option(
            help="Where the coordinator keeps the live targets (id, target; default: "
            "STATE-roundN-targets.csv); never a file given to participants."
        ),
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help=f"Currency of stakes and payouts (default {DEFAULT_CURRENCY}).{_FIXED}"),
    ] = None,
    decimals: Annotated[
        int | None, typer.Option(help=f"Currency decimals (default: the currency's).{_FIXED}")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(help=f"Total payout budget in major units (default: none).{_FIXED}"),
    ] = None,
    clip: Annotated[
        float | None,
        typer.Option(
            help=f"Most a round pays or burns, as a fraction of the stake (default 0.05).{_FIXED}"
        ),
    ] = None,
    payout_factor: Annotated[
        float | None,
        typer.Option(help=f"Factor on the combined score before the clip (default 1).{_FIXED}"),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(help="Replace existing round files (the three above or their defaults)."),
    ] = False,
    store: StoreOption = None,
    delimiter: DelimiterOption = ",",
    encoding: EncodingOption = "utf-8",
    decimal: DecimalOption = ".",
) -> None:
    """Step 1: publish a new round - a training set with targets and a live set without
    (only the live rows are scored); the live targets stay here."""
    import numpy as np

    assert state_path is not None  # the state file one_at_a_time resolved
    from rengo.data.csv_export import write_csv
    from rengo.data.csv_table import CsvFormat
    from rengo.rewards import Budget, currency_decimals
    from rengo.tournament import PayoutRule, Tournament

    with friendly_errors():
        if (dataset is None) == (csv_path is None):
            raise ConfigError("give exactly one of --dataset NAME or --csv PATH")
        form = CsvFormat.checked(delimiter, encoding, decimal)
        if state_path.exists():
            state = load_state(state_path)
            tournament = _tournament(state)
            _same_settings(state, tournament, currency, decimals, budget, clip, payout_factor)
        else:
            currency = currency or DEFAULT_CURRENCY
            places = currency_decimals(currency, decimals)
            total = (
                None if budget is None else Budget(option_minor_units("--budget", budget, places))
            )
            rule = PayoutRule(
                payout_factor=1.0 if payout_factor is None else payout_factor,
                clip=0.05 if clip is None else clip,
            )
            tournament = Tournament(rule, total)
            state = {
                "format": STATE_FORMAT,
                "currency": currency,
                "decimals": places,
                "run_id": None,
                "paid_rounds": [],
            }
        tournament_store(store, state)
        y: np.ndarray | None
        given_eras: list[str] | None = None
        if dataset is not None:
            from rengo.data import load_dataset

            data = load_dataset(dataset)
            y = _target_values(
                data.labels() if data.is_classification else np.asarray(data.y),
                data.is_classification,
                dataset,
                len(data.classes or ()),
            )
            ids = np.array([f"{dataset}-{i}" for i in range(len(y))])
            names, X = list(data.feature_names), data.X
            if features:
                wanted = [c.strip() for c in features.split(",")]
                unknown = [c for c in wanted if c not in names]
                if unknown:
                    raise ConfigError(f"unknown feature(s) {unknown}; {dataset} has {names}")
                X = X[:, [names.index(c) for c in wanted]]
                names = wanted
        else:
            assert csv_path is not None
            chosen = [c.strip() for c in features.split(",")] if features else None
            id_list, era_list, names, X, y = _rows_from_csv(
                csv_path, id_column, era_column, target_column, chosen, eras, seed, form
            )
            ids = np.array(id_list)
            given_eras = era_list if era_column is not None else None
        share = train_share if y is not None else 0.0
        train, live, era_of = _split(len(ids), share, eras, seed)
        if given_eras is not None:
            era_of = np.array(given_eras, dtype=object)
        if len(live) < 2:
            raise ConfigError(f"--train-share {train_share} leaves {len(live)} live rows; lower it")
        if given_eras is None and len(live) < 2 * min(eras, len(live)):
            raise ConfigError(  # an era of one row cannot be scored (open_round refuses it)
                f"--eras {eras} splits the {len(live)} live rows into eras of one row, which "
                f"cannot be scored; give --eras {len(live) // 2} or fewer (or publish more rows)"
            )
        live_ids = [str(i) for i in ids[live]]
        train_ids = [str(i) for i in ids[train]] if y is not None else []
        _refuse_target_leaks(state, tournament, live_ids, train_ids)
        number = tournament.open_round(live_ids, [str(e) for e in era_of[live]])
        default = state_path.parent / f"{state_path.stem}-round{number}"
        live_rows = [
            [i, str(era_of[r]), *X[r].tolist()] for i, r in zip(live_ids, live, strict=True)
        ]
        files: dict[str, tuple[Path, list[str], list[list[Any]]]] = {
            "--publish": (publish or Path(f"{default}-live.csv"), ["id", "era", *names], live_rows)
        }
        if y is not None and len(train):
            files["--publish-train"] = (
                publish_train or Path(f"{default}-train.csv"),
                ["id", "era", *names, "target"],
                [[str(ids[r]), str(era_of[r]), *X[r].tolist(), float(y[r])] for r in train],
            )
        if y is not None:
            files["--targets-out"] = (
                targets_out or Path(f"{default}-targets.csv"),
                ["id", "target"],
                [[str(ids[r]), float(y[r])] for r in live],
            )
        paths = {option: path for option, (path, _, _) in files.items()}
        _check_round_files(paths, state_path)
        refuse_to_replace(list(paths.values()), overwrite)
        written: list[Path] = []
        try:  # the files, then the round: a failed open leaves neither behind
            for path, header, table in files.values():
                write_csv(path, header, table)
                written.append(path)
            with tournament_run(store, state, state_path) as run:
                state["tournament"] = tournament.to_dict(arrays=True)
                state[PUBLISHED_TARGETS] = np.array(  # an array: stored apart from the JSON
                    sorted({str(i) for i in state.get(PUBLISHED_TARGETS, ())}.union(train_ids)),
                    dtype=str,
                )
                run.log_event(
                    "info",
                    f"opened round {number}: {len(live)} live rows, {len(train)} training rows",
                )
            save_state(state_path, state)
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
        console.print(
            f"opened round [bold]{number}[/]: live set of {len(live)} rows in "
            f"{len(set(era_of[live].tolist()))} eras, {len(names)} features -> {paths['--publish']}"
        )
        if "--publish-train" in paths:
            console.print(
                f"training set of {len(train)} rows with targets -> {paths['--publish-train']}"
            )
        if "--targets-out" in paths:
            console.print(f"live targets kept by the coordinator in {paths['--targets-out']}")
        for other in tournament.open_round_ids():
            again = len(set(tournament.published(other).row_ids).intersection(live_ids))
            if other != number and again:  # `open` run twice: submissions would split
                console.print(
                    f"[bold yellow]note:[/] {again} of this round's {len(live_ids)} live rows "
                    f"are live in open round {other} too: a submission without --round now "
                    f"goes to round {number}, and round {other} keeps only those made before; "
                    f"if this open was a mistake, `rengo tournament cancel --round {number} "
                    "--reason ...`",
                    highlight=False,
                )
        rescored = _rows_scored_before(tournament, number)
        if rescored:
            rows, rounds = rescored
            console.print(
                f"[bold yellow]note:[/] {rows} of this round's {len(live_ids)} live rows were "
                f"scored in round(s) {rounds}: participants who saw those scores can fit "
                "these rows rather than predict them; publish new rows (--csv) for a round "
                "that measures prediction",
                highlight=False,
            )
        if tournament.budget is None:  # the stakes participants type are the only cap
            console.print(
                "[bold yellow]note:[/] no --budget: a round pays up to "
                f"{tournament.rule.clip:g} x each stake, and stakes are what participants "
                "declare at submit (rengo holds none); set --budget on a new tournament to "
                "cap what it pays",
                highlight=False,
            )
        else:
            _print_budget_left(tournament.budget, int(state["decimals"]), str(state["currency"]))
        console.print(
            "next: participants `rengo tournament submit --predictions P.csv --stake 10.00 "
            "--participant NAME`, then `rengo tournament score --targets ...`"
        )


@tournament_app.command("submit")
@one_at_a_time()
def submit(
    participant: Annotated[str, typer.Option(help="Participant name.")],
    predictions: Annotated[
        Path, typer.Option(help="CSV with exactly the columns id,prediction (in [0, 1]).")
    ],
    stake: Annotated[
        str,
        typer.Option(
            help="Stake in major units (e.g. 10.00): finite, >= 0, at most 2**53 minor units."
        ),
    ],
    state_path: StateOption = None,
    round_id: RoundOption = None,
    store: StoreOption = None,
    delimiter: DelimiterOption = ",",
    encoding: EncodingOption = "utf-8",
    decimal: DecimalOption = ".",
) -> None:
    """Step 2: record a participant's predictions for the live rows and their stake (a
    resubmission replaces the first)."""
    assert state_path is not None  # the state file one_at_a_time resolved
    from rengo.data.csv_table import CsvFormat
    from rengo.rewards import format_minor
    from rengo.tournament import participant_name

    with friendly_errors():
        form = CsvFormat.checked(delimiter, encoding, decimal)
        with updated_state(state_path) as (state, tournament):
            tournament_store(store, state)  # another --store than the tournament's is refused
            _require_open(tournament, round_id, "submit to")
            number = round_id if round_id is not None else max(tournament.open_round_ids())
            places, currency = int(state["decimals"]), str(state["currency"])
            try:  # a bad name is the option's fault, never the predictions file's
                name = participant_name(participant)
            except DataError as exc:
                raise DataError(
                    f"--participant: {exc} (round {number}: nothing was recorded)"
                ) from exc
            earlier = tournament.stakes(number).get(name)
            kept = (
                "nothing was recorded"
                if earlier is None
                else f"the earlier submission (stake {format_minor(earlier, places)} "
                f"{currency}) stays"
            )
            try:
                values = read_id_values(predictions, "prediction", form, only=True)
                stake_minor = _stake_minor(stake, places, currency)
                tournament.submit(participant, values, stake_minor, round_id)
            except DataError as exc:  # whose file, for which round, and what is kept
                message = str(exc)
                if not message.startswith(str(predictions)):  # the reader names it already
                    message = f"{predictions}: {message}"
                raise DataError(f"{message} (round {number}: {kept})") from exc
        staked = format_minor(stake_minor, places)  # as typed: 5 -> 5.00
        replaced = (
            ""
            if earlier is None
            else f"; replaces the earlier submission (stake {format_minor(earlier, places)} "
            f"{currency})"
        )
        console.print(
            f"{escape(participant)}: {len(values)} predictions for round {number}, stake "
            f"{staked} {currency}{replaced}",
            highlight=False,
        )


SCORE_TO_RECORD = "score_to_record"
"""State key: the round whose scores the state holds and the run store may not have yet."""


def _finish_pending_score(run: Any, state: dict[str, Any]) -> None:
    """Log the "scored" event of the round :data:`SCORE_TO_RECORD` names in ``state`` (unless
    an earlier, interrupted command already logged it) and clear the mark (``state`` is
    saved by the caller); nothing when no round is pending."""
    pending = state.get(SCORE_TO_RECORD)
    if pending is None:
        return
    assert run.store is not None and run.run_id is not None
    result = next(r for r in _tournament(state).results() if r.round == int(pending))
    message = f"scored round {result.round}: {len(result.scores)} participants"
    logged = {e.message for e in run.store.events(run.run_id, "info")}
    if message not in logged:
        run.log_event("info", message)
    state.pop(SCORE_TO_RECORD, None)


def _record_score(store: Path | None, state: dict[str, Any], state_path: Path, number: int) -> None:
    """Record scored round ``number`` in the tournament's run (one event, and the summary
    rewritten from the state), unless an earlier, interrupted score already logged it, and
    clear :data:`SCORE_TO_RECORD` in ``state`` (saved by the caller)."""
    state[SCORE_TO_RECORD] = number
    with tournament_run(store, state, state_path):
        pass  # tournament_run finishes the pending record


@tournament_app.command("score")
@one_at_a_time()
def score(
    targets: Annotated[Path, typer.Option(help="CSV with columns id,target (the live rows).")],
    state_path: StateOption = None,
    round_id: RoundOption = None,
    store: StoreOption = None,
    delimiter: DelimiterOption = ",",
    encoding: EncodingOption = "utf-8",
    decimal: DecimalOption = ".",
) -> None:
    """Step 3: resolve a round - CORR and MMC per era against the live targets, and the
    payouts due."""
    assert state_path is not None  # the state file one_at_a_time resolved
    from rengo.data.csv_table import CsvFormat
    from rengo.rewards import format_minor

    with friendly_errors():
        form = CsvFormat.checked(delimiter, encoding, decimal)
        with updated_state(state_path) as (state, tournament):
            tournament_store(store, state)
            mark = state.get(SCORE_TO_RECORD)
            pending = None if mark is None else int(mark)
            finish_only = pending is not None and (
                round_id == pending or (round_id is None and not tournament.open_round_ids())
            )
            if finish_only:
                # an earlier score saved this round's scores, then stopped before the run
                # store had them: finish that record instead of scoring again (with a round
                # open and no --round, it is finished below and that round is scored)
                result = next(r for r in tournament.results() if r.round == pending)
                console.print(
                    f"round {result.round} was scored by an earlier `rengo tournament score` "
                    "that stopped before the run store recorded it; recording it now",
                    highlight=False,
                )
            else:
                if pending is not None:
                    _record_score(store, state, state_path, pending)
                    console.print(
                        f"recorded round {pending}, which an earlier `rengo tournament score` "
                        "saved and stopped before the run store had it",
                        highlight=False,
                    )
                _require_open(tournament, round_id, "score")
                values = _live_targets(targets, form)
                _require_submissions(tournament, round_id)
                result = tournament.resolve(values, round_id)
                state["tournament"] = tournament.to_dict(arrays=True)
                # the state first: a stop before the store has the round leaves it pending
                # here, and a rerun of score records it (the dashboard never shows a round
                # scored that the state still holds open)
                state[SCORE_TO_RECORD] = result.round
                save_state(state_path, state)
            _record_score(store, state, state_path, result.round)
        places = int(state["decimals"])
        due = {p.participant: p.amount_minor for p in result.payouts}
        table = Table(title=f"Round {result.round} scores", title_justify="left")
        for column in ("participant", "stake", "CORR", "MMC", "score", "payout"):
            table.add_column(column, justify="left" if column == "participant" else "right")
        for name, s in sorted(result.scores.items(), key=lambda kv: -kv[1].score):
            table.add_row(
                escape(name),  # a name is the participant's text, never console markup
                format_minor(s.stake_minor, places),
                f"{s.corr:+.4f}",
                f"{s.mmc:+.4f}",
                f"{s.score:+.4f}",
                format_minor(due.get(name, 0), places),
            )
        console.print(table)
        undefined = [
            f"{escape(name)} {escape(era.era)} {'/'.join(era.undefined)}"
            for name, s in sorted(result.scores.items())
            for era in s.eras
            if era.undefined
        ]
        if undefined:  # shown as +0.0000 above: say these are not measured zeros
            console.print(
                f"[bold yellow]note:[/] {len(undefined)} era score(s) are undefined (a "
                "constant prediction, target or meta model in the era) and count as 0: "
                f"{'; '.join(undefined[:5])}{' ...' if len(undefined) > 5 else ''}"
            )
        for copies in _identical_submissions(state, result.round):
            console.print(
                f"[bold yellow]note:[/] {', '.join(escape(c) for c in copies)} submitted the "
                "same predictions on every row: scored alike, each stake weighs them in the "
                "meta model, and a copy is paid for another's work",
                highlight=False,
            )
        cut = _budget_cut_note(tournament, result, places, str(state["currency"]))
        if cut:
            console.print(f"[bold yellow]note:[/] {escape(cut)}", highlight=False)
        console.print(
            f"payouts in {state['currency']} are due; `rengo tournament pay` writes them to "
            "the ledger"
        )


@tournament_app.command("cancel")
@one_at_a_time()
def cancel(
    round_id: Annotated[int, typer.Option("--round", help="The open round to cancel.")],
    reason: Annotated[str, typer.Option(help="Why, for the record (one line).")],
    state_path: StateOption = None,
    store: StoreOption = None,
) -> None:
    """Withdraw an open round published by mistake: it takes no more submissions and is
    never scored or paid; its number is not reused, and its rows and submissions are kept
    for the record."""
    assert state_path is not None  # the state file one_at_a_time resolved
    with friendly_errors():
        with updated_state(state_path) as (state, tournament):
            tournament_store(store, state)
            _require_open(tournament, round_id, "cancel")
            submitted = len(tournament.stakes(round_id))
            tournament.cancel_round(round_id, reason)
            state["tournament"] = tournament.to_dict(arrays=True)
            with tournament_run(store, state, state_path) as run:
                run.log_event(
                    "warning",
                    f"cancelled round {round_id} ({reason.strip()}): its {submitted} "
                    "submission(s) are not scored",
                )
        console.print(
            f"cancelled round {round_id}: its {submitted} submission(s) will not be scored or "
            "paid; tell its participants, and open the next round with `rengo tournament open`"
        )


@tournament_app.command("pay")
@one_at_a_time()
def pay(state_path: StateOption = None, store: StoreOption = None) -> None:
    """Step 4: append the payouts of every scored, unpaid round to the tournament run's
    ledger."""
    assert state_path is not None  # the state file one_at_a_time resolved
    from rengo.rewards import format_amount
    from rengo.tracking import RunStore
    from rengo.tracking.tournament_records import ledger_paid_rounds, record_tournament_round

    with friendly_errors():
        state = load_state(state_path)
        tournament = _tournament(state)
        path = tournament_store(store, state)
        paid_rounds = {int(r) for r in state["paid_rounds"]}
        results = tournament.results()
        if not results:
            waiting = tournament.open_round_ids()
            where = f"round {waiting[-1]} is open" if waiting else "no round was opened"
            raise ConfigError(
                f"nothing is scored yet ({where}): score a round first with "
                "`rengo tournament score --targets TARGETS.csv`, then pay"
            )
        todo = [r for r in results if r.round not in paid_rounds]
        if not todo:
            console.print("nothing to pay: every scored round is already paid")
            return
        # A pay stopped after a round's lines were committed, before the state said so, left
        # them in the ledger: its rerun writes only the rounds the ledger does not pay yet.
        in_ledger: set[int | None] = set()
        if state.get("run_id") and path.exists():
            with RunStore(path) as opened:
                in_ledger = ledger_paid_rounds(opened, state["run_id"])
        if None in in_ledger:
            raise ConfigError(
                f"run {state['run_id']} was paid as a whole (`rengo rewards pay`); its rounds "
                "are not paid again (the ledger is append-only)"
            )
        lines, total, burned = 0, 0, 0
        written = [r.round for r in todo if r.round not in in_ledger]
        found = [r.round for r in todo if r.round in in_ledger]
        with tournament_run(store, state, state_path) as run:
            assert run.store is not None and run.run_id is not None
            for result in todo:
                if result.round not in in_ledger:
                    lines += record_tournament_round(
                        run.store, run.run_id, result, state["currency"], int(state["decimals"])
                    )
                    total += sum(p.amount_minor for p in result.payouts if p.amount_minor > 0)
                    burned -= sum(p.amount_minor for p in result.payouts if p.amount_minor < 0)
                paid_rounds.add(result.round)
            state["paid_rounds"] = sorted(paid_rounds)
            note = f"; rounds {found} were already in the ledger" if found else ""
            run.log_event("info", f"paid rounds {written}: {lines} ledger lines{note}")
        save_state(state_path, state)
        places = int(state["decimals"])
        money = f"{format_amount(total, state['currency'], places)} paid out"
        if burned:  # stakes burned are ledger lines too: say so beside what was paid
            money += f", {format_amount(burned, state['currency'], places)} burned"
        if written:
            console.print(
                f"paid rounds {written}: {money} in {lines} ledger lines of run "
                f"{state['run_id']} (`rengo rewards show {state['run_id']}`)"
            )
        if found:
            console.print(
                f"rounds {found} were already in the ledger (an interrupted pay wrote them); "
                "they are marked paid, not paid again"
            )


def _print_budget_left(budget: Any, places: int, currency: str) -> None:
    """What ``open`` says of a tournament's budget: what is left of it, and a warning when
    none is (the new round can then only burn stakes: its gains are not paid)."""
    from rengo.rewards import format_amount

    left = escape(format_amount(budget.remaining_minor, currency, places))
    total = escape(format_amount(budget.total_minor, currency, places))
    if budget.remaining_minor > 0:
        console.print(f"budget: {left} of {total} left to pay gains", highlight=False)
        return
    console.print(
        f"[bold yellow]note:[/] the tournament's budget of {total} is spent: this round's "
        "gains will not be paid (its burns will); tell participants before they stake, or "
        "open a new tournament (another --state) with its own --budget",
        highlight=False,
    )


def _identical_submissions(state: dict[str, Any], number: int) -> list[list[str]]:
    """The groups of participants whose submissions to round ``number`` are equal row for
    row (two or more each, by name), from the state's arrays (``to_dict(arrays=True)``)."""
    import numpy as np

    rounds = state["tournament"]["rounds"]
    submissions = next(r["submissions"] for r in rounds if int(r["round"]) == number)
    groups: dict[bytes, list[str]] = {}
    for name, values in sorted(submissions.items()):
        groups.setdefault(np.asarray(values, dtype=np.float64).tobytes(), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def _budget_cut_note(tournament: Any, result: Any, places: int, currency: str) -> str | None:
    """The line ``score`` prints when the tournament's budget paid less than the round's
    gains due (each stake x its clipped rate): how much was due, how much the budget had
    left, and that each gain was scaled to fit it (None when nothing was cut). Without it a
    participant saw 175.93 paid on a stake of 4000.00 at +5 %, or 0.00 once the budget was
    spent, with no word why."""
    from rengo.rewards import format_amount, stake_clipped_payouts

    stakes = {p: s.stake_minor for p, s in result.scores.items()}
    uncapped = stake_clipped_payouts(  # no clip above 1: the total stake caps no gain
        {p: s.score for p, s in result.scores.items()},
        stakes,
        sum(stakes.values()),
        factor=tournament.rule.payout_factor,
        clip=tournament.rule.clip,
    )
    due = sum(p.amount_minor for p in uncapped if p.amount_minor > 0)
    paid = sum(p.amount_minor for p in result.payouts if p.amount_minor > 0)
    if paid >= due:
        return None
    shown_due = format_amount(due, currency, places)
    if paid == 0:
        return (
            f"the tournament's budget is spent: the {shown_due} of gains this round earned "
            "are not paid (burns still are); open a new tournament (another --state) with "
            "its own --budget to pay gains again"
        )
    return (
        f"the gains due this round, {shown_due}, exceed what is left of the tournament's "
        f"budget, {format_amount(paid, currency, places)}: the gains are scaled to fit it "
        "(a gain paid less than it was due says so, with its share, in its ledger line) and "
        "the budget is now spent"
    )


def _live_targets(path: Path, form: CsvFormat) -> dict[str, float]:
    """The ``--targets`` file's values, refused outside [0, 1], where every round ``open``
    publishes lies (a target of another scale moves MMC, which scales only [0, 1] targets:
    x100 targets made it 25x larger)."""
    values = read_id_values(path, "target", form)
    outside = [(row, v) for row, v in values.items() if not 0 <= v <= 1]
    if outside:
        shown = ", ".join(f"{row!r}: {v:g}" for row, v in outside[:3])
        raise DataError(
            f"{path}: targets lie in [0, 1], as `rengo tournament open` publishes them; "
            f"{len(outside)} row(s) do not ({shown})"
        )
    return values


def _stake_minor(stake: str, decimals: int, currency: str) -> int:
    """The ``--stake`` text in minor units, refused past
    :data:`~rengo.tournament.MAX_STAKE_MINOR` (one huge stake made the round unscorable or
    broke ``pay``)."""
    from rengo.rewards import format_minor
    from rengo.tournament import MAX_STAKE_MINOR

    try:  # compared as text first, so any larger stake gets this limit's message
        value = Decimal(stake.strip()).scaleb(decimals)
        too_large = value.is_finite() and value > MAX_STAKE_MINOR
    except InvalidOperation:
        too_large = False  # option_minor_units says what is wrong with the text
    if too_large:
        raise ConfigError(
            f"stake {stake} is over the largest a tournament takes, "
            f"{format_minor(MAX_STAKE_MINOR, decimals)} {currency}"
        )
    return option_minor_units("--stake", stake, decimals)


def _require_open(tournament: Any, round_id: int | None, action: str) -> None:
    """A clear ``ConfigError`` (exit 2, as every usage error) when there is no open round to
    ``action``: ``--round`` names no round or a scored one, or none is open (the library
    says only that none is open)."""
    open_ids = tournament.open_round_ids()
    scored = [r.round for r in tournament.results()]
    cancelled: dict[int, str] = tournament.cancelled_rounds()
    if round_id is not None and round_id in cancelled:
        raise ConfigError(
            f"round {round_id} was cancelled ({cancelled[round_id]}); "
            + (f"open round(s): {open_ids}" if open_ids else "no round is open")
        )
    if round_id is not None and round_id not in open_ids and round_id not in scored:
        raise ConfigError(  # the library's ProtocolError exited 1, as a failure of rengo's
            f"there is no round {round_id}; "
            + (f"open round(s): {open_ids}" if open_ids else "no round is open")
        )
    if round_id is not None and round_id in scored:
        raise ConfigError(
            f"round {round_id} is already scored; open the next with `rengo tournament open`"
        )
    latest = max([*scored, *cancelled], default=None)
    opens = "the operator opens" if action == "submit to" else "open"  # a participant opens none
    if round_id is None and not open_ids and latest is not None and latest in cancelled:
        raise ConfigError(  # not the scored round before it: the latest is the one meant
            f"round {latest} was cancelled ({cancelled[latest]}) and no round is open; "
            f"{opens} the next with `rengo tournament open` before you {action} it"
        )
    if round_id is None and not open_ids and scored:
        raise ConfigError(
            f"round {max(scored)} is already scored and no round is open; {opens} the next "
            f"with `rengo tournament open` before you {action} it"
        )


def _require_submissions(tournament: Any, round_id: int | None) -> None:
    """A ``ConfigError`` (exit 2, as every usage error) when the round to score has no
    submission; the library's ``ProtocolError`` exited 1, as a failure of rengo's."""
    open_ids: list[int] = tournament.open_round_ids()
    number = round_id if round_id is not None else max(open_ids, default=0)
    if number in open_ids and not tournament.stakes(number):
        raise ConfigError(
            f"round {number} has no submissions yet: participants submit first with "
            "`rengo tournament submit --participant NAME --predictions P.csv --stake 10.00`"
        )


@tournament_app.command("leaderboard")
def leaderboard(state_path: StateOption = None, store: StoreOption = None) -> None:
    """Participants by mean combined score over scored rounds, with their net payouts over
    paid rounds (any time); rounds scored but not paid yet are named below the table."""
    with friendly_errors():
        path = state_file(state_path, store)
        with state_lock(path):  # a writer removes the array files its new state no longer names
            state = load_state(path)
            _refuse_restored_out_of_step(path, store)
        tournament_store(store, state)
        tournament = _tournament(state)
        paid = {int(r) for r in state["paid_rounds"]}
        entries = tournament.leaderboard(paid)
        if not entries:
            console.print("no scored round yet")
            return
        from rengo.tracking import leaderboard_table

        table = leaderboard_table(
            entries, "Leaderboard", int(state["decimals"]), str(state["currency"])
        )
        console.print(table)
        unpaid = [r.round for r in tournament.results() if r.round not in paid]
        if unpaid:
            console.print(
                f"round(s) {unpaid} scored but not paid: their payouts are not in the net "
                "payout until `rengo tournament pay` writes them to the ledger"
            )


# Deprecated: the leaderboard renderer moved to rengo.tracking (removed in rengo 0.3).
__getattr__ = moved_names(__name__, {"leaderboard_table": "rengo.tracking"})

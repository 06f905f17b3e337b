"""A model card for one recorded run: what a model-risk validator signs off (SR 11-7's
"what data, what settings, what code, how it performs, what controls"), as Markdown.

Built only from what the run store holds for the run (its config, job settings, data
digests, summary, rounds, clients, parties, contribution values), never from the job file
or the data as they are now; anything the record does not hold is written as
:data:`NOT_RECORDED`, never guessed. The layout follows Mitchell et al. 2019, "Model Cards
for Model Reporting" (model details, training data, evaluation data, metrics, ethical
considerations), narrowed to what a federated run can record.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from rengo import __version__
from rengo.core.errors import ConfigError
from rengo.tracking.column_importance import party_importance
from rengo.tracking.dp_card import central_dp_rows, local_dp_rows
from rengo.tracking.kept_round import KeptRound, early_stopping_round
from rengo.tracking.records import RunInfo
from rengo.tracking.reliability import (
    RELIABILITY_COLUMNS,
    RELIABILITY_ROUND,
    SHARED_BIN_MIN_ROWS,
    TEST_ROWS,
    recorded_reliability,
    reliability_rows,
)
from rengo.tracking.resume_settings import DATA_FILES, PARTY_DATA_FILES
from rengo.tracking.source_commit import SOURCE_COMMIT
from rengo.tracking.store import RunStore
from rengo.tracking.tables import dotted_settings, privacy_spent

NOT_RECORDED = "not recorded"
"""What the card writes for a fact the run's record does not hold."""

ROUNDS_AGGREGATED = (
    "Rounds aggregated: the rounds in which the client's training update went into the "
    "model; a round it failed, a round the run skipped (too few clients reported), and a "
    "round the run did not finish (it failed or was cut off) count under neither."
)
"""The card's note under its clients table, saying what the rounds column counts."""

_EVALUATED = ("test_", "central_", "eval_")
"""Prefixes of the round metrics computed on held-out rows: a vertical run's label party's
(``test_``), a horizontal run's coordinator's test split (``central_``) and the clients' own
held-out rows (``eval_``)."""

_WHERE_EVALUATED = {
    "test_": "the held-out rows every party holds, scored jointly and evaluated by the "
    "label party (rows picked by a hash of their ID: `test_size` of them)",
    "central_": "the coordinator's test split (`data.test_size` of the table, never trained on)",
    "eval_": "each client's own held-out rows, averaged over the clients weighted by rows",
}
_SCORED_ROWS = (
    "the rows the label party scored (its score table, such as `rengo vfl party "
    "--score-csv`: no held-out rule picked them), scored jointly and evaluated by the label "
    "party"
)
_COORDINATOR_OWN = ("executor", "listen", "max_message_bytes")
"""The settings a deployed vertical coordinator records of itself, not in the plan it sends."""


def _where_evaluated(run: RunInfo, prefix: str) -> str:
    """Which rows the metrics of ``prefix`` were computed on: a deployed vertical run whose
    plan held no held-out rule evaluated the rows its label party scored, not rows picked by
    a hash of their ID."""
    if prefix == "test_" and _deployed_vertical(run) and _held_out_share(run) is None:
        return _SCORED_ROWS
    return _WHERE_EVALUATED[prefix]


def _cell(value: Any) -> str:
    """A value as one Markdown table cell: pipes escaped, JSON for structures."""
    if value is None:
        return NOT_RECORDED
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, default=str, sort_keys=True)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    heads = list(headers)
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


def _when(moment: datetime | None) -> str:
    return NOT_RECORDED if moment is None else moment.astimezone(timezone.utc).isoformat()


def _settings(run: RunInfo) -> Mapping[str, Any] | None:
    value = run.config.get("job_settings")
    return value if isinstance(value, Mapping) else None


def _setting(run: RunInfo, *path: str) -> Any:
    """A recorded job setting (``"vfl", "key_bits"``), else the flat config's last key."""
    node: Any = _settings(run)
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if node is not None else run.config.get(path[-1])


def _details(run: RunInfo) -> list[str]:
    duration = run.duration_s
    rows = [
        ("run id", run.run_id),
        ("name", run.name),
        ("kind", run.kind),
        ("status", run.status),
        ("started (UTC)", _when(run.started_at)),
        ("finished (UTC)", _when(run.finished_at)),
        ("duration", None if duration is None else f"{duration:.1f} s"),
        ("seed", run.seed),
        ("rengo version (code)", run.rengo_version or None),
        (
            "source commit (a source checkout's; a release is named by its version)",
            (run.summary or {}).get(SOURCE_COMMIT),
        ),
        ("host", run.hostname or None),
        ("job file (path when run; its text is not kept)", run.config.get("job_file")),
        (
            "--set overrides",
            # a run from a job file records its overrides only when there were some
            run.config.get("overrides") or ("none" if run.config.get("job_file") else None),
        ),
        ("study", run.config.get("study")),
    ]
    return ["## Model details", "", *_table(("fact", "value"), rows)]


def _algorithm(run: RunInfo) -> str | None:
    if run.kind.startswith("vfl"):
        value = _setting(run, "vfl", "algorithm")
        return None if value is None else str(value)
    model, strategy = _setting(run, "model", "type"), run.config.get("strategy")
    if model is None and strategy is None:
        return None
    return f"{model or NOT_RECORDED} model trained with {strategy or NOT_RECORDED}"


def _data(store: RunStore, run: RunInfo) -> list[str]:
    lines = ["## Training data", ""]
    files = run.config.get(DATA_FILES)
    party_files = run.config.get(PARTY_DATA_FILES)
    bundled = run.config.get("bundled_data")
    if isinstance(files, Mapping) and files:
        lines += ["Files read, with their SHA-256 when the run read them:", ""]
        lines += _table(("file", "sha256"), sorted(files.items()))
    elif isinstance(bundled, Mapping):
        lines.append(
            f"Bundled dataset `{bundled.get('dataset')}` of rengo {bundled.get('rengo')} "
            "(no file digest: the data ships with that version)."
        )
    else:
        dataset = _setting(run, "vfl", "dataset") or _setting(run, "data", "dataset")
        lines.append(
            f"Data files and digests: {NOT_RECORDED}"
            + (f" (dataset setting: `{dataset}`)." if dataset else ".")
        )
    if isinstance(party_files, Mapping) and party_files:
        lines += ["", "Files each party reported (deployed run):", ""]
        lines += _table(
            ("party", "file", "sha256"),
            (
                (party, path, digest)
                for party, reported in sorted(party_files.items())
                if isinstance(reported, Mapping)
                for path, digest in sorted(reported.items())
            ),
        )
    lines += ["", *_rows(store, run)]
    return lines


def _rows(store: RunStore, run: RunInfo) -> list[str]:
    """Row counts: a vertical run's shared and held-out rows, a horizontal run's rows per
    client (as each reported in its last fit)."""
    summary = run.summary or {}
    if run.kind.startswith("vfl"):
        # a simulation's keys, else a deployed coordinator's (the same facts)
        shared = _first(summary, "common_customers", "common_rows")
        evaluated_rows: Any = _evaluated_rows(run)
        if evaluated_rows is None and _transfer(run):
            evaluated_rows = f"{NOT_RECORDED} ({_BEFORE_TEST_ROWS})"
        rows = [
            ("training rows per party (before PSI)", _per_party(summary.get("party_rows"))),
            ("shared rows (PSI intersection)", shared),
            (
                "rows scored: the target's held-out rows, or every row of a target without labels"
                if _transfer(run)
                else "held-out rows scored (every party holds them)",
                _first(summary, "scored_customers", "scored_rows"),
            ),
            (
                "held-out rows evaluated (a known label: the metrics' and the reliability "
                "table's rows)",
                evaluated_rows,
            ),
            ("held-out share (test_size)", _held_out_share(run)),
        ]
        if _transfer(run) and evaluated_rows == 0:  # e.g. a target without labels
            rows[-1] = ("held-out share (test_size)", "none evaluated: no scored row had a label")
        return _table(("rows", "count"), rows)
    trained: dict[str, int] = {}
    evaluated: dict[str, int] = {}
    for record in store.client_records(run.run_id):  # in round order: the last one stays
        if record.status == "ok" and record.phase in ("fit", "evaluate"):
            (trained if record.phase == "fit" else evaluated)[record.client_id] = (
                record.num_examples
            )
    lines = _table(
        ("rows", "count"),
        [
            (
                "coordinator's test split: rows (never trained on; the `central_` metrics' "
                "and the reliability table's rows)",
                summary.get(TEST_ROWS),
            ),
            (
                "coordinator's test split: share of the table (data.test_size)",
                _setting(run, "data", "test_size"),
            ),
            ("clients", len(trained) if trained else None),
        ],
    )
    if trained:
        lines += ["", "Rows each client trained on in its last round (as it reported them):", ""]
        lines += _table(
            ("client", "rows"), [*sorted(trained.items()), ("total", sum(trained.values()))]
        )
    if evaluated:
        lines += [
            "",
            "Held-out rows each client evaluated the global model on in its last evaluation "
            "(its own rows, never sent; the `eval_` metrics' rows, as it reported them):",
            "",
        ]
        lines += _table(
            ("client", "rows"), [*sorted(evaluated.items()), ("total", sum(evaluated.values()))]
        )
    return lines


def _deployed_vertical(run: RunInfo) -> bool:
    """Whether the run is a deployed vertical one (``rengo vfl coordinator``): its record is
    the coordinator's, which holds no party's table, labels or model."""
    return run.kind.startswith("vfl") and run.kind != "vfl"


def _held_out_share(run: RunInfo) -> Any:
    """A vertical run's held-out share: its job's ``test_size``, else the held-out rule a
    deployed coordinator's plan recorded."""
    share = _setting(run, "vfl", "test_size")
    rule = run.config.get("held_out")
    if share is None and isinstance(rule, Mapping):
        return rule.get("test_size")
    return share


def _first(summary: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` the summary holds (None: none)."""
    return next((summary[k] for k in keys if summary.get(k) is not None), None)


def _per_party(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not value:
        return None
    return ", ".join(f"{party}: {count}" for party, count in sorted(value.items()))


def _settings_section(run: RunInfo) -> list[str]:
    lines = ["## Settings", "", f"Algorithm: {_algorithm(run) or NOT_RECORDED}.", ""]
    settings = _settings(run)
    if settings is None and _deployed_vertical(run) and run.config:
        sent = sorted((k, v) for k, v in run.config.items() if k not in _COORDINATOR_OWN)
        own = sorted((k, v) for k, v in run.config.items() if k in _COORDINATOR_OWN)
        lines += [
            "The plan's settings as the coordinator recorded them (what it sent every party; "
            f"the job file's own settings: {NOT_RECORDED} by a deployed vertical "
            "coordinator):",
            "",
            *_table(("setting", "value"), sent),
        ]
        if own:
            lines += [
                "",
                "The coordinator's own settings (how it ran, not sent to the parties):",
                "",
                *_table(("setting", "value"), own),
            ]
        return lines
    if settings is None:
        return [*lines, f"Job settings: {NOT_RECORDED} (a run recorded before runs kept them)."]
    lines.append("The job's settings as the run recorded them (what decides what it trained):")
    rows = (
        (key, "unset" if value is None else value)  # recorded as unset, not unrecorded
        for key, value in dotted_settings(dict(settings))
    )
    return [*lines, "", *_table(("setting", "value"), rows)]


def _held_out_series(store: RunStore, run: RunInfo) -> dict[str, list[tuple[int, float]]]:
    """Each held-out metric's recorded ``(round, value)`` series."""
    return {
        name: series
        for name, series in store.round_metrics(run.run_id).items()
        if name.startswith(_EVALUATED) and series
    }


def _rows_evaluated(run: RunInfo, prefix: str) -> str:
    """How many rows the metrics of ``prefix`` were computed on, where the run recorded it
    (the clients' own held-out rows are listed per client under the training data)."""
    summary = run.summary or {}
    if prefix == "eval_":
        return " (each client's count: see the training data)"
    rows = _evaluated_rows(run) if prefix == "test_" else None
    if prefix == "central_":
        rows = summary.get(TEST_ROWS)
    if rows is None and prefix == "test_" and _transfer(run):
        return f" ({NOT_RECORDED} how many rows: {_BEFORE_TEST_ROWS})"
    return f" ({NOT_RECORDED} how many rows)" if rows is None else f" ({rows} rows)"


_BEFORE_TEST_ROWS = "the run predates rengo recording it"
"""Why a transfer-learning run names no evaluated-row count (a run recorded before
``test_rows``)."""


def _transfer(run: RunInfo) -> bool:
    """Whether ``run`` is a transfer-learning (``ftl``) vertical run."""
    return run.kind.startswith("vfl") and "ftl" in (run.config.get("algorithm"), _algorithm(run))


def _evaluated_rows(run: RunInfo) -> Any:
    """How many held-out rows a vertical run's metrics were computed on: its ``test_rows``;
    a run recorded before them evaluated every scored row, but for transfer learning, whose
    target knows the labels of few of them (None: not recorded)."""
    summary = run.summary or {}
    if summary.get(TEST_ROWS) is not None or _transfer(run):
        return summary.get(TEST_ROWS)
    return summary.get("scored_customers")


def _kept(store: RunStore, run: RunInfo) -> KeptRound | None:
    """The round early stopping kept, where the run recorded ``[early_stopping]`` and a
    value of its metric."""
    try:
        return early_stopping_round(store, run)
    except ConfigError:
        return None


def _evaluation(store: RunStore, run: RunInfo) -> list[str]:
    lines = ["## Evaluation", ""]
    series = _held_out_series(store, run)
    kept = _kept(store, run)
    if not series:
        lines.append(f"Metrics on held-out rows: {NOT_RECORDED}.")
    elif kept is not None:
        lines += [
            f"The model the run keeps is round {kept.round}'s: early stopping's best round by "
            f"`{kept.metric}` ({kept.value:.6g}), the model `rengo runs export {run.run_id} "
            "--round best` writes. Each metric is shown at that round, beside its last "
            "recorded value.",
            "",
        ]
    else:
        lines += ["The model the run keeps is its final one: each metric's last value.", ""]
    for prefix in _WHERE_EVALUATED:
        chosen = {k: v for k, v in series.items() if k.startswith(prefix)}
        if not chosen:
            continue
        where = _where_evaluated(run, prefix)
        lines += [f"On {where}{_rows_evaluated(run, prefix)}:", ""]
        if kept is None:
            lines += _table(
                ("metric", "value", "round", "better"),
                (
                    (name, values[-1][1], values[-1][0], _better(name))
                    for name, values in sorted(chosen.items())
                ),
            )
        else:
            lines += _table(
                (
                    "metric",
                    f"kept model (round {kept.round})",
                    "last value",
                    "last round",
                    "better",
                ),
                (
                    (
                        name,
                        dict(values).get(kept.round),
                        values[-1][1],
                        values[-1][0],
                        _better(name),
                    )
                    for name, values in sorted(chosen.items())
                ),
            )
        lines.append("")
    lines += ["### Calibration", ""]
    summary = run.summary or {}
    try:
        table = recorded_reliability(summary, run.run_id)
    except ValueError as exc:
        return [*lines, f"Reliability table: unreadable ({exc})."]
    if table is None:
        return [
            *lines,
            f"Reliability table: {NOT_RECORDED} (this rengo records it for two-class models: "
            "a vertical run's held-out rows, a horizontal run's test split).",
        ]
    rows = sum(b.rows for b in table)
    if run.kind.startswith("vfl"):
        model = (
            "the trained model as the run stored it (every epoch or tree it kept), scored "
            "jointly on the held-out rows"
        )
    else:
        at = summary.get(RELIABILITY_ROUND)
        model = (
            f"the global model of round {at} (the model the run keeps), on the coordinator's "
            "test split"
            if at is not None
            else f"the final global model (its round {NOT_RECORDED}), on the coordinator's "
            "test split"
        )
    lines += [
        f"Of {model}: {rows} held-out rows grouped by predicted P(y = 1) in equal-width bins; "
        "a calibrated model's observed rate equals its mean predicted probability in each bin "
        "(gap near 0). The expected calibration error (`ece`) is the row-weighted mean "
        "absolute gap.",
        "",
    ]
    if any(b.rows and b.mean_probability is None for b in table):
        lines += [
            "A bin with rows but `-` for its mean and rate was withheld by the party that "
            "holds the labels: it shares them only for bins of "
            f"{SHARED_BIN_MIN_ROWS} rows or more (a one-row "
            "bin's would be that row's score and label).",
            "",
        ]
    return [*lines, *_table(RELIABILITY_COLUMNS, reliability_rows(table))]


def _better(name: str) -> str:
    """The "better" column: lower, higher, or that the metric is an operating point."""
    from rengo.metrics import better_direction

    return better_direction(name) or "neither (an operating point)"


def _privacy(store: RunStore, run: RunInfo) -> list[str]:
    lines = ["## Privacy mechanisms", ""]
    summary = run.summary or {}
    if run.kind.startswith("vfl"):
        shared = _first(summary, "common_customers", "common_rows")
        rows = [
            ("Paillier key size (bits)", _setting(run, "vfl", "key_bits")),
            ("prediction mode", _setting(run, "vfl", "predict_mode")),
            (
                "private set intersection",
                None if shared is None else f"run: {shared} shared rows",
            ),
            ("values the coordinator decrypted", summary.get("decrypted_values")),
            ("differential privacy", _vertical_noise(run)),
        ]
        return [*lines, *_table(("mechanism", "recorded"), rows)]
    spent = privacy_spent(store, run.run_id)
    settings = _settings(run)
    privacy = settings.get("privacy") if settings is not None else None
    if spent is None and settings is not None:
        if privacy is None:
            spent = "none (no [privacy] settings)"
        elif isinstance(privacy, Mapping) and privacy.get("dp", "none") == "none":
            spent = "none (dp = none)"
    if privacy is None and settings is None:
        # a run without a job file (simulate, a deployed coordinator's own strategy) records
        # what its strategy and workflow ran (rengo.hfl.privacy_record)
        recorded = {key: run.config[key] for key in ("dp", "secagg") if key in run.config}
        privacy = recorded or None
    dp_rows = central_dp_rows(store, run)
    rows = [
        ("differential privacy spent", spent),
        *((f"central DP: {fact}", value) for fact, value in dp_rows if fact != "mechanism"),
        *((f"local DP: {fact}", value) for fact, value in local_dp_rows(run)),
        (
            "privacy settings",
            privacy if privacy is not None else ("none set" if settings is not None else None),
        ),
    ]
    mechanism = [f"Differential privacy: {dp_rows[0][1]}.", ""] if dp_rows else []
    return [*lines, *mechanism, *_table(("mechanism", "recorded"), rows)]


def _vertical_noise(run: RunInfo) -> str | None:
    """A vertical run's noise settings (SplitNN's defences, a DP epsilon) as recorded, or
    that its recorded settings hold none; None where it recorded no settings."""
    settings = _settings(run)
    vertical = settings.get("vfl") if settings is not None else None
    if not isinstance(vertical, Mapping):
        return None
    words = ("noise", "epsilon", "dp", "defence", "defense")
    noisy = {
        key: value
        for key, value in vertical.items()
        if any(word in key.lower().split("_") for word in words)
        and value not in (None, 0, "none", "")
    }
    if not noisy:
        return "none (no noise or DP setting among the recorded settings)"
    return ", ".join(f"{key} = {value}" for key, value in sorted(noisy.items()))


def _participants(store: RunStore, run: RunInfo) -> list[str]:
    lines = ["## Participants", ""]
    summary = run.summary or {}
    if run.kind.startswith("vfl"):
        parties = run.config.get("parties")
        named = sorted(parties) if isinstance(parties, Mapping) and parties else None
        names = named or summary.get("parties")
        presence = store.presence(run.run_id)
        if presence:
            names = [p.party for p in presence]
        rows = [
            ("label party", _setting(run, "vfl", "label_party")),
            ("label column", _setting(run, "vfl", "label")),
            ("parties", ", ".join(names) if isinstance(names, list) and names else None),
        ]
        lines += _table(("role", "who"), rows)
    else:
        stats = store.client_stats(run.run_id)
        lines += _table(
            ("client", "rounds aggregated", "failures"),
            ((s.client_id, s.rounds_aggregated, s.failures) for s in stats),
        )
        if stats:  # a skipped round, or one the client failed, took nothing of it
            lines += ["", ROUNDS_AGGREGATED]
        else:
            lines.append(f"Clients: {NOT_RECORDED}.")
    contributions = [c for c in store.contributions(run.run_id) if c.round is None]
    if contributions:
        lines += ["", "Contribution values recorded for the run:", ""]
        lines += _table(
            ("participant", "method", "value"),
            ((c.participant, c.method, c.value) for c in contributions),
        )
    return lines


def _importance(store: RunStore, run: RunInfo, shared: Sequence[str]) -> list[str]:
    """The feature importance of the parties that agreed to share theirs (each party's own
    view, :func:`~rengo.tracking.party_importance`)."""
    lines = ["## Feature importance", ""]
    if not run.kind.startswith("vfl"):
        if shared:
            raise ConfigError(
                f"run {run.run_id} is a {run.kind} run: no party holds columns of its own, so "
                f"there is no party importance to add; leave out --importance "
                f"{' '.join(shared)}"
            )
        return [*lines, f"Per-feature importance: {NOT_RECORDED} for a {run.kind} run."]
    if _deployed_vertical(run):
        lines.append(
            "Each party's importance is its own, and a deployed run's models stay with the "
            f"parties (each its `--model` file): per-feature importance: {NOT_RECORDED} in "
            "the coordinator's record."
        )
    else:
        lines.append(
            "Each party's importance is its own: a party's view appears here only when it "
            f"agreed to share it (`rengo runs card {run.run_id} --importance PARTY`); each "
            f"party reads its own with `rengo runs importance {run.run_id} --party PARTY`."
        )
    for party in shared:
        view = party_importance(store, run.run_id, party)
        lines += ["", f"### {party}", "", f"Measure: {view.measure}.", ""]
        lines += _table(
            ("column", "value", "splits"),
            (
                (
                    c.column,
                    "-" if c.value is None else c.value,
                    "-" if c.splits is None else c.splits,
                )
                for c in view.columns
            ),
        )
    return lines


def model_card(
    store: RunStore,
    run_id: str,
    now: datetime | None = None,
    shared_importance: Sequence[str] = (),
) -> str:
    """A Markdown model card for run ``run_id``, built only from what ``store`` recorded
    for it: model details (run, seed, rengo version), training data (file digests, row
    counts per party or client, shared rows), settings, evaluation on held-out rows with
    the reliability table, privacy mechanisms and participants. A fact the record lacks
    reads :data:`NOT_RECORDED`.

    Parameters
    ----------
    store
        The run store.
    run_id
        The run: an id or a unique prefix of one.
    now
        When the card is written (UTC now by default; tests pass a fixed time).
    shared_importance
        The parties that agreed to share their feature importance: their own views are
        added (a vertical run's; none by default, as a party's importance is its own).

    Returns
    -------
    str
        The card, Markdown, ending in a newline.

    Raises
    ------
    UnknownRunError
        If no run has that id.
    AmbiguousRunError
        If the prefix names several runs.
    ConfigError, DataError
        A party in ``shared_importance`` is not the run's, the run is not a vertical one (no
        party holds columns of its own), or the run kept no model to read its importance
        from (see :func:`~rengo.tracking.party_importance`).
    """
    run = store.get_run(run_id)
    written = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    lines = [
        f"# Model card: {run.label}",
        "",
        f"Written {written.isoformat(timespec='seconds')} by rengo {__version__} from the run "
        f"store `{store.path}`, run `{run.run_id}`. Every fact below is read from the run's "
        f"record; '{NOT_RECORDED}' marks what the record does not hold.",
        "",
        *_details(run),
        "",
        *_data(store, run),
        "",
        *_settings_section(run),
        "",
        *_evaluation(store, run),
        "",
        *_privacy(store, run),
        "",
        *_participants(store, run),
        "",
        *_importance(store, run, shared_importance),
    ]
    return "\n".join(lines) + "\n"

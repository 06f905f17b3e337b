"""``rengo vfl coordinator`` and ``rengo vfl party``: any vertical algorithm between machines.

The coordinator holds the run's plan (and the key when the algorithm's key holder is the
coordinator); each party keeps its table, its rows and its model, and connects outbound
over TLS (mutual certificates by default). A vertical job file describes the whole run:
``--job JOB.toml`` gives the coordinator the parties, algorithm, options and seed, and each
party its own table (``--csv`` names a party's CSV directly instead). The algorithm's
option flags (``--epochs``, ``--key-bits``, ...) are generated from its config dataclass
and override the job's values. The party that receives predictions (the label party; the target
in transfer learning) writes them for its scoring rows;
every party can save its own model.

``--checkpoints DIR`` on the coordinator and on every party makes a run resumable (every
built-in algorithm; SecureBoost's epoch is a tree): each role keeps its alignment and every
completed epoch in its own folder, the coordinator its private key sealed under the passphrase in
``$RENGO_CHECKPOINT_PASSPHRASE``. A run whose party's link dropped waits ``--rejoin-grace``
seconds for every party to reconnect and resumes itself; a run that lost the coordinator,
or a party for longer, is recorded ``interrupted``: start the parties again with the same
folders and the coordinator with ``--resume RUN``, and training continues after the last
epoch every role completed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import typer
from rich.console import Console

from rengo.cli.algorithm_options import flag, options_for, with_algorithm_options
from rengo.cli.cell_hints import cells_hinted
from rengo.cli.console_lines import say, vertical_progress
from rengo.cli.csv_format_options import DecimalOption, DelimiterOption, EncodingOption
from rengo.cli.deploy import hub_security, party_credentials, reported_data_files
from rengo.cli.dial_options import NoProxyOption, ServerNameOption, dialling_note
from rengo.cli.errors import friendly_errors
from rengo.cli.log_formats import set_log_context
from rengo.cli.message_size_option import MIB, MaxMessageOption, max_message_bytes
from rengo.cli.output_paths import output_target, writable_folder
from rengo.cli.secret_options import warn_if_on_command_line
from rengo.cli.store_option import StoreOption
from rengo.core.errors import ConfigError, DataError, RengoError
from rengo.core.files import write_atomically
from rengo.core.options import options_from_mapping, options_to_wire
from rengo.deploy.vertical_data import LabelTask
from rengo.vfl.party_model_file import short_run
from rengo.vfl.progress import progress_display

if TYPE_CHECKING:
    from rengo.data.csv_table import CsvFormat

console = Console()
_LEAVE_MISSING_EMPTY = "a party reads an empty cell as a missing value: leave missing cells empty"
"""The hint for a missing-value marker (``NA``) or an infinite number in a party's table."""


def _names(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if len(set(names)) != len(names):
        raise ConfigError(f"party names must be distinct: {names}")
    return names


def _rejoin_grace(flag: float | None, job_value: float | None) -> float:
    """Seconds to wait for a run whose link dropped: the flag's, else the job's, else
    :data:`~rengo.deploy.vertical_rejoin.REJOIN_GRACE_S`."""
    from rengo.deploy.vertical_rejoin import REJOIN_GRACE_S

    chosen = flag if flag is not None else job_value
    return REJOIN_GRACE_S if chosen is None else chosen


def _max_rejoins(flag: int | None, job_value: int | None) -> int:
    """Most rejoins of one run: the flag's, else the job's, else
    :data:`~rengo.deploy.vertical_rejoin.MAX_REJOINS`."""
    from rengo.deploy.vertical_rejoin import MAX_REJOINS

    chosen = flag if flag is not None else job_value
    return MAX_REJOINS if chosen is None else chosen


def _show_deprecations(caught: list[warnings.WarningMessage]) -> None:
    for item in caught:
        if issubclass(item.category, (DeprecationWarning, FutureWarning)):
            say(console, f"note: {item.message}", level=logging.WARNING, style="yellow")


@with_algorithm_options
def vfl_coordinator(
    parties: Annotated[
        str | None, typer.Option(help="Comma-separated party names, e.g. bank,card.")
    ] = None,
    label_party: Annotated[
        str | None, typer.Option(help="The party that holds the labels.")
    ] = None,
    job: Annotated[
        Path | None,
        typer.Option(help="Vertical job file: parties, label party, algorithm, options, seed."),
    ] = None,
    algorithm: Annotated[
        str | None, typer.Option(help="Vertical algorithm (default: the job's, or hetero_lr).")
    ] = None,
    listen: Annotated[str, typer.Option(help="HOST:PORT to listen on.")] = "0.0.0.0:7443",
    certs: Annotated[Path | None, typer.Option(help="Folder made by `rengo certs init`.")] = None,
    tokens: Annotated[
        Path | None, typer.Option(help="TOML file of name = token (weaker than mTLS).")
    ] = None,
    score: Annotated[bool, typer.Option(help="Score the parties' new rows after training.")] = True,
    train: Annotated[
        bool,
        typer.Option(
            help="Train (--no-train: only score, every party with the model it kept from an "
            "earlier run: `rengo vfl party --load-model FILE`; SecureBoost, linear models, "
            "SplitNN and transfer learning)."
        ),
    ] = True,
    seed: Annotated[
        int | None, typer.Option(help="Fixes PSI's row order and the batch order.")
    ] = None,
    join_timeout: Annotated[float, typer.Option(help="Seconds to wait for parties.")] = 300.0,
    rejoin_wait: Annotated[
        float, typer.Option(help="Seconds a party may be unreachable before the run fails.")
    ] = 30.0,
    rejoin_grace: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="With --checkpoints: once a party's link dropped, seconds to wait for every "
            "party to rejoin; the run then resumes itself after the last epoch every role "
            "completed (default: the job's [vfl] rejoin_grace, else 60; 0: the run is "
            "interrupted at once, for --resume RUN).",
        ),
    ] = None,
    max_rejoins: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Most times the run takes its parties back after a dropped link; one drop "
            "more ends it interrupted (default: the job's [vfl] max_rejoins, else 10).",
        ),
    ] = None,
    store: StoreOption = None,
    name: Annotated[str | None, typer.Option(help="Run name in the store.")] = None,
    insecure: Annotated[bool, typer.Option(help="Plain text, no TLS (testing only).")] = False,
    progress: Annotated[
        bool, typer.Option(help="Show key generation and training batches as they happen.")
    ] = True,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Make the run resumable: keep the coordinator's sealed key and every epoch "
            "here until the run completes (the passphrase is read from "
            "$RENGO_CHECKPOINT_PASSPHRASE); every party needs --checkpoints too."
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Interrupted run to continue after the last epoch every role completed "
            "(needs --checkpoints; without --job/--parties its settings come from there)."
        ),
    ] = None,
    max_message_mb: MaxMessageOption = None,
    options: dict[str, Any] | None = None,
) -> None:
    """Serve one vertical run: hand out the plan (and the public key when the coordinator
    holds the keys), play the algorithm's coordinator role, and record the run; with
    --checkpoints the run can be resumed with --resume RUN."""
    from rengo.deploy.vertical import checkpointed_plan, serve_vertical_coordinator
    from rengo.jobs import load_job
    from rengo.tracking import RunStore, resolve_store_path
    from rengo.vfl import HeldOutRule, get_algorithm
    from rengo.vfl.checkpoints import PASSPHRASE_ENV

    def kept() -> str:
        """What a stopped run keeps, and the command that continues it (checkpointed only)."""
        from rengo.cli.run_job import continue_hint

        if checkpoints is None:
            return ""
        words = ["rengo", "vfl", "coordinator", "--listen", listen]
        for option, value in (("--certs", certs), ("--tokens", tokens), ("--store", store)):
            if value is not None:
                words += [option, str(value)]
        words += ["--insecure"] if insecure else []
        words += ["--checkpoints", str(checkpoints)]
        kept_epochs = "completed epochs are kept with the checkpoints"
        return continue_hint(
            kept_epochs,
            words,
            store,
            resume,
            starts_again=False,
            cannot_resume=lambda run: _no_checkpoint_yet(checkpoints, run.run_id),
            after=", and the parties started again with theirs",
        )

    with friendly_errors(kept), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        warnings.simplefilter("always", FutureWarning)
        names = _names(parties) if parties else None
        label, chosen, base, run_seed = label_party, algorithm, {}, seed
        held_out = None
        selection = None
        job_limit: float | None = None
        job_grace: float | None = None
        job_rejoins: int | None = None
        if resume is not None and job is None and names is None:
            if checkpoints is None:
                raise ConfigError("--resume needs the run's --checkpoints folder")
            with RunStore(resolve_store_path(store), read_only=True) as reader:
                recorded = reader.get_run(resume)
            full = recorded.run_id
            limit = recorded.config.get("max_message_bytes")  # the run's, unless flagged
            job_limit = limit / MIB if isinstance(limit, int) and limit > 0 else None
            saved = checkpointed_plan(checkpoints, full)
            names, label, chosen = saved.parties, saved.label_party, saved.algorithm
            base = options_to_wire(saved.config)
            run_seed, score = saved.seed if seed is None else seed, saved.score
            held_out = saved.held_out
            selection = saved.selection
        if job is not None:
            spec = load_job(job)
            if spec.vfl is None:
                raise ConfigError(f"{job}: not a vertical job (job.kind must be 'vfl')")
            if train and spec.contribution is not None:  # it was read, and valued no one
                raise ConfigError(
                    f"{job}: its [contribution] section values the feature parties in a "
                    f"simulated run only (`rengo run {job}` computes their Shapley values); "
                    "`rengo vfl coordinator` computes no contribution values, so a deployed "
                    "run would value no one: remove the section to run the job deployed"
                )
            names = names or spec.vfl.party_names
            name = name or spec.job.name  # the run's name in the store, as rengo run names it
            label = label or spec.vfl.label_party
            chosen = chosen or spec.vfl.algorithm
            if chosen == spec.vfl.algorithm:
                base = options_to_wire(spec.vfl.options)
            run_seed = spec.job.seed if seed is None else seed
            held_out = HeldOutRule(spec.job.seed, spec.vfl.test_size)
            # a scoring-only run applies the columns each kept model names: no selection
            selection = spec.vfl.selection if train else None
            job_limit = spec.vfl.max_message_mb
            job_grace = spec.vfl.rejoin_grace
            job_rejoins = spec.vfl.max_rejoins
        if names is None or label is None:
            raise ConfigError("give --parties and --label-party, or --job JOB.toml")
        spec_algorithm = get_algorithm(chosen or "hetero_lr")
        given = options_for(spec_algorithm, options or {})
        config = options_from_mapping(
            spec_algorithm.config_type,
            {**base, **given},
            label=flag,
            aliases=spec_algorithm.option_aliases,
        )
        _show_deprecations(caught)
        security = hub_security(certs, tokens, names, insecure)

        def listening(hub: Any) -> None:
            run = f" (run {hub.run_id})" if hub.run_id else ""
            set_log_context(run_id=hub.run_id)
            say(console, f"listening on {hub.address}; waiting for {', '.join(names)}{run}")

        with (
            RunStore(resolve_store_path(store)) as run_store,
            progress_display(vertical_progress(progress, console), console) as shown,
        ):
            report = serve_vertical_coordinator(
                listen,
                security,
                names,
                label,
                algorithm=spec_algorithm.name,
                config=config,
                seed=run_seed,
                score=score,
                train=train,
                join_timeout=join_timeout,
                rejoin_wait=rejoin_wait,
                rejoin_grace=_rejoin_grace(rejoin_grace, job_grace),
                max_rejoins=_max_rejoins(max_rejoins, job_rejoins),
                store=run_store,
                run_name=name,
                on_listening=listening,
                progress=shown,
                checkpoint_dir=checkpoints,
                passphrase=os.environ.get(PASSPHRASE_ENV) if checkpoints is not None else None,
                resume=resume,
                held_out=held_out,
                max_message_bytes=max_message_bytes(max_message_mb, job_limit),
                selection=selection,
            )
        if report.outcome.selection is not None:
            from rengo.vfl.hetero_binning.selection_step import describe_selection

            console.print(
                describe_selection(report.outcome.selection),
                markup=False,  # column names are the parties' own: `amount[usd]` stays whole
                highlight=False,
                soft_wrap=True,
            )
        console.print(
            f"run {report.run_id}: {report.describe()} in {report.wall_time_s:.1f}s",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def vfl_party(
    ctx: typer.Context,
    coordinator: Annotated[str, typer.Option(help="Coordinator HOST:PORT.")],
    name: Annotated[str, typer.Option(help="This party's name (as in its certificate).")],
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="This party's training table.")
    ] = None,
    job: Annotated[
        Path | None,
        typer.Option(help="Vertical job file: this party's table, label and held-out rows."),
    ] = None,
    id_column: Annotated[str, typer.Option(help="The ID column (matched by PSI).")] = "id",
    label: Annotated[str | None, typer.Option(help="Label column (the label party only).")] = None,
    features: Annotated[
        str | None, typer.Option(help="Comma-separated feature columns (default: the rest).")
    ] = None,
    score_csv: Annotated[
        Path | None, typer.Option(help="New rows to score after training (same columns).")
    ] = None,
    standardize: Annotated[
        bool,
        typer.Option(
            help="Z-score columns with this party's training statistics (SplitNN's and "
            "transfer learning's networks read their columns z-scored either way)."
        ),
    ] = True,
    delimiter: DelimiterOption = ",",
    encoding: EncodingOption = "utf-8",
    decimal: DecimalOption = ".",
    predictions: Annotated[
        Path,
        typer.Option(help="Where the scored party (label party; FTL: target) writes them."),
    ] = Path("scores.csv"),
    model: Annotated[Path | None, typer.Option(help="Save this party's model (JSON).")] = None,
    load_model: Annotated[
        Path | None,
        typer.Option(
            help="Score only, with this party's model saved by an earlier run's --model "
            "(SecureBoost, hetero LR, linear and Poisson regression, SplitNN, transfer "
            "learning; the coordinator runs with --no-train; give --score-csv, except "
            "transfer learning's source)."
        ),
    ] = None,
    certs: Annotated[Path | None, typer.Option(help="Certs folder (ca.pem, parties/).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="RENGO_TOKEN", help="Token (weaker than mTLS); give it in $RENGO_TOKEN."
        ),
    ] = None,
    ca: Annotated[Path | None, typer.Option(help="CA certificate, with --token.")] = None,
    server_name: ServerNameOption = None,
    no_proxy: NoProxyOption = False,
    give_up_after: Annotated[
        float,
        typer.Option(
            "--retry-for",
            "--give-up-after",
            min=0.0,
            help="Seconds to keep reconnecting while no coordinator answers before giving "
            "up; 0: until the run ends (as `rengo party --retry-for`; --give-up-after is its "
            "older name).",
        ),
    ] = 600.0,
    message_timeout: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Longest wait in seconds for one message from another role (the plan "
            "excepted); past it this party ends the run, naming whom it waited for "
            "(0: no limit).",
        ),
    ] = 600.0,  # rengo.deploy.vertical.MESSAGE_TIMEOUT_S
    insecure: Annotated[bool, typer.Option(help="Plain text, no TLS (testing only).")] = False,
    progress: Annotated[
        bool,
        typer.Option(help="Show PSI's match count and this party's training batches as they run."),
    ] = True,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Keep this party's alignment and every completed epoch here, so that a "
            "resumed run continues (required when the coordinator keeps checkpoints)."
        ),
    ] = None,
    rejoin_grace: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            help="With --checkpoints: once the run stopped because a link dropped, seconds "
            "to keep connecting to join it again from the checkpoints (default: the job's "
            "[vfl] rejoin_grace, else 60; 0: stop at once).",
        ),
    ] = None,
    task: Annotated[
        LabelTask,
        typer.Option(
            help="With --csv: what --label holds, classification (two classes), multiclass "
            "(two or more) or regression (numbers: linear and Poisson regression).",
        ),
    ] = LabelTask.classification,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Replace existing --predictions and --model files (else they are kept and "
            "the new ones written beside them, as NAME.1.csv ...)."
        ),
    ] = False,
    own_seed: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="This party's own seed for its initial weights and noise (split and "
            "transfer learning), never sent; only to repeat a run, such as `rengo run` of "
            "the job (give the job's seed). Default: drawn from the OS; the coordinator's "
            "seed, which every party learns, never makes them.",
        ),
    ] = None,
    max_message_mb: MaxMessageOption = None,
    share_evaluation: Annotated[
        bool,
        typer.Option(
            help="The label party, scoring held-out rows whose labels it holds: send the "
            "coordinator its evaluation of them for the run's record: the metrics, the row "
            "count and a binary model's reliability table (per bin its row count, and its "
            "mean prediction and observed rate only for bins of 5 rows or more: a one-row "
            "bin's are that row's score and label). No row's ID.",
        ),
    ] = True,
    exposure: Annotated[
        str | None,
        typer.Option(
            help="With --csv, the label party of a Poisson model (hetero_poisson): its "
            "column of each row's exposure (years insured; E[y] = exposure * exp(x w + b)), "
            "never a feature and never sent; the --score-csv's, where it has the column, "
            "weighs the held-out evaluation. The predictions are then rates per unit of it.",
        ),
    ] = None,
) -> None:
    """Join a vertical run with this party's table (--job or --csv): align rows by
    PSI, train, score."""
    from rengo.cli.reading_progress import reading_shown
    from rengo.data.csv_table import CsvFormat
    from rengo.deploy.held_out_report import HeldOutReport
    from rengo.deploy.vertical import run_vertical_party
    from rengo.deploy.vertical_data import load_party_data
    from rengo.jobs import load_job, party_data
    from rengo.jobs.vertical import evaluated_rows_phrase, prediction_output
    from rengo.transport.grpc_party import DEFAULT_BACKOFF, Backoff
    from rengo.vfl.hetero_binning.selection_step import kept_party_data
    from rengo.vfl.shared_rows import SharedRowsFile

    set_log_context(party=name)
    with friendly_errors():
        warn_if_on_command_line(ctx, "token", "--token", "RENGO_TOKEN")
        if load_model is not None and (job is not None or csv_path is not None):
            raise ConfigError("--load-model scores with a kept model: give --score-csv, not "
                              "--csv or --job (no training table is read)")  # fmt: skip
        if load_model is None and (job is None) == (csv_path is None):
            raise ConfigError("give this party's table with --csv PATH or --job JOB.toml")
        if exposure is not None and csv_path is None:
            raise ConfigError(
                f"--exposure {exposure!r} is read with --csv (the label party's training "
                "table); with --job the job's [vfl] exposure names it, and a kept model "
                "(--load-model) scores rates per unit of the exposure it was trained with"
            )
        creds = party_credentials(
            name, certs, token, ca, insecure, server_name=server_name, no_proxy=no_proxy
        )
        route = dialling_note(coordinator, creds.use_http_proxy)
        backoff = Backoff(
            DEFAULT_BACKOFF.initial,
            DEFAULT_BACKOFF.factor,
            DEFAULT_BACKOFF.maximum,
            DEFAULT_BACKOFF.jitter,
            give_up_after or None,  # 0: until the run ends
        )
        job_limit: float | None = None
        job_grace: float | None = None
        table_file: Path | None = None  # what this party trains on, reported at join
        exposure_column: str | None = None  # the label party's [vfl] exposure: rates scored
        try:
            kept: Any = None
            origin: Any = None
            if load_model is not None:
                form = CsvFormat.checked(delimiter, encoding, decimal)
                kept, origin, data, exposure_column = _scoring_inputs(
                    load_model, name, id_column, score_csv, label, form
                )
            elif job is not None:
                _refuse_flags_the_job_replaces(
                    score_csv=score_csv,
                    label=label,
                    features=features,
                    standardize=standardize,
                    task=task.value,
                    id_column=id_column,
                    form=(delimiter, encoding, decimal),
                )
                spec = load_job(job)
                if spec.vfl is None:
                    raise ConfigError(f"{job}: not a vertical job (job.kind must be 'vfl')")
                with reading_shown(console, name, str(job), spinner=progress) as read:
                    data = party_data(
                        spec.vfl,
                        name,
                        spec.job.seed,
                        shared_rows_later=True,  # only the rows PSI shares are held
                        say=lambda line: say(console, f"{name}: {line}"),
                    )
                    read.append(data)
                table_file = Path(spec.vfl.parties[name]) if name in spec.vfl.parties else None
                id_column = spec.vfl.id_column
                job_limit = spec.vfl.max_message_mb
                job_grace = spec.vfl.rejoin_grace
                if name == spec.vfl.label_party:
                    exposure_column = spec.vfl.exposure
            else:
                assert csv_path is not None
                table_file = csv_path
                with (
                    reading_shown(console, name, str(csv_path), spinner=progress) as read,
                    cells_hinted(
                        "feature cells must be numbers: encode categories as numbers first, "
                        "or run the party from a job file that declares its text columns "
                        "categorical (rengo vfl party --job); name the ID column with "
                        "--id-column and the feature columns with --features",
                        _LEAVE_MISSING_EMPTY,
                    ),
                ):
                    data = load_party_data(
                        csv_path,
                        id_column,
                        label=label,
                        score_csv=score_csv,
                        features=_names(features) if features else None,
                        standardize=standardize,
                        task=task.value,
                        delimiter=delimiter,
                        encoding=encoding,
                        decimal=decimal,
                        shared_rows_later=True,  # only the rows PSI shares are held
                        say=lambda line: say(console, f"{name}: {line}"),
                        exposure=exposure,
                    )
                    read.append(data)
                exposure_column = exposure
            for written in (predictions, model):  # checked before the run, not after it
                if written is not None:
                    writable_folder(written.parent)
            reported = reported_data_files([table_file] if table_file is not None else [])
        except (ConfigError, DataError) as exc:
            # the run waits for this party: tell it, so that every role stops now, naming
            # this party, instead of at the join deadline with this party "missing"
            say(
                console,
                f"{name}: cannot take part (the error follows); telling the coordinator at "
                f"{coordinator} to stop the run",
            )
            _abort_the_run(coordinator, name, creds, backoff, exc)
            raise
        say(console, f"{name}: connecting to {coordinator}{route}")
        try:
            with progress_display(vertical_progress(progress, console), console) as shown:
                result = run_vertical_party(
                    coordinator,
                    name,
                    data,
                    creds,
                    backoff=backoff,
                    progress=shown,
                    checkpoint_dir=checkpoints,
                    rejoin_grace=_rejoin_grace(rejoin_grace, job_grace),
                    timeout=message_timeout or None,
                    model=kept,
                    origin=origin,
                    own_seed=own_seed,
                    max_message_bytes=max_message_bytes(max_message_mb, job_limit),
                    data_files=reported or None,
                    share_evaluation=share_evaluation,
                    on_joined=lambda run_id: set_log_context(run_id=run_id),
                )
        except ConnectionError as exc:
            raise RengoError(str(exc)) from exc
        if isinstance(data.later, SharedRowsFile):  # its scaling is known once it was read
            mean, scale = data.later.scaling()
            data = dataclasses.replace(data, mean=mean, scale=scale)
        if result.kept_columns is not None:  # selection by IV: its model's columns
            held = len(data.feature_names)
            data = kept_party_data(data, result.kept_columns)
            console.print(
                f"{name}: selection by IV kept {len(result.kept_columns)} of its {held} "
                f"columns: {', '.join(data.feature_names)}",
                markup=False,  # its CSV header's names: `amount[usd]` stays whole
                highlight=False,
                soft_wrap=True,
            )
        role = "label party" if result.is_label_party else "feature party"
        rows = 0 if result.train_rows is None else len(result.train_rows)
        if kept is None:
            console.print(
                f"{name}: trained on {rows} common rows as the {role}", markup=False, soft_wrap=True
            )
        else:
            console.print(
                f"{name}: scored with its model from {load_model} as the {role}",
                markup=False,  # a path may hold brackets
                highlight=False,
                soft_wrap=True,
            )
        # a loaded one-vs-rest model scores class probabilities whatever the plan says
        output = prediction_output(result.plan.spec.output_of(result.plan.config), result.scores)
        if result.scores is not None and result.score_ids is not None:
            target, kept = output_target(predictions, overwrite)
            _write_predictions(
                target,
                id_column,
                output,
                result.score_ids,
                result.scores,
                # hetero LR's one-vs-rest columns are named by class; the other algorithms'
                # class columns keep the p0, p1, ... their score files have always had
                getattr(data, "classes", None) if result.plan.spec.name == "hetero_lr" else None,
                exposure_column,
            )
            line = f"{name}: scored {len(result.scores)} rows -> {target}{kept}"
            if exposure_column is not None:
                line += (
                    f" (rates per unit of {exposure_column!r}: multiply by a row's "
                    f"{exposure_column!r} for its expected count)"
                )
            # the run completed and the predictions are written: a failed evaluation is a note
            if isinstance(result.held_out, HeldOutReport):  # the one it sent, if it sent one
                metrics = result.held_out.metrics
                line += "; " + evaluated_rows_phrase(len(result.scores), result.held_out.rows)
                line += ", ".join(f"{k.upper()} {v:.4f}" for k, v in metrics.items())
            elif isinstance(result.held_out, DataError):
                line += f"; not evaluated: {result.held_out}"
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        if model is not None:
            target, kept = output_target(model, overwrite)
            _write_model(target, name, result, data, exposure_column)
            run = result.plan.training_run
            of_run = "" if run is None else f" (training run {short_run(run)})"
            console.print(
                f"{name}: model -> {target}{kept}{of_run}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )


def _refuse_flags_the_job_replaces(
    *,
    score_csv: Path | None,
    label: str | None,
    features: str | None,
    standardize: bool,
    task: str,
    id_column: str,
    form: tuple[str, str, str] = (",", "utf-8", "."),
) -> None:
    """Refuse the table flags that only ``--csv`` reads: with ``--job`` the job file names
    the table, label, ID column and held-out rows, and these flags were silently dropped
    (``--score-csv new.csv`` scored the job's held-out rows instead of the new customers).

    Raises
    ------
    ConfigError
        Naming each such flag given, and how to score new customers.
    """
    given = [
        flag
        for flag, set_ in (
            ("--score-csv", score_csv is not None),
            ("--label", label is not None),
            ("--features", features is not None),
            ("--no-standardize", not standardize),
            ("--task", task != "classification"),
            ("--id-column", id_column != "id"),
            ("--delimiter", form[0] != ","),
            ("--encoding", form[1] != "utf-8"),
            ("--decimal", form[2] != "."),
        )
        if set_
    ]
    if not given:
        return
    hint = (
        "; to score new customers, keep the model (--model FILE) and score afterwards with "
        "`rengo vfl party --load-model FILE --score-csv NEW.csv` (the coordinator with "
        "--no-train), or give the tables with --csv"
        if score_csv is not None
        else ""
    )
    if any(flag in given for flag in ("--delimiter", "--encoding", "--decimal")):
        hint += "; the job's [vfl] delimiter, encoding and decimal say how its tables are written"
    raise ConfigError(
        f"{', '.join(given)}: read only with --csv; with --job the job file gives this "
        f"party's table, label, ID column and held-out rows (scored after training){hint}"
    )


def _scoring_inputs(
    path: Path,
    name: str,
    id_column: str,
    score_csv: Path | None,
    label: str | None,
    form: CsvFormat,
) -> tuple[Any, Any, Any, str | None]:
    """A scoring-only party's kept model (read from ``path``, which must be its own; a
    SecureBoost, linear, SplitNN or transfer-learning party document), where it came from,
    its new rows, prepared as its training rows were (the file's columns and scaling),
    with their labels (``label``: the column of the party the scores go to) when the file
    has them, and the exposure column the model was trained with (a Poisson label party's
    file names it: its scores are rates per unit of it, and labelled rows are evaluated
    over the ``score_csv``'s column of that name), or None. A party that brings no
    rows to scoring (transfer learning's source) needs no ``score_csv``."""
    from rengo.data.categorical import CategoricalEncoding
    from rengo.deploy.kept_model import read_kept_model
    from rengo.deploy.vertical_data import load_scoring_data
    from rengo.ftl import SourceModel, TargetModel
    from rengo.vfl.common import PartyData
    from rengo.vfl.registry import algorithms

    kept = read_kept_model(path, party=name)
    # None: a file that names no algorithm, or one this rengo lacks (the plan refuses it)
    algorithm = algorithms().get(kept.origin.algorithm or "")
    kind = "label_party" if kept.party == kept.label_party else "feature_party"
    exposure = kept.prepared.get("exposure")
    exposure_column = exposure if isinstance(exposure, str) else None
    if score_csv is None:
        if algorithm is None or kind in algorithm.predict.tables:
            raise ConfigError("--load-model scores new rows: give them with --score-csv NEW.csv")
        return kept.model, kept.origin, PartyData(), exposure_column
    if kept.origin.training_run is None:
        say(
            console,
            f"note: {path} names no training run (written before model files "
            "carried one): it is scored only beside files that name none either, and "
            "rengo cannot check that they come from one training run",
            level=logging.WARNING,
            style="yellow",
        )
    features = kept.prepared.get("features")
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise DataError(
            f"{path}: names no training columns ('features'); save the model with "
            "`rengo vfl party --model FILE`, which writes them"
        )
    mean, scale = kept.prepared.get("mean"), kept.prepared.get("scale")
    # a transfer model's own class names (an older file's "classes" could name only the
    # target's seen classes); another model's file names them beside it
    classes = (
        list(kept.model.classes)
        if isinstance(kept.model, (SourceModel, TargetModel))
        else kept.prepared.get("classes")
    )
    encoded = kept.prepared.get("categories")
    categories = None if encoded is None else CategoricalEncoding.from_json(encoded, str(path))
    scored_by = "label_party" if algorithm is None else algorithm.scored_by
    if kind != scored_by and label is not None:
        role, scored = (r.replace("_", " ") for r in (kind, scored_by))
        raise ConfigError(f"{name} is a {role} of this model: --label is the {scored}'s")
    with cells_hinted(
        "feature cells must be numbers, but for the text columns whose categories the "
        "model file keeps (trained with a job's [vfl] categorical); encode other "
        "categories as numbers first, as in the table the model was trained on",
        _LEAVE_MISSING_EMPTY,
    ):
        data = load_scoring_data(
            score_csv,
            id_column,
            features,
            None if mean is None else np.asarray(mean, dtype=np.float64),
            None if scale is None else np.asarray(scale, dtype=np.float64),
            form.delimiter,
            label=label,
            classes=[str(c) for c in classes] if isinstance(classes, list) else None,
            encoding=form.encoding,
            decimal=form.decimal,
            shared_rows_later=True,  # only the rows scoring's PSI shares are held
            say=lambda line: say(console, f"{name}: {line}"),
            categories=categories,
            exposure=exposure_column if kind == "label_party" else None,
        )
    return kept.model, kept.origin, data, exposure_column


def _abort_the_run(
    coordinator: str, name: str, credentials: Any, backoff: Any, error: Exception
) -> None:
    """Join the run only to abort it with ``error``'s kind (its message stays here, as a
    failing role's does), so that the other roles stop at once; give up quietly after 15 s
    without a coordinator (the error is shown then)."""
    from rengo.deploy.roles import run_role

    def fail(_: Any) -> None:
        raise error

    with contextlib.suppress(Exception):
        run_role(coordinator, name, fail, credentials, connect_timeout=15.0, linger=0.0,
                 backoff=backoff)  # fmt: skip


def _write_predictions(
    path: Path,
    id_column: str,
    output: str,
    ids: Any,
    values: Any,
    classes: Any = None,
    exposure: str | None = None,
) -> None:
    """One row per scored ID: ``score`` (a probability), ``prediction`` (a class or value;
    ``rate_per_<exposure>`` where the model was trained with the label party's exposure
    column ``exposure``: the expected count for one unit of it, not a row's count), or one
    column per class: ``p_<class name>`` given the classes' names (``classes``, one per
    column: hetero LR one-vs-rest at the label party), else ``p<k>``."""
    table = np.asarray(values)
    if table.ndim == 2:
        names = list(classes) if classes is not None else []
        if len(names) == table.shape[1]:
            header = [f"p_{name}" for name in names]
        else:
            header = [f"p{k}" for k in range(table.shape[1])]
        rows = ([repr(float(v)) for v in row] for row in table)
    else:
        value = "prediction" if exposure is None else f"rate_per_{exposure}"
        header = ["score" if output == "probability" else value]
        rows = ([repr(v.item()) if output == "classes" else repr(float(v))] for v in table)
    from rengo.data.csv_export import write_csv

    write_csv(path, [id_column, *header], ([i, *row] for i, row in zip(ids, rows, strict=True)))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _write_model(
    path: Path, name: str, result: Any, data: Any, exposure: str | None = None
) -> None:
    """The party's model and how its columns were prepared: SecureBoost's, the linear
    models', SplitNN's and transfer learning's versioned party documents (``rengo vfl party
    --load-model`` reads them back, see :mod:`rengo.deploy.kept_model`); another
    algorithm's dataclass fields. A Poisson label party's file names the ``exposure``
    column it trained with, so that scoring with it writes rates named after it."""
    from rengo.data import Standardization
    from rengo.ftl import SourceModel, TargetModel
    from rengo.ftl import model_file as transfer_file
    from rengo.vfl.hetero_lr import GuestModel, HostModel
    from rengo.vfl.hetero_lr import model_file as linear_file
    from rengo.vfl.party_model_file import prepared_columns, write_document
    from rengo.vfl.secureboost import SecureBoostGuestModel, SecureBoostHostModel, write_party_model
    from rengo.vfl.splitnn import SplitNNFeatureModel, SplitNNLabelModel
    from rengo.vfl.splitnn import model_file as splitnn_file

    model = result.model
    categories = getattr(data, "categories", None)  # PartyData's; None: no text columns
    transfer = isinstance(model, (SourceModel, TargetModel))
    scaling = None if data.mean is None else Standardization(mean=data.mean, scale=data.scale)
    if transfer:  # the document `rengo runs export` writes of a simulated run
        kept = transfer_file.kept_document(
            model,
            name,
            result.plan.label_party,
            result.plan.training_run,
            data.feature_names,
            scaling,
            None if categories is None else categories.to_json(),
        )
        write_document(path, kept)
        return
    label_party = result.is_label_party
    prepared = prepared_columns(  # new rows to score are prepared as these columns were
        data.feature_names,
        scaling,
        data.classes if label_party else None,
        None if categories is None else categories.to_json(),
        label_party=label_party,
    )
    plan = result.plan
    if isinstance(model, (SecureBoostGuestModel, SecureBoostHostModel)):
        prepared = {"algorithm": plan.algorithm, **prepared}
        write_party_model(path, model, name, plan.label_party, plan.training_run, **prepared)
        return
    if isinstance(model, (GuestModel, HostModel)):
        if exposure is not None and label_party:
            prepared = {**prepared, "exposure": exposure}
        linear_file.write_party_model(
            path,
            model,
            name,
            plan.label_party,
            plan.algorithm,
            plan.parties,
            plan.training_run,
            **prepared,
        )
        return
    if isinstance(model, (SplitNNLabelModel, SplitNNFeatureModel)):
        # the document `rengo runs export` writes of a simulated run
        kept = splitnn_file.kept_document(
            model,
            name,
            plan.label_party,
            plan.training_run,
            data.feature_names,
            scaling,
            data.classes if label_party else None,
            None if categories is None else categories.to_json(),
        )
        write_document(path, kept)
        return
    fields = (
        {f.name: _plain(getattr(model, f.name)) for f in dataclasses.fields(model)}
        if dataclasses.is_dataclass(model)
        else {}
    )
    document: dict[str, Any] = {
        "party": name,
        "algorithm": result.plan.algorithm,
        "label_party": result.plan.label_party,
        "features": list(data.feature_names),
        "mean": _plain(data.mean),
        "scale": _plain(data.scale),
        **fields,
    }
    if result.is_label_party:
        document["classes"] = _plain(data.classes)
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


def _no_checkpoint_yet(checkpoints: Path, run_id: str) -> str | None:
    """Why ``--resume`` cannot continue ``run_id`` from ``checkpoints``: the run stopped
    before its plan was kept there (while it waited for its parties), or None."""
    from rengo.core.roles import COORDINATOR

    if (checkpoints / run_id / COORDINATOR / "plan.json").exists():
        return None
    return (
        f"run {run_id} stopped before its first checkpoint (its parties had not all joined), "
        "so nothing was kept to resume from"
    )

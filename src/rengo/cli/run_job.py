"""``rengo run JOB.toml``: build the job, simulate it, record it, summarise it."""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from rengo.cli.console_lines import progress_bars_shown, say
from rengo.cli.errors import ROUNDS_KEPT
from rengo.cli.output_paths import plot_target, writable_folder
from rengo.cli.privacy_line import privacy_line
from rengo.core.errors import ConfigError
from rengo.core.skipped_round import is_skipped
from rengo.hfl import simulate
from rengo.jobs import JobSpec, build_hfl_job, build_vertical_job, load_job, run_vertical_job
from rengo.jobs.contribution import (
    ContributionSettings,
    check_entities,
    contribution_tracker,
    record_and_pay,
    vertical_contribution,
)
from rengo.privacy.epsilon_text import metric_text
from rengo.rewards import Payout, format_amount
from rengo.tracking import RunInfo, RunStore, plot_run, resolve_store_path
from rengo.tracking.study_tag import STUDY
from rengo.valuation import ContributionReport
from rengo.vfl import VerticalDataset

RESUMABLE = ("interrupted", "running")
"""Statuses of a run whose data a resume compares (a running one may have lost its process)."""
CONTRIBUTIONS_SHOWN = 20
"""Participants a finished run's contribution table lists (a 1,000-client run listed each)."""


def run_job(
    console: Console,
    job_path: Path,
    *,
    store_path: Path | None = None,
    executor: str | None = None,
    plot: Path | None = None,
    progress: bool = True,
    mirrors: Sequence[str] = (),
    overrides: Sequence[str] = (),
    resume: str | None = None,
    same_as: str | None = None,
    study: str | None = None,
    run_name: str | None = None,
    spec: JobSpec | None = None,
) -> str:
    """Run a job file (horizontal or vertical); returns the run id. ``mirrors``
    ("mlflow", "tensorboard", or either as ``NAME=WHERE``: an MLflow tracking URI, a
    TensorBoard log folder) also copy the run there as it trains; ``overrides``
    (``"train.lr=0.01"``) change the file's settings, validated like the file. A
    ``[contribution]`` section values the participants and records it (and pays its budget).
    ``same_as`` (a recorded run, horizontal or vertical) refuses a job whose settings or data
    are not that run's, naming what differs, and says after the run whether its final metrics
    are that run's.
    ``study`` records the run as a cell of that study (``rengo sweep``), under ``run_name``
    instead of the job's name; ``spec`` is the job already loaded from ``job_path`` with
    ``overrides`` (a sweep loads each cell's before any runs), None: loaded here."""
    if spec is None:
        spec = load_job(job_path, overrides)
    progress = progress_bars_shown(progress, console)
    if same_as is not None and resume is not None:
        raise ConfigError("--same-as starts a new run and --resume continues one: give one")
    for given in mirrors:  # before anything is printed or trained
        mirror_target(given)
    if plot is not None:  # before the run trains, not after it
        writable_folder(plot if plot.is_dir() else plot.parent)
    if spec.vfl is not None:
        if executor is not None:  # as `rengo sweep` refuses it
            raise ConfigError(
                f"--executor picks where a horizontal job's clients train; {job_path} is a "
                "vertical job, whose parties are simulated in this process: leave --executor out"
            )
        if resume is not None:
            raise ConfigError(
                f"{job_path} is a vertical job: `rengo run --resume` continues horizontal "
                "runs; a vertical fit resumes from its checkpoints (Python: fit(..., "
                "checkpoints=DIR, resume=RUN); deployed: `rengo vfl coordinator --resume`)"
            )
        repeated = None if same_as is None else _repeated_run(job_path, spec, store_path, same_as)
        entries = origin_entries(job_path, overrides, study)
        if repeated is not None:
            from rengo.jobs.data_files import DATA_FILES, job_data_files

            files = job_data_files(spec)
            _check_repeats_data(console, job_path, repeated, files)
            if spec.vfl.parties:  # recorded as read here: each table hashed once
                entries[DATA_FILES] = files
        return _run_vertical(
            console, spec, store_path, plot, progress, mirrors, entries, run_name, repeated
        )
    if executor is not None:
        from rengo.jobs.spec import check_choice
        from rengo.transport import executor_names

        check_choice("--executor", "executor", executor, executor_names())
        spec.job.executor = executor
    repeated = None if same_as is None else _repeated_run(job_path, spec, store_path, same_as)
    job = build_hfl_job(spec)
    if repeated is not None:
        _check_repeats_data(console, job_path, repeated, job.data_files)
    resumed = None if resume is None else _recorded(store_path, resume)
    if resumed is not None and resumed.kind == "hfl" and resumed.status in RESUMABLE:
        _check_same_data(  # another kind or status: simulate's resume says why not
            console,
            resumed,
            job.data_files,
            refusal="cannot resume run",
            way_out="it would continue on other rows: restore the data it started on (the run "
            "stays interrupted), or start a new run",
        )
    simulation_mods, simulation_workflow = job.for_simulation()
    say(
        console,
        f"{spec.job.name}: {spec.strategy.name} over {len(job.client_ids)} clients "
        f"({spec.partition.scheme}) on {spec.data.dataset}, {spec.job.rounds} rounds, "
        f"executor={spec.job.executor}",
    )
    tracker = None
    if spec.contribution is not None:
        most = job.strategy.num_fit_clients(len(job.client_ids))
        check_entities(spec.contribution, job.client_ids, f"{spec.source}: ")
        tracker = contribution_tracker(
            spec.contribution, job.evaluate, spec.job.seed, most, job.client_ids
        )
    with open_store(store_path, mirrors, spec) as store:
        history = simulate(
            job.client_fn,
            job.client_ids,
            job.strategy,
            job.initial_parameters,
            spec.job.rounds,
            seed=spec.job.seed,
            executor=spec.job.executor,
            workers=spec.job.workers,
            executor_options=spec.executor_options.get(spec.job.executor),
            round_timeout=spec.job.round_timeout,
            on_short_round=spec.job.on_short_round,
            max_skipped_rounds=spec.job.max_skipped_rounds,
            store=store,
            run_name=run_name or spec.job.name,
            run_config=job.run_config(
                {
                    "dataset": spec.data.dataset,
                    "model": spec.model.type,
                    **origin_entries(job_path, overrides, study),
                }
            ),
            progress=progress,
            client_mods=simulation_mods,
            workflow=simulation_workflow,
            checks=spec.result_checks,
            observers=job.simulation_observers(tracker),
            checkpoints=spec.checkpoints,
            device=None if spec.train.device == "cpu" else spec.train.device,
            resume=resume,
        )
        assert history.run_id is not None
        if history.stopped is not None:
            console.print(f"[yellow]stopped early:[/] {history.stopped}", soft_wrap=True)
        if not history.rounds:
            return history.run_id
        ran = [r for r in history.rounds if r.skipped is None]  # a skipped round: no metric
        last = ran[-1].metrics if ran else {}
        shown = ", ".join(f"{k}={metric_text(k, v)}" for k, v in sorted(last.items()))
        if history.rounds[-1].skipped is not None:  # the model is that of the last round run
            shown += (
                f" (of round {ran[-1].server_round}, whose model it keeps: the rounds after it "
                "were skipped, short of clients)"
                if ran
                else "every round it ran was skipped, short of clients: its model is the one "
                "it started from"
            )
        console.print(f"run [bold]{history.run_id}[/] completed: {shown}", soft_wrap=True)
        spent = privacy_line(store, history.run_id)
        if spent is not None:  # local DP: the worst client's, above the mean shown above
            console.print(spent, soft_wrap=True, highlight=False)
        if repeated is not None:
            last_ran = ran[-1].server_round if ran else None
            console.print(_compared_with(store, repeated.run_id, last, last_ran))
        if tracker is not None and spec.contribution is not None:
            report = tracker.report()
            payouts = record_and_pay(store, history.run_id, report, spec.contribution)
            print_contribution(console, history.run_id, report, payouts, spec.contribution)
        if plot is not None:
            target = plot_target(plot, f"{history.run_id}.png")
            console.print(f"wrote {plot_run(store, history.run_id, target)}")
        return history.run_id


def origin_entries(
    job_path: Path, overrides: Sequence[str], study: str | None
) -> dict[str, object]:
    """What a run records of where its job came from: the job file (absolute, so ``rengo
    runs export`` and the repeat command find it from anywhere), its ``--set`` overrides and
    the study it is a cell of (each only where given)."""
    return {
        "job_file": str(job_path.resolve()),
        **({"overrides": list(overrides)} if overrides else {}),
        **({STUDY: study} if study is not None else {}),
    }


def _repeated_run(job_path: Path, spec: JobSpec, store_path: Path | None, run_id: str) -> RunInfo:
    """Recorded run ``run_id``, once ``spec`` is found to hold its settings (a ConfigError
    names each that differs: an edited job file, another ``--set``)."""
    from rengo.jobs.build import JOB_SETTINGS, job_settings
    from rengo.tracking.resume_settings import settings_differences

    old = _recorded(store_path, run_id)
    saved = old.config.get(JOB_SETTINGS) if isinstance(old.config, dict) else None
    if not isinstance(saved, dict):
        raise ConfigError(
            f"run {old.run_id} recorded no job settings to repeat (a {old.kind} run, or one "
            "recorded before runs kept them)"
        )
    differs = settings_differences({JOB_SETTINGS: saved}, {JOB_SETTINGS: job_settings(spec)})
    if differs:
        raise ConfigError(
            f"{job_path} would not repeat run {old.run_id}: {'; '.join(differs)}; give the "
            "job and --set it ran with (rengo runs show lists them)"
        )
    return old


def _check_repeats_data(
    console: Console, job_path: Path, repeated: RunInfo, files: Mapping[str, str]
) -> None:
    """Refuse (``--same-as``) a job whose data files ``files`` are not those ``repeated``
    trained on (see :func:`_check_same_data`)."""
    _check_same_data(
        console,
        repeated,
        files,
        refusal=f"{job_path} would not repeat run",
        way_out="restore the data it trained on to repeat it, or run the job without "
        "--same-as to train on the data as it is now",
    )


def _recorded(store_path: Path | None, run_id: str) -> RunInfo:
    """Recorded run ``run_id`` (full id or unique prefix)."""
    from rengo.cli.store_option import open_existing_store

    with open_existing_store(store_path, read_only=True) as store:
        return store.get_run(run_id)


def _check_same_data(
    console: Console, old: RunInfo, files: Mapping[str, str], *, refusal: str, way_out: str
) -> None:
    """Refuse (ConfigError: ``refusal``, the run, each changed file with both short digests,
    ``way_out``) a job whose data files ``files`` (their digests) are not those recorded run
    ``old`` trained on; a note where ``old`` was recorded before runs kept them (not
    compared)."""
    from rengo.jobs.data_files import recorded_data_files
    from rengo.tracking.resume_settings import changed_data_files

    if not files:
        return
    saved = recorded_data_files(old.config)
    if saved is None:
        console.print(
            f"note: run {old.run_id} was recorded before runs kept their data files' digests: "
            "whether its data changed since is not checked"
        )
        return
    changed = changed_data_files(saved, files)
    if not changed:
        return
    raise ConfigError(
        f"{refusal} {old.run_id}: its data file changed ({'; '.join(changed)}); {way_out}"
    )


def _compared_with(
    store: RunStore, run_id: str, last: Mapping[str, float], last_ran: int | None = None
) -> str:
    """Whether the final metrics ``last`` (of round ``last_ran``, the last this run ran) are
    recorded run ``run_id``'s final ones: the metrics of the last round it ran, a skipped
    round (``on_short_round = "skip"``, no metric but the skip's) compared on neither side."""
    ran = [r for r in store.rounds(run_id) if not is_skipped(r.metrics)]
    before = ran[-1].metrics if ran else {}
    differs = []
    if ran and last_ran is not None and ran[-1].round != last_ran:
        differs.append(f"last round run {ran[-1].round}, now {last_ran}")
    differs += [
        f"{key} {before.get(key)!r}, now {last.get(key)!r}"
        for key in sorted(set(before) | set(last))
        if not _same_number(before.get(key), last.get(key))
    ]
    if not differs:
        return f"same final metrics as run {run_id}"
    return f"[yellow]final metrics differ from run {run_id}:[/] {'; '.join(differs)}"


def _same_number(before: float | None, now: float | None) -> bool:
    """Equal, both missing, or both NaN (a metric a round could not compute)."""
    both_nan = (
        isinstance(before, float) and isinstance(now, float) and before != before and now != now
    )
    return before == now or both_nan


def resume_command(
    job_path: Path,
    store_path: Path | None,
    overrides: Sequence[str] = (),
    resumed: str | None = None,
) -> str:
    """What an interrupted ``rengo run`` says it keeps and how to go on: the completed rounds
    are kept and ``rengo run JOB [--store STORE] [--set KEY=VALUE ...] --resume RUN_ID``
    continues the run this process left interrupted; or, where this process recorded no run
    (it was stopped before its run started), that nothing was recorded and the command that
    starts it again. A resume must repeat the run's ``--set`` overrides (its settings are
    checked against the recorded ones), so they are part of the command.

    Parameters
    ----------
    job_path, store_path
        The job file and the ``--store`` given (None: the default store).
    overrides
        The ``--set`` overrides the run started with, in their order.
    resumed
        The run this process was asked to resume (``--resume``), if any: it is the run to
        continue even where this process was stopped before it took the run over.

    Returns
    -------
    str
        What was kept, then the command, as one line to copy into a POSIX shell (each
        argument quoted where it needs to be).
    """
    words = ["rengo", "run", str(job_path)]
    if store_path is not None:
        words += ["--store", str(store_path)]
    for override in overrides:
        words += ["--set", override]
    return continue_hint(
        ROUNDS_KEPT, words, store_path, resumed, cannot_resume=_not_resumed_by_rengo_run
    )


def _not_resumed_by_rengo_run(run: RunInfo) -> str | None:
    """Why ``rengo run --resume`` cannot continue ``run`` (a vertical one: its completed
    epochs are recorded, but it is not resumed part-way), or None."""
    if run.kind == "hfl":
        return None
    return (
        f"run {run.run_id} keeps its completed epochs in the run store, but `rengo run` does "
        "not resume a vertical run part-way"
    )


def continue_hint(
    kept: str,
    words: Sequence[str],
    store_path: Path | None,
    resumed: str | None = None,
    *,
    starts_again: bool = True,
    cannot_resume: Callable[[RunInfo], str | None] | None = None,
    after: str = "",
) -> str:
    """What an interrupted command says it keeps and how to go on: ``kept`` (what it keeps)
    and ``words`` (the command that started a run, ``--store`` among them where one was
    given) followed by ``--resume RUN_ID`` for the run this process left interrupted, or for
    ``resumed`` (the run it was asked to resume), then ``after`` (what else the resume needs).

    The run is the one this process last started or took over in the store, as it
    remembers it (:func:`~rengo.tracking.store.last_run_of_this_process`), never a run found
    by process id (another container's process may share it). Where there is none (it was
    stopped before its run was recorded), nothing was kept and there is nothing to resume:
    the hint says so and gives ``words`` alone, which starts the run again (or, with
    ``starts_again`` False, where ``words`` lack options a fresh start needs, says to run the
    same command again). A run that completed before the stop (while a plot was drawn, say)
    is kept and has nothing to resume, unless its job's contribution values were not recorded
    yet (they are lost with the process). ``cannot_resume`` says why a run cannot be resumed
    (a vertical run under ``rengo run``, one stopped before its first checkpoint), or None.
    Where the store cannot be read, the run's id is given where it is known, else ``RUN``
    with where to find it."""
    again = f"`{shlex.join(words)}`" if starts_again else "the same command"
    run_id = _run_of_this_process(store_path) or resumed
    if run_id is None:
        return (
            "rengo had not recorded the run yet (it stopped before the run started), so "
            f"nothing was kept: start it again with {again}"
        )
    recorded = _recorded_run(store_path, run_id)
    found, contribution_lost = recorded if recorded is not None else (None, False)
    if found is not None and found.status == "completed":
        if contribution_lost:
            return (
                f"run {run_id} completed, but it was stopped before its contribution values "
                f"were recorded, and they are lost: start it again with {again} to value "
                "(and pay) it"
            )
        return f"run {run_id} had completed before the stop and is kept: nothing to resume"
    why = cannot_resume(found) if cannot_resume is not None and found is not None else None
    if why is not None:
        return f"{why}: start it again with {again}"
    return f"{kept}; continue with `{shlex.join([*words, '--resume', run_id])}`{after}"


def _run_of_this_process(store_path: Path | None) -> str | None:
    """The run this process last started or resumed in the store, or None."""
    from rengo.tracking.store import last_run_of_this_process

    try:
        return last_run_of_this_process(resolve_store_path(store_path))
    except Exception:  # a hint only: the interruption is reported anyway
        return None


def _recorded_run(store_path: Path | None, run_id: str) -> tuple[RunInfo, bool] | None:
    """``run_id`` as the store records it, and whether its job values its participants
    (``[contribution]``) while the store holds none of its values (they are recorded from
    memory once the run completed); None where the store cannot be read (the hint must not
    hide the interruption: it then offers the resume). One opening of the store."""
    from rengo.jobs.build import JOB_SETTINGS

    try:
        with RunStore(resolve_store_path(store_path)) as store:
            run = store.get_run(run_id)
            settings = run.config.get(JOB_SETTINGS) if isinstance(run.config, dict) else None
            valued = isinstance(settings, dict) and bool(settings.get("contribution"))
            return run, valued and not store.contributions(run_id)
    except Exception:  # a hint only: the interruption is reported anyway
        return None


def mirror_target(given: str) -> tuple[str, str | None]:
    """The mirror and where it writes, from ``--mirror NAME`` or ``--mirror NAME=WHERE``
    (an MLflow tracking URI, a TensorBoard log folder; without one, MLflow's
    ``$MLFLOW_TRACKING_URI`` or a place beside the run store).

    Raises
    ------
    ConfigError
        Naming the value, for a mirror rengo does not have or an empty WHERE.
    """
    from rengo.jobs.spec import check_choice
    from rengo.tracking.mirrors import TARGETS

    name, sign, where = given.partition("=")
    name = name.strip()
    check_choice("--mirror", "mirror", name, TARGETS)
    if sign and not where.strip():
        kind = "tracking URI" if name == "mlflow" else "log folder"
        raise ConfigError(f"--mirror {given!r}: give the {kind} after '=', or no '='")
    return name, where.strip() if sign else None


def open_store(store_path: Path | None, mirrors: Sequence[str], spec: JobSpec) -> RunStore:
    """The run store, mirroring into ``mirrors`` (each ``NAME`` or ``NAME=WHERE``, see
    :func:`mirror_target`; names the model as the job built it)."""
    if not mirrors:
        return RunStore(resolve_store_path(store_path))
    import functools

    from rengo.jobs import model_state_dict
    from rengo.tracking.mirrors import MirroringStore, MlflowMirror, make_mirror

    hidden = spec.model.hidden if spec.model.type == "mlp" else None
    # a vertical model is exported per party, never as one model the mirror would name
    namer = (
        None
        if spec.vfl is not None
        else functools.partial(model_state_dict, spec.model.type, hidden=hidden)
    )
    targets = [
        MlflowMirror(where, state_dict=namer) if name == "mlflow" else make_mirror(name, where)
        for name, where in dict.fromkeys(mirror_target(given) for given in mirrors)
    ]
    return MirroringStore(resolve_store_path(store_path), mirrors=targets)


def _run_vertical(
    console: Console,
    spec: JobSpec,
    store_path: Path | None,
    plot: Path | None,
    progress: bool,
    mirrors: Sequence[str] = (),
    entries: Mapping[str, object] | None = None,
    run_name: str | None = None,
    repeated: RunInfo | None = None,
) -> str:
    """Simulate vertical job ``spec`` and record it (with ``entries`` in its config, under
    ``run_name`` where given); values each party where the job has ``[contribution]``; says
    whether its final metrics are those of ``repeated`` (``--same-as``) where given."""
    vfl = spec.vfl
    assert vfl is not None
    source = (
        ", ".join(vfl.parties) if vfl.parties else f"{vfl.dataset} split {vfl.num_parties} ways"
    )
    options = vfl.options
    details = []
    if not getattr(options, "homomorphic", True):  # e.g. FTL's security = "plaintext"
        details.append("plaintext (no encryption)")
    elif hasattr(options, "key_bits"):
        details.append(f"{options.key_bits}-bit Paillier")
    details += [f"{options.epochs} epochs"] if hasattr(options, "epochs") else []
    settings = f"; {', '.join(details)}" if details else ""
    say(
        console,
        f"{spec.job.name}: {vfl.spec.title} over {source}; labels at {vfl.label_party}{settings}",
    )
    job = build_vertical_job(spec)
    with open_store(store_path, mirrors, spec) as store:
        result = run_vertical_job(
            job,
            store,
            log=lambda text: say(console, text),
            progress=progress,
            run_name=run_name,
            entries=entries,
        )
        run_id = result["run_id"]
        console.print(f"run [bold]{run_id}[/] completed", soft_wrap=True)
        if repeated is not None:
            rounds = store.rounds(run_id)
            console.print(_compared_with(store, repeated.run_id, rounds[-1].metrics))
        if spec.contribution is not None:
            console.print(
                f"valuing each feature party ({spec.contribution.method} on held-out "
                f"{spec.contribution.metric}: every coalition retrained)..."
            )
            # scikit-learn (with SciPy and pandas: seconds of start-up) only where a
            # vertical model is cloned, not in every run or sweep cell that imports this
            from sklearn.base import clone

            valued = vertical_contribution(
                spec.contribution,
                job.train,
                VerticalDataset(
                    job.test.parties,
                    job.test.label_party,
                    job.test_labels,
                    exposure=job.test_exposure,
                ),
                lambda: clone(job.model).set_params(progress=False),
                spec.job.seed,
            )
            report = valued.report()
            payouts = record_and_pay(store, run_id, report, spec.contribution)
            console.print(
                f"label party alone: {valued.metric} {valued.baseline:.4f}; every party: "
                f"{valued.full:.4f} ({valued.full - valued.baseline:+.4f} from federating)"
            )
            print_contribution(console, run_id, report, payouts, spec.contribution)
        if plot is not None:
            console.print(f"wrote {plot_run(store, run_id, plot_target(plot, f'{run_id}.png'))}")
        return str(run_id)


def print_contribution(
    console: Console,
    run_id: str,
    report: ContributionReport,
    payouts: Sequence[Payout],
    settings: ContributionSettings,
) -> None:
    """Each participant's contribution and, with a budget, its payout (major units): the
    :data:`CONTRIBUTIONS_SHOWN` most valuable, how many more `rengo rewards show` lists, and
    the report's notes (values without a standard error, identical updates merged, FedAvg
    rebuilt for the strategy), as `rengo rewards show` prints them later."""
    from rich.table import Table

    paid = {p.participant: p.amount_minor for p in payouts}
    table = Table(
        title=f"Contribution ({report.method_label}, {report.score_name}) - run {run_id}",
        title_justify="left",
    )
    table.add_column("participant")
    table.add_column("contribution", justify="right")
    if payouts:
        table.add_column("payout", justify="right")
    ranking = report.ranking()
    for name, value in ranking[:CONTRIBUTIONS_SHOWN]:
        row = [escape(name), f"{value:+.4f}"]
        if payouts:
            row.append(format_amount(paid.get(name, 0), settings.currency))
        table.add_row(*row)
    console.print(table)
    if len(ranking) > CONTRIBUTIONS_SHOWN:
        console.print(
            f"... and {len(ranking) - CONTRIBUTIONS_SHOWN} more participants: "
            f"`rengo rewards show {run_id}` lists every one"
        )
    for note in report.notes:  # what the values mean, before anyone pays on them
        console.print(f"[bold yellow]note:[/] {escape(note)}")
    if not payouts:
        console.print(
            f"recorded; pay with `rengo rewards pay {run_id} --budget 1000.00` "
            "(or set contribution.budget)"
        )

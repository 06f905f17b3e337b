"""``rengo run JOB.toml``: build the job, simulate it, record it, summarise it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from rengo.hfl import simulate
from rengo.jobs import JobSpec, build_hfl_job, build_vertical_job, load_job, run_vertical_job
from rengo.tracking import RunStore, plot_run, resolve_store_path


def run_job(
    console: Console,
    job_path: Path,
    *,
    store_path: Path | None = None,
    executor: str | None = None,
    plot: Path | None = None,
    progress: bool = True,
    mirrors: Sequence[str] = (),
) -> str:
    """Run a horizontal job file; returns the run id. ``mirrors`` ("mlflow",
    "tensorboard") also copy the run there as it trains."""
    spec = load_job(job_path)
    if spec.vfl is not None:
        return _run_vertical(console, spec, store_path, plot)
    if executor is not None:
        from rengo.jobs.spec import check_choice
        from rengo.transport import executor_names

        check_choice("--executor", "executor", executor, executor_names())
        spec.job.executor = executor
    job = build_hfl_job(spec)
    console.print(
        f"[bold]{spec.job.name}[/]: {spec.strategy.name} over {len(job.client_ids)} clients "
        f"({spec.partition.scheme}) on {spec.data.dataset}, {spec.job.rounds} rounds, "
        f"executor={spec.job.executor}"
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
            round_timeout=spec.job.round_timeout,
            store=store,
            run_name=spec.job.name,
            run_config={"job_file": str(job_path), "dataset": spec.data.dataset},
            progress=progress,
            client_mods=job.client_mods,
            workflow=job.workflow,
            checks=spec.result_checks,
        )
        assert history.run_id is not None
        if history.stopped is not None:
            console.print(f"[yellow]stopped early:[/] {history.stopped}")
        if not history.rounds:
            return history.run_id
        last = history.rounds[-1].metrics
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(last.items()))
        console.print(f"run [bold]{history.run_id}[/] completed: {shown}")
        if plot is not None:
            console.print(f"wrote {plot_run(store, history.run_id, plot)}")
        return history.run_id


def open_store(store_path: Path | None, mirrors: Sequence[str], spec: JobSpec) -> RunStore:
    """The run store, mirroring into ``mirrors`` (names the model as the job built it)."""
    if not mirrors:
        return RunStore(resolve_store_path(store_path))
    import functools

    from rengo.jobs import model_state_dict
    from rengo.tracking.mirrors import MirroringStore, MlflowMirror, make_mirror

    hidden = spec.model.hidden if spec.model.type == "mlp" else None
    namer = functools.partial(model_state_dict, spec.model.type, hidden=hidden)
    targets = [
        MlflowMirror(state_dict=namer) if name == "mlflow" else make_mirror(name)
        for name in dict.fromkeys(mirrors)
    ]
    return MirroringStore(resolve_store_path(store_path), mirrors=targets)


def _run_vertical(
    console: Console, spec: JobSpec, store_path: Path | None, plot: Path | None
) -> str:
    vfl = spec.vfl
    assert vfl is not None
    source = (
        ", ".join(vfl.parties) if vfl.parties else f"{vfl.dataset} split {vfl.num_parties} ways"
    )
    console.print(
        f"[bold]{spec.job.name}[/]: vertical logistic regression over {source}; labels at "
        f"{vfl.label_party}; {vfl.key_bits}-bit Paillier, {vfl.epochs} epochs"
    )
    job = build_vertical_job(spec)
    with RunStore(resolve_store_path(store_path)) as store:
        result = run_vertical_job(job, store, log=console.print)
        run_id = result["run_id"]
        console.print(f"run [bold]{run_id}[/] completed")
        if plot is not None:
            console.print(f"wrote {plot_run(store, run_id, plot)}")
        return str(run_id)

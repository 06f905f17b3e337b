"""Mirror rengo runs into MLflow: params from the run's config, every round's metrics (with
the round as the step), the final model and the ledger as artifacts.

By default the MLflow store is a local SQLite file beside the run store
(``sqlite:///<store folder>/mlflow.db``, artifacts in ``<store folder>/mlflow-artifacts``),
which is MLflow's own recommended local backend (its plain-folder ``./mlruns`` store is in
maintenance mode and refuses to open unless ``MLFLOW_ALLOW_FILE_STORE`` is set); give
``tracking_uri`` (or set MLflow's own ``MLFLOW_TRACKING_URI``, which ``rengo run --mirror
mlflow`` and ``rengo runs mirror`` then use) for a tracking server (``http://...``) or any
other store. View with
``mlflow ui --backend-store-uri sqlite:///rengo-runs/mlflow.db``.

Each rengo run becomes one MLflow run tagged ``rengo.run_id``. Mirroring a run that is
already there (a resumed run, ``rengo runs mirror`` after a live mirror, or after one that
failed part way) carries on in that MLflow run and adds only what it lacks: a metric at a
step it already has is not logged again, nor a param it already has; ``replace=True``
deletes the old MLflow run and writes a new one. Keys MLflow would refuse are renamed as
:func:`~rengo.tracking.mirrors.names.mirror_name` says.
Needs the ``mlflow`` extra (``pip install 'rengo[mlflow]'``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError, DataError
from rengo.core.install_hint import install_hint
from rengo.tracking.mirrors.base import (
    StateDictFn,
    contribution_scalars,
    flat_params,
    round_scalars,
)
from rengo.tracking.mirrors.names import mirror_names
from rengo.tracking.model_export import load_model, named_parameters, write_model
from rengo.tracking.records import ClientRecord, RoundRecord, RunInfo
from rengo.tracking.store import RunStore

EXPERIMENT = "rengo"
TAG = "rengo.run_id"
_STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
_PARAM_VALUE_CHARS = 6000
_BATCH = 100


_CHATTY_LOGGERS = ("mlflow.store.db.utils", "alembic.runtime.migration")
"""MLflow's database set-up, which prints INFO lines ("Creating initial MLflow database
tables...", "Updating database tables") into the command's output the first time a store
is mirrored: they say nothing a rengo user asked about, so only their warnings show."""


def _client() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ConfigError(f"mirroring to MLflow needs it: {install_hint('mlflow')}") from exc
    for name in _CHATTY_LOGGERS:
        chatty = logging.getLogger(name)
        if chatty.level == logging.NOTSET:  # a level the user set stays
            chatty.setLevel(logging.WARNING)
    return MlflowClient


def _millis(run: RunInfo) -> int:
    return int(run.started_at.timestamp() * 1000)


class MlflowMirror:
    """Writes rengo runs to MLflow (see the module docstring for where).

    Parameters
    ----------
    tracking_uri
        MLflow tracking URI; None: ``$MLFLOW_TRACKING_URI`` where set, else a SQLite file
        beside the run store.
    experiment
        MLflow experiment name (created if missing).
    state_dict
        Names the final model's arrays for the artifact (e.g. from the job); None uses
        ``param_0, param_1...``.
    replace
        Replace an MLflow run already mirrored from the same rengo run.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        experiment: str = EXPERIMENT,
        *,
        state_dict: StateDictFn | None = None,
        replace: bool = False,
    ) -> None:
        _client()  # fail now, with the install command, not after the first round
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.state_dict = state_dict
        self.replace = replace
        self._mlflow: Any = None
        self._runs: dict[str, str] = {}
        self._steps: dict[str, set[tuple[str, int]]] = {}  # open runs: (metric, step) logged

    # -- plumbing -------------------------------------------------------------------------
    def uri_for(self, store: RunStore) -> str:
        """The tracking URI used for runs of ``store``: the one given, else MLflow's own
        ``MLFLOW_TRACKING_URI`` where set (as every MLflow client honours it), else a SQLite
        file beside the store."""
        if self.tracking_uri is not None:
            return self.tracking_uri
        from_environment = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
        if from_environment:
            return from_environment
        return f"sqlite:///{Path(store.path).resolve().parent / 'mlflow.db'}"

    def _connect(self, store: RunStore) -> tuple[Any, str]:
        if self._mlflow is None:
            self._mlflow = _client()(tracking_uri=self.uri_for(store))
        client = self._mlflow
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return client, found.experiment_id
        return client, client.create_experiment(
            self.experiment, artifact_location=self.artifact_location(store)
        )

    def artifact_location(self, store: RunStore) -> str | None:
        """Where a new experiment keeps artifacts: ``mlflow-artifacts/`` beside a local
        SQLite tracking file (MLflow would otherwise use ``./mlruns`` in whatever folder it
        runs from); a tracking server's own default otherwise."""
        uri = self.uri_for(store)
        if not uri.startswith("sqlite:///"):
            return None
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.resolve().parent / "mlflow-artifacts").as_uri()

    def mlflow_run_id(self, run_id: str) -> str | None:
        """The MLflow run a rengo run was mirrored to by this mirror, if any."""
        return self._runs.get(run_id)

    # -- RunMirror ------------------------------------------------------------------------
    def open(self, store: RunStore, run: RunInfo) -> None:
        """Create the MLflow run with params and tags, or carry on in the one already
        mirrored from ``run`` (resumed, or mirrored again), adding the params it lacks."""
        if run.run_id in self._steps:  # open already
            return
        client, experiment_id = self._connect(store)
        existing = client.search_runs(
            [experiment_id], filter_string=f"tags.`{TAG}` = '{run.run_id}'"
        )
        if existing and self.replace:
            for old in existing:
                client.delete_run(old.info.run_id)
            existing = []
        if existing:
            found = existing[0]
            mlflow_id = found.info.run_id
            have = dict(found.data.params)
            self._steps[run.run_id] = {
                (key, m.step)
                for key in found.data.metrics
                for m in client.get_metric_history(mlflow_id, key)
            }
            if run.status == "running":
                client.update_run(mlflow_id, status="RUNNING")
        else:
            tags = {
                TAG: run.run_id,
                "rengo.kind": run.kind,
                "rengo.version": run.rengo_version,
                "rengo.host": run.hostname,
                "mlflow.runName": run.label,
            }
            mlflow_id = client.create_run(
                experiment_id, start_time=_millis(run), tags=tags
            ).info.run_id
            have = {}
            self._steps[run.run_id] = set()
        self._runs[run.run_id] = mlflow_id
        params = flat_params(run.config)
        if run.seed is not None:
            params.setdefault("seed", str(run.seed))
        from mlflow.entities import Param

        names = mirror_names(params)
        items = [
            Param(names[k], v[:_PARAM_VALUE_CHARS])
            for k, v in sorted(params.items())
            if names[k] not in have  # MLflow refuses to change a param it has
        ]
        for start in range(0, len(items), _BATCH):
            client.log_batch(mlflow_id, params=items[start : start + _BATCH])

    def _log_metrics(self, run: RunInfo, values: dict[str, float], step: int) -> None:
        """Log ``values`` at ``step``, each under its MLflow name, leaving out those the
        MLflow run already has at that step."""
        logged = self._steps.get(run.run_id)
        if logged is None:
            raise DataError(f"run {run.run_id} was not opened in MLflow")
        mlflow_id = self._runs[run.run_id]
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        names = mirror_names(values)
        metrics = [
            Metric(names[key], value, stamp, step)
            for key, value in sorted(values.items())
            if (names[key], step) not in logged
        ]
        for start in range(0, len(metrics), _BATCH):
            batch = metrics[start : start + _BATCH]
            self._mlflow.log_batch(mlflow_id, metrics=batch)
            logged.update((m.key, step) for m in batch)

    def round(
        self, store: RunStore, run: RunInfo, record: RoundRecord, clients: Sequence[ClientRecord]
    ) -> None:
        """Log the round's metrics and client aggregates at step = round (those the MLflow
        run does not have at that step yet)."""
        self._log_metrics(run, round_scalars(record, clients), record.round)

    def close(self, store: RunStore, run: RunInfo) -> None:
        """Final model, run summary, contributions (see
        :func:`~rengo.tracking.mirrors.base.contribution_scalars`) and ledger; then the run's
        status. The summary is metrics at the run's last round, so a resumed run's final
        values follow those it had when it was interrupted."""
        if run.run_id not in self._steps:
            raise DataError(f"run {run.run_id} was not opened in MLflow")
        mlflow_id = self._runs[run.run_id]
        client = self._mlflow
        finals = {
            f"summary.{k}": float(v)
            for k, v in (run.summary or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        self._log_metrics(run, finals, store.round_span(run.run_id)[1])
        for step, values in sorted(contribution_scalars(store, run.run_id).items()):
            self._log_metrics(run, values, step)
        with tempfile.TemporaryDirectory(prefix="rengo-mlflow-") as tmp:
            folder = Path(tmp)
            (folder / "run.json").write_text(
                json.dumps(
                    {"run_id": run.run_id, "config": run.config, "summary": run.summary},
                    indent=1,
                    default=str,
                ),
                encoding="utf-8",
            )
            client.log_artifact(mlflow_id, str(folder / "run.json"), "rengo")
            if store.ledger(run.run_id):
                from rengo.tracking.contrib_records import write_ledger_csv

                write_ledger_csv(store, [run.run_id], folder / "ledger.csv")
                client.log_artifact(mlflow_id, str(folder / "ledger.csv"), "rengo")
            for path in self._model_files(store, run, folder):
                client.log_artifact(mlflow_id, str(path), "model")
        end = int((run.finished_at.timestamp() if run.finished_at else time.time()) * 1000)
        client.set_terminated(mlflow_id, _STATUS.get(run.status, "FINISHED"), end_time=end)
        self._steps.pop(run.run_id, None)

    def _model_files(self, store: RunStore, run: RunInfo, folder: Path) -> list[Path]:
        if not store.checkpoint_rounds(run.run_id):
            return []
        try:
            model = load_model(store, run.run_id)
        except DataError:  # a vertical run's parts are exported per party, not as one model
            return []
        state = (
            dict(self.state_dict(model.parameters))
            if self.state_dict is not None
            else named_parameters(model.parameters)
        )
        files = [write_model(state, folder / "model.npz", "npz")]
        try:
            import torch  # noqa: F401
        except ImportError:
            return files
        files.append(write_model(state, folder / "state_dict.pt", "torch"))
        return files

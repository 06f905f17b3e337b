"""Mirror rengo runs into TensorBoard event files: every round's metrics as scalars (step =
round), client aggregates, the config as hyperparameters and as text.

Written with the ``tensorboard`` package's own event-file writer and summary protos (no
TensorFlow, no PyTorch needed). Each run gets its own folder
``<logdir>/<name>-<run id>``, so ``tensorboard --logdir rengo-runs/tensorboard`` lists
runs by name. A run mirrored again into its folder (resumed, or ``rengo runs mirror`` after
a live mirror) gets only the values its event files lack: a tag at a step already written
is not written again, so no chart shows a step twice. Needs the ``tensorboard`` extra
(``pip install 'rengo[tensorboard]'``).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rengo.core.errors import ConfigError, DataError
from rengo.core.install_hint import install_hint
from rengo.tracking.mirrors.base import contribution_scalars, flat_params, round_scalars
from rengo.tracking.mirrors.names import mirror_names
from rengo.tracking.records import ClientRecord, RoundRecord, RunInfo
from rengo.tracking.store import RunStore

DEFAULT_DIR = "tensorboard"
"""Default folder, beside the run store."""


def _modules() -> tuple[Any, Any, Any, Any]:
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import summary_v2 as hparams
        from tensorboard.plugins.text import summary_v2 as text
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise ConfigError(
            f"mirroring to TensorBoard needs it: {install_hint('tensorboard')}"
        ) from exc
    return EventFileWriter, event_pb2, summary_pb2, (hparams, text)


def run_folder_name(run: RunInfo) -> str:
    """``<name>-<run id>`` with anything but letters, digits, ``._-`` replaced."""
    label = re.sub(r"[^A-Za-z0-9._-]+", "_", run.name or run.kind)
    return f"{label}-{run.run_id}"


def written_steps(folder: Path) -> set[tuple[str, int]]:
    """Every (tag, step) the event files in ``folder`` hold (none if it has none)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    found: set[tuple[str, int]] = set()
    for path in sorted(folder.glob("*tfevents*")):
        for event in EventFileLoader(str(path)).Load():
            found.update((value.tag, int(event.step)) for value in event.summary.value)
    return found


def _hparam(value: str) -> bool | int | float | str:
    try:
        parsed = json.loads(value)
    except ValueError:
        return value
    return parsed if isinstance(parsed, (bool, int, float)) else value


class TensorBoardMirror:
    """Writes each rengo run to ``logdir/<name>-<run id>/events.out.tfevents...``.

    Parameters
    ----------
    logdir
        Where run folders go; None: ``tensorboard/`` beside the run store.
    """

    def __init__(self, logdir: str | os.PathLike[str] | None = None) -> None:
        _modules()  # fail now, with the install command, not after the first round
        self.logdir = None if logdir is None else Path(logdir)
        self._writers: dict[str, Any] = {}
        self._clock: dict[str, float] = {}
        self._written: dict[str, set[tuple[str, int]]] = {}

    def folder_for(self, store: RunStore, run: RunInfo) -> Path:
        """The event folder of ``run``."""
        root = self.logdir or Path(store.path).resolve().parent / DEFAULT_DIR
        return root / run_folder_name(run)

    def _event(self, run_id: str, step: int, summary: Any, wall_time: float | None = None) -> None:
        _, event_pb2, _, _ = _modules()
        writer = self._writers.get(run_id)
        if writer is None:
            raise DataError(f"run {run_id} was not opened in TensorBoard")
        written = self._written[run_id]
        values = [v for v in summary.value if (v.tag, step) not in written]
        if not values:
            return
        del summary.value[:]
        summary.value.extend(values)
        moment = wall_time if wall_time is not None else time.time()
        writer.add_event(event_pb2.Event(wall_time=moment, step=step, summary=summary))
        written.update((v.tag, step) for v in values)

    # -- RunMirror ------------------------------------------------------------------------
    def open(self, store: RunStore, run: RunInfo) -> None:
        """Start the run's event file with its config (hparams and a text table)."""
        if run.run_id in self._writers:
            return
        writer_cls, _, _, (hparams, text) = _modules()
        folder = self.folder_for(store, run)
        folder.mkdir(parents=True, exist_ok=True)
        self._written[run.run_id] = written_steps(folder)
        self._writers[run.run_id] = writer_cls(str(folder))
        started = run.started_at.timestamp()
        self._clock[run.run_id] = started
        params = flat_params(run.config)
        values = {k: _hparam(v) for k, v in sorted(params.items())}
        self._event(
            run.run_id,
            0,
            hparams.hparams_pb(values, trial_id=run.run_id, start_time_secs=started),
            started,
        )
        table = "\n".join(
            ["| key | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in sorted(params.items())]
        )
        header = f"**{run.label}** ({run.kind}, run `{run.run_id}`)\n\n"
        self._event(run.run_id, 0, text.text_pb("rengo/config", header + table), started)

    def round(
        self, store: RunStore, run: RunInfo, record: RoundRecord, clients: Sequence[ClientRecord]
    ) -> None:
        """One scalar per metric and client aggregate, at step = round."""
        # Live runs stamp rounds now; replays spread them over the run from its start.
        if run.status == "running":
            moment = time.time()
        else:
            moment = self._clock.get(run.run_id, time.time()) + record.duration_s
            self._clock[run.run_id] = moment
        self._scalars(run.run_id, record.round, round_scalars(record, clients), moment)

    def _scalars(
        self, run_id: str, step: int, scalars: dict[str, float], wall_time: float | None = None
    ) -> None:
        """``scalars`` at ``step``, each under its :func:`mirror_names` tag."""
        _, _, summary_pb2, _ = _modules()
        names = mirror_names(scalars)
        values = [
            summary_pb2.Summary.Value(tag=names[tag], simple_value=value)
            for tag, value in sorted(scalars.items())
        ]
        self._event(run_id, step, summary_pb2.Summary(value=values), wall_time)

    def close(self, store: RunStore, run: RunInfo) -> None:
        """Contribution values as scalars (see
        :func:`~rengo.tracking.mirrors.base.contribution_scalars`), the run's status and
        summary as text; then flush and close the file."""
        _, _, _, (_, text) = _modules()
        for step, scalars in sorted(contribution_scalars(store, run.run_id).items()):
            self._scalars(run.run_id, step, scalars)
        summary = json.dumps(run.summary or {}, indent=1, sort_keys=True, default=str)
        body = f"status: **{run.status}**\n\n```\n{summary}\n```"
        _, last = store.round_span(run.run_id)
        self._event(run.run_id, last, text.text_pb("rengo/summary", body))
        writer = self._writers.pop(run.run_id)
        writer.flush()
        writer.close()
        self._clock.pop(run.run_id, None)
        self._written.pop(run.run_id, None)

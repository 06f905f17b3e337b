"""What a vertical run is doing while it runs: key generation, private set intersection (the
matched count as soon as it is known), training batch by batch with the running loss, and
scoring.

Roles and the runner report :class:`VerticalProgress` events to an optional callback
(:data:`ProgressFn`); nothing is reported when there is none, so tests and libraries stay
silent. A training role reports through a :class:`TrainingReporter` (two calls in its loop:
one per batch, one per epoch), which keeps role code free of display concerns.
:class:`RichVerticalProgress` draws the events as rich progress bars with an estimate of the
time left; estimators take ``progress=True`` (or any callback) like scikit-learn's
``verbose``, and the ``rengo`` commands turn it on.

What a party reports is what it already knows: the label party its running Taylor loss,
every party its own batch count and its PSI match count (the size of the intersection,
which PSI reveals to every party anyway).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from rengo.core.notebook_progress import live_progress

Stage = Literal["keys", "psi", "train", "score"]


@dataclass(frozen=True)
class VerticalProgress:
    """One step of a vertical run, as a role sees it.

    Attributes
    ----------
    party
        The role reporting (a party's name, or the coordinator's).
    stage
        ``"keys"`` (making key material), ``"psi"`` (aligning rows), ``"train"`` or
        ``"score"``.
    done, total
        Units done and to do in the stage (training: batches over every epoch; ``total``
        shrinks to ``done`` when training stops early).
    epoch, epochs
        The current epoch (1-based) and the most the run will take (training).
    loss
        The label party's running mean loss over the epoch's batches so far (training).
    validation_loss
        The loss on held-out rows at the end of an epoch, where the role knows it (transfer
        learning's coordinator, with ``validation_fraction``).
    matched
        Rows every party holds (PSI), once known.
    phase
        What PSI aligns for: ``"train"`` or ``"score"``.
    finished
        The stage has ended.
    detail
        A short description (``"2048-bit Paillier key pair"``; in training, where the
        epoch stands, e.g. SecureBoost's ``"depth 2/3"``).
    unit
        What one epoch is called in displays (``"tree"`` for SecureBoost).
    ends_epoch
        The event is the end of ``epoch`` (:meth:`TrainingReporter.epoch_end`).
    """

    party: str
    stage: Stage
    done: int = 0
    total: int | None = None
    epoch: int | None = None
    epochs: int | None = None
    loss: float | None = None
    validation_loss: float | None = None
    matched: int | None = None
    phase: str | None = None
    finished: bool = False
    detail: str = ""
    unit: str = "epoch"
    ends_epoch: bool = False


ProgressFn = Callable[[VerticalProgress], None]
"""Receives every :class:`VerticalProgress` event of a role (or of a whole simulation)."""


class TrainingReporter:
    """A training role's progress: call :meth:`batch` after every batch and
    :meth:`epoch_end` after every epoch (nothing happens without a callback).

    Parameters
    ----------
    progress
        Where events go (None: nowhere).
    party
        The reporting role's name.
    epochs
        The most epochs training will run.
    batches
        Batches per epoch.
    unit
        What an epoch is called in displays (:attr:`VerticalProgress.unit`).
    batch_unit
        What a batch is called, to show ``"<batch_unit> b/batches"`` in each batch's event
        (SecureBoost: ``"depth"``, a tree's levels); empty: nothing.
    """

    def __init__(
        self,
        progress: ProgressFn | None,
        party: str,
        epochs: int,
        batches: int,
        unit: str = "epoch",
        batch_unit: str = "",
    ) -> None:
        self._progress = progress
        self._party = party
        self._epochs = epochs
        self._batches = max(1, batches)
        self._unit = unit
        self._batch_unit = batch_unit

    def begin(self, epochs_done: int = 0) -> None:
        """Training starts (or resumes after ``epochs_done`` epochs): an event without an
        epoch, from which an :class:`EpochClock` times the first epoch."""
        if self._progress is not None:
            self._progress(
                VerticalProgress(
                    self._party,
                    "train",
                    done=epochs_done * self._batches,
                    total=self._epochs * self._batches,
                    epochs=self._epochs,
                    unit=self._unit,
                )
            )

    def batch(self, epoch: int, batch: int, loss: float | None = None) -> None:
        """Batch ``batch`` (0-based) of ``epoch`` (0-based) is done; ``loss`` is the running
        mean loss of the epoch so far (label party)."""
        if self._progress is not None:
            self._progress(
                VerticalProgress(
                    self._party,
                    "train",
                    done=epoch * self._batches + batch + 1,
                    total=self._epochs * self._batches,
                    epoch=epoch + 1,
                    epochs=self._epochs,
                    loss=loss,
                    detail=f"{self._batch_unit} {batch + 1}/{self._batches}"
                    if self._batch_unit
                    else "",
                    unit=self._unit,
                )
            )

    def epoch_end(
        self, epoch: int, loss: float | None, stop: bool, validation_loss: float | None = None
    ) -> None:
        """Epoch ``epoch`` (0-based) ended with mean ``loss`` (and ``validation_loss`` on
        held-out rows, where the role knows it); ``stop``: training ends."""
        if self._progress is None:
            return
        done = (epoch + 1) * self._batches
        self._progress(
            VerticalProgress(
                self._party,
                "train",
                done=done,
                total=done if stop else self._epochs * self._batches,
                epoch=epoch + 1,
                epochs=self._epochs,
                loss=loss,
                validation_loss=validation_loss,
                finished=stop,
                ends_epoch=True,
                unit=self._unit,
            )
        )


class EpochClock:
    """A :data:`ProgressFn` that notes when one party ended each training epoch, and passes
    every event on to ``forward`` (a display, or None).

    A run's record wants each epoch's own duration; the estimators return only the losses.
    The clock starts at the party's last event before training (its PSI or key step) and
    reads the time of its last training event of each epoch (the epoch's end).

    Parameters
    ----------
    party
        Whose epochs to time (the label party's drive the run).
    forward
        Receives every event after the clock has seen it.
    on_epoch_end
        Called with ``party``'s event that ends an epoch and that epoch's duration in
        seconds, as the epoch ends (a run's record follows training with it).
    """

    def __init__(
        self,
        party: str,
        forward: ProgressFn | None = None,
        on_epoch_end: Callable[[VerticalProgress, float], None] | None = None,
    ) -> None:
        self.party = party
        self.forward = forward
        self.on_epoch_end = on_epoch_end
        self._start: float | None = None
        self._ends: dict[int, float] = {}

    def __call__(self, event: VerticalProgress) -> None:
        """Note the time of ``party``'s event, then pass it on."""
        if event.party == self.party:
            now = time.perf_counter()
            if event.stage == "train" and event.epoch is not None:
                self._ends[event.epoch] = now
                if event.ends_epoch and self.on_epoch_end is not None:
                    self.on_epoch_end(event, self.epoch_durations()[event.epoch])
            elif not self._ends:
                self._start = now
        if self.forward is not None:
            self.forward(event)

    def epoch_seconds(self) -> list[float]:
        """Each timed epoch's duration in seconds, the first timed epoch first (empty before
        any)."""
        return list(self.epoch_durations().values())

    def epoch_durations(self) -> dict[int, float]:
        """Each timed epoch's duration in seconds, by epoch number (1-based), in order; the
        latest epoch's runs to its latest event so far."""
        if not self._ends:
            return {}
        last = self._start if self._start is not None else min(self._ends.values())
        durations = {}
        for epoch in sorted(self._ends):
            durations[epoch] = max(0.0, self._ends[epoch] - last)
            last = self._ends[epoch]
        return durations


@contextmanager
def epoch_clock(
    estimator: Any,
    party: str,
    progress: bool | ProgressFn,
    on_epoch_end: Callable[[VerticalProgress, float], None] | None = None,
) -> Iterator[EpochClock]:
    """Fit ``estimator`` inside this block with an :class:`EpochClock` on ``party`` in front
    of ``progress``'s display; the estimator gets ``progress`` back on leaving (its later
    calls, such as scoring, draw as before).

    Parameters
    ----------
    estimator
        A vertical estimator (``set_params(progress=...)``).
    party
        Whose epochs to time.
    progress
        What the caller asked for (True: rich bars, a callback, or False).
    on_epoch_end
        Told each of ``party``'s epochs as it ends, with its duration
        (:class:`EpochClock`'s ``on_epoch_end``).

    Yields
    ------
    EpochClock
        Read its :meth:`EpochClock.epoch_seconds` after the fit.
    """
    with progress_display(progress) as show:
        clock = EpochClock(party, forward=show, on_epoch_end=on_epoch_end)
        estimator.set_params(progress=clock)
        try:
            yield clock
        finally:
            estimator.set_params(progress=progress)


def batches_per_epoch(rows: int, batch_size: int) -> int:
    """``ceil(rows / batch_size)``: the mini-batches of one epoch."""
    return max(1, math.ceil(rows / batch_size))


def report(progress: ProgressFn | None, event: VerticalProgress) -> None:
    """Send ``event`` to ``progress`` if there is one."""
    if progress is not None:
        progress(event)


class RichVerticalProgress:
    """Rich progress bars for a vertical run: a spinner while keys are made and PSI runs,
    the PSI match count as a line as soon as it is known, a training bar over every batch
    with the epoch, the running loss and the estimated time left, and a scoring spinner.

    Use as a context manager; the object itself is the :data:`ProgressFn`.

    Parameters
    ----------
    console
        A :class:`rich.console.Console` (default: rich's global one).
    title
        Printed before the bars (``"credit"``); nothing when empty.
    """

    def __init__(self, console: Any = None, title: str = "") -> None:
        self._console = console
        self._title = title
        self._bar: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}
        self._started: dict[tuple[str, str], float] = {}

    def __enter__(self) -> RichVerticalProgress:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = live_progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(compact=True, elapsed_when_finished=False),
            TextColumn("{task.fields[status]}"),
            console=self._console,
            transient=False,
        )
        if self._title:
            self._bar.console.print(self._title)
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __call__(self, event: VerticalProgress) -> None:
        """Draw one event."""
        if self._bar is None:
            return
        key = (event.party, event.stage if event.stage != "psi" else f"psi/{event.phase}")
        task = self._tasks.get(key)
        if task is None:
            task = self._bar.add_task(
                self._describe(event), total=event.total, status="", start=True
            )
            self._tasks[key] = task
            self._started[key] = time.perf_counter()
        status = self._status(event)
        self._bar.update(
            task,
            description=self._describe(event),
            completed=event.done,
            total=event.total,
            status=status,
        )
        if event.finished:
            total = event.total if event.total is not None else max(event.done, 1)
            self._bar.update(task, completed=total, total=total)
            self._bar.stop_task(task)

    @staticmethod
    def _describe(event: VerticalProgress) -> str:
        if event.stage == "keys":
            return f"{event.party} keys"
        if event.stage == "psi":
            return f"{event.party} PSI" + (" (score)" if event.phase == "score" else "")
        if event.stage == "train":
            return f"{event.party} training"
        return f"{event.party} scoring"

    @staticmethod
    def _status(event: VerticalProgress) -> str:
        parts = []
        if event.epoch is not None and event.epochs is not None:
            parts.append(f"{event.unit} {event.epoch}/{event.epochs}")
        if event.detail:
            parts.append(event.detail)
        if event.matched is not None:
            parts.append(f"{event.matched:,} matched")
        if event.loss is not None:
            parts.append(f"loss {event.loss:.4f}")
        if event.validation_loss is not None:
            parts.append(f"validation loss {event.validation_loss:.4f}")
        return "  ".join(parts)


def progress_display(
    progress: bool | ProgressFn | None, console: Any = None, title: str = ""
) -> Any:
    """A context manager yielding the :data:`ProgressFn` for ``progress``: rich bars for
    True, the callback itself for a callable, None for False/None."""
    from contextlib import nullcontext

    if progress is True:
        return RichVerticalProgress(console, title)
    if callable(progress):
        return nullcontext(progress)
    return nullcontext(None)

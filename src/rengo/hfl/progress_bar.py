"""The progress bar over a run's rounds, shared by simulation and the deployed coordinator.

The bar moves once per round and, fed by :class:`~rengo.hfl.reply_count.RepliesCounted`,
shows how far the current round has come (``round 2: fit 65/200``), so a round of slow
clients or parties is not minutes of nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rengo.core.notebook_progress import live_progress
from rengo.hfl.coordinator import ProgressFn

PROGRESS_METRICS = (
    "central_accuracy",
    "central_loss",
    "eval_accuracy",
    "train_loss",
    "central_rmse",
    "central_r2",
)
"""The round metrics the progress bar shows, when a round has them."""


class RoundProgressBar:
    """A rich progress bar over rounds (or a user callback, or nothing): ``with bar as
    report`` gives the function to call with each round's record, and :meth:`replies` (a
    :data:`~rengo.hfl.reply_count.ReplyListener`) shows how far the current round's exchange
    has come.

    Parameters
    ----------
    progress
        True: the bar; a callable: called with each round's record instead; False: nothing.
    rounds, label
        The run's round count and the bar's label.
    done
        Rounds a resumed run completed before.
    console
        The rich console to draw on (default: rich's, on standard output).
    """

    def __init__(
        self,
        progress: bool | ProgressFn,
        rounds: int,
        label: str,
        done: int = 0,
        console: Any = None,
    ) -> None:
        self._user: Callable[..., None] | None = progress if callable(progress) else None
        self._enabled = progress is True
        self._rounds = rounds
        self._done = done  # rounds a resumed run completed before
        self._label = label
        self._bar: Any = None
        self._task: Any = None
        self._round = done + 1
        self._console = console

    def __enter__(self) -> ProgressFn | None:
        if self._user is not None:
            return self._user
        if not self._enabled:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        def kept() -> Column:  # never squashed to "…"
            return Column(no_wrap=True)

        self._bar = live_progress(
            TextColumn("[bold]{task.description}", table_column=kept()),
            BarColumn(bar_width=16, table_column=kept()),
            MofNCompleteColumn(table_column=kept()),
            TimeElapsedColumn(table_column=kept()),
            TimeRemainingColumn(compact=True, elapsed_when_finished=False, table_column=kept()),
            TextColumn("{task.fields[step]}", table_column=kept()),
            # the round's metrics take what is left of a narrow terminal, cut at its edge
            TextColumn(
                "{task.fields[status]}",
                table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
            ),
            expand=True,
            transient=False,
            console=self._console,
        )
        self._bar.start()
        self._task = self._bar.add_task(
            self._label, total=self._rounds, completed=self._done, status="", step=""
        )

        def report(record: Any) -> None:
            shown = {k: v for k, v in record.metrics.items() if k in PROGRESS_METRICS}
            text = "  ".join(f"{k}={v:.4f}" for k, v in shown.items())
            fit_failed, eval_failed = record.fit_failures, record.evaluation_failures
            if getattr(record, "skipped", None) is not None:  # no metric: the model is kept
                reported = len(record.clients) - len(fit_failed)
                text = f"[yellow]skipped: {reported} of {len(record.clients)} reported"
                fit_failed = {}
            if fit_failed:
                text += f"  [yellow]{len(fit_failed)} dropped"
            if eval_failed:
                text += f"  [yellow]{len(eval_failed)} failed evaluation"
            self._round = record.server_round + 1
            self._bar.update(self._task, advance=1, status=text, step="")

        return report

    def replies(self, key: str, done: int, total: int) -> None:
        """Show how far the current round's exchange under ``key`` has come (the rich bar
        only: a user's callback hears of whole rounds)."""
        if self._bar is not None and total > 1:
            step = f"round {self._round}: {key} {done}/{total}" if done < total else ""
            self._bar.update(self._task, step=step)

    def note(self, text: str) -> None:
        """Show ``text`` where the round's reply count goes (what the run is doing before its
        first round, "starting the ray executor"); an empty text clears it."""
        if self._bar is not None:
            self._bar.update(self._task, step=text)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

"""What ``rengo vfl align`` shows while it reads, matches and writes: a bank's few million
rows take minutes in each stage, which a silent command leaves a person to guess at.

On a terminal a rich spinner names the stage running and its time so far; on a terminal or
off one (a log file, ``--log-format text|json``) each stage that ends is one line
(:func:`~rengo.cli.console_lines.say`) with its count and seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console

from rengo.cli.console_lines import progress_bars_shown, say
from rengo.vfl.psi import AlignStep


def step_line(step: AlignStep, parties: int) -> str:
    """The line for a stage that started (what runs) or ended (what it did, in how long)."""
    if not step.finished:
        if step.stage == "ids":
            return f"{step.party}: reading IDs"
        if step.stage == "psi":
            return f"matching the IDs of {parties} parties (PSI)"
        return f"{step.party}: writing the shared rows"
    took = f"({step.seconds:.1f} s)"
    if step.stage == "ids":
        return f"{step.party}: {step.count:,} IDs read {took}"
    if step.stage == "psi":
        return f"PSI: {step.count:,} IDs shared by all {parties} parties {took}"
    return f"{step.party}: {step.count:,} shared rows written {took}"


@contextmanager
def align_progress(console: Console, parties: int) -> Iterator[Callable[[AlignStep], None]]:
    """The ``progress`` callback of :func:`~rengo.vfl.align_csv` for a command.

    Parameters
    ----------
    console
        The command's console.
    parties
        How many parties are aligned (named in the PSI lines).

    Returns
    -------
    Iterator
        Yields the callback; a spinner, where one is shown, stops on leaving.
    """
    if not progress_bars_shown(True, console):

        def lines(step: AlignStep) -> None:
            if step.finished:
                say(console, step_line(step, parties))

        yield lines
        return
    with console.status("", spinner="dots") as status:

        def shown(step: AlignStep) -> None:
            if step.finished:
                console.print(step_line(step, parties), highlight=False, soft_wrap=True)
            else:
                status.update(step_line(step, parties) + " ...")

        yield shown

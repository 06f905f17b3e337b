"""``rengo runs card RUN``: a recorded run's model card, in Markdown, for the people who
sign a model off (a bank's model validation, an ethics board).

Registered on ``runs_app`` by :mod:`rengo.cli.runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from rengo.cli.errors import friendly_errors
from rengo.cli.output_paths import write_text_output
from rengo.cli.renamed_options import renamed_option_value
from rengo.cli.store_option import RunIdArgument, StoreOption, open_existing_store

console = Console()


def card(
    run_id: RunIdArgument,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Markdown file to write (a folder gets RUN.md inside; default: print).",
        ),
    ] = None,
    importance: Annotated[
        list[str] | None,
        typer.Option(
            "--importance",
            help="A party that agreed to share its feature importance: its own view is added "
            "(repeat for several; none by default).",
        ),
    ] = None,
    store: StoreOption = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a file already there (else refuse, writing nothing).")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option("--output", hidden=True, help="Deprecated spelling of --out."),
    ] = None,
) -> None:
    """Write a run's model card (Markdown) from what the run store recorded.

    Model details (seed, rengo version), training data (file digests, rows per party or
    client, shared rows), settings, metrics on held-out rows with the reliability table,
    privacy mechanisms and participants. What the run did not record reads "not recorded":
    the card never fills a fact in. A party's feature importance is added only with
    --importance PARTY (the party agreed to share it).

    Example: rengo runs card 20261206-0915 -o card.md
    """
    from rengo.tracking.run_card import model_card

    with friendly_errors():
        # --out as every `rengo runs` command that writes one file spells it
        out = renamed_option_value("--output", "--out", output, out)
    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        run = s.get_run(run_id)
        text = model_card(s, run.run_id, shared_importance=importance or ())
        target = write_text_output(text, out, f"{run.run_id}.md", overwrite)
        if target is None:
            return
        console.print(f"wrote {target}: the model card of run {run.run_id}", highlight=False)

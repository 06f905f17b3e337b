"""``rengo runs importance RUN --party NAME``: which of one party's columns drive a simulated
vertical run's model, in that party's own view.

Registered on ``runs_app`` by :mod:`rengo.cli.runs`.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rengo.cli.errors import friendly_errors
from rengo.cli.store_option import RunIdArgument, StoreOption, open_existing_store

console = Console()


def importance(
    run_id: RunIdArgument,
    party: Annotated[
        str,
        typer.Option(
            "--party",
            "-p",
            help="Whose view: that party's own columns (a run's parties: rengo runs show RUN).",
        ),
    ],
    store: StoreOption = None,
) -> None:
    """Show one party's feature importance in a simulated vertical run.

    Hetero linear models: the party's coefficients (on its z-scored columns, as a job
    standardises them). SecureBoost: the label party's split gains and counts (its own
    columns by name, the others' by an anonymous id); a feature party's split counts on its
    own columns. Each party sees only its own view, as in a deployment.

    Example: rengo runs importance 20261206-0915 --party bank
    """
    from rengo.tracking.column_importance import party_importance

    with friendly_errors(), open_existing_store(store, read_only=True) as s:
        view = party_importance(s, run_id, party)
    table = Table(title=f"{view.party} in run {view.run_id}: {view.measure}", title_justify="left")
    table.add_column("column")
    table.add_column("value", justify="right")
    table.add_column("splits", justify="right")
    for column in view.columns:
        signed = "+" if column.splits is None else ""  # a coefficient's sign, not a gain's
        table.add_row(
            column.column,
            "-" if column.value is None else f"{column.value:{signed}.4g}",
            "-" if column.splits is None else str(column.splits),
        )
    console.print(table)

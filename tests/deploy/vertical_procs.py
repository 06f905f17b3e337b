"""The ``rengo vfl coordinator`` / ``rengo vfl party`` commands as the vertical deployment
tests start them, each in its own OS process: ``python vertical_procs.py coordinator ...``.

With ``$PAUSE_IN_SELECTION=FILE`` a feature party writes FILE once it is in the selection
step by IV and waits there, for a test to kill it at that point."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import typer

from rengo.cli.vfl_deploy import vfl_coordinator, vfl_party

app = typer.Typer(no_args_is_help=True)
app.command("coordinator")(vfl_coordinator)
app.command("party")(vfl_party)


def _pause_in_selection(marker: Path) -> None:
    from rengo.vfl.hetero_binning import selection_step

    def paused(*args: Any, **kwargs: Any) -> Any:
        marker.write_text("in the selection step")
        time.sleep(600)  # until the test kills this process
        raise AssertionError("the test never killed this party")

    selection_step.select_at_feature_party = paused  # type: ignore[assignment]


if __name__ == "__main__":
    if os.environ.get("PAUSE_IN_SELECTION"):
        _pause_in_selection(Path(os.environ["PAUSE_IN_SELECTION"]))
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    app()

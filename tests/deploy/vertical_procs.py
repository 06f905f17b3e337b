"""The ``rengo vfl coordinator`` / ``rengo vfl party`` commands as the vertical deployment
tests start them, each in its own OS process: ``python vertical_procs.py coordinator ...``."""

from __future__ import annotations

import logging

import typer

from rengo.cli.vfl_deploy import vfl_coordinator, vfl_party

app = typer.Typer(no_args_is_help=True)
app.command("coordinator")(vfl_coordinator)
app.command("party")(vfl_party)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    app()

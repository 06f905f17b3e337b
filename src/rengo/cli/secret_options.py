"""Secrets given as command-line options: every user of the machine can read them.

A process's arguments are public on the machine (``ps aux``, ``/proc/PID/cmdline``) and are
often kept in shell histories, so a token passed as ``--token T`` is no longer a secret
there. Each such option also reads an environment variable, which only the process's user
can read; :func:`warn_if_on_command_line` says so when the option was typed instead.
"""

from __future__ import annotations

import typer

from rengo.cli.errors import error_console


def warn_if_on_command_line(ctx: typer.Context, parameter: str, flag: str, env: str) -> bool:
    """Print one ``warning:`` line on stderr if the secret option ``parameter`` (spelt
    ``flag``) of the command running in ``ctx`` was given on the command line rather than in
    the environment variable ``env``; returns whether it was."""
    source = ctx.get_parameter_source(parameter)
    if source is None or source.name != "COMMANDLINE":
        return False
    error_console.print(
        f"[yellow]warning:[/] {flag} on the command line can be read by every user of this "
        f"machine (ps, /proc) and stays in shell history: pass it in ${env} instead",
        highlight=False,
        soft_wrap=True,
    )
    return True

"""``rengo strategies``: every registered strategy, its job-file options and their defaults.

Read from the strategy registry, so a strategy added in its own module shows up here (and in
job files) without any list to edit.
"""

from __future__ import annotations

from dataclasses import MISSING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from rengo.hfl import Strategy, StrategyOption, strategy_registry
from rengo.hfl.strategy import strategy_options
from rengo.transport import executors


def _option(option: StrategyOption) -> str:
    kind = option.type.__name__ + (" | None" if option.optional else "")
    default = "required" if option.default is MISSING else repr(option.default)
    return f"{option.name} ({kind}) = {default}"


def print_strategies(console: Console) -> None:
    """A table of the registered strategies, then the executors ``job.executor`` accepts."""
    table = Table(title="strategies (job file: strategy.name)", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("options")
    table.add_column("what it is")
    for name, entry in strategy_registry().items():
        options = "\n".join(_option(o) for o in entry.options.values()) or "-"
        table.add_row(name, escape(options), escape(entry.summary.replace("``", "")))
    console.print(table)
    shared = ", ".join(_option(o) for o in strategy_options(Strategy).values())
    console.print(f"every strategy also takes {shared}")
    names = ", ".join(f"{e.name} ({e.description})" for e in executors().values())
    console.print(f"executors (job.executor / --executor): {names}")

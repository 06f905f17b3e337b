"""Command groups whose module is imported only when a command line reaches into them.

``rengo vfl``'s commands take one option per setting of every registered vertical
algorithm, so building them imports every algorithm (PSI, Paillier, SecureBoost, ...):
about a third of a second that ``rengo --help``, ``rengo runs list`` and every other command
would pay for nothing. A deferred group shows in ``rengo --help`` by the one-line help
given here; its commands (and its own ``--help``) come from its module on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from rengo.cli.logging_options import add_logging_options, unwrapped_help
from rengo.core.lazy_exports import split_target


class DeferredCommands(dict[str, Any]):
    """A group's commands, read from ``target`` (``"module:typer_app"``) the first time
    anyone looks at them; until then the dict is empty (``dict``'s own methods, which
    :func:`rengo.cli.logging_options.add_logging_options` uses, see it so)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target
        self.loaded = False

    def load(self) -> None:
        """Import the target's module and take its commands (idempotent).

        Raises
        ------
        TypeError
            If the target's app is not a group (typer makes an app of one command a
            command), or has a callback or parameters of its own, which a deferred group
            (made without them) would not run.
        """
        if self.loaded:
            return
        self.loaded = True
        module, attribute = split_target(self.target, "")
        app: typer.Typer = getattr(importlib.import_module(module), attribute)
        group = typer.main.get_command(app)
        if not isinstance(group, TyperGroup) or group.callback is not None or group.params:
            needed = "a typer app of several commands, with no callback"
            raise TypeError(f"{self.target} must be {needed}")
        add_logging_options(group)
        unwrapped_help(group)
        super().update(group.commands)

    def __getitem__(self, name: str) -> Any:
        self.load()
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        """As a ``dict``'s, once the commands are loaded."""
        self.load()
        return super().get(name, default)

    def __contains__(self, name: object) -> bool:
        self.load()
        return super().__contains__(name)

    def __iter__(self) -> Any:
        self.load()
        return super().__iter__()

    def __len__(self) -> int:
        self.load()
        return super().__len__()

    def keys(self) -> Any:
        """As a ``dict``'s, once the commands are loaded."""
        self.load()
        return super().keys()

    def values(self) -> Any:
        """As a ``dict``'s, once the commands are loaded."""
        self.load()
        return super().values()

    def items(self) -> Any:
        """As a ``dict``'s, once the commands are loaded."""
        self.load()
        return super().items()


class DeferredGroup(TyperGroup):
    """A typer group whose commands are a :class:`DeferredCommands` of :attr:`target`."""

    target = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = DeferredCommands(self.target)


def deferred_app(target: str, help: str) -> typer.Typer:
    """A typer app to add under ``rengo`` in place of the app ``target`` names, which is
    imported only when a command line (or a look at its commands) reaches it.

    Parameters
    ----------
    target:
        ``"module:attribute"`` of a :class:`typer.Typer` of commands (no callback).
    help:
        Its help, as its own app gives it (``rengo --help`` shows this one).

    Returns
    -------
    typer.Typer
        Add it with ``app.add_typer(deferred_app(...), name=...)``.
    """
    group = type(f"Deferred({target})", (DeferredGroup,), {"target": target})
    return typer.Typer(help=help, no_args_is_help=True, cls=group)

"""Deprecation paths: old module paths and names keep working for one release, with a warning.

When a module moves, its old dotted path is registered with :func:`alias_moved_modules`:
importing it returns a stand-in module (no file at the old path, so version control sees a
clean rename) that warns once with a :class:`DeprecationWarning` naming the new home and
forwards every attribute to it. Names that moved out of a module that still exists go
through :func:`moved_names`, a module ``__getattr__`` that warns on each use.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import types
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (removed after one release)."""
    warnings.warn(
        f"{old} is deprecated and will be removed in the next release; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class MovedModule(types.ModuleType):
    """A stand-in for a module that moved: attributes come from ``targets`` in order."""

    def __init__(self, name: str, targets: Sequence[str]) -> None:
        super().__init__(name, f"Deprecated: moved to {', '.join(targets)}.")
        self._targets = tuple(targets)

    def _modules(self) -> list[types.ModuleType]:
        return [importlib.import_module(target) for target in self._targets]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        for module in self._modules():
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __dir__(self) -> list[str]:
        names: set[str] = set()
        for module in self._modules():
            names.update(dir(module))
        return sorted(names)


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths of moved modules (after every real finder has looked)."""

    def __init__(self) -> None:
        self.moves: dict[str, tuple[str, ...]] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moves:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return MovedModule(spec.name, self.moves[spec.name])

    def exec_module(self, module: types.ModuleType) -> None:
        targets = self.moves[module.__name__]
        # warn_deprecated -> here -> (importlib frames, skipped by warnings) -> the importer
        warn_deprecated(f"module {module.__name__}", " or ".join(targets), stacklevel=3)


_FINDER = _MovedModuleFinder()
_LOCK = threading.Lock()


def alias_moved_modules(moves: Mapping[str, str | Sequence[str]]) -> None:
    """Make each old module path importable, forwarding to its new module(s).

    Parameters
    ----------
    moves
        Old dotted path -> new dotted path (or several, searched in order for each name).
    """
    with _LOCK:
        for old, new in moves.items():
            _FINDER.moves[old] = (new,) if isinstance(new, str) else tuple(new)
        if _FINDER not in sys.meta_path:
            sys.meta_path.append(_FINDER)


def moved_names(module: str, moves: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for names that moved: ``{"Name": "new.module"}``, or
    ``{"OLD": "new.module:NEW"}`` when the name changed too.

    >>> __getattr__ = moved_names(__name__, {"PartyTable": "rengo.vfl.common"})  # doctest: +SKIP
    """

    def __getattr__(name: str) -> Any:
        target = moves.get(name)
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new_module, _, new_name = target.partition(":")
        new_name = new_name or name
        warn_deprecated(f"{module}.{name}", f"{new_module}.{new_name}")
        return getattr(importlib.import_module(new_module), new_name)

    return __getattr__

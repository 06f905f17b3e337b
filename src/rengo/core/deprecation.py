"""Deprecation paths for names and modules that moved: the old import keeps working for one
release and emits a :class:`DeprecationWarning` that names the new place.

Two tools, both driven by plain strings, so an old package never imports its new home
until a user actually asks for a moved name (a library layer can keep a deprecated name
that now lives in a layer above it without importing upward):

* :func:`moved_names` builds a module ``__getattr__`` (PEP 562) for names that left a
  package: ``rengo.vfl.run_credit_default`` resolves to ``rengo.showcase``'s, with a warning.
* :func:`alias_moved_modules` keeps old *module* paths importable
  (``import rengo.contrib.shapley``, ``from rengo.contrib.shapley import exact_shapley``):
  the old path becomes a module that holds the new module's names and warns when imported.
  The old file is gone, so ``git`` follows the move when other branches edit it.

Every redirection is recorded; :func:`deprecated_paths` lists them (``docs/API.md`` prints
the list).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from rengo.core.lazy_exports import resolve_target, split_target

REMOVED_IN = "0.3"
"""The release in which the deprecated paths below stop working."""

_REDIRECTS: dict[str, str] = {}


@dataclass(frozen=True)
class MovedModule:
    """Where an old module's names live now.

    Parameters
    ----------
    new:
        The module that holds (most of) the old module's names, e.g.
        ``"rengo.valuation.shapley"``.
    names:
        Names that went elsewhere: name -> ``"module"`` or ``"module:attribute"``.
    hints:
        Name -> how to replace it, where "import it from X" is not the whole answer
        (shown in the old module's import warning and by :func:`deprecated_paths`).
    """

    new: str
    names: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)


_OWN_FILES = (__file__, resolve_target.__code__.co_filename)
"""This module and :mod:`rengo.core.lazy_exports` (whose ``__getattr__`` calls a moved-names
table as its fallback): frames of either are not the user's."""


def _is_import_machinery(filename: str) -> bool:
    return filename.startswith("<frozen importlib") or filename in _OWN_FILES


def _skipped_by_warnings(filename: str) -> bool:
    """Frames :func:`warnings.warn` itself steps over when it counts ``stacklevel``
    (CPython's importlib bootstrap frames)."""
    return "importlib" in filename and "_bootstrap" in filename


def _user_stacklevel() -> int:
    """The ``stacklevel`` that attributes a warning to the first frame outside this module
    and the import machinery, i.e. the user's ``import`` or attribute access (so a script's
    ``import`` of a moved module shows the warning under Python's default filters, which
    show a :class:`DeprecationWarning` only when it is attributed to ``__main__``).

    :func:`warnings.warn` already skips importlib's bootstrap frames when it walks
    ``stacklevel`` frames up, so only the other frames are counted."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _is_import_machinery(frame.f_code.co_filename):
        frame = frame.f_back  # type: ignore[assignment]
        if frame is not None and not _skipped_by_warnings(frame.f_code.co_filename):
            level += 1
    return level


def warn_moved(old: str, new: str, hint: str = "") -> None:
    """Warn that ``old`` is deprecated in favour of ``new``.

    Parameters
    ----------
    old, new:
        Dotted paths, e.g. ``"rengo.contrib.Tournament"`` and ``"rengo.tournament.Tournament"``.
    hint:
        Replaces "import ``new`` instead" where that is not the whole answer (e.g. a
        changed signature).
    """
    advice = hint or f"import {new} instead"
    warnings.warn(
        f"{old} is deprecated and will be removed in rengo {REMOVED_IN}; {advice}",
        DeprecationWarning,
        stacklevel=_user_stacklevel(),
    )


def moved_names(
    package: str,
    names: Mapping[str, str],
    *,
    hints: Mapping[str, str] | None = None,
    fallback: Callable[[str], Any] | None = None,
) -> Callable[[str], Any]:
    """A module ``__getattr__`` that resolves names which moved out of ``package``.

    Parameters
    ----------
    package:
        The old module's name (pass ``__name__``).
    names:
        Moved name -> its new home, ``"module"`` (same name there) or ``"module:attribute"``.
        For whole modules that moved use :func:`alias_moved_modules`.
    hints:
        Moved name -> the advice its warning gives instead of "import <new home> instead".
    fallback:
        Another ``__getattr__`` to try for names not in ``names`` (to chain two blocks).

    Returns
    -------
    Callable[[str], Any]
        Assign it to the module's ``__getattr__``. It imports the new module on first use,
        warns with :class:`DeprecationWarning` on every access, and raises
        :class:`AttributeError` for unknown names.
    """
    table = dict(names)
    advice = dict(hints or {})
    for name, target in table.items():
        module, attribute = split_target(target, name)
        _REDIRECTS[f"{package}.{name}"] = advice.get(name) or f"{module}.{attribute}"

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            if fallback is not None:
                return fallback(name)
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = split_target(target, name)
        warn_moved(f"{package}.{name}", f"{module}.{attribute}", advice.get(name, ""))
        return resolve_target(target, name)

    return __getattr__


def _module_advice(moved: MovedModule) -> str:
    """What the warning of an old module's import says: its new module, and where each name
    that went elsewhere is now (a user who imported one of those from the new module got an
    ImportError)."""
    advice = f"import {moved.new} instead"
    if not moved.names:
        return advice
    elsewhere = []
    for name, target in moved.names.items():
        module, attribute = split_target(target, name)
        elsewhere.append(f"{name}: {moved.hints.get(name) or f'from {module} import {attribute}'}")
    return f"{advice}, except {'; '.join(elsewhere)}"


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds old module paths and loads each as a module holding the new module's names."""

    def __init__(self) -> None:
        self.moved: dict[str, MovedModule] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.moved:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None  # the default: a fresh, empty module

    def exec_module(self, module: ModuleType) -> None:
        moved = self.moved[module.__name__]
        warn_moved(module.__name__, moved.new, _module_advice(moved))
        new = importlib.import_module(moved.new)
        public = {k: v for k, v in vars(new).items() if not k.startswith("_")}
        for name, target in moved.names.items():
            public[name] = resolve_target(target, name)
        module.__dict__.update(public)
        module.__doc__ = f"Deprecated alias of :mod:`{moved.new}` (removed in rengo {REMOVED_IN})."
        module.__all__ = sorted(  # type: ignore[attr-defined]
            getattr(new, "__all__", [k for k in public if not isinstance(public[k], ModuleType)])
        )


_FINDER = _MovedModuleFinder()


def alias_moved_modules(modules: Mapping[str, str | MovedModule]) -> None:
    """Keep old module paths importable, each as an alias of the module it moved to.

    Parameters
    ----------
    modules:
        Old dotted module path -> new module path, or a :class:`MovedModule` when some of
        its names went elsewhere. Importing the old path warns once (per import) with
        :class:`DeprecationWarning` and gives a module holding the new module's public names.
    """
    for old, new in modules.items():
        moved = new if isinstance(new, MovedModule) else MovedModule(new)
        _FINDER.moved[old] = moved
        _REDIRECTS[old] = moved.new
        for name, target in moved.names.items():
            module, attribute = split_target(target, name)
            _REDIRECTS[f"{old}.{name}"] = moved.hints.get(name) or f"{module}.{attribute}"
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def deprecated_paths() -> dict[str, str]:
    """Every deprecated path registered so far (old -> new), sorted by old path.

    Returns
    -------
    dict[str, str]
        Only the packages imported so far have registered theirs.
    """
    return dict(sorted(_REDIRECTS.items()))

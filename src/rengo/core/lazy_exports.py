"""Package exports imported on first use (PEP 562), so that ``import rengo.<area>`` and the
``rengo`` command load only the modules a caller actually touches.

A package lists its exports once, as ordinary imports inside ``if TYPE_CHECKING:`` (which
type checkers and editors read), keeps its ``__all__``, and ends with::

    __getattr__, __dir__ = lazy_exports(__name__)

On the first access of a name that is not yet in the package, the block is read from the
package's source (with :mod:`ast`), and the name's module imported; the value is then kept
in the package, so later accesses cost nothing. A name the block does not hold resolves to
the package's submodule of that name, as it did when the package imported its submodules
eagerly, else goes to ``fallback`` (e.g. a :func:`rengo.core.deprecation.moved_names`
table), else raises :class:`AttributeError`.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from importlib.util import find_spec
from types import ModuleType
from typing import Any


def split_target(target: str, name: str) -> tuple[str, str]:
    """``"module:attribute"`` -> ``(module, attribute)``; ``"module"`` -> ``(module, name)``."""
    module, _, attribute = target.partition(":")
    return module, attribute or name


def resolve_target(target: str, name: str) -> Any:
    """The object ``target`` names (see :func:`split_target`), its module imported first; a
    target with an empty attribute after its colon (``"module:"``) is the module itself."""
    module, _, attribute = target.partition(":")
    imported = importlib.import_module(module)
    if target.endswith(":"):
        return imported
    return getattr(imported, attribute or name)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def type_checking_imports(source: str) -> dict[str, str]:
    """Name -> ``"module:attribute"`` (or ``"module:"`` for a module imported ``as`` a name)
    for every absolute import in the top-level ``if TYPE_CHECKING:`` blocks of ``source``.

    Parameters
    ----------
    source:
        A module's Python source.

    Returns
    -------
    dict[str, str]
        The names those blocks bind, in their order.

    Raises
    ------
    ValueError
        If such a block holds a relative import (the table could not name its module).
    """
    table: dict[str, str] = {}
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.If) and _is_type_checking(node.test)):
            continue
        for statement in node.body:
            if isinstance(statement, ast.ImportFrom):
                if statement.level or statement.module is None:
                    line = statement.lineno
                    raise ValueError(f"relative import on line {line}: make it absolute")
                for alias in statement.names:
                    table[alias.asname or alias.name] = f"{statement.module}:{alias.name}"
            elif isinstance(statement, ast.Import):
                for alias in statement.names:
                    if alias.asname:
                        table[alias.asname] = f"{alias.name}:"
    return table


def _source(module: ModuleType) -> str:
    """The source of ``module`` as its loader gives it: from a file, or from inside a zip
    archive (a zipapp, an egg) where ``__file__`` is no path on disk.

    Raises
    ------
    ImportError
        If the loader holds no source (an install of compiled files only): the exports are
        read from it.
    """
    loader = getattr(module.__spec__, "loader", None)
    get_source = getattr(loader, "get_source", None)
    source = get_source(module.__name__) if get_source is not None else None
    if source is None:
        raise ImportError(
            f"{module.__name__} lists its exports in its source, which this installation "
            f"does not hold ({module.__file__}); install rengo with its .py files"
        )
    return str(source)


def lazy_exports(
    package: str, *, fallback: Callable[[str], Any] | None = None
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of a package whose exports are imported on first use.

    Parameters
    ----------
    package:
        The package's name (pass ``__name__``); it must be the module being executed, with
        its exports imported in ``if TYPE_CHECKING:`` blocks of its own source.
    fallback:
        Another ``__getattr__`` for names neither the blocks nor a submodule hold (e.g. a
        :func:`rengo.core.deprecation.moved_names` table of deprecated names).

    Returns
    -------
    tuple[Callable[[str], Any], Callable[[], list[str]]]
        Assign them to the package's ``__getattr__`` and ``__dir__``. ``__dir__`` lists the
        package's own names and every lazy export, as before.
    """
    module = sys.modules[package]
    table: dict[str, str] = {}

    def exports() -> dict[str, str]:
        if not table:
            table.update(type_checking_imports(_source(module)))
        return table

    def __getattr__(name: str) -> Any:
        target = exports().get(name)
        if target is not None:
            value = resolve_target(target, name)
            setattr(module, name, value)
            return value
        submodule = f"{package}.{name}"
        if not name.startswith("__") and hasattr(module, "__path__") and find_spec(submodule):
            return importlib.import_module(submodule)
        if fallback is not None:
            return fallback(name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(exports()))

    return __getattr__, __dir__

"""The strategy registry: name -> class, with options read from the class's dataclass fields.

A strategy joins job files and the CLI by being decorated with :func:`register_strategy` in
its own module; nothing else lists it. Its ``[strategy]`` options are its own init fields
(those :class:`~rengo.hfl.strategy.base.Strategy` does not declare), typed by their
annotations, with the class's defaults.
"""

from __future__ import annotations

import difflib
import inspect
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any, TypeVar, overload

from rengo.core.app_loader import load_app
from rengo.core.errors import ConfigError
from rengo.hfl.strategy.base import Strategy

OPTION_TYPES: tuple[type, ...] = (bool, int, float, str)
"""Field types a job file can set (optionally ``| None``)."""

StrategyT = TypeVar("StrategyT", bound=type[Strategy])


@dataclass(frozen=True)
class StrategyOption:
    """One job-file option of a strategy, derived from a dataclass field.

    Attributes
    ----------
    name
        The field (and ``[strategy]`` key) name.
    type
        ``bool``, ``int``, ``float`` or ``str``.
    default
        The class's default (``MISSING`` when the field has none).
    optional
        Whether ``None`` is allowed.
    """

    name: str
    type: type
    default: Any
    optional: bool = False


@dataclass(frozen=True)
class RegisteredStrategy:
    """A registered strategy: its job-file name, class, options and one-line summary."""

    name: str
    cls: type[Strategy]

    @property
    def options(self) -> dict[str, StrategyOption]:
        """The strategy's own options (fields beyond the base Strategy's)."""
        return strategy_options(self.cls, own_only=True)

    @property
    def summary(self) -> str:
        """The first paragraph of the class docstring, on one line."""
        doc = (inspect.getdoc(self.cls) or "").strip()
        return " ".join(doc.split("\n\n")[0].split())


_REGISTRY: dict[str, type[Strategy]] = {}


@overload
def register_strategy(cls: StrategyT, /) -> StrategyT: ...


@overload
def register_strategy(*, name: str | None = None) -> Callable[[StrategyT], StrategyT]: ...


def register_strategy(
    cls: StrategyT | None = None, /, *, name: str | None = None
) -> StrategyT | Callable[[StrategyT], StrategyT]:
    """Class decorator: make a Strategy dataclass available in job files and the CLI.

    Parameters
    ----------
    cls
        The strategy class (when used as ``@register_strategy``).
    name
        Its job-file name; the class name in lower case by default.

    Returns
    -------
    type
        The class, unchanged.

    Raises
    ------
    ValueError
        If the name is taken by another class or the class is not a Strategy.
    """

    def add(klass: StrategyT) -> StrategyT:
        if not (isinstance(klass, type) and issubclass(klass, Strategy)):
            raise ValueError(f"{klass!r} is not a Strategy subclass")
        key = (name or klass.__name__).lower()
        existing = _REGISTRY.get(key)
        if existing is not None and _qualified(existing) != _qualified(klass):
            raise ValueError(f"strategy name {key!r} is already registered to {existing}")
        _REGISTRY[key] = klass
        return klass

    return add(cls) if cls is not None else add


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def strategy_registry() -> dict[str, RegisteredStrategy]:
    """Every registered strategy by job-file name, in registration order.

    Returns
    -------
    dict[str, RegisteredStrategy]
        Lower-case job-file name -> the strategy class and its options.
    """
    return {key: RegisteredStrategy(key, cls) for key, cls in _REGISTRY.items()}


def get_strategy(name: str) -> RegisteredStrategy:
    """The registered strategy called ``name`` (case-insensitive).

    Parameters
    ----------
    name
        A job-file strategy name (``"fedavg"``, ``"FedAdam"`` ...).

    Returns
    -------
    RegisteredStrategy
        The strategy class and its options.

    Raises
    ------
    ConfigError
        Naming the closest registered name, or listing them all.
    """
    key = name.lower()
    cls = _REGISTRY.get(key)
    if cls is None:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(f"unknown strategy {name!r}; {hint}choose one of {', '.join(_REGISTRY)}")
    return RegisteredStrategy(key, cls)


def strategy_from_app(app: str, folder: str | os.PathLike[str] | None = ".") -> RegisteredStrategy:
    """The user's own strategy class named ``"module:Class"`` (a job's ``[strategy] app``),
    registered under its name as :func:`register_strategy` would, if its module did not.

    Parameters
    ----------
    app
        ``module:Class``; the module is imported from ``folder`` (the job file's) or the
        working folder.
    folder
        Put on ``sys.path`` first (None: only what is importable already).

    Returns
    -------
    RegisteredStrategy
        Its registered name, class and options, as a built-in's.

    Raises
    ------
    ConfigError
        If the module cannot be imported or lacks the class (as
        :func:`rengo.core.app_loader.load_app` says), the class is not a Strategy dataclass,
        or its name is taken by another class.
    """
    cls = load_app(app, folder)
    if not (isinstance(cls, type) and issubclass(cls, Strategy) and is_dataclass(cls)):
        raise ConfigError(
            f"app {app!r} is {cls!r}, not a Strategy class: subclass rengo.hfl.FedAvg (or "
            "another strategy) as a @dataclass and name that class"
        )
    for key, registered in _REGISTRY.items():
        if registered is cls:
            return RegisteredStrategy(key, cls)
    try:
        register_strategy(cls)
    except ValueError as exc:
        raise ConfigError(
            f"app {app!r}: {exc}; register it under another name (@register_strategy(name=...))"
        ) from None
    return RegisteredStrategy(cls.__name__.lower(), cls)


def strategy_options(cls: type[Strategy], *, own_only: bool = False) -> dict[str, StrategyOption]:
    """The job-file options of ``cls``: its init fields of a scalar type.

    ``own_only`` leaves out the fields the base :class:`Strategy` declares (sampling
    fractions and minimums), which every strategy shares. Fields of other types (callables,
    arrays) are set in Python only.
    """
    if not is_dataclass(cls):
        raise ConfigError(f"{cls.__name__} is not a dataclass; its options cannot be derived")
    hints = typing.get_type_hints(cls)
    base = {f.name for f in fields(Strategy)} if own_only else set()
    options: dict[str, StrategyOption] = {}
    for f in fields(cls):
        if not f.init or f.name in base:
            continue
        kind = _scalar(hints.get(f.name))
        if kind is None:
            continue
        option_type, optional = kind
        default = f.default if f.default is not MISSING else MISSING
        if f.default_factory is not MISSING:
            default = f.default_factory()
        options[f.name] = StrategyOption(f.name, option_type, default, optional)
    return options


def _scalar(hint: Any) -> tuple[type, bool] | None:
    """``(type, optional)`` when ``hint`` is a job-file scalar, possibly ``| None``."""
    if hint in OPTION_TYPES:
        return hint, False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and args[0] in OPTION_TYPES and len(typing.get_args(hint)) == 2:
            return args[0], True
    return None


def option_values(
    entry: RegisteredStrategy, raw: Mapping[str, Any], where: str = "strategy"
) -> dict[str, Any]:
    """Check and convert job-file values for ``entry``'s own options.

    Integers are accepted for float options; nothing else is converted.

    Raises
    ------
    ConfigError
        For an unknown key (naming the closest option) or a value of the wrong type.
    """
    options = entry.options
    out: dict[str, Any] = {}
    for key, value in raw.items():
        option = options.get(key)
        if option is None:
            valid = sorted(options)
            close = difflib.get_close_matches(key, valid, n=1)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else (f"; {entry.name} takes {', '.join(valid)}" if valid else "")
            )
            raise ConfigError(f"[{where}] unknown key {key!r} for {entry.name}{hint}")
        out[key] = _convert(f"{where}.{key}", value, option)
    return out


def _convert(key: str, value: Any, option: StrategyOption) -> Any:
    if value is None and option.optional:
        return None
    if isinstance(value, bool) and option.type is not bool:
        raise ConfigError(f"{key} must be {option.type.__name__}, got a boolean")
    if option.type is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, option.type):
        raise ConfigError(
            f"{key} must be {option.type.__name__}, got {type(value).__name__} {value!r}"
        )
    return value

"""Options of an algorithm, derived from its config dataclass: one place for every default.

An algorithm's settings are a frozen dataclass whose fields are scalars (``int``, ``float``,
``bool``, ``str`` or a ``Literal`` of choices) with defaults, a ``help`` text in the field's
metadata, and checks in ``__post_init__`` that raise :class:`OptionError`. Everything a user
touches is generated from it: job-file keys, command-line flags, the dict every party
receives on the wire. A bad value is reported in the vocabulary of where it came from
(``job.toml: vfl.epochs must be >= 1, got 0`` or ``--epochs must be >= 1, got 0``).

>>> @dataclass(frozen=True)
... class Settings:
...     epochs: int = field(default=10, metadata={"help": "Training epochs."})
...     def __post_init__(self) -> None:
...         if self.epochs < 1:
...             raise OptionError("epochs", f"must be >= 1, got {self.epochs}")
>>> options_from_mapping(Settings, {"epochs": 3})
Settings(epochs=3)
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args, get_origin

import numpy as np

from rengo.core.errors import ConfigError

T = TypeVar("T")
Scalar = int | float | bool | str
_SCALARS: tuple[type, ...] = (bool, int, float, str)


class OptionError(ConfigError):
    """An option has a value its config refuses; names the option and what is wrong."""

    def __init__(self, option: str, problem: str) -> None:
        super().__init__(f"{option} {problem}")
        self.option = option
        self.problem = problem


@dataclass(frozen=True)
class OptionSpec:
    """One option of a config dataclass: its name, scalar type, default, help and choices."""

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None

    @property
    def flag(self) -> str:
        """The command-line flag, ``--learning-rate`` for ``learning_rate``."""
        return "--" + self.name.replace("_", "-")


def option_specs(config_type: type) -> tuple[OptionSpec, ...]:
    """Every init field of ``config_type`` as an :class:`OptionSpec`.

    Parameters
    ----------
    config_type
        A dataclass whose init fields are scalars or ``Literal`` choices, each with a default.

    Returns
    -------
    tuple of OptionSpec
        In field order.

    Raises
    ------
    TypeError
        If ``config_type`` is not a dataclass, or a field has no default or is not a scalar.
    """
    if not dataclasses.is_dataclass(config_type):
        raise TypeError(f"{config_type!r} is not a dataclass")
    hints = typing.get_type_hints(config_type)
    specs = []
    for item in dataclasses.fields(config_type):
        if not item.init:
            continue
        if item.default is dataclasses.MISSING:
            raise TypeError(f"option {item.name} of {config_type.__name__} needs a default")
        hint = hints[item.name]
        choices: tuple[Any, ...] | None = None
        if get_origin(hint) is Literal:
            choices = get_args(hint)
            kind: type = type(choices[0])
        elif hint in _SCALARS:
            kind = hint
        else:
            raise TypeError(
                f"option {item.name} of {config_type.__name__} has type {hint!r}; options "
                "must be int, float, bool, str or a Literal of choices"
            )
        specs.append(
            OptionSpec(item.name, kind, item.default, str(item.metadata.get("help", "")), choices)
        )
    return tuple(specs)


def _coerce(spec: OptionSpec, value: Any) -> Any:
    """``value`` as the option's type (an int is a valid float, numpy scalars count as
    Python ones), else :class:`OptionError`."""
    if isinstance(value, np.generic):
        value = value.item()
    if spec.type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, bool) and spec.type is not bool:
        raise OptionError(spec.name, f"must be {spec.type.__name__}, got a boolean")
    if not isinstance(value, spec.type):
        raise OptionError(
            spec.name, f"must be {spec.type.__name__}, got {type(value).__name__} {value!r}"
        )
    if spec.choices is not None and value not in spec.choices:
        shown = ", ".join(repr(c) for c in spec.choices)
        raise OptionError(spec.name, f"= {value!r}; choose one of {shown}")
    return value


def unknown_key_error(
    key: str, known: typing.Iterable[str], where: str = "", what: str = "key"
) -> ConfigError:
    """The error for an unknown key: the closest known one, or the list of valid keys."""
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid: {', '.join(names)}"
    return ConfigError(f"{where}unknown {what} {key!r}{hint}")


def options_from_mapping(
    config_type: type[T],
    raw: Mapping[str, Any],
    *,
    label: Callable[[str], str] = str,
    where: str = "",
    aliases: Mapping[str, str] | None = None,
) -> T:
    """Build and validate ``config_type`` from ``raw`` (job-file keys, flags, a wire dict).

    Parameters
    ----------
    config_type
        The algorithm's config dataclass.
    raw
        Option names to values; absent options keep the dataclass default.
    label
        How an option is named in errors (``lambda n: f"vfl.{n}"`` for a job file).
    where
        Prefix of every error (``"job.toml: "``).
    aliases
        Deprecated option names and the option each now means; using one warns with a
        ``FutureWarning`` (which Python shows end users by default).

    Returns
    -------
    config_type
        The validated config.

    Raises
    ------
    ConfigError
        For an unknown key (with the closest known one), a value of the wrong type or
        outside its choices, or a value the config's own checks refuse; the message names
        the option as the user wrote it.
    """
    specs = {spec.name: spec for spec in option_specs(config_type)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = key
        if aliases and key in aliases:
            name = aliases[key]
            warnings.warn(  # FutureWarning: shown to users of job files and flags
                f"option {label(key)} is deprecated; use {label(name)}",
                FutureWarning,
                stacklevel=3,
            )
        if name not in specs:
            raise unknown_key_error(key, specs, where)
        try:
            values[name] = _coerce(specs[name], value)
        except OptionError as exc:
            raise ConfigError(f"{where}{label(key)} {exc.problem}") from None
    try:
        return config_type(**values)
    except OptionError as exc:
        raise ConfigError(f"{where}{label(exc.option)} {exc.problem}") from None


def options_to_wire(config: Any) -> dict[str, Scalar]:
    """Every option of a config dataclass instance as a codec-friendly dict."""
    return {spec.name: getattr(config, spec.name) for spec in option_specs(type(config))}


def options_from_wire(config_type: type[T], tree: Any, what: str = "config") -> T:
    """Rebuild and validate a config another party sent (see :func:`options_to_wire`).

    Raises
    ------
    ConfigError
        If ``tree`` is not a mapping, names an unknown option or holds a bad value.
    """
    if not isinstance(tree, Mapping):
        raise ConfigError(f"{what} must be a mapping, got {type(tree).__name__}")
    return options_from_mapping(config_type, tree, where=f"{what}: ")


def option(default: Any, help: str) -> Any:
    """A dataclass field with a default and its help text (shown by ``--help``)."""
    return field(default=default, metadata={"help": help})

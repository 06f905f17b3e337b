"""Options of an algorithm, derived from its config dataclass: one place for every default.

An algorithm's settings are a frozen dataclass whose fields are scalars (``int``, ``float``,
``bool``, ``str`` or a ``Literal`` of choices) with defaults, a ``help`` text in the field's
metadata, and checks in ``__post_init__`` that raise :class:`OptionError` (it calls
:func:`check_options` first, which checks each value's type, choices and declared range).
Everything a user touches is generated from it: job-file keys, command-line flags, the dict
every party receives on the wire. A bad value is reported in the vocabulary of where it came
from (``job.toml: vfl.epochs must be >= 1, got 0`` or ``--epochs must be >= 1, got 0``).

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

import builtins
import copy
import dataclasses
import difflib
import math
import types
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
class Bounds:
    """The range a numeric option (or each item of a list option) must lie in.

    ``ge``/``gt`` are inclusive/exclusive lower bounds, ``le``/``lt`` upper ones; None: no
    bound on that side.
    """

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None: ``"must be >= 1, got 0"`` for a one-sided
        range, ``"must be in (0, 1), got 1.5"`` for a two-sided one."""
        inside = (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )
        if inside:
            return None
        return f"must be {self.describe()}, got {_number(value)}"

    def describe(self) -> str:
        """The range in words: ``">= 1"``, ``"in (0, 1]"`` (empty when unbounded)."""
        low = self.ge if self.ge is not None else self.gt
        high = self.le if self.le is not None else self.lt
        if low is not None and high is not None:
            left = "[" if self.ge is not None else "("
            right = "]" if self.le is not None else ")"
            return f"in {left}{_number(low)}, {_number(high)}{right}"
        for bound, sign in ((self.ge, ">="), (self.gt, ">"), (self.le, "<="), (self.lt, "<")):
            if bound is not None:
                return f"{sign} {_number(bound)}"
        return ""


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class OptionSpec:
    """One option of a config dataclass: its name, type, default, help and valid values.

    ``type`` is ``int``, ``float``, ``bool``, ``str``, ``list`` or ``dict``; a ``list``
    option holds items of ``item_type`` and a ``dict`` option maps strings to ``item_type``.
    ``bounds`` apply to a number, or to every item of a list or dict of numbers; floats are
    always finite. ``optional`` options also take None (absent in a job file). ``convert``,
    when given, turns what a user wrote into the option's value first (a ``str`` option
    that also takes a table, such as ``class_weight = {0 = 1, 1 = 25}``); its
    ``ValueError`` is reported as the option's problem.
    """

    name: str
    type: type
    default: Any
    help: str = ""
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    item_type: builtins.type | None = None
    bounds: Bounds = field(default_factory=Bounds)
    convert: Callable[[Any], Any] | None = None

    @property
    def flag(self) -> str:
        """The command-line flag, ``--learning-rate`` for ``learning_rate``."""
        return "--" + self.name.replace("_", "-")

    @property
    def type_name(self) -> str:
        """The type in words: ``int``, ``list of int``."""
        name = self.type.__name__
        if self.item_type is not None:
            name = f"{name} of {self.item_type.__name__}"
        return name


def _scalar_hint(hint: Any) -> tuple[type, tuple[Any, ...] | None] | None:
    """``(type, choices)`` of a scalar or ``Literal`` annotation, else None."""
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        return type(choices[0]), choices
    if hint in _SCALARS:
        return hint, None
    return None


def _describe_hint(
    hint: Any,
) -> tuple[type, tuple[Any, ...] | None, bool, type | None] | None:
    """``(type, choices, optional, item_type)`` of an option annotation, else None."""
    optional = False
    if get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if len(args) != 1 or len(get_args(hint)) != 2:
            return None
        hint, optional = args[0], True
    scalar = _scalar_hint(hint)
    if scalar is not None:
        return scalar[0], scalar[1], optional, None
    origin, parts = get_origin(hint), get_args(hint)
    if origin is list and len(parts) == 1 and parts[0] in _SCALARS:
        return list, None, optional, parts[0]
    if origin is dict and len(parts) == 2 and parts[0] is str and parts[1] in _SCALARS:
        return dict, None, optional, parts[1]
    return None


def option_specs(config_type: type) -> tuple[OptionSpec, ...]:
    """Every init field of ``config_type`` as an :class:`OptionSpec`.

    Parameters
    ----------
    config_type
        A dataclass whose init fields are scalars, ``Literal`` choices, lists of scalars or
        string-keyed dicts of scalars, each possibly ``| None``, each with a default (or
        default factory); ranges come from :func:`option`'s ``ge``/``gt``/``le``/``lt``.
        A field made by :func:`passed_on` (keys another schema checks) is left out.

    Returns
    -------
    tuple of OptionSpec
        In field order.

    Raises
    ------
    TypeError
        If ``config_type`` is not a dataclass, or a field has no default or another type.
    """
    if not dataclasses.is_dataclass(config_type):
        raise TypeError(f"{config_type!r} is not a dataclass")
    hints = typing.get_type_hints(config_type)
    specs = []
    for item in dataclasses.fields(config_type):
        if not item.init or item.metadata.get("option") is False:
            continue
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            raise TypeError(f"option {item.name} of {config_type.__name__} needs a default")
        described = _describe_hint(hints[item.name])
        if described is None:
            raise TypeError(
                f"option {item.name} of {config_type.__name__} has type "
                f"{hints[item.name]!r}; options must be int, float, bool, str, a Literal of "
                "choices, a list or str-keyed dict of those, or one of them | None"
            )
        kind, choices, optional, item_type = described
        specs.append(
            OptionSpec(
                item.name,
                kind,
                default,
                str(item.metadata.get("help", "")),
                choices,
                optional,
                item_type,
                item.metadata.get("bounds", Bounds()),
                item.metadata.get("convert"),
            )
        )
    return tuple(specs)


def scalar_option_specs(config_type: type) -> tuple[OptionSpec, ...]:
    """:func:`option_specs` of a config whose options must all be plain scalars or
    ``Literal`` choices (they become command-line flags and a wire dict).

    Raises
    ------
    TypeError
        Naming the first option that is a list, a dict or optional.
    """
    specs = option_specs(config_type)
    for spec in specs:
        if spec.optional or spec.item_type is not None:
            raise TypeError(
                f"option {spec.name} of {config_type.__name__} is a {spec.type_name}; "
                "these options must be int, float, bool, str or a Literal of choices"
            )
    return specs


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _scalar(spec: OptionSpec, kind: type, value: Any) -> Any:
    """``value`` as a scalar of type ``kind`` within ``spec``'s choices and bounds, else
    :class:`OptionError`."""
    if isinstance(value, np.generic):
        value = value.item()
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    elif isinstance(value, bool) and kind is not bool:
        raise OptionError(spec.name, f"must be {kind.__name__}, got a boolean")
    if not isinstance(value, kind):
        raise OptionError(
            spec.name, f"must be {kind.__name__}, got {type(value).__name__} {_shown(value)}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise OptionError(spec.name, f"must be a finite number, got {value}")
    if spec.choices is not None and value not in spec.choices:
        shown = ", ".join(repr(c) for c in spec.choices)
        raise OptionError(spec.name, f"= {value!r}; choose one of {shown}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        problem = spec.bounds.problem(value)
        if problem is not None:
            raise OptionError(spec.name, problem)
    return value


def _coerce(spec: OptionSpec, value: Any) -> Any:
    """``value`` as the option's type (an int is a valid float, numpy scalars count as
    Python ones), within its choices and bounds, else :class:`OptionError`."""
    if spec.convert is not None:
        try:
            value = spec.convert(value)
        except ValueError as exc:
            raise OptionError(spec.name, f"= {_shown(value)}: {exc}") from None
    if value is None:
        if spec.optional:
            return None
        raise OptionError(spec.name, f"must be {spec.type_name}, got nothing")
    if spec.type is list:
        if not isinstance(value, (list, tuple)):
            raise OptionError(
                spec.name, f"must be {spec.type_name}, got {type(value).__name__} {_shown(value)}"
            )
        assert spec.item_type is not None
        out = []
        for index, item in enumerate(value):
            try:
                out.append(_scalar(spec, spec.item_type, item))
            except OptionError as exc:
                raise OptionError(spec.name, f"item {index} {exc.problem}") from None
        return out
    if spec.type is dict:
        if not isinstance(value, Mapping):
            raise OptionError(
                spec.name, f"must be {spec.type_name}, got {type(value).__name__} {_shown(value)}"
            )
        assert spec.item_type is not None
        mapped = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise OptionError(spec.name, f"keys must be strings, got {key!r}")
            try:
                mapped[key] = _scalar(spec, spec.item_type, item)
            except OptionError as exc:
                raise OptionError(spec.name, f"entry {key!r} {exc.problem}") from None
        return mapped
    return _scalar(spec, spec.type, value)


_CHECKED_SPECS: dict[type, tuple[OptionSpec, ...]] = {}
""":func:`option_specs` of each config type :func:`check_options` has seen, worked out once
per type (a config is built for every message that carries one; only the names, types,
choices and bounds are read)."""


def check_options(config: Any) -> None:
    """Hold a config built in Python to what a job file or a flag is held to.

    A config's ``__post_init__`` calls this first: every option's value must be of its type
    (an int is a valid float, numpy scalars count as Python ones, floats are finite), among
    its ``Literal`` choices and within the bounds :func:`option` declared. Without it,
    ``SecureBoostConfig(objective="binary:bce")`` ran as a regression and
    ``CentralDP(clip_at="clients")`` clipped at the coordinator: the fields' branches compare
    against the choices and take the last one for anything else. An option with a
    ``convert`` (see :func:`option`) is set to its converted value.

    Raises
    ------
    OptionError
        Naming the first option whose value is refused and why.
    """
    kind = type(config)
    specs = _CHECKED_SPECS.get(kind)
    if specs is None:
        specs = _CHECKED_SPECS[kind] = option_specs(kind)
    for spec in specs:
        value = _coerce(spec, getattr(config, spec.name))
        if spec.convert is not None:  # frozen configs too: the value is the option's own
            object.__setattr__(config, spec.name, value)


def names_elsewhere(config_type: type) -> Mapping[str, str]:
    """What other libraries call the settings of ``config_type``: ``{their name: advice}``.

    A config dataclass lists them in its ``names_elsewhere`` class variable (FATE's
    ``max_iter`` -> ``"FATE's max_iter is 'epochs' here ..."``), so that a setting carried
    over from another library is refused naming its counterpart and any difference in
    meaning, rather than the closest name by spelling. They are never accepted: a name
    whose meaning differs (FATE's ``min_impurity_split`` is twice SecureBoost's ``gamma``)
    must not pass silently.
    """
    found = getattr(config_type, "names_elsewhere", None)
    return found if isinstance(found, Mapping) else {}


def unknown_key_error(
    key: str,
    known: typing.Iterable[str],
    where: str = "",
    what: str = "key",
    elsewhere: Mapping[str, str] | None = None,
) -> ConfigError:
    """The error for an unknown key: the advice for a name another library uses
    (``elsewhere``, see :func:`names_elsewhere`), else the closest known one, or the list
    of valid keys."""
    names = sorted(known)
    close = difflib.get_close_matches(key, names, n=1)
    if elsewhere and key in elsewhere:
        hint = f"; {elsewhere[key]}"
    elif close:
        hint = f"; did you mean {close[0]!r}?"
    else:
        hint = f"; valid: {', '.join(names)}"
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
            raise unknown_key_error(key, specs, where, elsewhere=names_elsewhere(config_type))
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


def option(
    default: Any,
    help: str,
    *,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    convert: Callable[[Any], Any] | None = None,
) -> Any:
    """A dataclass field with a default, its help text (shown by ``--help``) and its range.

    ``ge``/``gt``/``le``/``lt`` bound a number (or every number of a list or dict option);
    a list or dict default is copied for every instance. ``convert`` turns what a user
    wrote into the option's value before it is checked (raising ``ValueError`` with the
    problem), e.g. :func:`rengo.data.class_weights.class_weight_text`.
    """
    metadata: dict[str, Any] = {"help": help, "bounds": Bounds(ge, gt, le, lt)}
    if convert is not None:
        metadata["convert"] = convert
    if isinstance(default, (list, dict)):
        template = default
        return field(default_factory=lambda: copy.deepcopy(template), metadata=metadata)
    return field(default=default, metadata=metadata)


def passed_on(help: str) -> Any:
    """A dict field for keys that a section passes on to another schema (a partition
    scheme's or a strategy's options); :func:`option_specs` leaves it out."""
    return field(default_factory=dict, metadata={"help": help, "option": False})

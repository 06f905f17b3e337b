"""Command-line flags generated from the vertical algorithms' config dataclasses.

Every option of every registered algorithm becomes a flag (``learning_rate`` ->
``--learning-rate``), with the dataclass field's help, grouped in ``--help`` under the
algorithm's title, defaulting to "not given" so that the config's own default applies: the
defaults live in the dataclass and nowhere else. Deprecated option names become hidden flags,
and so do other libraries' names for an option (FATE's ``--max-iter``), which are refused
naming the counterpart.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

from rengo.core.errors import ConfigError
from rengo.core.options import OptionSpec, names_elsewhere, option_specs
from rengo.vfl.registry import VerticalAlgorithm, algorithms

F = TypeVar("F", bound=Callable[..., Any])
OPTIONS_PARAMETER = "options"


def flag(name: str) -> str:
    """The flag of option ``name``: ``learning_rate`` -> ``--learning-rate``."""
    return "--" + name.replace("_", "-")


SHARED_PANEL = "Options of several algorithms"


def _flags() -> dict[str, tuple[OptionSpec, str, bool, str]]:
    """Option name -> (its spec, the help panel, hidden, help text) over every algorithm; an
    option two algorithms share must have one type, and its help gives each algorithm's
    choices and default (they differ: hetero LR's optimizer is not transfer learning's)."""
    owners: dict[str, list[tuple[str, OptionSpec, str, bool]]] = {}
    for algorithm in algorithms().values():
        panel = f"{algorithm.title} ({algorithm.name}) options"
        specs = {o.name: o for o in option_specs(algorithm.config_type)}
        entries = [(o, False) for o in specs.values()]
        entries += [
            (OptionSpec(alias, specs[target].type, None, f"Deprecated: use {flag(target)}."), True)
            for alias, target in algorithm.option_aliases.items()
        ]
        for spec, hidden in entries:
            held = owners.setdefault(spec.name, [])
            if held and held[0][1].type is not spec.type:
                raise TypeError(
                    f"option {spec.name} is {held[0][1].type.__name__} in one algorithm and "
                    f"{spec.type.__name__} in {algorithm.name}; give them one type"
                )
            held.append((algorithm.name, spec, panel, hidden))
    found: dict[str, tuple[OptionSpec, str, bool, str]] = {}
    for name, held in owners.items():
        _, spec, panel, hidden = held[0]
        if len(held) == 1:
            found[name] = (spec, panel, hidden, _help(spec))
            continue
        text = _shared_help([(owner, each) for owner, each, _, _ in held])
        found[name] = (spec, SHARED_PANEL, all(h for *_, h in held), text)
    for algorithm in algorithms().values():
        for name in names_elsewhere(algorithm.config_type):
            if name not in found:  # hidden: given, it is refused with its counterpart
                spec = OptionSpec(name, str, None, "Another library's name for an option.")
                found[name] = (spec, SHARED_PANEL, True, spec.help)
    return found


def _shared_help(held: list[tuple[str, OptionSpec]]) -> str:
    """A shared flag's help: each wording once, with the algorithms whose it is and their
    choices and default (``--n-iter-no-change`` counts SecureBoost's rounds, not epochs;
    ``--tol`` means something else to hetero LR than to transfer learning)."""
    by_words: dict[str, list[tuple[str, OptionSpec]]] = {}
    for owner, each in held:
        by_words.setdefault(each.help, []).append((owner, each))
    if len(by_words) == 1:
        return f"{held[0][1].help} ({_group_values(held, name_all=True)})"
    return " | ".join(
        ", ".join(owner for owner, _ in members) + f": {words} ({_group_values(members)})"
        for words, members in by_words.items()
    )


def _group_values(members: list[tuple[str, OptionSpec]], name_all: bool = False) -> str:
    """The choices and default of algorithms that word a flag alike: once if they agree
    (after their names, with ``name_all``), else each algorithm's."""
    values = [(owner, _values(each)) for owner, each in members]
    if len({v for _, v in values}) > 1:
        return "; ".join(f"{owner}: {v}" for owner, v in values)
    agreed = values[0][1]
    return f"{', '.join(owner for owner, _ in values)}: {agreed}" if name_all else agreed


def _values(spec: OptionSpec) -> str:
    """An option's choices and default in one algorithm, for a shared flag's help."""
    parts = []
    if spec.choices is not None:
        parts.append(f"one of {', '.join(map(str, spec.choices))}")
    if spec.default is not None:
        parts.append(f"default {spec.default}")
    return ", ".join(parts) or "no default"


def _help(spec: OptionSpec) -> str:
    values = _values(spec)
    return spec.help if values == "no default" else f"{spec.help} ({values})"


def with_algorithm_options(command: F) -> F:
    """Add a flag per algorithm option to ``command``; the given ones reach it as
    ``options`` (a dict of option name to value), the others stay unset."""
    flags = _flags()
    base = inspect.signature(command, eval_str=True)
    if OPTIONS_PARAMETER not in base.parameters:
        raise TypeError(f"{command.__name__} needs an {OPTIONS_PARAMETER!r} parameter")
    parameters = [p for name, p in base.parameters.items() if name != OPTIONS_PARAMETER]
    annotations = {p.name: p.annotation for p in parameters}
    for name, (spec, panel, hidden, text) in flags.items():
        declared = f"{flag(name)}/--no-{flag(name)[2:]}" if spec.type is bool else flag(name)
        option = typer.Option(
            declared, help=text, rich_help_panel=panel, hidden=hidden, show_default=False
        )
        annotation: Any = Annotated[Optional[spec.type], option]  # noqa: UP045
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters.append(inspect.Parameter(name, keyword, default=None, annotation=annotation))
        annotations[name] = annotation

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        options = {name: kwargs.pop(name) for name in flags if kwargs.get(name) is not None}
        for name in flags:
            kwargs.pop(name, None)
        return command(**kwargs, **{OPTIONS_PARAMETER: options})

    wrapper.__signature__ = base.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = annotations
    return wrapper  # type: ignore[return-value]


def options_for(algorithm: VerticalAlgorithm[Any], options: dict[str, Any]) -> dict[str, Any]:
    """The given flags that belong to ``algorithm``; a flag of another algorithm is an error."""
    own = {o.name for o in option_specs(algorithm.config_type)} | set(algorithm.option_aliases)
    own |= set(names_elsewhere(algorithm.config_type))  # refused with their counterpart
    foreign = sorted(flag(name) for name in options if name not in own)
    if foreign:
        verb = "is not an option" if len(foreign) == 1 else "are not options"
        raise ConfigError(f"{', '.join(foreign)} {verb} of {algorithm.name}")
    return options

"""Command-line flags generated from the vertical algorithms' config dataclasses.

Every option of every registered algorithm becomes a flag (``learning_rate`` ->
``--learning-rate``), with the dataclass field's help, grouped in ``--help`` under the
algorithm's title, defaulting to "not given" so that the config's own default applies: the
defaults live in the dataclass and nowhere else. Deprecated option names become hidden flags.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional, TypeVar

import typer

from rengo.core.errors import ConfigError
from rengo.core.options import OptionSpec, option_specs
from rengo.vfl.registry import VerticalAlgorithm, algorithms

F = TypeVar("F", bound=Callable[..., Any])
OPTIONS_PARAMETER = "options"


def flag(name: str) -> str:
    """The flag of option ``name``: ``learning_rate`` -> ``--learning-rate``."""
    return "--" + name.replace("_", "-")


def _flags() -> dict[str, tuple[OptionSpec, str, bool]]:
    """Option name -> (its spec, the help panel, hidden) over every algorithm; an option two
    algorithms share must have one type."""
    found: dict[str, tuple[OptionSpec, str, bool]] = {}
    for algorithm in algorithms().values():
        panel = f"{algorithm.title} ({algorithm.name}) options"
        specs = {o.name: o for o in option_specs(algorithm.config_type)}
        entries = [(o, False) for o in specs.values()]
        entries += [
            (OptionSpec(alias, specs[target].type, None, f"Deprecated: use {flag(target)}."), True)
            for alias, target in algorithm.option_aliases.items()
        ]
        for spec, hidden in entries:
            held = found.get(spec.name)
            if held is not None and held[0].type is not spec.type:
                raise TypeError(
                    f"option {spec.name} is {held[0].type.__name__} in one algorithm and "
                    f"{spec.type.__name__} in {algorithm.name}; give them one type"
                )
            if held is None:
                found[spec.name] = (spec, panel, hidden)
    return found


def _help(spec: OptionSpec) -> str:
    text = spec.help
    if spec.choices is not None:
        text += f" One of: {', '.join(map(str, spec.choices))}."
    if spec.default is not None:
        text += f" (default {spec.default})"
    return text


def with_algorithm_options(command: F) -> F:
    """Add a flag per algorithm option to ``command``; the given ones reach it as
    ``options`` (a dict of option name to value), the others stay unset."""
    flags = _flags()
    base = inspect.signature(command, eval_str=True)
    if OPTIONS_PARAMETER not in base.parameters:
        raise TypeError(f"{command.__name__} needs an {OPTIONS_PARAMETER!r} parameter")
    parameters = [p for name, p in base.parameters.items() if name != OPTIONS_PARAMETER]
    annotations = {p.name: p.annotation for p in parameters}
    for name, (spec, panel, hidden) in flags.items():
        declared = f"{flag(name)}/--no-{flag(name)[2:]}" if spec.type is bool else flag(name)
        option = typer.Option(
            declared, help=_help(spec), rich_help_panel=panel, hidden=hidden, show_default=False
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
    foreign = sorted(flag(name) for name in options if name not in own)
    if foreign:
        raise ConfigError(f"{', '.join(foreign)} are not options of {algorithm.name}")
    return options

"""Pinned signatures of the public API, and what a later signature must keep of them.

``tests/public_signatures.txt`` holds one line per exported function, class (its
constructor) and public method, as ``area:Name.method(parameters)`` with annotations left out
and defaults other than plain literals shown as ``Ellipsis``. A current signature must still
take every call its pinned one took: the same positional parameters in the same places, every
keyword, no new required parameter and the same literal defaults (a changed default changes
results silently). Adding parameters or names needs no new pin; removing or renaming one goes
through a deprecation path first (the old spelling warns, see ``rengo.core.deprecation``), and
the pins are rewritten (``python tests/test_public_api.py --write-signatures``) only when a
release drops what was deprecated.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PINS = Path(__file__).resolve().parent / "public_signatures.txt"

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class Pinned:
    """One parameter of a pinned signature: its kind, and its default's ``repr`` when that is
    a plain literal (``"..."`` for any other default, None for none)."""

    name: str
    kind: inspect._ParameterKind
    default: str | None


def _literal(value: Any) -> str:
    """``repr(value)`` when it reads back as the same literal, else ``"Ellipsis"``."""
    text = repr(value)
    try:
        same = ast.literal_eval(text) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return "Ellipsis"
    return text if same and text != "Ellipsis" else "Ellipsis"


def _plain(signature: inspect.Signature) -> str:
    parameters = [
        p.replace(
            annotation=inspect.Parameter.empty,
            default=p.default
            if p.default is inspect.Parameter.empty
            else _Shown(_literal(p.default)),
        )
        for p in signature.parameters.values()
    ]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


class _Shown:
    """A default shown as given text in a signature's string."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _signature(obj: Any) -> inspect.Signature | None:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError):
        return None


def _members(area: str, name: str, obj: Any) -> Iterator[tuple[str, Any]]:
    """``(where, callable)`` for an export: a function, or a class and its own public
    methods (inherited ones are pinned with the class that defines them, when exported)."""
    where = f"{area}:{name}"
    if inspect.isclass(obj):
        yield where, obj
        for attr, member in sorted(vars(obj).items()):
            if attr.startswith("_"):
                continue
            if isinstance(member, staticmethod | classmethod):
                yield f"{where}.{attr}", getattr(obj, attr)  # as resolve() finds it
            elif inspect.isfunction(member):
                yield f"{where}.{attr}", member
    elif callable(obj):
        yield where, obj


def render_pins(areas: Sequence[str]) -> str:
    """The text of the pins file for the current exports of ``areas``."""
    lines = []
    for area in areas:
        module = importlib.import_module(area)
        for name in sorted(module.__all__):
            for where, member in _members(area, name, getattr(module, name)):
                signature = _signature(member)
                if signature is not None:
                    lines.append(f"{where}{_plain(signature)}")
    return "\n".join(sorted(set(lines))) + "\n"


def parse_pin(line: str) -> tuple[str, list[Pinned]]:
    """``(where, parameters)`` of one line of the pins file."""
    where, _, rest = line.partition("(")
    function = ast.parse(f"def pinned({rest}: pass").body[0]
    assert isinstance(function, ast.FunctionDef)
    args = function.args
    kinds = inspect.Parameter
    positional = [(a, kinds.POSITIONAL_ONLY) for a in args.posonlyargs]
    positional += [(a, kinds.POSITIONAL_OR_KEYWORD) for a in args.args]
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(args.defaults))
    defaults += list(args.defaults)
    pinned = [
        Pinned(a.arg, kind, None if d is None else ast.unparse(d))
        for (a, kind), d in zip(positional, defaults, strict=True)
    ]
    if args.vararg is not None:
        pinned.append(Pinned(args.vararg.arg, kinds.VAR_POSITIONAL, None))
    pinned += [
        Pinned(a.arg, kinds.KEYWORD_ONLY, None if d is None else ast.unparse(d))
        for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)
    ]
    if args.kwarg is not None:
        pinned.append(Pinned(args.kwarg.arg, kinds.VAR_KEYWORD, None))
    return where, pinned


def resolve(where: str) -> Any:
    """The object a pin names (``area:Name.method``); AttributeError if it is gone."""
    area, _, path = where.partition(":")
    obj: Any = importlib.import_module(area)
    with warnings.catch_warnings():  # a deprecated spelling still counts as there
        warnings.simplefilter("ignore", DeprecationWarning)
        for attr in path.split("."):
            obj = getattr(obj, attr)
    return obj


def broken_calls(old: list[Pinned], new: inspect.Signature) -> list[str]:
    """What a call that ``old`` took would no longer do under ``new`` (empty: nothing)."""
    now = list(new.parameters.values())
    by_name = {p.name: p for p in now}
    positional = [p for p in now if p.kind in _POSITIONAL]
    takes_args = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in now)
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in now)
    problems = []
    old_positional = [p for p in old if p.kind in _POSITIONAL]
    for i, p in enumerate(old_positional):
        here = positional[i] if i < len(positional) else None
        if here is None and not takes_args:
            problems.append(f"{p.name!r} can no longer be passed as positional argument {i + 1}")
        elif (
            here is not None
            and p.kind is not inspect.Parameter.POSITIONAL_ONLY
            and here.name != p.name
        ):
            problems.append(f"positional argument {i + 1} was {p.name!r} and is now {here.name!r}")
    for p in old:
        if p.kind in _BY_KEYWORD and not takes_kwargs:
            there = by_name.get(p.name)
            if there is None or there.kind not in _BY_KEYWORD:
                problems.append(f"keyword {p.name!r} is no longer accepted")
        if p.kind is inspect.Parameter.VAR_POSITIONAL and not takes_args:
            problems.append(f"*{p.name} (extra positional arguments) is no longer accepted")
        if p.kind is inspect.Parameter.VAR_KEYWORD and not takes_kwargs:
            problems.append(f"**{p.name} (any keyword) is no longer accepted")
        there = by_name.get(p.name)
        if p.default is None or there is None:
            continue
        if there.default is inspect.Parameter.empty:
            problems.append(f"{p.name!r} had a default ({p.default}) and is now required")
        elif p.default != "Ellipsis" and _literal(there.default) != p.default:
            problems.append(
                f"the default of {p.name!r} changed from {p.default} to {there.default!r}"
            )
    before = {p.name for p in old}  # a default that was dropped is reported above
    for p in now:
        if (
            p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and p.name not in before
        ):
            problems.append(f"{p.name!r} is a new required parameter")
    return problems


def pins_broken(pins: str) -> list[str]:
    """Every pinned signature the current code no longer honours, one line each."""
    found = []
    for line in pins.splitlines():
        if not line.strip():
            continue
        where, old = parse_pin(line)
        try:
            obj = resolve(where)
        except AttributeError:
            found.append(f"{where}: removed")
            continue
        signature = _signature(obj)
        if signature is None:
            found.append(f"{where}: has no signature any more")
            continue
        found += [f"{where}: {problem}" for problem in broken_calls(old, signature)]
    return found

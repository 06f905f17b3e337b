"""A grid of job settings, for a study: ``rengo sweep JOB --set strategy.name=fedavg,fedprox
--set job.seed=0..4`` runs the job once per combination (a *cell*).

Each ``--set`` of a sweep is a ``--set`` of ``rengo run`` (see
:mod:`rengo.jobs.overrides`) whose value may list several values:

* ``KEY=A,B,C``: each value in turn (commas inside ``[...]``, ``{...}`` or quotes do not
  split, so ``model.hidden=[64, 64],[128]`` is two values);
* ``KEY=0..4``: the whole numbers 0 to 4, both included;
* ``SECTION={k = v, ...},{...}``: keys of one section set together, one table per value
  (``partition={scheme = "iid"},{scheme = "dirichlet", alpha = 0.1}``: the Dirichlet
  partition's ``alpha`` would be refused beside ``iid``).

A cell is the tuple of plain ``--set`` overrides that ``rengo run`` takes, so the command
that repeats any cell is ``rengo run JOB --set ...`` with the cell's overrides. The cells
follow the order of the ``--set`` options, the last varying fastest (seeds last keeps each
setting's seeds together).
"""

from __future__ import annotations

import itertools
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rengo.core.errors import ConfigError
from rengo.jobs.job_file_text import toml_value
from rengo.jobs.overrides import parse_override

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_CELLS = 10_000
"""Most cells one sweep may hold: a typo (``job.seed=0..99999``) is refused, not queued."""
_RANGE = re.compile(r"(-?\d+)\s*\.\.\s*(-?\d+)")
_OPENING = {"[": "]", "{": "}"}


@dataclass(frozen=True)
class SweepAxis:
    """One ``--set`` of a sweep: the settings it names and the overrides of each value.

    Attributes
    ----------
    key
        ``section.key`` (or ``section`` for table values), as typed.
    values
        Per value, the ``SECTION.KEY=VALUE`` overrides it makes (one, or one per key of a
        table value).
    """

    key: str
    values: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class SweepCell:
    """One combination of the grid.

    Attributes
    ----------
    overrides
        Every override of the cell, in ``--set`` order: ``rengo run JOB --set ...`` with
        these runs exactly this cell.
    varied
        The overrides of the axes with more than one value: what tells this cell from the
        others.
    """

    overrides: tuple[str, ...]
    varied: tuple[str, ...]

    @property
    def label(self) -> str:
        """The cell's varied settings, ``strategy.name=fedprox job.seed=2`` (``the job as
        set`` for a grid of one cell)."""
        return " ".join(self.varied) or "the job as set"


def split_values(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, braces and quotes, each part stripped:
    ``"[64, 64],[128]"`` -> ``["[64, 64]", "[128]"]``."""
    parts: list[str] = []
    closing: list[str] = []
    quote = ""
    start = 0
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in _OPENING:
            closing.append(_OPENING[char])
        elif closing and char == closing[-1]:
            closing.pop()
        elif char == "," and not closing:
            parts.append(text[start:index].strip())
            start = index + 1
    parts.append(text[start:].strip())
    return parts


def sweep_axis(text: str) -> SweepAxis:
    """One sweep ``--set`` as typed, its values expanded (see the module docstring).

    Parameters
    ----------
    text
        ``KEY=VALUE[,VALUE...]``, ``KEY=A..B`` or ``SECTION={...}[,{...}]``.

    Returns
    -------
    SweepAxis
        The key and each value's overrides.

    Raises
    ------
    ConfigError
        Naming the ``--set`` for: no ``=``, an empty value, a range whose end is below its
        start, a section given something other than tables, or a value given twice.
    """
    path, sign, listed = text.partition("=")
    keys = [k.strip() for k in path.split(".")]
    if not sign or not all(keys):
        raise ConfigError(
            f"--set {text!r}: expected SECTION.KEY=VALUE[,VALUE...], e.g. "
            "--set strategy.name=fedavg,fedprox or --set job.seed=0..4"
        )
    key = ".".join(keys)
    values: list[tuple[str, ...]] = []
    for part in split_values(listed):
        if not part:
            raise ConfigError(f"--set {text!r}: an empty value (two commas, or one at an end)")
        span = _RANGE.fullmatch(part)
        if len(keys) == 1:
            values.append(_table_value(text, key, part))
        elif span is not None:
            first, last = int(span[1]), int(span[2])
            if last < first:
                raise ConfigError(f"--set {text!r}: the range {part} ends below its start")
            if len(values) + last - first + 1 > MAX_CELLS:  # refused before it is spelt out
                raise ConfigError(
                    f"--set {text!r}: the range {part} holds {last - first + 1} values; a "
                    f"sweep runs at most {MAX_CELLS} cells"
                )
            values += [(f"{key}={k}",) for k in range(first, last + 1)]
        else:
            parse_override(f"{key}={part}")  # the same checks as `rengo run --set`
            values.append((f"{key}={part}",))
    repeated = sorted(" ".join(v) for v, n in Counter(values).items() if n > 1)
    if repeated:
        raise ConfigError(f"--set {text!r}: {', '.join(repeated)} given twice")
    return SweepAxis(key, tuple(values))


def _table_value(text: str, section: str, part: str) -> tuple[str, ...]:
    """The overrides of one inline table ``part`` given to ``section`` (a ConfigError naming
    ``text`` when ``part`` is not a non-empty table of plain values)."""
    try:
        table = tomllib.loads(f"value = {part}")["value"]
    except tomllib.TOMLDecodeError:
        table = None
    if not isinstance(table, dict) or not table:
        raise ConfigError(
            f"--set {text!r}: a section takes tables of its keys, e.g. --set "
            '\'partition={scheme = "iid"},{scheme = "dirichlet", alpha = 0.1}\'; or give '
            "SECTION.KEY=VALUE"
        )
    return tuple(
        f"{section}.{name}={_typed(value, f'{section}.{name}')}" for name, value in table.items()
    )


def _typed(value: object, where: str) -> str:
    """``value`` as a ``--set`` reads it back: a string bare where that reads as the same
    string (``dirichlet``), else as TOML writes it (``"1"``, ``0.1``, ``[64, 64]``)."""
    bare = isinstance(value, str) and value == value.strip() and value
    if bare and parse_override(f"{where}={value}")[1] == value:
        return str(value)
    return toml_value(value, where)


def sweep_cells(options: Sequence[str]) -> list[SweepCell]:
    """Every cell of the grid the sweep's ``--set`` options span, the last option varying
    fastest.

    Parameters
    ----------
    options
        The ``--set`` options as typed.

    Returns
    -------
    list of SweepCell
        One per combination (one cell, the job as set, for no options).

    Raises
    ------
    ConfigError
        For an option :func:`sweep_axis` refuses, a setting two options both set, or a grid
        of more than :data:`MAX_CELLS` cells.
    """
    axes = [sweep_axis(text) for text in options]
    owner: dict[str, str] = {}
    for axis in axes:
        for setting in sorted({o.partition("=")[0] for value in axis.values for o in value}):
            if setting in owner:
                raise ConfigError(
                    f"{setting} is set by both --set {owner[setting]}=... and --set "
                    f"{axis.key}=...: give each setting once"
                )
            owner[setting] = axis.key
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_CELLS:
        sizes = " x ".join(str(len(axis.values)) for axis in axes)
        raise ConfigError(
            f"the grid holds {count} cells ({sizes}); a sweep runs at most {MAX_CELLS}"
        )
    cells = []
    for combination in itertools.product(*(axis.values for axis in axes)):
        overrides = tuple(o for value in combination for o in value)
        varied = tuple(
            o
            for axis, value in zip(axes, combination, strict=True)
            if len(axis.values) > 1
            for o in value
        )
        cells.append(SweepCell(overrides, varied))
    return cells

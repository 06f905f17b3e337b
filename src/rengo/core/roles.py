"""The names every federation shares, defined once for every layer.

The coordinator is the process parties connect to (the gRPC hub when deployed) and the role
that organises a run: it hands out the plan and collects each party's outcome, and in
protocols that need a third party (coordinated hetero LR's key holder, the horizontal round
loop) it also plays that part. No party may take its name.
"""

from __future__ import annotations

import re
import unicodedata

from rengo.core.errors import ConfigError

COORDINATOR = "coordinator"
"""The coordinator's role name (and the common name on its TLS certificate)."""

PARTY_NAME_RULE = (
    "1-64 ASCII letters (A-Z, a-z), digits, '_', '.' or '-', starting with a letter or digit"
)
"""What a party name may be, in words (it goes into certificates, file names, gRPC metadata
and logs, which not all take other characters alike)."""

_PARTY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SPELLED_OUT = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
)


def validate_party_name(name: object, what: str = "party name") -> str:
    """Return ``name`` if it is a valid party name, else raise :class:`ConfigError`.

    The one rule for every place a party is named - certificates and their files, the
    hub's allow-list and authenticated names, job files, the run store and the command
    line - so a name that works in one works in all, and none can climb out of a folder
    (``../../etc``) or pose as the coordinator.

    Parameters
    ----------
    name
        The name to check.
    what
        How the name is called in the error (``"--name"``, ``"vfl.parties key"``).

    Returns
    -------
    str
        ``name``, unchanged.

    Raises
    ------
    ConfigError
        If ``name`` is not a string matching :data:`PARTY_NAME_RULE`, or is the coordinator's.
    """
    if not isinstance(name, str) or not _PARTY_NAME.fullmatch(name):
        suggestion = _ascii_name(name) if isinstance(name, str) else None
        hint = f", e.g. {suggestion!r}" if suggestion else ""
        raise ConfigError(f"{what} {name!r} must be {PARTY_NAME_RULE}{hint}")
    if name == COORDINATOR:
        raise ConfigError(f"{what} {name!r} is reserved for the coordinator")
    return name


def _ascii_name(name: str) -> str | None:
    """For a name with letters outside ASCII or spaces (``Universitätsklinikum Köln``), a
    party name close to it that the rule takes (umlauts spelled out, other accents dropped,
    runs of other characters as ``_``); None for any other name, or if none is left."""
    if all(c.isascii() and not c.isspace() for c in name):
        return None
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFC", name).translate(_SPELLED_OUT))
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", text.encode("ascii", "ignore").decode("ascii"))
    text = text.strip("_.-")[:64]
    if not _PARTY_NAME.fullmatch(text) or text == COORDINATOR:
        return None
    return text

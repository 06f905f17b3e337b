"""What a shared-secret token must be, for the coordinator's parties and the dashboard alike.

A token is a password sent with every connection: anyone who tries enough of them gets in,
each try costing one connection, so a token must be long enough that trying cannot find it.
Kept free of gRPC so the dashboard can check its own token without loading the transport.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rengo.core.errors import ConfigError

MIN_TOKEN_CHARS = 16
"""The shortest token rengo takes (``secrets.token_urlsafe(24)`` gives 32 characters)."""
MAKE_A_TOKEN = "make one with `python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
"""How to make a good token, for the errors that refuse a short one."""


def read_tokens_file(path: Path) -> dict[str, str]:
    """The ``{party: token}`` table of a TOML tokens file (``name = "token"`` lines).

    The coordinator reads it at start, and again each time it applies the operator's request
    to change a running run's parties (a party admitted mid-run needs its line first).

    Parameters
    ----------
    path
        The tokens file (``--tokens``).

    Returns
    -------
    dict[str, str]
        Each party's token, by name.

    Raises
    ------
    ConfigError
        If the file cannot be read, is not TOML, or holds an entry that is not a non-empty
        string (naming the file).
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--tokens {path}: {exc}") from exc
    if not all(isinstance(v, str) and v for v in raw.values()):
        raise ConfigError(f'--tokens {path}: every entry must be name = "token"')
    return dict(raw)

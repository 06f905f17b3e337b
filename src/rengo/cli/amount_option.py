"""Money typed on the command line (``--budget 1000.00``, ``--stake alice=10``) in minor
units, with an error that names the option it was typed into."""

from __future__ import annotations

from rengo.core.errors import ConfigError


def option_minor_units(option: str, amount: str, decimals: int) -> int:
    """``amount`` in minor units of a currency with ``decimals`` decimals.

    Parameters
    ----------
    option:
        The option as typed (``"--budget"``), for the error.
    amount:
        The amount in major units, as typed.
    decimals:
        The currency's number of decimals.

    Returns
    -------
    int
        The amount in minor units.

    Raises
    ------
    ConfigError
        What :func:`rengo.rewards.to_minor_units` refuses, prefixed with ``option``
        (``--budget: amount '0.001' has more than 2 decimals``).
    """
    from rengo.rewards import to_minor_units

    try:
        return to_minor_units(amount, decimals)
    except ConfigError as exc:
        raise ConfigError(f"{option}: {exc}") from None

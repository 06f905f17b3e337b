"""Amounts typed by people ("1000.00 EUR") to integer minor units and back, exactly.

The number of decimals of a currency is its ISO 4217 minor-unit exponent (2 for most, 0 for
JPY, 3 for KWD...); anything not listed, such as the default "credits", uses 2.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rengo.core.errors import ConfigError

DEFAULT_DECIMALS = 2
LEDGER_MAX_MINOR = 2**63 - 1
"""The most minor units one amount may have: a ledger line's SQLite INTEGER (int64)."""
DEFAULT_CURRENCY = "credits"
"""The one default currency of rewards, payouts and tournaments (2 decimals)."""

_ISO_4217_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}


def currency_decimals(currency: str, decimals: int | None = None) -> int:
    """Minor-unit exponent of ``currency`` (ISO 4217; 2 when unknown), unless ``decimals``
    overrides it.

    Parameters
    ----------
    currency:
        A currency code (case-insensitive) or any other unit name such as "credits".
    decimals:
        An explicit number of decimals, 0 to 18.

    Returns
    -------
    int
        The number of decimals amounts of ``currency`` are written with.

    Raises
    ------
    ConfigError
        ``decimals`` outside 0..18.
    """
    if decimals is not None:
        if isinstance(decimals, bool) or not 0 <= int(decimals) <= 18:
            raise ConfigError(f"decimals must be between 0 and 18, got {decimals!r}")
        return int(decimals)
    return _ISO_4217_EXPONENTS.get(currency.upper(), DEFAULT_DECIMALS)


def to_minor_units(amount: str | int | Decimal, decimals: int = DEFAULT_DECIMALS) -> int:
    """``"1000.00"`` -> 100000 (decimals=2). Refuses floats, negatives and sub-unit digits
    (``"0.005"`` with 2 decimals), so nothing is silently rounded.

    Parameters
    ----------
    amount:
        Decimal text (``"1_000.50"`` allowed), an int or a Decimal.
    decimals:
        The currency's number of decimals (see :func:`currency_decimals`).

    Returns
    -------
    int
        The amount in minor units.

    Raises
    ------
    ConfigError
        A float or bool, text that is not a number, a negative or non-finite amount, more
        decimals than the currency has, or more minor units than a ledger line holds
        (:data:`LEDGER_MAX_MINOR`).
    """
    if isinstance(amount, float | bool):
        raise ConfigError(f"give amounts as decimal text or int, not {type(amount).__name__}")
    try:
        value = Decimal(str(amount).strip().replace("_", ""))
    except InvalidOperation:
        raise ConfigError(f"{amount!r} is not an amount (expected e.g. 1000.00)") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"amount must be a finite number >= 0, got {amount!r}")
    minor = value.scaleb(decimals)
    if minor > LEDGER_MAX_MINOR:  # before int(): '1e999990' made a million-digit int (30 s)
        raise ConfigError(
            f"amount {amount!r} is over the largest a ledger line holds, "
            f"{format_minor(LEDGER_MAX_MINOR, decimals)}"
        )
    if minor != minor.to_integral_value():
        raise ConfigError(f"amount {amount!r} has more than {decimals} decimals")
    return int(minor)


def format_minor(amount_minor: int, decimals: int = DEFAULT_DECIMALS) -> str:
    """100000 -> ``"1000.00"`` (decimals=2); negative amounts keep their sign.

    Parameters
    ----------
    amount_minor:
        An int of minor units.
    decimals:
        The currency's number of decimals.

    Returns
    -------
    str
        The amount in major units with exactly ``decimals`` digits after the point.

    Raises
    ------
    ConfigError
        ``amount_minor`` is not an int.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise ConfigError(f"minor units must be an int, got {amount_minor!r}")
    return f"{Decimal(amount_minor).scaleb(-decimals):.{decimals}f}"


def format_amount(amount_minor: int, currency: str, decimals: int | None = None) -> str:
    """``100000, "credits"`` -> ``"1000.00 credits"``: an amount as people read it, in major
    units with its currency (see :func:`currency_decimals`).

    Parameters
    ----------
    amount_minor:
        An int of minor units.
    currency:
        The currency code or unit name.
    decimals:
        Overrides the currency's number of decimals.

    Returns
    -------
    str
        The amount and the currency.

    Raises
    ------
    ConfigError
        ``amount_minor`` is not an int, or ``decimals`` is out of range.
    """
    return f"{format_minor(amount_minor, currency_decimals(currency, decimals))} {currency}"

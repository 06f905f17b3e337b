"""Shamir t-of-n secret sharing over the prime field GF(2^521 - 1) (Shamir 1979).

A secret s (up to 64 bytes, read as an integer below the prime) is the constant term of a
random polynomial f of degree t - 1; share j is ``(x_j, f(x_j))`` for a distinct non-zero
``x_j``. Any t shares give back f(0) = s by Lagrange interpolation; t - 1 shares are
uniformly distributed whatever s is (perfect secrecy). Secure aggregation (Bell et al. CCS
2020) shares each client's mask seed and masking key this way among its neighbours.

Shares carry no integrity: a wrong share gives a wrong secret. Protocols check what they
rebuild (rengo's SecAgg+ compares every returned share with a digest its owner committed to).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

PRIME = 2**521 - 1
"""The field's modulus: a Mersenne prime above every 64-byte secret."""
SECRET_BYTES_MAX = 64
SHARE_BYTES = 66  # ceil(521 / 8)
POINT_LIMIT = 1 << 32
"""Share points lie in ``1..POINT_LIMIT - 1``: :meth:`Share.to_bytes` writes them in 4 bytes."""


@dataclass(frozen=True)
class Share:
    """One point ``(x, f(x))`` of the sharing polynomial."""

    x: int
    y: int

    def to_bytes(self) -> bytes:
        """``x`` (4 bytes) then ``y`` (66 bytes), big-endian: what travels (encrypted)."""
        return self.x.to_bytes(4, "big") + self.y.to_bytes(SHARE_BYTES, "big")

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        """Parse :meth:`to_bytes`.

        Raises
        ------
        ValueError
            If ``data`` is not 70 bytes or encodes a point outside the field.
        """
        if len(data) != 4 + SHARE_BYTES:
            raise ValueError(f"a share is {4 + SHARE_BYTES} bytes, got {len(data)}")
        share = cls(int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big"))
        if not 0 < share.x < PRIME or not 0 <= share.y < PRIME:
            raise ValueError("share lies outside the field")
        return share


def split_secret(secret: bytes, threshold: int, xs: Sequence[int]) -> list[Share]:
    """Split ``secret`` into one share per ``x`` in ``xs``; any ``threshold`` rebuild it.

    Parameters
    ----------
    secret
        At most 64 bytes (a seed or a private key).
    threshold
        Shares needed to rebuild (t >= 1); fewer reveal nothing.
    xs
        Distinct integer evaluation points in ``1..2**32 - 1``, one per share holder.

    Returns
    -------
    list[Share]
        ``[Share(x, f(x)) for x in xs]``, in the order of ``xs``.

    Raises
    ------
    ValueError
        For a secret over 64 bytes, duplicate points, points that are not integers in
        ``1..2**32 - 1``, or a threshold outside ``1..len(xs)``.
    """
    if len(secret) > SECRET_BYTES_MAX:
        raise ValueError(f"secret of {len(secret)} bytes; at most {SECRET_BYTES_MAX}")
    if len(set(xs)) != len(xs) or not all(_is_int(x) and 0 < x < POINT_LIMIT for x in xs):
        raise ValueError("share points must be distinct and non-zero integers below 2**32")
    if not 1 <= threshold <= len(xs):
        raise ValueError(f"threshold {threshold} must lie in 1..{len(xs)} (the share count)")
    coefficients = [int.from_bytes(secret, "big")]
    coefficients += [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    return [Share(x, _evaluate(coefficients, x)) for x in xs]


def combine_shares(shares: Sequence[Share], threshold: int, secret_bytes: int) -> bytes:
    """Rebuild the secret from ``threshold`` (or more: the first ``threshold`` are used) shares.

    Parameters
    ----------
    shares
        Shares with distinct points, each a point of the field with ``x != 0``.
    threshold
        The ``t`` the secret was split with (at least 1).
    secret_bytes
        The secret's length in bytes.

    Returns
    -------
    bytes
        The secret (correct only if the shares are).

    Raises
    ------
    ValueError
        If ``threshold`` is not an integer >= 1, fewer than ``threshold`` shares are given, a
        share is not a point of the field with ``x != 0``, points repeat, or the interpolated
        value does not fit ``secret_bytes`` (a sign of wrong shares).
    """
    if not _is_int(threshold) or threshold < 1:
        raise ValueError(f"threshold must be an integer >= 1, got {threshold!r}")
    if len(shares) < threshold:
        raise ValueError(f"{len(shares)} shares given, {threshold} needed")
    used = list(shares)[:threshold]
    if not all(
        _is_int(s.x) and _is_int(s.y) and 0 < s.x < PRIME and 0 <= s.y < PRIME for s in used
    ):
        raise ValueError("a share lies outside the field or at x = 0")
    xs = [s.x for s in used]
    if len(set(xs)) != len(xs):
        raise ValueError("shares with repeated points")
    # Lagrange basis at 0: l_j = prod_{m != j} x_m / (x_m - x_j). Numerators and denominators
    # are products of small integers (no reduction needed); all t denominators are inverted
    # with one modular inverse (Montgomery's batch trick) instead of t.
    numerators, denominators = [], []
    for j, xj in enumerate(xs):
        numerator, denominator = 1, 1
        for m, other in enumerate(xs):
            if m != j:
                numerator *= other
                denominator *= other - xj
        numerators.append(numerator % PRIME)
        denominators.append(denominator % PRIME)
    inverses = _batch_inverse(denominators)
    value = 0
    for share, numerator, inverse in zip(used, numerators, inverses, strict=True):
        value += share.y * numerator % PRIME * inverse
    value %= PRIME
    if value.bit_length() > 8 * secret_bytes:
        raise ValueError("the shares do not lie on one polynomial of the expected secret")
    return value.to_bytes(secret_bytes, "big")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _evaluate(coefficients: Sequence[int], x: int) -> int:
    """``f(x) mod p`` by Horner's rule, reduced once at the end: share points are small, so
    the unreduced value grows by only ``log2(x)`` bits a step."""
    value = 0
    for c in reversed(coefficients):
        value = value * x + c
    return value % PRIME


def _batch_inverse(values: Sequence[int]) -> list[int]:
    """``[v^-1 mod p for v in values]`` with one modular inverse and ``3(n - 1)``
    multiplications (prefix products; every value non-zero mod p)."""
    prefix = [1]
    for v in values:
        prefix.append(prefix[-1] * v % PRIME)
    inverse = pow(prefix[-1], -1, PRIME)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inverse * prefix[i] % PRIME
        inverse = inverse * values[i] % PRIME
    return out
